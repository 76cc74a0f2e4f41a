import { invalidArgType } from '../errors.js';
import { currentProcess } from '../process.js';
import { registerReducer } from '../reduction.js';
import { linkTo, OWNER, unwrap, type Extra } from './server/client.js';
import type { RemoteKind, RemoteOp, RemoteRef, RemoteState, Reply } from './server/protocol.js';
import { serverAddress } from './server/server.js';
import { validateWaitTimeout } from './timeout.js';

/**
 * Lock, RLock, Semaphore, BoundedSemaphore, Event and Condition where the native addon
 * cannot load: the same public classes (their constructors return one of
 * these, whose prototype sits below the public one, so `instanceof` and
 * inherited helpers such as `withLock` hold), with every operation a request
 * to the tree's sync server (./server/). Async operations never block the
 * event loop; the sync ones (`acquireSync`, `release`, `set`...) block this
 * thread for one round trip, or until the server answers a wait.
 */

const BRAND = Symbol('multiproc.sync.remote');
let counter = 0;

/** What a remote primitive is, for the reducer: its server and its ref. */
export interface Carried {
  address: string;
  ref: RemoteRef;
  /** A Condition's lock. */
  lock?: Carried;
  /** A Barrier's default wait timeout. */
  timeout?: number | null;
}

export abstract class RemotePrimitive {
  readonly [BRAND]: Carried;

  constructor(carried: Carried) {
    this[BRAND] = carried;
  }

  protected get ref(): RemoteRef {
    return this[BRAND].ref;
  }

  protected get carried(): Carried {
    return this[BRAND];
  }

  /** What a Condition adds to its requests: its lock. */
  protected get extra(): { lock?: RemoteRef } {
    const lock = this[BRAND].lock;
    return lock === undefined ? {} : { lock: lock.ref };
  }

  /** A yes-or-no request (a bad timeout rejects). */
  protected async ask(op: 'acquire' | 'wait', timeoutMs: number | null | undefined): Promise<boolean> {
    return (await this.result(op, validateWaitTimeout(timeoutMs), this.extra)) === true;
  }

  protected askSync(op: 'acquire' | 'wait' | 'release' | 'set' | 'clear' | 'notify', timeoutMs?: number | null, n?: number): boolean {
    return this.resultSync(op, validateWaitTimeout(timeoutMs), n === undefined ? this.extra : { ...this.extra, n }) === true;
  }

  /** A request whose answer is more than a yes or no (a Barrier's index, contents): its result. */
  protected async result(op: RemoteOp, timeout: number | null, extra: Extra): Promise<Reply['result']> {
    const reply = await linkTo(this[BRAND].address).call(this.ref, op, timeout, extra);
    unwrap(reply, this.ref.kind);
    return reply.result;
  }

  protected resultSync(op: RemoteOp, timeout: number | null = null, extra: Extra = {}): Reply['result'] {
    const reply = linkTo(this[BRAND].address).callSync(this.ref, op, timeout, extra);
    unwrap(reply, this.ref.kind);
    return reply.result;
  }

  /** What stands for this object in a child (a Barrier with an action refuses). */
  travel(): Carried {
    return this[BRAND];
  }

  protected state(): RemoteState {
    return this.resultSync('state', null, this.extra) as RemoteState;
  }
}

function holderName(holder: string): string {
  return holder === OWNER ? currentProcess().name : 'SomeOtherProcess';
}

/** What locks and semaphores share: taking and giving back. */
abstract class RemoteAcquirable extends RemotePrimitive {
  acquire(timeoutMs?: number | null): Promise<boolean> {
    return this.ask('acquire', timeoutMs);
  }

  acquireSync(timeoutMs?: number | null): boolean {
    return this.askSync('acquire', timeoutMs);
  }

  release(): void {
    this.askSync('release');
  }
}

class RemoteLock extends RemoteAcquirable {
  get robust(): boolean {
    return this.ref.robust;
  }

  locked(): boolean {
    return this.state().holder !== '';
  }

  override toString(): string {
    const { holder, count } = this.state();
    if (this.ref.kind === 'Lock') return `<Lock(owner=${holder === '' ? 'None' : holderName(holder)})>`;
    return holder === '' ? '<RLock(None, 0)>' : `<RLock(${holderName(holder)}, ${count})>`;
  }
}

class RemoteSemaphore extends RemoteAcquirable {
  getValue(): number {
    return this.state().count;
  }

  override toString(): string {
    const bounded = this.ref.kind === 'BoundedSemaphore' ? `, maxvalue=${this.ref.init}` : '';
    return `<${this.ref.kind}(value=${this.getValue()}${bounded})>`;
  }
}

class RemoteEvent extends RemotePrimitive {
  isSet(): boolean {
    return this.state().holder === '1';
  }

  set(): void {
    this.askSync('set');
  }

  clear(): void {
    this.askSync('clear');
  }

  wait(timeoutMs?: number | null): Promise<boolean> {
    return this.ask('wait', timeoutMs);
  }

  waitSync(timeoutMs?: number | null): boolean {
    return this.askSync('wait', timeoutMs);
  }

  override toString(): string {
    return `<Event ${this.isSet() ? 'set' : 'unset'}>`;
  }
}

/**
 * A Condition: its lock is a remote Lock or RLock, and the server does the
 * whole of wait (release, sleep, re-take with the depth restored) and notify.
 * `waitFor` is the public class's, over this `wait`.
 */
class RemoteCondition extends RemotePrimitive {
  #lock: RemoteLock | null = null;

  get lock(): RemoteLock {
    this.#lock ??= build<RemoteLock>(this[BRAND].lock!, publicPrototypes.get(this[BRAND].lock!.ref.kind)!);
    return this.#lock;
  }

  acquire(timeoutMs?: number | null): Promise<boolean> {
    return this.lock.acquire(timeoutMs);
  }

  acquireSync(timeoutMs?: number | null): boolean {
    return this.lock.acquireSync(timeoutMs);
  }

  release(): void {
    this.lock.release();
  }

  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return (this.lock as unknown as { withLock(fn: () => T | Promise<T>): Promise<T> }).withLock(fn);
  }

  wait(timeoutMs?: number | null): Promise<boolean> {
    return this.ask('wait', timeoutMs);
  }

  waitSync(timeoutMs?: number | null): boolean {
    return this.askSync('wait', timeoutMs);
  }

  notify(n = 1): void {
    if (typeof n !== 'number' || Number.isNaN(n) || n < 0) throw invalidArgType('"n" argument', 'a number >= 0', n);
    this.askSync('notify', null, n);
  }

  notifyAll(): void {
    this.notify(Infinity);
  }

  override toString(): string {
    return `<Condition(${String(this.lock)}, ${this.state().count})>`;
  }
}

const IMPLEMENTATIONS: Partial<Record<RemoteKind, abstract new (carried: Carried) => RemotePrimitive>> = {
  Lock: RemoteLock,
  RLock: RemoteLock,
  Semaphore: RemoteSemaphore,
  BoundedSemaphore: RemoteSemaphore,
  Event: RemoteEvent,
  Condition: RemoteCondition,
};

/** Per public prototype: a prototype below it that carries the remote methods. */
const prototypes = new Map<object, object>();

function remotePrototype(kind: RemoteKind, publicPrototype: object): object {
  let proto = prototypes.get(publicPrototype);
  if (proto === undefined) {
    proto = Object.create(publicPrototype) as object;
    // The implementation's methods and those of its base, the nearest winning.
    const chain: object[] = [];
    for (let p: object | null = IMPLEMENTATIONS[kind]!.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) chain.unshift(p);
    for (const p of chain) {
      for (const key of Reflect.ownKeys(p)) if (key !== 'constructor') Object.defineProperty(proto, key, Reflect.getOwnPropertyDescriptor(p, key)!);
    }
    prototypes.set(publicPrototype, proto);
  }
  return proto;
}

function build<T>(carried: Carried, publicPrototype: object): T {
  const Implementation = IMPLEMENTATIONS[carried.ref.kind]! as unknown as new (carried: Carried) => RemotePrimitive;
  return Object.setPrototypeOf(new Implementation(carried), remotePrototype(carried.ref.kind, publicPrototype)) as T;
}

/**
 * A new primitive on the sync server, for a public constructor to return
 * (`publicPrototype`: `new.target.prototype`). The id is unique in the tree:
 * this pid and a counter.
 */
export function remotePrimitive<T>(kind: RemoteKind, publicPrototype: object, options: RemoteOptions = {}): T {
  return build<T>(newCarried(kind, options), publicPrototype);
}

/** What names a new object on the sync server (for objects that are not a public class's instance: an Array's contents). */
export function newCarried(kind: RemoteKind, options: RemoteOptions = {}): Carried {
  const { init = 0, robust = false, lock, typecode, timeout } = options;
  if (typeof robust !== 'boolean') throw invalidArgType('"robust" option', 'a boolean', robust);
  const ref: RemoteRef = typecode === undefined ? { id: `${process.pid}.${++counter}`, kind, init, robust } : { id: `${process.pid}.${++counter}`, kind, init, robust, typecode };
  const carried: Carried = { address: serverAddress(), ref };
  if (lock !== undefined) carried.lock = (lock as RemotePrimitive)[BRAND];
  if (timeout !== undefined) carried.timeout = timeout;
  return carried;
}

/** What a new remote primitive is made with (see RemoteRef and Carried). */
export interface RemoteOptions {
  init?: number;
  robust?: boolean;
  /** A Condition's lock. */
  lock?: object;
  typecode?: string;
  timeout?: number | null;
}

/** The public prototype each kind is rebuilt with in a child (set by each class's module). */
const publicPrototypes = new Map<RemoteKind, object>();

export function registerRemote(kind: RemoteKind, publicPrototype: object): void {
  publicPrototypes.set(kind, publicPrototype);
}

/** Adds a kind made outside this module (a Value, in ../sharedctypes-remote.ts), with its rule for travelling. */
export function registerImplementation(kind: RemoteKind, implementation: abstract new (carried: Carried) => RemotePrimitive, publicPrototype: object): void {
  IMPLEMENTATIONS[kind] = implementation;
  registerRemote(kind, publicPrototype);
  registerRule(kind);
}

/** What carries a remote object (for a wrapper's own rule: a SynchronizedValue's), and the object again from it. */
export function carriedOf(value: object): unknown {
  return (value as RemotePrimitive)[BRAND];
}

export function fromCarried<T>(carried: unknown): T {
  const c = carried as Carried;
  return build<T>(c, publicPrototypes.get(c.ref.kind)!);
}

export function isRemote(value: object): boolean {
  return BRAND in value;
}

// One rule per class, named as the class: a remote Lock inside a Queue item is
// refused with Python's words ("Lock objects should only be shared...").
function registerRule(kind: RemoteKind): void {
  registerReducer<RemotePrimitive>({
    name: kind,
    matches: (value): value is RemotePrimitive => BRAND in value && (value as RemotePrimitive)[BRAND].ref.kind === kind,
    reduce: (value) => value.travel(),
    rebuild: (state) => fromCarried<RemotePrimitive>(state),
  });
}
for (const kind of Object.keys(IMPLEMENTATIONS) as RemoteKind[]) registerRule(kind);
