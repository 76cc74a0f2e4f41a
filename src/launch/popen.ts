import type { ChildProcess } from 'node:child_process';
import type { LaunchedChild } from './command.js';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { HAS_PROC, procEnded, procStat } from '../procfs.js';

/**
 * The one interface between Process bookkeeping and a start method, after
 * CPython's Popen classes: a started child that can be polled, awaited and
 * signalled. Every start method returns one.
 */
export interface Popen {
  readonly pid: number;
  /** The exit code if the child has ended (-N for signal N), else null. Never blocks. */
  poll(): number | null;
  /** Settles with the exit code when the child ends. */
  readonly exited: Promise<number>;
  terminate(): void;
  kill(): void;
  /** Keep the parent's event loop alive until the child ends (a joiner is waiting, or the child is not daemonic). */
  ref(): void;
  unref(): void;
}

export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : constants.signals[signal];
  return number === undefined ? 1 : -number;
}

/**
 * Whether the process `pid` has ended (gone, or a zombie not yet reaped),
 * synchronously: from /proc on Linux, from ps(1) where there is no /proc
 * (macOS, the BSDs), and from a signal 0 on Windows, which has no zombies.
 */
export function hasEnded(pid: number): boolean {
  if (HAS_PROC) return procEnded(pid);
  if (process.platform === 'win32') {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
  const ps = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  if (ps.error !== undefined) return true; // no ps either: nothing to wait with
  const state = ps.stdout.trim();
  return state === '' || state.startsWith('Z');
}

/**
 * Reads a child's exit status while it is a zombie, before libuv reaps it and
 * Node emits 'exit': this lets `isAlive()` and `exitCode` answer at once, as
 * Python's non-blocking waitpid does. Field 52 of /proc/PID/stat holds the
 * wait status (Linux 3.5+). Returns null where /proc is unavailable.
 */
export function zombieExitCode(pid: number): number | null {
  const fields = procStat(pid);
  if (fields === null || fields[0] !== 'Z') return null;
  // The main thread is a zombie as soon as it exits; the other threads, and the descriptors they
  // share, go a moment later. Until they have, the peer of a child's socket sees no end yet.
  if (liveThreads(pid) > 1) return null;
  const status = Number(fields[49]);
  if (!Number.isInteger(status)) return null;
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : -signal;
}

function liveThreads(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

/** Signals, and the count of joiners that keep the parent alive: the same for every kind of child. */
export abstract class SignalledPopen implements Popen {
  abstract readonly pid: number;
  abstract readonly exited: Promise<number>;
  protected refs = 0;

  abstract poll(): number | null;

  /** Keeps the parent's event loop alive or not, from `refs` and the daemon flag. */
  protected abstract applyRef(): void;

  terminate(): void {
    signalUnlessEnded(this, 'SIGTERM');
  }

  kill(): void {
    signalUnlessEnded(this, 'SIGKILL');
  }

  ref(): void {
    this.refs += 1;
    this.applyRef();
  }

  unref(): void {
    this.refs = Math.max(0, this.refs - 1);
    this.applyRef();
  }
}

/** A Popen over a Node ChildProcess: spawned children and warm spares. */
export class ChildPopen extends SignalledPopen {
  readonly pid: number;
  readonly exited: Promise<number>;
  #child: ChildProcess;
  #channel: LaunchedChild['channel'];
  #code: number | null = null;
  #daemon: boolean;
  #resolveExited: (code: number) => void = () => {};

  constructor(launched: LaunchedChild, daemon: boolean) {
    super();
    const child = launched.process;
    this.#channel = launched.channel;
    if (child.pid === undefined) throw new Error('multiproc: the child process could not be started');
    this.pid = child.pid;
    this.#child = child;
    this.#daemon = daemon;
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.#code ??= exitCodeOf(code, signal);
        resolve(this.#code);
      };
      if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
      else child.once('exit', done);
    });
    this.applyRef();
  }

  poll(): number | null {
    if (this.#code === null && this.#child.exitCode === null && this.#child.signalCode === null) {
      const code = zombieExitCode(this.pid);
      if (code !== null) {
        this.#code = code;
        // Libuv reports the exit later, and not at all if nothing holds the event loop (an unreferenced daemon): say it now.
        this.#resolveExited(code);
      }
    } else if (this.#code === null) {
      this.#code = exitCodeOf(this.#child.exitCode, this.#child.signalCode);
    }
    return this.#code;
  }

  /** A non-daemonic child keeps its parent alive, as Python joins it at exit; a daemonic one does only while joined. */
  protected applyRef(): void {
    if (this.#daemon && this.refs === 0) this.#child.unref();
    else this.#child.ref();
    // The channel is not what keeps a parent alive: the process handle is.
    this.#channel.unref();
  }
}

/** Signals a child, unless it has ended (a no-op then, as in Python); one that vanished meanwhile is no error. */
function signalUnlessEnded(popen: Popen, signal: NodeJS.Signals): void {
  if (popen.poll() !== null) return;
  try {
    process.kill(popen.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
