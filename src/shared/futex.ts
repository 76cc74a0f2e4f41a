import { requireNative, type FutexWaitResult } from '../native.js';

export type { FutexWaitResult } from '../native.js';

/**
 * Real shared futexes on a word of a SharedRegion's `int32()` view: unlike
 * `Atomics.wait`/`Atomics.notify`, which V8 emulates inside one process, a
 * wake here reaches a waiter in any process that maps the same memory. The
 * word itself is read and written with `Atomics`; these calls only sleep and
 * wake. Linux only.
 */

/**
 * Blocks the calling thread while `view[index] === expected`, until a `wake`
 * or `timeoutMs` (default: no timeout). An 'ok' may be spurious: re-check the word.
 */
export function wait(view: Int32Array, index: number, expected: number, timeoutMs = -1): FutexWaitResult {
  return requireNative('futex wait').futexWait(view, index, expected, timeoutMs);
}

/** `wait` without blocking this thread: the addon's one waiting thread sleeps on every pending word of the process (never a libuv threadpool thread); a pending wait keeps the event loop alive. */
export function waitAsync(view: Int32Array, index: number, expected: number, timeoutMs = -1): Promise<FutexWaitResult> {
  return requireNative('futex waitAsync').futexWaitAsync(view, index, expected, timeoutMs);
}

/** Wakes up to `count` waiters (default: all) on `view[index]`, in any process; returns how many woke. */
export function wake(view: Int32Array, index: number, count = Infinity): number {
  return requireNative('futex wake').futexWake(view, index, count);
}
