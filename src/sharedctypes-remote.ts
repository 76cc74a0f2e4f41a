import { inspect } from 'node:util';
import { registerReducer } from './reduction.js';
import { carriedOf, fromCarried, isRemote, newCarried, registerImplementation, RemotePrimitive, remotePrimitive, type Carried } from './sync/remote.js';
import type { Lock, RLock } from './sync/lock.js';
import type { Contents } from './sync/server/protocol.js';

/**
 * A Value where the native addon cannot load: its contents live on the sync
 * server (./sync/server/), each read and write a round trip. `encode` and
 * `decode` are the public class's typing rules (the same wrap-around and
 * rounding as the typed array it would have had), given by ./sharedctypes.ts.
 */
export interface ValueCodec {
  encode(typecode: string, value: unknown): number | bigint;
  decode(typecode: string, stored: number | bigint): unknown;
  /** A zero-filled typed array of the typecode's type. */
  allocate(typecode: string, length: number): Contents;
}

let codec: ValueCodec | null = null;

class RemoteValue extends RemotePrimitive {
  get typecode(): string {
    return this.ref.typecode!;
  }

  get value(): unknown {
    return codec!.decode(this.typecode, this.resultSync('get') as number | bigint);
  }

  set value(value: unknown) {
    this.resultSync('put', null, { value: codec!.encode(this.typecode, value) });
  }

  override toString(): string {
    return `${(Object.getPrototypeOf(Object.getPrototypeOf(this)) as { constructor: { name: string } }).constructor.name}('${this.typecode}', ${String(this.value)})`;
  }

  get region(): never {
    throw new TypeError('multiproc: a Value on the sync server has no shared memory region');
  }
}

/** Registers the Value kind: its public class's prototype and typing rules. */
export function registerRemoteValue(publicPrototype: object, rules: ValueCodec): void {
  codec = rules;
  registerImplementation('Value', RemoteValue as unknown as abstract new (carried: Carried) => RemotePrimitive, publicPrototype);
}

/** A new Value on the sync server (its constructor returns this). */
export function remoteValue<T>(publicPrototype: object, typecode: string): T {
  return remotePrimitive<T>('Value', publicPrototype, { typecode });
}

/**
 * The rule for a synchronized Value whose contents are remote (registered
 * before the native one, which would look for its shared memory): its Value
 * and its lock travel as references to the server.
 */
export function registerRemoteSynchronized<S extends object>(
  isSynchronized: (value: object) => value is S,
  parts: (value: S) => { raw: object; lock: Lock | RLock },
  make: (raw: object, lock: Lock | RLock) => S,
): void {
  registerReducer<S>({
    name: 'Synchronized',
    matches: (value): value is S => isSynchronized(value) && isRemote(parts(value).raw),
    reduce: (value) => {
      const { raw, lock } = parts(value);
      return { raw: carriedOf(raw), lock: carriedOf(lock) };
    },
    rebuild: (state) => {
      const { raw, lock } = state as { raw: unknown; lock: unknown };
      return make(fromCarried<object>(raw), fromCarried<Lock | RLock>(lock));
    },
  });
}

/**
 * An Array where the native addon cannot load: a Proxy over a typed array of
 * its type (a local mirror, so that `instanceof`, `length` and the methods
 * are a typed array's), whose contents live on the sync server. `arr[i]` and
 * `arr[i] = x` are one round trip each; a method (`slice`, `fill`, `set`,
 * iteration...) reads the whole contents first and, when it may write,
 * writes them all back. What would be a view of memory that is not shared
 * here (`buffer`, `subarray`) throws rather than silently not being shared.
 */
class ArrayContents extends RemotePrimitive {
  get(index: number): number | bigint {
    return this.resultSync('get', null, { index }) as number | bigint;
  }

  put(index: number, value: number | bigint): void {
    this.resultSync('put', null, { index, value });
  }

  read(): Contents {
    return this.resultSync('get') as Contents;
  }

  write(contents: Contents): void {
    this.resultSync('put', null, { value: contents });
  }
}

/** Typed-array methods that may change the contents: written back after they run. */
const WRITERS = new Set<string | symbol>(['set', 'fill', 'copyWithin', 'reverse', 'sort']);

function notShared(what: string): Error {
  return new TypeError(
    `multiproc: without the native addon, a shared Array keeps its contents on the sync server, so it has no ${what} to share: ` +
      'read and write its elements (arr[i]), copy with slice() or Array.from(arr), or build the native addon (npm ci where a C++ compiler and Node\'s headers are available).',
  );
}

function isIndex(key: string | symbol): boolean {
  return typeof key === 'string' && key !== '' && String(Number(key)) === key;
}

interface RemoteArrayParts {
  contents: ArrayContents;
  typecode: string;
  lock: Lock | RLock | null;
}

/** Each proxy's parts: how it travels to a child. */
const remoteArrays = new WeakMap<object, RemoteArrayParts>();

function arrayProxy(parts: RemoteArrayParts, length: number): Contents {
  const { contents, typecode, lock } = parts;
  const mirror = codec!.allocate(typecode, length);
  const cell = codec!.allocate(typecode, 1);
  const refresh = (): void => mirror.set(contents.read() as never);
  decorateArray(mirror, { typecode, lock, raw: () => arrayProxy({ ...parts, lock: null }, length) });
  // util.inspect (console.log) looks at the target of a proxy, not through it: show the contents.
  Object.defineProperty(mirror, inspect.custom, { value: (_depth: number, options: object) => (refresh(), inspect(mirror.slice(), options)) });
  const proxy = new Proxy(mirror, {
    get(target, key, receiver) {
      if (isIndex(key)) {
        const index = Number(key as string);
        return Number.isInteger(index) && index >= 0 && index < length ? contents.get(index) : undefined;
      }
      if (key === 'buffer' || key === 'subarray') throw notShared(key === 'buffer' ? 'ArrayBuffer' : 'view');
      if (key === 'value') refresh(); // a 'c' array's bytes
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function' || Object.hasOwn(target, key) || key === 'constructor') return value;
      return (...args: unknown[]) => {
        refresh();
        const out: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (WRITERS.has(key)) contents.write(target);
        return out === target ? receiver : out;
      };
    },
    set(target, key, value) {
      if (isIndex(key)) {
        const index = Number(key as string);
        // Coerced as the typed array would (a bigint array refuses a number with its TypeError).
        (cell as Float64Array)[0] = value as number;
        if (Number.isInteger(index) && index >= 0 && index < length) contents.put(index, cell[0]!);
        return true;
      }
      if (key === 'value') {
        refresh();
        Reflect.set(target, key, value);
        contents.write(target);
        return true;
      }
      return Reflect.set(target, key, value);
    },
  });
  remoteArrays.set(proxy, parts);
  return proxy;
}

let decorateArray: (mirror: Contents, parts: { typecode: string; lock: Lock | RLock | null; raw: () => Contents }) => void = () => {};

/** A new Array on the sync server holding `initial` (its length and elements). */
export function remoteArray(typecode: string, initial: Contents, lock: Lock | RLock | null): Contents {
  const contents = new ArrayContents(newCarried('Array', { init: initial.length, typecode }));
  contents.write(initial);
  return arrayProxy({ contents, typecode, lock }, initial.length);
}

/** Registers what the public Array adds to a typed array (`getLock`, `getObj`, a 'c' array's `value`: ./sharedctypes.ts). */
export function registerRemoteArray(decorate: typeof decorateArray): void {
  decorateArray = decorate;
}

// An Array travels as the address of its contents (and its lock's).
registerReducer<Contents>({
  name: 'SharedArray',
  matches: (value): value is Contents => remoteArrays.has(value),
  reduce: (array) => {
    const { contents, typecode, lock } = remoteArrays.get(array)!;
    return { contents: contents.travel(), typecode, length: array.length, lock: lock === null ? null : carriedOf(lock) };
  },
  rebuild: (state) => {
    const { contents, typecode, length, lock } = state as { contents: Carried; typecode: string; length: number; lock: unknown };
    return arrayProxy({ contents: new ArrayContents(contents), typecode, lock: lock === null ? null : fromCarried<Lock | RLock>(lock) }, length);
  },
});
