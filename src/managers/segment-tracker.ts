import { unlinkSync } from 'node:fs';
import { FREED } from './context.js';

const SHM_DIR = '/dev/shm/';

/**
 * The server's list of the segments made through a SharedMemoryManager
 * (Python's SharedMemoryServer.track_segment): freed when the server shuts
 * down, it unlinks every one of them.
 */
export class SegmentTracker {
  static readonly exposed = ['track', 'release', 'list'];
  readonly #names = new Set<string>();

  track(name: unknown): void {
    if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) throw new TypeError(`a segment name is a string of letters, digits, '_', '.' and '-', not ${JSON.stringify(name)}`);
    this.#names.add(name);
  }

  /** Forgets a segment its owner unlinked itself (Python's release_segment). */
  release(name: unknown): void {
    this.#names.delete(name as string);
  }

  list(): string[] {
    return [...this.#names];
  }

  [FREED](): void {
    for (const name of this.#names) {
      try {
        unlinkSync(SHM_DIR + name);
      } catch {
        // unlinked already, by its owner
      }
    }
    this.#names.clear();
  }
}

