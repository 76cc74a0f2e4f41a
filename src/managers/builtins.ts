import { ManagedArray, ManagedDict, ManagedList, ManagedNamespace, ManagedValue } from './containers.js';
import {
  ManagedBarrier,
  ManagedBoundedSemaphore,
  ManagedCondition,
  ManagedEvent,
  ManagedJoinableQueue,
  ManagedLock,
  ManagedQueue,
  ManagedRLock,
  ManagedSemaphore,
} from './sync-referents.js';
import { ManagedPool, type PoolSpec } from './pool-referent.js';
import { SegmentTracker } from './segment-tracker.js';

/**
 * The typeids a SyncManager registers (Python's list), by name: the server
 * finds these in the library, with no user code to import.
 */
export const BUILTIN_TYPES: Readonly<Record<string, (...args: unknown[]) => object>> = {
  dict: (init?: unknown) => new ManagedDict(init),
  list: (init?: unknown) => new ManagedList(init),
  Namespace: (init?: unknown) => new ManagedNamespace(init),
  Value: (typecode: unknown, value: unknown) => new ManagedValue(typecode, value),
  Array: (typecode: unknown, init: unknown) => new ManagedArray(typecode, init),
  Queue: (maxsize?: unknown) => new ManagedQueue(maxsize),
  JoinableQueue: (maxsize?: unknown) => new ManagedJoinableQueue(maxsize),
  Lock: () => new ManagedLock(),
  RLock: () => new ManagedRLock(),
  Semaphore: (value?: unknown) => new ManagedSemaphore(value),
  BoundedSemaphore: (value?: unknown) => new ManagedBoundedSemaphore(value),
  Condition: () => new ManagedCondition(),
  Event: () => new ManagedEvent(),
  Barrier: (parties: unknown, options?: unknown) => new ManagedBarrier(parties, options),
  Pool: (spec: unknown) => ManagedPool.create(spec as PoolSpec) as unknown as object,
  // A SharedMemoryManager's, not a SyncManager's (see SYNC_TYPEIDS).
  SegmentTracker: () => new SegmentTracker(),
};

/** The typeids a SyncManager registers. */
export const SYNC_TYPEIDS = Object.keys(BUILTIN_TYPES).filter((typeid) => typeid !== 'SegmentTracker');
