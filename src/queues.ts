import { closeSync, readSync } from 'node:fs';
import { decode, encode } from './codec.js';
import { EOFError, invalidArgType, itemLostError, ValueError } from './errors.js';
import { native, requireNative } from './native.js';
import { FallbackQueue, type FallbackErrors } from './queue-fallback.js';
import { QueueLock } from './queue-lock.js';
import { PipeEnd } from './queue-pipe.js';
import { COMPLETE, completeTornBatch, dropTornBatch, FRAME_LENGTH, FREE, isTorn, READ_LEFT, READ_LOCK, READABLE, REGION_BYTES, STAGE_AT, STAGE_BYTES, STAGE_END, STAGE_OFFSET, STARTED, TAKEN, UNFINISHED, WRITE_LOCK, writeFrames } from './queue-stream.js';
import { registerReducer } from './reduction.js';
import { waitAsync, wake } from './shared/futex.js';
import { SharedRegion } from './shared/region.js';
import { POLL_MS } from './sync/sleep.js';
import { validateTimeout } from './validate.js';

/** Raised by `get` on an empty queue (Python's `queue.Empty`). */
export class Empty extends Error {
  override name = 'Empty';
}

/** Raised by `put` on a full queue (Python's `queue.Full`). */
export class Full extends Error {
  override name = 'Full';
}

// The feeder writes what is pending in one go, up to this much: half a Linux
// pipe (64 KiB), so that a batch lands whole at once and getters can read it
// without waiting (a bigger write would sit half-written until someone reads).
const BATCH_BYTES = 32 * 1024;
/** The pipe a queue asks for: Linux's limit for an unprivileged process (16 times the default). */
const PIPE_BYTES = 1024 * 1024;
const MAX_SEMAPHORE = 2147483647;
/** What every put that finds room returns: resolved already, and shared, since it carries nothing. */
const PUT: Promise<void> = Promise.resolve();

/** How wait() asks a queue whether it has an item (not public). */
export const READINESS = Symbol('multiproc.queue.readiness');

/** Where a queue keeps the parts a child needs to rebuild it (not public). */
const PARTS = Symbol('multiproc.queue.parts');
const FALLBACK = Symbol('multiproc.queue.fallback');

interface QueueParts {
  region: SharedRegion;
  readFd: number;
  writeFd: number;
  maxsize: number;
}

/** A frame's header as a read takes it: one buffer, since the reads under the read lock never overlap. */
const HEADER = Buffer.alloc(4);

/** Fills `buffer` from a blocking fd whose bytes are known to be there (or on their way). */
function readFully(fd: number, buffer: Buffer): Buffer {
  for (let at = 0; at < buffer.length; ) {
    const n = readSync(fd, buffer, at, buffer.length - at, null);
    if (n === 0) throw new EOFError('got end of file during message');
    at += n;
  }
  return buffer;
}

/** A frame taken out of the pipe, and its number (as STARTED and TAKEN count). */
interface Taken {
  body: Buffer;
  number: number;
}

/** The parts of a queue received by a child: the internal constructor argument. */
class Rebuilt {
  constructor(readonly parts: QueueParts | { fallback: (errors: FallbackErrors) => FallbackQueue; maxsize: number }) {}
}

const FALLBACK_ERRORS: FallbackErrors = { empty: () => new Empty('the queue is empty'), full: () => new Full('the queue is full') };

function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/**
 * A process-safe FIFO queue, as Python's `multiprocessing.Queue`: pass it to
 * children in `args`; any number of processes put and get. Items travel by
 * structured clone, serialized in `put()` itself, so an item that cannot
 * travel fails there and then (Python drops it later, from a thread).
 *
 * Underneath: an OS pipe that no event loop reads, guarded by a read lock and
 * a write lock (robust futex locks in shared memory), so each get takes
 * exactly one whole message; `put` hands frames to a feeder that writes them
 * without blocking, when the event loop says there is room, so a full pipe
 * never blocks the event loop. A get waits for an item holding no lock.
 */
export class Queue<T = unknown> {
  // Without the native addon, all of the queue is this (see queue-fallback.ts), and the fields below are unset.
  readonly #fallback: FallbackQueue | null = null;
  readonly #region!: SharedRegion;
  readonly #words!: Int32Array;
  readonly #stage!: Buffer;
  readonly #readFd!: number;
  readonly #writeFd!: number;
  readonly #maxsize: number;
  readonly #readLock!: QueueLock;
  readonly #writeLock!: QueueLock;
  readonly #reader!: PipeEnd;
  readonly #writer!: PipeEnd;
  #pending: Buffer[] = [];
  #feeding: Promise<void> | null = null;
  #closed = false;
  #fdsClosed = false;

  constructor(maxsize?: number);
  /** @internal A queue rebuilt in a child from the parts its parent sent. */
  constructor(parts: Rebuilt);
  constructor(maxsize: number | Rebuilt = 0) {
    if (maxsize instanceof Rebuilt && 'fallback' in maxsize.parts) {
      this.#maxsize = maxsize.parts.maxsize;
      this.#fallback = maxsize.parts.fallback(FALLBACK_ERRORS);
      return;
    }
    if (maxsize instanceof Rebuilt) {
      ({ region: this.#region, readFd: this.#readFd, writeFd: this.#writeFd, maxsize: this.#maxsize } = maxsize.parts as QueueParts);
    } else {
      if (typeof maxsize !== 'number' || !Number.isInteger(maxsize)) throw invalidArgType('"maxsize" argument', 'an integer (0 or less: unbounded)', maxsize);
      this.#maxsize = maxsize <= 0 ? 0 : Math.min(maxsize, MAX_SEMAPHORE);
      if (native() === null) {
        this.#fallback = new FallbackQueue(this.#maxsize, this instanceof JoinableQueue, FALLBACK_ERRORS);
        return;
      }
      this.#region = SharedRegion.create(REGION_BYTES);
      try {
        [this.#readFd, this.#writeFd] = requireNative('Queue').pipe();
      } catch (error) {
        this.#region.close();
        throw error;
      }
      // Large items then go through in one write and one read, rather than
      // 64 KiB at a time with a trip through the event loop for each.
      requireNative('Queue').growPipe(this.#writeFd, PIPE_BYTES);
      Atomics.store(this.#region.int32(), FREE, this.#maxsize);
      Atomics.store(this.#region.int32(), FRAME_LENGTH, -1);
    }
    this.#words = this.#region.int32();
    this.#stage = Buffer.from(this.#region.buffer, STAGE_OFFSET, STAGE_BYTES);
    this.#reader = new PipeEnd(this.#readFd, false);
    this.#writer = new PipeEnd(this.#writeFd, true);
    this.#readLock = new QueueLock(this.#words, READ_LOCK, () => this.#repairRead());
    this.#writeLock = new QueueLock(this.#words, WRITE_LOCK, () => completeTornBatch(this.#words, this.#writer));
  }

  /**
   * Puts an item; with `block` (default) it waits up to `timeout` ms for a
   * free slot of a bounded queue, else rejects with `Full`. Resolves once the
   * item is queued for the pipe (as Python's put returns before its feeder writes).
   */
  put(item: T, options?: { block?: boolean; timeout?: number | null }): Promise<void> {
    // Not an async function: a put that finds room (the usual case) is done
    // here and returns one promise resolved once for all, so that the
    // caller's `await` costs only its microtask, and no promise is made per
    // put. Errors still come as rejections, as they did.
    try {
      const block = options?.block ?? true;
      const timeout = validateTimeout(options?.timeout, 'timeout');
      this.#checkOpen();
      const body = encode(item, 'a Queue item');
      if (this.#fallback !== null) {
        try {
          this.#fallback.putNowait(frame(body));
          return PUT;
        } catch (error) {
          if (!(error instanceof Full)) throw error;
          return this.#fallback.put(frame(body), block, timeout);
        }
      }
      if (this.#maxsize > 0 && !this.#trySlot()) return this.#putWhenFree(body, block, timeout);
      this.#enqueue(body);
      return PUT;
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Puts an item without waiting: `Full` at once if a bounded queue has no free slot. */
  putNowait(item: T): void {
    this.#checkOpen();
    const body = encode(item, 'a Queue item');
    if (this.#fallback !== null) return this.#fallback.putNowait(frame(body));
    if (this.#maxsize > 0 && !this.#trySlot()) throw new Full('the queue is full');
    this.#enqueue(body);
  }

  /** Takes the oldest item; with `block` (default) waits up to `timeout` ms, else rejects with `Empty`. */
  async get(options?: { block?: boolean; timeout?: number | null }): Promise<T> {
    const block = options?.block ?? true;
    const timeout = validateTimeout(options?.timeout, 'timeout');
    this.#checkOpen();
    if (this.#fallback !== null) return this.#fallback.get(block, timeout).then((body) => decode(body) as T);
    // The fast path: a whole frame is waiting and no one else reads.
    if (this.#readLock.idle && this.#complete() > 0 && this.#readLock.tryAcquire()) {
      let taken: Taken | null = null;
      try {
        if (this.#complete() > 0) taken = this.#readWhole();
      } finally {
        this.#readLock.release();
      }
      if (taken !== null) return this.#took(taken);
    }
    const deadline = !block ? Date.now() : timeout === null ? null : Date.now() + timeout;
    // Waiting for an item holds no lock: a getter killed while it waits leaves the queue as it was.
    for (;;) {
      if (!(await this.#waitForItem(deadline, true))) throw new Empty('the queue is empty');
      const result = await this.#readLock.with(deadline, () => (this.#available() <= 0 ? null : this.#complete() > 0 ? this.#readWhole() : this.#readStreaming()));
      if (!result.ok) throw new Empty('the queue is empty');
      // null: another getter took the item first.
      if (result.value !== null) return this.#took(result.value);
    }
  }

  /** Takes the oldest item without waiting: `Empty` at once if there is none (or another process is reading). */
  getNowait(): T {
    this.#checkOpen();
    if (this.#fallback !== null) return decode(this.#fallback.getNowait()) as T;
    if (!this.#readLock.tryAcquire()) throw new Empty('the queue is empty');
    let taken: Taken;
    try {
      // Only a frame that is wholly in the pipe: reading one still being written would wait.
      if (this.#complete() <= 0) throw new Empty('the queue is empty');
      taken = this.#readWhole();
    } finally {
      this.#readLock.release();
    }
    return this.#took(taken);
  }

  /** The approximate number of items (others may put and get at the same moment). */
  qsize(): number {
    if (this.#fallback !== null) return this.#fallback.qsize();
    return Math.max(0, this.#available() + this.#pending.length);
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
    if (this.#fallback !== null) return this.#fallback.full();
    return this.#maxsize > 0 && Atomics.load(this.#words, FREE) <= 0;
  }

  /** No more puts or gets from this process; items already put are still written to the pipe. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.joinThread().finally(() => this.#closeFds());
  }

  /** Waits until every item this process put has been written to the pipe; only after `close()`, as in Python. */
  async joinThread(): Promise<void> {
    if (!this.#closed) throw new ValueError(`Queue ${this} not closed`);
    if (this.#fallback !== null) return this.#fallback.flushed();
    while (this.#feeding !== null) await this.#feeding;
  }

  toString(): string {
    return `<${this.constructor.name} maxsize=${this.#maxsize}${this.#closed ? ' closed' : ''}>`;
  }

  /** @internal For wait(): whether an item is there to get, and a wait for one (up to `timeout` ms, null: forever). */
  get [READINESS](): { ready(): boolean; whenReady(timeout: number | null): Promise<void> } {
    const fallback = this.#fallback;
    if (fallback !== null) return { ready: () => fallback.qsize() > 0, whenReady: (timeout) => fallback.whenReady(timeout) };
    return {
      ready: () => this.#available() > 0,
      whenReady: async (timeout) => {
        await this.#waitForItem(timeout === null ? null : Date.now() + timeout);
      },
    };
  }

  /** @internal Without the addon: the queue itself (for the rule that carries it to a child, and JoinableQueue). */
  get [FALLBACK](): FallbackQueue | null {
    return this.#fallback;
  }

  /** @internal For the rule that carries a queue to a child. */
  get [PARTS](): QueueParts {
    return { region: this.#region, readFd: this.#readFd, writeFd: this.#writeFd, maxsize: this.#maxsize };
  }

  /** @internal Hook for JoinableQueue: a put is about to reach the pipe. */
  protected onPut(): void {}

  /** @internal Hook for JoinableQueue: `count` items were lost (see #repairRead), so no one can mark them done. */
  protected onLost(_count: number): void {}

  /** @internal Shared words, for JoinableQueue. */
  protected get words(): Int32Array {
    return this.#words;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ValueError(`Queue ${this} is closed`);
  }

  #available(): number {
    return (Atomics.load(this.#words, STARTED) - Atomics.load(this.#words, TAKEN)) | 0;
  }

  /** Frames wholly in the pipe and not yet taken: a read of the next one returns at once. */
  #complete(): number {
    return (Atomics.load(this.#words, COMPLETE) - Atomics.load(this.#words, TAKEN)) | 0;
  }

  #trySlot(): boolean {
    for (;;) {
      const free = Atomics.load(this.#words, FREE);
      if (free <= 0) return false;
      if (Atomics.compareExchange(this.#words, FREE, free, free - 1) === free) return true;
    }
  }

  /** A put into a full bounded queue: waits for a slot (or rejects with Full). */
  async #putWhenFree(body: Uint8Array, block: boolean, timeout: number | null): Promise<void> {
    if (!(await this.#takeSlot(block, timeout))) throw new Full('the queue is full');
    this.#enqueue(body);
  }

  async #takeSlot(block: boolean, timeout: number | null): Promise<boolean> {
    const deadline = timeout === null ? null : Date.now() + timeout;
    while (!this.#trySlot()) {
      if (!block) return false;
      const remaining = deadline === null ? -1 : deadline - Date.now();
      if (deadline !== null && remaining <= 0) return false;
      await waitAsync(this.#words, FREE, 0, remaining);
    }
    return true;
  }

  #enqueue(body: Uint8Array): void {
    this.onPut();
    this.#pending.push(frame(body));
    this.#feeding ??= this.#feed().finally(() => {
      this.#feeding = null;
    });
  }

  /** The feeder (Python's feeder thread): writes queued frames in order, under the write lock. */
  async #feed(): Promise<void> {
    while (this.#pending.length > 0) {
      // One turn of the event loop first: the puts of this turn join the
      // batch, one write and one wake-up for them all, instead of one each.
      await new Promise(setImmediate);
      await this.#writeLock.with(null, async () => {
        // Counted by qsize() until here as pending, from here on as started.
        let count = 0;
        let bytes = 0;
        while (count < this.#pending.length && (count === 0 || bytes + this.#pending[count]!.length <= BATCH_BYTES)) bytes += this.#pending[count++]!.length;
        const batch = this.#pending.splice(0, count);
        Atomics.add(this.#words, STARTED, count);
        wake(this.#words, STARTED);
        await writeFrames(this.#words, this.#writer, batch, bytes);
      });
    }
  }

  /**
   * Holding the read lock taken over from a getter that died mid-frame: takes
   * the rest of its frame out of the pipe (the item is lost: its getter is gone).
   */
  async #repairRead(): Promise<void> {
    const left = Atomics.load(this.#words, READ_LEFT);
    if (left <= 0) return;
    await this.#readBytes(Buffer.allocUnsafe(Math.min(left, 64 * 1024)), left, false);
    this.#lost(1);
  }

  /** Gives back what `count` lost items held: their slots of a bounded queue, and JoinableQueue's count. */
  #lost(count: number): void {
    if (this.#maxsize > 0) {
      Atomics.add(this.#words, FREE, count);
      wake(this.#words, FREE, count);
    }
    this.onLost(count);
  }

  /**
   * Waits until an item has started into the pipe (true), or the deadline
   * passed (false). `forGet`: also true when a getter died holding the read
   * lock, so that the caller takes the lock over and repairs: a putter may be
   * stuck behind the rest of the dead getter's item, with no item started.
   */
  async #waitForItem(deadline: number | null, forGet = false): Promise<boolean> {
    for (;;) {
      const started = Atomics.load(this.#words, STARTED);
      if (((started - Atomics.load(this.#words, TAKEN)) | 0) > 0) return true;
      let remaining = deadline === null ? -1 : deadline - Date.now();
      if (deadline !== null && remaining <= 0) return false;
      if (forGet && (remaining < 0 || remaining > POLL_MS)) remaining = POLL_MS;
      const result = await waitAsync(this.#words, STARTED, started, remaining);
      if (forGet && result === 'timed-out' && this.#readLock.deadHolder() > 0) return true;
    }
  }

  /**
   * A frame wholly in the pipe, holding the read lock: its bytes are staged
   * or there to read at once. When the stage is empty, one read takes as
   * many whole frames as it holds out of the pipe, header and body, for this
   * get and the next ones, whichever process makes them: a stream of small
   * items costs one system call per stage-full, not one per item.
   */
  #readWhole(): Taken {
    const number = Atomics.load(this.#words, TAKEN);
    const length = this.#takeBytes(HEADER).readUInt32BE(0);
    const body = this.#takeBytes(Buffer.allocUnsafe(length));
    Atomics.add(this.#words, TAKEN, 1);
    return { body, number };
  }

  /** Fills `out` with the next bytes of whole frames: staged ones first, then the pipe's (there at once). */
  #takeBytes(out: Buffer): Buffer {
    const w = this.#words;
    let at = Atomics.load(w, STAGE_AT);
    let end = Atomics.load(w, STAGE_END);
    if (at === end && out.length < STAGE_BYTES / 2) {
      const bytes = Math.min(Atomics.load(w, READABLE), STAGE_BYTES);
      if (bytes > out.length) {
        readFully(this.#readFd, this.#stage.subarray(0, bytes));
        at = 0;
        end = bytes;
        Atomics.store(w, STAGE_AT, 0);
        Atomics.store(w, STAGE_END, bytes);
        Atomics.sub(w, READABLE, bytes);
      }
    }
    const staged = Math.min(end - at, out.length);
    if (staged > 0) {
      this.#stage.copy(out, 0, at, at + staged);
      Atomics.store(w, STAGE_AT, at + staged);
    }
    if (staged < out.length) {
      readFully(this.#readFd, out.subarray(staged));
      Atomics.sub(w, READABLE, out.length - staged);
    }
    return out;
  }

  /** A frame still being written, holding the read lock: read as it comes, from the event loop. */
  async #readStreaming(): Promise<Taken> {
    // No frame is whole, so nothing is staged: the frame starts in the pipe.
    const number = Atomics.load(this.#words, TAKEN);
    Atomics.add(this.#words, TAKEN, 1);
    const length = (await this.#readBytes(Buffer.allocUnsafe(4), 4, false)).readUInt32BE(0);
    Atomics.store(this.#words, READ_LEFT, length);
    const body = await this.#readBytes(Buffer.allocUnsafe(length), length, true);
    return { body, number };
  }

  /**
   * Reads `total` bytes into `buffer` (wrapping around it when it is shorter:
   * for bytes that are only skipped), waiting for them from the event loop.
   * `counted`: the bytes are the read lock's frame, and READ_LEFT follows them.
   * A writer that died with the write lock leaves nothing more to wait for:
   * then this takes its lock over, drops what is left of its batch, and
   * throws an OSError that says the items were lost.
   */
  async #readBytes(buffer: Buffer, total: number, counted: boolean): Promise<Buffer> {
    // Whether the writer lives is asked only after a silence of POLL_MS.
    let silent = false;
    for (let done = 0; done < total; ) {
      const at = done % buffer.length;
      const n = this.#reader.readSome(buffer, at, Math.min(total - done, buffer.length - at));
      if (n > 0) {
        done += n;
        // Bytes of a frame not yet whole, which its writer counts in once it is.
        Atomics.sub(this.#words, READABLE, n);
        if (counted) Atomics.sub(this.#words, READ_LEFT, n);
        continue;
      }
      const dead = silent ? this.#writeLock.deadHolder() : 0;
      if (dead > 0 && this.#writeLock.takeOver(dead)) {
        try {
          // The frame being read, and those after it that no getter will see.
          this.#lost(dropTornBatch(this.#words, this.#reader));
        } finally {
          this.#writeLock.release();
        }
        throw itemLostError(dead);
      }
      silent = !(await this.#reader.ready(POLL_MS));
    }
    return buffer;
  }

  #took({ body, number }: Taken): T {
    if (isTorn(this.#words, number)) {
      this.#lost(1);
      throw itemLostError(null);
    }
    if (this.#maxsize > 0) {
      Atomics.add(this.#words, FREE, 1);
      wake(this.#words, FREE, 1);
    }
    return decode(body) as T;
  }

  #closeFds(): void {
    if (this.#fdsClosed) return;
    this.#fdsClosed = true;
    if (this.#fallback !== null) return this.#fallback.close();
    this.#reader.close();
    this.#writer.close();
    closeSync(this.#readFd);
    closeSync(this.#writeFd);
    this.#region.close();
  }
}


/**
 * A Queue whose consumers confirm each item with `taskDone()`, so that a
 * producer can `await join()` until all are done (Python's JoinableQueue).
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  protected override onPut(): void {
    Atomics.add(this.words, UNFINISHED, 1);
  }

  // A lost item can never be marked done: it counts as done, or join() would never return.
  protected override onLost(count: number): void {
    for (let i = 0; i < count; i++) {
      try {
        this.taskDone();
      } catch {
        return; // already all done
      }
    }
  }

  /** Marks one item taken with get() as done. */
  taskDone(): void {
    const fallback = this[FALLBACK];
    if (fallback !== null) return fallback.taskDone();
    for (;;) {
      const unfinished = Atomics.load(this.words, UNFINISHED);
      if (unfinished <= 0) throw new ValueError('task_done() called too many times');
      if (Atomics.compareExchange(this.words, UNFINISHED, unfinished, unfinished - 1) === unfinished) {
        if (unfinished === 1) wake(this.words, UNFINISHED);
        return;
      }
    }
  }

  /** Resolves when every item put has been marked done. */
  async join(): Promise<void> {
    const fallback = this[FALLBACK];
    if (fallback !== null) return fallback.join();
    for (;;) {
      const unfinished = Atomics.load(this.words, UNFINISHED);
      if (unfinished <= 0) return;
      await waitAsync(this.words, UNFINISHED, unfinished);
    }
  }
}

/** The simplest queue (Python's SimpleQueue): `put`, `get`, `empty`, `close`; unbounded, no timeouts. */
export class SimpleQueue<T = unknown> {
  readonly #queue: Queue<T>;

  constructor();
  /** @internal A queue rebuilt in a child from the parts its parent sent. */
  constructor(parts: Rebuilt);
  constructor(parts?: Rebuilt) {
    this.#queue = parts === undefined ? new Queue<T>() : new Queue<T>(parts);
  }

  put(item: T): Promise<void> {
    return this.#queue.put(item);
  }

  async get(...rest: unknown[]): Promise<T> {
    if (rest.length > 0) throw new TypeError('SimpleQueue.get() takes no arguments (no block or timeout, as in Python)');
    return this.#queue.get();
  }

  empty(): boolean {
    return this.#queue.empty();
  }

  close(): void {
    this.#queue.close();
  }

  /** @internal */
  get [PARTS](): QueueParts {
    return this.#queue[PARTS];
  }

  /** @internal */
  get [FALLBACK](): FallbackQueue | null {
    return this.#queue[FALLBACK];
  }
}

// A queue travels to a child as its shared words and its pipe's two descriptors.
const travelling: Array<{ readonly name: string; new (parts: Rebuilt): Queue | SimpleQueue }> = [Queue, JoinableQueue, SimpleQueue];
for (const type of travelling) {
  registerReducer<Queue | SimpleQueue>({
    name: type.name,
    matches: (value): value is Queue | SimpleQueue => value.constructor === type,
    reduce: (queue, handles) => {
      const fallback = queue[FALLBACK];
      if (fallback !== null) return { fallback: fallback.reduce(handles), maxsize: queue[PARTS].maxsize };
      const parts = queue[PARTS];
      return { region: handles.pass(parts.region.fd), size: parts.region.size, read: handles.pass(parts.readFd), write: handles.pass(parts.writeFd), maxsize: parts.maxsize };
    },
    rebuild: (state, handles) => {
      const f = state as { fallback?: unknown; maxsize: number };
      if (f.fallback !== undefined) {
        return new type(new Rebuilt({ maxsize: f.maxsize, fallback: (errors) => FallbackQueue.rebuild(f.fallback, handles, f.maxsize, errors) }));
      }
      const s = state as { region: number; size: number; read: number; write: number; maxsize: number };
      return new type(new Rebuilt({ region: SharedRegion.fromFd(handles.fd(s.region), s.size), readFd: handles.fd(s.read), writeFd: handles.fd(s.write), maxsize: s.maxsize }));
    },
  });
}
