import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { ForkServerProcess, SpawnProcess } from '../context.js';
import { current } from '../current.js';
import { ProcessError } from '../errors.js';
import { libraryClasses, Process, RUN_ARGS } from '../process.js';
import { findInScopes, jobModules, resolveCode, type LoadedModule } from '../child/resolve.js';
import { scopeRegistry } from '../child/instrument.js';
import type { SharedRegion } from '../shared/region.js';
import type { CodeRef } from '../targets.js';
import { PoolPort, socketFor, type PortHandle } from './port.js';
import { CALL, DEFINE, FAILED, MAP, OK, packNumbers, READY, RECEIVED, RESULT, TASK, UNSENDABLE, type TaskKind, type TaskMessage, type ToWorker, type WorkerSetup } from './protocol.js';
import { describeError } from './remote-error.js';

/**
 * A Pool's worker: a daemonic Process (as in Python) whose `run()` serves
 * tasks from its pool until the pool ends the channel. One class per start
 * method, so that workers are named as Python names them (`ForkServerPoolWorker-3`).
 */
export class ForkServerPoolWorker extends ForkServerProcess {
  override run(): Promise<void> {
    return serveAndExit(this);
  }
}

export class SpawnPoolWorker extends SpawnProcess {
  override run(): Promise<void> {
    return serveAndExit(this);
  }
}

for (const cls of [ForkServerPoolWorker, SpawnPoolWorker]) libraryClasses.set(cls.name, cls as typeof Process);

async function serveAndExit(worker: Process): Promise<void> {
  const [handle, setup, received] = worker[RUN_ARGS] as [PortHandle, WorkerSetup, SharedRegion | null];
  await serve(handle, setup, received?.int32() ?? null);
  // Leftover timers or sockets of a task must not keep a retired worker (and a pool's join()) waiting.
  process.exit();
}

/** In the worker: a class's module, for the pool to find the same class when it rebuilds an error. */
function moduleDefining(cls: Function): string | null {
  for (const [url, lookup] of scopeRegistry()) {
    try {
      if (lookup(cls.name) === cls) return url;
    } catch {
      // not a binding there
    }
  }
  return null;
}

async function resolve(ref: CodeRef, what: string, moduleUrl?: string): Promise<Function> {
  if (moduleUrl === undefined) return findInScopes(ref, jobModules) ?? (await resolveCode(ref, jobModules, what));
  // A job from another machine names its module (a `multiproc worker`'s root joined to the job's path): it is loaded here, once.
  let exports: unknown;
  // Importing it is bootstrapping, as a child's import of its creator module is: what it would start at import time is refused.
  current.bootstrapping = true;
  try {
    exports = await import(moduleUrl);
  } catch (error) {
    // A module that was found but refused to load (it starts processes or a Pool at import time) needs its guard, not another --root.
    const hint = error instanceof ProcessError ? '' : "; check the worker's --root and that the module is deployed there";
    throw new Error(`multiproc: cannot load ${moduleUrl}, the module of ${what}: ${error instanceof Error ? error.message : String(error)}${hint}`, { cause: error });
  } finally {
    current.bootstrapping = false;
  }
  const named: LoadedModule = { ref: { url: moduleUrl, commonjs: false }, exports, role: 'the module the job names' };
  return findInScopes(ref, [named]) ?? (await resolveCode(ref, [named], what));
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';

/**
 * Runs tasks in the order they arrive, one at a time: synchronously while
 * task functions return plain values, awaiting only those that return
 * promises. Results leave as they are made, batched per event-loop turn.
 * `received`: the word shared with the pool (null without the addon: then
 * the same news goes over the port).
 */
function serve(handle: PortHandle, setup: WorkerSetup, received: Int32Array | null): Promise<void> {
  return new Promise((done) => {
    const functions = new Map<number, Function | Error>();
    let inbox: ToWorker[] = [];
    let head = 0;
    let busy = true; // until the initializer has run
    let ended = false;
    let lastTask = -1;
    let announced = -1;

    const port = new PoolPort(
      socketFor(handle),
      (message) => {
        if ((message as ToWorker)[0] === TASK) lastTask = (message as TaskMessage)[1];
        inbox.push(message as ToWorker);
      },
      () => {
        ended = true;
        if (!busy) done();
      },
      () => {
        // The pool learns this if we die: a task we have taken fails, one we never got goes elsewhere.
        // Said before any of this read's tasks runs (one of them may end this process), once per read.
        if (lastTask !== announced) {
          announced = lastTask;
          if (received !== null) Atomics.store(received, 0, (lastTask + 1) | 0);
          else port.sendNow([RECEIVED, lastTask]);
        }
        if (!busy && head < inbox.length) void pump();
      },
    );

    const reply = (taskId: number, status: typeof OK | typeof FAILED, value: unknown, started: number): void => {
      const micros = Math.max(1, Math.round((performance.now() - started) * 1000));
      try {
        port.send([RESULT, taskId, status, value, micros], 'the result of a task');
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        port.send([RESULT, taskId, UNSENDABLE, { value: inspect(value, { depth: 2, breakLength: Infinity }), reason }, micros], 'the result of a task');
      }
    };

    const fail = (taskId: number, error: unknown, started: number): void => reply(taskId, FAILED, describeError(error, moduleDefining), started);

    async function pump(): Promise<void> {
      busy = true;
      while (head < inbox.length) {
        const message = inbox[head++]!;
        if (message[0] === DEFINE) {
          const [, fnId, ref, moduleUrl] = message;
          try {
            functions.set(fnId, await resolve(ref, `the task function ${ref.name}`, moduleUrl));
          } catch (error) {
            functions.set(fnId, error instanceof Error ? error : new Error(String(error)));
          }
          continue;
        }
        const [, taskId, fnId, kind, data] = message;
        const started = performance.now();
        const fn = functions.get(fnId);
        try {
          if (fn === undefined) throw new Error(`multiproc: internal error: task ${taskId} names an unknown function ${fnId}`);
          if (fn instanceof Error) throw fn;
          let value = run(fn, kind, data, message.length > 5 ? [message[5]] : null);
          if (isThenable(value)) value = await value;
          else if (kind !== CALL) {
            let chunk = value as unknown[];
            // Await only a chunk whose function returned a promise: a microtask per task costs at chunksize 1.
            if (chunk.length > 0 && isThenable(chunk[chunk.length - 1])) chunk = await settleChunk(fn, kind, data as unknown[], chunk);
            value = packNumbers(chunk);
          }
          reply(taskId, OK, value, started);
        } catch (error) {
          fail(taskId, error, started);
        }
      }
      inbox = [];
      head = 0;
      busy = false;
      if (ended) done();
    }

    void (async () => {
      if (setup.initializer !== null) {
        try {
          const initializer = await resolve(setup.initializer, `the pool's initializer ${setup.initializer.name}`);
          const value = initializer(...setup.initargs);
          if (isThenable(value)) await value;
        } catch (error) {
          port.send([READY, describeError(error, moduleDefining)], 'an initializer error');
          port.end();
          return;
        }
      }
      port.send([READY, null], 'ready');
      await pump();
    })();
  });
}

/** One task, synchronously; a chunk stops at the first call that returns a promise (see settleChunk). */
function run(fn: Function, kind: TaskKind, data: unknown, kwargs: [unknown] | null): unknown {
  if (kind === CALL) return kwargs === null ? fn(...(data as unknown[])) : fn(...(data as unknown[]), kwargs[0]);
  const items = data as unknown[];
  const results = new Array<unknown>(items.length);
  for (let i = 0; i < items.length; i++) {
    const value = kind === MAP ? fn(items[i]) : fn(...(items[i] as unknown[]));
    results[i] = value;
    if (isThenable(value)) {
      results.length = i + 1;
      return results;
    }
  }
  return results;
}

/** Finishes a chunk of an async function: awaits the pending call, then runs the rest one by one. */
async function settleChunk(fn: Function, kind: TaskKind, items: unknown[], partial: unknown[]): Promise<unknown[]> {
  const last = partial.length - 1;
  if (last < 0 || !isThenable(partial[last])) return partial;
  partial[last] = await partial[last];
  for (let i = partial.length; i < items.length; i++) {
    partial.push(await (kind === MAP ? fn(items[i]) : fn(...(items[i] as unknown[]))));
  }
  return partial;
}
