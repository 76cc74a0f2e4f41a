/**
 * The thread that sets up a process's link to the sync server (see
 * ./client.ts), since Node cannot connect a socket synchronously while the
 * main thread may be blocked waiting for the link: it connects, passes the
 * authkey handshake, has the server open the link's FIFOs, reports, and then
 * keeps the connection, whose end (this process exiting, or being killed)
 * tells the server to forget this process's waits and holds.
 */
import { workerData } from 'node:worker_threads';
import type { Connection } from '../../connection.js';
import { EOFError } from '../../errors.js';
import { Client } from '../../listener.js';
import { FAILED, LINK_CONNECT_MS, RUNNING, SET_UP, type LinkData, type LinkOutcome } from './client-thread-protocol.js';
import type { Registration } from './protocol.js';

const { address, authkey, fifos, flag, outcome } = workerData as LinkData;

// A blocked main thread gives a running thread LINK_CONNECT_MS, and one that has not started much longer.
Atomics.store(flag, 0, RUNNING);
Atomics.notify(flag, 0);

function report(failure: string | null): void {
  outcome.postMessage(failure === null ? {} : ({ failure } satisfies LinkOutcome));
  outcome.close();
  Atomics.store(flag, 0, failure === null ? SET_UP : FAILED);
  Atomics.notify(flag, 0);
}

// The server thread may not be listening yet when the first client comes (it starts with the first object), or too busy to take it.
async function connect(): Promise<Connection<Registration, boolean>> {
  const deadline = Date.now() + LINK_CONNECT_MS;
  for (;;) {
    try {
      // A server that accepts and never answers must not hold this link (and every call waiting on it) forever.
      return (await Client(address, { authkey, timeout: Math.max(0, deadline - Date.now()) })) as Connection<Registration, boolean>;
    } catch (error) {
      // EAGAIN: the server's accept queue is full; EOFError: it dropped our handshake for a newer one (it
      // authenticates at most 128 peers at once). Both when many processes link at once (a Pool of 130 workers).
      const busy = error instanceof EOFError || /ENOENT|ECONNREFUSED|EAGAIN/.test((error as Error).message);
      if (!busy || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

async function run(): Promise<void> {
  let connection: Connection<Registration, boolean>;
  try {
    connection = await connect();
    connection.send({ fifos });
    if ((await connection.recv()) !== true) throw new Error('the server refused the link');
  } catch (error) {
    return report(`it cannot reach the server: ${(error as Error).message}`);
  }
  report(null);
  // Held until the server goes (then the main thread sees its FIFOs end) or this process does.
  try {
    await connection.recv();
  } catch {
    // The server has gone.
  }
}

void run();
