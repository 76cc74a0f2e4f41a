import { decode } from '../codec.js';
import { QUIET, SEND_JSON, TAKE, type Connection, type Taker } from '../connection.js';
import { current } from '../current.js';
import { Client, type Address } from '../listener.js';
import { fromWire, serverGone, type WireError } from './errors.js';
import { addressKey, ERROR, isJsonScalar, type Reply, type Request } from './protocol.js';

interface Waiter {
  readonly rid: number;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * This process's connection to one manager server, shared by every proxy of
 * that server here (Python opens one per thread; Node has one thread, and
 * requests carry ids instead). It connects on first use, so a proxy that
 * arrives in a child costs nothing until it is called. Once the connection
 * ends (the server was killed or shut down), every pending call and every
 * later one fails at once with the same error: nothing waits on a server
 * that is gone.
 */
export class ManagerClient {
  readonly address: Address;
  readonly key: string;
  readonly authkey: Buffer;
  #connection: Promise<Connection> | null = null;
  /** The connection once made: requests go out at once, in the order they are made. */
  #conn: Connection | null = null;
  /** Requests made while connecting, sent in order once connected. */
  #unsent: Request[] = [];
  /** Calls waiting for their replies, oldest first (an array, not a Map: a Map that fills and empties on every call reallocates its table each time). */
  readonly #pending: Waiter[] = [];
  #nextRid = 1;
  #reading = false;
  #taker: Taker | null = null;
  #gone: Error | null = null;
  /** Turns the proxy tokens of a reply into proxies; set by the proxy module. */
  static rebuild: (value: unknown, from: ManagerClient) => unknown = (value) => value;
  /** Replaces the proxies in a request's arguments with tokens; set by the proxy module. */
  static reduce: (args: unknown[], to: ManagerClient) => { args: unknown[]; proxies: boolean } = (args) => ({ args, proxies: false });

  constructor(address: Address, authkey: Buffer, connection?: Connection) {
    this.address = address;
    this.key = addressKey(address);
    this.authkey = authkey;
    if (connection !== undefined) {
      this.#conn = connection;
      this.#connection = Promise.resolve(connection);
    }
  }

  /** Why calls fail, once the server is gone; null while it serves. */
  get gone(): Error | null {
    return this.#gone;
  }

  /** Calls `method` on object `ident` (null: the server itself) and resolves with the result. */
  call(ident: number | null, method: string, args: unknown[]): Promise<unknown> {
    if (this.#gone !== null) return Promise.reject(this.#failure());
    const rid = this.#nextRid++;
    let request: Request;
    const plain = jsonScalars(args);
    // Arguments without objects (the usual keys and numbers) cannot hold a proxy: no walk.
    if (plain || allPrimitive(args)) request = [rid, ident, method, args];
    else {
      const { args: sent, proxies } = ManagerClient.reduce(args, this);
      request = proxies ? [rid, ident, method, sent, 1] : [rid, ident, method, sent];
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ rid, resolve, reject });
      const conn = this.#conn;
      // The usual call, once connected: its text is made here, where its shape is known, and written at once.
      if (plain && conn !== null) this.#writeJson(conn, rid, JSON.stringify(request));
      else this.#send(request);
    });
  }

  /** Sends a request that wants no reply (decref, incref, claim), in order with the calls. */
  post(ident: number | null, method: string, args: unknown[]): void {
    if (this.#gone !== null) return;
    this.#send([0, ident, method, args]);
  }

  /** Closes this process's connection; pending calls fail. */
  close(why: string): void {
    this.#fail(serverGone(this.key, why));
    void this.#connection?.then((conn) => conn.close(), () => undefined);
    if (clients.get(this.key) === this) clients.delete(this.key);
  }

  #failure(): Error {
    const err = this.#gone!;
    // A fresh error per call, so that each caller's stack is its own.
    return Object.assign(new (err.constructor as new (m: string) => Error)(err.message), { code: (err as { code?: string }).code });
  }

  /** Sends now once connected; until then in order, as soon as the connection is made (the first request makes it). */
  #send(request: Request): void {
    const conn = this.#conn;
    if (conn !== null) return this.#write(conn, request);
    this.#unsent.push(request);
    if (this.#connection !== null) return;
    this.#connection = Client(this.address, { authkey: this.authkey });
    this.#connection.then(
      (made) => {
        if (this.#gone !== null) return;
        this.#conn = made;
        for (const queued of this.#unsent.splice(0)) this.#write(made, queued);
      },
      (err: Error) => this.#fail(err),
    );
  }

  #write(conn: Connection, request: Request): void {
    const rid = request[0];
    try {
      conn.send(request);
    } catch (err) {
      // A call fails alone (an argument that cannot be sent); a post's server is gone, and holds no references any more.
      const waiter = rid === 0 ? undefined : this.#takeWaiter(rid);
      waiter?.reject(err as Error);
      return;
    }
    if (rid !== 0) this.#read(conn);
  }

  /** #write of a call whose JSON text is made (see call). */
  #writeJson(conn: Connection, rid: number, text: string): void {
    try {
      conn[SEND_JSON](text);
    } catch (err) {
      this.#takeWaiter(rid)?.reject(err as Error);
      return;
    }
    this.#read(conn);
  }

  /**
   * Reads replies from the first call on, handling each in the read callback
   * that brings it, by one taker of every message for the life of the
   * connection (see Connection[TAKE]): no Promise or closure per reply. The connection keeps
   * this process alive only while calls are pending (an idle proxy keeps no
   * one alive), but reads on when none is: pausing and resuming the socket
   * between one call and the next would cost each call a turn of the event loop.
   */
  #read(conn: Connection): void {
    if (this.#reading) {
      if (this.#pending.length === 1) conn[QUIET](false);
      return;
    }
    this.#reading = true;
    this.#taker ??= {
      maxLength: null,
      everyMessage: true,
      deliver: (body) => this.#onReply(conn, decode(body) as Reply),
      fail: (err) => this.#onReadError(err),
    };
    try {
      conn[QUIET](false);
      conn[TAKE](this.#taker);
    } catch (err) {
      this.#onReadError(err as Error);
    }
  }

  #onReply(conn: Connection, reply: Reply): void {
    const [rid, kind, payload, proxies, ack] = reply;
    // Before the caller sees what it was handed: from now on it is this process's to lose, not the server's.
    if (ack === 1) this.#acknowledge(conn, rid);
    const waiter = this.#takeWaiter(rid);
    if (waiter !== undefined) {
      if (kind === ERROR) waiter.reject(fromWire(payload as WireError));
      else if (proxies !== 1) waiter.resolve(payload);
      else {
        try {
          waiter.resolve(ManagerClient.rebuild(payload, this));
        } catch (err) {
          waiter.reject(err as Error);
        }
      }
    } else if (rid === 0) {
      // The server refused the connection's traffic as a whole (a malformed request): it closes it next.
      this.#fail(fromWire(payload as WireError));
    }
    if (this.#pending.length === 0) conn[QUIET](true);
  }

  #onReadError(err: Error): void {
    this.#reading = false;
    this.#fail(serverGone(this.key, err.name === 'EOFError' ? 'its connection closed' : err.message));
  }

  /** The call waiting for reply `rid`, removed from the pending; replies mostly come in order, so it is usually the first. */
  #takeWaiter(rid: number): Waiter | undefined {
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) {
      const waiter = pending[i]!;
      if (waiter.rid !== rid) continue;
      // pop and shift keep the array's storage: no allocation per call when one is pending at a time.
      if (i === pending.length - 1) pending.pop();
      else if (i === 0) pending.shift();
      else pending.splice(i, 1);
      return waiter;
    }
    return undefined;
  }

  #acknowledge(conn: Connection, rid: number): void {
    try {
      conn.send([0, null, 'ack', [rid]] satisfies Request);
    } catch {
      // the server is gone: it has nothing left to take back
    }
  }

  #fail(err: Error): void {
    this.#gone ??= err;
    this.#unsent.length = 0;
    const pending = this.#pending.splice(0);
    for (const waiter of pending) waiter.reject(this.#failure());
    if (clients.get(this.key) === this) clients.delete(this.key);
  }
}

const clients = new Map<string, ManagerClient>();
/** The key of each manager this process knows (started, connected, or received in Process args). */
const authkeys = new Map<string, Buffer>();

/** Remembers a manager's key, for proxies that arrive without one (in a Queue item, a Pool task). */
export function noteAuthkey(address: Address, authkey: Buffer): void {
  authkeys.set(addressKey(address), authkey);
}

/** Whether no argument is an object (none can hold a proxy). */
function allPrimitive(args: unknown[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    if (typeof value === 'object' ? value !== null : typeof value === 'function') return false;
  }
  return true;
}

/** Whether every argument is a JSON scalar (see isJsonScalar): the request is then written as JSON text made here. */
function jsonScalars(args: unknown[]): boolean {
  for (let i = 0; i < args.length; i++) if (!isJsonScalar(args[i])) return false;
  return true;
}

/** This process's client of the server at `address`, made on first use. */
export function clientFor(address: Address, authkey?: Buffer | null): ManagerClient {
  const key = addressKey(address);
  let client = clients.get(key);
  if (client === undefined) {
    client = new ManagerClient(address, authkey ?? authkeys.get(key) ?? current.authkey);
    clients.set(key, client);
  }
  return client;
}

/** This process's client of the server at `address`, over a connection already made (it replaces any earlier client of that address). */
export function adoptClient(address: Address, authkey: Buffer, connection: Connection): ManagerClient {
  const key = addressKey(address);
  clients.get(key)?.close('a new manager serves at its address');
  const client = new ManagerClient(address, authkey, connection);
  clients.set(key, client);
  return client;
}

/** Forgets a dead client so that the next use connects again (a manager restarted at the same address). */
export function dropClient(address: Address): void {
  const key = addressKey(address);
  const client = clients.get(key);
  if (client !== undefined && client.gone !== null) clients.delete(key);
}
