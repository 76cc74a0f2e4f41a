// Proof that a test left no process behind: every process started from this
// test process carries a marker in its environment (children inherit it), so
// after a test we can list all of them, wherever they were re-parented, and
// require that only idle forkserver spares remain, as direct children (and
// the forkserver's one child forked ahead of its job).
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { activeChildren } from 'multiproc';

const MARK = `MULTIPROC_TEST_MARK=${process.pid}-${Math.random().toString(36).slice(2)}`;
process.env.MULTIPROC_TEST_MARK = MARK.split('=')[1];

interface Proc {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

/** Every process that descends from this one (by the inherited marker), plus zombie children. */
export function descendants(): Proc[] {
  const found: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const stat = read(`/proc/${entry}/stat`);
    if (stat === null) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const proc = { pid: Number(entry), ppid: Number(fields[1]), state: fields[0]!, cmdline: (read(`/proc/${entry}/cmdline`) ?? '').replace(/\0+/g, ' ').trim() };
    const marked = (read(`/proc/${entry}/environ`) ?? '').split('\0').includes(MARK);
    if (marked || (proc.ppid === process.pid && proc.state === 'Z')) found.push(proc);
  }
  return found;
}

// A spare or forkserver still booting shows its role after the bootstrap's path, until it sets its title.
const isIdleSpare = (p: Proc): boolean =>
  p.ppid === process.pid && p.state !== 'Z' && /^node multiproc: (spare|forkserver)$|child\/bootstrap\.js (spare|forkserver)$/.test(p.cmdline);
// A child the forkserver forked ahead of its job: a child of an idle forkserver, one each at most.
const forkedAhead = (all: Proc[]): Set<Proc> => {
  const forkservers = new Set(all.filter((p) => isIdleSpare(p) && /forkserver$/.test(p.cmdline)).map((p) => p.pid));
  const ahead = new Map<number, Proc>();
  for (const p of all) if (forkservers.has(p.ppid) && p.state !== 'Z' && p.cmdline === 'node multiproc: forked' && !ahead.has(p.ppid)) ahead.set(p.ppid, p);
  return new Set(ahead.values());
};
// The resource tracker lives as long as the process tree that made shared memory (as Python's).
const isTracker = (p: Proc): boolean => p.state !== 'Z' && p.cmdline.startsWith('node multiproc: resource_tracker');

/**
 * Waits (up to `withinMs`) until nothing but idle spares is left, and throws
 * a list of the offenders otherwise: zombies, orphans, or children still running.
 */
export async function assertNoneLeftBehind(withinMs = 3000): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const all = descendants();
    const ahead = forkedAhead(all);
    const offenders = all.filter((p) => !isIdleSpare(p) && !isTracker(p) && !ahead.has(p));
    const active = activeChildren();
    if (offenders.length === 0 && active.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `processes left behind: ${offenders.map((p) => `${p.pid} (ppid ${p.ppid}, state ${p.state}) ${p.cmdline}`).join('; ')}` +
          (active.length ? `; activeChildren(): ${active.map(String).join(', ')}` : ''),
      );
    }
    await sleep(20);
  }
}

/** Kills every marked process but this one; for a test's own cleanup after a deliberate orphan. */
export function killDescendants(): void {
  for (const p of descendants()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
