/**
 * The life of every child process, loaded by bootstrap.ts. It receives
 * `prepare` (install the instrumentation, import the main module) and then
 * `job` (import the module
 * that created the Process, find the target or subclass by name, rebuild the
 * arguments, run, report). A forkserver spare does the first half at birth
 * and waits for the second.
 */
import { closeSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { becomeChild, current, ignoreSigint } from '../current.js';
import '../index.js';
import { Socket } from 'node:net';
import { ControlChannel } from '../launch/channel.js';
import type { FromChild, JobMessage, PrepareMessage, ToChild } from '../launch/protocol.js';
import { libraryClasses, Process, REBUILD, setCurrentProcess } from '../process.js';
import { noteForked, noteParentGone } from '../parent.js';
import { FD_CHANNEL_IN_CHILD } from '../launch/command.js';
import { receiveHandles } from '../launch/handles.js';
import { requireNative, zygoteNative } from '../native.js';
import { loadsInChild, type HandleSource } from '../reduction.js';
import type { ModuleRef } from '../targets.js';
import { initialize, transform, type LoadResult } from './hooks.js';
import { instrument, scopeRegistry, shouldInstrument } from './instrument.js';
import { jobModules, resolveCode, type LoadedModule } from './resolve.js';
import { becomeForkedChild, countUptimeFromJob, exitLikeAForkedChild } from './forked.js';
import { serveForks, type ForkedChannels } from './zygote.js';
import { warmUp } from './warm-up.js';


const LIBRARY_URL = pathToFileURL(dirname(dirname(__dirname))).href + '/';

scopeRegistry();
initialize({ libraryUrl: LIBRARY_URL });

/** CommonJS modules are instrumented where Node compiles them (tsx's require hook calls this too). */
function instrumentCommonJs(): void {
  type Compile = (this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown;
  const proto = (Module as unknown as { prototype: { _compile: Compile } }).prototype;
  const original = proto._compile;
  proto._compile = function (content, filename, ...rest) {
    const url = pathToFileURL(filename).href;
    const source = typeof content === 'string' && shouldInstrument(url, LIBRARY_URL) ? instrument(content, url) : content;
    return original.call(this, source, filename, ...rest);
  };
}

let esmHooked = false;

type Translator = (this: unknown, url: string, source: unknown, isMain: boolean) => unknown;

/**
 * ES modules are instrumented as Node compiles them, in this thread:
 * through `module.registerHooks` where Node has it (22.15+); on Node 20 by
 * wrapping the ESM loader's translators, reached with `--expose-internals`
 * (which the parent adds there), because `module.register` would start a
 * loader thread that costs 25-35 ms at start and slows every exit. Both see
 * the final JavaScript, after tsx or any other loader. `module.register` is
 * the fallback should Node's internals ever differ.
 */
function instrumentEsm(): void {
  if (esmHooked) return;
  esmHooked = true;
  const api = Module as unknown as {
    registerHooks?: (hooks: { load: (url: string, context: unknown, next: (u: string, c?: unknown) => LoadResult) => LoadResult }) => void;
    register: (specifier: string, parentURL: string, options: { data: unknown }) => void;
  };
  if (typeof api.registerHooks === 'function') {
    api.registerHooks({ load: (url, context, next) => transform(url, next(url, context)) });
    return;
  }
  const translators = esmTranslators();
  if (translators !== null) {
    for (const format of ['module', 'commonjs']) {
      const original = translators.get(format)!;
      translators.set(format, function (url, source, isMain) {
        const result = transform(url, { format, source: source as LoadResult['source'] });
        return original.call(this, url, result.source, isMain);
      });
    }
    return;
  }
  api.register('./hooks.js', pathToFileURL(__filename).href, { data: { libraryUrl: LIBRARY_URL } });
}

function esmTranslators(): Map<string, Translator> | null {
  if (!process.execArgv.includes('--expose-internals')) return null;
  try {
    // A SafeMap of Node's primordials: map-like, but not an instance of this realm's Map.
    const { translators } = require('internal/modules/esm/translators') as { translators?: Map<string, Translator> };
    const usable = typeof translators?.get === 'function' && typeof translators.set === 'function';
    return usable && typeof translators.get('module') === 'function' && typeof translators.get('commonjs') === 'function' ? translators : null;
  } catch {
    return null;
  }
}

async function load(ref: ModuleRef): Promise<unknown> {
  if (ref.commonjs) return createRequire(ref.url)(fileURLToPath(ref.url));
  return import(ref.url);
}

/**
 * Imports a module unless it already ran here (a spare usually imported it
 * with main): its instrumented scope is then registered, and an import() of
 * it, though cached, would still cost a trip through the ESM loader. Its
 * exports are then read only if the lookup by name fails (see resolve.ts).
 */
async function loadOnce(ref: ModuleRef): Promise<unknown> {
  return scopeRegistry().has(ref.url) ? undefined : load(ref);
}

function report(name: string, error: unknown): void {
  process.stderr.write(`Process ${name}:\n${inspect(error)}\n`);
}

let hasFdChannel = false;
/** fd 4 in a spawned child; wherever the zygote received it in a forked one. */
let fdChannelFd = FD_CHANNEL_IN_CHILD;

/**
 * The descriptors the parent passed for this job, received from the fd
 * channel, which is then closed; without the native addon, the handles
 * that came over Node's IPC channel (see launch/handles.ts).
 */
async function receivedHandles(count: number): Promise<HandleSource | null> {
  if (!hasFdChannel) return count > 0 ? receiveHandles(count) : null;
  hasFdChannel = false;
  try {
    const fds = count > 0 ? requireNative('receiving file descriptors').recvFds(fdChannelFd) : [];
    if (fds.length !== count) throw new Error(`multiproc: expected ${count} file descriptors from the parent, received ${fds.length}`);
    return { fd: (index) => fds[index]! };
  } finally {
    closeSync(fdChannelFd);
  }
}

interface Prepared {
  main: LoadedModule | null;
  mainError: unknown;
  failed: boolean;
}

let job: JobMessage | null = null;

/** `setForkserverPreload`: imported once by a forkserver; one that fails is skipped, as Python does. */
async function preloadModules(specifiers: readonly string[]): Promise<void> {
  current.bootstrapping = true;
  try {
    for (const specifier of specifiers) {
      try {
        await import(specifier);
      } catch {
        // as Python's forkserver, which ignores an ImportError here
      }
    }
  } finally {
    current.bootstrapping = false;
  }
}
let parentGone = false;

async function prepare(message: PrepareMessage): Promise<Prepared> {
  // What `ps` shows: an idle spare, then the name of the Process it runs.
  process.title = 'node multiproc: spare';
  hasFdChannel = message.fdChannel;
  current.inheritedStartMethod = message.startMethod;
  current.inheritedMain = message.main;
  instrumentCommonJs();
  instrumentEsm();
  const prepared: Prepared = { main: null, mainError: undefined, failed: false };
  if (message.main !== null) {
    current.bootstrapping = true;
    try {
      prepared.main = { ref: message.main, exports: await load(message.main), role: 'the main module' };
    } catch (error) {
      prepared.failed = true;
      prepared.mainError = error;
    } finally {
      current.bootstrapping = false;
    }
  }
  if (!prepared.failed) await preloadModules(message.preload ?? []);
  if (!parentGone) channel.send({ t: 'ready', ok: !prepared.failed });
  return prepared;
}

async function run(prepared: Prepared, message: JobMessage): Promise<void> {
  process.title = `node multiproc: ${message.self.name}`;
  becomeChild(message.self, message.parent);
  if (message.ignoreSigint === true) ignoreSigint();
  channel.unref();
  if (prepared.failed) {
    report(message.self.name, prepared.mainError);
    process.exit(1);
  }
  let instance: Process;
  current.bootstrapping = true;
  try {
    const modules: LoadedModule[] = [{ ref: message.module, exports: await loadOnce(message.module), role: 'the module that created the Process' }];
    if (prepared.main !== null) {
      if (prepared.main.ref.url === message.module.url) modules[0]!.role = 'the module that created the Process, and the main module';
      else modules.push(prepared.main);
    }
    jobModules.push(...modules);
    const cls = message.cls === null ? libraryClasses.get(message.baseClass) ?? Process : await resolveCode(message.cls, modules, `the Process subclass ${message.cls.name}`);
    const target = message.target === null ? null : await resolveCode(message.target, modules, `the target of ${message.self.name}`);
    const handles = await receivedHandles(message.handles);
    const { args, kwargs, state } = loadsInChild(message.payload, handles) as { args: unknown[]; kwargs: unknown; state: Record<string, unknown> };
    // The library constructor only (as pickle skips __init__): the subclass's own constructor already ran in the parent.
    instance = Reflect.construct(Process, [{ [REBUILD]: true, target, args, kwargs }], cls) as Process;
    Object.assign(instance, state);
  } catch (error) {
    report(message.self.name, error);
    process.exit(1);
  } finally {
    current.bootstrapping = false;
  }
  setCurrentProcess(instance);
  try {
    await instance.run();
  } catch (error) {
    report(message.self.name, error);
    process.exitCode = 1;
  }
  // Then the event loop drains: pending timers and handles are this child's
  // non-daemon threads. Once it has, exit at once: Node's own teardown of a
  // drained loop (freeing the whole heap) costs 1-1.5 ms that no one needs.
  // A user's own 'beforeExit' listener may schedule more work: then Node decides.
  process.once('beforeExit', () => {
    if (process.listenerCount('beforeExit') === 0) process.exit();
  });
}

let prepared: Promise<Prepared> | undefined;

function onMessage(message: ToChild): void {
  if (message.t === 'prepare') {
    prepared = prepare(message);
    if (message.zygote === true) {
      channel.off('message', onMessage);
      serveForks(channel, message.daemon, prepared, becomeForked);
    }
  } else if (message.t === 'job') {
    // Received is what counts: a parent may die while this child still imports.
    job = message;
    countUptimeFromJob();
    const addon = isSpare ? zygoteNative() : null;
    if (addon !== null) exitLikeAForkedChild(addon);
    process.removeListener('SIGINT', ignoreSigintUntilJob);
    channel.off('message', onMessage);
    void prepared!.then((p) => run(p, message));
  }
}

// The channel closes when the parent dies: a daemonic child goes with it, and
// so does a spare (or a zygote) that never got a job; any other child carries on, as in Python.
function onClose(): void {
  parentGone = true;
  noteParentGone();
  if (job === null) process.exit(0);
  if (job.self.daemon) process.kill(process.pid, 'SIGKILL');
}

function listen(socket: Socket): ControlChannel<ToChild, FromChild> {
  const opened = new ControlChannel<ToChild, FromChild>(socket);
  opened.on('message', onMessage);
  opened.on('close', onClose);
  return opened;
}

// Until its job arrives, this process ignores SIGINT, from the preload that
// node ran first (./sigint-until-job.ts); the job gives SIGINT's default action back.
const ignoreSigintUntilJob = (globalThis as Record<symbol, unknown>)[Symbol.for('multiproc.sigint-until-job')] as () => void;

let channel = listen(new Socket({ fd: 3, readable: true, writable: true }));
/** A forkserver's warm spare (launch/spares.ts), not a spawned child. */
const isSpare = process.argv[2] === 'spare';

/** In a child just forked from the zygote: drop the zygote's channels, take this child's own, wait for the job. */
function becomeForked(channels: ForkedChannels): void {
  channel.abandon();
  closeSync(FD_CHANNEL_IN_CHILD);
  becomeForkedChild(zygoteNative()!);
  noteForked();
  process.title = 'node multiproc: forked';
  fdChannelFd = channels.fdChannel;
  channel = listen(new Socket({ fd: channels.control, readable: true, writable: true }));
  // A child forked ahead of its start() (see launch/zygote.ts) has time until
  // its job: what the job runs first, run once now, pays its copy-on-write
  // page faults now. A child whose job came with the fork has read it by the
  // time this runs (the poll phase comes first) and skips it.
  setImmediate(() => {
    if (job === null) void warmUp();
  });
}
