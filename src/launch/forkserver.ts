import { launchNode, type LaunchedChild } from './command.js';
import { ChildPopen, type Popen } from './popen.js';
import { handOver } from './spawn.js';
import type { JobMessage, PrepareMessage, ReadyMessage } from './protocol.js';

/**
 * The `forkserver` start method: Node cannot fork a running interpreter, so
 * the fast path is a warm spare, a node process that has already started,
 * loaded the library and imported the main module, and waits for its job.
 * `start()` hands the job to the spare at once and a replacement is started
 * behind it. Spares are kept per kind (daemonic or not, same main module),
 * since a daemonic child is launched so that it dies with its parent.
 */
class Spare {
  readonly launched: LaunchedChild;
  readonly key: string;
  /** Set when the spare reported that importing the main module failed. */
  failed = false;

  constructor(prepare: PrepareMessage, key: string) {
    this.key = key;
    this.launched = launchNode(prepare.daemon);
    this.launched.channel.on('message', this.#onMessage);
    this.launched.process.once('exit', () => {
      this.launched.fdChannel?.close();
      if (spares.get(this.key) === this) spares.delete(this.key);
    });
    this.launched.channel.send(prepare);
    // An idle spare must never keep its parent alive.
    this.launched.process.unref();
    this.launched.channel.unref();
  }

  get pid(): number | undefined {
    return this.launched.process.pid;
  }

  #onMessage = (message: ReadyMessage): void => {
    if (message.t !== 'ready') return;
    this.launched.channel.off('message', this.#onMessage);
    if (!message.ok) {
      // The main module fails to import (no main guard, or a bug): a replacement
      // would fail the same way, so stop making them; the next start() still
      // gets this child, which reports the error as its exit, as in Python.
      this.failed = true;
      brokenKeys.add(this.key);
    }
  };

  get usable(): boolean {
    const child = this.launched.process;
    return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  }

  discard(): void {
    this.launched.fdChannel?.close();
    this.launched.process.kill('SIGKILL');
  }
}

const spares = new Map<string, Spare>();
const REPLACE_AFTER_MS = 30;
const brokenKeys = new Set<string>();

function keyOf(prepare: PrepareMessage): string {
  return JSON.stringify([prepare.daemon, prepare.main, prepare.startMethod, process.cwd(), process.execArgv]);
}

function startSpare(prepare: PrepareMessage, key: string): Spare {
  const spare = new Spare(prepare, key);
  spares.set(key, spare);
  return spare;
}

export function forkserverPopen(prepare: PrepareMessage, job: JobMessage, fds: readonly number[]): Popen {
  const key = keyOf(prepare);
  let spare = spares.get(key);
  spares.delete(key);
  if (spare !== undefined && !spare.usable) spare = undefined;
  spare ??= new Spare(prepare, key);
  try {
    handOver(spare.launched, null, job, fds);
  } catch (err) {
    spare.discard();
    throw err;
  }
  const popen = new ChildPopen(spare.launched, prepare.daemon);
  if (!brokenKeys.has(key) && !spare.failed) {
    // The replacement is started when this child ends, or after a short while
    // if it runs longer: forking it at once would compete with the new child
    // for the CPU and delay the parent's handling of a quick child's exit.
    const replace = (): void => {
      clearTimeout(timer);
      if (!spares.has(key) && !brokenKeys.has(key)) startSpare(prepare, key);
    };
    const timer = setTimeout(replace, REPLACE_AFTER_MS).unref();
    void popen.exited.then(replace);
  }
  return popen;
}

/** Kills every idle spare: called when the parent exits. */
export function discardSpares(): void {
  for (const spare of spares.values()) spare.discard();
  spares.clear();
}
