import type { CodeRef } from '../targets.js';
import type { ErrorDescription } from './remote-error.js';

/**
 * The messages between a Pool and a worker, as short arrays: at chunksize 1
 * every task is a message, and arrays of plain data take the codec's JSON
 * path, the cheapest there is.
 */

// Pool → worker
export const DEFINE = 0; // [DEFINE, fnId, CodeRef, moduleUrl?]: name a function once per worker (and the module to load it from)
export const TASK = 1; // [TASK, taskId, fnId, kind, data, kwargs?]

export type DefineMessage = [typeof DEFINE, number, CodeRef] | [typeof DEFINE, number, CodeRef, string];
export type TaskMessage = [typeof TASK, number, number, TaskKind, unknown] | [typeof TASK, number, number, TaskKind, unknown, unknown];
export type ToWorker = DefineMessage | TaskMessage;

/** What a task holds: one call, or a chunk of a map or a starmap. */
export const CALL = 0; // data: the arguments; kwargs, when present, go last
export const MAP = 1; // data: items, each the one argument of a call
export const STARMAP = 2; // data: items, each the argument list of a call
export type TaskKind = typeof CALL | typeof MAP | typeof STARMAP;

// Worker → pool
export const READY = 0; // [READY, null] or [READY, ErrorDescription] when the initializer failed
export const RESULT = 1; // [RESULT, taskId, status, value, runMicroseconds]
// Without the addon (no shared word): the last task received, written before any of a read's tasks runs
export const RECEIVED = 2; // [RECEIVED, taskId]

export const OK = 0;
export const FAILED = 1; // value: ErrorDescription
export const UNSENDABLE = 2; // value: { value, reason }: the result could not be encoded

export type ReadyMessage = [typeof READY, ErrorDescription | null];
export type ResultMessage = [typeof RESULT, number, typeof OK | typeof FAILED | typeof UNSENDABLE, unknown, number];
export type ReceivedMessage = [typeof RECEIVED, number];
export type FromWorker = ReadyMessage | ResultMessage | ReceivedMessage;

/** What a worker gets in its arguments when it starts. */
export interface WorkerSetup {
  initializer: CodeRef | null;
  initargs: readonly unknown[];
}

// A chunk of numbers (items or results) travels as a Float64Array: V8 copies
// its bytes in one go, several times faster than JSON or a structured clone
// of an array, and every JS number, -0, NaN and Infinity included, is a
// float64, so nothing changes on the way. Small chunks stay arrays (JSON).
const PACK_AT_LEAST = 64;

export function packNumbers(values: unknown[]): unknown[] | Float64Array {
  if (values.length < PACK_AT_LEAST) return values;
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== 'number') return values;
  return Float64Array.from(values as number[]);
}
