import { decode } from '../codec.js';
import { OSError } from '../errors.js';
import { LINGER, SEND_JSON, TAKE, type Connection, type Taker } from '../connection.js';
import { Listener, type Address } from '../listener.js';
import { enterCall, FREED, leaveCall, type CallContext } from './context.js';
import { AttributeError, toWire } from './errors.js';
import { INTERNAL, ObjectTable, TRANSIT, type Entry } from './objects.js';
import { CONTROL, ERROR, isJsonScalar, MAX_REQUEST_BYTES, RETURN, addressKey, type Reply, type Token } from './protocol.js';
import { foreignToken, isForeignProxy, rebuildForeign } from './proxy.js';
import { replaceTokens, replaceWithTokens, ServerRef } from './tokens.js';

/** What a server knows of a typeid: how to make one, and what its proxies may call. */
export interface TypeSpec {
  create: ((...args: unknown[]) => unknown) | null;
  exposed: readonly string[] | null;
  methodToTypeid: Readonly<Record<string, string>> | null;
}

/** A referent class may list its public methods (Python's `_exposed_`). */
interface WithExposed {
  exposed?: readonly string[];
}

/** The public methods of an object: functions reachable through its prototypes, not starting with '_' (Python's default `exposed`). */
export function publicMethods(object: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = object; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || name.startsWith('_')) continue;
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (d !== undefined && typeof d.value === 'function') names.add(name);
    }
  }
  return [...names];
}

/** A connection being served: its calls' context, and the replies it has not yet acknowledged, by request id. */
interface Served extends Omit<CallContext, 'onUndelivered'> {
  readonly conn: Connection;
  readonly unacked: Map<number, Array<() => void>>;
}

/** One call being served: its connection's context, and what goes back if its reply is never delivered. */
class Call implements CallContext {
  readonly connection: Served;
  readonly rid: number;
  undo: Array<() => void> | null = null;

  constructor(connection: Served, rid: number) {
    this.connection = connection;
    this.rid = rid;
  }

  get holder(): number {
    return this.connection.holder;
  }

  get signal(): AbortSignal {
    return this.connection.signal;
  }

  onDisconnect(action: () => void): void {
    this.connection.onDisconnect(action);
  }

  onUndelivered(action: () => void): void {
    (this.undo ??= []).push(action);
  }
}

/**
 * After refusing a peer, how much of what it still sends the server reads and
 * drops, and for how long, before it closes the socket: enough for a client
 * to finish writing a request just over MAX_REQUEST_BYTES and read why it
 * was refused, bounded so that a peer cannot keep the server busy.
 */
const LINGER_BYTES = 2 * MAX_REQUEST_BYTES;
const LINGER_MS = 10_000;

// Each server in this process numbers its connections; holders below 1 are reserved (see objects.ts).
let nextHolder = 1;

/**
 * A manager's server (Python's `Server`): accepts authenticated connections
 * on `address`, keeps the objects its typeids create, and serves calls on
 * them. Calls that wait (a Queue's get) wait each on its own, so one waiting
 * call never blocks another, from the same process or not. A malformed
 * request gets an error reply, and a request larger than
 * `MAX_REQUEST_BYTES` closes its connection before it is buffered; the
 * server goes on serving the others.
 */
export class Server {
  readonly #listener: Listener;
  readonly #registry: ReadonlyMap<string, TypeSpec>;
  readonly #objects = new ObjectTable();
  readonly #connections = new Set<Connection>();
  readonly #stopped: Promise<void>;
  #stop!: () => void;
  #closed = false;
  /** Connections sends go to, by holder, for references added in replies. */
  readonly key: string;

  constructor(registry: ReadonlyMap<string, TypeSpec>, address: Address | null, authkey: Buffer) {
    this.#registry = registry;
    this.#listener = new Listener(address, { authkey, backlog: 128 });
    this.key = addressKey(this.#listener.address);
    this.#stopped = new Promise((resolve) => (this.#stop = resolve));
    this.#objects.onFree = (referent) => {
      const freeable = referent as { [FREED]?: () => unknown; close?: () => unknown };
      void (freeable[FREED] !== undefined ? freeable[FREED]() : freeable.close?.());
    };
  }

  get address(): Address {
    return this.#listener.address;
  }

  /** How many objects the server holds (Python's `number_of_objects`, a debugging aid). */
  get numberOfObjects(): number {
    return this.#objects.size;
  }

  /** Serves until `shutdown` (a client's, or this object's); resolves then. */
  serveForever(): Promise<void> {
    void this.#acceptLoop();
    return this.#stopped;
  }

  /** @internal Serves a connection that needs no handshake (the starting process's, made before the server: see BaseManager.start). */
  serveConnection(conn: Connection): void {
    this.#serve(conn);
  }

  /** Stops serving: the listener and every connection close, every object is freed. */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const conn of this.#connections) conn.close();
    this.#connections.clear();
    this.#objects.clear();
    this.#stop();
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Connection;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closed) return;
        // A client that failed the handshake (a wrong key) or vanished during it: the others are served.
        continue;
      }
      this.#serve(conn);
    }
  }

  #serve(conn: Connection): void {
    this.#connections.add(conn);
    const aborter = new AbortController();
    const onDisconnect: Array<() => void> = [];
    const connection: Served = { conn, holder: nextHolder++, signal: aborter.signal, onDisconnect: (action: () => void) => void onDisconnect.push(action), unacked: new Map() };
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.#connections.delete(conn);
      // Closed first: a reply still on its way now fails, and takes back what it carried itself.
      conn.close();
      aborter.abort();
      // What was handed over but never acknowledged goes back, the latest first, so that each
      // item that returns to the front of its queue ends up in the order it left in.
      for (const undo of [...connection.unacked.values()].reverse()) for (const action of undo) action();
      connection.unacked.clear();
      for (const action of onDisconnect) action();
      this.#objects.dropHolder(connection.holder);
    };
    // One taker of every request of the connection, each handled in the read
    // callback that brings it: no Promise or closure per request (see Connection[TAKE]).
    const taker: Taker = {
      maxLength: MAX_REQUEST_BYTES,
      everyMessage: true,
      deliver: (body) => {
        this.#handle(connection, body);
        // A malformed request closes its connection.
        if (conn.closed) end();
      },
      fail: (err) => {
        if (err.message === 'bad message length' && !conn.closed) {
          this.#reply(conn, connection.holder, 0, ERROR, toWire(new RangeError(`a request is longer than the server accepts (${MAX_REQUEST_BYTES} bytes): the connection is closed`), true));
          conn[LINGER](LINGER_BYTES, LINGER_MS);
        }
        end();
      },
    };
    try {
      conn[TAKE](taker);
    } catch {
      end();
    }
  }

  #handle(connection: Served, body: Buffer): void {
    const conn = connection.conn;
    let request: unknown;
    try {
      request = decode(body);
      if (!Array.isArray(request) || request.length < 4 || !Number.isSafeInteger(request[0]) || request[0] < 0 || typeof request[2] !== 'string' || !Array.isArray(request[3])) {
        throw new TypeError('expected [rid, ident, method, args]');
      }
    } catch (err) {
      // Not our protocol (garbage, or a peer out of step): refused, and this connection closed; the others go on.
      const reason = err instanceof Error ? err.message : String(err);
      this.#reply(conn, connection.holder, 0, ERROR, toWire(new TypeError(`a malformed request was refused and its connection closed: ${reason}`), true));
      conn[LINGER](LINGER_BYTES, LINGER_MS);
      return;
    }
    const call = new Call(connection, request[0] as number);
    try {
      const ident = request[1] as unknown;
      const method = request[2] as string;
      const args = request[4] === 1 ? (replaceTokens(request[3], (token) => this.#fromToken(token)) as unknown[]) : (request[3] as unknown[]);
      const before = enterCall(call);
      let result: unknown;
      try {
        result = ident === null ? this.#control(connection, method, args) : this.#callMethod(ident, method, args);
      } finally {
        leaveCall(before);
      }
      if (call.rid === 0) {
        if (isThenable(result)) result.then(undefined, () => undefined);
      } else if (isThenable(result)) {
        result.then(
          (value) => this.#settle(call, RETURN, value),
          (err: unknown) => this.#settle(call, ERROR, toWire(err, (err as { remote?: boolean }).remote === true)),
        );
      } else this.#settle(call, RETURN, result);
    } catch (err) {
      if (call.rid !== 0) this.#settle(call, ERROR, toWire(err, (err as { remote?: boolean }).remote === true));
    }
  }

  /** Replies to `call`; what it handed over waits for the receipt, or goes back at once if the reply cannot be delivered. */
  #settle(call: Call, kind: typeof RETURN | typeof ERROR, value: unknown): void {
    const { conn, holder, unacked } = call.connection;
    const taken = kind === RETURN ? call.undo : null;
    if (this.#reply(conn, holder, call.rid, kind, value, taken !== null)) {
      if (taken !== null) unacked.set(call.rid, taken);
    } else for (const action of call.undo ?? []) action();
  }

  /** Sends a reply (asking for its receipt when `ack`); false when it could not be delivered (the caller has gone). */
  #reply(conn: Connection, holder: number, rid: number, kind: typeof RETURN | typeof ERROR, value: unknown, ack = false): boolean {
    if (conn.closed) return false;
    let message: Reply;
    try {
      // The usual reply, nothing or a JSON scalar: its text made here, with no walk.
      if (!ack && kind === RETURN && (value === undefined || isJsonScalar(value))) {
        conn[SEND_JSON](value === undefined ? `[${rid},${RETURN}]` : `[${rid},${RETURN},${JSON.stringify(value)}]`);
        return true;
      }
      // A primitive holds no proxy: no walk. An undefined result is left out, which keeps the reply JSON (the cheap encoding).
      const { value: sent, found } = kind === ERROR || typeof value !== 'object' || value === null ? { value, found: false } : replaceWithTokens(value, (object) => this.#toToken(object, holder));
      message = ack ? [rid, kind, sent, found ? 1 : 0, 1] : found ? [rid, kind, sent, 1] : sent === undefined ? [rid, kind] : [rid, kind, sent];
      conn.send(message);
      return true;
    } catch (err) {
      // On a Unix socket, a peer that has gone is known as the reply is written (EPIPE).
      if (conn.closed || err instanceof OSError) return false;
      // The result cannot travel (a function, a class instance's methods): that call fails, the server goes on.
      const reason = err instanceof Error ? err.message : String(err);
      const unsendable = new TypeError(`the result of this call cannot be sent back from the manager's server: ${reason}`);
      try {
        conn.send([rid, ERROR, toWire(unsendable, false)]);
      } catch {
        // the connection is gone
      }
      return false;
    }
  }

  // ---- objects and methods

  #callMethod(ident: unknown, method: string, args: unknown[]): unknown {
    const entry = typeof ident === 'number' ? this.#objects.get(ident) : undefined;
    if (entry === undefined) {
      throw Object.assign(new ReferenceError(`the manager holds no object ${String(ident)}: it was freed when its last proxy was released, or it belongs to an earlier server`), { remote: true });
    }
    if (!entry.exposed.has(method)) {
      throw Object.assign(new AttributeError(`method '${method}' of ${entry.typeid} object is not in exposed=[${[...entry.exposed].map((m) => `'${m}'`).join(', ')}]`), { remote: true });
    }
    const fn = (entry.referent as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw Object.assign(new AttributeError(`'${entry.typeid}' object has no method '${method}'`), { remote: true });
    const result = (fn as (...a: unknown[]) => unknown).apply(entry.referent, args);
    const typeid = entry.methodToTypeid?.[method];
    if (typeid === undefined) return result;
    // Python's method_to_typeid: the result stays in the server, and the caller gets a proxy to it.
    return isThenable(result) ? Promise.resolve(result).then((value) => this.#adopt(typeid, value)) : this.#adopt(typeid, result);
  }

  #control(connection: Served, method: string, args: unknown[]): unknown {
    const holder = connection.holder;
    if (!(CONTROL as readonly string[]).includes(method)) throw Object.assign(new AttributeError(`the manager's server has no method '${method}'`), { remote: true });
    switch (method) {
      case 'create': {
        const [typeid, ...rest] = args;
        const spec = typeof typeid === 'string' ? this.#registry.get(typeid) : undefined;
        if (spec === undefined) throw Object.assign(new TypeError(`the manager has no typeid ${JSON.stringify(typeid)}: register it with the manager's class (on the server's side) before start()`), { remote: true });
        if (spec.create === null) throw Object.assign(new TypeError(`typeid ${JSON.stringify(typeid)} has no callable on this server, so it cannot create objects`), { remote: true });
        const made = spec.create(...rest);
        return isThenable(made) ? Promise.resolve(made).then((value) => this.#adopt(typeid as string, value)) : this.#adopt(typeid as string, made);
      }
      case 'incref':
        return this.#objects.incref(TRANSIT, checkId(args[0]));
      case 'claim':
        return this.#objects.claim(holder, checkId(args[0]));
      case 'decref':
        return this.#objects.decref(holder, checkId(args[0]));
      case 'shutdown':
        // After the reply has gone.
        setImmediate(() => this.shutdown());
        return null;
      case 'ack':
        // The client has what a reply handed it (see protocol.ts).
        connection.unacked.delete(checkId(args[0]));
        return null;
      case 'numberOfObjects':
        return this.#objects.size;
      case 'getMethods': {
        const entry = this.#objects.get(checkId(args[0]));
        return entry === undefined ? [] : [...entry.exposed];
      }
      case 'debugInfo':
        return this.#objects.debugInfo();
      default:
        return null; // dummy: a round trip
    }
  }

  /** Keeps `referent` as a new object of `typeid`: a ServerRef that the reply turns into the caller's proxy (and reference). */
  #adopt(typeid: string, referent: unknown): ServerRef {
    if (typeof referent !== 'object' && typeof referent !== 'function') {
      throw Object.assign(new TypeError(`the callable of typeid ${JSON.stringify(typeid)} returned ${String(referent)}, not an object a proxy can stand for`), { remote: true });
    }
    if (referent instanceof ServerRef) return referent;
    const spec = this.#registry.get(typeid);
    const exposed = spec?.exposed ?? (referent as { constructor?: WithExposed }).constructor?.exposed ?? publicMethods(referent as object);
    const entry = this.#objects.add(typeid, referent as object, exposed, spec?.methodToTypeid ?? null);
    // No reference yet: the reply gives the caller the first.
    return new ServerRef(tokenOf(entry));
  }

  #refFor(entry: Entry): ServerRef {
    this.#objects.incref(INTERNAL, entry.id);
    const ref = new ServerRef(tokenOf(entry));
    released.register(ref, () => this.#objects.decref(INTERNAL, entry.id));
    return ref;
  }

  /** A token that arrived in a request: the server's own object, or another server's proxy. */
  #fromToken(token: Token): unknown {
    if (token === null || typeof token !== 'object') throw Object.assign(new TypeError('a malformed proxy token in a request'), { remote: true });
    if (token.address === null) {
      const entry = this.#objects.get(checkId(token.id));
      if (entry === undefined) throw Object.assign(new ReferenceError(`a proxy in this request stands for object ${token.id}, which the manager no longer holds`), { remote: true });
      return this.#refFor(entry);
    }
    return rebuildForeign(token);
  }

  /** What a reply carries for a proxy-like value: a token, and the caller's reference to go with it. */
  #toToken(object: object, holder: number): Token | null {
    if (object instanceof ServerRef) {
      this.#objects.incref(holder, object.token.id);
      return object.token;
    }
    if (isForeignProxy(object)) return foreignToken(object);
    return null;
  }
}

function tokenOf(entry: Entry): Token {
  return { address: null, id: entry.id, typeid: entry.typeid, exposed: [...entry.exposed], methodToTypeid: entry.methodToTypeid };
}

const released = new FinalizationRegistry<() => void>((drop) => drop());

function checkId(id: unknown): number {
  if (!Number.isSafeInteger(id)) throw Object.assign(new TypeError(`an object id must be an integer, not ${typeof id}`), { remote: true });
  return id as number;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
