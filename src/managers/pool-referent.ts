import { fileURLToPath } from 'node:url';
import { runInThisContext } from 'node:vm';
import { resolveCode, type LoadedModule } from '../child/resolve.js';
import type { AsyncResult } from '../pool/async-result.js';
import { Pool, type PoolIterator } from '../pool/pool.js';
import type { CodeRef, ModuleRef } from '../targets.js';
import { FREED } from './context.js';

/** A task function as found in the server: it takes what the caller sent. */
type Task = (...args: unknown[]) => unknown;

/** What `manager.Pool()` sends the server: the module its workers import, and Python's Pool arguments. */
export interface PoolSpec {
  creator: ModuleRef;
  processes: number | null;
  initializer: CodeRef | null;
  initargs: unknown[];
  maxTasksPerChild: number | null;
}

/** The module that asked for the Pool is where its task functions are found, as for a Pool made there. */
function creatorModule(spec: PoolSpec): LoadedModule {
  return { ref: spec.creator, exports: undefined, role: 'the module that created the managed Pool' };
}

/**
 * `new Pool(options)` as if called from `creator`: a Pool's workers import
 * the module that created it, which it reads from its caller's stack frame,
 * and here that frame is the library's. A one-line function compiled under
 * the creator's file name stands in for it.
 */
function poolCreatedBy(creator: ModuleRef, options: ConstructorParameters<typeof Pool>[0]): Pool {
  const file = creator.commonjs ? fileURLToPath(creator.url) : creator.url;
  const construct = runInThisContext('(function createPool(P, o) { return new P(o); })', { filename: file }) as (P: typeof Pool, o: unknown) => Pool;
  return construct(Pool, options);
}

/**
 * The server's side of `manager.Pool()` (Python registers `pool.Pool`): a
 * real Pool whose workers the server starts. Task functions arrive
 * by name and source, and are found in the module that created the Pool;
 * iterables arrive as arrays. `applyAsync`, `mapAsync` and `starmapAsync`
 * return an AsyncResult and `imap` an iterator that stay in the server: the
 * caller gets proxies to them (Python's method_to_typeid).
 */
export class ManagedPool {
  static readonly exposed = ['apply', 'applyAsync', 'map', 'mapAsync', 'starmap', 'starmapAsync', 'imap', 'imapUnordered', 'close', 'terminate', 'join'];
  static readonly methodToTypeid = { applyAsync: 'AsyncResult', mapAsync: 'AsyncResult', starmapAsync: 'AsyncResult', imap: 'Iterator', imapUnordered: 'Iterator' };
  readonly #pool: Pool;
  readonly #creator: LoadedModule;
  readonly #functions = new Map<string, Promise<Task>>();

  private constructor(pool: Pool, creator: LoadedModule) {
    this.#pool = pool;
    this.#creator = creator;
  }

  static async create(spec: PoolSpec): Promise<ManagedPool> {
    const creator = creatorModule(spec);
    const initializer = spec.initializer === null ? null : ((await resolveCode(spec.initializer, [creator], 'the Pool\'s initializer')) as Task);
    const pool = poolCreatedBy(spec.creator, { processes: spec.processes, initializer, initargs: spec.initargs, maxTasksPerChild: spec.maxTasksPerChild });
    return new ManagedPool(pool, creator);
  }

  async apply(fn: CodeRef, args: unknown[], kwargs?: unknown): Promise<unknown> {
    return this.#pool.apply(await this.#function(fn), args, kwargs);
  }

  async applyAsync(fn: CodeRef, args: unknown[], kwargs?: unknown): Promise<ManagedAsyncResult> {
    return new ManagedAsyncResult(this.#pool.applyAsync(await this.#function(fn), args, { kwargs }));
  }

  async map(fn: CodeRef, items: unknown[], chunksize?: number | null): Promise<unknown[]> {
    return this.#pool.map(await this.#function(fn), items, chunksize);
  }

  async mapAsync(fn: CodeRef, items: unknown[], chunksize?: number | null): Promise<ManagedAsyncResult> {
    return new ManagedAsyncResult(this.#pool.mapAsync(await this.#function(fn), items, chunksize));
  }

  async starmap(fn: CodeRef, items: unknown[][], chunksize?: number | null): Promise<unknown[]> {
    return this.#pool.starmap(await this.#function(fn), items, chunksize);
  }

  async starmapAsync(fn: CodeRef, items: unknown[][], chunksize?: number | null): Promise<ManagedAsyncResult> {
    return new ManagedAsyncResult(this.#pool.starmapAsync(await this.#function(fn), items, chunksize));
  }

  async imap(fn: CodeRef, items: unknown[], chunksize?: number | null): Promise<ManagedIterator> {
    return new ManagedIterator(this.#pool.imap(await this.#function(fn), items, chunksize));
  }

  async imapUnordered(fn: CodeRef, items: unknown[], chunksize?: number | null): Promise<ManagedIterator> {
    return new ManagedIterator(this.#pool.imapUnordered(await this.#function(fn), items, chunksize));
  }

  close(): void {
    this.#pool.close();
  }

  terminate(): void {
    this.#pool.terminate();
  }

  join(): Promise<void> {
    return this.#pool.join();
  }

  /** Freed (its last proxy gone, or the server shutting down): as Python's Pool finalizer, it terminates. */
  [FREED](): void {
    this.#pool.terminate();
  }

  #function(ref: CodeRef): Promise<Task> {
    if (ref === null || typeof ref !== 'object' || typeof ref.name !== 'string' || typeof ref.source !== 'string') {
      return Promise.reject(new TypeError('a managed Pool\'s task function arrives as { name, source }: call it through its proxy'));
    }
    const key = `${ref.name}\0${ref.source}`;
    let found = this.#functions.get(key);
    if (found === undefined) {
      found = resolveCode(ref, [this.#creator], `the task function ${ref.name}`) as Promise<Task>;
      found.catch(() => this.#functions.delete(key));
      this.#functions.set(key, found);
    }
    return found;
  }
}

type Settling = Pick<AsyncResult<unknown>, 'get' | 'wait' | 'ready' | 'successful' | 'promise'>;

/** The server's side of an AsyncResult proxy (Python's 'AsyncResult' typeid). */
export class ManagedAsyncResult {
  static readonly exposed = ['get', 'wait', 'ready', 'successful'];
  readonly #result: Settling;

  constructor(result: Settling) {
    this.#result = result;
    // Its failure is the caller's to see through get(); unread, it must not end the server.
    result.promise.catch(() => undefined);
  }

  get(timeoutMs?: number | null): Promise<unknown> {
    return this.#result.get(timeoutMs);
  }

  wait(timeoutMs?: number | null): Promise<void> {
    return this.#result.wait(timeoutMs);
  }

  ready(): boolean {
    return this.#result.ready();
  }

  successful(): boolean {
    return this.#result.successful();
  }
}

/** The server's side of an imap iterator proxy (Python's 'Iterator' typeid). */
export class ManagedIterator {
  static readonly exposed = ['next', 'return'];
  readonly #iterator: PoolIterator<unknown>;

  constructor(iterator: PoolIterator<unknown>) {
    this.#iterator = iterator;
  }

  next(timeoutMs?: number | null): Promise<IteratorResult<unknown>> {
    return this.#iterator.next(timeoutMs);
  }

  return(): Promise<IteratorResult<unknown>> {
    return this.#iterator.return();
  }

  /** Freed before the end: its queued tasks are dropped. */
  [FREED](): void {
    void this.#iterator.return().catch(() => undefined);
  }
}
