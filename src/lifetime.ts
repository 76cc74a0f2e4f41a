import { discardSpares } from './launch/forkserver.js';
import { hasEnded, type Popen } from './launch/popen.js';
import type { Process } from './process.js';

/**
 * The children this process started and has not yet seen end, and what
 * happens to them when it exits: as Python's atexit hook does, daemonic
 * children are terminated and the others are waited for.
 */
export interface Child {
  readonly process: Process;
  readonly daemon: boolean;
  readonly popen: Popen;
}

export const children = new Set<Child>();

let hooked = false;

export function addChild(child: Child): void {
  children.add(child);
  if (!hooked) {
    hooked = true;
    process.on('exit', onExit);
  }
}

/** Drops the children that have ended (Python's `_cleanup`); their zombies are reaped by libuv. */
export function reap(): void {
  for (const child of children) if (child.popen.poll() !== null) children.delete(child);
}

/**
 * Runs when the parent exits. A natural exit never finds a live non-daemonic
 * child (its handle kept the event loop alive); `process.exit()` or an
 * uncaught error can, and then, as Python does, we wait for it. 'exit'
 * handlers must be synchronous, so the wait polls (/proc, or ps).
 */
function onExit(): void {
  discardSpares();
  for (const child of children) if (child.daemon) child.popen.terminate();
  for (const child of children) if (!child.daemon) waitSync(child.popen.pid);
}

function waitSync(pid: number): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (!hasEnded(pid)) Atomics.wait(sleeper, 0, 0, 5);
}
