import { inspect } from 'node:util';
import type { Address } from '../listener.js';
import { registerReducer } from '../reduction.js';
import { clientFor, ManagerClient, noteAuthkey } from './client.js';
import { addressKey, type Token } from './protocol.js';
import { replaceTokens, replaceWithTokens } from './tokens.js';

/** How a proxy comes to be; opaque to users, who get proxies from a manager. */
export interface ProxyInit {
  readonly token: Token & { address: Address };
  readonly client: ManagerClient;
}

const INIT = Symbol('multiproc.proxyInit');

/** The classes that stand for each typeid in this process (Python's `proxytype` of a registration). */
const proxyTypes = new Map<string, ProxyClass>();

export type ProxyClass = new (init: ProxyInit) => BaseProxy;

export function setProxyType(typeid: string, cls: ProxyClass): void {
  proxyTypes.set(typeid, cls);
}

// A proxy that is collected without dispose() drops its reference then.
const collected = new FinalizationRegistry<{ client: ManagerClient; id: number }>(({ client, id }) => client.post(null, 'decref', [id]));

/**
 * A reference to an object that lives in a manager's server (Python's
 * `BaseProxy`): every method call is a request to the server and returns a
 * Promise of the result, a copy. A proxy holds one reference to its object,
 * given back by `dispose()` (or `using`), or when the proxy is
 * garbage-collected, or when its process ends; the server frees the object
 * when no proxy anywhere holds it. Proxies travel to other processes (in a
 * Process's args, a Queue item, a Pool task, a managed dict) and connect
 * from there with the manager's authkey.
 *
 * Subclass it for a registered typeid's `proxytype`, calling `callMethod`
 * from each method.
 */
export class BaseProxy {
  readonly #token: Token & { address: Address };
  readonly #client: ManagerClient;
  #released = false;

  constructor(init: ProxyInit) {
    if (init === null || typeof init !== 'object' || !(INIT in init)) {
      throw new TypeError('multiproc: proxies are made by a manager (await manager.dict(), a registered typeid\'s method), not with new');
    }
    this.#token = init.token;
    this.#client = init.client;
    collected.register(this, { client: init.client, id: init.token.id }, this);
  }

  /** The typeid of the object this proxy stands for ('dict', 'Queue', a registered one). */
  get typeid(): string {
    return this.#token.typeid;
  }

  /** The address of the manager's server. */
  get address(): Address {
    return this.#token.address;
  }

  /** Calls a method of the referent (one in its `exposed` list) and resolves with its result. */
  callMethod(method: string, args: unknown[] = []): Promise<unknown> {
    if (this.#released) return Promise.reject(new ReferenceError(`this ${this.constructor.name} was disposed of: its object may be gone from the manager`));
    return this.#client.call(this.#token.id, method, args);
  }

  /** A copy of the referent (Python's `_getvalue()`). */
  getValue(): Promise<unknown> {
    return this.callMethod('getValue');
  }

  /** Gives back this proxy's reference now (`using` does it at the end of the block); the object is freed when no other proxy holds it. Idempotent. */
  dispose(): void {
    if (this.#released) return;
    this.#released = true;
    collected.unregister(this);
    this.#client.post(null, 'decref', [this.#token.id]);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `<${this.constructor.name} object, typeid '${this.#token.typeid}' at ${this.#token.id}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  /** @internal The token for a message to `to` (null: to another process); the receiver's reference travels with it. */
  static tokenFor(proxy: BaseProxy, to: ManagerClient | null, withKey = false): Token & { authkey?: Buffer } {
    if (proxy.#released) throw new ReferenceError(`a disposed ${proxy.constructor.name} cannot be sent: its object may be gone from the manager`);
    if (to === proxy.#client) return { ...proxy.#token, address: null };
    // Another process takes a reference over: the server counts it as in transit until that process claims it.
    proxy.#client.post(null, 'incref', [proxy.#token.id]);
    return withKey ? { ...proxy.#token, authkey: proxy.#client.authkey } : { ...proxy.#token };
  }

  /** @internal The client of this proxy. */
  static clientOf(proxy: BaseProxy): ManagerClient {
    return proxy.#client;
  }
}

/**
 * The proxy of a typeid registered without a proxytype (Python's
 * `AutoProxy`): a method for each name the server exposes.
 */
export class AutoProxy extends BaseProxy {
  [method: string]: unknown;

  constructor(init: ProxyInit) {
    super(init);
    for (const name of init.token.exposed ?? []) {
      if (name in this) continue;
      Object.defineProperty(this, name, { value: (...args: unknown[]) => this.callMethod(name, args), enumerable: false });
    }
  }
}

function checkToken(token: unknown): Token {
  const t = token as Token;
  if (
    t === null ||
    typeof t !== 'object' ||
    !Number.isSafeInteger(t.id) ||
    typeof t.typeid !== 'string' ||
    (t.exposed !== null && !(Array.isArray(t.exposed) && t.exposed.every((m) => typeof m === 'string')))
  ) {
    throw new TypeError('multiproc: a malformed proxy token');
  }
  return t;
}

/** Makes the proxy for `token`; `claim`: it arrived from another process, whose reference it takes over. */
export function makeProxy(token: Token & { address: Address }, client: ManagerClient, claim: boolean): BaseProxy {
  const cls = proxyTypes.get(token.typeid) ?? AutoProxy;
  const proxy = new cls({ [INIT]: true, token, client } as ProxyInit);
  if (claim) client.post(null, 'claim', [token.id]);
  return proxy;
}

/** A token from anywhere but a reply of the proxy's own server: its address is in it, and the reference is claimed. */
export function rebuildForeign(token: unknown, authkey?: Buffer): BaseProxy {
  const t = checkToken(token);
  if (t.address === null) throw new TypeError('multiproc: a proxy token without an address');
  if (authkey !== undefined) noteAuthkey(t.address, authkey);
  return makeProxy({ ...t, address: t.address }, clientFor(t.address, authkey), true);
}

export function isForeignProxy(value: object): value is BaseProxy {
  return value instanceof BaseProxy;
}

export function foreignToken(proxy: BaseProxy): Token {
  return BaseProxy.tokenFor(proxy, null);
}

// In requests: proxies of the server called stand as its own objects; others travel with their references.
ManagerClient.reduce = (args, to) => {
  const { value, found } = replaceWithTokens(args, (object) => (object instanceof BaseProxy ? BaseProxy.tokenFor(object, to) : null));
  return { args: value as unknown[], proxies: found };
};

// In replies: tokens without an address are the server's own objects, with the caller's reference already counted.
ManagerClient.rebuild = (value, from) =>
  replaceTokens(value, (token) => {
    const t = checkToken(token);
    return t.address === null ? makeProxy({ ...t, address: from.address }, from, false) : rebuildForeign(t);
  });

// To a child in its Process args, with the key (Python sends it only there), and in any message (a Queue item, a Pool task) without.
registerReducer<BaseProxy>({
  name: 'manager:proxy',
  portable: (proxy) => BaseProxy.tokenFor(proxy, null),
  matches: (value): value is BaseProxy => value instanceof BaseProxy,
  reduce: (proxy) => BaseProxy.tokenFor(proxy, null, true),
  rebuild: (state) => {
    const { authkey, ...token } = state as Token & { authkey?: Uint8Array };
    return rebuildForeign(token, authkey === undefined ? undefined : Buffer.from(authkey));
  },
});

export { addressKey };
