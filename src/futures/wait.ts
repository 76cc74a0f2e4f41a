import { invalidArgType, invalidArgValue, TimeoutError } from '../errors.js';
import { validateTimeout } from '../validate.js';
import { Future, isWaitable, RAISED, WATCH } from './future.js';

/** `wait()` returns as soon as any future finishes or is cancelled. */
export const FIRST_COMPLETED = 'FIRST_COMPLETED';
/** `wait()` returns when any future finishes by raising, or when all are done. */
export const FIRST_EXCEPTION = 'FIRST_EXCEPTION';
/** `wait()` returns when all futures are done. */
export const ALL_COMPLETED = 'ALL_COMPLETED';
export type ReturnWhen = typeof FIRST_COMPLETED | typeof FIRST_EXCEPTION | typeof ALL_COMPLETED;

export interface WaitOptions {
  /** Milliseconds; null or undefined waits as long as it takes. */
  timeout?: number | null;
  /** Default ALL_COMPLETED. */
  returnWhen?: ReturnWhen;
}

/** Python's `DoneAndNotDoneFutures`, with camelCase names. */
export interface DoneAndNotDone<T> {
  done: Set<Future<T>>;
  notDone: Set<Future<T>>;
}

function futureSet<T>(futures: Iterable<Future<T>>, what: string): Set<Future<T>> {
  if (futures === null || typeof futures !== 'object' || !(Symbol.iterator in futures)) throw invalidArgType(`"${what}" argument`, 'an iterable of Futures', futures);
  const set = new Set(futures);
  for (const future of set) if (!(future instanceof Future)) throw invalidArgType(`"${what}" argument`, 'an iterable of Futures', future);
  return set;
}

const failed = <T>(future: Future<T>): boolean => future.state === 'FINISHED' && future[RAISED]();

/**
 * Waits until the futures are done, as Python's `concurrent.futures.wait`:
 * `{ done, notDone }`, two Sets. Futures may come from different executors.
 */
export async function wait<T>(futures: Iterable<Future<T>>, options: WaitOptions = {}): Promise<DoneAndNotDone<T>> {
  const all = futureSet(futures, 'futures');
  const timeout = validateTimeout(options.timeout, 'timeout');
  const returnWhen = options.returnWhen ?? ALL_COMPLETED;
  if (returnWhen !== FIRST_COMPLETED && returnWhen !== FIRST_EXCEPTION && returnWhen !== ALL_COMPLETED) {
    throw invalidArgValue('"returnWhen" option', 'FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED', returnWhen);
  }
  const split = (): DoneAndNotDone<T> => {
    const done = new Set<Future<T>>();
    const notDone = new Set<Future<T>>();
    for (const future of all) (isWaitable(future) ? done : notDone).add(future);
    return { done, notDone };
  };
  const satisfied = ({ done, notDone }: DoneAndNotDone<T>): boolean =>
    notDone.size === 0 || (returnWhen === FIRST_COMPLETED && done.size > 0) || (returnWhen === FIRST_EXCEPTION && [...done].some(failed));
  let now = split();
  if (satisfied(now) || timeout === 0) return now;
  const unwatch: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve) => {
      const check = (): void => {
        now = split();
        if (satisfied(now)) resolve();
      };
      for (const future of now.notDone) unwatch.push(future[WATCH](check));
      if (timeout !== null) timer = setTimeout(resolve, timeout);
    });
  } finally {
    clearTimeout(timer);
    for (const stop of unwatch) stop();
  }
  return split();
}

/**
 * A Future as `asCompleted` yields it: the future itself, typed without its
 * `then`, because TypeScript types each item of a `for await` loop as what
 * awaiting it would give (the result), though JavaScript hands out the
 * future as it is.
 */
export type CompletedFuture<T> = Omit<Future<T>, 'then'>;

/**
 * The futures as they finish (or are cancelled and dropped), as Python's
 * `concurrent.futures.as_completed`: those already done first; duplicates
 * once. A TimeoutError ("2 (of 4) futures unfinished") when `timeoutMs`,
 * counted from this call, passes first.
 */
export function asCompleted<T>(futures: Iterable<Future<T>>, timeoutMs?: number | null): AsyncIterableIterator<CompletedFuture<T>> {
  return new AsCompleted(futureSet(futures, 'futures'), validateTimeout(timeoutMs, 'timeoutMs'));
}

/**
 * Not an async generator: a Future is awaitable, and an async generator
 * awaits what it yields, which would hand out results instead of futures.
 */
class AsCompleted<T> implements AsyncIterableIterator<Future<T>> {
  readonly #total: number;
  readonly #deadline: number | null;
  readonly #pending = new Set<Future<T>>();
  readonly #finished: Future<T>[] = [];
  readonly #unwatch: (() => void)[] = [];
  #wake: (() => void) | null = null;

  constructor(all: Set<Future<T>>, timeout: number | null) {
    this.#total = all.size;
    this.#deadline = timeout === null ? null : performance.now() + timeout;
    for (const future of all) {
      if (isWaitable(future)) {
        this.#finished.push(future);
        continue;
      }
      this.#pending.add(future);
      this.#unwatch.push(
        future[WATCH](() => {
          if (!isWaitable(future) || !this.#pending.delete(future)) return;
          this.#finished.push(future);
          this.#wake?.();
        }),
      );
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Future<T>>> {
    for (;;) {
      const future = this.#finished.shift();
      if (future !== undefined) return { done: false, value: future };
      if (this.#pending.size === 0) return this.#stop();
      const left = this.#deadline === null ? null : this.#deadline - performance.now();
      if (left !== null && left <= 0) {
        const unfinished = this.#pending.size;
        this.#stop();
        throw new TimeoutError(`${unfinished} (of ${this.#total}) futures unfinished`);
      }
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        if (left !== null) timer = setTimeout(resolve, left);
      });
      this.#wake = null;
      clearTimeout(timer);
    }
  }

  async return(): Promise<IteratorResult<Future<T>>> {
    return this.#stop();
  }

  #stop(): IteratorResult<Future<T>> {
    for (const stop of this.#unwatch.splice(0)) stop();
    this.#pending.clear();
    this.#finished.length = 0;
    return { done: true, value: undefined };
  }
}
