import { performance, createHistogram } from 'node:perf_hooks';
import { cpuCount, getContext, setPoolFactory } from '../context.js';
import { BrokenProcessPool, invalidArgType, MaybeEncodingError, ProcessError, TimeoutError, ValueError } from '../errors.js';
import { mainModule } from '../main.js';
import { Process } from '../process.js';
import { lifecycle } from '../log.js';
import { registerReducer } from '../reduction.js';
import { callerFile, describeCode, moduleOf, type ModuleRef } from '../targets.js';
import { validateTimeout } from '../validate.js';
import { AsyncResult } from './async-result.js';
import { checkChunksize, checkFunction, checkTaskOptions, isAsyncIterable, isIterable, mapOptions, percentiles, type ApplyOptions, type MapAsyncOptions, type MapOptions, type PoolOptions, type PoolStats, type TaskOptions } from './options.js';
import { ImapIterator, type PoolIterator } from './imap.js';
import { LocalBackend } from './local-backend.js';
import { progressReporter, type ProgressOption } from './progress.js';
import { CALL, MAP, packNumbers, STARMAP, type TaskKind } from './protocol.js';
import { rebuildError, type ErrorDescription } from './remote-error.js';
import type { BackendHost, FunctionEntry, Holder, Outcome, PoolBackend, Settle, Task, TaskFunction, TaskGroup } from './task.js';
import { ForkServerPoolWorker, SpawnPoolWorker } from './worker.js';

export type { PoolIterator } from './imap.js';
export type { TaskFunction } from './task.js';
export type { ApplyOptions, MapAsyncOptions, MapOptions, Percentiles, PoolOptions, PoolStats, TaskOptions } from './options.js';

type State = 'running' | 'closed' | 'terminated';

/**
 * A pool of worker processes, as Python's `multiprocessing.Pool`: `map`,
 * `starmap`, `imap`, `imapUnordered`, `apply` and their async forms, over
 * warm workers that find task functions by name as Process targets are
 * found. Unlike Python's, it never hangs: a worker that dies fails the task
 * it was running with BrokenProcessPool, its other tasks go to the other
 * workers, and it is replaced.
 *
 * This class is the front end (checking, chunking, ordering, timeouts,
 * aborts, progress, stats); where tasks run is its back end's business.
 */
export class Pool {
  readonly #backend: PoolBackend;
  readonly #initializer: TaskFunction | null;
  readonly #initializerName: string | null;
  /** Where the error classes of tasks are looked for, after the module the worker names. */
  readonly #errorModules: string[];
  readonly #functions = new Map<Function, FunctionEntry>();
  #state: State = 'running';
  #nextTaskId = 0;
  #broken: Error | null = null;
  #holdingLoop = false;
  /** Tasks submitted and not yet finished. */
  #outstanding = 0;
  /** Work in this process that results wait for: reading an async input, rebuilding an error. */
  #feeders = 0;
  #joiners = 0;
  #completed = 0;
  #failed = 0;
  readonly #waitTimes = createHistogram();
  readonly #runTimes = createHistogram();
  readonly #keepAlive = setInterval(() => {}, 2 ** 30).unref();

  constructor(options?: number | PoolOptions | null) {
    const opts: PoolOptions = typeof options === 'number' ? { processes: options } : options ?? {};
    if (typeof opts !== 'object') throw invalidArgType('"options" argument', 'a number of processes or an object like { processes, initializer, initargs, maxTasksPerChild, context }', options);
    const processes = opts.processes ?? cpuCount();
    if (typeof processes !== 'number' || !Number.isInteger(processes)) throw invalidArgType('"processes" option', 'an integer', processes);
    if (processes < 1) throw new ValueError('Number of processes must be at least 1');
    const max = opts.maxTasksPerChild;
    if (max !== undefined && max !== null && (typeof max !== 'number' || !Number.isInteger(max) || max <= 0)) {
      throw new ValueError('maxtasksperchild must be a positive int or None');
    }
    const memory = opts.maxMemoryPerChildMb;
    if (memory !== undefined && memory !== null && (typeof memory !== 'number' || !(memory > 0))) {
      throw invalidArgType('"maxMemoryPerChildMb" option', 'a positive number of MiB, or null', memory);
    }
    if (opts.initializer !== undefined && opts.initializer !== null && typeof opts.initializer !== 'function') throw new TypeError('initializer must be a callable');
    const initargs = opts.initargs ?? [];
    if (!Array.isArray(initargs)) throw invalidArgType('"initargs" option', 'an array of the initializer\'s arguments', initargs);
    // As in Python, creating a Pool fixes the default start method; workers are named after it.
    const method = (opts.context ?? getContext()).getStartMethod();
    const creatorFile = callerFile(Pool);
    const creator = moduleOf(creatorFile, 'the code that creates this Pool');
    this.#errorModules = [creator.url, ...(mainModule() === null ? [] : [mainModule()!.url])];
    this.#initializer = opts.initializer ?? null;
    const initializer = opts.initializer ? describeCode(opts.initializer, 'the pool\'s initializer') : null;
    this.#initializerName = initializer?.name ?? null;
    try {
      this.#backend = opts.backend !== undefined && opts.backend !== null ? distributedBackend(this.#host, opts, processes, creator) : new LocalBackend(this.#host, {
        processes,
        workerClass: method === 'spawn' ? (SpawnPoolWorker as typeof Process) : (ForkServerPoolWorker as typeof Process),
        setup: { initializer, initargs: [...initargs] },
        maxTasksPerChild: max ?? null,
        maxMemoryMb: memory ?? null,
        creatorFile,
      });
    } catch (error) {
      clearInterval(this.#keepAlive);
      throw error;
    }
  }

  // ---- submitting

  /** Calls `fn(...args)` (and `kwargs` last) in a worker; resolves with its result. */
  apply<F extends TaskFunction>(fn: F, args?: Parameters<F>, kwargs?: null, options?: TaskOptions): Promise<Awaited<ReturnType<F>>>;
  apply<F extends TaskFunction>(fn: F, args: Init<Parameters<F>>, kwargs: Last<Parameters<F>>, options?: TaskOptions): Promise<Awaited<ReturnType<F>>>;
  apply(fn: TaskFunction, args?: readonly unknown[], kwargs?: unknown, options?: TaskOptions): Promise<unknown> {
    // Not an async function: it hands out the result's own promise (no extra hops), and rejects, never throws.
    try {
      return this.applyAsync(fn, args as never, { ...options, kwargs: kwargs ?? undefined } as ApplyOptions<unknown>).promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** As `apply`, returning an AsyncResult at once (Python's `apply_async`). */
  applyAsync<F extends TaskFunction>(fn: F, args?: Parameters<F> | Init<Parameters<F>> | null, options?: ApplyOptions<Awaited<ReturnType<F>>>): AsyncResult<Awaited<ReturnType<F>>> {
    this.#checkRunning();
    checkFunction(fn);
    const list = args === undefined || args === null ? [] : args;
    if (!Array.isArray(list)) throw invalidArgType('"args" argument', 'an array of the function\'s arguments', args);
    const opts = options ?? {};
    const { signal, timeout } = checkTaskOptions(opts);
    const entry = this.#function(fn);
    const result = new AsyncResult<Awaited<ReturnType<F>>>(opts);
    const hasKwargs = opts.kwargs !== undefined && opts.kwargs !== null;
    const task = this.#task(entry, CALL, [...list], hasKwargs ? [opts.kwargs] : null, 1, timeout, signal, null, (status, value) => {
      if (status === 'ok') result.resolve(value as Awaited<ReturnType<F>>);
      else result.reject(value);
    });
    this.#submit([task]);
    return result;
  }

  /** `fn(item)` for every item, in order; the input is read whole first, as Python does. */
  async map<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | MapOptions | null): Promise<Awaited<R>[]> {
    return this.mapAsync(fn, iterable, chunksize);
  }

  /** `fn(...args)` for every argument list, in order. */
  async starmap<A extends readonly unknown[], R>(fn: (...args: A) => R, iterable: Iterable<A> | AsyncIterable<A>, chunksize?: number | MapOptions | null): Promise<Awaited<R>[]> {
    return this.starmapAsync(fn, iterable, chunksize);
  }

  mapAsync<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | MapAsyncOptions<Awaited<R>[]> | null): AsyncResult<Awaited<R>[]> {
    return this.#mapAsync(fn as TaskFunction, iterable, chunksize as MapAsyncOptions<unknown[]>, MAP) as AsyncResult<Awaited<R>[]>;
  }

  starmapAsync<A extends readonly unknown[], R>(fn: (...args: A) => R, iterable: Iterable<A> | AsyncIterable<A>, chunksize?: number | MapAsyncOptions<Awaited<R>[]> | null): AsyncResult<Awaited<R>[]> {
    return this.#mapAsync(fn as TaskFunction, iterable, chunksize as MapAsyncOptions<unknown[]>, STARMAP) as AsyncResult<Awaited<R>[]>;
  }

  /** Results in input order as they come, reading the input lazily (a bounded number of tasks ahead). */
  imap<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | MapOptions | null): PoolIterator<Awaited<R>> {
    return this.#imap(fn as TaskFunction, iterable, chunksize, true) as PoolIterator<Awaited<R>>;
  }

  /** As `imap`, in completion order. */
  imapUnordered<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | MapOptions | null): PoolIterator<Awaited<R>> {
    return this.#imap(fn as TaskFunction, iterable, chunksize, false) as PoolIterator<Awaited<R>>;
  }

  #mapAsync(fn: TaskFunction, iterable: unknown, chunksizeOrOptions: number | MapAsyncOptions<unknown[]> | null | undefined, kind: TaskKind): AsyncResult<unknown[]> {
    this.#checkRunning();
    checkFunction(fn);
    const options = mapOptions<MapAsyncOptions<unknown[]>>(chunksizeOrOptions);
    const chunksize = checkChunksize(options.chunksize, true);
    const { signal, timeout } = checkTaskOptions(options);
    const entry = this.#function(fn);
    const result = new AsyncResult<unknown[]>(options);
    if (isAsyncIterable(iterable)) {
      this.#feeders++;
      this.#updateLoopHold();
      void (async () => {
        const items: unknown[] = [];
        try {
          for await (const item of iterable) items.push(item);
        } catch (error) {
          result.reject(error);
          return;
        } finally {
          this.#feeders--;
          this.#updateLoopHold();
        }
        if (this.#state !== 'running') result.reject(new ValueError('Pool not running'));
        else this.#runMap(entry, kind, items, chunksize, timeout, signal, options.progress, result);
      })();
      return result;
    }
    if (!isIterable(iterable)) throw invalidArgType('"iterable" argument', 'an iterable or async iterable', iterable);
    // An error of the input propagates as it is, as in Python.
    const items = Array.from(iterable);
    this.#runMap(entry, kind, items, chunksize, timeout, signal, options.progress, result);
    return result;
  }

  #runMap(entry: FunctionEntry, kind: TaskKind, items: unknown[], chunksize: number | null, timeout: number | null, signal: AbortSignal | null, progressOption: ProgressOption | undefined, result: AsyncResult<unknown[]>): void {
    if (items.length === 0) {
      result.resolve([]);
      return;
    }
    const size = chunksize ?? Math.ceil(items.length / (this.#backend.processes * 4));
    const output = new Array<unknown>(items.length);
    const progress = progressReporter(progressOption, items.length);
    const group: TaskGroup = { cancelled: false };
    let remaining = Math.ceil(items.length / size);
    let firstError: { error: unknown } | null = null;
    const tasks: Task[] = [];
    for (let start = 0; start < items.length; start += size) {
      const chunk = items.slice(start, start + size);
      tasks.push(
        this.#task(entry, kind, kind === MAP ? packNumbers(chunk) : chunk, null, chunk.length, timeout, signal, group, (status, value) => {
          if (status === 'ok') {
            const values = value as unknown[];
            for (let i = 0; i < values.length; i++) output[start + i] = values[i];
            progress.advance(values.length);
          } else {
            firstError ??= { error: value };
            // An abort ends the whole map at once; other errors wait for every chunk, as Python's map.
            if (signal?.aborted && value === signal.reason) {
              group.cancelled = true;
              remaining = 1;
            }
          }
          if (--remaining === 0) {
            progress.finish();
            if (firstError === null) result.resolve(output);
            else result.reject(firstError.error);
          }
        }),
      );
    }
    this.#submit(tasks);
  }

  #imap(fn: TaskFunction, iterable: unknown, chunksizeOrOptions: number | MapOptions | null | undefined, ordered: boolean): PoolIterator<unknown> {
    this.#checkRunning();
    checkFunction(fn);
    const options = mapOptions<MapOptions>(chunksizeOrOptions);
    const chunksize = checkChunksize(options.chunksize ?? 1, false)!;
    const { signal, timeout } = checkTaskOptions(options);
    let source: Iterator<unknown> | AsyncIterator<unknown>;
    if (isAsyncIterable(iterable)) source = iterable[Symbol.asyncIterator]();
    else if (isIterable(iterable)) source = iterable[Symbol.iterator]();
    else throw invalidArgType('"iterable" argument', 'an iterable or async iterable', iterable);
    const entry = this.#function(fn);
    return new ImapIterator(this, {
      source,
      chunksize,
      ordered,
      progress: progressReporter(options.progress, Array.isArray(iterable) ? iterable.length : null),
      makeTask: (chunk, group, settle) => this.#task(entry, MAP, chunk, null, chunk.length, timeout, signal, group, settle),
    });
  }

  /** @internal for ImapIterator */
  get aheadLimit(): number {
    return this.#backend.aheadLimit;
  }

  /** @internal for ImapIterator */
  submitInternal(tasks: Task[]): void {
    this.#submit(tasks);
  }

  /** @internal for ImapIterator */
  feeding(delta: number): void {
    this.#feeders += delta;
    this.#updateLoopHold();
  }

  /** @internal */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** @internal for ProcessPoolExecutor: one call, settled by callback (no AsyncResult); `start` is asked as a worker takes it. */
  submitCall(fn: TaskFunction, args: unknown[], start: () => boolean, settle: Settle): void {
    this.#checkRunning();
    checkFunction(fn);
    this.#submit([this.#task(this.#function(fn), CALL, args, null, 1, null, null, null, settle, start)]);
  }

  /** @internal for ProcessPoolExecutor: told when a worker dies unasked (not retired, killed by a timeout, or terminated). */
  onWorkerLost: ((worker: string, exitCode: number) => void) | null = null;

  /** @internal for ProcessPoolExecutor: told when the pool breaks (a failing initializer, workers that cannot start, breakWith). */
  onBreak: ((error: Error) => void) | null = null;

  /** @internal for ProcessPoolExecutor: fails every task with `error` and stops the workers; nothing runs any more. */
  breakWith(error: Error): void {
    this.#breakPool(error);
  }

  /** @internal for ImapIterator: queued tasks of a cancelled group are dropped. */
  cancelGroup(group: TaskGroup): void {
    group.cancelled = true;
  }

  #function(fn: TaskFunction): FunctionEntry {
    let entry = this.#functions.get(fn);
    if (entry === undefined) {
      entry = { id: this.#functions.size, ref: describeCode(fn, `the task function ${fn.name || '(anonymous)'}`), fn };
      this.#functions.set(fn, entry);
    }
    return entry;
  }

  #task(fn: FunctionEntry, kind: TaskKind, data: unknown, kwargs: [unknown] | null, items: number, timeout: number | null, signal: AbortSignal | null, group: TaskGroup | null, settle: Settle, start: (() => boolean) | null = null): Task {
    return { id: this.#nextTaskId++, fn, kind, data, kwargs, items, submitted: performance.now(), timeout, signal, settle, group, start, holder: null, timer: null, onAbort: null, done: false };
  }

  #submit(tasks: Task[]): void {
    const accepted: Task[] = [];
    for (const task of tasks) {
      this.#outstanding++;
      if (this.#broken !== null) {
        this.#finish(task, 'error', this.#broken);
        continue;
      }
      if (task.signal !== null) {
        if (task.signal.aborted) {
          this.#finish(task, 'error', task.signal.reason);
          continue;
        }
        if (task.group !== null) this.#watchInGroup(task, task.group);
        else {
          task.onAbort = () => this.#abort(task);
          task.signal.addEventListener('abort', task.onAbort, { once: true });
        }
      }
      accepted.push(task);
    }
    if (accepted.length > 0) this.#backend.submit(accepted);
    this.#updateLoopHold();
  }

  /** A map's chunks share its signal: the group listens once while any of them is unfinished. */
  #watchInGroup(task: Task, group: TaskGroup): void {
    const watched = (group.watched ??= new Set());
    watched.add(task);
    if (group.onAbort) return;
    group.onAbort = () => {
      group.onAbort = null;
      for (const member of [...watched]) this.#abort(member);
    };
    task.signal!.addEventListener('abort', group.onAbort, { once: true });
  }

  #unwatch(task: Task): void {
    const group = task.group;
    if (group?.watched === undefined || !group.watched.delete(task)) return;
    if (group.watched.size === 0 && group.onAbort) {
      task.signal!.removeEventListener('abort', group.onAbort);
      group.onAbort = null;
    }
  }

  // ---- what the back end reports

  readonly #host: BackendHost = {
    take: (task) => {
      if (task.done || task.group?.cancelled) return false;
      if (task.start !== null && !task.start()) {
        // Dropped unsettled: its owner (a Future) has been cancelled.
        task.done = true;
        this.#outstanding--;
        this.#updateLoopHold();
        return false;
      }
      return true;
    },
    dispatched: (task, holder) => {
      this.#waitTimes.record(Math.max(1, Math.round((performance.now() - task.submitted) * 1000)));
      task.holder = holder;
    },
    running: (task) => this.#startClock(task),
    returned: (task) => {
      task.holder = null;
      if (task.timer !== null) clearTimeout(task.timer);
      task.timer = null;
    },
    answered: (task, outcome, micros) => {
      this.#runTimes.record(micros);
      this.#answered(task, outcome, task.holder);
    },
    failed: (task, error) => this.#finish(task, 'error', error),
    workerLost: (label, exitCode) => {
      if (this.#state !== 'terminated' && this.#broken === null) this.onWorkerLost?.(label, exitCode);
    },
    initializerFailed: (label, description) => void this.#initializerFailed(label, description),
    broken: (error) => this.#breakPool(error),
  };

  #answered(task: Task, outcome: Outcome, holder: Holder | null): void {
    if (outcome.status === 'ok') this.#finish(task, 'ok', outcome.value);
    else if (outcome.status === 'failed') void this.#failRemote(task, outcome.error, holder?.label ?? 'a worker');
    else this.#finish(task, 'error', new MaybeEncodingError(outcome.reason, outcome.repr));
  }

  /** A task's timeout runs from when it is first in its worker's line, that is, running. */
  #startClock(task: Task): void {
    if (task.timeout === null || task.done) return;
    if (task.timer !== null) clearTimeout(task.timer);
    task.timer = setTimeout(() => {
      const holder = task.holder;
      this.#finish(task, 'error', new TimeoutError(`the task ${task.fn.ref.name}() did not finish within ${task.timeout} ms; its worker${holder ? ` (${holder.label})` : ''} was killed and replaced`));
      if (holder !== null) this.#backend.cancel(task);
    }, task.timeout);
  }

  #abort(task: Task): void {
    if (task.done) return;
    const held = task.holder !== null;
    const reason: unknown = task.signal!.reason;
    this.#finish(task, 'error', reason);
    // Queued: it is skipped at dispatch. Running, or lined up in a worker: the back end stops it.
    if (held) this.#backend.cancel(task);
  }

  #finish(task: Task, status: 'ok' | 'error', value: unknown): void {
    if (task.done) return;
    task.done = true;
    this.#outstanding--;
    if (task.timer !== null) clearTimeout(task.timer);
    // A long-lived signal shared by many tasks must not collect a listener per task.
    if (task.onAbort !== null) task.signal!.removeEventListener('abort', task.onAbort);
    else if (task.group !== null) this.#unwatch(task);
    if (status === 'ok') this.#completed++;
    else this.#failed++;
    task.settle(status, value);
    if (this.#outstanding === 0) this.#updateLoopHold();
  }

  async #failRemote(task: Task, description: ErrorDescription, where: string): Promise<void> {
    // Settled once the error is rebuilt (its class may need an import); the pool holds the event loop till then.
    this.#feeders++;
    this.#updateLoopHold();
    try {
      const error = await rebuildError(description, `${where} (the task ${task.fn.ref.name}() failed there; the remote stack is in err.cause)`, this.#errorModules, task.fn.ref.name, task.fn.fn === null ? [] : [task.fn.fn]);
      this.#finish(task, 'error', error);
    } finally {
      this.#feeders--;
      this.#updateLoopHold();
    }
  }

  async #initializerFailed(where: string, description: ErrorDescription): Promise<void> {
    this.#feeders++;
    this.#updateLoopHold();
    const name = this.#initializerName ?? 'initializer';
    const cause = await rebuildError(description, where, this.#errorModules, name, this.#initializer === null ? [] : [this.#initializer]).finally(() => {
      this.#feeders--;
      this.#updateLoopHold();
    });
    this.#breakPool(new BrokenProcessPool(`the pool's initializer ${this.#initializerName ?? ''}() failed in ${where}, so no task can run: ${String((cause as Error).message ?? cause)}`, { cause }));
  }

  #breakPool(error: Error): void {
    if (this.#broken !== null) return;
    this.#broken = error;
    this.onBreak?.(error);
    for (const task of this.#backend.abandon()) this.#finish(task, 'error', error);
    this.#updateLoopHold();
  }

  #updateLoopHold(): void {
    const busy = this.#feeders > 0 || this.#joiners > 0 || this.#outstanding > 0;
    if (busy === this.#holdingLoop) return;
    this.#holdingLoop = busy;
    // One referenced timer, not the workers' handles: while work is outstanding
    // the loop must live even when no worker is connected (all being replaced).
    if (busy) this.#keepAlive.ref();
    else this.#keepAlive.unref();
  }

  #checkRunning(): void {
    if (this.#state !== 'running') throw new ValueError('Pool not running');
  }

  // ---- lifecycle

  /** No more tasks; the workers exit once the submitted ones are done. */
  close(): void {
    if (this.#state !== 'running') return;
    lifecycle('debug', 'closing pool');
    this.#state = 'closed';
    this.#backend.close();
  }

  /**
   * Stops the workers at once (SIGTERM, as Python). Unlike Python, tasks not
   * finished are rejected rather than left pending forever.
   */
  terminate(): void {
    if (this.#state === 'terminated') return;
    lifecycle('debug', 'terminating pool');
    this.#state = 'terminated';
    const stopped = new ProcessError('the pool was terminated before this task finished');
    for (const task of this.#backend.terminate()) this.#finish(task, 'error', stopped);
    this.#updateLoopHold();
  }

  /** Waits for every worker to exit; only after `close()` or `terminate()` (else ValueError, as Python). */
  async join(): Promise<void> {
    if (this.#state === 'running') throw new ValueError('Pool is still running');
    lifecycle('debug', 'joining pool');
    // A join keeps the event loop alive until the last worker (replacements included) has exited.
    this.#joiners++;
    this.#updateLoopHold();
    try {
      await this.#backend.join();
    } finally {
      this.#joiners--;
      this.#updateLoopHold();
    }
    if (this.#joiners === 0) clearInterval(this.#keepAlive);
  }

  /** `await using pool = new Pool()`: terminates and joins at the end of the block, as Python's `with` terminates. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.terminate();
    await this.join();
  }

  /** A snapshot of the pool's activity. */
  stats(): PoolStats {
    return {
      ...this.#backend.stats(),
      tasksCompleted: this.#completed,
      tasksFailed: this.#failed,
      waitTime: percentiles(this.#waitTimes),
      runTime: percentiles(this.#runTimes),
    };
  }

  /** The pids of the current workers (for monitoring; they change as workers are replaced). */
  get pids(): number[] {
    return this.#backend.pids;
  }

  get [Symbol.toStringTag](): string {
    return 'Pool';
  }
}

/** The BullMQ back end, loaded only when asked for: a local Pool never loads BullMQ. */
function distributedBackend(host: BackendHost, opts: PoolOptions, processes: number, creator: ModuleRef): PoolBackend {
  for (const name of ['initializer', 'maxTasksPerChild', 'maxMemoryPerChildMb', 'context'] as const) {
    if (opts[name] !== undefined && opts[name] !== null) throw new ValueError(`the "${name}" option applies to local workers only; with a Redis backend, give workers their settings on the multiproc worker command line`);
  }
  const connectTimeout = opts.connectTimeout === undefined ? null : validateTimeout(opts.connectTimeout, 'connectTimeout');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RedisBackend } = require('../distributed/redis-backend.js') as typeof import('../distributed/redis-backend.js');
  return new RedisBackend(host, {
    url: opts.backend!,
    queue: opts.queue ?? 'multiproc',
    processes,
    creator,
    root: opts.root ?? process.cwd(),
    authkey: opts.authkey ?? process.env.MULTIPROC_AUTHKEY ?? '',
    connectTimeout,
  });
}

setPoolFactory((context, options) => new Pool({ ...(typeof options === 'number' ? { processes: options } : options ?? {}), context }));

// As Python: a Pool cannot travel to another process (in Process args, a Queue, a Pipe).
const unpicklable = (): TypeError => new TypeError('pool objects cannot be passed between processes or pickled; create the Pool in the process that uses it');
registerReducer<Pool>({
  name: 'Pool',
  matches: (value): value is Pool => value instanceof Pool,
  reduce: () => {
    throw unpicklable();
  },
  rebuild: () => {
    throw unpicklable();
  },
  refuse: unpicklable,
});

type Init<P extends readonly unknown[]> = P extends readonly [...infer A, unknown] ? A : P;
type Last<P extends readonly unknown[]> = P extends readonly [...unknown[], infer L] ? L : P extends readonly (infer E)[] ? E : never;

