import { performance } from 'node:perf_hooks';
import { TimeoutError, ValueError } from '../errors.js';
import { validateTimeout } from '../validate.js';
import type { ProgressReporter } from './progress.js';
import type { Settle, Task, TaskGroup } from './task.js';

/** What `imap` and `imapUnordered` return: an async iterator whose `next` takes Python's timeout. */
export interface PoolIterator<T> extends AsyncIterableIterator<T> {
  /** The next result; a TimeoutError when none comes within `timeoutMs` (the iterator stays usable). */
  next(timeoutMs?: number | null): Promise<IteratorResult<T>>;
  /** Stops early: queued tasks are dropped and the input is closed (what `break` does). */
  return(): Promise<IteratorResult<T>>;
  [Symbol.asyncIterator](): PoolIterator<T>;
}

/** What the iterator needs of its pool. */
export interface ImapPool {
  /** How many chunks may be ahead of the consumer. */
  readonly aheadLimit: number;
  readonly running: boolean;
  submitInternal(tasks: Task[]): void;
  /** Work in this process that results wait for (reading the input): the pool holds the event loop meanwhile. */
  feeding(delta: number): void;
  cancelGroup(group: TaskGroup): void;
}

export interface ImapPlan {
  source: Iterator<unknown> | AsyncIterator<unknown>;
  chunksize: number;
  ordered: boolean;
  progress: ProgressReporter;
  makeTask(chunk: unknown[], group: TaskGroup, settle: Settle): Task;
}

type Slot = { state: 'ok'; values: unknown[] } | { state: 'error'; error: unknown };

/**
 * The iterator of `imap` / `imapUnordered`: it reads the input only while
 * fewer than a bounded number of chunks are ahead of the consumer, so an
 * endless input is fine; an error of the input comes after the results of
 * the chunks built before it, as in Python.
 */
export class ImapIterator implements PoolIterator<unknown> {
  readonly #pool: ImapPool;
  readonly #plan: ImapPlan;
  readonly #group: TaskGroup = { cancelled: false };
  /** Finished chunks not yet consumed, by input position (ordered). */
  readonly #slots = new Map<number, Slot>();
  /** Chunks submitted, and consumed. */
  #submitted = 0;
  #nextSlot = 0;
  #buffered: unknown[] = [];
  #bufferedHead = 0;
  #inputDone = false;
  #inputError: { error: unknown } | null = null;
  #reading = false;
  #finished = false;
  #wake: (() => void) | null = null;

  constructor(pool: ImapPool, plan: ImapPlan) {
    this.#pool = pool;
    this.#plan = plan;
    void this.#fill();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  get #ahead(): number {
    return this.#submitted - this.#nextSlot;
  }

  /** Reads input and submits chunks until enough are ahead of the consumer. */
  async #fill(): Promise<void> {
    if (this.#reading || this.#inputDone || this.#finished) return;
    this.#reading = true;
    this.#pool.feeding(1);
    try {
      while (!this.#inputDone && !this.#finished && this.#ahead < this.#pool.aheadLimit) {
        const chunk: unknown[] = [];
        while (chunk.length < this.#plan.chunksize) {
          let step: IteratorResult<unknown>;
          try {
            const next = this.#plan.source.next();
            step = next instanceof Promise ? await next : (next as IteratorResult<unknown>);
          } catch (error) {
            this.#inputError = { error };
            this.#endInput();
            break;
          }
          if (step.done) {
            this.#endInput();
            break;
          }
          chunk.push(step.value);
        }
        // A partial chunk cut short by an input error is dropped, as in Python.
        if (chunk.length > 0 && this.#inputError === null) this.#submit(chunk);
        if (!this.#pool.running && !this.#inputDone) {
          this.#inputError = { error: new ValueError('Pool not running') };
          this.#endInput();
        }
      }
    } finally {
      this.#reading = false;
      this.#pool.feeding(-1);
      this.#wake?.();
    }
  }

  #endInput(): void {
    this.#inputDone = true;
  }

  #submit(chunk: unknown[]): void {
    const index = this.#submitted++;
    const task = this.#plan.makeTask(chunk, this.#group, (status, value) => {
      if (this.#finished) return;
      const slot: Slot = status === 'ok' ? { state: 'ok', values: value as unknown[] } : { state: 'error', error: value };
      if (this.#plan.ordered) this.#slots.set(index, slot);
      else this.#completedUnordered.push(slot);
      this.#wake?.();
    });
    this.#pool.submitInternal([task]);
  }

  readonly #completedUnordered: Slot[] = [];

  /**
   * The next result. `timeoutMs` as Python's `next(timeout)`: a TimeoutError
   * when no result comes in time; the iterator stays usable.
   */
  async next(timeoutMs?: number | null): Promise<IteratorResult<unknown>> {
    const timeout = validateTimeout(timeoutMs);
    const deadline = timeout === null ? null : performance.now() + timeout;
    for (;;) {
      if (this.#finished) return { done: true, value: undefined };
      if (this.#bufferedHead < this.#buffered.length) {
        const value = this.#buffered[this.#bufferedHead++];
        this.#plan.progress.advance(1);
        return { done: false, value };
      }
      const slot = this.#takeSlot();
      if (slot !== null) {
        if (slot.state === 'error') {
          this.#finish();
          throw slot.error;
        }
        this.#buffered = slot.values;
        this.#bufferedHead = 0;
        void this.#fill();
        continue;
      }
      if (this.#inputDone && this.#nextSlot === this.#submitted) {
        const failure = this.#inputError;
        this.#finish();
        if (failure !== null) throw failure.error;
        return { done: true, value: undefined };
      }
      if (deadline === null) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
      } else {
        const left = deadline - performance.now();
        if (left <= 0) throw new TimeoutError(`no result within ${timeout} ms`);
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
      this.#wake = null;
    }
  }

  /** The next finished chunk, or null; advances past it. */
  #takeSlot(): Slot | null {
    if (this.#plan.ordered) {
      const slot = this.#slots.get(this.#nextSlot);
      if (slot === undefined) return null;
      this.#slots.delete(this.#nextSlot++);
      return slot;
    }
    const slot = this.#completedUnordered.shift();
    if (slot === undefined) return null;
    this.#nextSlot++;
    return slot;
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#plan.progress.finish();
    this.#pool.cancelGroup(this.#group);
    if (!this.#inputDone) {
      this.#endInput();
      void Promise.resolve(this.#plan.source.return?.()).catch(() => {});
    }
  }

  /** The consumer stopped early (`break`): queued chunks are dropped and the input is closed. */
  async return(): Promise<IteratorResult<unknown>> {
    this.#finish();
    return { done: true, value: undefined };
  }
}
