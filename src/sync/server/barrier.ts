import type { Peer, ServerObject } from './objects.js';
import type { RemoteRef, Reply, Request } from './protocol.js';

/**
 * A Barrier's state machine on the sync server, with Python's semantics
 * (threading.Barrier): parties arrive and wait; the last one releases the
 * cycle, each answered with its arrival index. A timeout, `abort()` or a
 * failing action breaks the barrier (every waiter, and every later arrival
 * until `reset()`, gets BrokenBarrierError); `reset()` fails the waiters of
 * the cycle and makes it whole again.
 *
 * An action runs in the process of the last party to arrive (functions do
 * not travel): that party is answered first, the others wait while it runs
 * the action, and it then sends `pass` (or `abort`, when the action failed).
 */

interface Arrival {
  peer: Peer;
  seq: number;
  index: number;
  timer: NodeJS.Timeout | null;
}

const BROKEN: NonNullable<Reply['error']> = { name: 'BrokenBarrierError', message: '' };

export class BarrierObject implements ServerObject {
  readonly #parties: number;
  #arrived: Arrival[] = [];
  #broken = false;
  /** The party that runs the action, while it runs; arrivals meanwhile wait for the next cycle. */
  #actionBy: Peer | null = null;
  #deferred: { peer: Peer; request: Request }[] = [];

  constructor(ref: RemoteRef) {
    this.#parties = ref.init;
  }

  handle(peer: Peer, request: Request): void {
    const { seq, op } = request;
    switch (op) {
      case 'wait':
        return this.#arrive(peer, request);
      case 'pass':
        // After reset() or abort() during the action, the cycle is over already.
        if (this.#actionBy === peer) this.#release();
        return peer.reply({ seq, result: true });
      case 'abort':
        this.#break();
        return peer.reply({ seq, result: true });
      case 'reset':
        // A party running the action meanwhile is told nothing: its pass is ignored.
        this.#actionBy = null;
        this.#endCycle(BROKEN);
        this.#broken = false;
        this.#replayDeferred();
        return peer.reply({ seq, result: true });
      case 'state':
        return peer.reply({ seq, result: { holder: this.#broken ? '1' : '', count: this.#arrived.length } });
      default:
        return peer.reply({ seq, error: { name: 'ValueError', message: `a Barrier has no operation ${op}` } });
    }
  }

  dropPeer(peer: Peer): void {
    // A party that dies while running the action would hold the others forever: the barrier breaks.
    if (this.#actionBy === peer) this.#break();
    this.#deferred = this.#deferred.filter((d) => d.peer !== peer);
    // A party that dies while waiting stays counted, as with the addon: the others time out or are reset.
  }

  #arrive(peer: Peer, request: Request): void {
    if (this.#actionBy !== null) {
      this.#deferred.push({ peer, request });
      return;
    }
    const { seq, timeoutMs } = request;
    if (this.#broken) return peer.reply({ seq, error: BROKEN });
    const index = this.#arrived.length;
    const arrival: Arrival = { peer, seq, index, timer: null };
    this.#arrived.push(arrival);
    if (index === this.#parties - 1) {
      if (request.n === 1) {
        // Its action runs first, in its process; the others go when it passes.
        this.#arrived.pop();
        this.#actionBy = peer;
        return peer.reply({ seq, result: index });
      }
      return this.#release();
    }
    if (timeoutMs !== null) arrival.timer = setTimeout(() => this.#break(), timeoutMs);
  }

  /** The cycle passes: every waiting party goes on with its index. */
  #release(): void {
    this.#actionBy = null;
    this.#endCycle(null);
    this.#replayDeferred();
  }

  #break(): void {
    this.#actionBy = null;
    this.#broken = true;
    this.#endCycle(BROKEN);
    this.#replayDeferred();
  }

  /** Answers the parties of this cycle: with their index, or with `error`. */
  #endCycle(error: Reply['error'] | null): void {
    const arrived = this.#arrived;
    this.#arrived = [];
    for (const { peer, seq, index, timer } of arrived) {
      if (timer !== null) clearTimeout(timer);
      peer.reply(error === null ? { seq, result: index } : { seq, error: error! });
    }
  }

  /** Arrivals that came while an action ran belong to the next cycle (or to the broken barrier). */
  #replayDeferred(): void {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const { peer, request } of deferred) this.#arrive(peer, request);
  }
}
