import { AssertionError, ValueError } from '../errors.js';
import { Empty, Full } from '../queues.js';
import { BrokenBarrierError } from '../sync/errors.js';
import { currentCall, type CallContext } from './context.js';
import { blockOptions, Waiters } from './waiters.js';

/**
 * The server's side of the synchronisation typeids. They live in one
 * process, the server, so each is a plain object with a line of waiting
 * calls; what a process that dies was waiting for goes to the next in line,
 * and a lock it held is released (Python's server would keep it locked).
 */

export class ManagedQueue {
  static readonly exposed = ['put', 'get', 'putNowait', 'getNowait', 'qsize', 'empty', 'full'];
  readonly #items: unknown[] = [];
  readonly #maxsize: number;
  readonly #getters = new Waiters<{ item: unknown }>();
  readonly #putters = new Waiters<true>();

  constructor(maxsize: unknown = 0) {
    if (maxsize !== undefined && maxsize !== null && !Number.isInteger(maxsize)) throw new TypeError('a Queue\'s maxsize is an integer (0 or less: unbounded)');
    this.#maxsize = (maxsize as number | null) ?? 0;
  }

  async put(item: unknown, options?: unknown): Promise<void> {
    const { block, timeout } = blockOptions(options);
    const deadline = timeout === null ? null : Date.now() + timeout;
    while (this.full()) {
      // A get that takes an item wakes the first put in line.
      if (!block || (await this.#putters.wait(deadline === null ? null : Math.max(0, deadline - Date.now()))) === null) {
        if (this.full()) throw new Full('the queue is full');
      }
    }
    this.added();
    // A waiting get takes it straight away: it can never be taken twice or lost between them.
    if (this.#getters.wakeOne({ item }) === null) this.#items.push(item);
  }

  putNowait(item: unknown): Promise<void> {
    return this.put(item, { block: false });
  }

  async get(options?: unknown): Promise<unknown> {
    const { block, timeout } = blockOptions(options);
    const call = currentCall();
    if (this.#items.length > 0) return this.#taken(call, this.#take());
    if (!block) throw new Empty('the queue is empty');
    const handed = await this.#getters.wait(timeout);
    if (handed === null) throw new Empty('the queue is empty');
    this.#putters.wakeOne(true);
    return this.#taken(call, handed.item);
  }

  #giveBack(item: unknown): void {
    if (this.#getters.wakeOne({ item }) === null) this.#items.unshift(item);
  }

  /** An item whose get is not answered, or not acknowledged (its process died meanwhile), goes back to the front of the queue. */
  #taken(call: CallContext, item: unknown): unknown {
    call.onUndelivered(() => this.#giveBack(item));
    return item;
  }

  getNowait(): Promise<unknown> {
    return this.get({ block: false });
  }

  qsize(): number {
    return this.#items.length;
  }

  empty(): boolean {
    return this.#items.length === 0;
  }

  full(): boolean {
    return this.#maxsize > 0 && this.#items.length >= this.#maxsize;
  }

  /** For JoinableQueue: counts what was put. */
  protected added(): void {}

  #take(): unknown {
    const item = this.#items.shift();
    this.#putters.wakeOne(true);
    return item;
  }

  close(): void {
    this.#getters.wakeAll(null as never);
  }
}

export class ManagedJoinableQueue extends ManagedQueue {
  static override readonly exposed = [...ManagedQueue.exposed, 'taskDone', 'join'];
  #unfinished = 0;
  readonly #joiners = new Waiters<true>();

  protected override added(): void {
    this.#unfinished += 1;
  }

  taskDone(): void {
    if (this.#unfinished <= 0) throw new ValueError('task_done() called too many times');
    this.#unfinished -= 1;
    if (this.#unfinished === 0) this.#joiners.wakeAll(true);
  }

  async join(): Promise<void> {
    while (this.#unfinished > 0) await this.#joiners.wait(null);
  }
}

/** Lock and RLock: `owner` is the connection (the process) that holds it; an RLock counts its re-entries. */
export class ManagedLock {
  static readonly exposed = ['acquire', 'release', 'locked'];
  protected owner: number | null = null;
  protected depth = 0;
  readonly #waiters = new Waiters<true>();
  readonly #watched = new Set<number>();
  readonly #reentrant: boolean;

  constructor(reentrant = false) {
    this.#reentrant = reentrant;
  }

  acquire(options?: unknown): Promise<boolean> {
    return this.acquireAs(currentCall(), options);
  }

  /** Acquires for the caller `call` (a Condition re-acquires for its waiter after an await, when currentCall() is no longer it). */
  async acquireAs(call: CallContext, options?: unknown): Promise<boolean> {
    const { block, timeout } = blockOptions(options);
    if (this.owner === null) return this.#take(call);
    if (this.#reentrant && this.owner === call.holder) {
      this.depth += 1;
      return true;
    }
    if (!block) return false;
    if ((await this.#waiters.wait(timeout, call)) === null) return false;
    // Handed over by release(), already ours.
    this.#watch(call);
    return true;
  }

  release(): void {
    const { holder } = currentCall();
    if (this.owner === null) throw new (this.#reentrant ? AssertionError : ValueError)(this.#reentrant ? 'cannot release un-acquired lock' : 'release unlocked lock');
    if (this.#reentrant && this.owner !== holder) throw new AssertionError('cannot release un-acquired lock');
    if (this.#reentrant && --this.depth > 0) return;
    this.#handOn();
  }

  locked(): boolean {
    return this.owner !== null;
  }

  /** Releases fully for Condition.wait; returns the depth to restore. */
  releaseAll(): number {
    const depth = this.depth;
    this.#handOn();
    return depth;
  }

  isOwnedBy(holder: number): boolean {
    return this.owner === holder;
  }

  #take(call: CallContext): boolean {
    this.owner = call.holder;
    this.depth = 1;
    this.#watch(call);
    return true;
  }

  #handOn(): void {
    this.owner = null;
    this.depth = 0;
    const next = this.#waiters.wakeOne(true);
    if (next !== null) {
      this.owner = next;
      this.depth = 1;
    }
  }

  /** A holder that disconnects while it holds the lock releases it. */
  #watch(call: CallContext): void {
    // Once per connection, however often it acquires.
    if (this.#watched.has(call.holder)) return;
    this.#watched.add(call.holder);
    call.onDisconnect(() => {
      this.#watched.delete(call.holder);
      if (this.owner === call.holder) this.#handOn();
    });
  }
}

export class ManagedRLock extends ManagedLock {
  constructor() {
    super(true);
  }
}

export class ManagedSemaphore {
  static readonly exposed = ['acquire', 'release', 'getValue'];
  #value: number;
  readonly #limit: number | null;
  readonly #waiters = new Waiters<true>();

  constructor(value: unknown = 1, bounded = false) {
    if (!Number.isInteger(value) || (value as number) < 0) throw new ValueError('semaphore initial value must be >= 0');
    this.#value = value as number;
    this.#limit = bounded ? (value as number) : null;
  }

  async acquire(options?: unknown): Promise<boolean> {
    const { block, timeout } = blockOptions(options);
    if (this.#value > 0 && this.#waiters.length === 0) {
      this.#value -= 1;
      return true;
    }
    if (!block) return false;
    return (await this.#waiters.wait(timeout)) !== null;
  }

  release(n: unknown = 1): void {
    if (!Number.isInteger(n) || (n as number) < 1) throw new ValueError('n must be one or more');
    for (let i = 0; i < (n as number); i++) {
      if (this.#limit !== null && this.#value + 1 > this.#limit) throw new ValueError('Semaphore released too many times');
      if (this.#waiters.wakeOne(true) === null) this.#value += 1;
    }
  }

  getValue(): number {
    return this.#value;
  }
}

export class ManagedBoundedSemaphore extends ManagedSemaphore {
  constructor(value: unknown = 1) {
    super(value, true);
  }
}

export class ManagedEvent {
  static readonly exposed = ['set', 'clear', 'isSet', 'wait'];
  #flag = false;
  readonly #waiters = new Waiters<true>();

  set(): void {
    this.#flag = true;
    this.#waiters.wakeAll(true);
  }

  clear(): void {
    this.#flag = false;
  }

  isSet(): boolean {
    return this.#flag;
  }

  async wait(timeoutMs: unknown = null): Promise<boolean> {
    if (this.#flag) return true;
    await this.#waiters.wait(checkTimeout(timeoutMs));
    return this.#flag;
  }
}

export class ManagedCondition {
  static readonly exposed = ['acquire', 'release', 'wait', 'notify', 'notifyAll'];
  readonly #lock: ManagedLock = new ManagedRLock();
  readonly #waiters = new Waiters<true>();

  acquire(options?: unknown): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  release(): void {
    this.#lock.release();
  }

  async wait(timeoutMs: unknown = null): Promise<boolean> {
    const timeout = checkTimeout(timeoutMs);
    const call = currentCall();
    if (!this.#lock.isOwnedBy(call.holder)) throw new AssertionError('cannot wait on un-acquired lock');
    const depth = this.#lock.releaseAll();
    const woken = this.#waiters.wait(timeout);
    const notified = (await woken) !== null;
    // Re-acquire as the same caller, whatever happened.
    await this.#lock.acquireAs(call, {});
    for (let i = 1; i < depth; i++) await this.#lock.acquireAs(call, {});
    return notified;
  }

  notify(n: unknown = 1): void {
    if (!this.#lock.isOwnedBy(currentCall().holder)) throw new AssertionError('cannot notify on un-acquired lock');
    for (let i = 0; i < (n as number); i++) if (this.#waiters.wakeOne(true) === null) break;
  }

  notifyAll(): void {
    if (!this.#lock.isOwnedBy(currentCall().holder)) throw new AssertionError('cannot notify on un-acquired lock');
    this.#waiters.wakeAll(true);
  }
}

export class ManagedBarrier {
  static readonly exposed = ['wait', 'abort', 'reset', 'parties', 'nWaiting', 'broken'];
  readonly #parties: number;
  readonly #timeout: number | null;
  #waiting = new Waiters<number>();
  #count = 0;
  #broken = false;

  constructor(parties: unknown, options?: unknown) {
    if (!Number.isInteger(parties) || (parties as number) < 1) throw new ValueError('parties must be > 0');
    this.#parties = parties as number;
    this.#timeout = checkTimeout((options as { timeout?: unknown } | undefined)?.timeout ?? null);
  }

  async wait(timeoutMs?: unknown): Promise<number> {
    if (this.#broken) throw new BrokenBarrierError();
    const index = this.#count++;
    if (this.#count === this.#parties) {
      this.#count = 0;
      this.#waiting.wakeAll(0);
      return index;
    }
    const line = this.#waiting;
    const outcome = await line.wait(timeoutMs === undefined ? this.#timeout : checkTimeout(timeoutMs));
    if (outcome === null || outcome < 0) {
      // A timeout (or a caller gone) breaks the barrier, as in Python.
      if (outcome === null) this.abort();
      throw new BrokenBarrierError();
    }
    return index;
  }

  abort(): void {
    this.#broken = true;
    this.#count = 0;
    this.#waiting.wakeAll(-1);
  }

  reset(): void {
    this.#waiting.wakeAll(-1);
    this.#waiting = new Waiters<number>();
    this.#count = 0;
    this.#broken = false;
  }

  parties(): number {
    return this.#parties;
  }

  nWaiting(): number {
    return this.#count;
  }

  broken(): boolean {
    return this.#broken;
  }
}

function checkTimeout(timeoutMs: unknown): number | null {
  if (timeoutMs === null || timeoutMs === undefined) return null;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) throw new TypeError(`a timeout is a number of milliseconds or null, not ${typeof timeoutMs}`);
  return Math.max(0, timeoutMs);
}
