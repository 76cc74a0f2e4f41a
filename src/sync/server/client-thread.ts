/**
 * The thread that sets up a process's link to the sync server (see
 * ./client.ts), since Node cannot connect a socket synchronously while the
 * main thread may be blocked waiting for the link: it connects, passes the
 * authkey handshake, has the server open the link's FIFOs, reports, and then
 * keeps the connection, whose end (this process exiting, or being killed)
 * tells the server to forget this process's waits and holds.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { Connection } from '../../connection.js';
import { EOFError } from '../../errors.js';
import { Client } from '../../listener.js';
import type { Fifos, Registration } from './protocol.js';

export interface LinkData {
  address: string;
  authkey: Uint8Array;
  fifos: Fifos;
  /** Word 0: 0 while setting up, 1 once set up, 2 if it failed (the main thread may be blocked on it). */
  flag: Int32Array;
  /** Where the outcome goes: it comes before the flag changes. */
  outcome: MessagePort;
}

export interface LinkOutcome {
  failure?: string;
}

const { address, authkey, fifos, flag, outcome } = workerData as LinkData;

function report(failure: string | null): void {
  outcome.postMessage(failure === null ? {} : ({ failure } satisfies LinkOutcome));
  outcome.close();
  Atomics.store(flag, 0, failure === null ? 1 : 2);
  Atomics.notify(flag, 0);
}

// The server thread may not be listening yet when the first client comes (it starts with the first object), or too busy to take it.
async function connect(): Promise<Connection<Registration, boolean>> {
  const deadline = Date.now() + 10_000;
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
