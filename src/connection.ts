import { writeSync, writevSync } from 'node:fs';
import type { Socket } from 'node:net';
import { decode, encodeV8, jsonText } from './codec.js';
import { BrokenPipeError, BufferTooShort, EOFError, invalidArgType, OSError, ValueError } from './errors.js';
import { FrameParser, header, MAX_BODY, type FrameEvent } from './framing.js';
import { validateTimeout } from './validate.js';

// Small messages are joined to their header; a big body is written as it is,
// never copied. The first message of a tick is written at once, the others of
// the same tick together at its end, in one writev (the end: when the promise
// reactions queued before them have run, the caller's synchronous sends first).
const JOIN_BELOW = 16 * 1024;
const SCRATCH_SIZE = 256 * 1024;
// A message with at least this much still to come is read into its own buffer.
const DIRECT_MIN = 64 * 1024;
let scratch: Buffer | undefined;
/** What the end-of-tick flush is chained on. */
const SETTLED = Promise.resolve();

/** @internal For the Listener: while a connection is being authenticated or waits for accept(), it keeps no process alive. */
export const QUIET = Symbol('multiproc.connection.quiet');
/** @internal For the Listener: calls back if the peer goes having sent nothing; returns a function that stops watching. */
export const WATCH_SILENT_END = Symbol('multiproc.connection.watchSilentEnd');
/** @internal For passing to a child without the addon: the socket's libuv handle, kept open until released (see launch/handles.ts). */
export const PIN_HANDLE = Symbol('multiproc.connection.pinHandle');

/** @internal For a reader that takes one message after another (a manager's client and server): see Connection[TAKE]. */
export const TAKE = Symbol('multiproc.connection.take');

/** @internal For a sender that encodes its own plain JSON: see Connection[SEND_JSON]. */
export const SEND_JSON = Symbol('multiproc.connection.sendJson');

/** @internal For a server refusing a peer: see Connection[LINGER]. */
export const LINGER = Symbol('multiproc.connection.linger');

/** @internal For passing to a child: what this end has read and not delivered, which goes with it (see HandedOver). */
export const HAND_OVER = Symbol('multiproc.connection.handOver');

/**
 * What a child takes with an end: the bytes this process has read from the
 * socket and not delivered (whole messages and the start of the next, framed
 * as on the wire), and `forget`, to call once the child has them.
 */
export interface HandedOver {
  unread: Buffer | null;
  forget(): void;
}

/** What makes a Connection's socket: Node's `onread` option given, so that pausing really stops reading. */
export type SocketMaker = (onread: ReadInto) => Socket;

/** The `onread` option of a net.Socket: Node reads into the buffer we give it, and `pause()` then really stops reading. */
export interface ReadInto {
  buffer: () => Uint8Array;
  callback: (bytesRead: number, buffer: Uint8Array) => boolean | void;
}

/** A pending `recv*`: handed its message straight from the read callback when it is first in line. */
export interface Taker {
  readonly maxLength: number | null;
  /** Takes every message from now on, until one fails it (see Connection[TAKE]): not lined up again for each. */
  readonly everyMessage?: true;
  /** Settles the caller's promise with the body (may throw: decoding, a buffer too short; the error goes to `fail`). */
  deliver(body: Buffer): void;
  fail(err: Error): void;
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
 * `poll` (and for at most one read after the last of them): an end that two processes hold (the
 * parent's copy of what it passed to a child) takes nothing from the one that
 * is actually reading.
 *
 * Handed to a child, an end takes with it what this process has read from
 * the socket and not yet delivered, which the child delivers first: nothing
 * is lost, as nothing is in Python, which reads one message at a time and
 * leaves the rest in the kernel. From then on this process's copy reads one
 * message at a time too, so that a `recv` here takes its message and nothing
 * that follows it. A `recv` or `poll` that waits here at the hand-over goes
 * on, as in Python, where the parent keeps its own copy of the descriptor:
 * it takes the next message, and the child reads after it. Two processes that
 * read one end at the same time can split a message between them (Python's
 * warning holds here too): read an end in one process at a time.
 */
export class Connection<Send = unknown, Receive = Send> {
  #socket: Socket | null;
  readonly #readable: boolean;
  readonly #writable: boolean;
  #unreadable = false;
  readonly #parser = new FrameParser();
  readonly #inbox: Buffer[] = [];
  /** recv* calls waiting for a message, in call order. */
  readonly #takers: Taker[] = [];
  #draining = false;
  #ended = false;
  #failure: Error | null = null;
  #peerGone = false;
  /** poll() calls waiting for readiness. */
  #wakers: Array<() => void> = [];
  #reading = false;
  #refed = true;
  #pendingWrites = 0;
  /** Frames sent in this tick after its first, written together at its end. */
  #outbox: Buffer[] = [];
  #flushing = false;
  /** The flush at the end of a tick's sends, made once: not a closure per send. */
  readonly #flushLater = (): void => this.#flush();
  /** The descriptor to write to directly; -1: none known, writing is left to the socket; -2: not looked up yet. */
  #fd = -2;
  /** Reads, if someone waits, but never keeps the process alive (see QUIET). */
  #quiet = false;
  /** The socket is still being connected (a Pipe's end made without the addon): sends wait for it, reads too. */
  #arriving = false;
  /** Closed while arriving: the socket, once here, writes what was sent and ends. */
  #closedEarly = false;
  /** Called when the arriving socket is here (or will never be). */
  #onArrival: Array<() => void> = [];
  /** Sends to children in flight, which need the socket open (PIN_HANDLE), and the close that waits for them. */
  #pins = 0;
  #afterPins: (() => void) | null = null;
  /**
   * This end was handed to a child, which reads it too: this copy reads one
   * message at a time, and stops as soon as no one here waits, so that it
   * takes nothing of what follows (see HAND_OVER).
   */
  #handedOver = false;
  /**
   * Whether the buffer Node reads into is the scratch buffer (what comes is
   * copied out, as the next read reuses it) rather than a big message's own:
   * kept as each is chosen, not found by reading `buffer.buffer` per read (a
   * call into V8's runtime, 2% of a manager's round trip).
   */
  #readIntoScratch = true;
  /** Lingering (see LINGER): what still arrives goes here, and is dropped. */
  #discard: ((bytes: number) => void) | null = null;

  /**
   * @internal Connections are made by Pipe(), Listener and Client. `socket`
   * is a Socket, or a function that makes one with Node's `onread` option: only
   * such a socket really stops reading from the kernel when paused (any other
   * keeps filling its 16 KiB buffer), which an end that two processes hold needs.
   * `unread`: what the process that handed this end over had read and not
   * delivered, served before anything read from the socket.
   */
  constructor(socket: Socket | SocketMaker | Promise<SocketMaker>, options: { readable: boolean; writable: boolean; unread?: Uint8Array | undefined }) {
    this.#socket = null;
    this.#readable = options.readable;
    this.#writable = options.writable;
    if (socket instanceof Promise) {
      this.#arriving = true;
      socket.then(
        (make) => this.#arrive(make),
        (err: Error) => {
          this.#arriving = false;
          this.#failure ??= new OSError(`the connection could not be made: ${err.message}`);
          this.#ended = true;
          for (const arrived of this.#onArrival.splice(0)) arrived();
          this.#drain();
          this.#wake();
        },
      );
    } else this.#attach(socket);
    if (options.unread !== undefined) this.#onData(Buffer.from(options.unread.buffer, options.unread.byteOffset, options.unread.byteLength));
  }

  /** The socket of a Connection made before it: what was sent so far leaves now; a close that came first happens now. */
  #arrive(make: SocketMaker): void {
    this.#arriving = false;
    this.#attach(make);
    for (const arrived of this.#onArrival.splice(0)) arrived();
    if (this.#closedEarly) {
      this.#closedEarly = false;
      this.close();
      return;
    }
    this.#flush();
    // Not the poll() waiters: an arrival is no message.
    this.#drain();
  }

  #attach(socket: Socket | SocketMaker): void {
    if (typeof socket === 'function') {
      socket = socket({
        buffer: () => this.#nextReadBuffer(),
        callback: (bytesRead, buffer) => {
          if (this.#discard !== null) return this.#discard(bytesRead);
          // After a refusal the socket is going: what still comes is dropped.
          if (this.#failure !== null) return;
          this.#pauseIfUnwanted();
          // The scratch buffer is reused by the next read: keep a copy of what came.
          if (this.#readIntoScratch) this.#onData(Buffer.from(buffer.subarray(0, bytesRead)));
          else {
            this.#parser.pushDirect(bytesRead, this.#onFrame);
            this.#drain();
            if (this.#wakers.length > 0) this.#wake();
          }
        },
      });
    }
    this.#socket = socket;
    socket.on('error', (err: NodeJS.ErrnoException) => this.#onError(err));
    socket.pause();
    if (this.#readable) {
      // Without onread, Node hands over each chunk as 'data'.
      socket.on('data', (chunk: Buffer) => {
        if (this.#discard !== null) return this.#discard(chunk.length);
        this.#pauseIfUnwanted();
        this.#onData(chunk);
      });
      socket.on('end', () => {
        this.#peerGone = true;
        this.#onEnd();
      });
    }
    socket.on('close', () => this.#onEnd());
    this.#applyRef();
  }

  /** Where the next read goes (Node asks after each read): the rest of a big message straight into its own buffer; anything else into one scratch buffer. */
  #nextReadBuffer(): Uint8Array {
    this.#readIntoScratch = true;
    if (this.#discard !== null) return scratchBuffer();
    try {
      const direct = this.#parser.directTarget(this.#handedOver ? 0 : DIRECT_MIN);
      if (direct !== null) {
        this.#readIntoScratch = false;
        return direct;
      }
      // Handed over: exactly the rest of the header or body under way, so that a read never takes the next message.
      return this.#handedOver ? scratchBuffer().subarray(0, this.#parser.missing) : scratchBuffer();
    } catch (err) {
      // No memory for a message the header allows: this end fails, the process does not.
      this.#refuse(`cannot hold a message of ${this.#parser.announced} bytes (${(err as Error).message})`);
      return scratchBuffer();
    }
  }

  /**
   * Node picks the buffer of the next read right after each read, so a
   * hand-over, which changes what that buffer must be, picks it again now,
   * through Node's internals (the socket's kBuffer and its handle's
   * useUserBuffer, both there since Node 12). Without them the first read
   * after a hand-over could take more than one message.
   */
  #chooseNextRead(): void {
    const socket = this.#socket as (Socket & Record<symbol, unknown> & { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null }) | null;
    if (socket === null || !this.#readable) return;
    const slot = Object.getOwnPropertySymbols(socket).find((key) => key.description === 'kBuffer');
    const handle = socket._handle;
    if (slot === undefined || !(socket[slot] instanceof Uint8Array) || typeof handle?.useUserBuffer !== 'function') return;
    const buffer = this.#nextReadBuffer();
    socket[slot] = buffer;
    handle.useUserBuffer(buffer);
  }

  get closed(): boolean {
    return (this.#socket === null && !this.#arriving) || this.#closedEarly;
  }

  get readable(): boolean {
    return this.#readable && !this.#unreadable;
  }

  get writable(): boolean {
    return this.#writable;
  }

  /**
   * The longest message this end accepts (null: the most a Buffer can
   * hold). A header that announces more is refused as soon as it arrives:
   * the waiting and the next `recv*` reject with OSError("bad message
   * length: ..."), and the connection closes, since the stream cannot be
   * trusted past it. Set it on a connection from a peer you do not trust.
   */
  get maxMessageSize(): number | null {
    return this.#parser.limit === MAX_BODY ? null : this.#parser.limit;
  }

  set maxMessageSize(size: number | null) {
    if (size !== null && (!Number.isSafeInteger(size) || size < 0)) throw invalidArgType('maxMessageSize', 'a non-negative integer (bytes) or null', size);
    this.#parser.limit = size === null ? MAX_BODY : Math.min(size, MAX_BODY);
  }

  /** The file descriptor of this end. */
  fileno(): number {
    const socket = this.#open();
    if (socket === null) {
      throw new OSError(
        'this end of a Pipe made without the native addon is connected one turn of the event loop after Pipe() returns, so it has no descriptor yet; ' +
          'await a turn (for example await new Promise(setImmediate)) before fileno(). Passing it to a child needs no wait.',
      );
    }
    const fd = descriptorOf(socket);
    if (fd < 0) throw new OSError('handle is closed');
    return fd;
  }

  /** Sends a value by structured clone (Map, Set, Date, BigInt, typed arrays, Error...; plain data goes as JSON, faster). */
  send(value: Send): void {
    this.#checkWritable();
    const text = jsonText(value);
    if (text !== null && text.length < JOIN_BELOW / 3) this.#queueText(text);
    else this.#write(text !== null ? Buffer.from(text) : toBuffer(encodeV8(value, 'a value sent on a Connection')));
  }

  /**
   * @internal `send` of a value whose JSON text the caller made, having
   * checked that JSON carries it exactly (a manager's request or reply of
   * plain primitives, whose shape the sender knows): no walk of it here.
   */
  [SEND_JSON](text: string): void {
    this.#checkWritable();
    if (text.length < JOIN_BELOW / 3) this.#queueText(text);
    else this.#write(Buffer.from(text));
  }

  /** Small plain data, the common case: its text goes straight behind its header, with no buffer between. */
  #queueText(text: string): void {
    const length = Buffer.byteLength(text);
    const frame = Buffer.allocUnsafe(4 + length);
    frame.writeInt32BE(length, 0);
    frame.write(text, 4);
    this.#queue(frame);
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
  recv(): Promise<Receive> {
    return new Promise<Receive>((resolve, reject) => {
      this.#checkReadable();
      this.#take({ maxLength: null, deliver: (body) => resolve(decode(body) as Receive), fail: reject });
    });
  }

  /** Receives the next message as bytes; one longer than `maxLength` is an OSError and makes this end unreadable. */
  recvBytes(maxLength?: number | null): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (maxLength !== undefined && maxLength !== null) {
        if (!Number.isInteger(maxLength)) throw invalidArgType('"maxLength" argument', 'an integer', maxLength);
        if (maxLength < 0) throw new ValueError('negative maxlength');
      }
      this.#checkReadable();
      this.#take({ maxLength: maxLength ?? null, deliver: resolve, fail: reject });
    });
  }

  /**
   * Receives the next message into `buffer` at `offset` and resolves with its
   * length; a message that does not fit rejects with BufferTooShort, which
   * carries it.
   */
  recvBytesInto(buffer: ArrayBufferView | ArrayBuffer, offset = 0): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const target = toBuffer(buffer);
      if (!Number.isInteger(offset)) throw invalidArgType('"offset" argument', 'an integer', offset);
      if (offset < 0) throw new ValueError('negative offset');
      if (offset > target.length) throw new ValueError('offset too large');
      this.#checkReadable();
      this.#take({
        maxLength: null,
        deliver: (body) => {
          if (body.length > target.length - offset) throw new BufferTooShort(Buffer.from(body));
          body.copy(target, offset);
          resolve(body.length);
        },
        fail: reject,
      });
    });
  }

  /**
   * @internal `recvBytes` without its Promise: `taker` is handed the next
   * message (or its failure) straight from the read callback, in line with
   * the other readers; one marked `everyMessage` (a manager's client and
   * server, which read every message of their connection) stays first in
   * line and is handed each message as it comes, until the first failure.
   * Nothing is allocated or lined up per message, and a fresh process runs
   * less code per message before V8 optimises it.
   */
  [TAKE](taker: Taker): void {
    this.#checkReadable();
    this.#take(taker);
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
    if (this.#arriving) {
      this.#closedEarly = true;
      this.#drain();
      this.#wake();
      return;
    }
    const socket = this.#socket;
    if (socket === null) return;
    this.#flush();
    this.#socket = null;
    const release = (): void => {
      if (this.#writable && !this.#peerGone && socket.writableLength > 0) {
        socket.end(() => socket.destroy());
        // Writes can only finish while the process lives; an exit does not wait for them.
        socket.unref();
      } else socket.destroy();
    };
    // A send of this socket to a child is in flight: it closes once that is done.
    if (this.#pins > 0) this.#afterPins = release;
    else release();
    this.#drain();
    this.#wake();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * @internal Closes this end as a server that refuses a peer must: what was
   * sent (the refusal) leaves, then the end of the stream, while whatever the
   * peer still sends is read and dropped, up to `maxBytes` or `maxMs`, or
   * until the peer closes. A socket closed with unread bytes resets the
   * peer, whose write then fails (EPIPE) and which may lose the refusal
   * before it has read it. Keeps no process alive.
   */
  [LINGER](maxBytes: number, maxMs: number): void {
    const socket = this.#socket;
    if (socket === null || this.#arriving || this.#pins > 0 || !this.#readable) return this.close();
    this.#flush();
    this.#socket = null;
    this.#inbox.length = 0;
    this.#parser.dropUnfinished();
    let left = maxBytes;
    const timer = setTimeout(() => socket.destroy(), maxMs).unref();
    this.#discard = (bytes) => {
      left -= bytes;
      if (left < 0) socket.destroy();
    };
    socket.once('end', () => socket.destroy());
    socket.once('close', () => clearTimeout(timer));
    socket.end();
    socket.unref();
    socket.resume();
    this.#drain();
    this.#wake();
  }

  /** @internal */
  [QUIET](quiet: boolean): void {
    this.#quiet = quiet;
    this.#applyRef();
  }

  /** @internal */
  [PIN_HANDLE](): Promise<{ handle: object; release(): void }> {
    if (this.closed) throw new OSError('handle is closed');
    this.#pins += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#pins -= 1;
      if (this.#pins === 0 && this.#afterPins !== null) {
        const close = this.#afterPins;
        this.#afterPins = null;
        close();
      }
    };
    const handleOf = (): object => {
      const handle = (this.#socket as unknown as { _handle?: object | null } | null)?._handle;
      if (handle == null) {
        release();
        throw new OSError('handle is closed');
      }
      return handle;
    };
    if (!this.#arriving) return Promise.resolve({ handle: handleOf(), release });
    return new Promise((resolve, reject) => {
      this.#onArrival.push(() => {
        try {
          // Closed while arriving: the socket stays until its pins are released.
          resolve({ handle: handleOf(), release });
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /**
   * @internal Carrying what was read ahead with the end was chosen over never
   * reading ahead: reading one message at a time costs two system calls a
   * message (header, then body), and most ends are never handed over. Called
   * as the end is reduced for a child: stops reading now (a read in the
   * event loop would take what the child is to read), and gives what the
   * inbox and the parser hold, which `forget` drops here once the child has it.
   * A reader waiting here keeps its claim (see the class comment): nothing goes.
   */
  [HAND_OVER](): HandedOver {
    if (!this.#handedOver) {
      this.#handedOver = true;
      this.#chooseNextRead();
    }
    this.#applyRef();
    if (this.#takers.length + this.#wakers.length > 0) return { unread: null, forget: () => {} };
    const frames: Buffer[] = [];
    for (const body of this.#inbox) frames.push(header(body.length), body);
    frames.push(...this.#parser.unfinished());
    if (frames.length === 0) return { unread: null, forget: () => {} };
    const unread = Buffer.concat(frames);
    return {
      unread,
      forget: () => {
        this.#inbox.length = 0;
        this.#parser.dropUnfinished();
        // The next read here begins with a header now, not inside the message that went.
        this.#chooseNextRead();
      },
    };
  }

  /** @internal */
  [WATCH_SILENT_END](onSilentEnd: () => void): () => void {
    const check = (): void => {
      if (this.#ended && this.#inbox.length === 0 && this.#failure === null && !this.#parser.partial) onSilentEnd();
    };
    this.#wakers.push(check);
    this.#applyRef();
    return () => {
      this.#wakers = this.#wakers.filter((w) => w !== check);
      this.#applyRef();
    };
  }

  toString(): string {
    const state = this.closed ? 'closed' : [this.readable && 'readable', this.writable && 'writable'].filter(Boolean).join(', ');
    return `<Connection ${state}>`;
  }

  // ---- reading

  #onData(chunk: Buffer): void {
    this.#parser.push(chunk, this.#onFrame);
    // The fast path: a waiting recv() gets its message here, in the read
    // callback, with no queue of promises in between.
    this.#drain();
    if (this.#wakers.length > 0) this.#wake();
  }

  /**
   * Called as bytes arrive, before they are delivered: if no one waited for
   * them, this read is the last until someone does. So an end reads ahead at
   * most one read past its last reader, and what a peer sends to a process
   * that no longer reads stays in the kernel, which holds the sender back.
   */
  #pauseIfUnwanted(): void {
    if (!this.#reading || this.#takers.length + this.#wakers.length > 0) return;
    this.#reading = false;
    this.#socket?.pause();
  }

  /** What the parser finds, handed over by one function made per connection, not a closure per read. */
  readonly #onFrame = (event: FrameEvent): void => {
    if (event.kind === 'message') this.#inbox.push(event.body);
    // A header no sender of ours writes (garbage, a peer out of step), or one over the limit.
    else if (event.kind === 'invalid') this.#refuse(event.reason);
  };

  /** The stream is out of step, or too much for us: fail its readers, drop the rest. */
  #refuse(reason: string): void {
    this.#failure ??= new OSError(`bad message length: ${reason}`);
    // Not from inside the read callback that found it: the socket finishes its turn first.
    const socket = this.#socket;
    process.nextTick(() => socket?.destroy());
    this.#drain();
    this.#wake();
  }

  #onError(err: NodeJS.ErrnoException): void {
    // The peer vanished: reads see the end of the stream, writes a broken pipe.
    this.#peerGone = true;
    if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') this.#failure ??= new OSError(err.message);
    this.#onEnd();
  }

  #onEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#parser.partial) this.#failure ??= new OSError('got end of file during message');
    this.#drain();
    this.#wake();
  }

  #ready(): boolean {
    return this.#inbox.length > 0 || this.#ended || this.#failure !== null || this.closed;
  }

  /** Serves `taker` at once if it can be, else lines it up behind the others and reads. */
  #take(taker: Taker): void {
    this.#takers.push(taker);
    if (this.#takers.length === 1) this.#drain();
    if (this.#takers.length > 0) this.#applyRef();
  }

  /** Settles waiting takers, first come first served, for as long as there is something to give them. */
  #drain(): void {
    if (this.#draining) return; // a taker's own settling (badLength closing) must not serve the next one twice
    this.#draining = true;
    let closeAfter = false;
    const takers = this.#takers;
    try {
      while (takers.length > 0) {
        const taker = takers[0]!;
        let outcome: Buffer | Error;
        if (this.closed) outcome = new OSError('handle is closed');
        else if (this.#unreadable) outcome = new OSError('connection is not readable after a message that was too long');
        else if (taker.maxLength !== null && (this.#inbox[0]?.length ?? this.#parser.announced) > taker.maxLength) {
          // As Python: the stream is out of step now, so this end can no longer be read.
          this.#unreadable = true;
          closeAfter = !this.#writable;
          outcome = new OSError('bad message length');
        } else if ((this.#inbox[0]?.length ?? 0) > this.#parser.limit) {
          // Read before maxMessageSize was lowered: refused as its header would be now.
          const length = this.#inbox[0]!.length;
          this.#inbox.length = 0;
          this.#refuse(`a message of ${length} bytes, over the maximum message size of ${this.#parser.limit} bytes`);
          continue;
        } else if (this.#inbox.length > 0) outcome = this.#inbox.shift()!;
        else if (this.#failure !== null) outcome = this.#failure;
        else if (this.#ended) outcome = new EOFError('the other end of the connection was closed: no more messages will arrive');
        else break;
        if (outcome instanceof Error) {
          takers.shift();
          taker.fail(outcome);
        } else {
          if (taker.everyMessage !== true) takers.shift();
          try {
            taker.deliver(outcome);
          } catch (err) {
            if (takers[0] === taker) takers.shift();
            taker.fail(err as Error);
          }
        }
      }
    } finally {
      this.#draining = false;
    }
    if (closeAfter) this.close();
    if (takers.length === 0) this.#applyRef();
  }

  #wait(timeout: number | null): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      if (timeout !== null) timer = setTimeout(() => {
        this.#wakers = this.#wakers.filter((w) => w !== wake);
        this.#applyRef();
        wake();
      }, timeout);
      this.#wakers.push(wake);
      this.#applyRef();
    });
  }

  #wake(): void {
    const wakers = this.#wakers;
    if (wakers.length === 0) return;
    this.#wakers = [];
    for (const wake of wakers) wake();
    this.#applyRef();
  }

  // ---- writing

  #write(body: Buffer): void {
    if (body.length < JOIN_BELOW) {
      const frame = Buffer.allocUnsafe(4 + body.length);
      frame.writeInt32BE(body.length, 0);
      body.copy(frame, 4);
      this.#queue(frame);
    } else this.#queue(header(body.length), body);
  }

  #queue(frame: Buffer, more?: Buffer): void {
    this.#outbox.push(frame);
    if (more !== undefined) this.#outbox.push(more);
    if (!this.#flushing) {
      // The first send of a tick leaves at once, so that a peer waiting for
      // it (a round trip) gets it without waiting for the rest of this tick
      // (in an echo, the next recv()'s setup). Whatever else this tick sends
      // goes at its end, in one system call.
      this.#flush();
      this.#flushing = true;
      // A promise's reaction, not process.nextTick: V8 runs it with the
      // caller's own awaits, with no Node tick queue to go through, and a
      // fresh process has less code to warm up per call.
      void SETTLED.then(this.#flushLater);
      // As Python's send(): a peer that has closed is a BrokenPipeError here and now.
      if (this.#peerGone) throw new BrokenPipeError('the other end of the connection was closed');
    }
  }

  /**
   * Hands the frames of this tick to the kernel: straight to the descriptor
   * when nothing of ours is still queued in the socket (the usual case, and
   * the cheapest: no stream machinery between send() and the write), and
   * whatever the kernel does not take at once to the socket, which writes it
   * when it can, in order.
   */
  #flush(): void {
    this.#flushing = false;
    const socket = this.#socket;
    const frames = this.#outbox;
    if (socket === null || frames.length === 0) return;
    this.#outbox = [];
    if (this.#peerGone) return;
    let written = 0;
    if (this.#fd === -2) this.#fd = descriptorOf(socket);
    // Not once the socket is destroyed: its descriptor may be closed, and its number reused.
    if (this.#fd >= 0 && !socket.destroyed && socket.writableLength === 0) {
      try {
        written = frames.length === 1 ? writeSync(this.#fd, frames[0]!) : writevSync(this.#fd, frames);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE' || code === 'ECONNRESET') {
          // The peer has closed: no more writes, but what it sent before is still there to read, up to the end of the stream.
          this.#peerGone = true;
          return;
        }
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') return this.#onError(err as NodeJS.ErrnoException);
      }
    }
    let first = 0;
    while (first < frames.length && written >= frames[first]!.length) written -= frames[first++]!.length;
    if (first === frames.length) return;
    const done = (): void => {
      this.#pendingWrites -= 1;
      this.#applyRef();
    };
    // The rest leaves in order when the kernel has room, corked into one writev.
    socket.cork();
    for (let i = first; i < frames.length; i++) {
      this.#pendingWrites += 1;
      socket.write(i === first && written > 0 ? frames[i]!.subarray(written) : frames[i]!, done);
    }
    socket.uncork();
    this.#applyRef();
  }

  /**
   * Reads only while someone waits to; alive while someone reads or bytes wait
   * to be written, as an open connection keeps no one alive.
   */
  #applyRef(): void {
    const socket = this.#socket;
    if (socket === null) return;
    const readers = this.#takers.length + this.#wakers.length;
    if (readers > 0 && !this.#ended) {
      if (!this.#reading) {
        this.#reading = true;
        socket.resume();
      }
    } else if (this.#reading && this.#handedOver) {
      // At once, from inside the read callback too: libuv reads no more in this turn.
      this.#reading = false;
      socket.pause();
    }
    // Otherwise it reads on, unreferenced, until a read finds no one waiting
    // (see #pauseIfUnwanted): a reader's next recv() usually comes before the
    // next message, and pausing at once would cost every round trip a stop and
    // a restart of the read, as a timer for later would cost it a turn of the
    // event loop (an extra epoll_wait each side). An end that is never read never starts.
    const refed = !this.#quiet && (readers > 0 || this.#pendingWrites > 0);
    if (refed !== this.#refed) {
      this.#refed = refed;
      if (refed) socket.ref();
      else socket.unref();
    }
  }

  // ---- checks

  /** The socket, or null while it is arriving; throws once closed. */
  #open(): Socket | null {
    if (this.closed) throw new OSError('handle is closed');
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

function scratchBuffer(): Buffer {
  return (scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE));
}

/** The descriptor under a socket, or -1 (none, or not known). */
function descriptorOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

function toBuffer(buffer: ArrayBufferView | ArrayBuffer): Buffer {
  if (buffer instanceof ArrayBuffer) return Buffer.from(buffer);
  if (ArrayBuffer.isView(buffer)) return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw invalidArgType('"buffer" argument', 'a Buffer, TypedArray, DataView or ArrayBuffer', buffer);
}
