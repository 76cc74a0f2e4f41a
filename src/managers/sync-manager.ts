import { BaseManager, type ManagerOptions } from './base-manager.js';
import { BUILTIN_TYPES } from './builtins.js';
import type { ArrayProxy, DictProxy, ListProxy, NamespaceProxy, ValueProxy } from './container-proxies.js';
import type { AcquirerProxy, BarrierProxy, ConditionProxy, EventProxy, JoinableQueueProxy, LockProxy, QueueProxy, SemaphoreProxy } from './sync-proxies.js';
import './container-proxies.js';
import './sync-proxies.js';

/**
 * Python's `SyncManager`: a manager with the shared types registered, each
 * a method that resolves with a typed proxy.
 *
 *     await using manager = await Manager();
 *     const d = await manager.dict<string, number>({ a: 1 });
 */
export class SyncManager extends BaseManager {
  declare dict: <K = unknown, V = unknown>(init?: Map<K, V> | Iterable<readonly [K, V]> | Record<string, V>) => Promise<DictProxy<K, V>>;
  declare list: <T = unknown>(init?: readonly T[]) => Promise<ListProxy<T>>;
  declare Namespace: <T extends Record<string, unknown> = Record<string, unknown>>(init?: T) => Promise<NamespaceProxy<T>>;
  declare Queue: <T = unknown>(maxsize?: number) => Promise<QueueProxy<T>>;
  declare JoinableQueue: <T = unknown>(maxsize?: number) => Promise<JoinableQueueProxy<T>>;
  declare Lock: () => Promise<LockProxy>;
  declare RLock: () => Promise<AcquirerProxy>;
  declare Semaphore: (value?: number) => Promise<SemaphoreProxy>;
  declare BoundedSemaphore: (value?: number) => Promise<SemaphoreProxy>;
  declare Condition: () => Promise<ConditionProxy>;
  declare Event: () => Promise<EventProxy>;
  declare Barrier: (parties: number, options?: { timeout?: number | null }) => Promise<BarrierProxy>;
  declare Value: <T = number>(typecode: string, value: T) => Promise<ValueProxy<T>>;
  declare Array: <T extends number | bigint = number>(typecode: string, sequence: readonly NoInfer<T>[] | number) => Promise<ArrayProxy<T>>;
}

for (const [typeid, make] of Object.entries(BUILTIN_TYPES)) SyncManager.register(typeid, make);

/** Starts a SyncManager (Python's `multiprocessing.Manager()`): resolves once its server process serves. */
export async function Manager(options?: ManagerOptions): Promise<SyncManager> {
  const manager = new SyncManager(options);
  await manager.start();
  return manager;
}
