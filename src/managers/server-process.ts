import { ForkServerProcess, SpawnProcess } from '../context.js';
import { current, ignoreSigint } from '../current.js';
import type { Connection } from '../connection.js';
import type { Address } from '../listener.js';
import { libraryClasses, Process, RUN_ARGS } from '../process.js';
import { findInScopes, jobModules, resolveCode } from '../child/resolve.js';
import type { CodeRef } from '../targets.js';
import { BUILTIN_TYPES } from './builtins.js';
import { Server, type TypeSpec } from './server.js';

/** A registration as it travels to the server process: a built-in by name, or a user's callable by its CodeRef. */
export interface WireRegistration {
  typeid: string;
  builtin: string | null;
  callable: CodeRef | null;
  exposed: readonly string[] | null;
  methodToTypeid: Readonly<Record<string, string>> | null;
}

export interface ServerSetup {
  registry: WireRegistration[];
  address: Address | null;
  authkey: Buffer;
  /** The starting process's connection: the server reports its address on it once it listens, then serves it as any other. */
  owner: Connection;
  initializer: CodeRef | null;
  initargs: unknown[];
}

/**
 * The manager's server process (named as Python names it, `SyncManager-1`):
 * one class per start method. It is started daemonic, so that it ends with
 * the process that started it (even one killed with SIGKILL), yet may start
 * children of its own (a managed Pool), as Python's server may.
 */
export class ForkServerManagerProcess extends ForkServerProcess {
  override run(): Promise<void> {
    return serveAndExit(this);
  }
}

export class SpawnManagerProcess extends SpawnProcess {
  override run(): Promise<void> {
    return serveAndExit(this);
  }
}

for (const cls of [ForkServerManagerProcess, SpawnManagerProcess]) libraryClasses.set(cls.name, cls as typeof Process);

async function resolve(ref: CodeRef, what: string): Promise<Function> {
  return findInScopes(ref, jobModules) ?? (await resolveCode(ref, jobModules, what));
}

/** The server's table of typeids, with each user callable found again in this process. */
export async function resolveRegistry(registry: readonly WireRegistration[]): Promise<Map<string, TypeSpec>> {
  const specs = new Map<string, TypeSpec>();
  for (const r of registry) {
    const create = r.builtin !== null ? BUILTIN_TYPES[r.builtin]! : r.callable === null ? null : ((await resolve(r.callable, `the callable registered for typeid '${r.typeid}'`)) as (...a: unknown[]) => unknown);
    specs.set(r.typeid, { create, exposed: r.exposed, methodToTypeid: r.methodToTypeid });
  }
  return specs;
}

async function serveAndExit(self: Process): Promise<void> {
  const [setup] = self[RUN_ARGS] as [ServerSetup];
  current.daemon = false;
  // As Python's server (bpo-36368): a Ctrl-C in a terminal reaches the whole
  // process group, and the server must outlive it, so that the program that
  // started it can still use it and shut it down (a SharedMemoryManager's
  // server then unlinks its segments). terminate() and kill() still end it.
  // Its children (a managed Pool's workers) ignore SIGINT too, as Python's inherit SIG_IGN.
  ignoreSigint();
  const registry = await resolveRegistry(setup.registry);
  if (setup.initializer !== null) await (await resolve(setup.initializer, 'the manager\'s initializer'))(...setup.initargs);
  const server = new Server(registry, setup.address, setup.authkey);
  // The starting process waits for the address: it leaves before the accept
  // loop first runs (cold in a new process: 0.2-5 ms measured), as the
  // listener is bound already (a peer that connects now waits in its
  // backlog), and that process's own requests need no accept.
  setup.owner.send(server.address);
  server.serveConnection(setup.owner);
  await server.serveForever();
  // Leftover timers or sockets of a referent must not keep a shut-down server alive.
  process.exit(0);
}
