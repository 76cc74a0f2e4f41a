import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { registerAfterFork } from '../afterfork.js';
import { native, type Native } from '../native.js';
import type { HandleSink, HandleSource } from '../reduction.js';
import { segmentDir } from './segmentDir.js';
import { TRACKER_PROGRAM } from './trackerProgram.js';

/**
 * The resource tracker (Python's multiprocessing.resource_tracker): a small
 * detached process that remembers the shared-memory segments this process
 * tree created and has not unlinked, and unlinks them, with Python's
 * warning, once every process of the tree that holds them is gone, however
 * it died (SIGKILL included). Its program: ./trackerProgram.ts.
 *
 * With the native addon, the tree's processes hold the write end of a pipe
 * to it (children receive it with their segments, over SCM_RIGHTS): the
 * last one gone, it reads end-of-file. Without the addon no descriptor can
 * reach a child, so a child learns the path of the tracker's journal
 * instead, and appends its pid there for the tracker to watch.
 *
 * Killed itself, the tracker is started again (Python restarts its tracker
 * too) by the process that started it, which watches it: on the same pipe,
 * whose read end that process keeps for the purpose, and the same log (or
 * journal), so that the new one knows every segment the old one did and
 * waits for the same processes. Where that process is gone already, a
 * process of the tree that finds the pipe broken when it next needs the
 * tracker starts one of its own and registers again what it created and
 * has not unlinked; what others created may then leak, as Python warns.
 */

/** What travels to a child with a segment, so that the tracker waits for the child too. */
export type CarriedTracker = { fd: number; log: string } | { journal: string; token: string };
let tokens = 0;

/** The tracker's pipe this process writes to (native), once there is one, and where that tracker logs what it reads. */
let trackerFd: number | null = null;
let trackerLog: string | null = null;
/** Write ends received from parents: held open (never written) so their trackers wait for this process. */
const held: number[] = [];
/** Without the addon: a tracker's journal, and this process's descriptor for it (opened to append on first use). */
interface Journal {
  readonly path: string;
  fd: number | null;
}
/** The journal this process reports to. */
let journal: Journal | null = null;
/** What this process registered and has not unregistered: what it registers again with a tracker of its own. */
const live = new Set<string>();

/**
 * Starts the tracker, and starts it again whenever it is killed. It cannot
 * end on its own while this process lives (this process holds its pipe), so
 * a death by a signal is someone's kill (or the OOM killer's); a crash, with
 * an exit code, would only crash again, so it is reported, not retried.
 */
function startTracker(args: readonly string[], stdin: number | 'pipe'): void {
  const child = spawn(process.execPath, ['-e', TRACKER_PROGRAM, ...args], { stdio: [stdin, 'ignore', 'inherit'], detached: true });
  child.unref();
  // Without the addon, the pipe only tells the tracker when this process is gone:
  // it is never written, and must not keep this process's event loop alive.
  (child.stdin as { unref?(): void } | null)?.unref?.();
  child.on('error', (error) => process.emitWarning(`resource_tracker: could not be started (${error.message}); shared memory left behind will not be unlinked`, 'UserWarning'));
  child.once('exit', (code, signal) => {
    if (signal === null) {
      process.emitWarning(`resource_tracker: process exited unexpectedly (code ${code}); shared memory left behind will not be unlinked`, 'UserWarning');
      return;
    }
    process.emitWarning(`resource_tracker: process died unexpectedly (${signal}), relaunching; it still tracks every segment it did`, 'UserWarning');
    startTracker(args, stdin);
  });
}

function nativeTracker(pipe: () => [number, number]): number {
  if (trackerFd !== null) return trackerFd;
  const [readFd, writeFd] = pipe();
  const log = join(mkdtempSync(join(tmpdir(), 'multiproc-tracker-')), 'log');
  // The read end stays open here (close-on-exec: no child inherits it), for a
  // tracker started again should this one be killed; the tracker reads
  // end-of-file once every write end is closed, whoever holds a read end.
  startTracker(['pipe', log, segmentDir()], readFd);
  trackerFd = writeFd;
  trackerLog = log;
  return writeFd;
}

function journalTracker(): Journal {
  if (journal !== null) return journal;
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-tracker-'));
  const path = join(dir, 'journal');
  writeFileSync(path, '');
  try {
    startTracker(['journal', path, segmentDir()], 'pipe');
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  journal = { path, fd: null };
  note(journal, { op: 'attach' });
  return journal;
}

/** This process as the tracker tells it apart from a later one with the same pid: its start time in /proc. */
let identity: { pid: number; start: string } | undefined;
registerAfterFork(() => (identity = undefined));
function self(): { pid: number; start: string } {
  if (identity !== undefined) return identity;
  let start = '';
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    // No /proc: the tracker watches the pid alone.
  }
  return (identity = { pid: process.pid, start });
}

/** Appends a line to the journal: one write to a file opened to append, so lines from several processes never interleave. */
function note(to: Journal | null, message: { op: 'register' | 'unregister' | 'attach' | 'expect'; name?: string; token?: string }): void {
  if (to === null) return;
  try {
    to.fd ??= openSync(to.path, 'a');
    writeSync(to.fd, JSON.stringify({ ...message, ...self() }) + '\n');
  } catch {
    // The tracker is gone (someone killed it): nothing will unlink leftovers, but the segment itself works.
  }
}

/** Writes a line to the tracker's pipe; false when no tracker is left to read it (EPIPE). */
function send(fd: number, op: 'register' | 'unregister', name: string): boolean {
  try {
    writeSync(fd, JSON.stringify({ op, name }) + '\n');
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'EPIPE';
  }
}

/**
 * The tracker is gone and so is the process that would have started it
 * again (it kept the pipe's read end): this process starts one of its own,
 * for itself and its future children, and registers again what it created.
 */
function replaceTracker(addon: Native): number {
  process.emitWarning('resource_tracker: process died unexpectedly, relaunching.  Some resources might leak.', 'UserWarning');
  if (trackerFd !== null) closeSync(trackerFd);
  // No one is left to start a tracker on the old log.
  if (trackerLog !== null) rmSync(dirname(trackerLog), { recursive: true, force: true });
  trackerFd = null;
  const fd = nativeTracker(() => addon.pipe());
  // (Another process may have unlinked one since: only those still there.)
  for (const name of live) if (existsSync(segmentDir() + name)) send(fd, 'register', name);
  return fd;
}

/** The tracker's pipe, after making sure someone reads it (a line no tracker ignores). */
function liveTracker(addon: Native): number {
  const fd = nativeTracker(() => addon.pipe());
  try {
    writeSync(fd, '\n');
    return fd;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') return fd;
    return replaceTracker(addon);
  }
}

/** Remembers a segment this process created, until `unregister`. */
export function register(name: string): void {
  live.add(name);
  const addon = native();
  if (addon === null) {
    note(journalTracker(), { op: 'register', name });
  } else if (!send(nativeTracker(() => addon.pipe()), 'register', name)) {
    replaceTracker(addon);
  }
}

/** Forgets a segment (it was unlinked). */
export function unregister(name: string): void {
  live.delete(name);
  const addon = native();
  if (trackerFd !== null && addon !== null) {
    if (!send(trackerFd, 'unregister', name)) replaceTracker(addon);
  } else {
    note(journal, { op: 'unregister', name });
  }
}

/** For a child that receives a segment: the tracker's pipe (passed as a descriptor) or, without the addon, its journal. */
export function carryTracker(handles: HandleSink): CarriedTracker {
  const addon = native();
  if (addon === null) {
    // Noted before the child exists, so that the tracker waits for it even if this process dies first.
    const carried = { journal: journalTracker().path, token: `${process.pid}.${++tokens}` };
    note(journal, { op: 'expect', token: carried.token });
    return carried;
  }
  const fd = liveTracker(addon);
  return { fd: handles.pass(fd), log: trackerLog! };
}

/** In a child: the parent's tracker becomes this process's (it also tracks what this process creates) and waits for it. */
export function adoptCarriedTracker(carried: CarriedTracker, handles: HandleSource): void {
  if ('journal' in carried) {
    const { token } = carried;
    if (journal === null) {
      journal = { path: carried.journal, fd: null };
      note(journal, { op: 'attach', token });
    } else if (journal.path === carried.journal) {
      note(journal, { op: 'attach', token });
    } else {
      // Another tracker (a segment a parent received from elsewhere): it waits for this process too.
      const other: Journal = { path: carried.journal, fd: null };
      note(other, { op: 'attach', token });
      if (other.fd !== null) closeSync(other.fd);
    }
    return;
  }
  const fd = handles.fd(carried.fd);
  if (trackerFd === null) {
    trackerFd = fd;
    trackerLog = carried.log;
  }
  else if (fd !== trackerFd) held.push(fd);
}
