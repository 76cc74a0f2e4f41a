// Locks, semaphores, events, conditions and barriers shared between
// processes (Python's multiprocessing.synchronize), one concept per module of ./sync.
export { Lock, RLock, type LockOptions } from './sync/lock.js';
export { Semaphore, BoundedSemaphore } from './sync/semaphore.js';
export { Event } from './sync/event.js';
export { Condition } from './sync/condition.js';
export { Barrier, type BarrierOptions } from './sync/barrier.js';
export { BrokenBarrierError, OwnerDiedError } from './sync/errors.js';
