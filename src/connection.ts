import type { Socket } from 'node:net';
import { decode, encode } from './codec.js';
import { BrokenPipeError, BufferTooShort, EOFError, invalidArgType, OSError, ValueError } from './errors.js';
import { FrameParser, header } from './framing.js';
import { validateTimeout } from './validate.js';

// Small messages are joined to their header and written with others of the
// same tick in one writev; a big body is written as it is, never copied.
const JOIN_BELOW = 16 * 1024;
const SCRATCH_SIZE = 256 * 1024;
let scratch: Buffer | undefined;

/** The `onread` option of a net.Socket: Node reads into the buffer we give it, and `pause()` then really stops reading. */
export interface ReadInto {
  buffer: () => Uint8Array;
  callback: (bytesRead: number, buffer: Uint8Array) => boolean | void;
}

/**
 * One end of a connection: messages that are never merged or split, over a
 * socket (a Pipe's socketpair, or a Listener/Client stream), with Python's
 * framing and Python's errors. `send` and `sendBytes` are synchronous (the
 * bytes are queued for the kernel); `recv`, `recvBytes` and `poll` return
 * Promises. An open Connection does not keep the process alive, as in Python;
 * one that is being read from, or written to, does.
 *
 * It reads from its socket only while this process waits in `recv` or
 * `poll`: an end that two processes hold (the parent's copy of what it passed
 * to a child) takes nothing from the one that is actually reading.
 */
export class Connection<Send = unknown, Receive = Send> {
  #socket: Socket | null;
  readonly #readable: boolean;
  readonly #writable: boolean;
  #unreadable = false;
  readonly #parser = new FrameParser();
  readonly #inbox: Buffer[] = [];
  #ended = false;
  #failure: Error | null = null;
  #peerGone = false;
  #wakers: Array<() => void> = [];
  #readers = 0;
  #pausing = false;
  #pendingWrites = 0;
  #corked = false;
  #reads: Promise<unknown> = Promise.resolve();

  /**
   * @internal Connections are made by Pipe(), Listener and Client. `socket`
   * is a Socket, or a function that makes one with Node's `onread` option: only
   * such a socket really stops reading from the kernel when paused (any other
   * keeps filling its 16 KiB buffer), which an end that two processes hold needs.
   */
  constructor(socket: Socket | ((onread: ReadInto) => Socket), options: { readable: boolean; writable: boolean }) {
    if (typeof socket === 'function') {
      socket = socket({
        buffer: () => (scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE)),
        // The scratch buffer is reused by the next read: keep a copy of what came.
        callback: (bytesRead, buffer) => this.#onData(Buffer.from(buffer.subarray(0, bytesRead))),
      });
    }
    this.#socket = socket;
    this.#readable = options.readable;
    this.#writable = options.writable;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The peer vanished: reads see the end of the stream, writes a broken pipe.
      this.#peerGone = true;
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') this.#failure ??= new OSError(err.message);
      this.#onEnd();
    });
    socket.pause();
    if (this.#readable) {
      // Without onread, Node hands over each chunk as 'data'.
      socket.on('data', (chunk: Buffer) => this.#onData(chunk));
      socket.on('end', () => {
        this.#peerGone = true;
        this.#onEnd();
      });
    }
    socket.on('close', () => this.#onEnd());
    this.#applyRef();
  }

  get closed(): boolean {
    return this.#socket === null;
  }

  get readable(): boolean {
    return this.#readable && !this.#unreadable;
  }

  get writable(): boolean {
    return this.#writable;
  }

  /** The file descriptor of this end. */
  fileno(): number {
    const handle = (this.#open() as unknown as { _handle?: { fd?: number } })._handle;
    if (typeof handle?.fd !== 'number' || handle.fd < 0) throw new OSError('handle is closed');
    return handle.fd;
  }

  /** Sends a value by structured clone (Map, Set, Date, BigInt, typed arrays, Error...; plain data goes as JSON, faster). */
  send(value: Send): void {
    this.#checkWritable();
    this.#write(toBuffer(encode(value, 'a value sent on a Connection')));
  }

  /** Sends bytes as one message: `buffer[offset .. offset+size]`. */
  sendBytes(buffer: ArrayBufferView | ArrayBuffer, offset = 0, size?: number): void {
    this.#checkWritable();
    const bytes = toBuffer(buffer);
    if (!Number.isInteger(offset)) throw invalidArgType('"offset" argument', 'an integer', offset);
    if (offset < 0) throw new ValueError('offset is negative');
    if (bytes.length < offset) throw new ValueError('buffer length < offset');
    if (size === undefined || size === null) size = bytes.length - offset;
    else if (!Number.isInteger(size)) throw invalidArgType('"size" argument', 'an integer', size);
    else if (size < 0) throw new ValueError('size is negative');
    else if (bytes.length < offset + size) throw new ValueError('buffer length < offset + size');
    this.#write(bytes.subarray(offset, offset + size));
  }

  /** Receives the next value sent with `send`. Rejects with EOFError once the peer has closed. */
  async recv(): Promise<Receive> {
    this.#checkReadable();
    const body = await this.#next(null);
    return decode(body) as Receive;
  }

  /** Receives the next message as bytes; one longer than `maxLength` is an OSError and makes this end unreadable. */
  async recvBytes(maxLength?: number | null): Promise<Buffer> {
    if (maxLength !== undefined && maxLength !== null) {
      if (!Number.isInteger(maxLength)) throw invalidArgType('"maxLength" argument', 'an integer', maxLength);
      if (maxLength < 0) throw new ValueError('negative maxlength');
    }
    this.#checkReadable();
    return this.#next(maxLength ?? null);
  }

  /**
   * Receives the next message into `buffer` at `offset` and resolves with its
   * length; a message that does not fit rejects with BufferTooShort, which
   * carries it.
   */
  async recvBytesInto(buffer: ArrayBufferView | ArrayBuffer, offset = 0): Promise<number> {
    const target = toBuffer(buffer);
    if (!Number.isInteger(offset)) throw invalidArgType('"offset" argument', 'an integer', offset);
    if (offset < 0) throw new ValueError('negative offset');
    if (offset > target.length) throw new ValueError('offset too large');
    this.#checkReadable();
    const body = await this.#next(null);
    if (body.length > target.length - offset) throw new BufferTooShort(Buffer.from(body));
    body.copy(target, offset);
    return body.length;
  }

  /**
   * Whether a message (or the end of the stream) is there to read, waiting up
   * to `timeoutMs` (default 0: answer at once; null: wait as long as it takes).
   */
  async poll(timeoutMs: number | null = 0): Promise<boolean> {
    const timeout = validateTimeout(timeoutMs);
    this.#checkReadable();
    if (this.#ready()) return true;
    if (timeout === 0) return false;
    await this.#wait(timeout);
    return this.#ready();
  }

  /**
   * Closes this end. What was sent is still delivered, as it is in Python,
   * where send() has handed it to the kernel: the socket ends after its queued
   * writes, then releases its descriptor.
   */
  close(): void {
    const socket = this.#socket;
    if (socket === null) return;
    this.#socket = null;
    if (this.#corked) {
      this.#corked = false;
      socket.uncork();
    }
    if (this.#writable && !this.#peerGone && socket.writableLength > 0) {
      socket.end(() => socket.destroy());
      // Writes can only finish while the process lives; an exit does not wait for them.
      socket.unref();
    } else socket.destroy();
    this.#wake();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    const state = this.closed ? 'closed' : [this.readable && 'readable', this.writable && 'writable'].filter(Boolean).join(', ');
    return `<Connection ${state}>`;
  }

  // ---- reading

  #onData(chunk: Buffer): void {
    this.#parser.push(chunk, (event) => {
      if (event.kind === 'message') this.#inbox.push(event.body);
      else if (event.kind === 'invalid') {
        // A header no sender of ours writes: garbage, or a peer out of step.
        this.#failure ??= new OSError(`bad message length: ${event.reason}`);
        this.#socket?.destroy();
      }
    });
    this.#wake();
  }

  #onEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#parser.partial) this.#failure ??= new OSError('got end of file during message');
    this.#wake();
  }

  #ready(): boolean {
    return this.#inbox.length > 0 || this.#ended || this.#failure !== null || this.#socket === null;
  }

  /** The next whole message, in order even when several reads wait at once. */
  #next(maxLength: number | null): Promise<Buffer> {
    const read = this.#reads.then(() => this.#take(maxLength));
    this.#reads = read.catch(() => undefined);
    return read;
  }

  async #take(maxLength: number | null): Promise<Buffer> {
    for (;;) {
      if (this.#socket === null) throw new OSError('handle is closed');
      if (maxLength !== null) {
        const next = this.#inbox[0]?.length ?? this.#parser.announced;
        if (next > maxLength) this.#badLength();
      }
      const body = this.#inbox.shift();
      if (body !== undefined) return body;
      if (this.#failure !== null) throw this.#failure;
      if (this.#ended) throw new EOFError('the other end of the connection was closed: no more messages will arrive');
      await this.#wait(null);
    }
  }

  #badLength(): never {
    // As Python: the stream is out of step now, so this end can no longer be read.
    this.#unreadable = true;
    if (!this.#writable) this.close();
    throw new OSError('bad message length');
  }

  #wait(timeout: number | null): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        clearTimeout(timer);
        this.#readers -= 1;
        this.#applyRef();
        resolve();
      };
      if (timeout !== null) timer = setTimeout(() => {
        this.#wakers = this.#wakers.filter((w) => w !== wake);
        wake();
      }, timeout);
      this.#wakers.push(wake);
      this.#readers += 1;
      this.#applyRef();
    });
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }

  // ---- writing

  #write(body: Buffer): void {
    const socket = this.#socket!;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        if (!this.#corked) return; // close() flushed already
        this.#corked = false;
        socket.uncork();
      });
    }
    const head = header(body.length);
    this.#pendingWrites += 1;
    const done = (): void => {
      this.#pendingWrites -= 1;
      this.#applyRef();
    };
    if (body.length < JOIN_BELOW) socket.write(Buffer.concat([head, body]), done);
    else {
      socket.write(head);
      socket.write(body, done);
    }
    this.#applyRef();
  }

  /**
   * Reads only while someone waits to; alive while someone reads or bytes wait
   * to be written, as an open connection keeps no one alive.
   */
  #applyRef(): void {
    const socket = this.#socket;
    if (socket === null) return;
    if (this.#readers > 0 && !this.#ended) socket.resume();
    else if (!this.#pausing) {
      // Pause after this turn of the event loop, not at once: a reader's next
      // recv() usually comes within it, and stopping and restarting the read
      // costs a round trip 10-20 us. An end that is never read never starts.
      this.#pausing = true;
      setImmediate(() => {
        this.#pausing = false;
        if (this.#readers === 0) this.#socket?.pause();
      }).unref();
    }
    if (this.#readers > 0 || this.#pendingWrites > 0) socket.ref();
    else socket.unref();
  }

  // ---- checks

  #open(): Socket {
    if (this.#socket === null) throw new OSError('handle is closed');
    return this.#socket;
  }

  #checkWritable(): void {
    this.#open();
    if (!this.#writable) throw new OSError('connection is read-only');
    if (this.#peerGone) throw new BrokenPipeError('the other end of the connection was closed');
  }

  #checkReadable(): void {
    this.#open();
    if (!this.#readable) throw new OSError('connection is write-only');
    if (this.#unreadable) throw new OSError('connection is not readable after a message that was too long');
  }
}

function toBuffer(buffer: ArrayBufferView | ArrayBuffer): Buffer {
  if (buffer instanceof ArrayBuffer) return Buffer.from(buffer);
  if (ArrayBuffer.isView(buffer)) return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw invalidArgType('"buffer" argument', 'a Buffer, TypedArray, DataView or ArrayBuffer', buffer);
}
