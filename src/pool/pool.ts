import { closeSync, readFileSync } from 'node:fs';
import { performance, createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { cpuCount, getContext, setPoolFactory, type Context } from '../context.js';
import { BrokenProcessPool, invalidArgType, MaybeEncodingError, ProcessError, TimeoutError, ValueError } from '../errors.js';
import { mainModule } from '../main.js';
import { requireNative } from '../native.js';
import { CREATOR_FILE, Process, type ProcessOptions } from '../process.js';
import { lifecycle } from '../log.js';
import { registerReducer } from '../reduction.js';
import { SharedRegion } from '../shared/region.js';
import { callerFile, describeCode, moduleOf, type CodeRef } from '../targets.js';
import { validateTimeout } from '../validate.js';
import { AsyncResult, type ResultCallbacks } from './async-result.js';
import { PoolPort, PortHandle } from './port.js';
import { progressReporter, type ProgressOption, type ProgressReporter } from './progress.js';
import { CALL, DEFINE, FAILED, MAP, OK, packNumbers, READY, RESULT, STARMAP, TASK, type FromWorker, type TaskKind, type WorkerSetup } from './protocol.js';
import { rebuildError, type ErrorDescription } from './remote-error.js';
import { ForkServerPoolWorker, SpawnPoolWorker } from './worker.js';

/** Any function can be a task; `never[]` accepts every parameter list without `any`. */
export type TaskFunction = (...args: never[]) => unknown;

export interface PoolOptions {
  /** Number of workers; default `cpuCount()`. */
  processes?: number | null;
  /** Called in each worker when it starts, with `initargs` (found by name, as task functions are). */
  initializer?: TaskFunction | null;
  initargs?: readonly unknown[];
  /** A worker is replaced after this many tasks (a chunk counts as one, as in Python). */
  maxTasksPerChild?: number | null;
  /** A worker is replaced once its resident memory exceeds this many MiB (checked after each of its results). */
  maxMemoryPerChildMb?: number | null;
  /** The context whose start method the workers use; default: the default context. */
  context?: Context | null;
}

/** Per-call options beyond Python's. */
export interface TaskOptions {
  /** Aborting rejects the task with the signal's reason; a running task's worker is killed and replaced. */
  signal?: AbortSignal | null;
  /** A task (each chunk of a map) running longer is rejected with TimeoutError; its worker is killed and replaced. */
  timeout?: number | null;
}

export interface ApplyOptions<R> extends TaskOptions, ResultCallbacks<R> {
  /** Python's `kwds`: passed as one last argument. */
  kwargs?: unknown;
}

export interface MapOptions extends TaskOptions {
  /** Items per task; default for map: ceil(items / (4 × workers)), as Python; for imap: 1. */
  chunksize?: number | null;
  /** Reports items as they finish: `true` draws a bar on a terminal; a function is called. */
  progress?: ProgressOption;
}

export interface MapAsyncOptions<R> extends MapOptions, ResultCallbacks<R> {}

/** What `imap` and `imapUnordered` return: an async iterator whose `next` takes Python's timeout. */
export interface PoolIterator<T> extends AsyncIterableIterator<T> {
  /** The next result; a TimeoutError when none comes within `timeoutMs` (the iterator stays usable). */
  next(timeoutMs?: number | null): Promise<IteratorResult<T>>;
  /** Stops early: queued tasks are dropped and the input is closed (what `break` does). */
  return(): Promise<IteratorResult<T>>;
  [Symbol.asyncIterator](): PoolIterator<T>;
}

/** Times in milliseconds. */
export interface Percentiles {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface PoolStats {
  workers: number;
  busyWorkers: number;
  tasksQueued: number;
  tasksRunning: number;
  tasksCompleted: number;
  tasksFailed: number;
  /** From submission to dispatch to a worker. */
  waitTime: Percentiles;
  /** In the worker, per task (a chunk is one task). */
  runTime: Percentiles;
}

type Settle = (status: 'ok' | 'error', value: unknown) => void;

interface Task {
  readonly id: number;
  readonly fn: FunctionEntry;
  readonly kind: TaskKind;
  readonly data: unknown;
  readonly kwargs: [unknown] | null;
  /** Items in the task: 1, or the chunk's length. */
  readonly items: number;
  readonly submitted: number;
  readonly timeout: number | null;
  readonly signal: AbortSignal | null;
  readonly settle: Settle;
  /** The group it belongs to (a map's chunks), so that cancelling one cancels all. */
  readonly group: TaskGroup | null;
  /** Asked as a worker takes the task (a Future's setRunningOrNotifyCancel): false drops it. */
  readonly start: (() => boolean) | null;
  worker: WorkerSlot | null;
  timer: NodeJS.Timeout | null;
  onAbort: (() => void) | null;
  done: boolean;
}

interface TaskGroup {
  cancelled: boolean;
  /** Its tasks not yet finished that wait on the signal: one abort listener for them all, not one per chunk. */
  watched?: Set<Task>;
  onAbort?: (() => void) | null;
}

interface FunctionEntry {
  readonly id: number;
  readonly ref: CodeRef;
  /** The function itself: its module's scope is where its error classes are found first. */
  readonly fn: TaskFunction;
}

interface WorkerSlot {
  readonly process: Process;
  readonly port: PoolPort;
  /** Written by the worker as it receives each task (its id + 1): whether a task it died with had reached it. */
  readonly received: Int32Array;
  readonly label: string;
  ready: boolean;
  /** Dispatched, not yet answered, in order: the first is the one running. */
  readonly inflight: Task[];
  readonly defined: Set<number>;
  dispatched: number;
  retiring: boolean;
  /** Its successor has been started already. */
  replaced: boolean;
  exited: boolean;
}

type State = 'running' | 'closed' | 'terminated';

// The in-flight depth per worker adapts to task length: deep for tiny tasks
// (the pipe stays full and messages batch), one for long ones (no task waits
// behind another while a worker is idle).
const PIPELINE_US = 400;
const PER_MESSAGE_US = 4;
const MAX_WINDOW = 128;
const SHORT_TASK_US = 2000;
const MAX_START_FAILURES = 3;
const OTHERS_AFTER_MS = 10;


const isIterable = (value: unknown): value is Iterable<unknown> => value !== null && typeof value === 'object' && Symbol.iterator in value;
const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> => value !== null && typeof value === 'object' && Symbol.asyncIterator in value;

function checkFunction(fn: unknown, what = '"fn" argument'): asserts fn is TaskFunction {
  if (typeof fn !== 'function') throw invalidArgType(what, 'a function (defined at the top level of a module)', fn);
}

function checkChunksize(chunksize: unknown, allowNull: boolean): number | null {
  if ((chunksize === undefined || chunksize === null) && allowNull) return null;
  if (typeof chunksize !== 'number' || !Number.isInteger(chunksize)) throw invalidArgType('"chunksize" argument', 'an integer', chunksize);
  if (chunksize < 1) throw new ValueError(`Chunksize must be 1+, not ${chunksize}`);
  return chunksize;
}

function mapOptions<O extends MapOptions>(chunksizeOrOptions: number | O | null | undefined): O {
  if (chunksizeOrOptions === undefined || chunksizeOrOptions === null) return {} as O;
  if (typeof chunksizeOrOptions === 'number') return { chunksize: chunksizeOrOptions } as O;
  if (typeof chunksizeOrOptions !== 'object') throw invalidArgType('"chunksize" argument', 'an integer or an options object like { chunksize, timeout, signal, progress }', chunksizeOrOptions);
  return chunksizeOrOptions;
}

function checkTaskOptions(options: TaskOptions): { signal: AbortSignal | null; timeout: number | null } {
  const signal = options.signal ?? null;
  if (signal !== null && !(signal instanceof AbortSignal)) throw invalidArgType('"signal" option', 'an AbortSignal', signal);
  const timeout = options.timeout === undefined || options.timeout === null ? null : validateTimeout(options.timeout, 'timeout');
  return { signal, timeout };
}

function percentiles(histogram: RecordableHistogram): Percentiles {
  // Recorded in microseconds (the histogram takes integers); reported in ms.
  const ms = (us: number): number => (Number.isFinite(us) ? Math.round(us) / 1000 : 0);
  const count = histogram.count;
  if (count === 0) return { count, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return { count, min: ms(histogram.min), mean: ms(histogram.mean), p50: ms(histogram.percentile(50)), p90: ms(histogram.percentile(90)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) };
}

function residentMiB(pid: number): number {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]);
    return (pages * 4096) / (1024 * 1024);
  } catch {
    return 0;
  }
}

/**
 * A pool of worker processes, as Python's `multiprocessing.Pool`: `map`,
 * `starmap`, `imap`, `imapUnordered`, `apply` and their async forms, over
 * warm workers that find task functions by name as Process targets are
 * found. Unlike Python's, it never hangs: a worker that dies fails the task
 * it was running with BrokenProcessPool, its other tasks go to the other
 * workers, and it is replaced.
 */
export class Pool {
  readonly #processes: number;
  readonly #workerClass: typeof Process;
  readonly #setup: WorkerSetup;
  readonly #initializer: TaskFunction | null;
  readonly #maxTasksPerChild: number | null;
  readonly #maxMemoryMb: number | null;
  readonly #creatorFile: string | null;
  /** Where the error classes of tasks are looked for, after the module the worker names. */
  readonly #errorModules: string[];
  readonly #functions = new Map<Function, FunctionEntry>();
  readonly #workers = new Set<WorkerSlot>();
  #queue: Task[] = [];
  #queueHead = 0;
  #state: State = 'running';
  #nextTaskId = 0;
  #window = 1;
  #runEstimateUs = -1;
  #startFailures = 0;
  #broken: Error | null = null;
  #holdingLoop = false;
  /** Work in this process that results wait for: reading an async input, rebuilding an error. */
  #feeders = 0;
  #joiners = 0;
  #completed = 0;
  #failed = 0;
  readonly #waitTimes = createHistogram();
  readonly #runTimes = createHistogram();
  readonly #idleWaiters = new Set<() => void>();
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
    this.#processes = processes;
    this.#maxTasksPerChild = max ?? null;
    this.#maxMemoryMb = memory ?? null;
    // As in Python, creating a Pool fixes the default start method; workers are named after it.
    const method = (opts.context ?? getContext()).getStartMethod();
    this.#workerClass = method === 'spawn' ? (SpawnPoolWorker as typeof Process) : (ForkServerPoolWorker as typeof Process);
    this.#creatorFile = callerFile(Pool);
    const creator = moduleOf(this.#creatorFile, 'the code that creates this Pool');
    this.#errorModules = [creator.url, ...(mainModule() === null ? [] : [mainModule()!.url])];
    this.#initializer = opts.initializer ?? null;
    this.#setup = {
      initializer: opts.initializer ? describeCode(opts.initializer, 'the pool\'s initializer') : null,
      initargs: [...initargs],
    };
    // The first worker starts now (a warm forkserver spare usually takes it,
    // in a millisecond), and any error surfaces here, as in Python. The others
    // start once it is ready, or 10 ms later: launching a node is a few
    // milliseconds of synchronous work here that would delay the first result.
    try {
      this.#startWorker();
    } catch (error) {
      clearInterval(this.#keepAlive);
      throw error;
    }
    if (processes > 1) {
      this.#startOthers = setTimeout(() => this.#startRemaining(), OTHERS_AFTER_MS);
    }
  }

  #startOthers: NodeJS.Timeout | null = null;

  #startRemaining(): void {
    if (this.#startOthers === null) return;
    clearTimeout(this.#startOthers);
    this.#startOthers = null;
    if (this.#state === 'terminated' || this.#broken !== null) return;
    while (this.#workers.size < this.#processes && this.#startOrBreak('a worker of the pool'));
  }

  /** Starts a worker, or breaks the pool when it cannot (`what` names it in the error); whether it started. */
  #startOrBreak(what: string): boolean {
    try {
      this.#startWorker();
      return true;
    } catch (error) {
      this.#breakPool(new BrokenProcessPool(`${what} could not be started: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      return false;
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
    const size = chunksize ?? Math.ceil(items.length / (this.#processes * 4));
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
      entry,
      source,
      chunksize,
      ordered,
      total: Array.isArray(iterable) ? iterable.length : null,
      progress: progressReporter(options.progress, Array.isArray(iterable) ? iterable.length : null),
      makeTask: (chunk, group, settle) => this.#task(entry, MAP, chunk, null, chunk.length, timeout, signal, group, settle),
    });
  }

  /** @internal for ImapIterator */
  get aheadLimit(): number {
    return Math.max(8, 2 * this.#processes * this.#window);
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
    return { id: this.#nextTaskId++, fn, kind, data, kwargs, items, submitted: performance.now(), timeout, signal, settle, group, start, worker: null, timer: null, onAbort: null, done: false };
  }

  #submit(tasks: Task[]): void {
    for (const task of tasks) {
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
      this.#queue.push(task);
    }
    this.#dispatch();
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

  // ---- dispatching

  #dispatch(): void {
    // A worker is topped up once half its line is done, not at every result:
    // fewer, fuller writes (each one wakes the worker up).
    const refill = this.#window >> 1;
    let topping: WorkerSlot | null = null;
    while (this.#queueHead < this.#queue.length) {
      let best: WorkerSlot | null = null;
      let anyReady = false;
      for (const slot of this.#workers) {
        if (slot.ready) anyReady = true;
        if (!slot.ready || slot.retiring || slot.exited || slot.inflight.length >= this.#window) continue;
        if (slot.inflight.length > refill && slot !== topping) continue;
        if (best === null || slot.inflight.length < best.inflight.length) best = slot;
      }
      topping = best;
      // While no worker is ready yet (a new pool), the first one started takes
      // the first task: it is usually a warm spare, ready in a millisecond, and
      // the task is then already there, one round trip sooner.
      if (best === null && !anyReady) {
        const first = this.#workers.values().next().value as WorkerSlot | undefined;
        if (first !== undefined && !first.retiring && !first.exited && first.inflight.length === 0) best = first;
      }
      if (best === null) break;
      const task = this.#queue[this.#queueHead++]!;
      if (task.done || task.group?.cancelled) continue;
      if (task.start !== null && !task.start()) {
        task.done = true;
        continue;
      }
      this.#send(best, task);
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
      if (this.#state === 'closed') this.#releaseIdleWorkers();
    }
    this.#updateLoopHold();
  }

  /** After close(), once nothing is queued: each worker with nothing left to do is told to finish. */
  #releaseIdleWorkers(): void {
    for (const slot of this.#workers) if (slot.inflight.length === 0 && !slot.retiring) this.#retire(slot);
  }

  #send(slot: WorkerSlot, task: Task): void {
    try {
      if (!slot.defined.has(task.fn.id)) {
        slot.port.send([DEFINE, task.fn.id, task.fn.ref], 'a task function');
        slot.defined.add(task.fn.id);
      }
      const message = task.kwargs === null ? [TASK, task.id, task.fn.id, task.kind, task.data] : [TASK, task.id, task.fn.id, task.kind, task.data, task.kwargs[0]];
      slot.port.send(message, `the arguments of a task for ${task.fn.ref.name}`);
    } catch (error) {
      // This task cannot travel; the pool and the other tasks carry on.
      this.#finish(task, 'error', error);
      return;
    }
    this.#waitTimes.record(Math.max(1, Math.round((performance.now() - task.submitted) * 1000)));
    task.worker = slot;
    slot.inflight.push(task);
    slot.dispatched++;
    if (slot.inflight.length === 1) this.#startClock(task);
    if (this.#maxTasksPerChild !== null && slot.dispatched >= this.#maxTasksPerChild) slot.retiring = true;
  }

  /** A task's timeout runs from when it is first in its worker's line, that is, running. */
  #startClock(task: Task): void {
    if (task.timeout === null || task.done) return;
    task.timer = setTimeout(() => {
      const slot = task.worker;
      this.#finish(task, 'error', new TimeoutError(`the task ${task.fn.ref.name}() did not finish within ${task.timeout} ms; its worker${slot ? ` (${slot.label})` : ''} was killed and replaced`));
      if (slot !== null) this.#kill(slot);
    }, task.timeout);
  }

  #abort(task: Task): void {
    if (task.done) return;
    const slot = task.worker;
    const reason: unknown = task.signal!.reason;
    this.#finish(task, 'error', reason);
    // Queued: it is skipped at dispatch. Running, or lined up in a worker: that worker goes.
    if (slot !== null) this.#kill(slot);
  }

  #kill(slot: WorkerSlot): void {
    if (slot.exited) return;
    slot.retiring = true;
    try {
      slot.process.kill();
    } catch {
      // already gone
    }
  }

  #finish(task: Task, status: 'ok' | 'error', value: unknown): void {
    if (task.done) return;
    task.done = true;
    if (task.timer !== null) clearTimeout(task.timer);
    // A long-lived signal shared by many tasks must not collect a listener per task.
    if (task.onAbort !== null) task.signal!.removeEventListener('abort', task.onAbort);
    else if (task.group !== null) this.#unwatch(task);
    if (status === 'ok') this.#completed++;
    else this.#failed++;
    task.settle(status, value);
  }

  // ---- workers

  #startWorker(): void {
    const [parentFd, childFd] = requireNative('Pool').socketpair();
    let process: Process;
    let received: SharedRegion;
    try {
      received = SharedRegion.create(4);
    } catch (error) {
      closeSync(parentFd);
      closeSync(childFd);
      throw error;
    }
    try {
      const options = { args: [new PortHandle(childFd), this.#setup, received], daemon: true, [CREATOR_FILE]: this.#creatorFile } as unknown as ProcessOptions;
      process = new this.#workerClass(options);
      process.start();
    } catch (error) {
      closeSync(parentFd);
      throw error;
    } finally {
      // The child has its own copy now; ours would hide the child's death from the parent's end.
      closeSync(childFd);
      received.close();
    }
    const label = `${process.name}, pid ${process.pid}`;
    const slot: WorkerSlot = {
      process,
      label,
      port: new PoolPort(
        parentFd,
        (message) => this.#onMessage(slot, message as FromWorker),
        () => {},
      ),
      received: received.int32(),
      ready: false,
      inflight: [],
      defined: new Set(),
      dispatched: 0,
      retiring: false,
      replaced: false,
      exited: false,
    };
    slot.port.unref();
    this.#workers.add(slot);
    lifecycle('debug', 'added worker %s', label);
    void process.sentinel.then((code) => this.#onExit(slot, code));
  }

  #onMessage(slot: WorkerSlot, message: FromWorker): void {
    if (message[0] === READY) {
      if (message[1] !== null) {
        void this.#initializerFailed(slot, message[1]);
        return;
      }
      slot.ready = true;
      this.#startFailures = 0;
      this.#startRemaining();
      this.#dispatch();
      return;
    }
    if (message[0] !== RESULT) return;
    const [, taskId, status, value, micros] = message;
    const task = slot.inflight.shift();
    if (task === undefined || task.id !== taskId) return;
    this.#runTimes.record(micros);
    const perItem = micros / task.items;
    this.#runEstimateUs = this.#runEstimateUs < 0 ? perItem : this.#runEstimateUs * 0.8 + perItem * 0.2;
    const taskUs = this.#runEstimateUs * task.items + PER_MESSAGE_US;
    // Short tasks: at least two in line, so the next one travels while this one runs.
    this.#window = Math.max(taskUs < SHORT_TASK_US ? 2 : 1, Math.min(MAX_WINDOW, Math.floor(PIPELINE_US / taskUs)));
    const next = slot.inflight[0];
    if (next !== undefined) this.#startClock(next);
    if (status === OK) this.#finish(task, 'ok', value);
    else if (status === FAILED) void this.#failRemote(task, value as ErrorDescription, slot);
    else {
      const { value: repr, reason } = value as { value: string; reason: string };
      this.#finish(task, 'error', new MaybeEncodingError(reason, repr));
    }
    if (this.#maxMemoryMb !== null && !slot.retiring && residentMiB(slot.process.pid!) > this.#maxMemoryMb) slot.retiring = true;
    if (slot.retiring && slot.inflight.length === 0) this.#retire(slot);
    this.#dispatch();
  }

  async #failRemote(task: Task, description: ErrorDescription, slot: WorkerSlot): Promise<void> {
    // Settled once the error is rebuilt (its class may need an import); the pool holds the event loop till then.
    this.#feeders++;
    this.#updateLoopHold();
    try {
      const error = await rebuildError(description, `${slot.label} (the task ${task.fn.ref.name}() failed there; the remote stack is in err.cause)`, this.#errorModules, task.fn.ref.name, [task.fn.fn]);
      this.#finish(task, 'error', error);
    } finally {
      this.#feeders--;
      this.#updateLoopHold();
    }
  }

  async #initializerFailed(slot: WorkerSlot, description: ErrorDescription): Promise<void> {
    this.#feeders++;
    this.#updateLoopHold();
    const cause = await rebuildError(description, slot.label, this.#errorModules, this.#setup.initializer?.name ?? 'initializer', this.#initializer === null ? [] : [this.#initializer]).finally(() => {
      this.#feeders--;
      this.#updateLoopHold();
    });
    this.#breakPool(new BrokenProcessPool(`the pool's initializer ${this.#setup.initializer?.name ?? ''}() failed in ${slot.label}, so no task can run: ${String((cause as Error).message ?? cause)}`, { cause }));
  }

  /** A worker that served its share goes (it exits once its channel ends) and another takes its place. */
  #retire(slot: WorkerSlot): void {
    slot.retiring = true;
    slot.port.end();
    // Its successor starts now rather than when it has exited: no gap in service.
    if (this.#state === 'running' && !slot.replaced) {
      slot.replaced = true;
      this.#startOrBreak('a replacement worker');
    }
  }

  #onExit(slot: WorkerSlot, code: number): void {
    slot.exited = true;
    lifecycle('debug', 'cleaning up worker %s (%s)', slot.label, BrokenProcessPool.describeExit(code));
    if (!slot.retiring && this.#state !== 'terminated' && this.#broken === null) this.onWorkerLost?.(slot.label, code);
    this.#workers.delete(slot);
    slot.port.destroy();
    const lost = slot.inflight.splice(0);
    // Only a task the worker had taken fails: one sent to a worker already dead
    // (killed while idle, say) never began, and goes to another worker.
    const running = lost[0];
    if (running !== undefined && !running.done && Atomics.load(slot.received, 0) - ((running.id + 1) | 0) >= 0) {
      lost.shift();
      this.#finish(running, 'error', BrokenProcessPool.workerDied(slot.label, code, running.fn.ref.name));
    }
    // The tasks lined up behind it never started: they go back to the front of the queue.
    const unstarted = lost.filter((task) => !task.done);
    for (const task of unstarted) {
      task.worker = null;
      if (task.timer !== null) clearTimeout(task.timer);
      task.timer = null;
    }
    if (unstarted.length > 0) {
      this.#queue = [...unstarted, ...this.#queue.slice(this.#queueHead)];
      this.#queueHead = 0;
    }
    if (!slot.ready && !slot.retiring && this.#state !== 'terminated' && this.#broken === null) {
      if (++this.#startFailures >= MAX_START_FAILURES) {
        this.#breakPool(
          new BrokenProcessPool(
            `${MAX_START_FAILURES} workers in a row exited before they could serve (the last: ${slot.label}, ${BrokenProcessPool.describeExit(code)}); ` +
              'see their output above. The pool is broken: create a new one after fixing the cause.',
          ),
        );
      }
    }
    if (this.#state === 'terminated' || this.#broken !== null) {
      this.#notifyIdle();
      return;
    }
    const pending = this.#queueHead < this.#queue.length || [...this.#workers].some((w) => w.inflight.length > 0);
    if (!slot.replaced && (this.#state === 'running' || pending)) this.#startOrBreak('a replacement worker');
    this.#dispatch();
    this.#notifyIdle();
  }

  #breakPool(error: Error): void {
    if (this.#broken !== null) return;
    this.#broken = error;
    this.onBreak?.(error);
    for (const task of this.#queue.slice(this.#queueHead)) this.#finish(task, 'error', error);
    this.#queue = [];
    this.#queueHead = 0;
    for (const slot of this.#workers) {
      for (const task of slot.inflight.splice(0)) this.#finish(task, 'error', error);
      this.#kill(slot);
    }
  }

  #updateLoopHold(): void {
    let busy = this.#feeders > 0 || this.#joiners > 0 || this.#queueHead < this.#queue.length;
    if (!busy) for (const slot of this.#workers) if (slot.inflight.length > 0) busy = true;
    if (busy === this.#holdingLoop) return;
    this.#holdingLoop = busy;
    // One referenced timer, not the workers' handles: while work is outstanding
    // the loop must live even when no worker is connected (all being replaced).
    if (busy) this.#keepAlive.ref();
    else this.#keepAlive.unref();
  }

  #notifyIdle(): void {
    if (this.#workers.size > 0) return;
    for (const wake of this.#idleWaiters) wake();
    this.#idleWaiters.clear();
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
    this.#dispatch();
  }

  /**
   * Stops the workers at once (SIGTERM, as Python). Unlike Python, tasks not
   * finished are rejected rather than left pending forever.
   */
  terminate(): void {
    if (this.#state === 'terminated') return;
    lifecycle('debug', 'terminating pool');
    this.#state = 'terminated';
    if (this.#startOthers !== null) clearTimeout(this.#startOthers);
    this.#startOthers = null;
    const stopped = new ProcessError('the pool was terminated before this task finished');
    for (const task of this.#queue.slice(this.#queueHead)) this.#finish(task, 'error', stopped);
    this.#queue = [];
    this.#queueHead = 0;
    for (const slot of this.#workers) {
      for (const task of slot.inflight.splice(0)) this.#finish(task, 'error', stopped);
      slot.retiring = true;
      slot.port.destroy();
      try {
        slot.process.terminate();
      } catch {
        // already gone
      }
    }
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
      while (this.#workers.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
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
    let busy = 0;
    let running = 0;
    for (const slot of this.#workers) {
      if (slot.inflight.length > 0) busy++;
      running += slot.inflight.length > 0 ? 1 : 0;
    }
    let queued = 0;
    for (let i = this.#queueHead; i < this.#queue.length; i++) if (!this.#queue[i]!.done) queued++;
    for (const slot of this.#workers) queued += Math.max(0, slot.inflight.length - 1);
    return {
      workers: this.#workers.size,
      busyWorkers: busy,
      tasksQueued: queued,
      tasksRunning: running,
      tasksCompleted: this.#completed,
      tasksFailed: this.#failed,
      waitTime: percentiles(this.#waitTimes),
      runTime: percentiles(this.#runTimes),
    };
  }

  /** The pids of the current workers (for monitoring; they change as workers are replaced). */
  get pids(): number[] {
    return [...this.#workers].filter((slot) => !slot.exited).map((slot) => slot.process.pid!);
  }

  get [Symbol.toStringTag](): string {
    return 'Pool';
  }
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

interface ImapPlan {
  entry: FunctionEntry;
  source: Iterator<unknown> | AsyncIterator<unknown>;
  chunksize: number;
  ordered: boolean;
  total: number | null;
  progress: ProgressReporter;
  makeTask(chunk: unknown[], group: TaskGroup, settle: Settle): Task;
}

type Slot = { state: 'ok'; values: unknown[] } | { state: 'error'; error: unknown };

/**
 * The iterator of `imap` / `imapUnordered`: it reads the input only while
 * fewer than a bounded number of chunks are ahead of the consumer, so an
 * endless input is fine; an error of the input comes after the results of
 * the chunks built before it, as in Python.
 */
class ImapIterator implements PoolIterator<unknown> {
  readonly #pool: Pool;
  readonly #plan: ImapPlan;
  readonly #group: TaskGroup = { cancelled: false };
  /** Finished chunks not yet consumed, by input position (ordered). */
  readonly #slots = new Map<number, Slot>();
  /** Chunks submitted, and consumed. */
  #submitted = 0;
  #nextSlot = 0;
  #buffered: unknown[] = [];
  #bufferedHead = 0;
  #inputDone = false;
  #inputError: { error: unknown } | null = null;
  #reading = false;
  #finished = false;
  #wake: (() => void) | null = null;

  constructor(pool: Pool, plan: ImapPlan) {
    this.#pool = pool;
    this.#plan = plan;
    void this.#fill();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  get #ahead(): number {
    return this.#submitted - this.#nextSlot;
  }

  /** Reads input and submits chunks until enough are ahead of the consumer. */
  async #fill(): Promise<void> {
    if (this.#reading || this.#inputDone || this.#finished) return;
    this.#reading = true;
    this.#pool.feeding(1);
    try {
      while (!this.#inputDone && !this.#finished && this.#ahead < this.#pool.aheadLimit) {
        const chunk: unknown[] = [];
        while (chunk.length < this.#plan.chunksize) {
          let step: IteratorResult<unknown>;
          try {
            const next = this.#plan.source.next();
            step = next instanceof Promise ? await next : (next as IteratorResult<unknown>);
          } catch (error) {
            this.#inputError = { error };
            this.#endInput();
            break;
          }
          if (step.done) {
            this.#endInput();
            break;
          }
          chunk.push(step.value);
        }
        // A partial chunk cut short by an input error is dropped, as in Python.
        if (chunk.length > 0 && this.#inputError === null) this.#submit(chunk);
        if (!this.#pool.running && !this.#inputDone) {
          this.#inputError = { error: new ValueError('Pool not running') };
          this.#endInput();
        }
      }
    } finally {
      this.#reading = false;
      this.#pool.feeding(-1);
      this.#wake?.();
    }
  }

  #endInput(): void {
    this.#inputDone = true;
  }

  #submit(chunk: unknown[]): void {
    const index = this.#submitted++;
    const task = this.#plan.makeTask(chunk, this.#group, (status, value) => {
      if (this.#finished) return;
      const slot: Slot = status === 'ok' ? { state: 'ok', values: value as unknown[] } : { state: 'error', error: value };
      if (this.#plan.ordered) this.#slots.set(index, slot);
      else this.#completedUnordered.push(slot);
      this.#wake?.();
    });
    this.#pool.submitInternal([task]);
  }

  readonly #completedUnordered: Slot[] = [];

  /**
   * The next result. `timeoutMs` as Python's `next(timeout)`: a TimeoutError
   * when no result comes in time; the iterator stays usable.
   */
  async next(timeoutMs?: number | null): Promise<IteratorResult<unknown>> {
    const timeout = validateTimeout(timeoutMs);
    const deadline = timeout === null ? null : performance.now() + timeout;
    for (;;) {
      if (this.#finished) return { done: true, value: undefined };
      if (this.#bufferedHead < this.#buffered.length) {
        const value = this.#buffered[this.#bufferedHead++];
        this.#plan.progress.advance(1);
        return { done: false, value };
      }
      const slot = this.#takeSlot();
      if (slot !== null) {
        if (slot.state === 'error') {
          this.#finish();
          throw slot.error;
        }
        this.#buffered = slot.values;
        this.#bufferedHead = 0;
        void this.#fill();
        continue;
      }
      if (this.#inputDone && this.#nextSlot === this.#submitted) {
        const failure = this.#inputError;
        this.#finish();
        if (failure !== null) throw failure.error;
        return { done: true, value: undefined };
      }
      if (deadline === null) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
      } else {
        const left = deadline - performance.now();
        if (left <= 0) throw new TimeoutError(`no result within ${timeout} ms`);
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
      this.#wake = null;
    }
  }

  /** The next finished chunk, or null; advances past it. */
  #takeSlot(): Slot | null {
    if (this.#plan.ordered) {
      const slot = this.#slots.get(this.#nextSlot);
      if (slot === undefined) return null;
      this.#slots.delete(this.#nextSlot++);
      return slot;
    }
    const slot = this.#completedUnordered.shift();
    if (slot === undefined) return null;
    this.#nextSlot++;
    return slot;
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#plan.progress.finish();
    this.#pool.cancelGroup(this.#group);
    if (!this.#inputDone) {
      this.#endInput();
      void Promise.resolve(this.#plan.source.return?.()).catch(() => {});
    }
  }

  /** The consumer stopped early (`break`): queued chunks are dropped and the input is closed. */
  async return(): Promise<IteratorResult<unknown>> {
    this.#finish();
    return { done: true, value: undefined };
  }
}
