import type { CodeRef } from '../targets.js';
import type { TaskKind } from './protocol.js';
import type { ErrorDescription } from './remote-error.js';

/** Any function can be a task; `never[]` accepts every parameter list without `any`. */
export type TaskFunction = (...args: never[]) => unknown;

export type Settle = (status: 'ok' | 'error', value: unknown) => void;

/** A task function as the pool knows it: the reference a worker resolves, under a number given once. */
export interface FunctionEntry {
  readonly id: number;
  readonly ref: CodeRef;
  /** The function itself: its module's scope is where its error classes are found first (null in a `multiproc worker`). */
  readonly fn: TaskFunction | null;
  /** The module a worker loads to find it, when not the module that created the pool (a `multiproc worker`'s jobs). */
  readonly module?: string;
}

/** Where a back end runs a task: a label for messages (a worker's name and pid, a remote machine). */
export interface Holder {
  readonly label: string;
}

/**
 * One unit of work as the front end hands it to a back end: a call, or a
 * chunk of a map. The front end owns its settling, timer and abort listener;
 * the back end owns `holder` (where it runs) and nothing else.
 */
export interface Task {
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
  holder: Holder | null;
  timer: NodeJS.Timeout | null;
  onAbort: (() => void) | null;
  done: boolean;
}

export interface TaskGroup {
  cancelled: boolean;
  /** Its tasks not yet finished that wait on the signal: one abort listener for them all, not one per chunk. */
  watched?: Set<Task>;
  onAbort?: (() => void) | null;
}

/** How a back end's worker answered a task: a value, an error to rebuild, or a value that could not travel. */
export type Outcome =
  | { readonly status: 'ok'; readonly value: unknown }
  | { readonly status: 'failed'; readonly error: ErrorDescription }
  | { readonly status: 'unsendable'; readonly repr: string; readonly reason: string };

/** What the Pool's front end offers its back end: the back end reports, the front end settles. */
export interface BackendHost {
  /** Asked just before a task is sent: false means it was finished or cancelled meanwhile, and is skipped. */
  take(task: Task): boolean;
  /** The task left for `holder` (the wait time is measured to here). */
  dispatched(task: Task, holder: Holder): void;
  /** The task is now running (its timeout starts). */
  running(task: Task): void;
  /** The task goes back to the queue: its worker died before it began. */
  returned(task: Task): void;
  /** The worker answered; `micros` is its run time there. */
  answered(task: Task, outcome: Outcome, micros: number): void;
  /** The task cannot complete (its worker died, its arguments cannot travel). */
  failed(task: Task, error: unknown): void;
  /** A worker died unasked (not retired, stopped or killed by the pool). */
  workerLost(label: string, exitCode: number): void;
  /** The pool's initializer failed in a worker: no task can run. */
  initializerFailed(label: string, error: ErrorDescription): void;
  /** The back end cannot go on: every task fails with `error`. */
  broken(error: Error): void;
}

/** What a back end reports for `Pool.stats()`. */
export interface BackendStats {
  workers: number;
  busyWorkers: number;
  tasksQueued: number;
  tasksRunning: number;
}

/**
 * Where a Pool's tasks run. The front end (Pool) chunks, orders, times and
 * settles; a back end only moves tasks to workers and answers back.
 */
export interface PoolBackend {
  /** The number of workers, for the default chunk size and the imap window. */
  readonly processes: number;
  /** How many chunks an imap may have ahead of its consumer. */
  readonly aheadLimit: number;
  /** Queues the tasks; each is settled through the host. */
  submit(tasks: Task[]): void;
  /** The task was finished early (timeout, abort) while held: whatever runs it is stopped. */
  cancel(task: Task): void;
  /** No more tasks: workers leave once the submitted ones are done. */
  close(): void;
  /** Stops everything now; returns the unfinished tasks it held, for the front end to fail. */
  terminate(): Task[];
  /** As terminate, after the pool broke: workers are killed. */
  abandon(): Task[];
  /** Resolves once every worker has exited. */
  join(): Promise<void>;
  stats(): BackendStats;
  /** Process ids of local workers (empty when they are elsewhere). */
  readonly pids: number[];
}
