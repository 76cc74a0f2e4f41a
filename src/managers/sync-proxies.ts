import { BaseProxy, setProxyType } from './proxy.js';

/** `{ block, timeout }` in milliseconds, as Python's queue methods take them. */
export interface QueueOptions {
  block?: boolean;
  timeout?: number | null;
}

/**
 * Proxies of the synchronisation typeids: a Queue, Lock, Event... that
 * lives in the manager's server, so any process that can reach the server
 * (on this machine or another) can use it.
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  put(item: T, options?: QueueOptions): Promise<void> {
    return this.callMethod('put', options === undefined ? [item] : [item, options]) as Promise<void>;
  }

  /** Resolves with the next item; Empty after `timeout`, or at once with `block: false`. */
  get(options?: QueueOptions): Promise<T> {
    return this.callMethod('get', options === undefined ? [] : [options]) as Promise<T>;
  }

  putNowait(item: T): Promise<void> {
    return this.callMethod('putNowait', [item]) as Promise<void>;
  }

  getNowait(): Promise<T> {
    return this.callMethod('getNowait') as Promise<T>;
  }

  qsize(): Promise<number> {
    return this.callMethod('qsize') as Promise<number>;
  }

  empty(): Promise<boolean> {
    return this.callMethod('empty') as Promise<boolean>;
  }

  full(): Promise<boolean> {
    return this.callMethod('full') as Promise<boolean>;
  }
}

export class JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  taskDone(): Promise<void> {
    return this.callMethod('taskDone') as Promise<void>;
  }

  /** Resolves when every item put has been marked done. */
  join(): Promise<void> {
    return this.callMethod('join') as Promise<void>;
  }
}

function acquireArgs(timeoutMs: number | null | undefined | { block?: boolean; timeout?: number | null }): unknown[] {
  if (timeoutMs === undefined) return [];
  if (timeoutMs === null || typeof timeoutMs === 'number') return [{ timeout: timeoutMs }];
  return [timeoutMs];
}

/** Lock, RLock, Semaphore and BoundedSemaphore (Python's AcquirerProxy). */
export class AcquirerProxy extends BaseProxy {
  /** Resolves true once acquired, false at the timeout (or at once with `{ block: false }`). */
  acquire(timeoutMs?: number | null | { block?: boolean; timeout?: number | null }): Promise<boolean> {
    return this.callMethod('acquire', acquireArgs(timeoutMs)) as Promise<boolean>;
  }

  release(): Promise<void> {
    return this.callMethod('release') as Promise<void>;
  }

  /** Runs `fn` while holding the lock (Python's `with lock:`). */
  async withLock<R>(fn: () => R | Promise<R>): Promise<R> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}

export class LockProxy extends AcquirerProxy {
  locked(): Promise<boolean> {
    return this.callMethod('locked') as Promise<boolean>;
  }
}

export class SemaphoreProxy extends AcquirerProxy {
  /** The counter's current value. */
  override getValue(): Promise<number> {
    return this.callMethod('getValue') as Promise<number>;
  }
}

export class EventProxy extends BaseProxy {
  set(): Promise<void> {
    return this.callMethod('set') as Promise<void>;
  }

  clear(): Promise<void> {
    return this.callMethod('clear') as Promise<void>;
  }

  isSet(): Promise<boolean> {
    return this.callMethod('isSet') as Promise<boolean>;
  }

  /** Resolves with the flag once it is set, or at `timeoutMs` (false then). */
  wait(timeoutMs?: number | null): Promise<boolean> {
    return this.callMethod('wait', timeoutMs === undefined ? [] : [timeoutMs]) as Promise<boolean>;
  }
}

export class ConditionProxy extends AcquirerProxy {
  /** Releases the lock, waits for a notify (or `timeoutMs`), takes the lock again; false on timeout. */
  wait(timeoutMs?: number | null): Promise<boolean> {
    return this.callMethod('wait', timeoutMs === undefined ? [] : [timeoutMs]) as Promise<boolean>;
  }

  /** Waits until `predicate()` is true (checked here, after each wake-up), up to `timeoutMs`; resolves with its last value. */
  async waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs?: number | null): Promise<boolean> {
    const deadline = timeoutMs === undefined || timeoutMs === null ? null : Date.now() + timeoutMs;
    let result = await predicate();
    while (!result) {
      const left = deadline === null ? null : deadline - Date.now();
      if (left !== null && left <= 0) break;
      await this.wait(left);
      result = await predicate();
    }
    return result;
  }

  notify(n = 1): Promise<void> {
    return this.callMethod('notify', [n]) as Promise<void>;
  }

  notifyAll(): Promise<void> {
    return this.callMethod('notifyAll') as Promise<void>;
  }
}

export class BarrierProxy extends BaseProxy {
  /** Resolves with this party's index (0 .. parties-1) once all have arrived; BrokenBarrierError otherwise. */
  wait(timeoutMs?: number | null): Promise<number> {
    return this.callMethod('wait', timeoutMs === undefined ? [] : [timeoutMs]) as Promise<number>;
  }

  abort(): Promise<void> {
    return this.callMethod('abort') as Promise<void>;
  }

  reset(): Promise<void> {
    return this.callMethod('reset') as Promise<void>;
  }

  parties(): Promise<number> {
    return this.callMethod('parties') as Promise<number>;
  }

  nWaiting(): Promise<number> {
    return this.callMethod('nWaiting') as Promise<number>;
  }

  broken(): Promise<boolean> {
    return this.callMethod('broken') as Promise<boolean>;
  }
}

setProxyType('Queue', QueueProxy);
setProxyType('JoinableQueue', JoinableQueueProxy);
setProxyType('Lock', LockProxy);
setProxyType('RLock', AcquirerProxy);
setProxyType('Semaphore', SemaphoreProxy);
setProxyType('BoundedSemaphore', SemaphoreProxy);
setProxyType('Condition', ConditionProxy);
setProxyType('Event', EventProxy);
setProxyType('Barrier', BarrierProxy);
