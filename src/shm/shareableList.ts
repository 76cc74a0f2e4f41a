import { invalidArgType, ValueError } from '../errors.js';
import { registerReducer } from '../reduction.js';
import { SharedMemory } from './sharedMemory.js';
import { adoptCarriedTracker, carryTracker, type CarriedTracker } from './tracker.js';

/**
 * A fixed-length list in a SharedMemory segment (Python's
 * `shared_memory.ShareableList`): numbers, bigints (64-bit), booleans,
 * strings, Buffers and null, readable and writable in place by any process
 * that attaches by name. Each slot keeps the storage of its first value
 * (8 bytes, or the string's or bytes' length rounded up to 8): a later value
 * may change type if it fits.
 *
 * Layout (our own): Int32 count, then per slot four Int32s (type, capacity,
 * offset, length), then the slots' bytes, each 8-byte aligned; all
 * little-endian. Read and written through `shm.buf`'s methods (readInt32LE...),
 * which work whether buf is mapped memory or, without the native addon, the
 * segment's file.
 */
export type ShareableItem = number | bigint | boolean | string | Buffer | null;

const HEADER = 8;
const SLOT = 16;
const enum Kind {
  Null = 0,
  Number = 1,
  BigInt = 2,
  Boolean = 3,
  String = 4,
  Bytes = 5,
}

function encode(item: unknown, index: number): { kind: Kind; bytes: Buffer | null } {
  if (item === null || item === undefined) return { kind: Kind.Null, bytes: null };
  if (typeof item === 'number') return { kind: Kind.Number, bytes: null };
  if (typeof item === 'bigint') {
    if (item < -(2n ** 63n) || item >= 2n ** 63n) throw new RangeError(`item ${index}: ${item} does not fit in 64 bits`);
    return { kind: Kind.BigInt, bytes: null };
  }
  if (typeof item === 'boolean') return { kind: Kind.Boolean, bytes: null };
  if (typeof item === 'string') return { kind: Kind.String, bytes: Buffer.from(item, 'utf8') };
  if (item instanceof Uint8Array) return { kind: Kind.Bytes, bytes: Buffer.from(item) };
  throw invalidArgType(`item ${index}`, 'a number, bigint, boolean, string, Buffer or null', item);
}

const capacityFor = (bytes: Buffer | null): number => (bytes === null ? 8 : Math.max(8, Math.ceil(bytes.length / 8) * 8));

export class ShareableList implements Iterable<ShareableItem> {
  /** The segment that holds the list. */
  readonly shm: SharedMemory;
  /** `shm.buf`, kept: the getter's check on every access would cost more than the access. */
  readonly #buf: Buffer;
  [index: number]: ShareableItem;

  /** A new list holding `sequence` (optionally under `name`), or with `sequence` null, the existing list `name`. */
  constructor(sequence: Iterable<ShareableItem> | null, options: { name?: string | null } = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'an object such as { name }', options);
    if (sequence === null || sequence === undefined) {
      if (options.name === undefined || options.name === null) throw new ValueError('a ShareableList needs a sequence to create it or the name of one to attach to');
      this.shm = new SharedMemory({ name: options.name });
    } else {
      if (typeof (sequence as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function') throw invalidArgType('"sequence" argument', 'an iterable, or null to attach', sequence);
      const items = [...sequence];
      const encoded = items.map(encode);
      const data = encoded.reduce((sum, e) => sum + capacityFor(e.bytes), 0);
      const size = HEADER + SLOT * items.length + data;
      this.shm = new SharedMemory({ name: options.name ?? null, create: true, size: Math.max(size, 8) });
      const buf = this.shm.buf;
      buf.writeInt32LE(items.length, 0);
      let offset = HEADER + SLOT * items.length;
      encoded.forEach((e, i) => {
        buf.writeInt32LE(capacityFor(e.bytes), HEADER + SLOT * i + 4);
        buf.writeInt32LE(offset, HEADER + SLOT * i + 8);
        offset += capacityFor(e.bytes);
      });
      this.#buf = buf;
      items.forEach((item, i) => this.#write(i, item));
    }
    this.#buf ??= this.shm.buf;
    // Index access (list[i], list[-1]) goes through a Proxy; methods and fields are the object's own.
    return new Proxy(this, {
      get: (target, key) => {
        const index = typeof key === 'string' ? toIndex(key) : null;
        if (index !== null) return target.get(index);
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
      set: (target, key, value) => {
        const index = typeof key === 'string' ? toIndex(key) : null;
        if (index === null) return Reflect.set(target, key, value, target);
        target.set(index, value as ShareableItem);
        return true;
      },
    });
  }

  get length(): number {
    return this.#buf.readInt32LE(0);
  }

  #slot(index: number): number {
    const length = this.length;
    if (!Number.isInteger(index)) throw invalidArgType('index', 'an integer', index);
    const i = index < 0 ? index + length : index;
    if (i < 0 || i >= length) throw new RangeError('list index out of range');
    return HEADER + SLOT * i;
  }

  get(index: number): ShareableItem {
    const slot = this.#slot(index);
    const buf = this.#buf;
    const offset = buf.readInt32LE(slot + 8);
    switch (buf.readInt32LE(slot) as Kind) {
      case Kind.Null:
        return null;
      case Kind.Number:
        return buf.readDoubleLE(offset);
      case Kind.BigInt:
        return buf.readBigInt64LE(offset);
      case Kind.Boolean:
        return buf.readUInt8(offset) === 1;
      case Kind.String:
        return buf.toString('utf8', offset, offset + buf.readInt32LE(slot + 12));
      case Kind.Bytes: {
        const bytes = Buffer.alloc(buf.readInt32LE(slot + 12));
        buf.copy(bytes, 0, offset, offset + bytes.length);
        return bytes;
      }
      default:
        throw new ValueError('the ShareableList is corrupt: an unknown item type');
    }
  }

  set(index: number, item: ShareableItem): void {
    this.#write((this.#slot(index) - HEADER) / SLOT, item);
  }

  #write(i: number, item: unknown): void {
    const slot = HEADER + SLOT * i;
    const buf = this.#buf;
    const { kind, bytes } = encode(item, i);
    const capacity = buf.readInt32LE(slot + 4);
    if (bytes !== null && bytes.length > capacity) throw new ValueError('bytes/str item exceeds available storage');
    const offset = buf.readInt32LE(slot + 8);
    if (kind === Kind.Number) buf.writeDoubleLE(item as number, offset);
    else if (kind === Kind.BigInt) buf.writeBigInt64LE(item as bigint, offset);
    else if (kind === Kind.Boolean) buf.writeUInt8(item ? 1 : 0, offset);
    else if (bytes !== null) {
      buf.set(bytes, offset);
      buf.writeInt32LE(bytes.length, slot + 12);
    }
    buf.writeInt32LE(kind, slot);
  }

  *[Symbol.iterator](): Iterator<ShareableItem> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /** How many items equal `value`. */
  count(value: ShareableItem): number {
    let n = 0;
    for (const item of this) if (same(item, value)) n += 1;
    return n;
  }

  /** The first position of `value`; a ValueError if absent. */
  index(value: ShareableItem): number {
    let i = 0;
    for (const item of this) {
      if (same(item, value)) return i;
      i += 1;
    }
    throw new ValueError(`${String(value)} not in this container`);
  }

  toString(): string {
    return `ShareableList([${[...this].map((x) => (typeof x === 'string' ? `'${x}'` : x instanceof Buffer ? `b'${x.toString('latin1')}'` : String(x))).join(', ')}], name='${this.shm.name}')`;
  }
}

function same(a: ShareableItem, b: ShareableItem): boolean {
  if (a instanceof Buffer && b instanceof Uint8Array) return a.equals(b);
  return a === b;
}

function toIndex(key: string): number | null {
  return /^-?\d+$/.test(key) ? Number(key) : null;
}

// A ShareableList travels as its segment, and is rebuilt by attaching.
registerReducer<ShareableList>({
  name: 'ShareableList',
  matches: (value): value is ShareableList => value instanceof ShareableList,
  reduce: (list, handles) => ({ name: list.shm.name, tracker: carryTracker(handles) }),
  rebuild: (state, handles) => {
    const { name, tracker } = state as { name: string; tracker: CarriedTracker };
    adoptCarriedTracker(tracker, handles);
    return new ShareableList(null, { name });
  },
});
