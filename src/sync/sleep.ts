import { requireNative } from '../native.js';
import { validateWaitTimeout } from './timeout.js';

/**
 * Sleeping until a shared word lets a caller through, for every primitive of
 * ./: the word lives in shared memory (./shared.ts), `ready()` tries to take what the
 * caller waits for (a lock, a permit, a notification) and says whether it
 * did. A second word counts the threads asleep on the first one, across all
 * processes, so that whoever frees something pays for a futex wake only when
 * someone sleeps.
 *
 * The order of steps matters: count ourselves as a sleeper, read the word,
 * try, and only then sleep on the value read. A release that lands between
 * the read and the sleep changes the word, so the kernel refuses the sleep
 * ('not-equal') instead of losing the wake-up.
 */
export type Ready = () => boolean;

/**
 * Whether the word's value `seen` (read before the tries) means that callers
 * must wait. Sleeping on a value that means "free" would be wrong: if a taker
 * took and gave back in between, its wake-up came before we slept, and the
 * word is back at `seen`, so the kernel would let us sleep beside a free lock.
 * A word that only moves forward (a counter) can always be slept on.
 */
export type Blocked = (seen: number) => boolean;
const always: Blocked = () => true;

/** A deadline in `Date.now()` milliseconds, or null for none. */
export type Deadline = number | null;

export function deadlineAfter(timeoutMs: number | null): Deadline {
  return timeoutMs === null ? null : Date.now() + timeoutMs;
}

/** Looks at the word before a blocking wait goes to sleep (some microseconds in all). */
const SPINS = 2000;

/** How long a robust waiter sleeps at most before it looks again whether the holder still lives. */
export const POLL_MS = 50;

/** Blocks this thread until `ready()` says yes (true) or the deadline passes (false). */
/**
 * `passOn`: for primitives whose release wakes a single sleeper (locks,
 * semaphores). A sleeper that was woken but gives up at its deadline must
 * hand that wake-up to another sleeper, or the one it was meant for would
 * sleep on beside a free lock.
 */
export function sleepUntil(view: Int32Array, word: number, sleepers: number, ready: Ready, deadline: Deadline, pollMs = -1, passOn = false, blocked: Blocked = always): boolean {
  if (ready()) return true;
  // A short spin first: a holder in another process often lets go within a
  // few microseconds, and a sleep plus a wake-up costs more than that.
  // (Tries only when the word says "free", so as not to bounce the cache line with failing writes.)
  for (let spin = 0; spin < SPINS; spin++) if ((blocked === always || !blocked(Atomics.load(view, word))) && ready()) return true;
  const addon = requireNative('a lock');
  for (;;) {
    Atomics.add(view, sleepers, 1);
    try {
      const seen = Atomics.load(view, word);
      if (ready()) return true;
      if (!blocked(seen)) continue;
      let remaining = deadline === null ? -1 : deadline - Date.now();
      if (deadline !== null && remaining <= 0) {
        if (passOn) wakeSleepers(view, word, sleepers, 1);
        return false;
      }
      if (pollMs >= 0 && (remaining < 0 || remaining > pollMs)) remaining = pollMs;
      addon.futexWait(view, word, seen, remaining);
    } finally {
      Atomics.sub(view, sleepers, 1);
    }
  }
}

interface Waiter {
  ready: Ready;
  deadline: Deadline;
  settle: (ok: boolean) => void;
}

/**
 * The asynchronous side: however many callers of this process wait on one
 * word, one pending futexWaitAsync sleeps on it for all of them (the addon's
 * one waiting thread sleeps for every word of the process at once), and
 * hands out what it finds in the callers' order. A caller with an earlier
 * deadline than the current sleep pokes the word (a futex wake, harmless to
 * the other sleepers, who look and sleep again) so that the wait comes back
 * in time.
 */
export class AsyncSleeper {
  readonly #view: Int32Array;
  readonly #word: number;
  readonly #sleepers: number;
  readonly #pollMs: number;
  readonly #passOn: boolean;
  readonly #blocked: Blocked;
  readonly #waiters = new Set<Waiter>();
  #running = false;
  /** When the thread asleep now wakes up at the latest (Infinity: never). */
  #sleepingUntil = Infinity;

  /** `pollMs`: the longest sleep (-1: no limit); `passOn`: as for sleepUntil. */
  constructor(view: Int32Array, word: number, sleepers: number, pollMs = -1, passOn = false, blocked: Blocked = always) {
    this.#passOn = passOn;
    this.#blocked = blocked;
    this.#view = view;
    this.#word = word;
    this.#sleepers = sleepers;
    this.#pollMs = pollMs;
  }

  /**
   * The whole of an async wait: true at once if `ready()` (which may take
   * what it tests for), false at once for a timeout of 0, else `until`. A bad
   * timeout rejects (never throws: the caller returns a Promise).
   */
  wait(ready: Ready, timeoutMs: number | null | undefined): Promise<boolean> {
    try {
      const timeout = validateWaitTimeout(timeoutMs);
      if (ready()) return Promise.resolve(true);
      if (timeout === 0) return Promise.resolve(false);
      return this.until(ready, deadlineAfter(timeout));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** True once `ready()` said yes, false when the deadline passed first. The caller has tried once already. */
  until(ready: Ready, deadline: Deadline): Promise<boolean> {
    return new Promise<boolean>((settle) => {
      this.#waiters.add({ ready, deadline, settle });
      if (!this.#running) {
        this.#running = true;
        void this.#loop();
      } else if ((deadline ?? Infinity) < this.#sleepingUntil) {
        requireNative('a lock').futexWake(this.#view, this.#word, Infinity);
      }
    });
  }

  async #loop(): Promise<void> {
    const addon = requireNative('a lock');
    try {
      while (this.#waiters.size > 0) {
        Atomics.add(this.#view, this.#sleepers, 1);
        try {
          const seen = Atomics.load(this.#view, this.#word);
          const now = Date.now();
          let earliest = Infinity;
          let gaveUp = false;
          for (const waiter of this.#waiters) {
            if (waiter.ready()) {
              this.#waiters.delete(waiter);
              waiter.settle(true);
            } else if (waiter.deadline !== null && waiter.deadline <= now) {
              this.#waiters.delete(waiter);
              waiter.settle(false);
              gaveUp = true;
            } else if (waiter.deadline !== null) {
              earliest = Math.min(earliest, waiter.deadline);
            }
          }
          if (gaveUp && this.#passOn) wakeSleepers(this.#view, this.#word, this.#sleepers, 1);
          if (this.#waiters.size === 0) break;
          if (!this.#blocked(seen)) continue;
          let remaining = earliest === Infinity ? -1 : Math.max(1, earliest - now);
          if (this.#pollMs >= 0 && (remaining < 0 || remaining > this.#pollMs)) remaining = this.#pollMs;
          this.#sleepingUntil = remaining < 0 ? Infinity : now + remaining;
          await addon.futexWaitAsync(this.#view, this.#word, seen, remaining);
        } finally {
          Atomics.sub(this.#view, this.#sleepers, 1);
        }
      }
    } catch (error) {
      for (const waiter of this.#waiters) waiter.settle(false);
      this.#waiters.clear();
      throw error;
    } finally {
      this.#running = false;
      this.#sleepingUntil = Infinity;
    }
  }
}

/** Wakes up to `count` sleepers on the word, if the sleeper count says there are any. */
export function wakeSleepers(view: Int32Array, word: number, sleepers: number, count: number): void {
  if (Atomics.load(view, sleepers) > 0) requireNative('a lock').futexWake(view, word, count);
}
