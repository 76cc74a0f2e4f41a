import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { decode, encode, isPlainJson } from '../codec.js';
import type { ReadInto } from '../connection.js';
import { FrameParser, header } from '../framing.js';
import { takeHandle } from '../launch/handles.js';
import { native, warnWithoutAddon } from '../native.js';
import { SocketEnd } from '../queue-socket.js';
import { registerReducer } from '../reduction.js';
import { socketPair } from '../socket-pair.js';

/**
 * One end of the channel between a Pool and one of its workers: framed
 * messages (Python's framing, multiproc's codec) over a Unix socket pair,
 * delivered by callback straight from the socket's reads. A Pool talks to
 * each worker over its own pair, so nothing is shared or locked, and the
 * messages of one event-loop turn leave in one write. Without the native
 * addon the pair is made with Node alone (see portPair).
 */
export class PoolPort {
  readonly #socket: Socket;
  readonly #parser = new FrameParser();
  /** Frames ready to write, in order. */
  #outgoing: Buffer[] = [];
  /** Plain-JSON messages of this turn, to go as one frame: a JSON array of them. */
  #batch: unknown[] = [];
  #flushScheduled = false;
  #closed = false;

  /** `onRead`: after the messages of each read have been delivered (a worker runs them then, see worker.ts). */
  constructor(socket: Socket, onMessage: (message: unknown) => void, onEnd: () => void, onRead?: () => void) {
    this.#socket = socket;
    this.#socket.on('data', (chunk: Buffer) => {
      this.#parser.push(chunk, (event) => {
        if (event.kind !== 'message') return;
        const decoded = decode(event.body) as unknown[];
        // Every message is an array that starts with its kind (a number): an array first means a batch.
        if (Array.isArray(decoded[0])) for (const message of decoded) onMessage(message);
        else onMessage(decoded);
      });
      onRead?.();
    });
    // The peer's end closes ours (a socket made without the addon allows half-open ends; a port never wants one).
    this.#socket.on('end', () => this.#socket.end());
    // The peer's death shows as an end or a reset; the owner learns why elsewhere (the exit code).
    this.#socket.on('error', () => {});
    this.#socket.on('close', () => {
      this.#closed = true;
      onEnd();
    });
  }

  /**
   * Sends a message (an array whose first item is a number) at the end of
   * this event-loop turn. Plain JSON data joins the turn's batch, which
   * leaves as one frame; anything else is encoded now, so that a value that
   * cannot travel fails here, in the caller, and nothing else with it.
   */
  send(message: unknown[], what: string): void {
    if (isPlainJson(message)) {
      this.#batch.push(message);
    } else {
      const body = encode(message, what);
      this.#sealBatch();
      this.#outgoing.push(header(body.length), Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(this.#flush);
    }
  }

  /**
   * Writes a plain-JSON message now, ahead of the turn's batch: the socket
   * hands it to the kernel at once unless earlier writes are still queued,
   * so it outlives a process that exits in the same turn.
   */
  sendNow(message: unknown[]): void {
    if (this.#closed) return;
    const body = Buffer.from(JSON.stringify(message));
    this.#socket.write(Buffer.concat([header(body.length), body]));
  }

  #sealBatch(): void {
    if (this.#batch.length === 0) return;
    const body = Buffer.from(JSON.stringify(this.#batch.length === 1 ? this.#batch[0] : this.#batch));
    this.#batch = [];
    this.#outgoing.push(header(body.length), body);
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    this.#sealBatch();
    const parts = this.#outgoing;
    this.#outgoing = [];
    if (this.#closed || parts.length === 0) return;
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    // Small frames are cheaper copied into one buffer; big ones go as they are, in one writev.
    if (bytes <= 64 * 1024) {
      this.#socket.write(Buffer.concat(parts, bytes));
      return;
    }
    this.#socket.cork();
    for (const part of parts) this.#socket.write(part);
    this.#socket.uncork();
  };

  /** This port no longer keeps the event loop alive (the Pool's own timer does, while work is outstanding). */
  unref(): void {
    this.#socket.unref();
  }

  /** Sends what is pending, then ends: the peer reads the rest, then an end. */
  end(): void {
    this.#flush();
    this.#socket.end();
  }

  destroy(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}

/**
 * A worker's end of its pair, on its way to the worker: a file descriptor
 * the child inherits, or without the addon a token for its socket's handle,
 * sent over Node's IPC channel (launch/handles.ts).
 */
export class PortHandle {
  constructor(readonly fd: number) {}
}

/** The worker's side: the socket of the end it was handed. */
export function socketFor(handle: PortHandle): Socket {
  const received = takeHandle(handle.fd);
  return received === undefined ? new Socket({ fd: handle.fd, readable: true, writable: true }) : new Socket({ handle: received, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
}

/** A Pool's end (connected), the worker's on its way, and what to call once the worker has been started with it. */
export interface PortPair {
  parent: Socket;
  child: PortHandle;
  /** Closes this process's copy of the child's end: left open, it would hide the child's death from the parent's end. */
  releaseChild(): void;
}

// The child's end is never read here: Node reads nothing from a paused socket made with onread.
const NEVER_READ: ReadInto = { buffer: () => Buffer.alloc(1), callback: () => false };

/**
 * A socket pair for a worker: socketpair(2) with the addon; without it, a
 * pair made through the process's listener (socket-pair.ts): the parent
 * keeps the end connected at once, and the end accepted a turn later is the
 * child's, sent to it as a handle once it has arrived.
 */
export function portPair(): PortPair {
  const addon = native();
  if (addon !== null) {
    const [parentFd, childFd] = addon.socketpair();
    let parent: Socket;
    try {
      parent = new Socket({ fd: parentFd, readable: true, writable: true });
    } catch (error) {
      closeSync(parentFd);
      closeSync(childFd);
      throw error;
    }
    return { parent, child: new PortHandle(childFd), releaseChild: () => closeSync(childFd) };
  }
  warnWithoutAddon();
  const [connected, accepted] = socketPair();
  const childEnd = new SocketEnd(accepted, NEVER_READ, false);
  return { parent: connected(), child: new PortHandle(childEnd.token()), releaseChild: () => childEnd.close() };
}

registerReducer<PortHandle>({
  name: 'PoolPort',
  matches: (value): value is PortHandle => value instanceof PortHandle,
  reduce: (handle, handles) => ({ fd: handles.pass(handle.fd) }),
  rebuild: (state, handles) => new PortHandle(handles.fd((state as { fd: number }).fd)),
});
