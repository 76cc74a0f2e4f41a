import type { Context } from '../context.js';
import { BrokenProcessPool, invalidArgType, ProcessError, ValueError } from '../errors.js';
import { Pool, type PoolIterator, type TaskFunction } from '../pool/pool.js';
import { RemoteTraceback } from '../pool/remote-error.js';
import { validateTimeout } from '../validate.js';
import { Future } from './future.js';

export interface ProcessPoolExecutorOptions {
  /** Number of worker processes; default `cpuCount()`. */
  maxWorkers?: number | null;
  /** Called in each worker as it starts, with `initargs` (found by name, as task functions are). */
  initializer?: TaskFunction | null;
  initargs?: readonly unknown[];
  /** A worker is replaced after this many calls (a map's chunk counts as one). */
  maxTasksPerChild?: number | null;
  /** The context whose start method the workers use (Python's `mp_context`). */
  context?: Context | null;
}

export interface ExecutorMapOptions {
  /** Milliseconds from the call of `map()`: a result not ready by then is a TimeoutError, and the rest is cancelled. */
  timeout?: number | null;
  /** Items sent to a worker at a time; default 1. */
  chunksize?: number;
}

export interface ShutdownOptions {
  /** Wait for the submitted calls to finish and the workers to exit (default true). */
  wait?: boolean;
  /** Cancel the calls that have not started (default false). */
  cancelFutures?: boolean;
}

const BROKEN = 'A child process terminated abruptly, the process pool is not usable anymore';

/**
 * Python's `concurrent.futures.ProcessPoolExecutor`, on the Pool's workers
 * and scheduler: `submit` gives a Future, `map` an async iterator of
 * results in order. As in Python, and unlike multiproc's Pool, a worker
 * that dies breaks the executor: every call not finished fails with
 * BrokenProcessPool, and so does every later `submit`.
 */
export class ProcessPoolExecutor {
  readonly #pool: Pool;
  /** Calls submitted and not yet done: what `shutdown({ cancelFutures })` cancels. */
  readonly #pending = new Set<{ cancel(): boolean }>();
  readonly #maps = new Set<PoolIterator<unknown>>();
  #shutdown = false;
  #broken: string | null = null;

  constructor(options: ProcessPoolExecutorOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('"options" argument', 'an object like { maxWorkers, initializer, initargs, maxTasksPerChild, context }', options);
    const { maxWorkers, initializer, initargs, maxTasksPerChild, context } = options;
    if (maxWorkers !== undefined && maxWorkers !== null) {
      if (typeof maxWorkers !== 'number' || !Number.isInteger(maxWorkers)) throw invalidArgType('"maxWorkers" option', 'an integer', maxWorkers);
      if (maxWorkers <= 0) throw new ValueError('max_workers must be greater than 0');
    }
    if (maxTasksPerChild !== undefined && maxTasksPerChild !== null) {
      if (typeof maxTasksPerChild !== 'number' || !Number.isInteger(maxTasksPerChild)) throw new TypeError('max_tasks_per_child must be an integer');
      if (maxTasksPerChild < 1) throw new ValueError('max_tasks_per_child must be >= 1');
    }
    if (initializer !== undefined && initializer !== null && typeof initializer !== 'function') throw new TypeError('initializer must be a callable');
    this.#pool = new Pool({ processes: maxWorkers ?? null, initializer: initializer ?? null, initargs: initargs ?? [], maxTasksPerChild: maxTasksPerChild ?? null, context: context ?? null });
    this.#pool.onWorkerLost = (worker, exitCode) => this.#breakOn(worker, exitCode);
    this.#pool.onBreak = () => (this.#broken = BROKEN);
  }

  /** Schedules `fn(...args)` in a worker; the Future holds its outcome. */
  submit<F extends TaskFunction>(fn: F, ...args: Parameters<F>): Future<Awaited<ReturnType<F>>> {
    this.#checkOpen();
    if (typeof fn !== 'function') throw invalidArgType('"fn" argument', 'a function (defined at the top level of a module)', fn);
    const future = new Future<Awaited<ReturnType<F>>>();
    const pending = this.#pending;
    pending.add(future);
    this.#pool.submitCall(
      fn,
      args,
      () => {
        if (future.setRunningOrNotifyCancel()) return true;
        pending.delete(future); // dropped by the pool: it never settles
        return false;
      },
      (status, value) => {
        pending.delete(future);
        future.settleFromExecutor(status, value);
      },
    );
    return future;
  }

  /**
   * `fn(item)` for every item, results in input order, as Python's
   * `Executor.map`: an async iterator whose input is read as workers need
   * it. A call's error is thrown where its result would come.
   */
  map<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, options: ExecutorMapOptions = {}): AsyncGenerator<Awaited<R>, void, undefined> {
    this.#checkOpen();
    const timeout = validateTimeout(options.timeout, 'timeout');
    const chunksize = options.chunksize ?? 1;
    if (typeof chunksize !== 'number' || !Number.isInteger(chunksize)) throw invalidArgType('"chunksize" option', 'an integer', chunksize);
    if (chunksize < 1) throw new ValueError('chunksize must be >= 1.');
    const deadline = timeout === null ? null : performance.now() + timeout;
    // The calls start now, as Python submits them in map() itself, not at the first next().
    const results = this.#pool.imap(fn, iterable, chunksize);
    this.#maps.add(results as PoolIterator<unknown>);
    return this.#yieldResults(results, deadline);
  }

  async *#yieldResults<R>(results: PoolIterator<R>, deadline: number | null): AsyncGenerator<R, void, undefined> {
    try {
      for (;;) {
        const step = await results.next(deadline === null ? null : Math.max(0, deadline - performance.now()));
        if (step.done) return;
        yield step.value;
      }
    } finally {
      this.#maps.delete(results as PoolIterator<unknown>);
      await results.return();
    }
  }

  /**
   * No more calls (a later `submit` throws). `cancelFutures` cancels the
   * calls not started; `wait` (default) resolves once the others are done
   * and the workers have exited.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    const { wait = true, cancelFutures = false } = options;
    if (cancelFutures) {
      for (const future of this.#pending) future.cancel();
      for (const results of this.#maps) void results.return();
    }
    if (!this.#shutdown) {
      this.#shutdown = true;
      this.#pool.close();
    }
    if (wait) await this.#pool.join();
  }

  /** `await using ex = new ProcessPoolExecutor()`: `shutdown({ wait: true })` at the end of the block, as Python's `with`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown({ wait: true });
  }

  get [Symbol.toStringTag](): string {
    return 'ProcessPoolExecutor';
  }

  #checkOpen(): void {
    if (this.#broken !== null) throw new BrokenProcessPool(this.#broken);
    if (this.#shutdown) throw new ProcessError('cannot schedule new futures after shutdown');
  }

  /** A worker died: as Python's executor, the whole pool is broken. */
  #breakOn(worker: string, exitCode: number): void {
    const how = BrokenProcessPool.describeExit(exitCode);
    const { signal } = BrokenProcessPool.workerDied(worker, exitCode, '');
    this.#pool.breakWith(
      new BrokenProcessPool(`A process in the process pool was terminated abruptly while the future was running or pending (${worker}, ${how}).`, {
        cause: new RemoteTraceback(`${worker} terminated abruptly: ${how}`),
        exitCode: exitCode < 0 ? null : exitCode,
        signal,
      }),
    );
  }
}
