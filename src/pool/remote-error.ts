import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import { inspect } from 'node:util';
import * as libraryErrors from '../errors.js';
import type { CodeRef } from '../targets.js';
import { findInClosureScopes } from './scope-lookup.js';

/**
 * How a task's error crosses from a worker to the pool with its class, its
 * message, its own properties and its stack: structured clone alone would
 * turn every user class into a plain Error and drop custom fields. The
 * worker describes the error; the pool rebuilds an instance of the same
 * class (found by name and source, as targets are) and sets its `cause` to
 * a RemoteTraceback with the worker's stack, as Python's Pool does.
 */
export type ErrorDescription =
  | {
      kind: 'error';
      name: string;
      message: string;
      stack: string;
      /** The class, when it is not a built-in or multiproc's own. */
      cls: CodeRef | null;
      /** A module (file: URL) of the worker where the class is a top-level binding. */
      module: string | null;
      props: Record<string, unknown>;
      cause: ErrorDescription | null;
    }
  | { kind: 'value'; value: unknown; repr: string };

/** The remote stack of a task's error, as its `cause` (Python's `multiprocessing.pool.RemoteTraceback`). */
export class RemoteTraceback extends Error {
  override name = 'RemoteTraceback';
  /** The stack trace printed in the worker. */
  readonly tb: string;

  constructor(tb: string) {
    super(`\n"""\n${tb}\n"""`);
    this.tb = tb;
    // Local frames would only show the pool's result handling: the remote ones are the message.
    this.stack = `RemoteTraceback: ${this.message}`;
  }
}

const BUILT_IN = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError']);
const LIBRARY = new Map<string, Function>(
  (Object.entries(libraryErrors) as [string, unknown][]).filter((entry): entry is [string, Function] => typeof entry[1] === 'function' && entry[1].prototype instanceof Error),
);

function sendable(value: unknown): boolean {
  try {
    serialize(value);
    return true;
  } catch {
    return false;
  }
}

/** In the worker: a description of what a task threw. `findModule` tells where a class is defined. */
export function describeError(thrown: unknown, findModule: (cls: Function) => string | null, depth = 0): ErrorDescription {
  if (!(thrown instanceof Error)) {
    return { kind: 'value', value: sendable(thrown) ? thrown : inspect(thrown), repr: inspect(thrown, { depth: 2, breakLength: Infinity }) };
  }
  const ctor = thrown.constructor as Function | undefined;
  const name = typeof ctor === 'function' ? ctor.name : 'Error';
  const own = typeof ctor === 'function' && !(BUILT_IN.has(name) && (globalThis as Record<string, unknown>)[name] === ctor) && LIBRARY.get(name) !== ctor;
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (key === 'cause') continue;
    const value = (thrown as unknown as Record<string, unknown>)[key];
    props[key] = sendable(value) ? value : inspect(value, { depth: 2 });
  }
  const cause = (thrown as { cause?: unknown }).cause;
  return {
    kind: 'error',
    name,
    message: String(thrown.message),
    stack: typeof thrown.stack === 'string' ? thrown.stack : `${name}: ${thrown.message}`,
    cls: own ? { name, source: Function.prototype.toString.call(ctor) } : null,
    module: own ? findModule(ctor!) : null,
    props,
    cause: cause === undefined || depth >= 4 ? null : describeError(cause, findModule, depth + 1),
  };
}

// An import() of a module still running top-level await (often the main
// module, awaiting this very result) would wait for it to finish: past this
// deadline the class is taken as not found, and the error keeps its name only.
const IMPORT_DEADLINE_MS = 100;

async function loadedNamespace(url: string): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, IMPORT_DEADLINE_MS, undefined)));
  try {
    return await Promise.race([import(url), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Classes found once, by source: later errors of the same class need no search. */
const found = new Map<string, Function>();

/**
 * Where the pool looks for a user's error class: the scopes of the task's own
 * function (its module's top level, exported or not, even while that module
 * still runs its top-level await), then the modules it was given, as loaded here.
 */
async function findClass(ref: CodeRef, modules: readonly string[], near: readonly Function[]): Promise<Function | null> {
  const matches = (value: unknown): value is Function => typeof value === 'function' && Function.prototype.toString.call(value) === ref.source;
  const known = found.get(ref.source);
  if (known !== undefined) return known;
  for (const fn of near) {
    const cls = findInClosureScopes(fn, ref.name, matches);
    if (matches(cls)) {
      found.set(ref.source, cls);
      return cls;
    }
  }
  for (const url of modules) {
    let exports: unknown;
    try {
      const path = fileURLToPath(url);
      exports = createRequire(path).cache[path]?.exports ?? (await loadedNamespace(url));
    } catch {
      continue;
    }
    if (exports === null || (typeof exports !== 'object' && typeof exports !== 'function')) continue;
    const named = (exports as Record<string, unknown>)[ref.name];
    if (matches(named)) return named;
    for (const key of Object.keys(exports)) {
      const value = (exports as Record<string, unknown>)[key];
      if (matches(value)) return value;
    }
  }
  return null;
}

/**
 * In the pool: the error to reject the task with. `where` names the worker
 * ("ForkServerPoolWorker-2, pid 1234"); `modules` are where user classes are
 * searched after the one the worker named.
 */
export async function rebuildError(description: ErrorDescription, where: string, modules: readonly string[], fnName: string, near: readonly Function[] = []): Promise<unknown> {
  if (description.kind === 'value') {
    return Object.assign(
      new Error(`the task ${fnName}() threw a value that is not an Error: ${description.repr}. It is in err.thrown; throw an Error (or a subclass) to keep a stack trace`),
      { thrown: description.value },
    );
  }
  let cls: Function | null = null;
  if (description.cls === null) {
    cls = LIBRARY.get(description.name) ?? (BUILT_IN.has(description.name) ? ((globalThis as Record<string, unknown>)[description.name] as Function) : null);
  } else {
    cls = await findClass(description.cls, description.module === null ? modules : [description.module, ...modules], near);
  }
  const error = Object.create(((cls ?? Error) as { prototype: object }).prototype) as Error;
  const hidden = (key: string, value: unknown): void => {
    Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: false });
  };
  hidden('message', description.message);
  Object.assign(error, description.props);
  // A class that could not be found here still shows its name.
  if (cls === null && error.name !== description.name) hidden('name', description.name);
  const header = description.stack.split('\n')[0] ?? `${description.name}: ${description.message}`;
  hidden('stack', `${header}\n    at ${where}`);
  const remote = new RemoteTraceback(description.stack);
  if (description.cause !== null) {
    Object.defineProperty(remote, 'cause', { value: await rebuildError(description.cause, where, modules, fnName, near), writable: true, configurable: true, enumerable: false });
  }
  hidden('cause', remote);
  return error;
}
