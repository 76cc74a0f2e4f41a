import { closeSync, readSync } from 'node:fs';
import { decode, encode } from './codec.js';
import { EOFError, invalidArgType, ValueError } from './errors.js';
import { requireNative } from './native.js';
import { registerReducer } from './reduction.js';
import { waitAsync, wake } from './shared/futex.js';
import { SharedRegion } from './shared/region.js';
import { validateTimeout } from './validate.js';

/** Raised by `get` on an empty queue (Python's `queue.Empty`). */
export class Empty extends Error {
  override name = 'Empty';
}

/** Raised by `put` on a full queue (Python's `queue.Full`). */
export class Full extends Error {
  override name = 'Full';
}

// The queue's shared words (Int32, in one SharedRegion that every holder maps).
const READ_LOCK = 0; // Drepper's futex mutex: 0 free, 1 held, 2 held with waiters
const WRITE_LOCK = 1;
const STARTED = 2; // frames whose writing has begun, in pipe order (wrapping)
const TAKEN = 3; // frames taken out by getters (wrapping)
const FREE = 4; // free slots when bounded: a semaphore
const UNFINISHED = 5; // JoinableQueue: puts not yet matched by taskDone
const COMPLETE = 6; // frames wholly in the pipe: writers finish in order, under the write lock
const NEXT_LENGTH = 7; // the next frame's length when a reader already read its header, else -1
const WORDS = 8;
// The feeder writes what is pending in one go, up to this much: half a Linux
// pipe (64 KiB), so that a batch lands whole at once and getters can read it
// without waiting (a bigger write would sit half-written until someone reads).
const BATCH_BYTES = 32 * 1024;
const MAX_SEMAPHORE = 2147483647;

/** How wait() asks a queue whether it has an item (not public). */
export const READINESS = Symbol('multiproc.queue.readiness');

/** Where a queue keeps the parts a child needs to rebuild it (not public). */
const PARTS = Symbol('multiproc.queue.parts');

/**
 * A lock for this queue across processes: a futex mutex on a shared word.
 * Within one process, callers line up in a promise chain first, so that at
 * most one of them sleeps on the futex (each sleeper holds a threadpool thread).
 */
class SharedLock {
  readonly #view: Int32Array;
  readonly #index: number;
  #line: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  constructor(view: Int32Array, index: number) {
    this.#view = view;
    this.#index = index;
  }

  /** No caller of this process is lined up for the lock (a fast path must not overtake them). */
  get idle(): boolean {
    return this.#waiting === 0;
  }

  tryAcquire(): boolean {
    return Atomics.compareExchange(this.#view, this.#index, 0, 1) === 0;
  }

  /** Runs `work` holding the lock; resolves false without running it if `deadline` passes first. */
  async with<T>(deadline: number | null, work: () => Promise<T> | T): Promise<{ ok: true; value: T } | { ok: false }> {
    this.#waiting += 1;
    const turn = this.#line.then(async () => {
      if (!(await this.#acquire(deadline))) return { ok: false as const };
      try {
        return { ok: true as const, value: await work() };
      } finally {
        this.release();
      }
    });
    this.#line = turn.catch(() => undefined);
    return turn.finally(() => {
      this.#waiting -= 1;
    });
  }

  release(): void {
    if (Atomics.sub(this.#view, this.#index, 1) !== 1) {
      Atomics.store(this.#view, this.#index, 0);
      wake(this.#view, this.#index, 1);
    }
  }

  async #acquire(deadline: number | null): Promise<boolean> {
    if (this.tryAcquire()) return true;
    for (;;) {
      if (Atomics.exchange(this.#view, this.#index, 2) === 0) return true;
      const remaining = deadline === null ? -1 : deadline - Date.now();
      if (deadline !== null && remaining <= 0) return false;
      await waitAsync(this.#view, this.#index, 2, remaining);
    }
  }
}

interface QueueParts {
  region: SharedRegion;
  readFd: number;
  writeFd: number;
  maxsize: number;
}

/** Fills `buffer` from a blocking fd whose bytes are known to be there (or on their way). */
function readFully(fd: number, buffer: Buffer): Buffer {
  for (let at = 0; at < buffer.length; ) {
    const n = readSync(fd, buffer, at, buffer.length - at, null);
    if (n === 0) throw new EOFError('got end of file during message');
    at += n;
  }
  return buffer;
}

/** The parts of a queue received by a child: the internal constructor argument. */
class Rebuilt {
  constructor(readonly parts: QueueParts) {}
}

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
 * a write lock (futexes in shared memory), so each get takes exactly one whole
 * message; `put` hands frames to a feeder that writes them from the
 * threadpool, so a full pipe never blocks the event loop.
 */
export class Queue<T = unknown> {
  readonly #region: SharedRegion;
  readonly #words: Int32Array;
  readonly #readFd: number;
  readonly #writeFd: number;
  readonly #maxsize: number;
  readonly #readLock: SharedLock;
  readonly #writeLock: SharedLock;
  #pending: Buffer[] = [];
  #feeding: Promise<void> | null = null;
  #closed = false;
  #fdsClosed = false;

  constructor(maxsize?: number);
  /** @internal A queue rebuilt in a child from the parts its parent sent. */
  constructor(parts: Rebuilt);
  constructor(maxsize: number | Rebuilt = 0) {
    if (maxsize instanceof Rebuilt) {
      ({ region: this.#region, readFd: this.#readFd, writeFd: this.#writeFd, maxsize: this.#maxsize } = maxsize.parts);
    } else {
      if (typeof maxsize !== 'number' || !Number.isInteger(maxsize)) throw invalidArgType('"maxsize" argument', 'an integer (0 or less: unbounded)', maxsize);
      this.#maxsize = maxsize <= 0 ? 0 : Math.min(maxsize, MAX_SEMAPHORE);
      this.#region = SharedRegion.create(WORDS * 4);
      [this.#readFd, this.#writeFd] = requireNative('Queue').pipe();
      Atomics.store(this.#region.int32(), FREE, this.#maxsize);
      Atomics.store(this.#region.int32(), NEXT_LENGTH, -1);
    }
    this.#words = this.#region.int32();
    this.#readLock = new SharedLock(this.#words, READ_LOCK);
    this.#writeLock = new SharedLock(this.#words, WRITE_LOCK);
  }

  /**
   * Puts an item; with `block` (default) it waits up to `timeout` ms for a
   * free slot of a bounded queue, else rejects with `Full`. Resolves once the
   * item is queued for the pipe (as Python's put returns before its feeder writes).
   */
  async put(item: T, options?: { block?: boolean; timeout?: number | null }): Promise<void> {
    const block = options?.block ?? true;
    const timeout = validateTimeout(options?.timeout, 'timeout');
    this.#checkOpen();
    const body = encode(item, 'a Queue item');
    if (this.#maxsize > 0 && !(await this.#takeSlot(block, timeout))) throw new Full('the queue is full');
    this.#enqueue(body);
  }

  /** Puts an item without waiting: `Full` at once if a bounded queue has no free slot. */
  putNowait(item: T): void {
    this.#checkOpen();
    const body = encode(item, 'a Queue item');
    if (this.#maxsize > 0 && !this.#trySlot()) throw new Full('the queue is full');
    this.#enqueue(body);
  }

  /** Takes the oldest item; with `block` (default) waits up to `timeout` ms, else rejects with `Empty`. */
  async get(options?: { block?: boolean; timeout?: number | null }): Promise<T> {
    const block = options?.block ?? true;
    const timeout = validateTimeout(options?.timeout, 'timeout');
    this.#checkOpen();
    // The fast path: a whole frame is waiting and no one else reads.
    if (this.#readLock.idle && this.#complete() > 0 && this.#readLock.tryAcquire()) {
      try {
        if (this.#complete() > 0) return this.#took(this.#readFrame(true));
      } finally {
        this.#readLock.release();
      }
    }
    const deadline = !block ? Date.now() : timeout === null ? null : Date.now() + timeout;
    const result = await this.#readLock.with(deadline, async () => {
      if (!(await this.#waitForItem(deadline))) return null;
      return this.#complete() > 0 ? this.#readFrame(true) : this.#readFrame(false);
    });
    if (!result.ok || result.value === null) throw new Empty('the queue is empty');
    return this.#took(await result.value);
  }

  /** Takes the oldest item without waiting: `Empty` at once if there is none (or another process is reading). */
  getNowait(): T {
    this.#checkOpen();
    if (!this.#readLock.tryAcquire()) throw new Empty('the queue is empty');
    let body: Buffer;
    try {
      // Only a frame that is wholly in the pipe: reading one still being written would wait.
      if (this.#complete() <= 0) throw new Empty('the queue is empty');
      body = this.#readFrame(true);
    } finally {
      this.#readLock.release();
    }
    return this.#took(body);
  }

  /** The approximate number of items (others may put and get at the same moment). */
  qsize(): number {
    return Math.max(0, this.#available() + this.#pending.length);
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
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
    while (this.#feeding !== null) await this.#feeding;
  }

  toString(): string {
    return `<${this.constructor.name} maxsize=${this.#maxsize}${this.#closed ? ' closed' : ''}>`;
  }

  /** @internal For wait(): whether an item is there to get, and a wait for one (up to `timeout` ms, null: forever). */
  get [READINESS](): { ready(): boolean; whenReady(timeout: number | null): Promise<void> } {
    return {
      ready: () => this.#available() > 0,
      whenReady: async (timeout) => {
        await this.#waitForItem(timeout === null ? null : Date.now() + timeout);
      },
    };
  }

  /** @internal For the rule that carries a queue to a child. */
  get [PARTS](): QueueParts {
    return { region: this.#region, readFd: this.#readFd, writeFd: this.#writeFd, maxsize: this.#maxsize };
  }

  /** @internal Hook for JoinableQueue: a put is about to reach the pipe. */
  protected onPut(): void {}

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
    const addon = requireNative('Queue');
    while (this.#pending.length > 0) {
      await this.#writeLock.with(null, async () => {
        // Counted by qsize() until here as pending, from here on as started.
        let count = 0;
        let bytes = 0;
        while (count < this.#pending.length && (count === 0 || bytes + this.#pending[count]!.length <= BATCH_BYTES)) bytes += this.#pending[count++]!.length;
        const batch = this.#pending.splice(0, count);
        Atomics.add(this.#words, STARTED, count);
        wake(this.#words, STARTED);
        await addon.writeAllAsync(this.#writeFd, count === 1 ? batch[0]! : Buffer.concat(batch, bytes));
        Atomics.add(this.#words, COMPLETE, count);
      });
    }
  }

  async #waitForItem(deadline: number | null): Promise<boolean> {
    for (;;) {
      const started = Atomics.load(this.#words, STARTED);
      if (((started - Atomics.load(this.#words, TAKEN)) | 0) > 0) return true;
      const remaining = deadline === null ? -1 : deadline - Date.now();
      if (deadline !== null && remaining <= 0) return false;
      await waitAsync(this.#words, STARTED, started, remaining);
    }
  }

  /**
   * One whole frame, holding the read lock. The sync form reads a frame that
   * is wholly in the pipe (so the read returns at once) and, when the frame
   * after it is complete too, that frame's header with it: one system call per
   * item; the header's length waits in shared memory for whichever process
   * reads next. The async form reads a frame still being written, on the threadpool.
   */
  #readFrame(sync: true): Buffer;
  #readFrame(sync: false): Promise<Buffer>;
  #readFrame(sync: boolean): Buffer | Promise<Buffer> {
    const known = Atomics.load(this.#words, NEXT_LENGTH);
    Atomics.store(this.#words, NEXT_LENGTH, -1);
    if (sync) {
      const length = known >= 0 ? known : readFully(this.#readFd, Buffer.allocUnsafe(4)).readUInt32BE(0);
      const prefetch = this.#complete() >= 2;
      const body = readFully(this.#readFd, Buffer.allocUnsafe(length + (prefetch ? 4 : 0)));
      if (prefetch) Atomics.store(this.#words, NEXT_LENGTH, body.readUInt32BE(length));
      Atomics.add(this.#words, TAKEN, 1);
      return body.subarray(0, length);
    }
    const addon = requireNative('Queue');
    Atomics.add(this.#words, TAKEN, 1);
    const length = known >= 0 ? Promise.resolve(known) : addon.readExactAsync(this.#readFd, 4).then((head) => head.readUInt32BE(0));
    return length.then((n) => addon.readExactAsync(this.#readFd, n));
  }

  #took(body: Buffer): T {
    if (this.#maxsize > 0) {
      Atomics.add(this.#words, FREE, 1);
      wake(this.#words, FREE, 1);
    }
    return decode(body) as T;
  }

  #closeFds(): void {
    if (this.#fdsClosed) return;
    this.#fdsClosed = true;
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

  /** Marks one item taken with get() as done. */
  taskDone(): void {
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

  async put(item: T): Promise<void> {
    await this.#queue.put(item);
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
}

// A queue travels to a child as its shared words and its pipe's two descriptors.
const travelling: Array<{ readonly name: string; new (parts: Rebuilt): Queue | SimpleQueue }> = [Queue, JoinableQueue, SimpleQueue];
for (const type of travelling) {
  registerReducer<Queue | SimpleQueue>({
    name: type.name,
    matches: (value): value is Queue | SimpleQueue => value.constructor === type,
    reduce: (queue, handles) => {
      const parts = queue[PARTS];
      return { region: handles.pass(parts.region.fd), size: parts.region.size, read: handles.pass(parts.readFd), write: handles.pass(parts.writeFd), maxsize: parts.maxsize };
    },
    rebuild: (state, handles) => {
      const s = state as { region: number; size: number; read: number; write: number; maxsize: number };
      return new type(new Rebuilt({ region: SharedRegion.fromFd(handles.fd(s.region), s.size), readFd: handles.fd(s.read), writeFd: handles.fd(s.write), maxsize: s.maxsize }));
    },
  });
}
