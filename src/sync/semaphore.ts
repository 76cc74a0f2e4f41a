import { invalidArgType, ValueError } from '../errors.js';
import type { Block } from './shared.js';
import { REGION } from './lock.js';
import { adopt, adopting, regionFor, registerPrimitive } from './shared.js';
import { AsyncSleeper, deadlineAfter, sleepUntil, wakeSleepers } from './sleep.js';
import { validateWaitTimeout } from './timeout.js';
import { native } from '../native.js';
import { registerRemote, remotePrimitive } from './remote.js';

// The words of a semaphore.
const VALUE = 0; // the counter
const SLEEPERS = 1; // threads asleep on VALUE, in all processes
const BOUND = 2; // BoundedSemaphore: 1 + the initial value, which release() may not exceed; 0: unbounded
const WORDS = 3;
/** A semaphore means "wait" while its value is 0. */
const empty = (seen: number): boolean => seen <= 0;
/** SEM_VALUE_MAX on Linux. */
const MAX_VALUE = 2147483647;

/**
 * A counting semaphore shared between processes (Python's
 * `multiprocessing.Semaphore`): `acquire` takes one unit, waiting while there
 * is none; `release` gives one back, without limit.
 */
export class Semaphore {
  readonly #region!: Block;
  readonly #view!: Int32Array;
  readonly #sleeper!: AsyncSleeper;

  constructor(value = 1) {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgType('"value" argument', 'an integer', value);
    if (value < 0) throw new ValueError('semaphore initial value must be >= 0');
    if (value > MAX_VALUE) throw new ValueError(`semaphore initial value must be <= ${MAX_VALUE}`);
    // Without the addon, the same class on the sync server (./remote.ts).
    if (native() === null && !adopting()) {
      return remotePrimitive<Semaphore>(new.target.prototype instanceof BoundedSemaphore || new.target === BoundedSemaphore ? 'BoundedSemaphore' : 'Semaphore', new.target.prototype, { init: value });
    }
    const { region, fresh } = regionFor(this, WORDS);
    this.#region = region;
    this.#view = region.int32();
    if (fresh) {
      Atomics.store(this.#view, VALUE, value);
      if (this.bounded()) Atomics.store(this.#view, BOUND, value + 1);
    }
    this.#sleeper = new AsyncSleeper(this.#view, VALUE, SLEEPERS, -1, true, empty);
  }

  /** Whether release() is bounded by the initial value (BoundedSemaphore). */
  protected bounded(): boolean {
    return false;
  }

  #take = (): boolean => {
    for (;;) {
      const value = Atomics.load(this.#view, VALUE);
      if (value <= 0) return false;
      if (Atomics.compareExchange(this.#view, VALUE, value, value - 1) === value) return true;
    }
  };

  /** Resolves true once a unit is taken, false when `timeoutMs` passes first (0: only try). Never blocks the event loop. */
  acquire(timeoutMs?: number | null): Promise<boolean> {
    try {
      const timeout = validateWaitTimeout(timeoutMs);
      if (this.#take()) return Promise.resolve(true);
      if (timeout === 0) return Promise.resolve(false);
      return this.#sleeper.until(this.#take, deadlineAfter(timeout));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `acquire` that blocks this thread. */
  acquireSync(timeoutMs?: number | null): boolean {
    return sleepUntil(this.#view, VALUE, SLEEPERS, this.#take, deadlineAfter(validateWaitTimeout(timeoutMs)), -1, true, empty);
  }

  /** Gives a unit back, waking one waiter; ValueError past the bound of a BoundedSemaphore. */
  release(): void {
    const bound = Atomics.load(this.#view, BOUND);
    for (;;) {
      const value = Atomics.load(this.#view, VALUE);
      if (bound > 0 && value >= bound - 1) throw new ValueError('semaphore or lock released too many times');
      if (value >= MAX_VALUE) throw new ValueError('semaphore value would overflow');
      if (Atomics.compareExchange(this.#view, VALUE, value, value + 1) === value) break;
    }
    wakeSleepers(this.#view, VALUE, SLEEPERS, 1);
  }

  /** Runs `fn` holding one unit, and gives it back however `fn` ends. */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw invalidArgType('"fn" argument', 'a function', fn);
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** The current value (Python's `get_value()`). */
  getValue(): number {
    return Atomics.load(this.#view, VALUE);
  }

  toString(): string {
    return `<${this.constructor.name}(value=${this.getValue()}${this.bounded() ? `, maxvalue=${Atomics.load(this.#view, BOUND) - 1}` : ''})>`;
  }

  get [REGION](): Block {
    return this.#region;
  }
}

/** A Semaphore whose release() past its initial value is a ValueError (Python's `BoundedSemaphore`). */
export class BoundedSemaphore extends Semaphore {
  protected override bounded(): boolean {
    return true;
  }
}

for (const type of [Semaphore, BoundedSemaphore]) {
  registerPrimitive<Semaphore>({
    name: type.name,
    matches: (value): value is Semaphore => value.constructor === type,
    parts: (semaphore) => ({ region: semaphore[REGION] }),
    rebuild: (region) => adopt(region, () => new type(0)),
  });
}

registerRemote('Semaphore', Semaphore.prototype);
registerRemote('BoundedSemaphore', BoundedSemaphore.prototype);
