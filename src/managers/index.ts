/** Managers (Python's multiprocessing.managers): the public names, re-exported by the package's index. */
export { BaseManager } from './base-manager.js';
export type { ManagerOptions, RegisterOptions } from './base-manager.js';
export { SyncManager, Manager } from './sync-manager.js';
export type { ManagedPoolOptions } from './sync-manager.js';
export { PoolProxy, AsyncResultProxy, IteratorProxy } from './pool-proxy.js';
export { Server } from './server.js';
export { BaseProxy, AutoProxy } from './proxy.js';
export type { ProxyClass } from './proxy.js';
export { DictProxy, ListProxy, NamespaceProxy, ValueProxy, ArrayProxy } from './container-proxies.js';
export { QueueProxy, JoinableQueueProxy, AcquirerProxy, LockProxy, SemaphoreProxy, EventProxy, ConditionProxy, BarrierProxy } from './sync-proxies.js';
export type { QueueOptions } from './sync-proxies.js';
export { RemoteError, KeyError, IndexError, AttributeError } from './errors.js';
export { SharedMemoryManager } from './shared-memory-manager.js';
