import { AssertionError, ValueError, invalidArgType } from '../errors.js';
import { currentProcess } from '../process.js';
import type { Block } from './shared.js';
import { OwnerDiedError } from './errors.js';
import { isAlive, PID, THREAD } from './owner.js';
import { adopt, adopting, regionFor, registerPrimitive } from './shared.js';
import { AsyncSleeper, deadlineAfter, POLL_MS, sleepUntil, wakeSleepers, type Deadline } from './sleep.js';
import { validateWaitTimeout } from './timeout.js';
import { native } from '../native.js';
import { registerRemote, remotePrimitive } from './remote.js';

// The words of a Lock or RLock.
const HOLDER = 0; // 0: free; else the pid of the process that took it (any process may release a Lock)
const SLEEPERS = 1; // threads asleep on HOLDER, in all processes
const ROBUST = 2; // 1: a waiter takes the lock over when its holder has died
const COUNT = 3; // RLock: how many times its owner acquired it
const THREAD_WORD = 4; // RLock: the owner's worker thread id
const WORDS = 5;

export interface LockOptions {
  /**
   * When the process holding the lock dies without releasing it (killed with
   * SIGKILL, say), the next acquirer takes the lock over and gets an
   * `OwnerDiedError` (it then holds the lock). Waiters look at the holder every
   * 50 ms. Default false: as in Python, such a lock stays held forever.
   */
  robust?: boolean;
}

/** Where a primitive keeps its region, for the rule that carries it to a child (not public). */
export const REGION = Symbol('multiproc.sync.region');

/** What Condition needs from its lock (not public). */
export const CONDITION_LOCK = Symbol('multiproc.sync.conditionLock');
export interface ConditionLock {
  /** Whether this process (and thread) holds the lock. */
  owned(): boolean;
  /** Releases the lock however deeply it is held; returns what `restore` needs. */
  releaseAll(): number;
  /** Called right after re-acquiring: puts back the depth `releaseAll` returned. */
  restore(saved: number): void;
}

/**
 * The shared core of Lock and RLock: a futex word that holds the taker's pid.
 * The uncontended path is one compare-and-swap on shared memory, with no
 * system call and, for `acquire()`, no trip to the waiting thread.
 */
abstract class MutexBase {
  protected readonly region!: Block;
  protected readonly view!: Int32Array;
  readonly #robust!: boolean;
  readonly #sleeper!: AsyncSleeper;

  constructor(options: LockOptions | undefined, what: string) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgType(`${what} options`, 'an object such as { robust: true }', options);
    const robust = options?.robust;
    if (robust !== undefined && typeof robust !== 'boolean') throw invalidArgType('"robust" option', 'a boolean', robust);
    // Without the addon, the same class on the sync server (./remote.ts); checked here, once per lock, never per acquire.
    if (native() === null && !adopting()) return remotePrimitive<MutexBase>(what === 'RLock' ? 'RLock' : 'Lock', new.target.prototype, { robust: robust ?? false });
    const { region, fresh } = regionFor(this, WORDS);
    this.region = region;
    this.view = region.int32();
    if (fresh) Atomics.store(this.view, ROBUST, robust ? 1 : 0);
    this.#robust = Atomics.load(this.view, ROBUST) === 1;
    this.#sleeper = new AsyncSleeper(this.view, HOLDER, SLEEPERS, this.#robust ? POLL_MS : -1, true, held);
  }

  /** Whether a waiter takes the lock over from a dead holder (see LockOptions). */
  get robust(): boolean {
    return this.#robust;
  }

  /** Takes the free lock, or a dead holder's when robust: -1 if neither, 0 if taken, the dead holder's pid if taken over. */
  #take(): number {
    const holder = Atomics.compareExchange(this.view, HOLDER, 0, PID);
    if (holder === 0) return 0;
    if (this.#robust && holder !== PID && !isAlive(holder) && Atomics.compareExchange(this.view, HOLDER, holder, PID) === holder) return holder;
    return -1;
  }

  protected takeAsync(timeout: number | null, what: string): Promise<boolean> {
    if (Atomics.compareExchange(this.view, HOLDER, 0, PID) === 0) return TRUE;
    let died = 0;
    const ready = (): boolean => {
      const taken = this.#take();
      if (taken > 0) died = taken;
      return taken >= 0;
    };
    const done = (ok: boolean): boolean => {
      if (ok && died > 0) throw new OwnerDiedError(what, died);
      return ok;
    };
    if (timeout === 0) return Promise.resolve().then(() => done(ready()));
    return this.#sleeper.until(ready, deadlineAfter(timeout)).then(done);
  }

  protected takeSync(deadline: Deadline, what: string): boolean {
    let died = 0;
    const ok = sleepUntil(
      this.view,
      HOLDER,
      SLEEPERS,
      () => {
        const taken = this.#take();
        if (taken > 0) died = taken;
        return taken >= 0;
      },
      deadline,
      this.#robust ? POLL_MS : -1,
      true,
      held,
    );
    if (ok && died > 0) throw new OwnerDiedError(what, died);
    return ok;
  }

  /** Frees the word and wakes one sleeper; false if it was not held. */
  protected free(): boolean {
    if (Atomics.exchange(this.view, HOLDER, 0) === 0) return false;
    wakeSleepers(this.view, HOLDER, SLEEPERS, 1);
    return true;
  }

  /** The pid that holds the lock, or 0. */
  protected get holder(): number {
    return Atomics.load(this.view, HOLDER);
  }

  /** The region, for the rule that carries the lock to a child (not public). */
  get [REGION](): Block {
    return this.region;
  }

  abstract acquire(timeoutMs?: number | null): Promise<boolean>;
  abstract release(): void;

  /**
   * Runs `fn` holding the lock and releases it however `fn` ends. When a
   * robust lock's holder died, the OwnerDiedError is thrown and the lock
   * released: `fn` does not run on state the dead holder may have left half-done.
   */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw invalidArgType('"fn" argument', 'a function', fn);
    try {
      await this.acquire();
    } catch (error) {
      if (error instanceof OwnerDiedError) this.release();
      throw error;
    }
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** A lock word means "wait" while someone holds it. */
const held = (seen: number): boolean => seen !== 0;

/** One settled promise for every fast-path acquire: awaiting it costs no allocation. */
const TRUE = Promise.resolve(true);

function ownerName(pid: number): string {
  return pid === PID ? currentProcess().name : 'SomeOtherProcess';
}

/**
 * A lock shared between processes (Python's `multiprocessing.Lock`). It has
 * no owner: any process may release it, once per acquire. Pass it to
 * children in `args`.
 */
export class Lock extends MutexBase {
  constructor(options?: LockOptions) {
    super(options, 'Lock');
  }

  /**
   * Resolves true once this caller holds the lock, or false when `timeoutMs`
   * passes first (0: only try). Never blocks the event loop.
   * A robust lock whose holder died rejects with OwnerDiedError, and the caller holds it.
   */
  acquire(timeoutMs?: number | null): Promise<boolean> {
    // The fast path first: a free lock, no timeout to check.
    if (timeoutMs === undefined && Atomics.compareExchange(this.view, HOLDER, 0, PID) === 0) return TRUE;
    try {
      return this.takeAsync(validateWaitTimeout(timeoutMs), 'Lock');
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `acquire` that blocks this thread (for CPU-bound code that holds the lock briefly). */
  acquireSync(timeoutMs?: number | null): boolean {
    if (timeoutMs === undefined && Atomics.compareExchange(this.view, HOLDER, 0, PID) === 0) return true;
    return this.takeSync(deadlineAfter(validateWaitTimeout(timeoutMs)), 'Lock');
  }

  /** Releases the lock, whoever took it; ValueError when it is not held. */
  release(): void {
    if (!this.free()) throw new ValueError('semaphore or lock released too many times');
  }

  /** Whether some process holds the lock. */
  locked(): boolean {
    return this.holder !== 0;
  }

  override toString(): string {
    const holder = this.holder;
    return `<Lock(owner=${holder === 0 ? 'None' : ownerName(holder)})>`;
  }

  get [CONDITION_LOCK](): ConditionLock {
    return {
      owned: () => this.holder === PID,
      releaseAll: () => {
        this.release();
        return 1;
      },
      restore: () => undefined,
    };
  }
}

/**
 * A re-entrant lock (Python's `multiprocessing.RLock`): its owner, a process
 * (and worker thread), may acquire it again and must release it as many
 * times. Ownership is per process: async tasks of one process share it, so
 * use a Lock to keep two tasks of the same process apart.
 */
export class RLock extends MutexBase {
  constructor(options?: LockOptions) {
    super(options, 'RLock');
  }

  #mine(): boolean {
    return this.holder === PID && Atomics.load(this.view, THREAD_WORD) === THREAD;
  }

  #took(): void {
    Atomics.store(this.view, THREAD_WORD, THREAD);
    Atomics.store(this.view, COUNT, 1);
  }

  acquire(timeoutMs?: number | null): Promise<boolean> {
    try {
      const timeout = validateWaitTimeout(timeoutMs);
      if (this.#mine()) {
        Atomics.add(this.view, COUNT, 1);
        return Promise.resolve(true);
      }
      return this.takeAsync(timeout, 'RLock').then(
        (ok) => {
          if (ok) this.#took();
          return ok;
        },
        (error: unknown) => {
          if (error instanceof OwnerDiedError) this.#took();
          throw error;
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  acquireSync(timeoutMs?: number | null): boolean {
    const deadline = deadlineAfter(validateWaitTimeout(timeoutMs));
    if (this.#mine()) {
      Atomics.add(this.view, COUNT, 1);
      return true;
    }
    let ok: boolean;
    try {
      ok = this.takeSync(deadline, 'RLock');
    } catch (error) {
      if (error instanceof OwnerDiedError) this.#took();
      throw error;
    }
    if (ok) this.#took();
    return ok;
  }

  /** Releases one level; AssertionError when this process (and thread) does not own it. */
  release(): void {
    if (!this.#mine() || Atomics.load(this.view, COUNT) <= 0) throw new AssertionError('attempt to release recursive lock not owned by thread');
    if (Atomics.sub(this.view, COUNT, 1) === 1) {
      Atomics.store(this.view, THREAD_WORD, 0);
      this.free();
    }
  }

  override toString(): string {
    const holder = this.holder;
    if (holder === 0) return '<RLock(None, 0)>';
    return `<RLock(${this.#mine() ? currentProcess().name : 'SomeOtherProcess'}, ${Atomics.load(this.view, COUNT)})>`;
  }

  get [CONDITION_LOCK](): ConditionLock {
    return {
      owned: () => this.#mine(),
      releaseAll: () => {
        const depth = Atomics.load(this.view, COUNT);
        Atomics.store(this.view, COUNT, 1);
        this.release();
        return depth;
      },
      restore: (depth) => {
        Atomics.store(this.view, COUNT, depth);
      },
    };
  }
}

for (const type of [Lock, RLock]) {
  registerPrimitive<Lock | RLock>({
    name: type.name,
    matches: (value): value is Lock | RLock => value.constructor === type,
    parts: (lock) => ({ region: lock[REGION] }),
    rebuild: (region) => adopt(region, () => new type()),
  });
}

registerRemote('Lock', Lock.prototype);
registerRemote('RLock', RLock.prototype);
