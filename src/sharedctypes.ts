import { kMaxLength } from 'node:buffer';
import { invalidArgType, invalidArgValue } from './errors.js';
import type { Block } from './sync/shared.js';
import { Lock, RLock } from './sync/lock.js';
import { adopt, adopting, rebuildPrimitive, reducePrimitive, regionFor, registerPrimitive } from './sync/shared.js';
import { native } from './native.js';
import { registerRemoteArray, registerRemoteSynchronized, registerRemoteValue, remoteArray, remoteValue } from './sharedctypes-remote.js';

/**
 * Value, Array, RawValue and RawArray (Python's multiprocessing.sharedctypes):
 * numbers in shared memory (an anonymous memfd per object) that children
 * given them in `args` see and change in place. An Array *is* a typed array
 * (Float64Array for 'd'...), so `arr[i]`, `arr.length`, iteration and every
 * typed-array method run at native speed.
 */

const TYPES = {
  b: Int8Array,
  B: Uint8Array,
  h: Int16Array,
  H: Uint16Array,
  i: Int32Array,
  I: Uint32Array,
  l: BigInt64Array, // a C long: 64 bits on Linux
  L: BigUint64Array,
  q: BigInt64Array,
  Q: BigUint64Array,
  f: Float32Array,
  d: Float64Array,
  c: Uint8Array, // a char: one byte, read and written as a 1-byte Buffer in a Value
  i8: Int8Array,
  u8: Uint8Array,
  i16: Int16Array,
  u16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
  f32: Float32Array,
  f64: Float64Array,
} as const;

/** Python's typecodes ('i', 'd'...) and their explicit names ('i32', 'f64'...). */
export type TypeCode = keyof typeof TYPES;
/** The typed array that holds elements of `T`. */
export type ArrayOf<T extends TypeCode> = InstanceType<(typeof TYPES)[T]>;
/** What `value` reads and takes for a typecode: bigint for 64-bit integers, a 1-byte Buffer for 'c', else number. */
export type ElementOf<T extends TypeCode> = T extends 'c' ? Buffer : ArrayOf<T> extends BigInt64Array | BigUint64Array ? bigint : number;
/** A 'c' array: bytes, with `value` as in Python (the bytes up to the first NUL; assigning copies in). */
export type CharArray = Uint8Array & { value: Buffer };
/** What Array/RawArray return for `T`. */
export type SharedArrayOf<T extends TypeCode> = T extends 'c' ? CharArray : ArrayOf<T>;

type AnyTypedArray = ArrayOf<TypeCode>;

export interface SynchronizedOptions {
  /** true (default): a new RLock; false: no lock (a raw object); or the Lock or RLock to use. */
  lock?: boolean | Lock | RLock | null;
}

/** Where each shared typed array keeps its block (which holds its arena) and typecode: how it travels to a child. */
const arrays = new WeakMap<object, { region: Block; typecode: TypeCode; lock: Lock | RLock | null }>();

function validateTypecode(typecode: unknown): TypeCode {
  if (typeof typecode === 'string' && Object.hasOwn(TYPES, typecode)) return typecode as TypeCode;
  throw new TypeError(`bad typecode (must be one of ${Object.keys(TYPES).join(', ')}); received ${typeof typecode === 'string' ? JSON.stringify(typecode) : typeof typecode}`);
}

const isBig = (typecode: TypeCode): boolean => TYPES[typecode] === BigInt64Array || TYPES[typecode] === BigUint64Array;
const isInteger = (typecode: TypeCode): boolean => typecode !== 'f' && typecode !== 'd' && typecode !== 'f32' && typecode !== 'f64';

function validateElement(typecode: TypeCode, value: unknown, what: string): number | bigint {
  if (typecode === 'c') {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
    if (!(bytes instanceof Uint8Array) || bytes.length !== 1) throw invalidArgType(what, "a 1-byte Buffer or a 1-character string for typecode 'c'", value);
    return bytes[0]!;
  }
  if (isBig(typecode)) {
    if (typeof value === 'bigint') return value;
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    throw invalidArgType(what, `a bigint (or a safe integer) for typecode '${typecode}'`, value);
  }
  if (typeof value !== 'number') throw invalidArgType(what, `a number for typecode '${typecode}'`, value);
  if (isInteger(typecode) && !Number.isInteger(value)) throw invalidArgValue(what, `an integer for typecode '${typecode}'`, value);
  return value;
}

function allocate(owner: string, typecode: TypeCode, length: number): { region: Block; array: AnyTypedArray } {
  const Type = TYPES[typecode];
  const { region } = regionFor(owner, Math.max(1, Math.ceil((length * Type.BYTES_PER_ELEMENT) / 4)));
  return { region, array: new Type(region.buffer, region.offset, length) as AnyTypedArray };
}

function resolveLock(options: SynchronizedOptions | undefined): Lock | RLock | null {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgType('options', 'an object such as { lock: false }', options);
  const lock = options?.lock;
  if (lock === undefined || lock === null || lock === true) return new RLock();
  if (lock === false) return null;
  if (lock instanceof Lock || lock instanceof RLock) return lock;
  throw new TypeError(`${String(lock)} has no method 'acquire': the "lock" option must be true, false, a Lock or an RLock`);
}

/** What a Value takes for `T`: as ElementOf, and a 1-character string for 'c'. */
export type ValueInput<T extends TypeCode> = T extends 'c' ? Buffer | string : ElementOf<T>;

/** One number (or byte) in shared memory, without a lock: what `RawValue()` returns. */
export class SharedValue<T extends TypeCode = TypeCode> {
  readonly typecode!: T;
  readonly #view!: AnyTypedArray;
  readonly #region!: Block;
  readonly #atomic!: boolean;

  constructor(typecode: T, value?: ValueInput<T>) {
    const checked = validateTypecode(typecode) as T;
    // Without the addon, the same class with its contents on the sync server (./sharedctypes-remote.ts).
    if (native() === null && !adopting()) {
      const remote = remoteValue<SharedValue<T>>(new.target.prototype, checked);
      if (value !== undefined) remote.value = value;
      return remote;
    }
    this.typecode = checked;
    const { region, array } = allocate('Value', this.typecode, 1);
    this.#region = region;
    this.#view = array;
    // Integer reads and writes go through Atomics: each is then whole and
    // ordered, across processes (a += is still two steps: hold the lock).
    this.#atomic = isInteger(this.typecode);
    if (value !== undefined) this.value = value;
  }

  get value(): ElementOf<T> {
    const raw = this.#atomic ? Atomics.load(this.#view as Int32Array, 0) : this.#view[0]!;
    return (this.typecode === 'c' ? Buffer.from([raw as number]) : raw) as ElementOf<T>;
  }

  set value(value: ValueInput<T> | ElementOf<T>) {
    const element = validateElement(this.typecode, value, 'value');
    if (this.#atomic) Atomics.store(this.#view as Int32Array, 0, element as number);
    else (this.#view as Float64Array)[0] = element as number;
  }

  toString(): string {
    return `${this.constructor.name}('${this.typecode}', ${String(this.value)})`;
  }

  /** @internal */
  get region(): Block {
    return this.#region;
  }
}

/** A RawValue with a lock for read-modify-write sequences (Python's synchronized `Value`). */
export class SynchronizedValue<T extends TypeCode = TypeCode> {
  readonly #raw: SharedValue<T>;
  readonly #lock: Lock | RLock;

  /** @internal Made by Value(). */
  constructor(raw: SharedValue<T>, lock: Lock | RLock) {
    this.#raw = raw;
    this.#lock = lock;
  }

  get typecode(): T {
    return this.#raw.typecode;
  }

  /** Each read and write is whole; `v.value += 1` is a read and a write: hold `getLock()` around it. */
  get value(): ElementOf<T> {
    return this.#raw.value;
  }

  set value(value: ValueInput<T> | ElementOf<T>) {
    this.#raw.value = value;
  }

  getLock(): Lock | RLock {
    return this.#lock;
  }

  getObj(): SharedValue<T> {
    return this.#raw;
  }

  toString(): string {
    return `<Synchronized wrapper for ${this.#raw}>`;
  }
}

/** One number (or byte) in shared memory, without a lock (Python's `RawValue`); `instanceof RawValue` works. */
export function RawValue<T extends TypeCode>(typecode: T, value?: ValueInput<T>): SharedValue<T> {
  return new SharedValue(typecode, value);
}
RawValue.prototype = SharedValue.prototype;

/** A synchronized Value by default; the raw one with `{ lock: false }` (Python's `Value`). */
export function Value<T extends TypeCode>(typecode: T, value?: ValueInput<T>, options?: SynchronizedOptions & { lock?: true | Lock | RLock | null }): SynchronizedValue<T>;
export function Value<T extends TypeCode>(typecode: T, value: ValueInput<T> | undefined, options: { lock: false }): SharedValue<T>;
export function Value<T extends TypeCode>(typecode: T, value?: ValueInput<T>, options?: SynchronizedOptions): SynchronizedValue<T> | SharedValue<T>;
export function Value<T extends TypeCode>(typecode: T, value?: ValueInput<T>, options?: SynchronizedOptions): SynchronizedValue<T> | SharedValue<T> {
  const lock = resolveLock(options);
  const raw = new SharedValue(typecode, value);
  return lock === null ? raw : new SynchronizedValue(raw, lock);
}

function fill(typecode: TypeCode, sizeOrInit: unknown): { length: number; init: ArrayLike<number | bigint> | null } {
  if (typeof sizeOrInit === 'number') {
    if (!Number.isSafeInteger(sizeOrInit) || sizeOrInit < 0) throw invalidArgValue('"sizeOrInit" argument', 'a size (an integer >= 0) or the initial elements', sizeOrInit);
    return { length: sizeOrInit, init: null };
  }
  if (typecode === 'c' && typeof sizeOrInit === 'string') sizeOrInit = Buffer.from(sizeOrInit, 'latin1');
  if (sizeOrInit !== null && typeof sizeOrInit === 'object' && Symbol.iterator in sizeOrInit) {
    const items = [...(sizeOrInit as Iterable<unknown>)];
    const init = typecode === 'c' && sizeOrInit instanceof Uint8Array ? [...sizeOrInit] : items.map((item, i) => validateElement(typecode, item, `element ${i}`));
    return { length: init.length, init };
  }
  throw invalidArgType('"sizeOrInit" argument', 'a size (an integer >= 0) or an iterable of initial elements', sizeOrInit);
}

function makeArray(typecode: TypeCode, sizeOrInit: unknown, lock: Lock | RLock | null): AnyTypedArray {
  const { length, init } = fill(typecode, sizeOrInit);
  checkFits(typecode, length);
  // Without the addon, the same typed array's contents on the sync server (./sharedctypes-remote.ts).
  if (native() === null) {
    const initial = new TYPES[typecode](length) as AnyTypedArray;
    if (init !== null) (initial as Float64Array).set(init as ArrayLike<number>);
    return remoteArray(typecode, initial, lock) as AnyTypedArray;
  }
  const { region, array } = allocate('Array', typecode, length);
  if (init !== null) (array as Float64Array).set(init as ArrayLike<number>);
  finish(array, region, typecode, lock);
  return array;
}

/** An Array is one typed array over shared memory: it cannot be larger than Node.js lets an external buffer be. */
function checkFits(typecode: TypeCode, length: number): void {
  const bytes = length * TYPES[typecode].BYTES_PER_ELEMENT;
  if (bytes <= kMaxLength) return;
  throw Object.assign(
    new RangeError(
      `an Array of ${length} '${typecode}' elements takes ${bytes} bytes, more than a buffer may hold in Node.js ${process.version} (buffer.constants.MAX_LENGTH is ${kMaxLength} bytes). ` +
        'Split it into several Arrays, or use a Node.js whose buffer.constants.MAX_LENGTH is larger (Node.js 24 allows any safe integer)',
    ),
    { code: 'ERR_BUFFER_TOO_LARGE' },
  );
}

function finish(array: AnyTypedArray, region: Block, typecode: TypeCode, lock: Lock | RLock | null): void {
  arrays.set(array, { region, typecode, lock });
  decorate(array, typecode, lock, () => {
    const raw = new (TYPES[typecode])(region.buffer, region.offset, array.length) as AnyTypedArray;
    finish(raw, region, typecode, null);
    return raw;
  });
}

/** What an Array adds to its typed array: a 'c' array's `value`; with a lock, `getLock()` and `getObj()` (which gives `raw()`). */
function decorate(array: AnyTypedArray, typecode: TypeCode, lock: Lock | RLock | null, raw: () => AnyTypedArray): void {
  if (typecode === 'c') {
    Object.defineProperty(array, 'value', {
      get(this: Uint8Array) {
        const end = this.indexOf(0);
        return Buffer.from(this.subarray(0, end === -1 ? this.length : end));
      },
      set(this: Uint8Array, bytes: unknown) {
        const source = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
        if (!(source instanceof Uint8Array)) throw invalidArgType('value', 'a Buffer or a string', bytes);
        if (source.length > this.length) throw new RangeError(`byte string too long (${source.length} bytes for ${this.length})`);
        this.set(source);
        if (source.length < this.length) this[source.length] = 0;
      },
    });
  }
  if (lock !== null) {
    Object.defineProperties(array, {
      getLock: { value: () => lock },
      getObj: { value: raw },
    });
  }
}

/** An Array with its lock: the typed array itself, plus `getLock()` and `getObj()`. */
export type SynchronizedArray<T extends TypeCode> = SharedArrayOf<T> & { getLock(): Lock | RLock; getObj(): SharedArrayOf<T> };

/**
 * A typed array in shared memory (Python's `Array`): `size` zeros, or a copy
 * of the initial elements; with a lock by default (`getLock()`), raw with
 * `{ lock: false }`. Slices (`subarray`) stay in this process: pass the whole array.
 */
export function Array<T extends TypeCode>(typecode: T, sizeOrInit: number | Iterable<ElementOf<T> | number> | string, options?: SynchronizedOptions & { lock?: true | Lock | RLock | null }): SynchronizedArray<T>;
export function Array<T extends TypeCode>(typecode: T, sizeOrInit: number | Iterable<ElementOf<T> | number> | string, options: { lock: false }): SharedArrayOf<T>;
export function Array<T extends TypeCode>(typecode: T, sizeOrInit: number | Iterable<ElementOf<T> | number> | string, options?: SynchronizedOptions): SynchronizedArray<T> | SharedArrayOf<T>;
export function Array<T extends TypeCode>(typecode: T, sizeOrInit: number | Iterable<ElementOf<T> | number> | string, options?: SynchronizedOptions): SynchronizedArray<T> | SharedArrayOf<T> {
  const lock = resolveLock(options);
  return makeArray(validateTypecode(typecode), sizeOrInit, lock) as unknown as SynchronizedArray<T>;
}

/** A typed array in shared memory, without a lock (Python's `RawArray`). */
export function RawArray<T extends TypeCode>(typecode: T, sizeOrInit: number | Iterable<ElementOf<T> | number> | string): SharedArrayOf<T> {
  return makeArray(validateTypecode(typecode), sizeOrInit, null) as unknown as SharedArrayOf<T>;
}

registerPrimitive<AnyTypedArray>({
  name: 'SharedArray',
  matches: (value): value is AnyTypedArray => arrays.has(value),
  parts: (array, handles) => {
    const { region, typecode, lock } = arrays.get(array)!;
    return { region, extra: { typecode, length: array.length, lock: lock === null ? null : reducePrimitive(lock, handles) } };
  },
  rebuild: (region, extra, handles) => {
    const { typecode, length, lock } = extra as { typecode: TypeCode; length: number; lock: unknown };
    // The array's block holds its region (and so the arena's fd) for as long as the array lives.
    const array = new (TYPES[typecode])(region.buffer, region.offset, length) as AnyTypedArray;
    finish(array, region, typecode, lock === null ? null : (rebuildPrimitive(lock, handles) as Lock | RLock));
    return array;
  },
});

registerRemoteValue(SharedValue.prototype, {
  encode: (typecode, value) => {
    // Through a typed array of the type: the same wrap-around and rounding as in shared memory.
    const cell = new TYPES[typecode as TypeCode](1) as AnyTypedArray;
    (cell as Float64Array)[0] = validateElement(typecode as TypeCode, value, 'value') as number;
    return cell[0]!;
  },
  decode: (typecode, stored) => {
    if (typecode === 'c') return Buffer.from([stored as number]);
    return isBig(typecode as TypeCode) ? BigInt(stored) : stored;
  },
  allocate: (typecode, length) => new TYPES[typecode as TypeCode](length),
});
registerRemoteArray((mirror, { typecode, lock, raw }) => decorate(mirror as AnyTypedArray, typecode as TypeCode, lock, raw as () => AnyTypedArray));
registerRemoteSynchronized(
  (value): value is SynchronizedValue => value instanceof SynchronizedValue,
  (value) => ({ raw: value.getObj(), lock: value.getLock() }),
  (raw, lock) => new SynchronizedValue(raw as SharedValue, lock),
);

registerPrimitive<SharedValue | SynchronizedValue>({
  name: 'Value',
  matches: (value): value is SharedValue | SynchronizedValue => value instanceof SharedValue || value instanceof SynchronizedValue,
  parts: (value, handles) => {
    const raw = value instanceof SynchronizedValue ? value.getObj() : value;
    return { region: raw.region, extra: { typecode: raw.typecode, lock: value instanceof SynchronizedValue ? reducePrimitive(value.getLock(), handles) : null } };
  },
  rebuild: (region, extra, handles) => {
    const { typecode, lock } = extra as { typecode: TypeCode; lock: unknown };
    const raw = adopt(region, () => new SharedValue(typecode));
    return lock === null ? raw : new SynchronizedValue(raw, rebuildPrimitive(lock, handles) as Lock | RLock);
  },
});
