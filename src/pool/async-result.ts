import { inspect } from 'node:util';
import { TimeoutError, ValueError } from '../errors.js';
import { validateTimeout } from '../validate.js';

export interface ResultCallbacks<T> {
  /** Called in this process with the result (the whole list for a map), as Python's `callback`. */
  callback?: ((value: T) => void) | null;
  /** Called in this process with the error, as Python's `error_callback`. */
  errorCallback?: ((error: unknown) => void) | null;
}

let serial = 0;

/**
 * The result of `applyAsync`, `mapAsync` or `starmapAsync`, as Python's
 * `AsyncResult`: `get(timeoutMs)`, `wait`, `ready`, `successful`; and a
 * Promise-like, so `await result` works. An AsyncResult nobody awaits never
 * causes an unhandled rejection (Python would just drop it too).
 */
export class AsyncResult<T> implements PromiseLike<T> {
  readonly #promise: Promise<T>;
  #state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  readonly #id = ++serial;
  #settle!: { resolve: (value: T) => void; reject: (error: unknown) => void };

  /** @internal the pool settles it through `settle`. */
  constructor(callbacks: ResultCallbacks<T> = {}) {
    this.#promise = new Promise<T>((resolve, reject) => (this.#settle = { resolve, reject }));
    this.#promise.then(
      (value) => callbacks.callback?.(value),
      (error: unknown) => callbacks.errorCallback?.(error),
    );
  }

  /** @internal */
  resolve(value: T): void {
    if (this.#state !== 'pending') return;
    this.#state = 'fulfilled';
    this.#settle.resolve(value);
  }

  /** @internal */
  reject(error: unknown): void {
    if (this.#state !== 'pending') return;
    this.#state = 'rejected';
    this.#settle.reject(error);
  }

  /** @internal the promise itself, for Pool.apply */
  get promise(): Promise<T> {
    return this.#promise;
  }

  /** The result; rejects with the task's error, or with TimeoutError if it is not ready within `timeoutMs`. */
  async get(timeoutMs?: number | null): Promise<T> {
    const timeout = validateTimeout(timeoutMs);
    if (timeout === null || this.#state !== 'pending') return this.#promise;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.#promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TimeoutError(`the result was not ready within ${timeout} ms`)), timeout);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when the result is ready, or after `timeoutMs`; never rejects. */
  async wait(timeoutMs?: number | null): Promise<void> {
    const timeout = validateTimeout(timeoutMs);
    const settled = this.#promise.then(
      () => undefined,
      () => undefined,
    );
    if (timeout === null) return settled;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))]);
    clearTimeout(timer);
  }

  /** Whether the task has finished, successfully or not. */
  ready(): boolean {
    return this.#state !== 'pending';
  }

  /** Whether it finished without an error; a ValueError before it is ready, as in Python. */
  successful(): boolean {
    if (this.#state === 'pending') throw new ValueError(`${inspect(this)} not ready`);
    return this.#state === 'fulfilled';
  }

  then<A = T, B = never>(onFulfilled?: ((value: T) => A | PromiseLike<A>) | null, onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.#promise.then(onFulfilled, onRejected);
  }

  catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.#promise.catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.#promise.finally(onFinally);
  }

  [inspect.custom](): string {
    return `<AsyncResult #${this.#id} ${this.#state}>`;
  }

  get [Symbol.toStringTag](): string {
    return 'AsyncResult';
  }
}
