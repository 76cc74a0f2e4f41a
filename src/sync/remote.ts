import { invalidArgType } from '../errors.js';
import { currentProcess } from '../process.js';
import { registerReducer } from '../reduction.js';
import { linkTo, OWNER, unwrap } from './server/client.js';
import type { RemoteKind, RemoteRef, RemoteState } from './server/protocol.js';
import { serverAddress } from './server/server.js';
import { validateWaitTimeout } from './timeout.js';

/**
 * Lock, RLock, Semaphore, BoundedSemaphore and Event where the native addon
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
interface Carried {
  address: string;
  ref: RemoteRef;
}

abstract class RemotePrimitive {
  readonly [BRAND]: Carried;

  constructor(carried: Carried) {
    this[BRAND] = carried;
  }

  protected get ref(): RemoteRef {
    return this[BRAND].ref;
  }

  protected async ask(op: 'acquire' | 'wait', timeoutMs: number | null | undefined, what: string): Promise<boolean> {
    const timeout = validateWaitTimeout(timeoutMs);
    return unwrap(await linkTo(this[BRAND].address).call(this.ref, op, timeout), what);
  }

  protected askSync(op: 'acquire' | 'wait' | 'release' | 'set' | 'clear', timeoutMs?: number | null): boolean {
    const timeout = validateWaitTimeout(timeoutMs);
    return unwrap(linkTo(this[BRAND].address).callSync(this.ref, op, timeout), this.ref.kind);
  }

  protected state(): RemoteState {
    const reply = linkTo(this[BRAND].address).callSync(this.ref, 'state');
    unwrap(reply, this.ref.kind);
    return reply.result as RemoteState;
  }
}

function holderName(holder: string): string {
  return holder === OWNER ? currentProcess().name : 'SomeOtherProcess';
}

class RemoteLock extends RemotePrimitive {
  get robust(): boolean {
    return this.ref.robust;
  }

  acquire(timeoutMs?: number | null): Promise<boolean> {
    return this.ask('acquire', timeoutMs, this.ref.kind);
  }

  acquireSync(timeoutMs?: number | null): boolean {
    return this.askSync('acquire', timeoutMs);
  }

  release(): void {
    this.askSync('release');
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

class RemoteSemaphore extends RemotePrimitive {
  acquire(timeoutMs?: number | null): Promise<boolean> {
    return this.ask('acquire', timeoutMs, this.ref.kind);
  }

  acquireSync(timeoutMs?: number | null): boolean {
    return this.askSync('acquire', timeoutMs);
  }

  release(): void {
    this.askSync('release');
  }

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
    return this.ask('wait', timeoutMs, 'Event');
  }

  waitSync(timeoutMs?: number | null): boolean {
    return this.askSync('wait', timeoutMs);
  }

  override toString(): string {
    return `<Event ${this.isSet() ? 'set' : 'unset'}>`;
  }
}

const IMPLEMENTATIONS: Record<RemoteKind, abstract new (carried: Carried) => RemotePrimitive> = {
  Lock: RemoteLock,
  RLock: RemoteLock,
  Semaphore: RemoteSemaphore,
  BoundedSemaphore: RemoteSemaphore,
  Event: RemoteEvent,
};

/** Per public prototype: a prototype below it that carries the remote methods. */
const prototypes = new Map<object, object>();

function remotePrototype(kind: RemoteKind, publicPrototype: object): object {
  let proto = prototypes.get(publicPrototype);
  if (proto === undefined) {
    proto = Object.create(publicPrototype) as object;
    // The implementation's methods and those of its base, the nearest winning.
    const chain: object[] = [];
    for (let p: object | null = IMPLEMENTATIONS[kind].prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) chain.unshift(p);
    for (const p of chain) {
      for (const key of Reflect.ownKeys(p)) if (key !== 'constructor') Object.defineProperty(proto, key, Reflect.getOwnPropertyDescriptor(p, key)!);
    }
    prototypes.set(publicPrototype, proto);
  }
  return proto;
}

function build<T>(carried: Carried, publicPrototype: object): T {
  const Implementation = IMPLEMENTATIONS[carried.ref.kind] as unknown as new (carried: Carried) => RemotePrimitive;
  return Object.setPrototypeOf(new Implementation(carried), remotePrototype(carried.ref.kind, publicPrototype)) as T;
}

/**
 * A new primitive on the sync server, for a public constructor to return
 * (`publicPrototype`: `new.target.prototype`). The id is unique in the tree:
 * this pid and a counter.
 */
export function remotePrimitive<T>(kind: RemoteKind, publicPrototype: object, init = 0, robust = false): T {
  if (typeof robust !== 'boolean') throw invalidArgType('"robust" option', 'a boolean', robust);
  const ref: RemoteRef = { id: `${process.pid}.${++counter}`, kind, init, robust };
  return build<T>({ address: serverAddress(), ref }, publicPrototype);
}

/** The public prototype each kind is rebuilt with in a child (set by each class's module). */
const publicPrototypes = new Map<RemoteKind, object>();

export function registerRemote(kind: RemoteKind, publicPrototype: object): void {
  publicPrototypes.set(kind, publicPrototype);
}

registerReducer<RemotePrimitive>({
  name: 'sync:remote',
  matches: (value): value is RemotePrimitive => BRAND in value,
  reduce: (value) => value[BRAND],
  rebuild: (state) => {
    const carried = state as Carried;
    return build<RemotePrimitive>(carried, publicPrototypes.get(carried.ref.kind)!);
  },
});
