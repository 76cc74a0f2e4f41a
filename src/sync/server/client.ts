import { extname, join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { current } from '../../current.js';
import { AssertionError, OSError, ValueError } from '../../errors.js';
import { BrokenBarrierError, OwnerDiedError } from '../errors.js';
import type { ClientData, Relay } from './client-thread.js';
import type { RemoteOp, RemoteRef, Reply, Request } from './protocol.js';

/** This thread's identity as a holder: RLock ownership is per (process, thread), as with the addon. */
const OWNER = `${process.pid}:${(require('node:worker_threads') as typeof import('node:worker_threads')).threadId}`;

/** A worker thread's script beside this file: .js once built, .ts under tsx (the worker inherits its loader flags). */
export function threadScript(name: string): string {
  return join(__dirname, name + extname(__filename));
}

/** What some requests add: a Condition's lock, notify's count, a Value's or an Array's index and contents. */
type Extra = Pick<Request, 'lock' | 'n' | 'index' | 'value'>;

/**
 * The main thread's side of the link to one sync server (see
 * ./client-thread.ts). `call` never blocks; `callSync` blocks this thread in
 * Atomics.wait until the link thread has the answer (the pattern of synckit).
 */
class ServerLink {
  readonly #port: MessagePort;
  readonly #syncPort: MessagePort;
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  readonly #pending = new Map<number, (reply: Reply) => void>();
  #seq = 0;

  constructor(address: string) {
    const channel = new MessageChannel();
    const syncChannel = new MessageChannel();
    const data: ClientData = { address, authkey: current.authkey, port: channel.port2, syncPort: syncChannel.port2, flag: this.#flag };
    const worker = new Worker(threadScript('client-thread'), { workerData: data, transferList: [channel.port2, syncChannel.port2] });
    // Only a pending async call keeps the process alive (its port is ref'd meanwhile).
    worker.unref();
    this.#port = channel.port1;
    this.#syncPort = syncChannel.port1;
    this.#port.on('message', (reply: Reply) => {
      const settle = this.#pending.get(reply.seq);
      this.#pending.delete(reply.seq);
      if (this.#pending.size === 0) this.#port.unref();
      settle?.(reply);
    });
    this.#port.unref();
  }

  call(ref: RemoteRef, op: RemoteOp, timeoutMs: number | null = null, extra: Extra = {}): Promise<Reply> {
    const seq = ++this.#seq;
    return new Promise((settle) => {
      this.#pending.set(seq, settle);
      this.#port.ref();
      this.#port.postMessage({ request: { seq, ref, op, owner: OWNER, timeoutMs, ...extra }, sync: false } satisfies Relay);
    });
  }

  callSync(ref: RemoteRef, op: RemoteOp, timeoutMs: number | null = null, extra: Extra = {}): Reply {
    const seq = ++this.#seq;
    Atomics.store(this.#flag, 0, 0);
    this.#port.postMessage({ request: { seq, ref, op, owner: OWNER, timeoutMs, ...extra }, sync: true } satisfies Relay);
    for (;;) {
      Atomics.wait(this.#flag, 0, 0);
      const received = receiveMessageOnPort(this.#syncPort);
      if (received !== undefined) return received.message as Reply;
      Atomics.store(this.#flag, 0, 0);
    }
  }
}

const links = new Map<string, ServerLink>();

/** This process's link to the server at `address`, made on first use. */
export function linkTo(address: string): ServerLink {
  let link = links.get(address);
  if (link === undefined) links.set(address, (link = new ServerLink(address)));
  return link;
}

/**
 * The reply's result, or its error thrown as the Python error it names. A
 * robust lock taken over from a dead holder throws OwnerDiedError (the
 * caller holds the lock, as with the addon).
 */
export function unwrap(reply: Reply, what: string): boolean {
  if (reply.error !== undefined) {
    const { name, message } = reply.error;
    const ErrorClass = { ValueError, AssertionError, OSError, BrokenBarrierError }[name];
    throw new ErrorClass(message);
  }
  if (reply.ownerDied !== undefined) throw new OwnerDiedError(what, reply.ownerDied);
  return reply.result === true;
}

export { OWNER, type Extra };
