import { existsSync } from 'node:fs';
import { ValueError } from '../errors.js';
import { ShareableList, type ShareableItem } from '../shm/shareableList.js';
import { SharedMemory } from '../shm/sharedMemory.js';
import { unregister } from '../shm/tracker.js';
import { BaseManager, CREATE } from './base-manager.js';
import { BUILTIN_TYPES } from './builtins.js';
import { BaseProxy } from './proxy.js';

const SHM_DIR = '/dev/shm/';

/**
 * Python's `SharedMemoryManager`: `SharedMemory(size)` and
 * `ShareableList(sequence)` make the real objects here (not proxies), and
 * the manager's server remembers each segment and unlinks them all when
 * the manager shuts down, so none outlives the work that made them.
 *
 *     await using smm = await new SharedMemoryManager().start();
 *     const shm = await smm.SharedMemory(1024);
 */
export class SharedMemoryManager extends BaseManager {
  #tracker: Promise<BaseProxy> | null = null;
  readonly #made = new Set<string>();

  /** A new segment of `size` bytes, unlinked when the manager shuts down. */
  async SharedMemory(size: number): Promise<SharedMemory> {
    const tracker = await this.#segments();
    const shm = new SharedMemory({ create: true, size });
    await this.#track(tracker, shm);
    return shm;
  }

  /** A new ShareableList holding `sequence`, its segment unlinked when the manager shuts down. */
  async ShareableList(sequence: Iterable<ShareableItem>): Promise<ShareableList> {
    const tracker = await this.#segments();
    const list = new ShareableList(sequence);
    await this.#track(tracker, list.shm);
    return list;
  }

  /** The names of the segments the server will unlink (Python's list_segments). */
  async listSegments(): Promise<string[]> {
    return (await (await this.#segments()).callMethod('list')) as string[];
  }

  override async shutdown(): Promise<void> {
    await super.shutdown();
    // The server unlinked them: this process's resource tracker must not look for them at exit.
    for (const name of this.#made) if (!existsSync(SHM_DIR + name)) unregister(name);
    this.#made.clear();
  }

  #segments(): Promise<BaseProxy> {
    if (this.address === null) return Promise.reject(new ValueError('the SharedMemoryManager is not started: await smm.start() before SharedMemory() or ShareableList()'));
    this.#tracker ??= this[CREATE]('SegmentTracker', []);
    return this.#tracker;
  }

  async #track(tracker: BaseProxy, shm: SharedMemory): Promise<void> {
    try {
      await tracker.callMethod('track', [shm.name]);
    } catch (err) {
      // Not tracked, so not left behind either.
      shm.close();
      shm.unlink();
      throw err;
    }
    this.#made.add(shm.name);
  }
}

SharedMemoryManager.register('SegmentTracker', BUILTIN_TYPES.SegmentTracker, { create: false });
