/**
 * multiproc/futures: Python's `concurrent.futures` for processes, on the
 * Pool's workers. This file is the whole public surface of the subpath.
 */
export { ProcessPoolExecutor } from './executor.js';
export type { ProcessPoolExecutorOptions, ExecutorMapOptions, ShutdownOptions } from './executor.js';
export { Future, InvalidStateError } from './future.js';
export type { FutureState } from './future.js';
export { wait, asCompleted, FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED } from './wait.js';
export type { WaitOptions, DoneAndNotDone, ReturnWhen, CompletedFuture } from './wait.js';
export { BrokenProcessPool, CancelledError, TimeoutError } from '../errors.js';
