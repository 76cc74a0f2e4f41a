import { inspect } from 'node:util';
import { CancelledError, ProcessError, TimeoutError } from '../errors.js';
import { validateTimeout } from '../validate.js';

/** Python's `concurrent.futures.InvalidStateError`: setting the outcome of a future that already has one. */
export class InvalidStateError extends ProcessError {
  override name = 'InvalidStateError';
}

/** Python's five states; `CANCELLED_AND_NOTIFIED` is a cancelled future its executor has dropped. */
export type FutureState = 'PENDING' | 'RUNNING' | 'CANCELLED' | 'CANCELLED_AND_NOTIFIED' | 'FINISHED';

/** @internal how wait() and asCompleted() learn that a future is done, without a user-visible callback. */
export const WATCH = Symbol('multiproc.futures.watch');
/** @internal whether a finished future raised, read without waiting. */
export const RAISED = Symbol('multiproc.futures.raised');

let serial = 0;

type Callback = (future: Future<unknown>) => void;

/**
 * The outcome of a call that runs elsewhere, as Python's
 * `concurrent.futures.Future`: `result(ms)`, `exception(ms)`, `done()`,
 * `running()`, `cancel()`, `cancelled()`, `addDoneCallback(fn)`; and
 * awaitable (`await future` is `future.result()`). A future nobody awaits
 * never causes an unhandled rejection. `setResult`, `setException` and
 * `setRunningOrNotifyCancel` are for executors and tests, as in Python.
 */
export class Future<T = unknown> implements PromiseLike<T> {
  #state: FutureState = 'PENDING';
  #result: T | undefined = undefined;
  #exception: unknown = null;
  #failed = false;
  readonly #id = ++serial;
  // Stored without T (a function of Future<T> would make Future<number> no Future<unknown>); called with this.
  #callbacks: Callback[] = [];
  /** Waiters inside this process: result(), exception(), await, wait(), asCompleted(). */
  #watchers: Set<Callback> | null = null; // made on first use: most futures are only awaited
  /** Made on the first `then`: a future nobody awaits has no promise that could be left rejected. */
  #promise: Promise<T> | null = null;
  // resolve takes `never` for the same reason as #callbacks: no T in a parameter position.
  #settle: { resolve: (value: never) => void; reject: (error: unknown) => void } | null = null;

  get [Symbol.toStringTag](): string {
    return 'Future';
  }

  /** The state, as Python names it. */
  get state(): FutureState {
    return this.#state;
  }

  /** True once cancelled. */
  cancelled(): boolean {
    return this.#state === 'CANCELLED' || this.#state === 'CANCELLED_AND_NOTIFIED';
  }

  /** True while the call runs (an executor has handed it to a worker). */
  running(): boolean {
    return this.#state === 'RUNNING';
  }

  /** True once it has a result, an exception, or was cancelled. */
  done(): boolean {
    return this.#state !== 'PENDING' && this.#state !== 'RUNNING';
  }

  /**
   * Cancels a call that has not started: true if the future is (now)
   * cancelled, false if it runs or has finished, as Python's `cancel()`.
   */
  cancel(): boolean {
    if (this.#state === 'RUNNING' || this.#state === 'FINISHED') return false;
    if (this.cancelled()) return true;
    this.#state = 'CANCELLED';
    this.#notify();
    return true;
  }

  /** The call's result; its error is thrown; CancelledError once cancelled; TimeoutError when `timeoutMs` passes first. */
  async result(timeoutMs?: number | null): Promise<T> {
    await this.#settled(validateTimeout(timeoutMs));
    if (this.#failed) throw this.#exception;
    return this.#result as T;
  }

  /** The call's error, or null if it succeeded; CancelledError once cancelled; TimeoutError when `timeoutMs` passes first. */
  async exception(timeoutMs?: number | null): Promise<unknown> {
    await this.#settled(validateTimeout(timeoutMs));
    return this.#failed ? this.#exception : null;
  }

  /** Calls `fn(future)` once the future is done (at once if it is); an error it throws is printed and ignored, as in Python. */
  addDoneCallback(fn: (future: Future<T>) => void): void {
    if (typeof fn !== 'function') throw new TypeError(`The "fn" argument must be a function. Received ${inspect(fn)}`);
    if (this.done()) this.#invoke(fn as Callback);
    else this.#callbacks.push(fn as Callback);
  }

  then<R1 = T, R2 = never>(onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    // Settled straight from #notify, with no waiter in between: `await future` costs what awaiting a promise does.
    if (this.#promise === null) {
      if (this.done()) this.#promise = this.cancelled() ? Promise.reject(new CancelledError()) : this.#failed ? Promise.reject(this.#exception) : Promise.resolve(this.#result as T);
      else this.#promise = new Promise<T>((resolve, reject) => (this.#settle = { resolve, reject }));
    }
    return this.#promise.then(onFulfilled, onRejected);
  }

  // ---- for executors (and tests), as Python's

  /**
   * What an executor calls as it hands the call to a worker: false (and
   * the state CANCELLED_AND_NOTIFIED) if it was cancelled meanwhile, true
   * (and the state RUNNING) if it may run.
   */
  setRunningOrNotifyCancel(): boolean {
    if (this.#state === 'CANCELLED') {
      this.#state = 'CANCELLED_AND_NOTIFIED';
      if (this.#watchers !== null) for (const watcher of [...this.#watchers]) watcher(this as Future<unknown>);
      return false;
    }
    if (this.#state === 'PENDING') {
      this.#state = 'RUNNING';
      return true;
    }
    throw new ProcessError(`Future in unexpected state: ${this.#state}`);
  }

  setResult(value: T): void {
    this.#checkSettable();
    this.#result = value;
    this.#state = 'FINISHED';
    this.#notify();
  }

  setException(error: unknown): void {
    this.#checkSettable();
    this.#exception = error;
    this.#failed = true;
    this.#state = 'FINISHED';
    this.#notify();
  }

  /** @internal a cancelled future whose executor has now dropped it (or the outcome that came anyway). */
  settleFromExecutor(status: 'ok' | 'error', value: unknown): void {
    if (this.#state === 'CANCELLED') this.setRunningOrNotifyCancel();
    else if (this.#state === 'PENDING' || this.#state === 'RUNNING') {
      if (status === 'ok') this.setResult(value as T);
      else this.setException(value);
    }
  }

  /** @internal wait() and asCompleted(): `fn` runs when the future becomes done (also when a cancel is noticed); returns the unsubscriber. */
  [WATCH](fn: (future: Future<T>) => void): () => void {
    const watchers = (this.#watchers ??= new Set());
    watchers.add(fn as Callback);
    return () => watchers.delete(fn as Callback);
  }

  /** @internal */
  [RAISED](): boolean {
    return this.#failed;
  }

  #checkSettable(): void {
    if (this.done()) throw new InvalidStateError(`${this.#state}: ${this.#describe()}`);
  }

  #notify(): void {
    // A cancel wakes result() and await; wait() and asCompleted() look again and count it
    // only once the executor has dropped the call (Python's CANCELLED_AND_NOTIFIED).
    if (this.#watchers !== null && this.#watchers.size > 0) for (const watcher of [...this.#watchers]) watcher(this as Future<unknown>);
    if (this.#settle !== null) {
      if (this.cancelled()) this.#settle.reject(new CancelledError());
      else if (this.#failed) this.#settle.reject(this.#exception);
      else this.#settle.resolve(this.#result as never);
      this.#settle = null;
    }
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    for (const fn of callbacks) this.#invoke(fn);
  }

  #invoke(fn: Callback): void {
    try {
      fn(this as Future<unknown>);
    } catch (error) {
      // Python logs it on the concurrent.futures logger, which prints to stderr.
      process.stderr.write(`exception calling callback for ${this.#describe()}\n${error instanceof Error ? (error.stack ?? String(error)) : inspect(error)}\n`);
    }
  }

  /** Waits until done or cancelled; a TimeoutError past `timeout` ms, CancelledError when cancelled. */
  async #settled(timeout: number | null): Promise<void> {
    if (!this.done()) {
      if (timeout === 0) throw new TimeoutError();
      let timer: NodeJS.Timeout | undefined;
      let unwatch: () => void = () => {};
      try {
        await new Promise<void>((resolve, reject) => {
          unwatch = this[WATCH](() => resolve());
          if (timeout !== null) timer = setTimeout(() => reject(new TimeoutError()), timeout);
        });
      } finally {
        clearTimeout(timer);
        unwatch();
      }
    }
    if (this.cancelled()) throw new CancelledError();
  }

  #describe(): string {
    const state = this.cancelled() ? 'cancelled' : this.#state.toLowerCase();
    if (this.#state !== 'FINISHED') return `<Future ${this.#id} state=${state}>`;
    if (this.#failed) return `<Future ${this.#id} state=finished raised ${(this.#exception as { name?: string } | null)?.name ?? typeof this.#exception}>`;
    const value: unknown = this.#result;
    return `<Future ${this.#id} state=finished returned ${value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'Object') : typeof value}>`;
  }

  toString(): string {
    return this.#describe();
  }

  [inspect.custom](): string {
    return this.#describe();
  }
}

/** @internal */
export function isWaitable<T>(future: Future<T>): boolean {
  return future.state === 'CANCELLED_AND_NOTIFIED' || future.state === 'FINISHED';
}
