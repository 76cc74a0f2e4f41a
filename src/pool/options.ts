import type { RecordableHistogram } from 'node:perf_hooks';
import type { Context } from '../context.js';
import { invalidArgType, ValueError } from '../errors.js';
import { validateTimeout } from '../validate.js';
import type { ResultCallbacks } from './async-result.js';
import type { ProgressOption } from './progress.js';
import type { TaskFunction } from './task.js';

/** The Pool's options and per-call options, and their checks. */

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
  /**
   * Where tasks run: omitted, this machine's worker processes; a Redis URL
   * (`'redis://host:6379/0'`), `multiproc worker` processes on any machine,
   * through a BullMQ queue. `processes` is then the number of workers you
   * expect across machines (it sets the default chunk size).
   */
  backend?: string | null;
  /** With a Redis backend: the BullMQ queue; default `"multiproc"`. Workers take jobs from the queue they are given. */
  queue?: string | null;
  /**
   * With a Redis backend: jobs name the module of their task function by its
   * path under this directory, which workers get as `--root`; default: the
   * current directory.
   */
  root?: string | null;
  /** With a Redis backend: the key that signs jobs and results (workers get the same as `--authkey` or MULTIPROC_AUTHKEY); default: MULTIPROC_AUTHKEY, else none. */
  authkey?: string | null;
  /** With a Redis backend: how long Redis may take to answer at start before the pool breaks, in ms; default 5000 (a refused connection breaks it at once). */
  connectTimeout?: number | null;
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

export const isIterable = (value: unknown): value is Iterable<unknown> => value !== null && typeof value === 'object' && Symbol.iterator in value;
export const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> => value !== null && typeof value === 'object' && Symbol.asyncIterator in value;

export function checkFunction(fn: unknown, what = '"fn" argument'): asserts fn is TaskFunction {
  if (typeof fn !== 'function') throw invalidArgType(what, 'a function (defined at the top level of a module)', fn);
}

export function checkChunksize(chunksize: unknown, allowNull: boolean): number | null {
  if ((chunksize === undefined || chunksize === null) && allowNull) return null;
  if (typeof chunksize !== 'number' || !Number.isInteger(chunksize)) throw invalidArgType('"chunksize" argument', 'an integer', chunksize);
  if (chunksize < 1) throw new ValueError(`Chunksize must be 1+, not ${chunksize}`);
  return chunksize;
}

export function mapOptions<O extends MapOptions>(chunksizeOrOptions: number | O | null | undefined): O {
  if (chunksizeOrOptions === undefined || chunksizeOrOptions === null) return {} as O;
  if (typeof chunksizeOrOptions === 'number') return { chunksize: chunksizeOrOptions } as O;
  if (typeof chunksizeOrOptions !== 'object') throw invalidArgType('"chunksize" argument', 'an integer or an options object like { chunksize, timeout, signal, progress }', chunksizeOrOptions);
  return chunksizeOrOptions;
}

export function checkTaskOptions(options: TaskOptions): { signal: AbortSignal | null; timeout: number | null } {
  const signal = options.signal ?? null;
  if (signal !== null && !(signal instanceof AbortSignal)) throw invalidArgType('"signal" option', 'an AbortSignal', signal);
  const timeout = options.timeout === undefined || options.timeout === null ? null : validateTimeout(options.timeout, 'timeout');
  return { signal, timeout };
}


export function percentiles(histogram: RecordableHistogram): Percentiles {
  // Recorded in microseconds (the histogram takes integers); reported in ms.
  const ms = (us: number): number => (Number.isFinite(us) ? Math.round(us) / 1000 : 0);
  const count = histogram.count;
  if (count === 0) return { count, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return { count, min: ms(histogram.min), mean: ms(histogram.mean), p50: ms(histogram.percentile(50)), p90: ms(histogram.percentile(90)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) };
}

