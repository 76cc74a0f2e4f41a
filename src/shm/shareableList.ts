import { invalidArgType, ValueError } from '../errors.js';
import { registerReducer } from '../reduction.js';
import { littleEndianView, type LittleEndianView } from './littleEndianView.js';
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
 * little-endian. Read and written through a DataView over the mapped
 * segment, or without the native addon, through buf's methods on the
 * segment's file (./littleEndianView.ts).
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
  readonly #view: LittleEndianView;
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
      const view = littleEndianView(this.shm.buf);
      view.setInt32(0, items.length, true);
      let offset = HEADER + SLOT * items.length;
      encoded.forEach((e, i) => {
        view.setInt32(HEADER + SLOT * i + 4, capacityFor(e.bytes), true);
        view.setInt32(HEADER + SLOT * i + 8, offset, true);
        offset += capacityFor(e.bytes);
      });
      this.#view = view;
      items.forEach((item, i) => this.#write(i, item));
    }
    this.#view ??= littleEndianView(this.shm.buf);
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
    return this.#view.getInt32(0, true);
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
    const view = this.#view;
    const offset = view.getInt32(slot + 8, true);
    switch (view.getInt32(slot, true) as Kind) {
      case Kind.Null:
        return null;
      case Kind.Number:
        return view.getFloat64(offset, true);
      case Kind.BigInt:
        return view.getBigInt64(offset, true);
      case Kind.Boolean:
        return view.getUint8(offset) === 1;
      case Kind.String:
        return this.shm.buf.toString('utf8', offset, offset + view.getInt32(slot + 12, true));
      case Kind.Bytes:
        return Buffer.from(this.shm.buf.subarray(offset, offset + view.getInt32(slot + 12, true)));
      default:
        throw new ValueError('the ShareableList is corrupt: an unknown item type');
    }
  }

  set(index: number, item: ShareableItem): void {
    this.#write((this.#slot(index) - HEADER) / SLOT, item);
  }

  #write(i: number, item: unknown): void {
    const slot = HEADER + SLOT * i;
    const view = this.#view;
    const { kind, bytes } = encode(item, i);
    const capacity = view.getInt32(slot + 4, true);
    if (bytes !== null && bytes.length > capacity) throw new ValueError('bytes/str item exceeds available storage');
    const offset = view.getInt32(slot + 8, true);
    if (kind === Kind.Number) view.setFloat64(offset, item as number, true);
    else if (kind === Kind.BigInt) view.setBigInt64(offset, item as bigint, true);
    else if (kind === Kind.Boolean) view.setUint8(offset, item ? 1 : 0);
    else if (bytes !== null) {
      this.shm.buf.set(bytes, offset);
      view.setInt32(slot + 12, bytes.length, true);
    }
    view.setInt32(slot, kind, true);
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
