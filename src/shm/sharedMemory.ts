import { kMaxLength } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { invalidArgType, OSError, ValueError } from '../errors.js';
import { native } from '../native.js';
import { registerReducer } from '../reduction.js';
import { FileExistsError, FileNotFoundError } from './errors.js';
import { fileBuffer, SegmentFile } from './fileBuffer.js';
import { adoptCarriedTracker, carryTracker, type CarriedTracker, register, unregister } from './tracker.js';

/** Where POSIX shared memory lives on Linux: shm_open(name) is open('/dev/shm/' + name). */
const SHM_DIR = '/dev/shm/';
/** NAME_MAX: the longest file name. */
const MAX_NAME_BYTES = 255;

export interface SharedMemoryOptions {
  /** The segment's name (no leading slash needed); generated (`psm_` + 8 hex digits) when creating without one. */
  name?: string | null;
  /** Create a new segment (true) or attach to an existing one (false, the default). */
  create?: boolean;
  /** Bytes, for a new segment; ignored when attaching. */
  size?: number;
}

/**
 * A named block of shared memory (Python's `shared_memory.SharedMemory`):
 * any process may attach to it by name, related or not. `buf` is a Buffer
 * over the shared pages. A segment this process tree created and left
 * behind is unlinked by the resource tracker when the tree is gone.
 *
 * Where the native addon cannot load, nothing is mapped: `buf` reads and
 * writes the segment's file with positioned I/O instead (./fileBuffer.ts),
 * the same bytes every other process sees, one system call per access.
 */
export class SharedMemory {
  readonly name: string;
  readonly size: number;
  #buf: Buffer | null;
  /** The open segment file behind a file-backed buf (no addon); null when mapped. */
  #file: SegmentFile | null = null;

  constructor(options: SharedMemoryOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'an object such as { create: true, size: 1024 } or { name }', options);
    const { create = false, size = 0 } = options;
    if (typeof create !== 'boolean') throw invalidArgType('"create" option', 'a boolean', create);
    if (typeof size !== 'number' || !Number.isSafeInteger(size)) throw invalidArgType('"size" option', 'an integer number of bytes', size);
    if (size < 0) throw new ValueError("'size' must be a positive integer");
    if (create && size === 0) throw new ValueError("'size' must be a positive number different from zero");
    if ((options.name === undefined || options.name === null) && !create) throw new ValueError("'name' can only be null if create is true");
    const addon = native();
    let name = options.name === undefined || options.name === null ? null : validateName(options.name);
    let fd: number;
    if (create) {
      for (;;) {
        const tryName = name ?? `psm_${randomBytes(4).toString('hex')}`;
        try {
          fd = openSync(SHM_DIR + tryName, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
          name = tryName;
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST' && name === null) continue; // a generated name taken: another
          throw translate(error, tryName);
        }
      }
      try {
        ftruncateSync(fd, size);
      } catch (error) {
        closeSync(fd);
        unlinkSync(SHM_DIR + name);
        throw translate(error, name);
      }
      register(name);
      this.size = size;
    } else {
      try {
        fd = openSync(SHM_DIR + name, constants.O_RDWR);
      } catch (error) {
        throw translate(error, name!);
      }
      this.size = fstatSync(fd).size;
      if (this.size === 0) {
        closeSync(fd);
        throw new ValueError(`cannot attach to the shared memory segment '${name}': it is empty (size 0)`);
      }
    }
    this.name = name!;
    if (addon === null) {
      if (this.size > kMaxLength) {
        closeSync(fd);
        if (create) this.unlink();
        throw new ValueError(
          `a SharedMemory of ${this.size} bytes is too large without the native addon: its buf is a Buffer, at most ${kMaxLength} bytes here. ` +
            "Use a smaller segment, or build the addon (npm ci where a C++ compiler and Node's headers are available)",
        );
      }
      // Every access to buf goes through this descriptor, so it stays open until close().
      this.#file = new SegmentFile(fd, this.name);
      this.#buf = fileBuffer(this.#file, this.size);
      return;
    }
    try {
      // The mapping outlives the descriptor, which we need no longer.
      this.#buf = Buffer.from(addon.mapFd(fd, this.size));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The shared bytes. A ValueError after `close()`. Without the native addon,
   * a Buffer whose accesses read and write the segment's file (its `buffer`
   * throws: there is no memory to view).
   */
  get buf(): Buffer {
    if (this.#buf === null) throw new ValueError(`SharedMemory('${this.name}') is closed: its buf can no longer be used`);
    return this.#buf;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#buf === null;
  }

  /**
   * Stops using the segment in this process (idempotent); others keep it. The
   * pages are unmapped once nothing here refers to `buf` any more (when it is
   * garbage-collected), so that a stray view can never touch unmapped memory.
   * Without the addon, the segment's file is closed at once, and a buf kept
   * from before throws a ValueError on its next access.
   */
  close(): void {
    this.#buf = null;
    this.#file?.close();
    this.#file = null;
  }

  /** Destroys the segment's name: no one can attach any more; mappings stay valid. FileNotFoundError the second time. */
  unlink(): void {
    try {
      unlinkSync(SHM_DIR + this.name);
    } catch (error) {
      throw translate(error, this.name);
    }
    unregister(this.name);
  }

  toString(): string {
    return `SharedMemory('${this.name}', size=${this.size})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

function validateName(name: unknown): string {
  if (typeof name !== 'string') throw invalidArgType('"name" option', 'a string', name);
  if (name.includes('\0')) throw new ValueError('embedded null character in the "name" option');
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (bare === '' || bare === '.' || bare === '..') throw new ValueError(`invalid shared memory name ${JSON.stringify(name)}: give a plain name such as 'my_block'`);
  if (bare.includes('/')) throw new ValueError(`invalid shared memory name ${JSON.stringify(name)}: only a leading '/' is allowed`);
  if (Buffer.byteLength(bare) > MAX_NAME_BYTES) {
    throw Object.assign(new OSError(`[Errno 36] File name too long: the shared memory name is ${Buffer.byteLength(bare)} bytes; at most ${MAX_NAME_BYTES}`), { errno: 36, code: 'ENAMETOOLONG' });
  }
  return bare;
}

function translate(error: unknown, name: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new FileExistsError(`[Errno 17] File exists: '/${name}'`);
  if (code === 'ENOENT') return new FileNotFoundError(`[Errno 2] No such file or directory: '/${name}'`);
  return error instanceof Error ? error : new OSError(String(error));
}

/** The internal attach used when a segment arrives in a child. */
function attach(name: string): SharedMemory {
  return new SharedMemory({ name });
}

// A SharedMemory travels by name (the child attaches: FileNotFoundError if it
// was unlinked meanwhile), with what makes the tracker wait for the child too.
registerReducer<SharedMemory>({
  name: 'SharedMemory',
  matches: (value): value is SharedMemory => value instanceof SharedMemory,
  reduce: (shm, handles) => ({ name: shm.name, tracker: carryTracker(handles) }),
  rebuild: (state, handles) => {
    const { name, tracker } = state as { name: string; tracker: CarriedTracker };
    adoptCarriedTracker(tracker, handles);
    return attach(name);
  },
});

export { attach as attachSharedMemory };
