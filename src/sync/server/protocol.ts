/**
 * What travels between a process and the sync server (./server-thread.ts),
 * which holds the state of every primitive made where the native addon
 * cannot load. Each message is one structured-cloned value on a multiproc
 * Connection; replies carry the request's `seq`, since a waiting acquire may
 * be answered after later requests of the same connection.
 */

export type RemoteKind = 'Lock' | 'RLock' | 'Semaphore' | 'BoundedSemaphore' | 'Event' | 'Condition' | 'Value';

/**
 * Names a primitive on the server. The server makes its state on first
 * sight of the id, so creating one costs no round trip; `init` is a
 * semaphore's initial value, `robust` a lock's option.
 */
export interface RemoteRef {
  readonly id: string;
  readonly kind: RemoteKind;
  readonly init: number;
  readonly robust: boolean;
  /** A Value's typecode. */
  readonly typecode?: string;
}

export type RemoteOp = 'acquire' | 'release' | 'state' | 'set' | 'clear' | 'wait' | 'notify' | 'get' | 'put';

export interface Request {
  seq: number;
  ref: RemoteRef;
  op: RemoteOp;
  /** `pid:threadId` of the caller: a lock's holder, an RLock's owner. */
  owner: string;
  /** For acquire and wait: null waits forever, 0 only tries. */
  timeoutMs: number | null;
  /** A Condition's lock (wait and notify check that the caller holds it; wait releases and re-takes it). */
  lock?: RemoteRef;
  /** notify: how many waiters to wake. */
  n?: number;
  /** put: a Value's new contents (already coerced to its type by the caller). */
  value?: number | bigint;
}

/** A primitive's state as `toString`, `locked()`, `isSet()` and `getValue()` need it. */
export interface RemoteState {
  /** The holder's `pid:thread`, '' when free (locks). */
  holder: string;
  /** An RLock's depth; a semaphore's value; an event's flag as 0 or 1; a condition's waiters. */
  count: number;
}

export interface Reply {
  seq: number;
  /** acquire/wait: whether it succeeded; state: the state; others: true. */
  result?: boolean | RemoteState | number | bigint;
  /** Python's error for a wrong call (a release too many), by class name. */
  error?: { name: 'ValueError' | 'AssertionError' | 'OSError'; message: string };
  /** A robust lock taken over from a process that died holding it: its pid. */
  ownerDied?: number;
}
