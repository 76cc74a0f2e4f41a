/**
 * The sync server's thread (a worker thread of the process that started it,
 * so that it dies with that process and never outlives the tree's root; and
 * a thread, not the main one, so that it keeps answering while the main
 * thread blocks in acquireSync). It accepts authenticated connections on a
 * Unix socket, one per process; each registers the FIFOs its requests and
 * replies travel on (see ./client.ts), and its end tells that the process
 * has gone. Every request runs against the objects' state machines.
 */
import { constants, openSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import type { Connection } from '../../connection.js';
import { Listener } from '../../listener.js';
import { connectionOnFd } from '../../pipe.js';
import { BarrierObject } from './barrier.js';
import { RemoteObject, type Peer, type ServerObject } from './objects.js';
import type { Fifos, Registration, RemoteRef, Reply, Request } from './protocol.js';

export interface ServerData {
  address: string;
  authkey: Uint8Array;
}

const { address, authkey } = workerData as ServerData;
const objects = new Map<string, ServerObject>();
const listener = new Listener(address, { authkey, backlog: 64 });

/** The state of the object `ref` names, made on first sight. */
function object(ref: RemoteRef): ServerObject {
  let found = objects.get(ref.id);
  if (found === undefined) objects.set(ref.id, (found = ref.kind === 'Barrier' ? new BarrierObject(ref) : new RemoteObject(ref)));
  return found;
}

/** One process's FIFOs, opened: its requests, and where each reply goes (a negative seq: to its blocking call). */
function openFifos(fifos: Fifos): { requests: Connection<never, Request>; peer: Peer; close(): void } {
  // Read and write: this end never reads end-of-file before the process opens its own; its connection tells when it goes.
  const requests = connectionOnFd<Request>(openSync(fifos.requests, constants.O_RDWR | constants.O_NONBLOCK), true, false) as unknown as Connection<never, Request>;
  const syncReplies = connectionOnFd<Reply>(openSync(fifos.syncReplies, constants.O_WRONLY | constants.O_NONBLOCK), false, true);
  const asyncReplies = connectionOnFd<Reply>(openSync(fifos.asyncReplies, constants.O_WRONLY | constants.O_NONBLOCK), false, true);
  const peer: Peer = {
    reply: (reply) => {
      try {
        (reply.seq < 0 ? syncReplies : asyncReplies).send(reply);
      } catch {
        // The process is gone; its connection's end makes the server forget it.
      }
    },
  };
  return {
    requests,
    peer,
    close: () => {
      for (const end of [requests, syncReplies, asyncReplies]) end.close();
    },
  };
}

async function serve(connection: Connection<boolean, Registration>): Promise<void> {
  let link: ReturnType<typeof openFifos> | null = null;
  try {
    link = openFifos((await connection.recv()).fifos);
    connection.send(true);
    void handleRequests(link.requests, link.peer);
    // Nothing more comes on the connection: it ends when the process does.
    await connection.recv();
  } catch {
    // End of file: the process exited (or was killed), or it never registered.
  } finally {
    connection.close();
    if (link !== null) {
      link.close();
      for (const object of objects.values()) object.dropPeer(link.peer);
    }
  }
}

async function handleRequests(requests: Connection<never, Request>, peer: Peer): Promise<void> {
  try {
    for (;;) {
      const request = await requests.recv();
      object(request.ref).handle(peer, request, request.lock === undefined ? null : (object(request.lock) as RemoteObject));
    }
  } catch {
    // Closed: the process has gone.
  }
}

async function acceptLoop(): Promise<void> {
  for (;;) {
    let connection: Connection;
    try {
      connection = await listener.accept();
    } catch (error) {
      // A peer that failed the handshake is refused (one that went, or said nothing, never
      // reaches accept()); only the Listener's own failure ends the server.
      if ((error as Error).name === 'AuthenticationError') continue;
      throw error;
    }
    void serve(connection as Connection<boolean, Registration>);
  }
}

void acceptLoop();
