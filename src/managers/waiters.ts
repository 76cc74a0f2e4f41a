import { currentCall } from './context.js';

interface Waiter<T> {
  readonly holder: number;
  settle(value: T | null): void;
}

/**
 * Calls waiting in the server, first come first served: each resolves with
 * what a waker hands it, or null at its timeout. The caller's connection
 * ending takes it out of line at once, so nothing is ever handed to a
 * process that has gone.
 */
export class Waiters<T> {
  readonly #line: Waiter<T>[] = [];

  get length(): number {
    return this.#line.length;
  }

  /** Waits up to `timeoutMs` (null: no limit) for a hand-over. */
  wait(timeoutMs: number | null, call = currentCall()): Promise<T | null> {
    const { holder, signal } = call;
    return new Promise<T | null>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const leave = (): void => {
        const i = this.#line.indexOf(waiter);
        if (i >= 0) this.#line.splice(i, 1);
      };
      const onAbort = (): void => {
        leave();
        clearTimeout(timer);
        resolve(null);
      };
      const waiter: Waiter<T> = {
        holder,
        settle: (value) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
      };
      if (signal.aborted) return resolve(null);
      this.#line.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== null) {
        timer = setTimeout(() => {
          leave();
          signal.removeEventListener('abort', onAbort);
          resolve(null);
        }, Math.max(0, timeoutMs));
      }
    });
  }

  /** Hands `value` to the first in line; returns its holder, or null when none waits. */
  wakeOne(value: T): number | null {
    const waiter = this.#line.shift();
    if (waiter === undefined) return null;
    waiter.settle(value);
    return waiter.holder;
  }

  wakeAll(value: T): void {
    for (const waiter of this.#line.splice(0)) waiter.settle(value);
  }
}

/** `{ block, timeout }` as Python's queue and lock methods take them, in milliseconds. */
export interface BlockOptions {
  block?: boolean;
  timeout?: number | null;
}

export function blockOptions(options: unknown): { block: boolean; timeout: number | null } {
  const o = (options ?? {}) as BlockOptions;
  if (typeof o !== 'object') throw new TypeError('the options are { block?: boolean, timeout?: milliseconds | null }');
  const block = o.block ?? true;
  const timeout = o.timeout ?? null;
  if (typeof block !== 'boolean') throw new TypeError(`"block" must be a boolean, not ${typeof block}`);
  if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) throw new TypeError(`"timeout" must be a number of milliseconds or null, not ${typeof timeout}`);
  if (timeout !== null && timeout < 0) throw new RangeError('\'timeout\' must be a non-negative number');
  return { block, timeout };
}
