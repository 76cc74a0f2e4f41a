import { AssertionError, invalidArgType, ValueError } from '../errors.js';
import type { Block } from './shared.js';
import { CONDITION_LOCK, Lock, REGION, RLock } from './lock.js';
import { adopt, adopting, rebuildPrimitive, reducePrimitive, regionFor, registerPrimitive } from './shared.js';
import { native } from '../native.js';
import { registerRemote, remotePrimitive } from './remote.js';
import { AsyncSleeper, deadlineAfter, sleepUntil, wakeSleepers } from './sleep.js';
import { validateWaitTimeout } from './timeout.js';

// The words of a Condition. Each wait takes a ticket; notify(n) moves the
// NOTIFIED mark past the next n live tickets, so that exactly n waiters
// (the oldest) wake, however many processes they are spread over. A waiter
// that times out marks its ticket cancelled so that no notify is spent on it.
const TICKETS = 0; // the next ticket number (wrapping)
const NOTIFIED = 1; // tickets below this one are notified (wrapping)
const SLEEPERS = 2;
const CANCELLED = 4; // a ring of RING flags, one per ticket modulo RING
const RING = 1024;
const WORDS = CANCELLED + RING;

/**
 * A condition variable shared between processes (Python's
 * `multiprocessing.Condition`), over a Lock or (by default) an RLock.
 * `wait` must be called holding the lock; it releases it while waiting.
 */
export class Condition {
  readonly #region!: Block;
  readonly #view!: Int32Array;
  readonly #lock!: Lock | RLock;
  readonly #sleeper!: AsyncSleeper;

  constructor(lock?: Lock | RLock | null) {
    if (lock !== undefined && lock !== null && !(lock instanceof Lock) && !(lock instanceof RLock)) {
      throw invalidArgType('"lock" argument', 'a Lock or an RLock (or nothing: a new RLock)', lock);
    }
    // Without the addon, the same class on the sync server (../remote.ts), over a lock there too.
    if (native() === null && !adopting()) return remotePrimitive<Condition>('Condition', new.target.prototype, { lock: lock ?? new RLock() });
    // The region first: while a rule rebuilds this Condition, it is the one to adopt.
    this.#region = regionFor(this, WORDS).region;
    this.#lock = lock ?? new RLock();
    this.#view = this.#region.int32();
    this.#sleeper = new AsyncSleeper(this.#view, NOTIFIED, SLEEPERS);
  }

  /** The underlying lock. */
  get lock(): Lock | RLock {
    return this.#lock;
  }

  acquire(timeoutMs?: number | null): Promise<boolean> {
    return this.#lock.acquire(timeoutMs);
  }

  acquireSync(timeoutMs?: number | null): boolean {
    return this.#lock.acquireSync(timeoutMs);
  }

  release(): void {
    this.#lock.release();
  }

  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#lock.withLock(fn);
  }

  /** Takes a ticket, holding the lock. */
  #ticket(): number {
    if (!this.#lock[CONDITION_LOCK].owned()) throw new AssertionError('must acquire() condition before using wait()');
    this.#skipCancelled();
    const ticket = Atomics.load(this.#view, TICKETS);
    if (((ticket - Atomics.load(this.#view, NOTIFIED)) | 0) >= RING) {
      throw new ValueError(`more than ${RING} waiters on one Condition: notify some before more wait`);
    }
    Atomics.store(this.#view, CANCELLED + (ticket & (RING - 1)), 0);
    Atomics.store(this.#view, TICKETS, (ticket + 1) | 0);
    return ticket;
  }

  #notified(ticket: number): boolean {
    return ((Atomics.load(this.#view, NOTIFIED) - ticket) | 0) > 0;
  }

  /** After waking (holding the lock again): true if notified; a timed-out ticket is cancelled. */
  #settle(ticket: number, woke: boolean): boolean {
    if (woke || this.#notified(ticket)) return true;
    Atomics.store(this.#view, CANCELLED + (ticket & (RING - 1)), 1);
    return false;
  }

  /** Moves NOTIFIED past cancelled tickets at its head. */
  #skipCancelled(): void {
    let notified = Atomics.load(this.#view, NOTIFIED);
    const tickets = Atomics.load(this.#view, TICKETS);
    while (notified !== tickets && Atomics.load(this.#view, CANCELLED + (notified & (RING - 1))) === 1) {
      Atomics.store(this.#view, CANCELLED + (notified & (RING - 1)), 0);
      notified = (notified + 1) | 0;
    }
    Atomics.store(this.#view, NOTIFIED, notified);
  }

  /**
   * Releases the lock, waits for a notify (or `timeoutMs`), re-acquires the
   * lock, and resolves true if notified. Never blocks the event loop.
   */
  async wait(timeoutMs?: number | null): Promise<boolean> {
    const timeout = validateWaitTimeout(timeoutMs);
    const ticket = this.#ticket();
    const saved = this.#lock[CONDITION_LOCK].releaseAll();
    let woke = false;
    try {
      const ready = (): boolean => this.#notified(ticket);
      woke = ready() || (timeout !== 0 && (await this.#sleeper.until(ready, deadlineAfter(timeout))));
    } finally {
      await this.#reacquire(saved);
    }
    return this.#settle(ticket, woke);
  }

  async #reacquire(saved: number): Promise<void> {
    await this.#lock.acquire();
    this.#lock[CONDITION_LOCK].restore(saved);
  }

  /** `wait` that blocks this thread. */
  waitSync(timeoutMs?: number | null): boolean {
    const deadline = deadlineAfter(validateWaitTimeout(timeoutMs));
    const ticket = this.#ticket();
    const saved = this.#lock[CONDITION_LOCK].releaseAll();
    let woke = false;
    try {
      woke = sleepUntil(this.#view, NOTIFIED, SLEEPERS, () => this.#notified(ticket), deadline);
    } finally {
      this.#lock.acquireSync();
      this.#lock[CONDITION_LOCK].restore(saved);
    }
    return this.#settle(ticket, woke);
  }

  /**
   * Waits until `predicate()` is true (Python's `wait_for`), re-checking
   * after each notify, for at most `timeoutMs` in all; resolves to the
   * predicate's last value.
   */
  async waitFor<T>(predicate: () => T, timeoutMs?: number | null): Promise<T> {
    if (typeof predicate !== 'function') throw invalidArgType('"predicate" argument', 'a function', predicate);
    const deadline = deadlineAfter(validateWaitTimeout(timeoutMs));
    let result = predicate();
    while (!result) {
      const remaining = deadline === null ? null : deadline - Date.now();
      if (remaining !== null && remaining <= 0) break;
      await this.wait(remaining);
      result = predicate();
    }
    return result;
  }

  /** Wakes the `n` longest-waiting waiters (default 1); must be called holding the lock. */
  notify(n = 1): void {
    if (typeof n !== 'number' || Number.isNaN(n) || n < 0) throw invalidArgType('"n" argument', 'a number >= 0', n);
    if (!this.#lock[CONDITION_LOCK].owned()) throw new AssertionError('lock is not owned');
    let notified = Atomics.load(this.#view, NOTIFIED);
    const tickets = Atomics.load(this.#view, TICKETS);
    const before = notified;
    while (n > 0 && notified !== tickets) {
      const slot = CANCELLED + (notified & (RING - 1));
      if (Atomics.load(this.#view, slot) === 1) Atomics.store(this.#view, slot, 0);
      else n -= 1;
      notified = (notified + 1) | 0;
    }
    if (notified === before) return;
    Atomics.store(this.#view, NOTIFIED, notified);
    wakeSleepers(this.#view, NOTIFIED, SLEEPERS, Infinity);
  }

  /** Wakes every waiter. */
  notifyAll(): void {
    this.notify(Infinity);
  }

  toString(): string {
    const waiting = (Atomics.load(this.#view, TICKETS) - Atomics.load(this.#view, NOTIFIED)) | 0;
    return `<Condition(${this.#lock}, ${waiting})>`;
  }

  get [REGION](): Block {
    return this.#region;
  }
}

registerPrimitive<Condition>({
  name: 'Condition',
  matches: (value): value is Condition => value.constructor === Condition,
  parts: (condition, handles) => ({ region: condition[REGION], extra: reducePrimitive(condition.lock, handles) }),
  rebuild: (region, extra, handles) => {
    const lock = rebuildPrimitive(extra, handles) as Lock | RLock;
    return adopt(region, () => new Condition(lock));
  },
});

registerRemote('Condition', Condition.prototype);
