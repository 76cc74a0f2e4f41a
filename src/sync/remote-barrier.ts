import { registerImplementation, RemotePrimitive, remotePrimitive, type Carried } from './remote.js';
import { validateWaitTimeout } from './timeout.js';

/**
 * A Barrier where the native addon cannot load: the public class's
 * constructor returns one of these (see ./remote.ts), whose waits are
 * requests to the sync server (./server/barrier.ts). An action runs here,
 * in the process of the last party to arrive, before the server lets the
 * others go.
 */

type Action = () => void | Promise<void>;

class RemoteBarrier extends RemotePrimitive {
  #action: Action | null = null;

  setAction(action: Action | null): void {
    this.#action = action;
  }

  get parties(): number {
    return this.ref.init;
  }

  get nWaiting(): number {
    return this.state().count;
  }

  get broken(): boolean {
    return this.state().holder === '1';
  }

  #timeout(timeoutMs: number | null | undefined): number | null {
    return timeoutMs === undefined ? (this.carried.timeout ?? null) : validateWaitTimeout(timeoutMs);
  }

  async wait(timeoutMs?: number | null): Promise<number> {
    const index = (await this.result('wait', this.#timeout(timeoutMs), { n: this.#action === null ? 0 : 1 })) as number;
    if (index === this.parties - 1 && this.#action !== null) {
      try {
        await this.#action();
      } catch (error) {
        this.abort();
        throw error;
      }
      this.resultSync('pass');
    }
    return index;
  }

  waitSync(timeoutMs?: number | null): number {
    const index = this.resultSync('wait', this.#timeout(timeoutMs), { n: this.#action === null ? 0 : 1 }) as number;
    if (index === this.parties - 1 && this.#action !== null) {
      let outcome: void | Promise<void>;
      try {
        outcome = this.#action();
      } catch (error) {
        this.abort();
        throw error;
      }
      if (outcome instanceof Promise) {
        this.abort();
        throw new TypeError("the Barrier's action returned a Promise: use await barrier.wait(), not waitSync()");
      }
      this.resultSync('pass');
    }
    return index;
  }

  abort(): void {
    this.resultSync('abort');
  }

  reset(): void {
    this.resultSync('reset');
  }

  override toString(): string {
    const { holder, count } = this.state();
    return `<Barrier(parties=${this.parties}, nWaiting=${count}${holder === '1' ? ', broken' : ''})>`;
  }

  /** The same refusal as the addon's Barrier: functions do not travel. */
  override travel(): Carried {
    if (this.#action !== null) throw actionCannotTravel();
    return super.travel();
  }
}

export function actionCannotTravel(): TypeError {
  return new TypeError(
    'multiproc: a Barrier with an action cannot be passed to another process: functions do not travel. ' +
      'Make the Barrier without an action and have one party (say, the one whose wait() resolves to 0) do the work after it.',
  );
}

/** Registers the Barrier kind with its public class's prototype. */
export function registerRemoteBarrier(publicPrototype: object): void {
  registerImplementation('Barrier', RemoteBarrier as unknown as abstract new (carried: Carried) => RemotePrimitive, publicPrototype);
}

/** A new Barrier on the sync server (its constructor returns this). */
export function remoteBarrier<T>(publicPrototype: object, parties: number, action: Action | null, timeout: number | null): T {
  const barrier = remotePrimitive<RemoteBarrier>('Barrier', publicPrototype, { init: parties, timeout });
  barrier.setAction(action);
  return barrier as unknown as T;
}
