import { existsSync } from 'node:fs';
import path from 'node:path';
import { OSError } from './errors.js';

/**
 * How a futex wait ended, as `Atomics.wait` says it: woken (possibly
 * spuriously, so re-check the word), the word did not hold the expected value,
 * or the timeout passed.
 */
export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out';

/** The native addon (native/multiproc.cc): the system calls Node.js has no synchronous API for. */
export interface Native {
  /** An AF_UNIX stream socket pair, both ends close-on-exec. */
  socketpair(): [number, number];
  /** `[readFd, writeFd]`, both close-on-exec. */
  pipe(): [number, number];
  /** An anonymous shared-memory file of `size` bytes (zero-filled), close-on-exec; Linux only. */
  memfdCreate(name: string, size: number): number;
  /** The first `size` bytes of `fd` mapped shared and writable; unmapped when the buffer is collected. Leaves the fd open. */
  mapFd(fd: number, size: number): ArrayBuffer;
  /** Reserves the first `size` bytes of a file (posix_fallocate), so that touching them later cannot fail: ENOSPC now rather than SIGBUS then. */
  fallocate(fd: number, size: number): void;
  /**
   * Blocks this thread while `view[index] === expected`, until a `futexWake`
   * from any process or the timeout (negative: none). `view` must lie in memory
   * from `mapFd`. Linux only.
   */
  futexWait(view: Int32Array, index: number, expected: number, timeoutMs: number): FutexWaitResult;
  /** Wakes up to `count` (or `Infinity`) waiters on `view[index]` in any process; returns how many woke. */
  futexWake(view: Int32Array, index: number, count: number): number;
  /**
   * `futexWait` without blocking: one thread of the addon's own sleeps on every
   * pending word of the process at once (futex_waitv), never a libuv threadpool
   * thread, and process.exit() never waits for it. A pending wait keeps the
   * event loop alive, as a pending socket read does.
   */
  futexWaitAsync(view: Int32Array, index: number, expected: number, timeoutMs: number): Promise<FutexWaitResult>;
  /** Passes descriptors over a Unix socket (SCM_RIGHTS); the socket must not belong to libuv. Blocks until sent. */
  sendFds(socket: number, fds: readonly number[]): void;
  /** Receives one message of descriptors (close-on-exec); blocks until it arrives. */
  recvFds(socket: number): number[];
  /**
   * Calls `onReady` once, from the event loop, when `fd` is readable (or
   * writable), or has an error or hang-up for the next read or write to
   * report; no thread waits. Returns a function that cancels the watch. A
   * pending watch keeps the event loop alive.
   */
  pollFd(fd: number, writable: boolean, onReady: () => void): () => void;
  /** Asks for a pipe of at least `bytes` (Linux: up to /proc/sys/fs/pipe-max-size unless privileged); returns its capacity then (-1: unknown). */
  growPipe(fd: number, bytes: number): number;
}

const FUNCTIONS = [
  'socketpair',
  'pipe',
  'memfdCreate',
  'mapFd',
  'fallocate',
  'futexWait',
  'futexWake',
  'futexWaitAsync',
  'sendFds',
  'recvFds',
  'pollFd',
  'growPipe',
] as const satisfies readonly (keyof Native)[];

let loaded: { native: Native | null; reason: string | null } | undefined;

/**
 * The addon, or null when it cannot be loaded (not built, built for another
 * platform, or no compiler at install time); `nativeUnavailableReason()` says
 * why. Loaded on first use only, so that programs that never need it pay
 * nothing, and tried once.
 */
export function native(): Native | null {
  return load().native;
}

/** Why `native()` returned null, or null when it did not. */
export function nativeUnavailableReason(): string | null {
  return load().reason;
}

function load(): { native: Native | null; reason: string | null } {
  if (loaded) return loaded;
  // For running the paths taken where the addon cannot load, on purpose or in tests.
  const disabled = process.env.MULTIPROC_NO_NATIVE;
  if (disabled !== undefined && isTruthy(disabled)) return (loaded = { native: null, reason: `disabled by MULTIPROC_NO_NATIVE=${disabled}` });
  // Its locks and regions are futexes on memfd memory, which only Linux has: elsewhere the portable paths serve (docs/platforms.md).
  if (process.platform !== 'linux') return (loaded = { native: null, reason: `the addon serves Linux only (futexes, memfd), and this is ${process.platform}` });
  try {
    const addon = nodeGypBuild()(packageRoot());
    if (!isNative(addon)) {
      throw new Error(`the addon does not export ${missingFunctions(addon).join(', ')}: it is out of date; rebuild it (npm rebuild multiproc)`);
    }
    loaded = { native: addon, reason: null };
  } catch (error) {
    // On one line: it is quoted in one-line messages (node-gyp-build's spans two).
    loaded = { native: null, reason: (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ').trim() };
  }
  return loaded;
}

/** An environment switch is on unless empty or one of the usual words for off (as 1/true/yes/on are on). */
function isTruthy(value: string): boolean {
  return !['', '0', 'false', 'no', 'off'].includes(value.trim().toLowerCase());
}

// Required here rather than imported, so that it loads only with the addon.
function nodeGypBuild(): typeof import('node-gyp-build') {
  return require('node-gyp-build');
}

// This file runs from dist/cjs/ once built (and from src/ under tsx): the
// package root is the nearest directory above with binding.gyp, which the
// package ships for node-gyp-build to find build/ beside it.
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no binding.gyp in ${__dirname} or above it`);
  }
}

let warned = false;

/**
 * Says once per process, on one stderr line, that the addon is missing, what
 * is slower for it, and how to get it. The first slower path a program takes
 * calls it (the sync server as it starts, a Pool as it starts a worker), so a
 * program that only takes paths as fast as the addon's (Pipes) hears nothing.
 */
export function warnWithoutAddon(): void {
  if (warned || native() !== null) return;
  warned = true;
  const reason = nativeUnavailableReason()!;
  const fix = reason.startsWith('disabled by')
    ? 'unset MULTIPROC_NO_NATIVE to use it'
    : process.platform !== 'linux'
      ? 'the addon exists for Linux only'
      : "to get it, run npm rebuild multiproc where a C++ compiler and Node's headers are installed (prebuilt for Linux x64 and arm64 with glibc)";
  process.stderr.write(
    `multiproc: the native addon could not be loaded (${reason}); slower without it: locks, semaphores, events, conditions, barriers, Values and Arrays (through an IPC server), queues, Pools, and SharedMemory's buf (file reads and writes); ${fix}\n`,
  );
}

/** The addon, or an OSError that says why it is needed and how to get it; `what` names the caller ("SharedRegion"). */
export function requireNative(what: string): Native {
  const addon = native();
  if (addon === null) {
    throw new OSError(
      `${what} needs multiproc's native addon, which could not be loaded (${nativeUnavailableReason()}). ` +
        'Reinstall with npm ci, where a C++ compiler and Node\'s headers are available, to build it.',
    );
  }
  return addon;
}

// An addon built from an older native/multiproc.cc lacks the newer functions:
// better refused as a whole at load than failing later in the middle of a call.
function missingFunctions(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [...FUNCTIONS];
  const addon = value as Record<string, unknown>;
  return FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
}

function isNative(value: unknown): value is Native {
  return missingFunctions(value).length === 0;
}

/** The forking forkserver's part of the addon (native/zygote.cc); Linux only. */
export interface ZygoteNative {
  /** In the zygote: the child's pid, 0 in the child, -errno on failure (-EBUSY while requests are in flight). */
  fork(daemon: boolean): number;
  /** In a forked child: the code a drained event loop exits with. */
  setExitCode(code: number): void;
  /** In a forked child: `_exit(code)`, after JavaScript flushed what it buffered. */
  exit(code: number): never;
  getpid(): number;
  /** Waits (WNOHANG) for those of `pids` that ended: `[pid, code, pid, code, ...]`, code -N for signal N. */
  reap(pids: readonly number[]): number[];
}

let zygoteLoaded: ZygoteNative | null | undefined;

/** The zygote's functions, or null where they cannot load (not Linux, or no addon). */
export function zygoteNative(): ZygoteNative | null {
  if (zygoteLoaded !== undefined) return zygoteLoaded;
  zygoteLoaded = null;
  if (process.platform !== 'linux' || native() === null) return zygoteLoaded;
  // Its functions are in the one addon (native/zygote.cc), so a prebuilt binary has them too.
  const addon = native() as unknown as Partial<ZygoteNative>;
  if (typeof addon.fork === 'function' && typeof addon.reap === 'function') zygoteLoaded = addon as ZygoteNative;
  return zygoteLoaded;
}
