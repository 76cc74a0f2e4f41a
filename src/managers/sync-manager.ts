import type { TaskFunction } from '../pool/pool.js';
import { callerFile, describeCode, moduleOf } from '../targets.js';
import { invalidArgType } from '../errors.js';
import { BaseManager, CREATE, type ManagerOptions } from './base-manager.js';
import { BUILTIN_TYPES, SYNC_TYPEIDS } from './builtins.js';
import type { ArrayProxy, DictProxy, ListProxy, NamespaceProxy, ValueProxy } from './container-proxies.js';
import type { AcquirerProxy, BarrierProxy, ConditionProxy, EventProxy, JoinableQueueProxy, LockProxy, QueueProxy, SemaphoreProxy } from './sync-proxies.js';
import './container-proxies.js';
import './sync-proxies.js';
import { ManagedPool, type PoolSpec } from './pool-referent.js';
import type { PoolProxy } from './pool-proxy.js';
import './pool-proxy.js';

/** Python's Pool arguments, for `manager.Pool()`; functions are found by name in the module that calls it. */
export interface ManagedPoolOptions {
  /** Number of workers; default `cpuCount()`. */
  processes?: number | null;
  /** Called in each worker when it starts, with `initargs`. */
  initializer?: TaskFunction | null;
  initargs?: readonly unknown[];
  /** A worker is replaced after this many tasks. */
  maxTasksPerChild?: number | null;
}

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

  /**
   * A Pool in the server, which starts its workers (Python's
   * `manager.Pool()`): its proxy travels to other processes, which submit
   * to the same workers. Task functions are found in the module that calls
   * this, as for a Pool made there.
   */
  Pool(options?: number | ManagedPoolOptions | null): Promise<PoolProxy> {
    let spec: PoolSpec;
    try {
      spec = poolSpec(options, callerFile(SyncManager.prototype.Pool));
    } catch (err) {
      return Promise.reject(err);
    }
    return this[CREATE]('Pool', [spec]) as Promise<PoolProxy>;
  }
}

function poolSpec(options: number | ManagedPoolOptions | null | undefined, caller: string | null): PoolSpec {
  const o: ManagedPoolOptions = typeof options === 'number' ? { processes: options } : (options ?? {});
  if (typeof o !== 'object') throw invalidArgType('"options" argument', 'a number of workers or { processes, initializer, initargs, maxTasksPerChild }', options);
  const initializer = o.initializer ?? null;
  if (initializer !== null && typeof initializer !== 'function') throw new TypeError('initializer must be a callable');
  return {
    creator: moduleOf(caller, 'the code that creates this managed Pool'),
    processes: o.processes ?? null,
    initializer: initializer === null ? null : describeCode(initializer, 'the Pool\'s initializer'),
    initargs: [...(o.initargs ?? [])],
    maxTasksPerChild: o.maxTasksPerChild ?? null,
  };
}

for (const typeid of SYNC_TYPEIDS) SyncManager.register(typeid, BUILTIN_TYPES[typeid], { create: typeid !== 'Pool', methodToTypeid: typeid === 'Pool' ? ManagedPool.methodToTypeid : null });
// What a managed Pool's methods return stays in the server; the caller gets proxies (no method of their own on the manager).
SyncManager.register('AsyncResult', null, { create: false });
SyncManager.register('Iterator', null, { create: false });

/** Starts a SyncManager (Python's `multiprocessing.Manager()`): resolves once its server process serves. */
export async function Manager(options?: ManagerOptions): Promise<SyncManager> {
  const manager = new SyncManager(options);
  await manager.start();
  return manager;
}
