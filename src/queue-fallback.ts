import { itemLostError, ValueError } from './errors.js';
import { CHUNK_BYTES, FrameReader, makerFor, MAX_WHOLE, packWhole, queueSocketPair, SocketEnd, wholeChunkBytes, writeChunked, writeWhole, type ReadResult } from './queue-socket.js';
import { dumpsForChild, loadsInChild, type HandleSink, type HandleSource } from './reduction.js';
import { Value, type SharedValue } from './sharedctypes.js';
import { Condition } from './sync/condition.js';
import { OwnerDiedError } from './sync/errors.js';
import { Lock } from './sync/lock.js';
import { BoundedSemaphore, Semaphore } from './sync/semaphore.js';

/** The puts of a turn go in one write, up to one chunk (which the kernel takes whole: see queue-socket.ts). */
const BATCH_BYTES = CHUNK_BYTES;
/** How often wait() looks at a queue's count without the addon (it has no shared memory to sleep on). */
const READY_POLL_MS = 10;

/** The shared parts of a queue without the addon: Python's own design, on multiproc's primitives (served by the sync server). */
interface Shared {
  rlock: Lock;
  wlock: Lock;
  /** Items written to the socket, and taken out of it: qsize() is the difference. */
  written: SharedValue<'d'>;
  taken: SharedValue<'d'>;
  /** Free slots of a bounded queue. */
  slots: BoundedSemaphore | null;
  /** JoinableQueue: items not yet marked done, and the condition join() waits on. */
  unfinished: Semaphore | null;
  allDone: Condition | null;
}

export interface FallbackErrors {
  empty(): Error;
  full(): Error;
}

/**
 * A Queue where the native addon (shared memory, futexes, OS pipes) is
 * missing, with Node alone: as Python's mp.Queue, a socket that every holder
 * reads and writes, a read lock so that each get takes exactly one whole
 * frame, a write lock so that batches never interleave, a feeder that writes
 * the puts of a turn in one go, and counters for qsize(). The locks and
 * counters are multiproc's own primitives, which go through the sync server
 * here; a process keeps the read lock across the gets of one turn of its
 * event loop (a loop of `await q.get()`), so that a stream of items pays for
 * the lock once, not per item.
 */
export class FallbackQueue {
  readonly #maxsize: number;
  readonly #shared: Shared;
  readonly #reader: SocketEnd;
  readonly #writer: SocketEnd;
  readonly #frames = new FrameReader({ onBegun: () => this.#begun(), onDropped: () => this.#gaveBack() });
  readonly #errors: FallbackErrors;
  #pending: Buffer[] = [];
  #writing = 0;
  #feeding: Promise<void> | null = null;
  #readLine: Promise<unknown> = Promise.resolve();
  #readers = 0;
  #leased = false;
  #leaseCheck = false;
  #takenHere = 0;

  constructor(maxsize: number, joinable: boolean, errors: FallbackErrors, rebuilt?: { shared: Shared; read: number; write: number }) {
    this.#maxsize = maxsize;
    this.#errors = errors;
    if (rebuilt !== undefined) {
      this.#shared = rebuilt.shared;
      this.#reader = new SocketEnd(makerFor(rebuilt.read), this.#frames.onread, true);
      this.#writer = new SocketEnd(makerFor(rebuilt.write), this.#frames.onread, false);
    } else {
      const allDone = joinable ? new Condition(new Lock()) : null;
      this.#shared = {
        // Robust: a process killed while it held one (waiting for an item, say) does not stop the queue.
        rlock: new Lock({ robust: true }),
        wlock: new Lock({ robust: true }),
        written: Value('d', 0, { lock: false }),
        taken: Value('d', 0, { lock: false }),
        slots: maxsize > 0 ? new BoundedSemaphore(maxsize) : null,
        unfinished: joinable ? new Semaphore(0) : null,
        allDone,
      };
      const [read, write] = queueSocketPair();
      this.#reader = new SocketEnd(read, this.#frames.onread, true);
      this.#writer = new SocketEnd(write, this.#frames.onread, false);
    }
    this.#frames.attach(this.#reader);
  }

  // ---- putting

  async put(body: Buffer, block: boolean, timeout: number | null): Promise<void> {
    if (this.#shared.slots !== null && !(await this.#shared.slots.acquire(block ? timeout : 0))) throw this.#errors.full();
    this.#enqueue(body);
  }

  putNowait(body: Buffer): void {
    if (this.#shared.slots !== null && !this.#shared.slots.acquireSync(0)) throw this.#errors.full();
    this.#enqueue(body);
  }

  #enqueue(frame: Buffer): void {
    this.#shared.unfinished?.release();
    this.#pending.push(frame);
    this.#feeding ??= this.#feed().finally(() => {
      this.#feeding = null;
    });
  }

  async #feed(): Promise<void> {
    while (this.#pending.length > 0) {
      // The puts of this turn go together, in one write.
      await new Promise(setImmediate);
      let count = 0;
      let bytes = 0;
      while (count < this.#pending.length && (count === 0 || bytes + wholeChunkBytes(this.#pending[count]!) <= BATCH_BYTES)) bytes += wholeChunkBytes(this.#pending[count++]!);
      const batch = this.#pending.splice(0, count);
      this.#writing = count;
      const { wlock, written } = this.#shared;
      // A putter that died holding the lock wrote whole chunks only: the getters find its item lost (queue-socket.ts).
      await tolerateOwnerDied(wlock.acquire());
      try {
        // Counted before the bytes go: an item is taken (or found lost) from its first chunk on.
        written.value += count;
        this.#writing = 0;
        if (batch[0]!.length - 4 > MAX_WHOLE) await writeChunked(this.#writer, batch[0]!);
        else await writeWhole(this.#writer, packWhole(batch, bytes));
      } finally {
        this.#writing = 0;
        wlock.release();
      }
    }
  }

  /** Waits until every item this process put is in the socket. */
  async flushed(): Promise<void> {
    while (this.#feeding !== null) await this.#feeding;
  }

  // ---- getting

  get(block: boolean, timeout: number | null): Promise<Buffer> {
    // Holding the read lock, with no other get of ours in line: an item already here is taken at once (a stream of gets).
    if (this.#leased && this.#readers === 0) {
      try {
        const now = this.#frames.readNow();
        if (now !== null) return Promise.resolve(this.#took(now));
      } catch (error) {
        return Promise.reject(error as Error);
      } finally {
        this.#endLeaseSoon();
      }
    }
    return this.#getInLine(block, timeout);
  }

  async #getInLine(block: boolean, timeout: number | null): Promise<Buffer> {
    const deadline = !block ? Date.now() : timeout === null ? null : Date.now() + timeout;
    this.#readers += 1;
    const turn = this.#readLine.then(() => this.#getInTurn(deadline));
    this.#readLine = turn.catch(() => undefined);
    try {
      return await turn;
    } finally {
      this.#readers -= 1;
      this.#endLeaseSoon();
    }
  }

  getNowait(): Buffer {
    // Another get of this process is reading: the item is on its way to it.
    if (this.#readers > 0 || (!this.#leased && !tolerateOwnerDiedSync(() => this.#shared.rlock.acquireSync(0)))) throw this.#errors.empty();
    this.#leased = true;
    try {
      const body = this.#frames.readNow(2000);
      if (body === null) throw this.#errors.empty();
      return this.#took(body);
    } finally {
      this.#endLeaseSoon();
    }
  }

  async #getInTurn(deadline: number | null): Promise<Buffer> {
    if (!this.#leased) {
      const remaining = deadline === null ? null : Math.max(0, deadline - Date.now());
      if (!(await tolerateOwnerDied(this.#shared.rlock.acquire(remaining)))) throw this.#errors.empty();
      this.#leased = true;
    }
    const now = this.#frames.readNow();
    if (now !== null) return this.#took(now);
    // Before waiting (perhaps long): the others' qsize() should not count what this process took.
    this.#commitTaken();
    const reading = this.#frames.read();
    if (deadline !== null) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()))));
      const first = await Promise.race([reading, timedOut]);
      clearTimeout(timer);
      // A frame that has begun is read to its end, as Python's recv after its poll.
      if (first === null && this.#frames.cancel()) throw this.#errors.empty();
    }
    return this.#took(await reading);
  }

  #took(result: ReadResult): Buffer {
    if ('lostWith' in result) {
      this.#gaveBack();
      throw itemLostError(result.lostWith);
    }
    if (!result.counted) this.#takenHere += 1;
    this.#shared.slots?.release();
    return result.body;
  }

  /** An item too big for one chunk has begun to come in: counted as taken now (its rest may be long in coming, or never come). */
  #begun(): void {
    this.#takenHere += 1;
    this.#commitTaken();
  }

  /** An item lost (its putter or its getter died): what it held goes back, its slot and, for join(), its task. */
  #gaveBack(): void {
    this.#shared.slots?.release();
    if (this.#shared.unfinished === null) return;
    try {
      this.taskDone();
    } catch {
      // all done already
    }
  }

  /** The read lock goes back after this turn of the event loop, unless another get of ours came in it. */
  #endLeaseSoon(): void {
    if (this.#leaseCheck || !this.#leased) return;
    this.#leaseCheck = true;
    setImmediate(() => {
      this.#leaseCheck = false;
      if (this.#readers > 0 || !this.#leased) return;
      this.#commitTaken();
      this.#leased = false;
      this.#shared.rlock.release();
    });
  }

  /** Holding the read lock: adds what this process took to the shared count. */
  #commitTaken(): void {
    if (this.#takenHere === 0) return;
    this.#shared.taken.value += this.#takenHere;
    this.#takenHere = 0;
  }

  // ---- counting

  qsize(): number {
    const { written, taken } = this.#shared;
    return Math.max(0, written.value - taken.value - this.#takenHere + this.#pending.length + this.#writing);
  }

  full(): boolean {
    return this.#shared.slots !== null && this.#shared.slots.getValue() === 0;
  }

  /** For wait(): a look at the count now and then, since there is no shared word to sleep on. */
  async whenReady(timeout: number | null): Promise<void> {
    const deadline = timeout === null ? null : Date.now() + timeout;
    while (this.qsize() <= 0) {
      const remaining = deadline === null ? READY_POLL_MS : Math.min(READY_POLL_MS, deadline - Date.now());
      if (remaining <= 0) return;
      await new Promise((resolve) => setTimeout(resolve, remaining));
    }
  }

  // ---- JoinableQueue

  taskDone(): void {
    const { unfinished, allDone } = this.#shared;
    if (!unfinished!.acquireSync(0)) throw new ValueError('task_done() called too many times');
    if (unfinished!.getValue() === 0) {
      allDone!.acquireSync();
      try {
        allDone!.notifyAll();
      } finally {
        allDone!.release();
      }
    }
  }

  async join(): Promise<void> {
    const { unfinished, allDone } = this.#shared;
    await allDone!.acquire();
    try {
      while (unfinished!.getValue() > 0) await allDone!.wait();
    } finally {
      allDone!.release();
    }
  }

  // ---- life

  close(): void {
    this.#reader.close();
    this.#writer.close();
  }

  /** What a child needs: the two ends' handles, and the shared primitives (which travel by their own rules). */
  reduce(handles: HandleSink): unknown {
    return { read: handles.pass(this.#reader.token()), write: handles.pass(this.#writer.token()), shared: dumpsForChild(this.#shared, 'a Queue').bytes };
  }

  static rebuild(state: unknown, handles: HandleSource, maxsize: number, errors: FallbackErrors): FallbackQueue {
    const s = state as { read: number; write: number; shared: Uint8Array };
    const shared = loadsInChild(s.shared, null) as Shared;
    return new FallbackQueue(maxsize, shared.unfinished !== null, errors, { shared, read: handles.fd(s.read), write: handles.fd(s.write) });
  }
}

/**
 * A lock whose holder died is ours now (OwnerDiedError): the queue goes on.
 * What a holder killed in the middle of an item leaves is whole chunks
 * (queue-socket.ts): the getters report the item lost, or skip its rest.
 */
async function tolerateOwnerDied(acquiring: Promise<boolean>): Promise<boolean> {
  try {
    return await acquiring;
  } catch (error) {
    if (error instanceof OwnerDiedError) return true;
    throw error;
  }
}

function tolerateOwnerDiedSync(acquire: () => boolean): boolean {
  try {
    return acquire();
  } catch (error) {
    if (error instanceof OwnerDiedError) return true;
    throw error;
  }
}
