import type { Contents, RemoteRef, RemoteState, Reply, Request } from './protocol.js';

/**
 * The state machines of the sync server: one per primitive, with Python's
 * semantics. Waiters queue in arrival order (first come, first served, as a
 * futex does roughly and a fair server does exactly); a waiter is answered
 * when it gets what it waited for or when its timeout passes.
 */

/** Where a reply goes: the connection of the process that asked. */
export interface Peer {
  reply(reply: Reply): void;
}

interface Waiter {
  peer: Peer;
  seq: number;
  owner: string;
  timer: NodeJS.Timeout | null;
  /** A Condition's waiter queued again on its lock: the depth to restore and what its wait returns. */
  depth?: number;
  result?: boolean;
}

type Errors = NonNullable<Reply['error']>;
const TOO_MANY: Errors = { name: 'ValueError', message: 'semaphore or lock released too many times' };
const NOT_OWNED: Errors = { name: 'AssertionError', message: 'attempt to release recursive lock not owned by thread' };
const MAX_VALUE = 2147483647;

export class RemoteObject {
  readonly ref: RemoteRef;
  /** Locks: the holder's `pid:thread` ('' free); events: '1' when set. */
  holder = '';
  /** RLock: depth; semaphores: value. */
  count: number;
  /** Locks: the peer whose process holds it, for robust take-over. */
  holderPeer: Peer | null = null;
  /** A robust lock whose holder died with no one waiting: the next acquirer takes it over. */
  diedPid = 0;
  readonly #waiters: Waiter[] = [];
  /** A Value's contents; an Array's, once its maker has put them. */
  stored: number | bigint | Contents = 0;

  constructor(ref: RemoteRef) {
    this.ref = ref;
    this.count = ref.kind === 'Semaphore' || ref.kind === 'BoundedSemaphore' ? ref.init : 0;
  }

  /** `lock`: a Condition's lock object, when the request names one. */
  handle(peer: Peer, request: Request, lock: RemoteObject | null = null): void {
    const { seq, op, owner, timeoutMs } = request;
    const kind = this.ref.kind;
    if (kind === 'Condition') return this.#condition(peer, request, lock!);
    if (kind === 'Value' || kind === 'Array') return peer.reply({ seq, result: this.#contents(request) });
    switch (op) {
      case 'acquire':
      case 'wait': {
        if (this.#tryTake(peer, owner, seq)) return;
        if (timeoutMs === 0) return peer.reply({ seq, result: false });
        const waiter: Waiter = { peer, seq, owner, timer: null };
        if (timeoutMs !== null) {
          waiter.timer = setTimeout(() => {
            this.#remove(waiter);
            peer.reply({ seq, result: false });
          }, timeoutMs);
        }
        this.#waiters.push(waiter);
        return;
      }
      case 'release': {
        if (kind === 'Lock') {
          if (this.holder === '') return peer.reply({ seq, error: TOO_MANY });
          this.#free();
        } else if (kind === 'RLock') {
          if (this.holder !== owner || this.count <= 0) return peer.reply({ seq, error: NOT_OWNED });
          if (--this.count === 0) this.#free();
        } else {
          if (kind === 'BoundedSemaphore' && this.count >= this.ref.init) return peer.reply({ seq, error: TOO_MANY });
          if (this.count >= MAX_VALUE) return peer.reply({ seq, error: { name: 'ValueError', message: 'semaphore value would overflow' } });
          this.count += 1;
          this.#serveWaiters();
        }
        return peer.reply({ seq, result: true });
      }
      case 'set':
        this.holder = '1';
        this.#serveWaiters();
        return peer.reply({ seq, result: true });
      case 'clear':
        this.holder = '';
        return peer.reply({ seq, result: true });
      case 'state': {
        const state: RemoteState = { holder: this.holder, count: this.count };
        return peer.reply({ seq, result: state });
      }
    }
  }

  /**
   * A Value's or an Array's contents: each read and write whole (an element,
   * or all of an Array's); a read-modify-write holds the object's lock.
   */
  #contents({ op, index, value }: Request): Reply['result'] {
    if (index === undefined) {
      if (op === 'put') this.stored = value ?? 0;
      return op === 'get' ? this.stored : true;
    }
    // The typed array stores the element with its type's wrap-around and rounding.
    const elements = this.stored as Contents;
    if (op === 'get') return elements[index];
    (elements as Float64Array)[index] = value as number;
    return true;
  }

  /** A process went away: its waits end, and a robust lock it held passes to the next waiter with OwnerDiedError. */
  dropPeer(peer: Peer): void {
    for (const waiter of [...this.#waiters]) if (waiter.peer === peer) this.#remove(waiter);
    if (this.holderPeer === peer && this.holder !== '' && this.ref.robust) {
      this.diedPid = Number(this.holder.split(':')[0]);
      this.holder = '';
      this.holderPeer = null;
      this.#serveWaiters();
    }
  }

  /**
   * A Condition: wait releases the lock however deeply held, queues, and on
   * notify (or timeout) queues again on the lock, which answers the wait
   * once it re-takes it, with the depth restored.
   */
  #condition(peer: Peer, request: Request, lock: RemoteObject): void {
    const { seq, op, owner, timeoutMs } = request;
    if (op === 'state') return peer.reply({ seq, result: { holder: '', count: this.#waiters.length } });
    if (lock.holder !== owner) {
      return peer.reply({ seq, error: { name: 'AssertionError', message: op === 'wait' ? 'must acquire() condition before using wait()' : 'lock is not owned' } });
    }
    if (op === 'notify') {
      for (let n = request.n ?? 1; n > 0 && this.#waiters.length > 0; n--) {
        const waiter = this.#waiters[0]!;
        this.#remove(waiter);
        lock.requeue({ ...waiter, timer: null, result: true });
      }
      return peer.reply({ seq, result: true });
    }
    const waiter: Waiter = { peer, seq, owner, timer: null, depth: lock.count };
    lock.#free();
    if (timeoutMs !== null) {
      waiter.timer = setTimeout(() => {
        this.#remove(waiter);
        lock.requeue({ ...waiter, timer: null, result: false });
      }, timeoutMs);
    }
    this.#waiters.push(waiter);
  }

  /** Queues a Condition's waiter on this lock (or hands it the lock now). */
  requeue(waiter: Waiter): void {
    this.#waiters.push(waiter);
    this.#serveWaiters();
  }

  /** Whether the caller got what it asked for now (and was answered). */
  #tryTake(peer: Peer, owner: string, seq: number, waiter?: Waiter): boolean {
    switch (this.ref.kind) {
      case 'Event':
        if (this.holder !== '1') return false;
        peer.reply({ seq, result: true });
        return true;
      case 'Semaphore':
      case 'BoundedSemaphore':
        if (this.count <= 0) return false;
        this.count -= 1;
        peer.reply({ seq, result: true });
        return true;
      case 'Condition':
      case 'Barrier':
      case 'Value':
      case 'Array':
        return false;
      case 'RLock':
        if (this.holder === owner && waiter?.depth === undefined) {
          this.count += 1;
          peer.reply({ seq, result: true });
          return true;
        }
      // falls through: a free RLock is taken as a Lock is
      case 'Lock': {
        if (this.holder !== '') return false;
        this.holder = owner;
        this.holderPeer = peer;
        this.count = waiter?.depth ?? 1;
        const died = this.diedPid;
        this.diedPid = 0;
        const result = waiter?.result ?? true;
        peer.reply(died > 0 ? { seq, result, ownerDied: died } : { seq, result });
        return true;
      }
    }
  }

  #free(): void {
    this.holder = '';
    this.holderPeer = null;
    this.count = 0;
    this.#serveWaiters();
  }

  /** Hands what is free to the waiters, in their order, while there is some. */
  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters[0]!;
      if (!this.#tryTake(waiter.peer, waiter.owner, waiter.seq, waiter)) return;
      this.#remove(waiter);
    }
  }

  #remove(waiter: Waiter): void {
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
  }
}

/** What the server keeps per object: its state machine. */
export interface ServerObject {
  handle(peer: Peer, request: Request, lock: RemoteObject | null): void;
  /** A process went away: forget its waits (and, for a robust lock, its hold). */
  dropPeer(peer: Peer): void;
}
