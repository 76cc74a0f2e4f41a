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

/** Signals whose default action is not to end the process: SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH. */
const SURVIVABLE = [17, 18, 19, 20, 21, 22, 23, 28].reduce((mask, signal) => mask | (1n << BigInt(signal - 1)), 0n);

/**
 * Whether /proc shows `pid` about to die: a signal that ends it is pending,
 * neither caught, ignored nor blocked, and it has not run since (a process
 * group's SIGINT reaches a node still booting, before any handler; a stopped
 * process keeps it pending). False where it cannot tell.
 */
export function procDoomed(pid: number): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return false;
  }
  const mask = (field: string): bigint => {
    const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    return hex === undefined ? 0n : BigInt(`0x${hex}`);
  };
  const pending = mask('SigPnd') | mask('ShdPnd');
  const spared = mask('SigBlk') | mask('SigIgn') | mask('SigCgt') | SURVIVABLE;
  return (pending & ~spared) !== 0n;
}
