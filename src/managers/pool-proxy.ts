import type { TaskFunction } from '../pool/pool.js';
import { describeCode, type CodeRef } from '../targets.js';
import { BaseProxy, setProxyType } from './proxy.js';

/** A task function, named for the server, which finds it in the module that created the Pool. */
function named(fn: TaskFunction): CodeRef {
  if (typeof fn !== 'function') throw new TypeError(`a managed Pool's task must be a function defined at the top level of a module, not ${fn === null ? 'null' : typeof fn}`);
  return describeCode(fn, `the task function ${fn.name || '(anonymous)'}`);
}

/** The items of an iterable, read whole here: only values travel to the server (Python's proxy sends a list too). */
async function itemsOf<T>(iterable: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  if (iterable !== null && typeof iterable === 'object' && Symbol.asyncIterator in iterable) {
    const items: T[] = [];
    for await (const item of iterable) items.push(item);
    return items;
  }
  if (iterable === null || iterable === undefined || typeof (iterable as Iterable<T>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`a managed Pool maps over an iterable (an array, a Set, a generator...), not ${iterable === null ? 'null' : typeof iterable}`);
  }
  return [...(iterable as Iterable<T>)];
}

/**
 * A proxy of a Pool that lives in the manager's server (`manager.Pool()`):
 * any process holding it submits tasks to the same workers, and results come
 * back through the proxy. Task functions must be defined at the top level of
 * the module that called `manager.Pool()` (or imported there), as for a
 * Pool made there. `await using` terminates the Pool, as Python's `with`.
 */
export class PoolProxy extends BaseProxy {
  async apply<F extends TaskFunction>(fn: F, args: Parameters<F> | [] = [], kwargs?: unknown): Promise<Awaited<ReturnType<F>>> {
    return (await this.callMethod('apply', kwargs === undefined ? [named(fn), args] : [named(fn), args, kwargs])) as Awaited<ReturnType<F>>;
  }

  async applyAsync<F extends TaskFunction>(fn: F, args: Parameters<F> | [] = [], kwargs?: unknown): Promise<AsyncResultProxy<Awaited<ReturnType<F>>>> {
    return (await this.callMethod('applyAsync', kwargs === undefined ? [named(fn), args] : [named(fn), args, kwargs])) as AsyncResultProxy<Awaited<ReturnType<F>>>;
  }

  async map<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | null): Promise<Awaited<R>[]> {
    return (await this.callMethod('map', [named(fn as TaskFunction), await itemsOf(iterable), chunksize ?? null])) as Awaited<R>[];
  }

  async mapAsync<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | null): Promise<AsyncResultProxy<Awaited<R>[]>> {
    return (await this.callMethod('mapAsync', [named(fn as TaskFunction), await itemsOf(iterable), chunksize ?? null])) as AsyncResultProxy<Awaited<R>[]>;
  }

  async starmap<A extends readonly unknown[], R>(fn: (...args: A) => R, iterable: Iterable<A> | AsyncIterable<A>, chunksize?: number | null): Promise<Awaited<R>[]> {
    return (await this.callMethod('starmap', [named(fn as TaskFunction), await itemsOf(iterable), chunksize ?? null])) as Awaited<R>[];
  }

  async starmapAsync<A extends readonly unknown[], R>(fn: (...args: A) => R, iterable: Iterable<A> | AsyncIterable<A>, chunksize?: number | null): Promise<AsyncResultProxy<Awaited<R>[]>> {
    return (await this.callMethod('starmapAsync', [named(fn as TaskFunction), await itemsOf(iterable), chunksize ?? null])) as AsyncResultProxy<Awaited<R>[]>;
  }

  /** Results in input order, each fetched from the server as the iteration reaches it. */
  async imap<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | null): Promise<IteratorProxy<Awaited<R>>> {
    return (await this.callMethod('imap', [named(fn as TaskFunction), await itemsOf(iterable), chunksize ?? null])) as IteratorProxy<Awaited<R>>;
  }

  /** As `imap`, in the order the results finish. */
  async imapUnordered<T, R>(fn: (item: T) => R, iterable: Iterable<T> | AsyncIterable<T>, chunksize?: number | null): Promise<IteratorProxy<Awaited<R>>> {
    return (await this.callMethod('imapUnordered', [named(fn as TaskFunction), await itemsOf(iterable), chunksize ?? null])) as IteratorProxy<Awaited<R>>;
  }

  close(): Promise<void> {
    return this.callMethod('close') as Promise<void>;
  }

  terminate(): Promise<void> {
    return this.callMethod('terminate') as Promise<void>;
  }

  join(): Promise<void> {
    return this.callMethod('join') as Promise<void>;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.terminate();
    } finally {
      this.dispose();
    }
  }
}

/** A proxy of an AsyncResult held by the server (what `applyAsync` and `mapAsync` resolve with). */
export class AsyncResultProxy<T = unknown> extends BaseProxy {
  /** The result; its error when the task failed; TimeoutError after `timeoutMs`. */
  get(timeoutMs?: number | null): Promise<T> {
    return this.callMethod('get', timeoutMs === undefined ? [] : [timeoutMs]) as Promise<T>;
  }

  wait(timeoutMs?: number | null): Promise<void> {
    return this.callMethod('wait', timeoutMs === undefined ? [] : [timeoutMs]) as Promise<void>;
  }

  ready(): Promise<boolean> {
    return this.callMethod('ready') as Promise<boolean>;
  }

  /** Whether it finished without error; ValueError while not ready, as Python. */
  successful(): Promise<boolean> {
    return this.callMethod('successful') as Promise<boolean>;
  }
}

/** A proxy of an `imap` iterator held by the server: `for await (const r of it)`, or `next(timeoutMs)`. */
export class IteratorProxy<T = unknown> extends BaseProxy implements AsyncIterableIterator<T> {
  /** The next result; TimeoutError when none comes within `timeoutMs` (the iterator stays usable). */
  next(timeoutMs?: number | null): Promise<IteratorResult<T>> {
    return this.callMethod('next', timeoutMs === undefined ? [] : [timeoutMs]) as Promise<IteratorResult<T>>;
  }

  /** Stops early: the tasks still queued are dropped (what `break` does). */
  return(): Promise<IteratorResult<T>> {
    return this.callMethod('return') as Promise<IteratorResult<T>>;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

setProxyType('Pool', PoolProxy);
setProxyType('AsyncResult', AsyncResultProxy);
setProxyType('Iterator', IteratorProxy);
