import { registerReducer } from './reduction.js';
import { carriedOf, fromCarried, isRemote, registerImplementation, RemotePrimitive, remotePrimitive, type Carried } from './sync/remote.js';
import type { Lock, RLock } from './sync/lock.js';

/**
 * A Value where the native addon cannot load: its contents live on the sync
 * server (./sync/server/), each read and write a round trip. `encode` and
 * `decode` are the public class's typing rules (the same wrap-around and
 * rounding as the typed array it would have had), given by ./sharedctypes.ts.
 */
export interface ValueCodec {
  encode(typecode: string, value: unknown): number | bigint;
  decode(typecode: string, stored: number | bigint): unknown;
}

let codec: ValueCodec | null = null;

class RemoteValue extends RemotePrimitive {
  get typecode(): string {
    return this.ref.typecode!;
  }

  get value(): unknown {
    return codec!.decode(this.typecode, this.exchange('get') as number | bigint);
  }

  set value(value: unknown) {
    this.exchange('put', codec!.encode(this.typecode, value));
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
  return remotePrimitive<T>('Value', publicPrototype, 0, false, undefined, typecode);
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
