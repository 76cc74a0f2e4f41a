import { BaseProxy, setProxyType } from './proxy.js';

/**
 * Typed proxies of the container typeids. Every method returns a Promise; a
 * value that comes back is a copy (changing it changes nothing in the
 * server), except a proxy stored in the container, which comes back as a
 * proxy to the same object (Python's nested proxies).
 */
export class DictProxy<K = unknown, V = unknown> extends BaseProxy {
  /** The value for `key`, or `fallback` (undefined when not given) when the dict has none. */
  get(key: K): Promise<V | undefined>;
  get<D>(key: K, fallback: D): Promise<V | D>;
  get(key: K, ...fallback: unknown[]): Promise<unknown> {
    return this.callMethod('get', [key, ...fallback]);
  }

  set(key: K, value: V): Promise<void> {
    return this.callMethod('set', [key, value]) as Promise<void>;
  }

  has(key: K): Promise<boolean> {
    return this.callMethod('has', [key]) as Promise<boolean>;
  }

  /** Removes `key`; resolves with whether it was there (as Map.delete). */
  delete(key: K): Promise<boolean> {
    return this.callMethod('delete', [key]) as Promise<boolean>;
  }

  keys(): Promise<K[]> {
    return this.callMethod('keys') as Promise<K[]>;
  }

  values(): Promise<V[]> {
    return this.callMethod('values') as Promise<V[]>;
  }

  items(): Promise<Array<[K, V]>> {
    return this.callMethod('items') as Promise<Array<[K, V]>>;
  }

  /** Adds the entries of a Map, a plain object, or an array of [key, value] pairs. */
  update(entries: Map<K, V> | Iterable<readonly [K, V]> | (K extends string ? Record<K, V> : never)): Promise<void> {
    const plain = entries instanceof Map || Array.isArray(entries) || Object.getPrototypeOf(entries) === Object.prototype ? entries : [...(entries as Iterable<[K, V]>)];
    return this.callMethod('update', [plain]) as Promise<void>;
  }

  /** Removes `key` and resolves with its value; without a fallback, a missing key is a KeyError. */
  pop(key: K): Promise<V>;
  pop<D>(key: K, fallback: D): Promise<V | D>;
  pop(key: K, ...fallback: unknown[]): Promise<unknown> {
    return this.callMethod('pop', [key, ...fallback]);
  }

  /** Removes and resolves with the last entry; KeyError when empty. */
  popitem(): Promise<[K, V]> {
    return this.callMethod('popitem') as Promise<[K, V]>;
  }

  setdefault(key: K, value: V): Promise<V> {
    return this.callMethod('setdefault', [key, value]) as Promise<V>;
  }

  clear(): Promise<void> {
    return this.callMethod('clear') as Promise<void>;
  }

  len(): Promise<number> {
    return this.callMethod('len') as Promise<number>;
  }

  /** A copy, as a Map. */
  copy(): Promise<Map<K, V>> {
    return this.callMethod('copy') as Promise<Map<K, V>>;
  }

  /** `for await (const [key, value] of dict)`: the entries as they are when the loop starts. */
  async *[Symbol.asyncIterator](): AsyncIterator<[K, V]> {
    yield* await this.items();
  }
}

export class ListProxy<T = unknown> extends BaseProxy {
  /** The item at `index` (negative counts from the end); IndexError when out of range. */
  get(index: number): Promise<T> {
    return this.callMethod('get', [index]) as Promise<T>;
  }

  set(index: number, value: T): Promise<void> {
    return this.callMethod('set', [index, value]) as Promise<void>;
  }

  append(value: T): Promise<void> {
    return this.callMethod('append', [value]) as Promise<void>;
  }

  extend(values: Iterable<T>): Promise<void> {
    return this.callMethod('extend', [Array.isArray(values) ? values : [...values]]) as Promise<void>;
  }

  insert(index: number, value: T): Promise<void> {
    return this.callMethod('insert', [index, value]) as Promise<void>;
  }

  pop(index?: number): Promise<T> {
    return this.callMethod('pop', index === undefined ? [] : [index]) as Promise<T>;
  }

  /** Removes the first item equal (by value) to `value`; ValueError when there is none. */
  remove(value: T): Promise<void> {
    return this.callMethod('remove', [value]) as Promise<void>;
  }

  index(value: T): Promise<number> {
    return this.callMethod('index', [value]) as Promise<number>;
  }

  count(value: T): Promise<number> {
    return this.callMethod('count', [value]) as Promise<number>;
  }

  /** Sorts numbers or strings in place, as Python's list.sort() (no comparison function: it would not travel). */
  sort(options?: { reverse?: boolean }): Promise<void> {
    return this.callMethod('sort', options === undefined ? [] : [options]) as Promise<void>;
  }

  reverse(): Promise<void> {
    return this.callMethod('reverse') as Promise<void>;
  }

  slice(start?: number, end?: number): Promise<T[]> {
    return this.callMethod('slice', end === undefined ? [start ?? 0] : [start ?? 0, end]) as Promise<T[]>;
  }

  len(): Promise<number> {
    return this.callMethod('len') as Promise<number>;
  }

  copy(): Promise<T[]> {
    return this.callMethod('copy') as Promise<T[]>;
  }

  clear(): Promise<void> {
    return this.callMethod('clear') as Promise<void>;
  }

  /** `for await (const item of list)`: the items as they are when the loop starts. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    yield* await this.copy();
  }
}

/** A Namespace's attributes, each read or written through the server; `T` types them. */
export class NamespaceProxy<T extends Record<string, unknown> = Record<string, unknown>> extends BaseProxy {
  /** The attribute `name`; AttributeError when there is none. */
  get<N extends keyof T & string>(name: N): Promise<T[N]> {
    return this.callMethod('get', [name]) as Promise<T[N]>;
  }

  set<N extends keyof T & string>(name: N, value: T[N]): Promise<void> {
    return this.callMethod('set', [name, value]) as Promise<void>;
  }

  has(name: string): Promise<boolean> {
    return this.callMethod('has', [name]) as Promise<boolean>;
  }

  delete(name: keyof T & string): Promise<void> {
    return this.callMethod('delete', [name]) as Promise<void>;
  }

  /** A copy of every attribute, as a plain object. */
  override getValue(): Promise<T> {
    return this.callMethod('getValue') as Promise<T>;
  }

  /** Python's repr, `Namespace(x=1, y='a')`, from the server. */
  repr(): Promise<string> {
    return this.callMethod('toString') as Promise<string>;
  }
}

export class ValueProxy<T = unknown> extends BaseProxy {
  get(): Promise<T> {
    return this.callMethod('get') as Promise<T>;
  }

  set(value: T): Promise<void> {
    return this.callMethod('set', [value]) as Promise<void>;
  }
}

export class ArrayProxy<T extends number | bigint = number> extends BaseProxy {
  get(index: number): Promise<T> {
    return this.callMethod('get', [index]) as Promise<T>;
  }

  set(index: number, value: T): Promise<void> {
    return this.callMethod('set', [index, value]) as Promise<void>;
  }

  len(): Promise<number> {
    return this.callMethod('len') as Promise<number>;
  }

  slice(start?: number, end?: number): Promise<T[]> {
    return this.callMethod('slice', end === undefined ? [start ?? 0] : [start ?? 0, end]) as Promise<T[]>;
  }

  override getValue(): Promise<T[]> {
    return this.callMethod('getValue') as Promise<T[]>;
  }
}

setProxyType('dict', DictProxy);
setProxyType('list', ListProxy);
setProxyType('Namespace', NamespaceProxy);
setProxyType('Value', ValueProxy);
setProxyType('Array', ArrayProxy);
