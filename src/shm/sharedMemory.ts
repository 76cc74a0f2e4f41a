import { kMaxLength } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, type Stats, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { invalidArgType, OSError, ValueError } from '../errors.js';
import { native, type Native } from '../native.js';
import { registerReducer } from '../reduction.js';
import { FileExistsError, FileNotFoundError, osError } from './errors.js';
import { fileBuffer, SegmentFile } from './fileBuffer.js';
import { segmentDir } from './segmentDir.js';
import { adoptCarriedTracker, carryTracker, type CarriedTracker, register, unregister } from './tracker.js';

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
    const name = options.name === undefined || options.name === null ? null : validateName(options.name);
    if (create) checkFits(size);
    const opened = create ? createSegment(name, size, addon) : attachSegment(name!);
    this.name = opened.name;
    this.size = opened.size;
    let keepFd = false;
    try {
      if (addon === null) {
        // Every access to buf goes through this descriptor, so it stays open until close().
        this.#file = new SegmentFile(opened.fd, this.name);
        this.#buf = fileBuffer(this.#file, this.size);
        keepFd = true;
      } else {
        // The mapping outlives the descriptor, which we need no longer.
        this.#buf = Buffer.from(addon.mapFd(opened.fd, this.size));
      }
    } catch (error) {
      // A segment made for this constructor is not left behind when it fails.
      if (create) destroy(this.name);
      throw error;
    } finally {
      if (!keepFd) {
        if (this.#file === null) closeSync(opened.fd);
        this.#file?.close();
        this.#file = null;
      }
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
      unlinkSync(segmentDir() + this.name);
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

/**
 * Opens a new segment, exclusively (O_EXCL: never an existing file, nor a
 * symlink), sized and with its pages reserved, and registers it with the
 * resource tracker. A generated name that happens to be taken is drawn again.
 */
function createSegment(chosen: string | null, size: number, addon: Native | null): { fd: number; name: string; size: number } {
  for (;;) {
    const name = chosen ?? `psm_${randomBytes(4).toString('hex')}`;
    let fd: number;
    try {
      fd = openSync(segmentDir() + name, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && chosen === null) continue; // a generated name taken: another
      throw translate(error, name);
    }
    try {
      // Registered at once, so that a process killed while reserving leaves nothing behind.
      register(name);
      ftruncateSync(fd, size);
      reserve(fd, size, addon);
    } catch (error) {
      closeSync(fd);
      destroy(name);
      throw translate(error, name);
    }
    return { fd, name, size };
  }
}

/**
 * Reserves the segment's pages, so that a /dev/shm too full for it fails
 * here with ENOSPC, catchable, and never later with a SIGBUS at the first
 * write to a page tmpfs cannot find. Without the addon there is no
 * fallocate: writing zeros reserves the same pages.
 */
function reserve(fd: number, size: number, addon: Native | null): void {
  // Past the free space it would fail anyway, after taking all of it for a
  // moment from every other user of /dev/shm: refused without trying.
  const { bavail, bsize } = statfsSync(segmentDir());
  if (size > bavail * bsize) throw Object.assign(new Error('no space left on device'), { errno: -osConstants.errno.ENOSPC, code: 'ENOSPC', syscall: 'posix_fallocate' });
  if (addon !== null) {
    addon.fallocate(fd, size);
    return;
  }
  const zeros = Buffer.alloc(Math.min(size, 1 << 20));
  for (let at = 0; at < size; ) at += writeSync(fd, zeros, 0, Math.min(zeros.length, size - at), at);
}

/**
 * Opens an existing segment by name, as shm_open does: never through a
 * symlink (O_NOFOLLOW: another user may plant one in /dev/shm, pointing at a
 * file of ours), and only a regular file. libuv opens every file
 * close-on-exec, so the descriptor reaches no child.
 */
function attachSegment(name: string): { fd: number; name: string; size: number } {
  let fd: number;
  try {
    fd = openSync(segmentDir() + name, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (error) {
    throw translate(error, name);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      const errno = osConstants.errno.ENODEV;
      throw Object.assign(new OSError(`[Errno ${errno}] '/${name}' is not a shared memory segment: ${segmentDir()}${name} is ${kindOf(stat)}, not a regular file`), { errno, code: 'ENODEV' });
    }
    if (stat.size === 0) throw new ValueError(`cannot attach to the shared memory segment '${name}': it is empty (size 0)`);
    checkFits(stat.size);
    return { fd, name, size: stat.size };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'something else';
}

/** buf is one Buffer: a segment larger than a Buffer may be here cannot be created or attached to. */
function checkFits(size: number): void {
  if (size <= kMaxLength) return;
  throw Object.assign(
    new RangeError(
      `a SharedMemory of ${size} bytes is larger than a Buffer may be in Node.js ${process.version} (buffer.constants.MAX_LENGTH is ${kMaxLength} bytes), and its buf is one Buffer. ` +
        'Use several smaller segments, or a Node.js whose buffer.constants.MAX_LENGTH is larger (Node.js 24 allows any safe integer)',
    ),
    { code: 'ERR_BUFFER_TOO_LARGE' },
  );
}

/** Unlinks and unregisters a segment this process made for a constructor that then failed. */
function destroy(name: string): void {
  try {
    unlinkSync(segmentDir() + name);
  } catch {
    // Someone unlinked it already.
  }
  unregister(name);
}

function translate(error: unknown, name: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new FileExistsError(`[Errno 17] File exists: '/${name}'`);
  if (code === 'ENOENT') return new FileNotFoundError(`[Errno 2] No such file or directory: '/${name}'`);
  return osError(error, `'/${name}'`);
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
