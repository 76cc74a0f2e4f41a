import { constants } from 'node:os';
import { inspect } from 'node:util';
import { current, nextIdentity, type ParentInfo } from './current.js';
import { AssertionError, invalidArgType, ProcessError, ValueError } from './errors.js';
import { defaultStartMethod, launcherFor, type StartMethod } from './launch/index.js';
import type { Popen } from './launch/popen.js';
import type { JobMessage, PrepareMessage } from './launch/protocol.js';
import { addChild, children, reap } from './lifetime.js';
import { lifecycle } from './log.js';
import { mainModule, testEntryUrl } from './main.js';
import { native } from './native.js';
import { dumpsForChild } from './reduction.js';
import { callerFile, describeCode, moduleOf, type CodeRef } from './targets.js';
import { validateBoolean, validateString, validateTimeout } from './validate.js';

/** Any function can be a target; `never[]` accepts every parameter list without `any`. */
export type ProcessTarget = (...args: never[]) => unknown;

type ArgsOption<P extends readonly unknown[]> = [] extends P ? { args?: P | null } : { args: P };

/**
 * `args` typed from the target's parameters: either all of them in `args`,
 * or all but the last in `args` and the last, an options object, in `kwargs`
 * (Python's keyword arguments arrive as one trailing object).
 */
export type ProcessArguments<P extends readonly unknown[]> =
  | (ArgsOption<P> & { kwargs?: undefined | null })
  | (Required<P> extends readonly [...infer A, infer K] ? ArgsOption<A> & { kwargs: K } : never)
  // A rest parameter (`...rest: T[]`) takes kwargs as one more T.
  | (number extends P['length'] ? ArgsOption<P> & { kwargs?: (P extends readonly (infer E)[] ? E : never) | null } : never);

export type ProcessOptions<F extends ProcessTarget = ProcessTarget> = {
  /** Must be null or undefined, as in Python (reserved for a future ThreadGroup-like extension). */
  group?: null;
  target?: F | null;
  name?: string | null;
  /** null or undefined: inherit the creating process's flag. */
  daemon?: boolean | null;
} & ProcessArguments<Parameters<F>>;

/** How the child (and `currentProcess()`) rebuild a Process without running user constructors. */
export const REBUILD = Symbol('multiproc.rebuild');
export interface RebuildInit {
  [REBUILD]: true;
  target: Function | null;
  args: readonly unknown[];
  kwargs: unknown;
}

/** A library class that starts Processes from callbacks (a Pool replacing a worker) names the module its user's call came from. */
export const CREATOR_FILE = Symbol('multiproc.creatorFile');

/** A library subclass's way to read the arguments its `run()` was given (Pool workers). */
export const RUN_ARGS = Symbol('multiproc.runArgs');

/** The library's own Process classes by name, so a child can rebuild the right one. */
export const libraryClasses = new Map<string, typeof Process>();

export const BOOTSTRAPPING_MESSAGE =
  'An attempt has been made to start a new process before the current process has finished its bootstrapping phase. ' +
  'This child process is importing the parent\'s main module or the module that created its Process, and that module ' +
  'starts processes at import time. Start processes only from the entry point, guarded like this:\n\n' +
  '    if (isMainModule(import.meta)) main();      // CommonJS: if (require.main === module) main();\n\n' +
  'This is the same error as Python\'s "bootstrapping phase" RuntimeError, and it stops a fork bomb.';

function assertion(message: string): AssertionError {
  return new AssertionError(message);
}

/**
 * A unit of work that runs in its own OS process, as Python's
 * `multiprocessing.Process`: give it a `target` (and `args`, `kwargs`), or
 * subclass it and override `run()`. The child is a fresh Node.js process that
 * imports the module that created this object and finds the target there by
 * name (Python's spawn model); see README "How a target reaches the child".
 */
export class Process<F extends ProcessTarget = ProcessTarget> {
  /** The start method of this class; null means the default context's. */
  static readonly startMethod: StartMethod | null = null;

  #target: Function | null = null;
  #args: readonly unknown[] = [];
  #kwargs: unknown = undefined;
  #name = '';
  #daemon = false;
  #authkey: Buffer = Buffer.alloc(0);
  #identity: number[] = [];
  #parent: ParentInfo | null = null;
  #creatorFile: string | null = null;
  #popen: Popen | null = null;
  #closed = false;
  /** This object describes the calling process itself (`currentProcess()`). */
  #self = false;

  constructor(options?: ProcessOptions<F>) {
    if (typeof options === 'object' && options !== null && REBUILD in options) {
      const init = options as unknown as RebuildInit;
      this.#self = true;
      this.#target = init.target;
      this.#args = init.args;
      this.#kwargs = init.kwargs;
      return;
    }
    this.#creatorFile =
      typeof options === 'object' && options !== null && CREATOR_FILE in options ? (options as { [CREATOR_FILE]: string | null })[CREATOR_FILE] : callerFile(Process);
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      throw invalidArgType('"options" argument', 'an object like { target, args, kwargs, name, daemon }', options);
    }
    const opts = (options ?? {}) as ProcessOptions;
    if (opts.group !== undefined && opts.group !== null) throw assertion('group argument must be null or undefined for now');
    if (opts.target !== undefined && opts.target !== null && typeof opts.target !== 'function') {
      throw invalidArgType('"target" option', 'a function (or null)', opts.target);
    }
    this.#target = opts.target ?? null;
    this.#args = toArgs(opts.args);
    if (opts.kwargs !== undefined && opts.kwargs !== null && (typeof opts.kwargs !== 'object' || Array.isArray(opts.kwargs))) {
      throw invalidArgType('"kwargs" option', 'a plain object (passed as the last argument of the target)', opts.kwargs);
    }
    this.#kwargs = opts.kwargs ?? undefined;
    this.#identity = nextIdentity();
    this.#authkey = Buffer.from(current.authkey);
    this.#daemon = opts.daemon === undefined || opts.daemon === null ? current.daemon : validateBoolean(opts.daemon, 'The "daemon" option');
    this.#parent = { pid: process.pid, name: current.name };
    const name = opts.name ?? null;
    this.#name = name === null ? `${new.target.name}-${this.#identity.join(':')}` : validateString(name, 'The "name" option');
  }

  /** Runs the target in the calling process; override it in a subclass. The child calls it after `start()`. */
  run(): unknown {
    if (this.#target === null) return undefined;
    const args = this.#kwargs === undefined ? this.#args : [...this.#args, this.#kwargs];
    return this.#target(...args);
  }

  get [RUN_ARGS](): readonly unknown[] {
    return this.#args;
  }

  /** Starts the child process; synchronous: `pid` is set when it returns. */
  start(): void {
    this.#checkNotClosed();
    if (this.#self) throw assertion('can only start a process object created by current process');
    if (this.#popen !== null) throw assertion('cannot start a process twice');
    if (current.daemon) throw assertion('daemonic processes are not allowed to have children');
    if (current.bootstrapping) throw new ProcessError(BOOTSTRAPPING_MESSAGE);
    reap();
    const ctor = this.constructor as typeof Process;
    const method = ctor.startMethod ?? defaultStartMethod()!;
    const { prepare, job, fds, handedOver } = this.#describe(method);
    const popen = launcherFor(method)(prepare, job, fds);
    handedOver();
    this.#popen = popen;
    // As Python (bpo-30775): the parent drops its references to what the child now owns.
    this.#target = null;
    this.#args = [];
    this.#kwargs = undefined;
    const record = { process: this, daemon: this.#daemon, popen };
    addChild(record);
    lifecycle('info', 'started %s (pid %d, %s)', () => [this.#name, popen.pid, method]);
    void popen.exited.then(() => children.delete(record) && lifecycle('info', '%s (pid %d) exited with exitcode %d', this.#name, popen.pid, popen.poll()));
  }

  /**
   * Resolves when the child has ended, or when `timeoutMs` has passed (it
   * never rejects on timeout: check `exitCode` or `isAlive()` afterwards).
   */
  async join(timeoutMs?: number | null): Promise<void> {
    const timeout = validateTimeout(timeoutMs);
    this.#checkNotClosed();
    if (this.#self) throw assertion('can only join a child process');
    const popen = this.#popen;
    if (popen === null) throw assertion('can only join a started process');
    if (popen.poll() !== null) return;
    if (timeout === 0) return;
    // While someone waits, even a daemonic child keeps the event loop alive.
    popen.ref();
    let timer: NodeJS.Timeout | undefined;
    try {
      await (timeout === null
        ? popen.exited
        : Promise.race([popen.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))]));
    } finally {
      clearTimeout(timer);
      popen.unref();
    }
  }

  /** True from `start()` until the child ends; the current process is always alive. */
  isAlive(): boolean {
    this.#checkNotClosed();
    if (this.#self) return true;
    return this.#popen !== null && this.#popen.poll() === null;
  }

  /** Sends SIGTERM (exit code -15); does nothing once the child has ended. */
  terminate(): void {
    this.#started('terminate').terminate();
  }

  /** Sends SIGKILL (exit code -9); does nothing once the child has ended. */
  kill(): void {
    this.#started('kill').kill();
  }

  /** Releases the process object; most members then throw. Not allowed while the child runs. */
  close(): void {
    if (this.#closed) return;
    if (this.#popen !== null) {
      if (this.#popen.poll() === null) {
        throw new ValueError('Cannot close a process while it is still running. You should first call join() or terminate().');
      }
      for (const child of children) if (child.process === this) children.delete(child);
      this.#popen = null;
    }
    this.#closed = true;
  }

  get name(): string {
    return this.#self ? current.name : this.#name;
  }

  set name(name: string) {
    validateString(name, 'The process name');
    if (this.#self) current.name = name;
    else this.#name = name;
  }

  get daemon(): boolean {
    return this.#self ? current.daemon : this.#daemon;
  }

  set daemon(daemonic: boolean) {
    if (this.#popen !== null || this.#self) throw assertion('process has already started');
    this.#daemon = validateBoolean(daemonic, 'The daemon flag');
  }

  /** 32 random bytes in the main process, inherited by children; the default key of authenticated connections. */
  get authkey(): Buffer {
    return this.#self ? current.authkey : this.#authkey;
  }

  set authkey(key: Buffer) {
    if (!(key instanceof Uint8Array)) throw invalidArgType('authkey', 'a Buffer or Uint8Array', key);
    const copy = Buffer.from(key);
    if (this.#self) current.authkey = copy;
    else this.#authkey = copy;
  }

  /** The OS process id: `undefined` before `start()`. */
  get pid(): number | undefined {
    this.#checkNotClosed();
    return this.#self ? process.pid : this.#popen?.pid;
  }

  get ident(): number | undefined {
    return this.pid;
  }

  /** null while running or before start; 0; 1 after an uncaught error; n after process.exit(n); -N after signal N. */
  get exitCode(): number | null {
    this.#checkNotClosed();
    return this.#popen?.poll() ?? null;
  }

  /** A Promise that resolves with the exit code when the child ends (Python's waitable sentinel). */
  get sentinel(): Promise<number> {
    this.#checkNotClosed();
    if (this.#popen === null) throw new ValueError('process not started');
    return this.#popen.exited;
  }

  toString(): string {
    const cls = this.#self && current.parent === null ? 'MainProcess' : this.constructor.name;
    if (this.#closed) return `<${cls} name='${this.name}' parent=${this.#parent?.pid ?? 'null'} closed>`;
    const parts = [`<${cls} name='${this.name}'`];
    if (this.#self) parts.push(`parent=${current.parent?.pid ?? 'null'}`, 'started');
    else {
      const code = this.#popen?.poll() ?? null;
      if (this.#popen !== null) parts.push(`pid=${this.#popen.pid}`);
      parts.push(`parent=${this.#parent?.pid}`);
      if (this.#popen === null) parts.push('initial');
      else if (code === null) parts.push('started');
      else parts.push('stopped', `exitcode=${code < 0 ? `-${signalName(-code)}` : code}`);
    }
    if (this.daemon) parts.push('daemon');
    return parts.join(' ') + '>';
  }

  [inspect.custom](): string {
    return this.toString();
  }

  #checkNotClosed(): void {
    if (this.#closed) throw new ValueError('process object is closed');
  }

  #started(action: string): Popen {
    this.#checkNotClosed();
    if (this.#popen === null) {
      throw assertion(this.#self ? `cannot ${action} the current process through its Process object; use process.exit() or process.kill()` : `can only ${action} a started process`);
    }
    return this.#popen;
  }

  /** What the child needs: the modules to import, the names to find, the data to rebuild. */
  #describe(method: StartMethod): { prepare: PrepareMessage; job: JobMessage; fds: number[]; handedOver(): void } {
    const ctor = this.constructor as typeof Process;
    const userClass = !libraryClasses.has(ctor.name) || libraryClasses.get(ctor.name) !== ctor;
    const what = userClass ? `the Process subclass ${ctor.name}` : `the target of ${this.#name}`;
    const module = moduleOf(this.#creatorFile, what);
    if (module.url === testEntryUrl()) {
      throw new TypeError(
        `multiproc: ${what} comes from the test file ${module.url}. A child imports the module that created its Process, ` +
          'and importing a test file would run its tests in the child. Move targets and Process subclasses into a separate ' +
          'module (for example test/fixtures/targets.ts) and import them from the test.',
      );
    }
    const cls: CodeRef | null = userClass ? describeCode(ctor, what) : null;
    const target = this.#target === null ? null : describeCode(this.#target, `the target of ${this.#name}`);
    const state: Record<string, unknown> = userClass ? { ...(this as object) } : {};
    let payload: Uint8Array;
    let fds: number[];
    let handedOver: () => void;
    try {
      ({ bytes: payload, fds, handedOver } = dumpsForChild({ args: this.#args, kwargs: this.#kwargs, state }, `the arguments of ${this.#name}`));
    } catch (err) {
      // Say which part failed: args, kwargs or the subclass's fields.
      dumpsForChild(this.#args, `the args of ${this.#name}`);
      dumpsForChild(this.#kwargs, `the kwargs of ${this.#name}`);
      dumpsForChild(state, `a field of ${this.#name} (an instance of ${ctor.name})`);
      throw err;
    }
    let base: Function = ctor;
    while (!libraryClasses.has(base.name) || libraryClasses.get(base.name) !== base) base = Object.getPrototypeOf(base);
    const prepare: PrepareMessage = { t: 'prepare', main: mainModule(), startMethod: method, daemon: this.#daemon, fdChannel: native() !== null };
    const job: JobMessage = {
      t: 'job',
      module,
      cls,
      baseClass: base.name,
      target,
      payload,
      handles: fds.length,
      self: { identity: this.#identity, name: this.#name, daemon: this.#daemon, authkey: this.#authkey },
      parent: this.#parent!,
      ...(current.ignoresSigint ? { ignoreSigint: true as const } : {}),
    };
    return { prepare, job, fds, handedOver };
  }
}

libraryClasses.set('Process', Process);

function toArgs(args: unknown): readonly unknown[] {
  if (args === undefined || args === null) return [];
  if (Array.isArray(args)) return [...args];
  if (typeof args === 'object' && Symbol.iterator in args) return Array.from(args as Iterable<unknown>);
  throw invalidArgType('"args" option', 'an array of the target\'s arguments', args);
}

function signalName(number: number): string {
  for (const [name, value] of Object.entries(constants.signals)) if (value === number) return name;
  return String(number);
}

let self: Process | undefined;

/** The Process object of the calling process: `MainProcess` in the main one, the rebuilt object in a child. */
export function currentProcess(): Process {
  self ??= new Process({ [REBUILD]: true, target: null, args: [], kwargs: undefined } as unknown as ProcessOptions);
  return self;
}

/** Set by the child's bootstrap: the object the parent started, rebuilt here. */
export function setCurrentProcess(process: Process): void {
  self = process;
}

/** The live children of this process, after reaping those that have ended (a new array). */
export function activeChildren(): Process[] {
  reap();
  return [...children].map((child) => child.process);
}
