import type { ChildProcess, StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { accessSync, closeSync, constants } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { native, requireNative } from '../native.js';
import { ControlChannel } from './channel.js';
import { IpcHandleChannel } from './handles.js';
import type { FromChild, ToChild } from './protocol.js';

/** The child's entry point: the bootstrap of this very copy of the library. */
export const BOOTSTRAP = join(__dirname, '..', 'child', 'bootstrap.js');
/** Preloaded into a child without the native addon: it holds the handles sent over Node's IPC channel (see handles.ts). */
const HANDLE_CATCHER = join(__dirname, '..', 'child', 'handle-catcher.js');
const SIGINT_UNTIL_JOB = join(__dirname, '..', 'child', 'sigint-until-job.js');
const OWN_PRELOADS = new Set([HANDLE_CATCHER, SIGINT_UNTIL_JOB]);

// Flags that must not reach a child: a second debugger on the same port, a
// watcher or a test runner per child, or code meant for the parent only.
const DROPPED_WITH_VALUE = new Set([
  '-e', '--eval', '-p', '--print', '--inspect-port', '--debug-port', '--watch-path',
  '--test-reporter', '--test-reporter-destination', '--test-name-pattern', '--test-skip-pattern',
  '--test-concurrency', '--test-timeout', '--test-shard', '--input-type',
]);
const DROPPED_PREFIXES = ['--inspect', '--debug', '--watch', '--test', '--experimental-test', '--check', '--interactive'];
const DROPPED_EXACT = new Set(['-i', '-c']);

// Node 20 has no in-thread module hooks: the child instruments ES modules through the loader's internals.
const NEEDS_INTERNALS = typeof (Module as unknown as { registerHooks?: unknown }).registerHooks !== 'function';

/**
 * `process.execArgv` without the flags a child must not inherit; loaders such
 * as tsx's `--import` are kept.
 */
export function childExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = NEEDS_INTERNALS && !execArgv.includes('--expose-internals') ? ['--expose-internals'] : [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const flag = arg.split('=', 1)[0]!;
    // This process's own preloads, which launchNode gives every child once.
    if ((flag === '--require' || flag === '-r') && OWN_PRELOADS.has(arg.includes('=') ? arg.slice(flag.length + 1) : execArgv[i + 1]!)) {
      if (!arg.includes('=')) i += 1;
      continue;
    }
    if (DROPPED_WITH_VALUE.has(flag)) {
      if (!arg.includes('=')) i += 1;
      continue;
    }
    if (DROPPED_EXACT.has(arg) || DROPPED_PREFIXES.some((p) => flag === p || flag.startsWith(p + '-'))) continue;
    kept.push(arg);
  }
  return kept;
}

/** The parent's environment, minus what tells a process it is a test-runner child or an IPC peer. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_CHANNEL_FD;
  delete env.NODE_CHANNEL_SERIALIZATION_MODE;
  delete env.NODE_UNIQUE_ID;
  return env;
}

let setprivPath: string | null | undefined;

/** util-linux's setpriv, which can set the parent-death signal before exec'ing node (Linux only). */
function setpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform === 'linux') {
    for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
      try {
        accessSync(candidate, constants.X_OK);
        setprivPath = candidate;
        break;
      } catch {
        // try the next one
      }
    }
  }
  return setprivPath;
}

// stdin is /dev/null, as in Python; fd 3 is the control channel.
const STDIO: StdioOptions = ['ignore', 'inherit', 'inherit', 'pipe'];

/** A started child, the parent's end of its control channel, and of its fd channel (null without the native addon). */
export interface LaunchedChild {
  process: ChildProcess;
  channel: ControlChannel<FromChild, ToChild>;
  fdChannel: FdChannel | null;
  /** Without the native addon: Node's IPC channel on the child's fd 4, which carries sockets' handles. */
  handleChannel?: IpcHandleChannel | null;
}

/**
 * How descriptors (Pipe ends, shared memory) reach a child, running or not:
 * SCM_RIGHTS over a socket pair whose child end is its fd 4. They arrive
 * close-on-exec, so the child's own children never inherit them by accident
 * (which would keep a Connection's peer from ever seeing its end).
 */
export class FdChannel {
  #fd: number | null;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The parent's end, for a blocking reply (the zygote answers a fork request with the pid on it). */
  get fd(): number {
    if (this.#fd === null) throw new Error('multiproc: the fd channel to this child is closed');
    return this.#fd;
  }

  pass(fds: readonly number[]): void {
    if (this.#fd === null) throw new Error('multiproc: the fd channel to this child is closed');
    requireNative('passing file descriptors to a child').sendFds(this.#fd, fds);
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/** The child's end of its fd channel. */
export const FD_CHANNEL_IN_CHILD = 4;

/**
 * Starts a fresh node running the bootstrap, with a control channel on fd 3. A daemonic child is started through `setpriv --pdeathsig KILL`
 * where available, so that the kernel kills it even when its parent is killed
 * with SIGKILL and can run no cleanup (Python leaves such children orphaned).
 */
export function launchNode(daemon: boolean, role: 'spare' | 'forkserver' | null = null, nodeFlags: readonly string[] = []): LaunchedChild {
  // Loaded on first use: a child that never starts one does not pay for it.
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const wrapper = daemon ? setpriv() : null;
  // The role is an argument only so that `ps` (and the tests' leak check) can tell a booting spare from a child.
  const addon = native();
  // Without the addon, fd 4 is Node's IPC channel, and a preload catches the handles that come on it.
  const catcher = addon === null ? ['--require', HANDLE_CATCHER] : [];
  const node = [process.execPath, '--require', SIGINT_UNTIL_JOB, ...catcher, ...childExecArgv(), ...nodeFlags, BOOTSTRAP, ...(role === null ? [] : [role])];
  const pair = addon?.socketpair() ?? null;
  const stdio: StdioOptions = [...(STDIO as unknown[]), pair === null ? 'ipc' : pair[1]] as StdioOptions;
  try {
    const child = wrapper === null ? spawn(node[0]!, node.slice(1), { stdio, env: childEnv() }) : spawn(wrapper, ['--pdeathsig', 'KILL', ...node], { stdio, env: childEnv() });
    child.on('error', () => {});
    return {
      process: child,
      channel: new ControlChannel(child.stdio[3] as Socket),
      fdChannel: pair === null ? null : new FdChannel(pair[0]),
      handleChannel: pair === null ? new IpcHandleChannel(child) : null,
    };
  } finally {
    // The child has its copy now.
    if (pair !== null) closeSync(pair[1]);
  }
}
