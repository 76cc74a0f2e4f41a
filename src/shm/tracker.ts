import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerAfterFork } from '../afterfork.js';
import { native } from '../native.js';
import type { HandleSink, HandleSource } from '../reduction.js';
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
 */

/** What travels to a child with a segment, so that the tracker waits for the child too. */
export type CarriedTracker = { fd: number } | { journal: string; token: string };
let tokens = 0;

/** The tracker's pipe this process writes to (native), once there is one. */
let trackerFd: number | null = null;
/** Write ends received from parents: held open (never written) so their trackers wait for this process. */
const held: number[] = [];
/** Without the addon: a tracker's journal, and this process's descriptor for it (opened to append on first use). */
interface Journal {
  readonly path: string;
  fd: number | null;
}
/** The journal this process reports to. */
let journal: Journal | null = null;

function startTracker(stdin: number | 'pipe', journalPath?: string): void {
  const args = journalPath === undefined ? ['-e', TRACKER_PROGRAM] : ['-e', TRACKER_PROGRAM, journalPath];
  const child = spawn(process.execPath, args, { stdio: [stdin, 'ignore', 'inherit'], detached: true });
  child.unref();
  // Without the addon, the pipe only tells the tracker when this process is gone:
  // it is never written, and must not keep this process's event loop alive.
  (child.stdin as { unref?(): void } | null)?.unref?.();
}

function nativeTracker(pipe: () => [number, number]): number {
  if (trackerFd !== null) return trackerFd;
  const [readFd, writeFd] = pipe();
  startTracker(readFd);
  // Our copy of the read end must go, or the tracker would never see end-of-file.
  closeSync(readFd);
  trackerFd = writeFd;
  return writeFd;
}

function journalTracker(): Journal {
  if (journal !== null) return journal;
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-tracker-'));
  const path = join(dir, 'journal');
  writeFileSync(path, '');
  try {
    startTracker('pipe', path);
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

function send(fd: number, op: 'register' | 'unregister', name: string): void {
  try {
    writeSync(fd, JSON.stringify({ op, name }) + '\n');
  } catch {
    // The tracker is gone (someone killed it): nothing will unlink leftovers, but the segment itself works.
  }
}

/** Remembers a segment this process created, until `unregister`. */
export function register(name: string): void {
  const addon = native();
  if (addon === null) {
    note(journalTracker(), { op: 'register', name });
  } else {
    send(nativeTracker(() => addon.pipe()), 'register', name);
  }
}

/** Forgets a segment (it was unlinked). */
export function unregister(name: string): void {
  if (trackerFd !== null) send(trackerFd, 'unregister', name);
  else note(journal, { op: 'unregister', name });
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
  return { fd: handles.pass(nativeTracker(() => addon.pipe())) };
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
  if (trackerFd === null) trackerFd = fd;
  else if (fd !== trackerFd) held.push(fd);
}
