import { closeSync, readSync, writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { ValueError } from '../errors.js';

/**
 * SharedMemory's `buf` where the native addon cannot load, so nothing can be
 * mapped: a Buffer in every way code can see (`instanceof Buffer`, indexes,
 * `length`, every method) whose reads and writes go to the segment's file in
 * /dev/shm with positioned I/O. Two processes that pread and pwrite one file
 * share its page cache, so they see each other's bytes as through a mapping,
 * only each access is a system call.
 *
 * It is a Proxy over a private "mirror" Buffer of the same length: an index
 * reads or writes one byte of the file; a method first refreshes, from the
 * file, the bytes it may read (only its range when that is known from its
 * arguments), runs on the mirror, then writes back the range it may have
 * changed (never more, so that it does not overwrite what another process
 * wrote elsewhere meanwhile).
 */

const NOT_MAPPED =
  "multiproc: without the native addon, SharedMemory.buf is not mapped memory, so it has no ArrayBuffer to view: read and write through buf's methods " +
  "(buf.readDoubleLE(8 * i), buf.writeDoubleLE(x, 8 * i)) or build the addon (npm ci where a C++ compiler and Node's headers are available)";

/** The open segment file shared by `buf` and all its views; closing it retires them all. */
export class SegmentFile {
  #fd: number | null;
  readonly name: string;

  constructor(fd: number, name: string) {
    this.#fd = fd;
    this.name = name;
    // A buf the program still holds keeps its file open (as a mapping would
    // stay); the descriptor goes when neither buf nor the SharedMemory is left.
    unclosed.register(this, fd, this);
  }

  get closed(): boolean {
    return this.#fd === null;
  }

  close(): void {
    if (this.#fd === null) return;
    unclosed.unregister(this);
    closeSync(this.#fd);
    this.#fd = null;
  }

  /** Fills `into` with the bytes at `position` (zeros past the end, should the file have shrunk). */
  read(into: Uint8Array, position: number): void {
    const fd = this.#open();
    for (let done = 0; done < into.length; ) {
      const n = readSync(fd, into, done, into.length - done, position + done);
      if (n === 0) {
        into.fill(0, done);
        return;
      }
      done += n;
    }
  }

  write(from: Uint8Array, position: number): void {
    const fd = this.#open();
    for (let done = 0; done < from.length; ) done += writeSync(fd, from, done, from.length - done, position + done);
  }

  // Never touch a closed descriptor: its number may belong to another file by now.
  #open(): number {
    if (this.#fd === null) throw new ValueError(`SharedMemory('${this.name}') is closed: its buf can no longer be used`);
    return this.#fd;
  }
}

const unclosed = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
});

/** Each proxy's view: the mirror it stands for, and where that lies in the file. */
interface View {
  readonly file: SegmentFile;
  readonly mirror: Buffer;
  /** The file position of mirror[0]. */
  readonly base: number;
}

const views = new WeakMap<object, View>();

/** A Buffer over `size` bytes of `file` from position 0. */
export function fileBuffer(file: SegmentFile, size: number): Buffer {
  return viewOf(file, Buffer.alloc(size), 0);
}

/** A [from, to) range of the mirror; `null`: none. */
type Range = readonly [number, number] | null;
const WHOLE = 'whole';
type Extent = Range | typeof WHOLE;

interface Plan {
  /** What to refresh before the call. */
  read: Extent;
  /** What to write back after it; a function when the range depends on the result. */
  write: Extent | ((result: unknown) => Range);
}

// Methods that change their receiver and read it too (any part of it).
const REWRITERS = new Set(['copyWithin', 'reverse', 'sort', 'swap16', 'swap32', 'swap64']);
// readInt32LE, writeBigUInt64BE, readDoubleLE, readUIntBE... and the Uint aliases.
const FIXED_WIDTH = /^(read|write)(Big)?(U?Int|Uint|Float|Double)(8|16|32|64)?(LE|BE)?$/;

function widthOf(kind: string, bits: string | undefined, variable: unknown): number | null {
  if (kind === 'Double') return 8;
  if (kind === 'Float') return 4;
  if (bits !== undefined) return Number(bits) / 8;
  return typeof variable === 'number' ? variable : null; // readUIntLE(offset, byteLength)
}

const isIndexLike = (x: unknown): x is number | undefined => x === undefined || typeof x === 'number';

/** [from, to) clamped to [0, length]; `null` when the arguments are not plain numbers (the method will reject or reinterpret them). */
function span(from: unknown, to: unknown, length: number, defaultFrom = 0): Range {
  if (!isIndexLike(from) || !isIndexLike(to)) return null;
  const clamp = (x: number): number => Math.min(length, Math.max(0, Math.trunc(x) || 0));
  const start = clamp(from ?? defaultFrom);
  const end = clamp(to ?? length);
  return start < end ? [start, end] : null;
}

/** What a method reads and writes of its receiver, from its name and arguments; by default it reads it all and writes nothing. */
function planFor(name: string, args: readonly unknown[], length: number): Plan {
  const fixed = FIXED_WIDTH.exec(name);
  if (fixed !== null) {
    const [, op, , kind, bits] = fixed;
    const offsetAt = op === 'read' ? 0 : 1;
    const width = widthOf(kind!, bits, args[offsetAt + 1]);
    const offset = args[offsetAt] ?? 0;
    // An odd offset or width: let the method itself throw its RangeError, reading and writing nothing.
    const range = width !== null && typeof offset === 'number' ? span(offset, offset + width, length) : null;
    return op === 'read' ? { read: range, write: null } : { read: null, write: range };
  }
  switch (name) {
    case 'set': {
      const source = args[0] as { length?: unknown } | null | undefined;
      const count = typeof source?.length === 'number' ? source.length : 0;
      const offset = args[1] ?? 0;
      return { read: null, write: typeof offset === 'number' ? span(offset, offset + count, length) : null };
    }
    case 'fill':
      // fill(value, offset?, end?, encoding?), an encoding possibly in offset's or end's place.
      return { read: null, write: span(typeof args[1] === 'number' ? args[1] : 0, typeof args[2] === 'number' ? args[2] : length, length) };
    case 'write': {
      // write(string, offset?, length?, encoding?): the result says how many bytes it wrote.
      const offset = typeof args[1] === 'number' ? args[1] : 0;
      return { read: null, write: (written) => span(offset, offset + (written as number), length) };
    }
    case 'toString':
      return { read: span(args[1], args[2], length) ?? WHOLE, write: null };
    case 'copy':
      // copy(target, targetStart?, sourceStart?, sourceEnd?) reads only the source range (the target is written back by the caller).
      return { read: span(args[2], args[3], length) ?? WHOLE, write: null };
    default:
      return REWRITERS.has(name) ? { read: WHOLE, write: WHOLE } : { read: WHOLE, write: null };
  }
}

function refresh(view: View, extent: Extent): void {
  if (extent === null) return;
  const [from, to] = extent === WHOLE ? [0, view.mirror.length] : extent;
  if (from < to) view.file.read(view.mirror.subarray(from, to), view.base + from);
}

function writeBack(view: View, extent: Range | typeof WHOLE): void {
  if (extent === null) return;
  const [from, to] = extent === WHOLE ? [0, view.mirror.length] : extent;
  if (from < to) view.file.write(view.mirror.subarray(from, to), view.base + from);
}

const INDEX = /^(0|[1-9]\d*)$/;
const indexOf = (key: string | symbol, length: number): number | null => {
  if (typeof key !== 'string' || !INDEX.test(key)) return null;
  const i = Number(key);
  return i < length ? i : null;
};

function viewOf(file: SegmentFile, mirror: Buffer, base: number): Buffer {
  const view: View = { file, mirror, base };
  const length = mirror.length;
  const readByte = (i: number): number => {
    file.read(mirror.subarray(i, i + 1), base + i);
    return mirror[i]!;
  };
  const writeByte = (i: number, value: unknown): void => {
    mirror[i] = value as number; // the Uint8 coercion of a Buffer
    file.write(mirror.subarray(i, i + 1), base + i);
  };
  // util.inspect looks past proxies at their target: let the mirror show the file's bytes too.
  Object.defineProperty(mirror, inspect.custom, {
    enumerable: false,
    value: (depth: number, options: object) => {
      refresh(view, WHOLE);
      return (Buffer.prototype as unknown as Record<symbol, (this: Buffer, depth: number, options: object) => string>)[inspect.custom]!.call(mirror, depth, options);
    },
  });

  const wrappers = new Map<string | symbol, unknown>();
  const wrap = (key: string | symbol, method: (...args: unknown[]) => unknown): unknown => {
    const name = typeof key === 'string' ? key : '';
    // subarray and Buffer's slice are views: over the same range of the file.
    if (name === 'subarray' || name === 'slice') {
      return function (this: unknown, ...args: unknown[]): unknown {
        if (this !== proxy) return Reflect.apply(method, this, args);
        const part = method.apply(mirror, args) as Buffer;
        return viewOf(file, part, base + part.byteOffset - mirror.byteOffset);
      };
    }
    if (name === 'valueOf') {
      // What Buffer.from(buf) copies: the current bytes, detached from the segment.
      return function (this: unknown): unknown {
        if (this !== proxy) return Reflect.apply(method, this, []);
        refresh(view, WHOLE);
        return Buffer.from(mirror);
      };
    }
    return function (this: unknown, ...args: unknown[]): unknown {
      if (this !== proxy) return Reflect.apply(method, this, args);
      // Other file-backed buffers among the arguments go in as their refreshed mirrors (natives refuse a Proxy).
      const targets: View[] = [];
      const unwrapped = args.map((arg, i) => {
        const other = typeof arg === 'object' && arg !== null ? views.get(arg) : undefined;
        if (other === undefined) return arg;
        refresh(other, WHOLE);
        if (name === 'copy' && i === 0) targets.push(other);
        return other.mirror;
      });
      const plan = planFor(name, unwrapped, length);
      refresh(view, plan.read);
      const result = method.apply(mirror, unwrapped);
      writeBack(view, typeof plan.write === 'function' ? plan.write(result) : plan.write);
      for (const target of targets) {
        // copy(target, targetStart = 0) returns how many bytes it copied.
        const start = typeof args[1] === 'number' ? args[1] : 0;
        writeBack(target, span(start, start + (result as number), target.mirror.length));
      }
      return result === mirror ? proxy : result;
    };
  };

  const proxy = new Proxy(mirror, {
    get(target, key) {
      const i = indexOf(key, length);
      if (i !== null) return readByte(i);
      if (key === 'buffer' || key === 'parent') throw Object.assign(new TypeError(NOT_MAPPED), { code: 'ERR_MULTIPROC_NOT_MAPPED' });
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function' || key === 'constructor') return value;
      let wrapper = wrappers.get(key);
      if (wrapper === undefined) wrappers.set(key, (wrapper = wrap(key, value as (...args: unknown[]) => unknown)));
      return wrapper;
    },
    set(target, key, value) {
      const i = indexOf(key, length);
      if (i === null) return Reflect.set(target, key, value);
      writeByte(i, value);
      return true;
    },
    getOwnPropertyDescriptor(target, key) {
      const i = indexOf(key, length);
      if (i !== null) readByte(i);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    defineProperty(target, key, descriptor) {
      const i = indexOf(key, length);
      if (i === null || !('value' in descriptor)) return Reflect.defineProperty(target, key, descriptor);
      writeByte(i, descriptor.value);
      return true;
    },
  });
  views.set(proxy, view);
  return proxy;
}

/** Whether `buf` is one of these (a file-backed buf or a view of one), not mapped memory. */
export function isFileBacked(buf: Buffer): boolean {
  return views.has(buf);
}
