import { launchNode } from './command.js';
import { ChildPopen, type Popen } from './popen.js';
import type { JobMessage, PrepareMessage } from './protocol.js';

/** The `spawn` start method: a fresh node process for every Process. */
export function spawnPopen(prepare: PrepareMessage, job: JobMessage, fds: readonly number[] = []): Popen {
  const child = launchNode(prepare.daemon, fds);
  try {
    child.channel.send(prepare);
    child.channel.send(job);
    return new ChildPopen(child, prepare.daemon);
  } catch (err) {
    child.process.kill('SIGKILL');
    throw err;
  }
}
