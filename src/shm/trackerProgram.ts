/**
 * The resource tracker's own program, plain CommonJS run with `node -e`: no
 * file to find, whatever runs the caller (tsx, dist...). Its arguments: a
 * mode, a path, and the folder of the segments (./segmentDir.ts).
 *
 * 'pipe' (with the native addon): it reads register/unregister lines (JSON)
 * on its stdin, a pipe whose write end the tree's processes hold, and appends
 * every chunk it reads to the log at the path before acting on it. Should it
 * be killed, the process that started it (which keeps the pipe's read end)
 * starts another on the same pipe and log: the log replayed and the pipe read
 * on, the new one knows all the old one did, and still ends when the last
 * write end closes.
 *
 * 'journal' (without the addon, where no descriptor can reach a child): the
 * tree's processes append their lines to a journal file at the path instead,
 * each naming its process (pid and start time, which tells a reused pid
 * apart); the tracker reads it every POLL_MS, and waits for every process
 * named there as well as for its pipe (from the process that started it). A
 * parent also notes each child it sends a segment to, before the child exists
 * ('expect', with a token the child's 'attach' repeats), so that a tree whose
 * other processes all die while that child is still starting does not lose
 * the segment under it: the tracker waits for such a child up to EXPECT_MS
 * from the note. A tracker started again on the same journal reads it from
 * the start, so it too knows everything.
 *
 * Either way, once all are gone, however they died (SIGKILL included), it
 * unlinks the segments left registered, with Python's warning.
 */
export const TRACKER_POLL_MS = 150;
export const TRACKER_EXPECT_MS = 10_000;

export const TRACKER_PROGRAM = `
process.title = 'node multiproc: resource_tracker';
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
const { closeSync, openSync, readFileSync, readSync, rmSync, unlinkSync, writeSync } = require('node:fs');
const path = require('node:path');
const mode = process.argv[1];
const journal = mode === 'journal' ? process.argv[2] : undefined;
const log = mode === 'pipe' ? process.argv[2] : undefined;
const segments = process.argv[3];
const names = new Set();
/** 'pid:start' of each process of the tree named in the journal. */
const holders = new Map();
/** Children on their way: token -> when the tracker read of them. */
const expected = new Map();
let pending = '';
let pipeClosed = false;

function apply(line) {
  try {
    // Read as latin1 (a chunk may end inside a character); the lines are UTF-8.
    const { op, name, pid, start, token } = JSON.parse(Buffer.from(line, 'latin1').toString('utf8'));
    if (op === 'register') names.add(name);
    else if (op === 'unregister') names.delete(name);
    else if (op === 'expect') expected.set(token, Date.now());
    else if (op === 'attach' && token !== undefined) expected.delete(token);
    if (typeof pid === 'number') holders.set(pid + ':' + start, { pid, start });
  } catch {}
}

function take(chunk) {
  pending += chunk;
  for (let end = pending.indexOf('\\n'); end !== -1; end = pending.indexOf('\\n')) {
    apply(pending.slice(0, end));
    pending = pending.slice(end + 1);
  }
}

let journalFd = null;
let journalAt = 0;
const scratch = Buffer.alloc(64 * 1024);
function readJournal() {
  if (journalFd === null) journalFd = openSync(journal, 'r');
  for (let n; (n = readSync(journalFd, scratch, 0, scratch.length, journalAt)) > 0; journalAt += n) take(scratch.toString('latin1', 0, n));
}

function alive({ pid, start }) {
  let stat;
  try {
    stat = readFileSync('/proc/' + pid + '/stat', 'latin1');
  } catch {
    // No /proc: the pid alone.
    try { process.kill(pid, 0); return true; } catch (error) { return error.code === 'EPERM'; }
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] !== 'Z' && fields[0] !== 'X' && fields[19] === String(start);
}

function finish() {
  if (names.size > 0) {
    process.stderr.write('resource_tracker: There appear to be ' + names.size + ' leaked shared_memory objects to clean up at shutdown: ' + JSON.stringify([...names].map((n) => '/' + n)) + '\\n');
    for (const name of names) {
      try { unlinkSync(segments + name); } catch (error) { process.stderr.write('resource_tracker: /' + name + ': ' + error.message + '\\n'); }
    }
  }
  const dir = journal ?? log;
  if (dir !== undefined) {
    try { closeSync(journalFd ?? logFd); } catch {}
    rmSync(path.dirname(dir), { recursive: true, force: true });
  }
  process.exit(0);
}

let logFd = null;
if (log !== undefined) {
  // What a predecessor read before it was killed. (No log, say a cleaner
  // emptied the temporary directory: this tracker still does its work.)
  try {
    logFd = openSync(log, 'a+');
    take(readFileSync(log, 'latin1'));
  } catch {}
}
process.stdin.setEncoding('latin1');
process.stdin.on('data', (chunk) => {
  if (logFd !== null) {
    try { writeSync(logFd, chunk, null, 'latin1'); } catch {}
  }
  take(chunk);
});
process.stdin.on('end', () => {
  pipeClosed = true;
  if (journal === undefined) finish();
});
process.stdin.on('error', () => {});
if (journal !== undefined) {
  const gone = () => [...holders.values()].every((holder) => !alive(holder)) && [...expected.values()].every((since) => Date.now() - since > ${TRACKER_EXPECT_MS});
  const poll = () => {
    try { readJournal(); } catch {}
    if (pipeClosed && gone()) {
      // One more read: a process may have named itself since.
      try { readJournal(); } catch {}
      if (gone()) return finish();
    }
    setTimeout(poll, ${TRACKER_POLL_MS});
  };
  poll();
}
`;
