import { waitAsync, wake } from './shared/futex.js';
import { isAlive, PID } from './sync/owner.js';
import { POLL_MS } from './sync/sleep.js';

/** Set in a lock word beside the holder's pid when someone may sleep on it (pids stay below 2**22). */
const WAITERS = 1 << 30;

/**
 * A Queue's read or write lock across processes: a futex word that holds the
 * holder's pid (plus a bit when someone may sleep on it, so that a release
 * pays for a wake-up only then). It is robust: a waiter that finds the
 * holder dead (killed with SIGKILL while reading or writing a frame) takes
 * the lock over and first repairs what the dead holder left half-done
 * (`recover`). Within one process, callers line up in a promise chain first,
 * so that at most one of them sleeps on the futex.
 */
export class QueueLock {
  readonly #view: Int32Array;
  readonly #index: number;
  readonly #recover: (deadPid: number) => Promise<void>;
  #line: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  /** `recover(deadPid)` runs holding the lock taken over from `deadPid`, before the caller's work. */
  constructor(view: Int32Array, index: number, recover: (deadPid: number) => Promise<void>) {
    this.#view = view;
    this.#index = index;
    this.#recover = recover;
  }

  /** No caller of this process is lined up for the lock (a fast path must not overtake them). */
  get idle(): boolean {
    return this.#waiting === 0;
  }

  tryAcquire(): boolean {
    return Atomics.compareExchange(this.#view, this.#index, 0, PID) === 0;
  }

  /** The pid of a holder that has died, or 0 when the lock is free or its holder lives. */
  deadHolder(): number {
    const holder = Atomics.load(this.#view, this.#index) & ~WAITERS;
    return holder !== 0 && holder !== PID && !isAlive(holder) ? holder : 0;
  }

  /**
   * Takes the lock over from a holder that `deadHolder()` found dead, for a
   * caller that cannot line up (it holds the other lock); true if it did.
   */
  takeOver(dead: number): boolean {
    const seen = Atomics.load(this.#view, this.#index);
    return (seen & ~WAITERS) === dead && Atomics.compareExchange(this.#view, this.#index, seen, PID | (seen & WAITERS)) === seen;
  }

  /** Runs `work` holding the lock; resolves false without running it if `deadline` passes first. */
  async with<T>(deadline: number | null, work: () => Promise<T> | T): Promise<{ ok: true; value: T } | { ok: false }> {
    this.#waiting += 1;
    const turn = this.#line.then(async () => {
      const dead = await this.#acquire(deadline);
      if (dead < 0) return { ok: false as const };
      try {
        if (dead > 0) await this.#recover(dead);
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
    if ((Atomics.exchange(this.#view, this.#index, 0) & WAITERS) !== 0) wake(this.#view, this.#index, 1);
  }

  /** -1: the deadline passed; 0: taken; else the pid of the dead holder it was taken over from. */
  async #acquire(deadline: number | null): Promise<number> {
    if (this.tryAcquire()) return 0;
    // Whether the holder is alive is asked only after a sleep ran its full
    // course: reading /proc on every contended acquire would cost more than the wait.
    let suspicious = false;
    for (;;) {
      const seen = Atomics.load(this.#view, this.#index);
      if (seen === 0) {
        // Taken with the bit set: someone else may still sleep on the word.
        if (Atomics.compareExchange(this.#view, this.#index, 0, PID | WAITERS) === 0) return 0;
        continue;
      }
      const holder = seen & ~WAITERS;
      if (suspicious && holder !== PID && !isAlive(holder)) {
        if (Atomics.compareExchange(this.#view, this.#index, seen, PID | WAITERS) === seen) return holder;
        continue;
      }
      if ((seen & WAITERS) === 0 && Atomics.compareExchange(this.#view, this.#index, seen, seen | WAITERS) !== seen) continue;
      const remaining = deadline === null ? -1 : deadline - Date.now();
      if (deadline !== null && remaining <= 0) return -1;
      // A bounded sleep: the holder's death wakes no one, so look again now and then.
      suspicious = (await waitAsync(this.#view, this.#index, seen | WAITERS, remaining < 0 ? POLL_MS : Math.min(remaining, POLL_MS))) === 'timed-out';
    }
  }
}
