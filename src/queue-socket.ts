import { readSync, writeSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { ReadInto, SocketMaker } from './connection.js';
import { EOFError, OSError } from './errors.js';
import { handleToken, takeHandle, type PinnedHandle } from './launch/handles.js';
import { socketPair } from './socket-pair.js';
import { isAlive, PID } from './sync/owner.js';
import { POLL_MS } from './sync/sleep.js';

/**
 * One end of a Queue's socket pair where the native addon is missing (see
 * queue-fallback.ts): its socket (which may arrive a turn of the event loop
 * after the pair is made, as a Pipe's first end does), and what passing it
 * to a child needs: its handle, kept open until sent, however soon the queue
 * closes here.
 */
export class SocketEnd {
  #socket: Socket | null = null;
  readonly arrived: Promise<Socket>;
  #pins = 0;
  #closing = false;

  constructor(make: SocketMaker | Promise<SocketMaker>, onread: ReadInto, readable: boolean) {
    const build = (maker: SocketMaker): Socket => {
      const socket = maker(onread);
      socket.on('error', () => {}); // a peer gone shows as EOF (reader) or EPIPE (writer), where it is met
      socket.pause();
      socket.unref();
      if (!readable) socket.on('data', () => {});
      this.#socket = socket;
      if (this.#closing && this.#pins === 0) socket.destroy();
      return socket;
    };
    this.arrived = make instanceof Promise ? make.then(build) : Promise.resolve(build(make));
    this.arrived.catch(() => {});
  }

  /** The socket, or null while it arrives. */
  get socket(): Socket | null {
    return this.#socket;
  }

  /** The descriptor, or -1 (none yet, or no descriptors: Windows). */
  get fd(): number {
    const fd = (this.#socket as unknown as { _handle?: { fd?: number } | null } | null)?._handle?.fd;
    return typeof fd === 'number' ? fd : -1;
  }

  /** A token that carries this end to a child (launch/handles.ts). */
  token(): number {
    return handleToken(() => this.#pin());
  }

  close(): void {
    this.#closing = true;
    if (this.#pins === 0) this.#socket?.destroy();
  }

  #pin(): Promise<PinnedHandle> {
    if (this.#closing) throw new OSError('handle is closed');
    this.#pins += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#pins -= 1;
      if (this.#pins === 0 && this.#closing) this.#socket?.destroy();
    };
    return this.arrived.then((socket) => {
      const handle = (socket as unknown as { _handle?: object | null })._handle;
      if (handle == null) {
        release();
        throw new OSError('handle is closed');
      }
      return { handle, release };
    });
  }
}

/** A socket maker over a handle received from the parent (or a descriptor). */
export function makerFor(key: number): SocketMaker {
  const handle = takeHandle(key);
  return (onread) =>
    new Socket({ ...(handle === undefined ? { fd: key } : { handle }), allowHalfOpen: true, onread } as SocketConstructorOpts & { onread: ReadInto });
}

/** A fresh pair: [reader maker, writer maker] (the reader, usually the parent's, is the one that arrives later). */
export function queueSocketPair(): [Promise<SocketMaker>, SocketMaker] {
  const [connected, accepted] = socketPair();
  return [accepted, connected];
}

/**
 * The stream of a Queue's socket is made of chunks, each written with one
 * write(2) of at most CHUNK_BYTES: on Linux a Unix stream socket takes such
 * a write whole or not at all (one buffer of the kernel's), so a process
 * killed while putting or getting never leaves a chunk cut short, and the
 * stream is always at a chunk's start for the next reader. A chunk starts
 * with a 4-byte big-endian header: FIRST and LAST flags, then the length of
 * the payload that follows; it is at least HEAD bytes long (padded), so that
 * a reader takes a small item in one read of HEAD bytes, and the rest of a
 * bigger one in a second. An item that fits is one chunk (FIRST | LAST); a
 * bigger one is FIRST (whose payload starts with the item's length and the
 * putter's pid), then chunks without FIRST, the last with LAST. That is what
 * lets a reader tell a torn item from a whole one: a new FIRST where the
 * rest of an item was due, or the putter found dead while waiting for it,
 * means the putter died while writing it; chunks without FIRST where an
 * item should start are the rest of one whose getter died (skipped).
 */
export const CHUNK_BYTES = 32 * 1024;
/** What a reader reads first of every chunk: its header and the start of its payload (a small item whole). */
const HEAD = 64;
const IN_HEAD = HEAD - 4;
const FIRST = 0x80000000;
const LAST = 0x40000000;
const LENGTH = 0x3fffffff;
/** A multi-chunk item's first payload begins with its length and its putter's pid. */
const PREFIX = 8;
/** How often a reader waiting for the rest of an item looks whether its putter still lives. */
const WRITER_CHECK_MS = POLL_MS;

/** The largest item (its encoded body) that goes as one chunk. */
export const MAX_WHOLE = CHUNK_BYTES - 4;

/** The bytes a frame built as [length][body] (queues.ts) takes as a whole chunk. */
export function wholeChunkBytes(frame: Buffer): number {
  return Math.max(HEAD, frame.length);
}

/** Frames built as [length][body], of at most MAX_WHOLE bytes of body each, as whole chunks in one buffer (`bytes`: their wholeChunkBytes). */
export function packWhole(frames: Buffer[], bytes: number): Buffer {
  if (frames.length === 1 && frames[0]!.length >= HEAD) return mark(frames[0]!);
  const out = Buffer.alloc(bytes);
  let at = 0;
  for (const frame of frames) {
    mark(frame).copy(out, at);
    at += wholeChunkBytes(frame);
  }
  return out;
}

function mark(frame: Buffer): Buffer {
  frame.writeUInt32BE((FIRST | LAST | (frame.length - 4)) >>> 0, 0);
  return frame;
}

/** What a read gives: an item (`counted`: already counted as taken, when it began: see onBegun), or an item lost with its putter. */
export type ReadResult = { body: Buffer; counted: boolean } | { lostWith: number };

export interface ReaderHooks {
  /** A multi-chunk item has begun to come in, for this process: count it taken now, while its rest may be long in coming. */
  onBegun(): void;
  /** The rest of an item whose getter died was skipped: give back what it held. */
  onDropped(): void;
}

type Stage = 'head' | 'body' | 'skip';

/**
 * Reads items from a socket that other processes read too, chunk by chunk,
 * and never a byte past the chunk: Node reads into the buffer we give it
 * (`onread`), sized to what is left of the chunk's part being read. Reads
 * are tried at once, without the event loop, when the bytes are there.
 */
export class FrameReader {
  #head = Buffer.allocUnsafe(HEAD);
  readonly #scratch = Buffer.allocUnsafe(CHUNK_BYTES);
  #target: Buffer = this.#head;
  #got = 0;
  #stage: Stage = 'head';
  #last = false;
  /** The multi-chunk item being read, how much of it is here, and its putter. */
  #item: Buffer | null = null;
  #itemAt = 0;
  #writer = 0;
  /** A single-chunk item bigger than the head, while its rest comes in. */
  #single: Buffer | null = null;
  /** Skipping the rest of an item whose getter died (until its LAST, or a new FIRST). */
  #skipping = false;
  #waiting: { resolve(result: ReadResult): void; reject(err: Error): void } | null = null;
  #watch: NodeJS.Timeout | undefined;
  #ended = false;
  #end: SocketEnd | null = null;
  readonly #hooks: ReaderHooks;

  constructor(hooks: ReaderHooks) {
    this.#hooks = hooks;
  }

  readonly onread: ReadInto = {
    buffer: () => this.#target.subarray(this.#got),
    callback: (bytesRead) => {
      this.#got += bytesRead;
      return this.#advance();
    },
  };

  attach(end: SocketEnd): void {
    this.#end = end;
    void end.arrived.then((socket) => {
      socket.on('end', () => this.#onEnd());
      socket.on('close', () => this.#onEnd());
    }, () => this.#onEnd());
  }

  /** Whether an item has begun to come in for this process (its bytes are owed to whoever reads next: it must be read to its end). */
  get partial(): boolean {
    return this.#item !== null || this.#stage === 'body' || (this.#stage === 'head' && this.#got > 0);
  }

  /**
   * Tries to finish an item without waiting: the result, or null if the
   * bytes are not all there yet. `spin`: keep trying while an item has begun
   * (for the synchronous getNowait, whose putter is mid-write).
   */
  readNow(spinMs = 0): ReadResult | null {
    const fd = this.#end?.fd ?? -1;
    if (fd < 0) return null;
    const until = Date.now() + spinMs;
    let checked = Date.now();
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, this.#target, this.#got, this.#target.length - this.#got, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        if (this.#item !== null && Date.now() - checked >= WRITER_CHECK_MS) {
          checked = Date.now();
          if (!isAlive(this.#writer)) return this.#abandon();
        }
        if (spinMs > 0 && this.partial && Date.now() < until) continue;
        return null;
      }
      if (n === 0) {
        this.#ended = true;
        throw new EOFError('got end of file during message');
      }
      this.#got += n;
      const result = this.#complete();
      if (result !== null) return result;
    }
  }

  /** The next item, read by the event loop; the caller makes sure no one else reads meanwhile. */
  async read(): Promise<ReadResult> {
    const now = this.readNow();
    if (now !== null) return now;
    if (this.#ended) throw new EOFError('got end of file during message');
    const socket = await this.#end!.arrived;
    return new Promise<ReadResult>((resolve, reject) => {
      this.#waiting = { resolve, reject };
      // A putter killed in the middle of an item writes no more of it: look now and then.
      this.#watch = setInterval(() => this.#checkWriter(), WRITER_CHECK_MS);
      this.#watch.unref();
      // The buffer Node holds was sized before any synchronous read: give it the one for what is left.
      (socket as unknown as { _handle?: { useUserBuffer?(b: Uint8Array): void } | null })._handle?.useUserBuffer?.(this.onread.buffer());
      socket.ref();
      socket.resume();
    });
  }

  #checkWriter(): void {
    if (this.#item === null || isAlive(this.#writer)) return;
    this.#stop();
    let result: ReadResult;
    try {
      result = this.readNow() ?? this.#abandon();
    } catch (error) {
      return this.#settle((waiting) => waiting.reject(error as Error));
    }
    this.#settle((waiting) => waiting.resolve(result));
  }

  /** Ends the wait of read(), if one is on: `how` settles its promise. */
  #settle(how: (waiting: { resolve(result: ReadResult): void; reject(err: Error): void }) => void): void {
    clearInterval(this.#watch);
    const waiting = this.#waiting;
    this.#waiting = null;
    if (waiting !== null) how(waiting);
  }

  /** Gives up waiting for an item that has not begun (a timeout): false if it has begun, and must be read to its end. */
  cancel(): boolean {
    if (this.partial || this.#waiting === null) return false;
    this.#stop();
    this.#settle(() => {}); // no one awaits it any more
    return true;
  }

  #stop(): void {
    const socket = this.#end?.socket;
    socket?.pause();
    socket?.unref();
  }

  /** After bytes came in from the event loop: false (stop reading) once an item is whole (or lost). */
  #advance(): boolean {
    const result = this.#complete();
    if (result === null) return true;
    this.#stop();
    this.#settle((waiting) => waiting.resolve(result));
    return false;
  }

  /** The item its putter died writing: the stream is at a chunk's start (chunks are written whole), the next one an item's. */
  #abandon(): ReadResult {
    const writer = this.#writer;
    this.#item = null;
    this.#read('head', this.#head);
    return { lostWith: writer };
  }

  /**
   * A result once the part being read is whole and completes an item (or
   * shows one lost), else null (and the reader set up for the next part).
   * Between items a chunk's HEAD bytes are read at once (every chunk has as
   * many); within an item, only the next chunk's header (it may be a new
   * item's, whose bytes are not this one's).
   */
  #complete(): ReadResult | null {
    for (;;) {
      if (this.#got < this.#target.length) return null;
      const stage = this.#stage;
      if (stage === 'head') {
        const head = this.#head;
        const word = head.readUInt32BE(0);
        const length = word & LENGTH;
        this.#last = (word & LAST) !== 0;
        if (this.#item !== null) {
          if ((word & FIRST) !== 0) {
            // A new item where the rest of one was due: its putter died while writing it. The rest of the new one's head next.
            this.#item = null;
            this.#target = head;
            return { lostWith: this.#writer };
          }
          this.#read('body', this.#item.subarray(this.#itemAt, this.#itemAt + length));
          this.#itemAt += length;
          continue;
        }
        const rest = Math.max(0, length - IN_HEAD);
        if ((word & FIRST) === 0) {
          // The rest of an item whose getter died: not ours, skipped.
          this.#skipping = true;
          this.#read('skip', this.#scratch.subarray(0, rest));
          continue;
        }
        if (this.#skipping) this.#hooks.onDropped();
        this.#skipping = false;
        if (!this.#last) {
          this.#item = Buffer.allocUnsafe(head.readUInt32BE(4));
          this.#writer = head.readUInt32BE(8);
          this.#itemAt = head.copy(this.#item, 0, 4 + PREFIX);
          this.#read('body', this.#item.subarray(this.#itemAt, this.#itemAt + rest));
          this.#itemAt += rest;
          this.#hooks.onBegun();
          continue;
        }
        // A small item is here whole: the head is its body's, and the next chunk gets a new one.
        this.#head = Buffer.allocUnsafe(HEAD);
        if (rest === 0) {
          this.#read('head', this.#head);
          return { body: head.subarray(4, 4 + length), counted: false };
        }
        this.#single = Buffer.allocUnsafe(length);
        head.copy(this.#single, 0, 4);
        this.#read('body', this.#single.subarray(IN_HEAD));
        continue;
      }
      if (stage === 'skip') {
        this.#read('head', this.#head);
        if (this.#last) {
          this.#skipping = false;
          this.#hooks.onDropped();
        }
        continue;
      }
      if (this.#single !== null) {
        const body = this.#single;
        this.#single = null;
        this.#read('head', this.#head);
        return { body, counted: false };
      }
      if (!this.#last) {
        this.#read('head', this.#head.subarray(0, 4));
        continue;
      }
      const item = this.#item!;
      this.#item = null;
      this.#read('head', this.#head);
      return { body: item, counted: true };
    }
  }

  #read(stage: Stage, target: Buffer): void {
    this.#stage = stage;
    this.#target = target;
    this.#got = 0;
  }

  #onEnd(): void {
    this.#ended = true;
    this.#settle((waiting) => waiting.reject(new EOFError('got end of file during message')));
  }
}

/** Writes `data` whole to the writer end: at once when the kernel takes it, else as it makes room. */
export async function writeWhole(end: SocketEnd, data: Buffer): Promise<void> {
  const socket = await end.arrived;
  let written = 0;
  if (end.fd >= 0 && socket.writableLength === 0) {
    try {
      written = writeSync(end.fd, data);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
  if (written === data.length) return;
  await new Promise<void>((resolve, reject) => {
    socket.ref();
    socket.write(data.subarray(written), (err) => {
      socket.unref();
      if (err) reject(err);
      else resolve();
    });
  });
}

/** Writes an item too big for one chunk (`frame`: [length][body]) as chunks, each in a write of its own (see CHUNK_BYTES). */
export async function writeChunked(end: SocketEnd, frame: Buffer): Promise<void> {
  const body = frame.subarray(4);
  for (let at = 0; at < body.length; ) {
    const first = at === 0;
    const head = first ? 4 + PREFIX : 4;
    let length = Math.min(CHUNK_BYTES - head, body.length - at);
    // Every chunk is at least HEAD bytes (a reader between items reads that much): the last one is never left shorter.
    if (body.length - at - length > 0 && body.length - at - length < IN_HEAD) length = body.length - at - IN_HEAD;
    const last = at + length === body.length;
    const chunk = Buffer.allocUnsafe(head + length);
    chunk.writeUInt32BE(((first ? FIRST : 0) | (last ? LAST : 0) | (head - 4 + length)) >>> 0, 0);
    if (first) {
      chunk.writeUInt32BE(body.length, 4);
      chunk.writeUInt32BE(PID, 8);
    }
    body.copy(chunk, head, at, at + length);
    await writeWhole(end, chunk);
    at += length;
  }
}
