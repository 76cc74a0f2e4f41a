// An echo server with Listener and Client, authenticated with an authkey,
// over TCP. The server runs in a child, binds a free port and tells the
// parent which one over a Pipe.
import { Client, isMainModule, Listener, Pipe, Process, type Address, type Connection } from 'multiproc';

const AUTHKEY = Buffer.from('a shared secret');

async function serve(report: Connection<Address>, clients: number): Promise<void> {
  const listener = new Listener({ host: '127.0.0.1', port: 0 }, { authkey: AUTHKEY });
  report.send(listener.address);
  report.close();
  for (let i = 0; i < clients; i++) {
    const conn = await listener.accept(60_000); // TimeoutError if no client comes within a minute
    conn.maxMessageSize = 1024; // a longer message is refused as it is announced, before it is kept
    conn.sendBytes(Buffer.concat([Buffer.from('echo: '), await conn.recvBytes()]));
    conn.close();
  }
  listener.close();
}

if (isMainModule(import.meta)) {
  const [reader, writer] = Pipe<Address>(false);
  const server = new Process({ target: serve, args: [writer, 2] });
  server.start();
  writer.close();
  const address = await reader.recv();
  for (const text of ['first', 'second']) {
    const conn = await Client(address, { authkey: AUTHKEY, timeout: 10_000 }); // connected and authenticated, or TimeoutError
    conn.sendBytes(Buffer.from(text));
    console.log(String(await conn.recvBytes()));
    conn.close();
  }
  await server.join();
  console.log(`server exit code ${server.exitCode}`);
}
