import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, isIP, Socket, type NetConnectOpts, type Server, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { answerChallenge, checkAuthkey, deliverChallenge } from './auth.js';
import { Connection, QUIET, WATCH_SILENT_END, type ReadInto } from './connection.js';
import { current } from './current.js';
import { AuthenticationError, invalidArgType, OSError, TimeoutError } from './errors.js';
import { validateTimeout } from './validate.js';

/**
 * Where a Listener listens: a Unix socket path (on Linux, a name that starts
 * with '\0' is in the abstract namespace: no file, gone with the socket), or
 * a TCP host and port (port 0 picks a free one).
 */
export type Address = string | { host: string; port: number };

export interface ListenerOptions {
  /** The key both sides must prove they hold; default `currentProcess().authkey`; null: no authentication. */
  authkey?: Uint8Array | null;
  /** The kernel's queue of connections not yet taken; the Listener also holds up to max(backlog, 128) that accept() has not taken. */
  backlog?: number;
}

export interface ClientOptions {
  /** As the Listener's: default `currentProcess().authkey`; null: no authentication. */
  authkey?: Uint8Array | null;
  /** Milliseconds to connect and pass the handshake; then TimeoutError. Default null: as long as it takes (a CPython Listener authenticates only in its accept()). */
  timeout?: number | null;
}

/**
 * A peer has this long to pass the handshake: a legitimate one needs a
 * round trip or two; one that stays silent is dropped, with its descriptor.
 */
const HANDSHAKE_MS = 10_000;
/**
 * How many connections a Listener holds of each kind: being authenticated
 * (past it, the oldest is dropped for the newcomer, so that a flood of
 * silent peers costs a bounded number of descriptors and still lets a
 * legitimate client in), and waiting for accept() (past it, newcomers are
 * closed at once, as a full backlog refuses them where the kernel holds them).
 */
const MIN_HELD = 128;

function checkAddress(address: unknown): Address {
  if (typeof address === 'string' && address.length > 0) return address;
  if (typeof address === 'object' && address !== null) {
    const { host, port } = address as { host?: unknown; port?: unknown };
    if (typeof host === 'string' && Number.isInteger(port) && (port as number) >= 0 && (port as number) < 65536) {
      // Binding must be synchronous, as Python's constructor is: no DNS lookup, so IP literals (and localhost).
      const ip = host === 'localhost' ? '127.0.0.1' : host;
      if (isIP(ip) === 0) throw new TypeError(`multiproc: the host ${JSON.stringify(host)} must be an IP address (or localhost), such as '127.0.0.1' or '::1'`);
      return { host: ip, port: port as number };
    }
  }
  throw invalidArgType('address', 'a Unix socket path (a non-empty string) or { host, port } with a port from 0 to 65535', address);
}

/** A Linux abstract socket name: no file to check or remove (an address in use shows in accept()). */
const isAbstract = (address: string): boolean => address.startsWith('\0');

function authkeyOf(options: { authkey?: Uint8Array | null } | undefined): Buffer | null {
  if (options?.authkey === null) return null;
  return options?.authkey === undefined ? current.authkey : checkAuthkey(options.authkey);
}

interface TcpHandle {
  bind(host: string, port: number): number;
  bind6(host: string, port: number, flags: number): number;
  getsockname(out: { port?: number }): number;
  listen(backlog: number): number;
  close(): void;
}

/**
 * Binds a TCP socket now, as Python's Listener does in its constructor, so
 * that `address` (the port picked for port 0) and a bind error (the address
 * in use) are known when `new Listener()` returns: `net.Server.listen` with a
 * host always waits for a DNS lookup first. The handle is libuv's own TCP
 * wrap, which `net.Server` then listens on.
 */
function bindTcp(host: string, port: number, backlog: number): { handle: TcpHandle; port: number } {
  const { TCP, constants } = (process as unknown as { binding(name: string): { TCP: new (type: number) => TcpHandle; constants: { SERVER: number } } }).binding('tcp_wrap');
  const handle = new TCP(constants.SERVER);
  // libuv defers a bind's EADDRINUSE to listen(), so listen here too.
  let err = isIP(host) === 6 ? handle.bind6(host, port, 0) : handle.bind(host, port);
  if (err === 0) err = handle.listen(backlog);
  if (err !== 0) {
    handle.close();
    const name = getSystemErrorName(err);
    throw Object.assign(new OSError(`${name === 'EADDRINUSE' ? 'Address already in use' : name}: cannot listen on ${host}:${port}`), { code: name });
  }
  const out: { port?: number } = {};
  handle.getsockname(out);
  return { handle, port: out.port ?? port };
}

let defaultDir: string | undefined;

/** This process's folder for Listener sockets (Python's pymp- folder), removed as the process exits. */
function processTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What accept() takes next: an authenticated connection, or the failure of a peer that answered the handshake wrong. */
type Arrival = Held | { error: Error };

/** A connection the Listener holds for accept(), watched: one whose peer goes having sent nothing is dropped. */
interface Held {
  connection: Connection;
  from: Address;
  dropped: boolean;
  stopWatching: () => void;
}

/**
 * Accepts connections on a Unix socket or TCP, as Python's
 * `multiprocessing.connection.Listener`; with an authkey, each accepted
 * connection has passed the mutual handshake (Python-compatible). Without an
 * address it listens on a fresh Unix socket in a private temporary folder.
 *
 * Unlike Python's, it authenticates each peer as it connects, all at once,
 * not one at a time in accept(): a peer that says nothing holds up no one,
 * and is dropped after HANDSHAKE_MS. Peers that leave before accept() takes
 * them are dropped too: during the handshake, or, without an authkey, having
 * sent nothing.
 */
export class Listener {
  readonly #server: Server;
  readonly #address: Address;
  readonly #authkey: Buffer | null;
  readonly #maxHeld: number;
  /** Peers being authenticated, oldest first. */
  readonly #authenticating = new Set<Connection>();
  /** What accept() takes next, in order; #waiting of them are connections. */
  readonly #arrivals: Arrival[] = [];
  #waiting = 0;
  #waiters: Array<(arrival: Arrival | null) => void> = [];
  #error: Error | null = null;
  #closed = false;
  #ownDir: string | null = null;
  lastAccepted: Address | null = null;

  constructor(address?: Address | null, options?: ListenerOptions) {
    this.#authkey = authkeyOf(options);
    const backlog = options?.backlog ?? 1;
    if (!Number.isInteger(backlog) || backlog < 0) throw invalidArgType('backlog option', 'a non-negative integer', backlog);
    this.#maxHeld = Math.max(backlog, MIN_HELD);
    let where: Address;
    if (address === undefined || address === null) {
      defaultDir ??= processTempDir();
      this.#ownDir = mkdtempSync(join(defaultDir, 'listener-'));
      where = join(this.#ownDir, 'socket');
    } else where = checkAddress(address);
    if (typeof where === 'string' && !isAbstract(where) && existsSync(where)) throw new OSError(`[Errno 98] Address already in use: ${where}`);
    this.#server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#onConnection(socket));
    this.#server.on('error', (err) => {
      this.#error = new OSError(err.message);
      this.#wake(null);
    });
    if (typeof where === 'string') {
      this.#server.listen({ path: where, backlog });
      this.#address = where;
    } else {
      const { handle, port } = bindTcp(where.host, where.port, backlog);
      this.#server.listen(handle, backlog);
      this.#address = { host: where.host, port };
    }
    // A listener alone does not keep the process alive; an accept() in progress does.
    this.#server.unref();
  }

  get address(): Address {
    return this.#address;
  }

  /**
   * Resolves with the next connection, authenticated when the Listener has
   * an authkey; rejects with the AuthenticationError of a peer that answered
   * the handshake wrong, as Python's does, and with TimeoutError when no
   * connection came within `timeoutMs` (default null: wait as long as it takes).
   */
  async accept(timeoutMs: number | null = null): Promise<Connection> {
    const timeout = validateTimeout(timeoutMs);
    const arrival = await this.#next(timeout);
    if ('error' in arrival) throw arrival.error;
    arrival.stopWatching();
    this.#waiting -= 1;
    arrival.connection[QUIET](false);
    this.lastAccepted = arrival.from;
    return arrival.connection;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const arrival of this.#arrivals.splice(0)) if ('connection' in arrival) arrival.connection.close();
    for (const connection of this.#authenticating) connection.close();
    this.#wake(null);
    if (this.#ownDir !== null) rmSync(this.#ownDir, { recursive: true, force: true });
    else if (typeof this.#address === 'string' && !isAbstract(this.#address)) {
      try {
        unlinkSync(this.#address);
      } catch {
        // already gone
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #onConnection(socket: Socket): void {
    if (this.#closed || this.#waiting >= this.#maxHeld) return void socket.destroy();
    const from: Address = typeof this.#address === 'string' ? this.#address : { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const connection = new Connection((onread) => withOnread(socket, onread), { readable: true, writable: true });
    // Until accept() takes it, a connection keeps no process alive (an accept() in progress does).
    connection[QUIET](true);
    if (this.#authkey === null) {
      // With no handshake, a peer that connected and went at once is seen
      // only by reading: its end, already in the kernel, is read within two
      // turns of the event loop (the first ends before the next poll for I/O).
      const held = this.#hold(connection, from, true);
      setImmediate(() => setImmediate(() => held.dropped || this.#arrive(held)));
    } else void this.#authenticate(connection, from, this.#authkey);
  }

  async #authenticate(connection: Connection, from: Address, authkey: Buffer): Promise<void> {
    if (this.#authenticating.size >= this.#maxHeld) {
      // Closing fails the handshake's pending read (as the deadline below does).
      const [oldest] = this.#authenticating;
      this.#authenticating.delete(oldest!);
      oldest!.close();
    }
    this.#authenticating.add(connection);
    const timer = setTimeout(() => connection.close(), HANDSHAKE_MS).unref();
    try {
      await deliverChallenge(connection, authkey);
      await answerChallenge(connection, authkey);
    } catch (error) {
      connection.close();
      // A wrong answer is the caller's to hear, as in Python; a peer that went, or stayed silent, is simply dropped.
      if (error instanceof AuthenticationError && this.#arrivals.length < this.#maxHeld) this.#arrive({ error });
      return;
    } finally {
      clearTimeout(timer);
      this.#authenticating.delete(connection);
    }
    // Closed meanwhile (by close()): nothing to hand over.
    if (connection.closed) return;
    this.#arrive(this.#hold(connection, from, false));
  }

  /**
   * Counts a connection for accept(), until accept() takes it, and watches
   * an unauthenticated one. Watching reads (only its end shows that a peer
   * has gone): an authenticated peer's first message is left in the kernel,
   * for whichever process the accepted end is passed to.
   */
  #hold(connection: Connection, from: Address, watch: boolean): Held {
    this.#waiting += 1;
    const held: Held = { connection, from, dropped: false, stopWatching: () => {} };
    if (!watch) return held;
    held.stopWatching = connection[WATCH_SILENT_END](() => {
      held.dropped = true;
      this.#waiting -= 1;
      connection.close();
      const at = this.#arrivals.indexOf(held);
      if (at >= 0) this.#arrivals.splice(at, 1);
    });
    return held;
  }

  #arrive(arrival: Arrival): void {
    if ('connection' in arrival && arrival.dropped) return;
    if (this.#closed) {
      if ('connection' in arrival) arrival.connection.close();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) return waiter(arrival);
    this.#arrivals.push(arrival);
  }

  #next(timeout: number | null): Promise<Arrival> {
    if (this.#closed) return Promise.reject(new OSError('listener is closed'));
    if (this.#error !== null) return Promise.reject(this.#error);
    const ready = this.#arrivals.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (timeout === 0) return Promise.reject(acceptTimedOut(timeout));
    this.#server.ref();
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = (arrival: Arrival | null): void => {
        clearTimeout(timer);
        if (this.#waiters.length === 0) this.#server.unref();
        if (arrival === null) reject(this.#error ?? new OSError('listener is closed'));
        else resolve(arrival);
      };
      if (timeout !== null) {
        timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          if (this.#waiters.length === 0) this.#server.unref();
          reject(acceptTimedOut(timeout));
        }, timeout);
      }
      this.#waiters.push(waiter);
    });
  }

  #wake(arrival: null): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter(arrival);
    this.#server.unref();
  }
}

const acceptTimedOut = (timeout: number): TimeoutError => new TimeoutError(`accept() timed out: no connection came within ${timeout} ms`);

/**
 * The same connected socket, rebuilt with Node's `onread` option, which a
 * Connection needs so that pausing really stops reading: an accepted end can
 * then be passed to a child, as a Pipe's can, while this process's copy takes
 * nothing. net.Server offers no onread for the sockets it accepts, so the
 * libuv handle moves to a new Socket (which is how net.Server itself builds
 * them); the first Socket, which never read, is left without a handle.
 */
function withOnread(accepted: Socket, onread: ReadInto): Socket {
  const holder = accepted as unknown as { _handle: object | null };
  const handle = holder._handle;
  holder._handle = null;
  return new Socket({ handle, onread, readable: true, writable: true } as SocketConstructorOpts & { handle: object | null; onread: ReadInto });
}

/**
 * Connects to a Listener (multiproc's or CPython's) and, with an authkey,
 * authenticates both ways; with `timeout`, gives up (TimeoutError) when that
 * has not been done within so many milliseconds.
 */
export async function Client(address: Address, options?: ClientOptions): Promise<Connection> {
  const where = checkAddress(address);
  const authkey = authkeyOf(options);
  const timeout = validateTimeout(options?.timeout, 'timeout');
  let socket!: Socket;
  // With onread, as a Pipe's ends: the connection can be passed to a child.
  const connection = new Connection(
    (onread) =>
      (socket = createConnection(
        (typeof where === 'string' ? { path: where, onread } : { host: where.host, port: where.port, noDelay: true, onread }) as NetConnectOpts,
      )),
    { readable: true, writable: true },
  );
  let stage = 'connect';
  const setUp = async (): Promise<void> => {
    // An idle Connection lets the process exit; one that is connecting must not.
    socket.ref();
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (err: Error): void => reject(new OSError(err.message));
        socket.once('connect', () => {
          socket.off('error', fail);
          resolve();
        });
        socket.once('error', fail);
      });
    } finally {
      socket.unref();
    }
    if (authkey === null) return;
    stage = 'pass the authkey handshake';
    await answerChallenge(connection, authkey);
    await deliverChallenge(connection, authkey);
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    if (timeout === null) await setUp();
    else {
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`Client(): could not ${stage} with ${describe(where)} within ${timeout} ms`)), timeout);
      });
      await Promise.race([setUp(), expired]);
    }
  } catch (err) {
    connection.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return connection;
}

const describe = (address: Address): string => (typeof address === 'string' ? address.replace(/^\0/, '@') : `${address.host}:${address.port}`);
