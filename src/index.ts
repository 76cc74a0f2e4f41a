/**
 * multiproc: Python's multiprocessing for TypeScript, on real Node.js
 * processes. This file is the whole public surface; everything else is
 * internal.
 */
export { Process, currentProcess, activeChildren } from './process.js';
export type { ProcessTarget, ProcessOptions, ProcessArguments } from './process.js';
export { parentProcess, ParentProcess } from './parent.js';
export { isMainModule } from './main.js';
export type { ModuleMeta } from './main.js';
export {
  Context,
  SpawnProcess,
  ForkServerProcess,
  cpuCount,
  getContext,
  setStartMethod,
  getStartMethod,
  getAllStartMethods,
  setForkserverPreload,
} from './context.js';
export type { StartMethod } from './launch/index.js';
export { Connection } from './connection.js';
export { Pipe } from './pipe.js';
export { Listener, Client } from './listener.js';
export type { Address, ClientOptions, ListenerOptions } from './listener.js';
export { wait } from './wait.js';
export { Queue, SimpleQueue, JoinableQueue, Empty, Full } from './queues.js';
export type { Waitable } from './wait.js';
export { Pool } from './pool/pool.js';
export type { PoolIterator, PoolOptions, TaskOptions, ApplyOptions, MapOptions, MapAsyncOptions, PoolStats, Percentiles, TaskFunction } from './pool/pool.js';
export { AsyncResult } from './pool/async-result.js';
export type { ResultCallbacks } from './pool/async-result.js';
export type { Progress, ProgressOption } from './pool/progress.js';
export { RemoteTraceback } from './pool/remote-error.js';
export { getLogger, logToStderr } from './log.js';
export type { Logger, LogLevel, LogRecord, LogHandler } from './log.js';
export {
  AssertionError,
  ProcessError,
  ValueError,
  TimeoutError,
  AuthenticationError,
  BufferTooShort,
  OSError,
  BrokenPipeError,
  EOFError,
  BrokenProcessPool,
  MaybeEncodingError,
  CancelledError,
} from './errors.js';
export { Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier, BrokenBarrierError, OwnerDiedError } from './synchronize.js';
export type { LockOptions, BarrierOptions } from './synchronize.js';
export { Value, RawValue, SharedValue, SynchronizedValue, Array, Array as SharedArray, RawArray } from './sharedctypes.js';
export type { TypeCode, ArrayOf, ElementOf, ValueInput, CharArray, SharedArrayOf, SynchronizedArray, SynchronizedOptions } from './sharedctypes.js';
export { SharedMemory } from './shm/sharedMemory.js';
export type { SharedMemoryOptions } from './shm/sharedMemory.js';
export { ShareableList } from './shm/shareableList.js';
export type { ShareableItem } from './shm/shareableList.js';
export { FileExistsError, FileNotFoundError } from './shm/errors.js';
export * from './managers/index.js';
