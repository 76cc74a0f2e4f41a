import type { Block } from './shared.js';
import { REGION } from './lock.js';
import { adopt, adopting, regionFor, registerPrimitive } from './shared.js';
import { AsyncSleeper, deadlineAfter, sleepUntil, wakeSleepers } from './sleep.js';
import { validateWaitTimeout } from './timeout.js';
import { native } from '../native.js';
import { registerRemote, remotePrimitive } from './remote.js';

const FLAG = 0; // 1: set
const SLEEPERS = 1;
const WORDS = 2;
/** An event means "wait" while unset. */
const unset = (seen: number): boolean => seen === 0;

/** A flag shared between processes that others can wait for (Python's `multiprocessing.Event`). */
export class Event {
  readonly #region!: Block;
  readonly #view!: Int32Array;
  readonly #sleeper!: AsyncSleeper;
  readonly #isSet = (): boolean => Atomics.load(this.#view, FLAG) === 1;

  constructor() {
    // Without the addon, the same class on the sync server (./remote.ts).
    if (native() === null && !adopting()) return remotePrimitive<Event>('Event', new.target.prototype);
    this.#region = regionFor(this, WORDS).region;
    this.#view = this.#region.int32();
    this.#sleeper = new AsyncSleeper(this.#view, FLAG, SLEEPERS, -1, false, unset);
  }

  isSet(): boolean {
    return this.#isSet();
  }

  /** Sets the flag and wakes every waiter, in every process. */
  set(): void {
    Atomics.store(this.#view, FLAG, 1);
    wakeSleepers(this.#view, FLAG, SLEEPERS, Infinity);
  }

  clear(): void {
    Atomics.store(this.#view, FLAG, 0);
  }

  /** Resolves true once the flag is set, false if `timeoutMs` passes first. Never blocks the event loop. */
  wait(timeoutMs?: number | null): Promise<boolean> {
    return this.#sleeper.wait(this.#isSet, timeoutMs);
  }

  /** `wait` that blocks this thread. */
  waitSync(timeoutMs?: number | null): boolean {
    return sleepUntil(this.#view, FLAG, SLEEPERS, this.#isSet, deadlineAfter(validateWaitTimeout(timeoutMs)), -1, false, unset);
  }

  toString(): string {
    return `<Event ${this.#isSet() ? 'set' : 'unset'}>`;
  }

  get [REGION](): Block {
    return this.#region;
  }
}

registerPrimitive<Event>({
  name: 'Event',
  matches: (value): value is Event => value.constructor === Event,
  parts: (event) => ({ region: event[REGION] }),
  rebuild: (region) => adopt(region, () => new Event()),
});

registerRemote('Event', Event.prototype);
