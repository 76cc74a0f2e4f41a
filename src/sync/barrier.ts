import { invalidArgType, invalidArgValue } from '../errors.js';
import type { Block } from './shared.js';
import { BrokenBarrierError } from './errors.js';
import { REGION } from './lock.js';
import { isAlive, PID } from './owner.js';
import { native } from '../native.js';
import { actionCannotTravel, registerRemoteBarrier, remoteBarrier } from './remote-barrier.js';
import { adopt, adopting, regionFor, registerPrimitive } from './shared.js';
import { AsyncSleeper, deadlineAfter, sleepUntil, wakeSleepers, type Deadline } from './sleep.js';
import { validateWaitTimeout } from './timeout.js';

// The words of a Barrier. A short internal mutex guards COUNT, CYCLE and
// BROKEN (held for a few instructions, so taken by spinning); waiters sleep
// on CYCLE, which moves on when a cycle ends, and read in OUTCOMES whether
// their cycle ended by passing or by breaking.
const MUTEX = 0;
const COUNT = 1; // parties arrived in this cycle
const CYCLE = 2; // the current cycle number (wrapping)
const BROKEN = 3; // 1: broken until reset()
const SLEEPERS = 4;
const PARTIES = 5;
const OUTCOMES = 8; // a ring: 1 if cycle c ended broken, at OUTCOMES + c % RING
const RING = 64;
const WORDS = OUTCOMES + RING;

export interface BarrierOptions {
  /** Called by the last party to arrive, before any is released. A Barrier with an action cannot be passed to another process (functions do not travel). */
  action?: (() => void | Promise<void>) | null;
  /** The default timeout of `wait()`, in ms. */
  timeout?: number | null;
}

/**
 * A barrier for a fixed number of parties across processes (Python's
 * `multiprocessing.Barrier`): each `wait()` waits until `parties` callers
 * have called it, then all go on, and it is ready for the next round.
 */
export class Barrier {
  readonly #region!: Block;
  readonly #view!: Int32Array;
  readonly #sleeper!: AsyncSleeper;
  readonly #action: (() => void | Promise<void>) | null;
  readonly #timeout: number | null;

  constructor(parties: number, options: BarrierOptions = {}) {
    if (!adopting()) {
      if (typeof parties !== 'number' || !Number.isInteger(parties)) throw invalidArgType('"parties" argument', 'an integer', parties);
      if (parties < 1) throw invalidArgValue('"parties" argument', 'at least 1', parties);
    }
    if (options.action !== undefined && options.action !== null && typeof options.action !== 'function') throw invalidArgType('"action" option', 'a function', options.action);
    this.#action = options.action ?? null;
    this.#timeout = validateWaitTimeout(options.timeout, 'timeout');
    // Without the addon, the same class on the sync server (./remote-barrier.ts).
    if (native() === null && !adopting()) return remoteBarrier<Barrier>(new.target.prototype, parties, this.#action, this.#timeout);
    const { region, fresh } = regionFor(this, WORDS);
    this.#region = region;
    this.#view = region.int32();
    if (fresh) Atomics.store(this.#view, PARTIES, parties);
    this.#sleeper = new AsyncSleeper(this.#view, CYCLE, SLEEPERS);
  }

  get parties(): number {
    return Atomics.load(this.#view, PARTIES);
  }

  /** How many parties wait now (Python's `n_waiting`). */
  get nWaiting(): number {
    return Math.min(Atomics.load(this.#view, COUNT), this.parties);
  }

  get broken(): boolean {
    return Atomics.load(this.#view, BROKEN) === 1;
  }

  #lock(): void {
    for (let spins = 1; ; spins++) {
      const holder = Atomics.compareExchange(this.#view, MUTEX, 0, PID);
      if (holder === 0) return;
      // Another party holds it for a few instructions: let it finish. Now
      // and then, make sure it did not die in between (killed with SIGKILL).
      if (spins % 4096 === 0 && holder !== PID && !isAlive(holder)) Atomics.compareExchange(this.#view, MUTEX, holder, 0);
    }
  }

  #unlock(): void {
    Atomics.store(this.#view, MUTEX, 0);
  }

  /** Ends the current cycle (holding the mutex): `broken` or passed; wakes everyone. */
  #endCycle(broken: boolean): void {
    const cycle = Atomics.load(this.#view, CYCLE);
    Atomics.store(this.#view, OUTCOMES + (cycle & (RING - 1)), broken ? 1 : 0);
    Atomics.store(this.#view, COUNT, 0);
    Atomics.store(this.#view, CYCLE, (cycle + 1) | 0);
    wakeSleepers(this.#view, CYCLE, SLEEPERS, Infinity);
  }

  /**
   * Arrives (holding nothing): the arrival index and cycle, null when the
   * last party's action still runs (come back when the cycle moves on).
   */
  #arrive(): { index: number; cycle: number } | { busy: number } {
    this.#lock();
    try {
      if (this.broken) throw new BrokenBarrierError();
      const count = Atomics.load(this.#view, COUNT);
      const cycle = Atomics.load(this.#view, CYCLE);
      if (count >= this.parties) return { busy: cycle };
      Atomics.store(this.#view, COUNT, count + 1);
      return { index: count, cycle };
    } finally {
      this.#unlock();
    }
  }

  #break(): void {
    this.#lock();
    try {
      if (!this.broken) {
        Atomics.store(this.#view, BROKEN, 1);
        this.#endCycle(true);
      }
    } finally {
      this.#unlock();
    }
  }

  #outcome(cycle: number, index: number): number {
    if (Atomics.load(this.#view, OUTCOMES + (cycle & (RING - 1))) === 1) throw new BrokenBarrierError();
    return index;
  }

  /**
   * Waits for all parties; resolves to this caller's arrival index
   * (0 .. parties-1, distinct; the last to arrive gets parties-1 and runs the
   * action). A timeout, abort(), reset() or a failing action breaks the
   * barrier: every waiter rejects with BrokenBarrierError.
   */
  async wait(timeoutMs?: number | null): Promise<number> {
    const timeout = timeoutMs === undefined ? this.#timeout : validateWaitTimeout(timeoutMs);
    const deadline = deadlineAfter(timeout);
    for (;;) {
      const arrival = this.#arrive();
      if ('busy' in arrival) {
        const moved = (): boolean => Atomics.load(this.#view, CYCLE) !== arrival.busy;
        await this.#sleeper.until(moved, null);
        continue;
      }
      const { index, cycle } = arrival;
      if (index === this.parties - 1) {
        await this.#release(cycle);
        return index;
      }
      const moved = (): boolean => Atomics.load(this.#view, CYCLE) !== cycle;
      if (!moved() && !(await this.#sleeper.until(moved, deadline))) this.#timedOut(cycle);
      return this.#outcome(cycle, index);
    }
  }

  /** `wait` that blocks this thread (an action, if any, must then be synchronous). */
  waitSync(timeoutMs?: number | null): number {
    const timeout = timeoutMs === undefined ? this.#timeout : validateWaitTimeout(timeoutMs);
    const deadline: Deadline = deadlineAfter(timeout);
    for (;;) {
      const arrival = this.#arrive();
      if ('busy' in arrival) {
        sleepUntil(this.#view, CYCLE, SLEEPERS, () => Atomics.load(this.#view, CYCLE) !== arrival.busy, null);
        continue;
      }
      const { index, cycle } = arrival;
      if (index === this.parties - 1) {
        const result = this.#runAction();
        if (result instanceof Promise) {
          this.#break();
          throw new TypeError('the Barrier\'s action returned a Promise: use await barrier.wait(), not waitSync()');
        }
        this.#pass(cycle);
        return index;
      }
      if (!sleepUntil(this.#view, CYCLE, SLEEPERS, () => Atomics.load(this.#view, CYCLE) !== cycle, deadline)) this.#timedOut(cycle);
      return this.#outcome(cycle, index);
    }
  }

  #runAction(): void | Promise<void> {
    if (this.#action === null) return;
    try {
      return this.#action();
    } catch (error) {
      this.#break();
      throw error;
    }
  }

  async #release(cycle: number): Promise<void> {
    try {
      await this.#runAction();
    } catch (error) {
      this.#break();
      throw error;
    }
    this.#pass(cycle);
  }

  #pass(cycle: number): void {
    this.#lock();
    try {
      if (Atomics.load(this.#view, CYCLE) === cycle) this.#endCycle(false);
    } finally {
      this.#unlock();
    }
  }

  /** The deadline passed: the barrier breaks, unless the cycle ended just now. */
  #timedOut(cycle: number): void {
    this.#lock();
    try {
      if (Atomics.load(this.#view, CYCLE) === cycle && !this.broken) {
        Atomics.store(this.#view, BROKEN, 1);
        this.#endCycle(true);
      }
    } finally {
      this.#unlock();
    }
  }

  /** Breaks the barrier: present and future waiters get BrokenBarrierError until reset(). */
  abort(): void {
    this.#break();
  }

  /** Back to the empty, unbroken state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    this.#lock();
    try {
      if (Atomics.load(this.#view, COUNT) > 0) this.#endCycle(true);
      Atomics.store(this.#view, BROKEN, 0);
    } finally {
      this.#unlock();
    }
  }

  toString(): string {
    return `<Barrier(parties=${this.parties}, nWaiting=${this.nWaiting}${this.broken ? ', broken' : ''})>`;
  }

  get [REGION](): Block {
    return this.#region;
  }

  /** @internal The timeout of `wait()` when given none. */
  get defaultTimeout(): number | null {
    return this.#timeout;
  }

  /** @internal Whether an action is set (an action cannot travel to another process). */
  get hasAction(): boolean {
    return this.#action !== null;
  }
}

// The remote rule first: a remote Barrier is a Barrier too, with no region.
registerRemoteBarrier(Barrier.prototype);
registerPrimitive<Barrier>({
  name: 'Barrier',
  matches: (value): value is Barrier => value.constructor === Barrier,
  parts: (barrier) => {
    if (barrier.hasAction) {
      throw actionCannotTravel();
    }
    return { region: barrier[REGION], extra: barrier.defaultTimeout };
  },
  rebuild: (region, extra) => adopt(region, () => new Barrier(0, { timeout: extra as number | null })),
});
