import { kMaxLength } from 'node:buffer';
import { closeSync } from 'node:fs';
import { invalidArgType, invalidArgValue, ValueError } from '../errors.js';
import { requireNative } from '../native.js';
import { registerReducer } from '../reduction.js';

/**
 * A piece of memory shared between processes: an anonymous memfd mapped
 * MAP_SHARED, as CPython's heap arenas (an unlinked file). It has no name in
 * /dev/shm, so nothing can leak, even after kill -9: the kernel frees it when
 * the last fd and mapping are gone. Pass it to a child in `args` and it
 * arrives mapped onto the same memory (the child inherits the fd and maps it).
 *
 * `Atomics` on `int32()` are atomic across processes; for sleeping and waking
 * use ./futex.ts, since `Atomics.wait`/`notify` never cross a process boundary.
 */
export class SharedRegion {
  /** The mapping; it stays valid after `close()`, until it is garbage-collected. */
  readonly buffer: ArrayBuffer;
  /** In bytes. */
  readonly size: number;
  #fd: number | null;

  private constructor(fd: number, size: number, buffer: ArrayBuffer) {
    this.#fd = fd;
    this.size = size;
    this.buffer = buffer;
  }

  /** `size` zero-filled bytes of new shared memory. Needs the native addon (Linux). */
  static create(size: number): SharedRegion {
    validateSize(size);
    const addon = requireNative('SharedRegion');
    const fd = addon.memfdCreate('multiproc', size);
    try {
      return SharedRegion.fromFd(fd, size);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Maps the first `size` bytes of a shared-memory fd; the region owns the fd from then on (`close()` closes it). */
  static fromFd(fd: number, size: number): SharedRegion {
    validateSize(size);
    return new SharedRegion(fd, size, requireNative('SharedRegion').mapFd(fd, size));
  }

  /** The file descriptor, which a child inherits; a ValueError once closed. */
  get fd(): number {
    if (this.#fd === null) throw new ValueError('the SharedRegion is closed: its fd can no longer be used or passed to a child');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd === null;
  }

  /** An Int32Array over the whole region (the trailing `size % 4` bytes excluded): the view Atomics and futexes work on. */
  int32(): Int32Array {
    return new Int32Array(this.buffer, 0, Math.floor(this.size / 4));
  }

  /** Closes the fd (idempotent). The memory stays mapped here, and lives on while any process maps it. */
  close(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    closeSync(fd);
  }
}

function validateSize(size: unknown): asserts size is number {
  if (typeof size !== 'number') throw invalidArgType('"size" argument', 'a number of bytes', size);
  if (!Number.isSafeInteger(size) || size < 1) throw invalidArgValue('"size" argument', 'a positive integer', size);
  // The mapping is an external buffer, which Node.js refuses past this length.
  if (size > kMaxLength) {
    throw Object.assign(new RangeError(`a SharedRegion of ${size} bytes is larger than a buffer may be in Node.js ${process.version} (buffer.constants.MAX_LENGTH is ${kMaxLength} bytes)`), {
      code: 'ERR_BUFFER_TOO_LARGE',
    });
  }
}

// A SharedRegion travels to a child as its fd, which the child inherits and maps.
registerReducer<SharedRegion>({
  name: 'SharedRegion',
  matches: (value): value is SharedRegion => value instanceof SharedRegion,
  reduce: (region, handles) => ({ fd: handles.pass(region.fd), size: region.size }),
  rebuild: (state, handles) => {
    const { fd, size } = state as { fd: number; size: number };
    return SharedRegion.fromFd(handles.fd(fd), size);
  },
});
