import { existsSync, readFileSync } from 'node:fs';

/**
 * What Linux's /proc says of a process: the one place multiproc reads it
 * for liveness (a zombie, a thread count), and the test of whether there is
 * a /proc at all (macOS and Windows have none; callers then fall back to
 * signals or ps(1)).
 */
export const HAS_PROC = existsSync('/proc/self/stat');

/**
 * The fields of /proc/PID/stat after the command name, starting with the
 * state ('R', 'S', 'Z'...), or null if the process is gone (or no /proc).
 */
export function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Whether /proc shows `pid` ended but not reaped (a zombie), or gone. */
export function procEnded(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state === undefined || state === 'Z' || state === 'X';
}
