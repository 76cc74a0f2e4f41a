import { readdirSync, readFileSync } from 'node:fs';

/**
 * What a zygote must not hold when it forks: threads of its own making. fork()
 * copies only the calling thread, so a worker thread that lives in the zygote
 * is missing in every child, while the child's JavaScript still believes it
 * is there: the next message to it waits for ever. Node's own threads (V8's
 * platform, the inspector's signal thread, libuv's pool) are handled by the
 * fork itself; a `worker_threads` Worker (a loader's hooks thread, esbuild's
 * synchronous service, one the main module started) cannot be.
 */

/** The zygote's answer to a fork request while a worker thread runs in it: the parent starts a spare instead. */
export const FORK_REFUSED_THREADS = -95; // -EOPNOTSUPP

/** How many worker_threads Workers run in this process now (Node names their threads "WorkerThread"). */
export function workerThreadCount(): number {
  let count = 0;
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'latin1').trim() === 'WorkerThread') count += 1;
    } catch {
      // the thread ended meanwhile
    }
  }
  return count;
}

interface Stoppable {
  stop(): Promise<void> | void;
}

const ESBUILD = /[\\/]node_modules[\\/]esbuild[\\/]lib[\\/]main\.js$/;
const SETTLE_MS = 2000;

/**
 * Brings the zygote to the state it forks from, once the main module is
 * loaded. A TypeScript loader such as tsx compiles through esbuild, which
 * keeps a service process (pipes) and a worker thread running: both would be
 * shared with, or missing in, every child. esbuild's own stop() ends them and
 * starts them again on the next call, so each child starts its own. Then it
 * waits for the threads to be gone.
 */
export async function quiesce(): Promise<void> {
  for (const [path, cached] of Object.entries(require.cache)) {
    if (!ESBUILD.test(path)) continue;
    const esbuild = cached?.exports as Partial<Stoppable> | undefined;
    if (typeof esbuild?.stop === 'function') await esbuild.stop();
  }
  const deadline = Date.now() + SETTLE_MS;
  while (workerThreadCount() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}
