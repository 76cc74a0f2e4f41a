// A Pipe between parent and child: the child upper-cases what it receives.
import { isMainModule, Pipe, Process, type Connection } from 'multiproc';

async function shout(conn: Connection<string>): Promise<void> {
  for (;;) {
    let word: string;
    try {
      word = await conn.recv();
    } catch {
      break; // EOFError: the parent closed its end
    }
    conn.send(word.toUpperCase());
  }
}

if (isMainModule(import.meta)) {
  const [parentEnd, childEnd] = Pipe<string>();
  const child = new Process({ target: shout, args: [childEnd] });
  child.start();
  childEnd.close(); // the child has its own copy
  for (const word of ['hello', 'pipe']) {
    parentEnd.send(word);
    console.log(`${word} -> ${await parentEnd.recv()}`);
  }
  parentEnd.close();
  await child.join();
  console.log(`child exit code ${child.exitCode}`);
}
