/**
 * The sync server's thread (a worker thread of the process that started it,
 * so that it dies with that process and never outlives the tree's root; and
 * a thread, not the main one, so that it keeps answering while the main
 * thread blocks in acquireSync). It accepts authenticated connections on a
 * Unix socket and runs every request against the objects' state machines.
 */
import { workerData } from 'node:worker_threads';
import type { Connection } from '../../connection.js';
import { Listener } from '../../listener.js';
import { BarrierObject } from './barrier.js';
import { RemoteObject, type Peer, type ServerObject } from './objects.js';
import type { RemoteRef, Reply, Request } from './protocol.js';

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

async function serve(connection: Connection<Reply, Request>): Promise<void> {
  const peer: Peer = {
    reply: (reply) => {
      try {
        connection.send(reply);
      } catch {
        // The process is gone; dropPeer below forgets it.
      }
    },
  };
  try {
    for (;;) {
      const request = await connection.recv();
      object(request.ref).handle(peer, request, request.lock === undefined ? null : (object(request.lock) as RemoteObject));
    }
  } catch {
    // End of file: the process exited (or was killed).
  } finally {
    connection.close();
    for (const object of objects.values()) object.dropPeer(peer);
  }
}

async function acceptLoop(): Promise<void> {
  for (;;) {
    let connection: Connection;
    try {
      connection = await listener.accept();
    } catch (error) {
      // A client that failed the handshake is refused; anything else ends the server.
      if ((error as Error).name === 'AuthenticationError') continue;
      throw error;
    }
    void serve(connection as Connection<Reply, Request>);
  }
}

void acceptLoop();
