import type { MainModule, ParentInfo, ProcessIdentity } from '../current.js';
import type { CodeRef, ModuleRef } from '../targets.js';

/**
 * The messages a parent sends a child over the IPC channel, in order.
 * `prepare` can go out long before `job`: a forkserver spare receives it at
 * birth, loads the runtime and the main module, then waits for its job.
 */
export interface PrepareMessage {
  t: 'prepare';
  /** The program's main module, imported first (as Python re-imports `__main__`); null when there is none to import. */
  main: MainModule | null;
  startMethod: string;
  /** Whether the child should die with its parent: decided at launch for a spare. */
  daemon: boolean;
  /** Whether the child has an fd channel on fd 4 (the parent had the native addon). */
  fdChannel: boolean;
  /** Set for a zygote: after preparing, it forks one child per `fork` message instead of running a job. */
  zygote?: boolean;
  /** Modules a forkserver imports once after main (`setForkserverPreload`): URLs, or bare package names. */
  preload?: string[];
}

/**
 * To a zygote: fork a child. The child's two socket ends (control channel,
 * fd channel) wait on the zygote's fd channel; the zygote answers with the
 * pid (an int32, -errno on failure) on that same socket.
 */
export interface ForkMessage {
  t: 'fork';
}

/** From a zygote: one of its children ended (code -N for signal N). */
export interface ExitMessage {
  t: 'exit';
  pid: number;
  code: number;
}

export interface JobMessage {
  t: 'job';
  /** The module that created the Process, imported after main. */
  module: ModuleRef;
  /** The user's subclass of Process, or null for the library's own classes. */
  cls: CodeRef | null;
  /** Name of the library class the child rebuilds when `cls` is null (Process, SpawnProcess...). */
  baseClass: string;
  target: CodeRef | null;
  /** `{ args, kwargs, state }`, serialized in the parent so clone errors surface in `start()`. */
  payload: Uint8Array;
  /** How many file descriptors wait on the fd channel for this job (one message). */
  handles: number;
  self: ProcessIdentity;
  parent: ParentInfo;
  /** The parent ignores SIGINT (a manager's server), and the child does too, as a SIG_IGN is inherited in Python. */
  ignoreSigint?: true;
}

/** Sent by a child once `prepare` is done: `ok` is false when importing main failed. */
export interface ReadyMessage {
  t: 'ready';
  ok: boolean;
}

export type ToChild = PrepareMessage | JobMessage | ForkMessage;
export type FromChild = ReadyMessage | ExitMessage;
