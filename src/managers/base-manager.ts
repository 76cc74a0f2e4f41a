import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { checkAuthkey } from '../auth.js';
import { getContext, type Context } from '../context.js';
import { current } from '../current.js';
import { invalidArgType, ProcessError, ValueError } from '../errors.js';
import type { Connection } from '../connection.js';
import type { Address } from '../listener.js';
import { mainModule } from '../main.js';
import { Pipe } from '../pipe.js';
import { CREATOR_FILE, type Process, type ProcessOptions } from '../process.js';
import { callerFile, describeCode } from '../targets.js';
import { BUILTIN_TYPES } from './builtins.js';
import { adoptClient, clientFor, dropClient, noteAuthkey, type ManagerClient } from './client.js';
import { BaseProxy, setProxyType, type ProxyClass } from './proxy.js';
import { ForkServerManagerProcess, SpawnManagerProcess, type ServerSetup, type WireRegistration } from './server-process.js';
import { Server, type TypeSpec } from './server.js';

export interface RegisterOptions {
  /** The proxy class for this typeid (default: an AutoProxy with a method for each exposed name). */
  proxytype?: ProxyClass | null;
  /** The methods proxies may call (default: the object's public methods, those not starting with '_'). */
  exposed?: readonly string[] | null;
  /** Methods whose results stay in the server and come back as proxies of the given typeid. */
  methodToTypeid?: Readonly<Record<string, string>> | null;
  /** Add a method named after the typeid to the manager's instances (default true). */
  create?: boolean;
}

export interface ManagerOptions {
  /** Where the server listens: a Unix socket path, or { host, port } for TCP; default: a fresh Unix socket. */
  address?: Address | null;
  /** The key every connection must prove; default `currentProcess().authkey`. */
  authkey?: Uint8Array | null;
  /** The context whose start method starts the server (default: the default context). */
  context?: Context | null;
  /** How long shutdown() waits for the server to exit before it terminates it, in ms (Python's shutdown_timeout); default 1000. */
  shutdownTimeout?: number;
}

interface Registration {
  typeid: string;
  callable: Function | null;
  builtin: string | null;
  exposed: readonly string[] | null;
  methodToTypeid: Readonly<Record<string, string>> | null;
}

const registries = new WeakMap<Function, Map<string, Registration>>();

/** The registrations of a manager class, its bases' included. */
function registryOf(cls: Function): Map<string, Registration> {
  for (let c: Function | null = cls; c !== null && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    const own = registries.get(c);
    if (own !== undefined) return own;
  }
  return new Map();
}

type State = 'initial' | 'started' | 'shutdown';

/** @internal A manager's own way to ask its server for an object (a method with more to do than the registered one, such as Pool). */
export const CREATE = Symbol('multiproc.managerCreate');

/** A Linux abstract socket name (no file, gone with the socket, nothing left by a SIGKILL), or null elsewhere: a temporary path then. */
function privateAddress(role: string): string | null {
  return process.platform === 'linux' ? `\0multiproc-${role}-${process.pid}-${randomBytes(6).toString('hex')}` : null;
}

/**
 * Python's `BaseManager`: a server that holds objects made by registered
 * callables, and proxies to them. `start()` runs the server in a child
 * process; `getServer().serveForever()` runs it here; `connect()` reaches one
 * that runs elsewhere (another machine, with its address and key).
 *
 *     class QueueManager extends BaseManager { declare getQueue: () => Promise<QueueProxy<number>>; }
 *     QueueManager.register('getQueue', makeQueue);
 */
export class BaseManager {
  readonly #authkey: Buffer;
  readonly #context: Context | null;
  readonly #shutdownTimeout: number;
  readonly #creatorFile: string | null;
  #address: Address | null;
  #state: State = 'initial';
  #process: Process | null = null;
  #client: ManagerClient | null = null;

  constructor(options?: ManagerOptions) {
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      throw invalidArgType('"options" argument', 'an object like { address, authkey, context }', options);
    }
    this.#address = options?.address ?? null;
    this.#authkey = options?.authkey === undefined || options.authkey === null ? Buffer.from(current.authkey) : checkAuthkey(options.authkey);
    this.#context = options?.context ?? null;
    const timeout = options?.shutdownTimeout ?? 1000;
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw invalidArgType('"shutdownTimeout" option', 'a non-negative number of milliseconds', timeout);
    this.#shutdownTimeout = timeout;
    this.#creatorFile = callerFile(BaseManager);
  }

  /**
   * Registers a typeid on this manager class (Python's `register`): a
   * callable that makes the object in the server (omit it on the side that
   * only connects), and a method named after the typeid on instances, which
   * resolves with a proxy to a new object. A subclass's registrations do not
   * change its base class.
   */
  static register(typeid: string, callable?: Function | null, options?: RegisterOptions): void {
    if (typeof typeid !== 'string' || !/^[\p{ID_Start}$_][\p{ID_Continue}$]*$/u.test(typeid)) {
      throw invalidArgType('typeid', 'an identifier (the name of the method it adds, such as \'getQueue\')', typeid);
    }
    if (callable !== undefined && callable !== null && typeof callable !== 'function') throw invalidArgType('callable', 'a function, or null on the side that only connects', callable);
    const { proxytype = null, exposed = null, methodToTypeid = null, create = true } = options ?? {};
    if (proxytype !== null && !(typeof proxytype === 'function' && proxytype.prototype instanceof BaseProxy)) throw invalidArgType('"proxytype" option', 'a subclass of BaseProxy', proxytype);
    if (exposed !== null && !(Array.isArray(exposed) && exposed.every((m) => typeof m === 'string'))) throw invalidArgType('"exposed" option', 'an array of method names', exposed);
    if (methodToTypeid !== null && (typeof methodToTypeid !== 'object' || !Object.values(methodToTypeid).every((t) => typeof t === 'string'))) {
      throw invalidArgType('"methodToTypeid" option', 'an object of method name to typeid', methodToTypeid);
    }
    if (!registries.has(this)) registries.set(this, new Map(registryOf(this)));
    const builtin = callable === undefined || callable === null ? null : Object.values(BUILTIN_TYPES).includes(callable as never) ? Object.entries(BUILTIN_TYPES).find(([, f]) => f === callable)![0] : null;
    registries.get(this)!.set(typeid, { typeid, callable: callable ?? null, builtin, exposed, methodToTypeid });
    if (proxytype !== null) setProxyType(typeid, proxytype);
    if (create) {
      Object.defineProperty(this.prototype, typeid, {
        configurable: true,
        writable: true,
        value: function (this: BaseManager, ...args: unknown[]) {
          return this[CREATE](typeid, args);
        },
      });
    }
  }

  /** The server's address, once known (given, or reported by the started server). */
  get address(): Address | null {
    return this.#address;
  }

  /** Starts the server in a child process and resolves once it serves. `initializer(...initargs)` runs there first. */
  async start(initializer?: Function | null, initargs: unknown[] = []): Promise<this> {
    this.#checkInitial();
    if (initializer !== undefined && initializer !== null && typeof initializer !== 'function') throw new TypeError('initializer must be a callable');
    const registry = this.#wireRegistry();
    const method = (this.#context ?? getContext()).getStartMethod();
    const cls = method === 'spawn' ? SpawnManagerProcess : ForkServerManagerProcess;
    // This process's connection to the server, made here rather than
    // through the server's Listener: the server reports its address on it
    // once it serves, and this process's proxies use it, with no connect and
    // no authkey handshake (each costs round trips between two processes
    // that are just starting). Python reports the address on a Pipe too.
    const [mine, theirs] = Pipe();
    const setup: ServerSetup = {
      registry,
      address: this.#address ?? privateAddress('manager'),
      authkey: this.#authkey,
      owner: theirs,
      initializer: initializer ? describeCode(initializer, 'the manager\'s initializer') : null,
      initargs,
    };
    const server = new cls({ args: [setup], daemon: true, [CREATOR_FILE]: this.#creatorFileFor(registry) } as unknown as ProcessOptions);
    // Python's name: the manager's class and the process's identity (SyncManager-1).
    server.name = server.name.replace(/^[^-]*/, this.constructor.name);
    this.#state = 'started';
    try {
      try {
        server.start();
      } finally {
        theirs.close();
      }
      this.#process = server;
      // The server's end closes when it dies before it serves: its exit code says more than the EOFError.
      const exited = async (): Promise<never> => {
        // join(), not the sentinel: a daemonic child keeps this process alive only while joined.
        await server.join();
        const code = server.exitCode;
        throw new ProcessError(`the manager's server process ${server.name} exited with code ${code} before it served; its error, if any, is on stderr`);
      };
      this.#address = await mine.recv().then((address) => address as Address, exited);
    } catch (err) {
      this.#state = 'initial';
      this.#process = null;
      mine.close();
      if (server.pid !== undefined && server.exitCode === null) {
        server.kill();
        await server.join();
      }
      throw err;
    }
    this.#attach(mine);
    return this;
  }

  /** Connects to a server that runs elsewhere, at `address` with `authkey`; AuthenticationError on a wrong key. */
  async connect(): Promise<this> {
    if (this.#state === 'shutdown') throw new ProcessError('Manager has shut down');
    if (this.#address === null) throw new ValueError('connect() needs the address of the server: new MyManager({ address, authkey })');
    dropClient(this.#address);
    const client = clientFor(this.#address, this.#authkey);
    try {
      await client.call(null, 'dummy', []);
    } catch (err) {
      client.close('connect() failed');
      throw err;
    }
    this.#state = 'started';
    this.#attach();
    return this;
  }

  /** A server for this manager's registrations, to run in this process: `await manager.getServer().serveForever()`. */
  getServer(): Server {
    this.#checkInitial();
    const specs = new Map<string, TypeSpec>();
    for (const r of registryOf(this.constructor).values()) specs.set(r.typeid, { create: (r.callable as TypeSpec['create']) ?? null, exposed: r.exposed, methodToTypeid: r.methodToTypeid });
    const server = new Server(specs, this.#address, this.#authkey);
    this.#address = server.address;
    return server;
  }

  /** Stops the server this manager started (after `shutdownTimeout` it is terminated); a connected manager disconnects. */
  async shutdown(): Promise<void> {
    if (this.#state !== 'started') return;
    this.#state = 'shutdown';
    const client = this.#client;
    const server = this.#process;
    if (server !== null && client !== null && client.gone === null) {
      try {
        await client.call(null, 'shutdown', []);
      } catch {
        // already gone
      }
    }
    client?.close('the manager was shut down');
    if (server === null) return;
    await server.join(this.#shutdownTimeout);
    if (server.exitCode === null) {
      server.terminate();
      await server.join(this.#shutdownTimeout);
      if (server.exitCode === null) {
        server.kill();
        await server.join();
      }
    }
  }

  /** Resolves when the server process ends (after `timeoutMs` at most). */
  async join(timeoutMs?: number | null): Promise<void> {
    if (this.#process === null) throw new ProcessError('join() waits for a server this manager started, and it started none');
    await this.#process.join(timeoutMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** How many objects the server holds (a debugging aid, as Python's `_number_of_objects`). */
  numberOfObjects(): Promise<number> {
    return this.#started().call(null, 'numberOfObjects', []) as Promise<number>;
  }

  /** @internal Asks the server for a new object of `typeid`; resolves with its proxy. */
  [CREATE](typeid: string, args: unknown[]): Promise<BaseProxy> {
    let client: ManagerClient;
    try {
      client = this.#started();
    } catch (err) {
      return Promise.reject(err);
    }
    return client.call(null, 'create', [typeid, ...args]) as Promise<BaseProxy>;
  }

  toString(): string {
    return `<${this.constructor.name} ${this.#state}${this.#address === null ? '' : ` at ${JSON.stringify(this.#address)}`}>`;
  }

  #started(): ManagerClient {
    if (this.#state === 'shutdown') throw new ProcessError('Manager has shut down');
    if (this.#client === null) throw new ProcessError(`the ${this.constructor.name} is not started: await manager.start() (or connect()) first`);
    return this.#client;
  }

  /** Uses the server at this.#address from now on, over `connection` if there is one already. */
  #attach(connection?: Connection): void {
    noteAuthkey(this.#address!, this.#authkey);
    this.#client = connection === undefined ? clientFor(this.#address!, this.#authkey) : adoptClient(this.#address!, this.#authkey, connection);
  }

  #checkInitial(): void {
    if (this.#state === 'started') throw new ProcessError('Already started server');
    if (this.#state === 'shutdown') throw new ProcessError('Manager has shut down');
  }

  #wireRegistry(): WireRegistration[] {
    return [...registryOf(this.constructor).values()].map((r) => ({
      typeid: r.typeid,
      builtin: r.builtin,
      callable: r.builtin !== null || r.callable === null ? null : describeCode(r.callable, `the callable registered for typeid '${r.typeid}'`),
      exposed: r.exposed,
      methodToTypeid: r.methodToTypeid,
    }));
  }

  /**
   * The module the server imports: the one that created the manager, where
   * user callables are found (as Python re-imports __main__). With built-in
   * typeids only, none is needed: the main module, which a forkserver's
   * child has loaded already (looking up even a cached CommonJS module cost
   * a forked server 4-6 ms, as it touches pages the zygote left cold), or the
   * library's own where there is no main (a test file, the REPL).
   */
  #creatorFileFor(registry: readonly WireRegistration[]): string | null {
    if (registry.some((r) => r.callable !== null)) return this.#creatorFile;
    const main = mainModule();
    if (main === null) return __filename;
    return main.commonjs ? fileURLToPath(main.url) : main.url;
  }
}
