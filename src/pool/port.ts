import { Socket } from 'node:net';
import { decode, encode, isPlainJson } from '../codec.js';
import { FrameParser, header } from '../framing.js';
import { registerReducer } from '../reduction.js';

/**
 * One end of the channel between a Pool and one of its workers: framed
 * messages (Python's framing, multiproc's codec) over a Unix socket pair,
 * delivered by callback straight from the socket's reads. A Pool talks to
 * each worker over its own pair, so nothing is shared or locked, and the
 * messages of one event-loop turn leave in one write.
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

  constructor(fd: number, onMessage: (message: unknown) => void, onEnd: () => void) {
    this.#socket = new Socket({ fd, readable: true, writable: true, allowHalfOpen: false });
    this.#socket.on('data', (chunk: Buffer) => {
      this.#parser.push(chunk, (event) => {
        if (event.kind !== 'message') return;
        const decoded = decode(event.body) as unknown[];
        // Every message is an array that starts with its kind (a number): an array first means a batch.
        if (Array.isArray(decoded[0])) for (const message of decoded) onMessage(message);
        else onMessage(decoded);
      });
    });
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

/** A worker's end of its pair, on its way to the worker (a file descriptor the child inherits). */
export class PortHandle {
  constructor(readonly fd: number) {}
}

registerReducer<PortHandle>({
  name: 'PoolPort',
  matches: (value): value is PortHandle => value instanceof PortHandle,
  reduce: (handle, handles) => ({ fd: handles.pass(handle.fd) }),
  rebuild: (state, handles) => new PortHandle(handles.fd((state as { fd: number }).fd)),
});
