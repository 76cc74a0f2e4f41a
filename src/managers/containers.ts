import { isDeepStrictEqual } from 'node:util';
import { ValueError } from '../errors.js';
import { AttributeError, IndexError, KeyError } from './errors.js';

/**
 * The server's side of the container typeids: what a dict, list,
 * Namespace, Value and Array proxy call. Values arrive as copies (they
 * crossed a process boundary), so equality is by value, as Python's `==`.
 */

function describeKey(key: unknown): string {
  return typeof key === 'string' ? `'${key}'` : String(key);
}

export class ManagedDict {
  static readonly exposed = ['get', 'set', 'has', 'delete', 'keys', 'values', 'items', 'update', 'pop', 'popitem', 'setdefault', 'clear', 'len', 'copy', 'getValue'];
  readonly #map: Map<unknown, unknown>;

  constructor(init?: unknown) {
    this.#map = new Map();
    if (init !== undefined && init !== null) this.update(init);
  }

  get(key: unknown, ...fallback: unknown[]): unknown {
    return this.#map.has(key) ? this.#map.get(key) : fallback[0];
  }

  set(key: unknown, value: unknown): void {
    this.#map.set(key, value);
  }

  has(key: unknown): boolean {
    return this.#map.has(key);
  }

  delete(key: unknown): boolean {
    return this.#map.delete(key);
  }

  keys(): unknown[] {
    return [...this.#map.keys()];
  }

  values(): unknown[] {
    return [...this.#map.values()];
  }

  items(): Array<[unknown, unknown]> {
    return [...this.#map.entries()];
  }

  update(entries: unknown): void {
    if (entries instanceof Map) for (const [k, v] of entries) this.#map.set(k, v);
    else if (Array.isArray(entries)) {
      for (const pair of entries) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new ValueError('update() takes a Map, a plain object, or an array of [key, value] pairs');
        this.#map.set(pair[0], pair[1]);
      }
    } else if (typeof entries === 'object' && entries !== null) for (const [k, v] of Object.entries(entries)) this.#map.set(k, v);
    else throw new TypeError(`update() takes a Map, a plain object, or an array of [key, value] pairs, not ${typeof entries}`);
  }

  pop(key: unknown, ...fallback: unknown[]): unknown {
    if (this.#map.has(key)) {
      const value = this.#map.get(key);
      this.#map.delete(key);
      return value;
    }
    if (fallback.length > 0) return fallback[0];
    throw new KeyError(describeKey(key));
  }

  popitem(): [unknown, unknown] {
    const last = [...this.#map.keys()].pop();
    if (last === undefined && this.#map.size === 0) throw new KeyError('popitem(): dictionary is empty');
    const value = this.#map.get(last);
    this.#map.delete(last);
    return [last, value];
  }

  setdefault(key: unknown, value: unknown = null): unknown {
    if (!this.#map.has(key)) this.#map.set(key, value);
    return this.#map.get(key);
  }

  clear(): void {
    this.#map.clear();
  }

  len(): number {
    return this.#map.size;
  }

  copy(): Map<unknown, unknown> {
    return new Map(this.#map);
  }

  getValue(): Map<unknown, unknown> {
    return this.copy();
  }
}

/** Python's ordering for sort(): numbers with numbers, strings with strings; anything else is a TypeError, as in Python 3. */
function compare(a: unknown, b: unknown): number {
  const kind = (v: unknown): string => (typeof v === 'bigint' ? 'number' : typeof v);
  if (kind(a) !== kind(b) || (kind(a) !== 'number' && kind(a) !== 'string')) {
    throw new TypeError(`'<' not supported between instances of '${typeof a}' and '${typeof b}': sort() orders numbers or strings`);
  }
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

export class ManagedList {
  static readonly exposed = ['get', 'set', 'append', 'extend', 'insert', 'pop', 'remove', 'index', 'count', 'sort', 'reverse', 'slice', 'len', 'copy', 'clear', 'getValue'];
  readonly #items: unknown[];

  constructor(init?: unknown) {
    if (init !== undefined && init !== null && !Array.isArray(init)) throw new TypeError('a managed list starts from an array');
    this.#items = init === undefined || init === null ? [] : [...(init as unknown[])];
  }

  #at(index: unknown, what: string): number {
    if (!Number.isInteger(index)) throw new TypeError(`list indices must be integers, not ${typeof index}`);
    const i = (index as number) < 0 ? this.#items.length + (index as number) : (index as number);
    if (i < 0 || i >= this.#items.length) throw new IndexError(`${what} index out of range`);
    return i;
  }

  get(index: number): unknown {
    return this.#items[this.#at(index, 'list')];
  }

  set(index: number, value: unknown): void {
    this.#items[this.#at(index, 'list assignment')] = value;
  }

  append(value: unknown): void {
    this.#items.push(value);
  }

  extend(values: unknown): void {
    if (!Array.isArray(values)) throw new TypeError('extend() takes an array');
    for (const v of values) this.#items.push(v);
  }

  insert(index: number, value: unknown): void {
    if (!Number.isInteger(index)) throw new TypeError(`list indices must be integers, not ${typeof index}`);
    const n = this.#items.length;
    const i = index < 0 ? Math.max(0, n + index) : Math.min(index, n);
    this.#items.splice(i, 0, value);
  }

  pop(index = -1): unknown {
    if (this.#items.length === 0) throw new IndexError('pop from empty list');
    return this.#items.splice(this.#at(index, 'pop'), 1)[0];
  }

  remove(value: unknown): void {
    this.#items.splice(this.index(value), 1);
  }

  index(value: unknown): number {
    const i = this.#items.findIndex((item) => isDeepStrictEqual(item, value));
    if (i < 0) throw new ValueError(`${typeof value === 'string' ? `'${value}'` : String(value)} is not in list`);
    return i;
  }

  count(value: unknown): number {
    return this.#items.filter((item) => isDeepStrictEqual(item, value)).length;
  }

  sort(options?: { reverse?: boolean }): void {
    this.#items.sort(compare);
    if (options?.reverse === true) this.#items.reverse();
  }

  reverse(): void {
    this.#items.reverse();
  }

  slice(start?: number, end?: number): unknown[] {
    return this.#items.slice(start, end);
  }

  len(): number {
    return this.#items.length;
  }

  copy(): unknown[] {
    return [...this.#items];
  }

  clear(): void {
    this.#items.length = 0;
  }

  getValue(): unknown[] {
    return this.copy();
  }
}

export class ManagedNamespace {
  static readonly exposed = ['get', 'set', 'has', 'delete', 'getValue', 'toString'];
  readonly #attrs = new Map<string, unknown>();

  constructor(init?: unknown) {
    if (init !== undefined && init !== null) {
      if (typeof init !== 'object' || Array.isArray(init)) throw new TypeError('a Namespace starts from a plain object of its attributes');
      for (const [k, v] of Object.entries(init)) this.#attrs.set(k, v);
    }
  }

  get(name: string): unknown {
    if (!this.#attrs.has(name)) throw new AttributeError(`'Namespace' object has no attribute '${String(name)}'`);
    return this.#attrs.get(name);
  }

  set(name: string, value: unknown): void {
    if (typeof name !== 'string') throw new TypeError(`attribute name must be string, not '${typeof name}'`);
    this.#attrs.set(name, value);
  }

  has(name: string): boolean {
    return this.#attrs.has(name);
  }

  delete(name: string): void {
    if (!this.#attrs.delete(name)) throw new AttributeError(`'Namespace' object has no attribute '${String(name)}'`);
  }

  getValue(): Record<string, unknown> {
    return Object.fromEntries(this.#attrs);
  }

  /** Python's repr: names that start with '_' are left out. */
  toString(): string {
    const shown = [...this.#attrs].filter(([k]) => !k.startsWith('_')).map(([k, v]) => `${k}=${typeof v === 'string' ? `'${v}'` : String(v)}`);
    return `Namespace(${shown.join(', ')})`;
  }
}

export class ManagedValue {
  static readonly exposed = ['get', 'set', 'getValue'];
  readonly typecode: string;
  #value: unknown;

  constructor(typecode: unknown, value: unknown) {
    if (typeof typecode !== 'string') throw new TypeError('Value(typecode, value): the typecode is a string, such as \'i\' or \'d\'');
    this.typecode = typecode;
    this.#value = value;
  }

  get(): unknown {
    return this.#value;
  }

  set(value: unknown): void {
    this.#value = value;
  }

  getValue(): unknown {
    return this.#value;
  }
}

const ARRAYS: Record<string, new (n: number | ArrayLike<number> | ArrayLike<bigint>) => ArrayLike<number | bigint>> = {
  b: Int8Array, B: Uint8Array, h: Int16Array, H: Uint16Array, i: Int32Array, I: Uint32Array,
  l: BigInt64Array, L: BigUint64Array, q: BigInt64Array, Q: BigUint64Array, f: Float32Array, d: Float64Array,
} as never;

/** Python's array.array behind `manager.Array(typecode, sequence)`: a typed array of fixed length. */
export class ManagedArray {
  static readonly exposed = ['get', 'set', 'len', 'slice', 'getValue'];
  readonly #items: { [i: number]: number | bigint; length: number; slice(a?: number, b?: number): ArrayLike<number | bigint> };

  constructor(typecode: unknown, init: unknown) {
    const Kind = typeof typecode === 'string' ? ARRAYS[typecode] : undefined;
    if (Kind === undefined) throw new ValueError(`bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d): ${String(typecode)}`);
    if (!Number.isInteger(init) && !Array.isArray(init) && !ArrayBuffer.isView(init)) throw new TypeError('Array(typecode, sequence or length)');
    this.#items = new Kind(init as number | ArrayLike<number>) as never;
  }

  #at(index: unknown): number {
    if (!Number.isInteger(index)) throw new TypeError(`array indices must be integers, not ${typeof index}`);
    const i = (index as number) < 0 ? this.#items.length + (index as number) : (index as number);
    if (i < 0 || i >= this.#items.length) throw new IndexError('array index out of range');
    return i;
  }

  get(index: number): number | bigint {
    return this.#items[this.#at(index)]!;
  }

  set(index: number, value: number | bigint): void {
    this.#items[this.#at(index)] = value;
  }

  len(): number {
    return this.#items.length;
  }

  slice(start?: number, end?: number): Array<number | bigint> {
    return Array.from(this.#items.slice(start, end));
  }

  getValue(): Array<number | bigint> {
    return Array.from(this.#items as ArrayLike<number | bigint>);
  }
}
