import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { EOFError } from './errors.js';
import { requireNative } from './native.js';

/**
 * A Queue's pipe as this process reads and writes it while other processes
 * do too. The descriptors that travel to children are blocking, and stay so:
 * O_NONBLOCK belongs to the open file description, which every process that
 * holds the pipe shares, and a blocking read of a frame known to be whole is
 * the fastest get. For reads and writes that must not block, this opens the
 * same pipe anew through /proc/self/fd (a description of our own, made
 * non-blocking), and learns when to try again from the event loop (a uv_poll
 * on the descriptor), so that no thread ever waits on the pipe.
 */
export class PipeEnd {
  readonly fd: number;
  readonly #writing: boolean;
  #nonblocking = -1;

  constructor(fd: number, writing: boolean) {
    this.fd = fd;
    this.#writing = writing;
  }

  /** Reads what is there, up to `length` bytes, into `buffer` at `at`: 0 if nothing is (yet). */
  readSome(buffer: Buffer, at: number, length: number): number {
    try {
      const n = readSync(this.#own(), buffer, at, length, null);
      if (n === 0) throw new EOFError('got end of file during message');
      return n;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
      throw error;
    }
  }

  /** Writes what fits of `buffer` from `at` (up to `length` bytes); 0 if the pipe is full. */
  writeSome(buffer: Buffer, at: number, length = buffer.length - at): number {
    try {
      return writeSync(this.#own(), buffer, at, length);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
      throw error;
    }
  }

  /**
   * Resolves true when a read (or write) may make progress, or false after
   * `ms` (null: no limit), whichever comes first. The event loop watches: no
   * thread waits.
   */
  ready(ms: number | null): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const cancel = requireNative('Queue').pollFd(this.#own(), this.#writing, () => {
        clearTimeout(timer);
        resolve(true);
      });
      if (ms !== null) {
        timer = setTimeout(() => {
          cancel();
          resolve(false);
        }, ms);
      }
    });
  }

  /** Closes the descriptor of our own (not `fd`, which the queue closes). */
  close(): void {
    if (this.#nonblocking >= 0) closeSync(this.#nonblocking);
    this.#nonblocking = -1;
  }

  #own(): number {
    if (this.#nonblocking < 0) {
      this.#nonblocking = openSync(`/proc/self/fd/${this.fd}`, (this.#writing ? constants.O_WRONLY : constants.O_RDONLY) | constants.O_NONBLOCK);
    }
    return this.#nonblocking;
  }
}
