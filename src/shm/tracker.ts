import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { requireNative } from '../native.js';

/**
 * The resource tracker (Python's multiprocessing.resource_tracker): a small
 * detached process that remembers the shared-memory segments this process
 * tree created and has not unlinked. It reads their names on a pipe whose
 * write end the creating process holds, and every process that receives a
 * segment in `args` holds too; when the last of them is gone, however it
 * died (SIGKILL included), the pipe reads end-of-file, and the tracker
 * unlinks what is left with Python's warning.
 */

// Plain CommonJS run with `node -e`: no file to find, whatever runs the caller (tsx, dist...).
const TRACKER = `
process.title = 'node multiproc: resource_tracker';
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
const { unlinkSync } = require('node:fs');
const names = new Set();
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  for (let end = pending.indexOf('\\n'); end !== -1; end = pending.indexOf('\\n')) {
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    try {
      const { op, name } = JSON.parse(line);
      if (op === 'register') names.add(name);
      else if (op === 'unregister') names.delete(name);
    } catch {}
  }
});
process.stdin.on('end', () => {
  if (names.size > 0) {
    process.stderr.write('resource_tracker: There appear to be ' + names.size + ' leaked shared_memory objects to clean up at shutdown: ' + JSON.stringify([...names].map((n) => '/' + n)) + '\\n');
    for (const name of names) {
      try { unlinkSync('/dev/shm/' + name); } catch (error) { process.stderr.write('resource_tracker: /' + name + ': ' + error.message + '\\n'); }
    }
  }
  process.exit(0);
});
`;

/** This process's write end of its tracker's pipe, once there is one. */
let trackerFd: number | null = null;
/** Write ends received from parents: held open (never written) so their trackers wait for this process. */
const held: number[] = [];

function tracker(): number {
  if (trackerFd !== null) return trackerFd;
  const [readFd, writeFd] = requireNative('the resource tracker').pipe();
  const child = spawn(process.execPath, ['-e', TRACKER], { stdio: [readFd, 'ignore', 'inherit'], detached: true });
  child.unref();
  // Our copy of the read end must go, or the tracker would never see end-of-file.
  closeSync(readFd);
  trackerFd = writeFd;
  return writeFd;
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
  send(tracker(), 'register', name);
}

/** Forgets a segment (it was unlinked). */
export function unregister(name: string): void {
  if (trackerFd !== null) send(trackerFd, 'unregister', name);
}

/** The fd to hand a child with a segment, so the tracker waits for the child as well. */
export function trackerHandle(): number {
  return tracker();
}

/** In a child: the parent's tracker pipe, kept open for this process's lifetime; it also tracks what this process creates. */
export function adoptTracker(fd: number): void {
  if (trackerFd === null) trackerFd = fd;
  else if (fd !== trackerFd) held.push(fd);
}
