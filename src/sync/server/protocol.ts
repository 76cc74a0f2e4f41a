/**
 * What travels between a process and the sync server (./server-thread.ts),
 * which holds the state of every primitive made where the native addon
 * cannot load. Each message is one structured-cloned value on a multiproc
 * Connection; replies carry the request's `seq`, since a waiting acquire may
 * be answered after later requests of the same connection.
 */

export type RemoteKind = 'Lock' | 'RLock' | 'Semaphore' | 'BoundedSemaphore' | 'Event' | 'Condition' | 'Barrier' | 'Value' | 'Array';

/** An Array's contents as they travel and as the server keeps them: a typed array of its type. */
export type Contents = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

/**
 * Names a primitive on the server. The server makes its state on first
 * sight of the id, so creating one costs no round trip; `init` is a
 * semaphore's initial value, `robust` a lock's option.
 */
export interface RemoteRef {
  readonly id: string;
  readonly kind: RemoteKind;
  /** A semaphore's initial value, a Barrier's parties, an Array's length. */
  readonly init: number;
  readonly robust: boolean;
  /** A Value's or an Array's typecode. */
  readonly typecode?: string;
}

/** The FIFOs of one process's link (see ./client.ts): the server opens them when the link thread registers them. */
export interface Fifos {
  requests: string;
  syncReplies: string;
  asyncReplies: string;
}

/** What the link thread sends on its connection, once: the FIFOs to open. The server answers `true`. */
export interface Registration {
  fifos: Fifos;
}

export type RemoteOp = 'acquire' | 'release' | 'state' | 'set' | 'clear' | 'wait' | 'notify' | 'get' | 'put' | 'pass' | 'abort' | 'reset';

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
  /** notify: how many waiters to wake; a Barrier's wait: 1 when the caller has an action to run before the others go. */
  n?: number;
  /** get and put on an Array: the element; none for the whole contents. */
  index?: number;
  /** put: a Value's or an element's new contents (already coerced to its type by the caller), or an Array's whole contents. */
  value?: number | bigint | Contents;
}

/** A primitive's state as `toString`, `locked()`, `isSet()` and `getValue()` need it. */
export interface RemoteState {
  /** The holder's `pid:thread`, '' when free (locks); '1' when set (events) or broken (barriers). */
  holder: string;
  /** An RLock's depth; a semaphore's value; an event's flag as 0 or 1; a condition's waiters; a barrier's waiting parties. */
  count: number;
}

/** A reply; a negative `seq` answers a blocking call (it goes to the blocking FIFO). */
export interface Reply {
  seq: number;
  /** acquire/wait: whether it succeeded (a Barrier's wait: the arrival index); state: the state; get: the contents; others: true. */
  result?: boolean | RemoteState | number | bigint | Contents;
  /** Python's error for a wrong call (a release too many, a broken barrier), by class name. */
  error?: { name: 'ValueError' | 'AssertionError' | 'OSError' | 'BrokenBarrierError'; message: string };
  /** A robust lock taken over from a process that died holding it: its pid. */
  ownerDied?: number;
}
