import { availableParallelism, cpus } from 'node:os';
import { ValueError } from './errors.js';
import { checkStartMethod, chooseStartMethod, defaultStartMethod, START_METHODS, type StartMethod } from './launch/index.js';
import { parentProcess } from './parent.js';
export { setForkserverPreload } from './launch/forkserver.js';
import { activeChildren, currentProcess, libraryClasses, Process, type ProcessTarget } from './process.js';
import { validateBoolean, validateObject } from './validate.js';
import type { Pool, PoolOptions } from './pool/pool.js';

// Set by ./pool/pool.ts, which imports this module (a direct import would be circular).
let makePool: ((context: Context, options: number | Omit<PoolOptions, 'context'> | null | undefined) => Pool) | null = null;

export function setPoolFactory(factory: NonNullable<typeof makePool>): void {
  makePool = factory;
}

/** A Process whose class fixes the `spawn` start method: a fresh node for every process. */
export class SpawnProcess<F extends ProcessTarget = ProcessTarget> extends Process<F> {
  static override readonly startMethod: StartMethod | null = 'spawn';
}

/** A Process whose class fixes the `forkserver` start method: a warm, pre-started node takes the job. */
export class ForkServerProcess<F extends ProcessTarget = ProcessTarget> extends Process<F> {
  static override readonly startMethod: StartMethod | null = 'forkserver';
}

libraryClasses.set('SpawnProcess', SpawnProcess);
libraryClasses.set('ForkServerProcess', ForkServerProcess);

/** The number of CPUs of the machine (not the process's affinity), as Python's `cpu_count()`. */
export function cpuCount(): number {
  const count = typeof availableParallelism === 'function' ? cpus().length || availableParallelism() : cpus().length;
  if (!count) throw new Error('cannot determine number of cpus');
  return count;
}

/**
 * A start method and the API bound to it, as Python's contexts:
 * `getContext('spawn').Process` starts fresh processes whatever the default.
 */
export class Context {
  readonly #method: StartMethod | null;

  constructor(method: StartMethod | null) {
    this.#method = method;
  }

  /** The Process class of this context. */
  get Process(): typeof Process {
    if (this.#method === 'spawn') return SpawnProcess;
    if (this.#method === 'forkserver') return ForkServerProcess;
    return Process;
  }

  /** A Pool whose workers use this context's start method (Python's `ctx.Pool()`). */
  Pool(options?: number | Omit<PoolOptions, 'context'> | null): Pool {
    return makePool!(this, options);
  }

  getContext(method?: StartMethod | null): Context {
    return getContext(method);
  }

  getStartMethod(options?: { allowNone?: boolean }): StartMethod | null {
    return this.#method ?? getStartMethod(options);
  }

  setStartMethod(method: StartMethod | null, options?: { force?: boolean }): void {
    if (this.#method !== null) throw new ValueError('cannot set start method of concrete context');
    setStartMethod(method, options);
  }

  getAllStartMethods(): StartMethod[] {
    return getAllStartMethods();
  }

  cpuCount(): number {
    return cpuCount();
  }

  currentProcess(): Process {
    return currentProcess();
  }

  parentProcess(): ReturnType<typeof parentProcess> {
    return parentProcess();
  }

  activeChildren(): Process[] {
    return activeChildren();
  }

  toString(): string {
    return `<Context ${this.#method ?? 'default'}>`;
  }
}

const defaultContext = new Context(null);
const concrete: Record<StartMethod, Context> = { spawn: new Context('spawn'), forkserver: new Context('forkserver') };

/** The context of a start method; with none, the default context (which fixes the default method). */
export function getContext(method?: StartMethod | null): Context {
  if (method === undefined || method === null) {
    defaultStartMethod();
    return defaultContext;
  }
  return concrete[checkStartMethod(method)];
}

/** The default start method; fixed by its first use unless `allowNone` is set. */
export function getStartMethod(options?: { allowNone?: boolean }): StartMethod | null {
  const allowNone = options === undefined ? false : validateBoolean(validateObject(options, 'The "options" argument').allowNone ?? false, 'The "allowNone" option');
  return defaultStartMethod(allowNone);
}

/** Sets the default start method once; `{ force: true }` changes it again (null resets it). */
export function setStartMethod(method: StartMethod | null, options?: { force?: boolean }): void {
  const force = options === undefined ? false : validateBoolean(validateObject(options, 'The "options" argument').force ?? false, 'The "force" option');
  if (defaultStartMethod(true) !== null && !force) throw new Error('context has already been set');
  if (method === null) {
    if (!force) throw new ValueError('setStartMethod(null) resets the start method and needs { force: true }');
    chooseStartMethod(null);
    return;
  }
  chooseStartMethod(checkStartMethod(method));
}

/** The start methods available here, the default first. */
export function getAllStartMethods(): StartMethod[] {
  return [...START_METHODS];
}
