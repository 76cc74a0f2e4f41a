/**
 * A process's link to the sync server: a worker thread that owns the one
 * connection and relays requests from the main thread. Async calls are
 * answered on `port`; sync calls on `syncPort`, with a notify on `flag` that
 * wakes the main thread blocked in Atomics.wait (it then reads the reply
 * with receiveMessageOnPort). One connection for both keeps every request of
 * a process in order: a `set()` and the `isSet()` after it, say.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { Connection } from '../../connection.js';
import { Client } from '../../listener.js';
import type { Reply, Request } from './protocol.js';

export interface ClientData {
  address: string;
  authkey: Uint8Array;
  port: MessagePort;
  syncPort: MessagePort;
  flag: Int32Array;
}

/** What the main thread posts: a request, and whether it blocks for the answer. */
export interface Relay {
  request: Request;
  sync: boolean;
}

const { address, authkey, port, syncPort, flag } = workerData as ClientData;
// Word 1: this script runs (a main thread blocked in callSync gives up on a thread that never starts).
Atomics.store(flag, 1, 1);
const syncSeqs = new Set<number>();
/** Requests sent and not answered yet: answered with an error if the connection drops. */
const inflight = new Set<number>();
let failure: string | null = null;

function answer(reply: Reply): void {
  inflight.delete(reply.seq);
  if (syncSeqs.delete(reply.seq)) {
    syncPort.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  } else port.postMessage(reply);
}

function fail(seq: number): void {
  answer({ seq, error: { name: 'OSError', message: `the sync server at ${address} cannot be reached: ${failure}` } });
}

// The server thread may not be listening yet when the first client comes (it starts with the first object).
async function connect(): Promise<Connection<Request, Reply>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return (await Client(address, { authkey })) as Connection<Request, Reply>;
    } catch (error) {
      const code = /ENOENT|ECONNREFUSED/.exec((error as Error).message);
      if (code === null || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

const queued: Relay[] = [];
let connection: Connection<Request, Reply> | null = null;

function forward(relay: Relay): void {
  if (relay.sync) syncSeqs.add(relay.request.seq);
  if (failure !== null) return fail(relay.request.seq);
  if (connection === null) return void queued.push(relay);
  inflight.add(relay.request.seq);
  try {
    connection.send(relay.request);
  } catch (error) {
    failure = (error as Error).message;
    fail(relay.request.seq);
  }
}

port.on('message', forward);

async function run(): Promise<void> {
  try {
    connection = await connect();
  } catch (error) {
    failure = (error as Error).message;
  }
  for (const relay of queued.splice(0)) {
    if (connection === null) fail(relay.request.seq);
    else {
      inflight.add(relay.request.seq);
      connection.send(relay.request);
    }
  }
  if (connection === null) return;
  // The connection must not keep this thread alive on its own: the main thread's port does.
  try {
    for (;;) answer(await connection.recv());
  } catch (error) {
    failure = `the server closed the connection (${(error as Error).message}); the process that started it has exited`;
    connection = null;
    for (const seq of [...inflight]) fail(seq);
  }
}

void run();
