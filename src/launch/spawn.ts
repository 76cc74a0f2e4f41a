import { launchNode, type LaunchedChild } from './command.js';
import { ChildPopen, type Popen } from './popen.js';
import type { JobMessage, PrepareMessage } from './protocol.js';

/** The `spawn` start method: a fresh node process for every Process. */
export function spawnPopen(prepare: PrepareMessage, job: JobMessage, fds: readonly number[]): Popen {
  const child = launchNode(prepare.daemon);
  try {
    handOver(child, prepare, job, fds);
    return new ChildPopen(child, prepare.daemon);
  } catch (err) {
    child.process.kill('SIGKILL');
    throw err;
  }
}

/** Sends a child its job, after the descriptors the job needs (so they wait for it on the fd channel). */
export function handOver(child: Pick<LaunchedChild, 'channel' | 'fdChannel' | 'handleChannel'>, prepare: PrepareMessage | null, job: JobMessage, fds: readonly number[]): void {
  if (fds.length > 0) {
    const channel = child.fdChannel ?? child.handleChannel;
    if (channel === null || channel === undefined) throw new Error('multiproc: this child has no channel to pass descriptors on');
    channel.pass(fds);
  }
  child.fdChannel?.close();
  if (prepare !== null) child.channel.send(prepare);
  child.channel.send(job);
}
