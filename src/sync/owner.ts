import { threadId } from 'node:worker_threads';
import { registerAfterFork } from '../afterfork.js';
import { HAS_PROC, procEnded } from '../procfs.js';

/** This process's pid, as stored in lock words (never 0, which means "free"). */
export let PID = process.pid;
// A child forked from the forkserver's zygote has a pid of its own.
registerAfterFork(() => (PID = process.pid));
/** This thread (worker_threads) within the process: 0 on the main thread. RLock ownership is per (pid, thread). */
export const THREAD = threadId;

/**
 * Whether the process `pid` still runs. A zombie counts as dead: a holder
 * killed with SIGKILL stays a zombie until its parent reaps it, and waiting
 * for that would make the next acquirer depend on the parent's event loop.
 * (A pid reused by a new process after the holder's death reads as alive:
 * the kernel gives no way to tell them apart.)
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // Without /proc (macOS, Windows) the signal is all there is: a zombie reads as alive until its parent reaps it.
  if (!HAS_PROC) return true;
  return !procEnded(pid);
}
