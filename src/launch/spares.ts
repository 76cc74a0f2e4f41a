import { availableParallelism } from 'node:os';
import { getLogger } from '../log.js';
import { HAS_PROC, procDoomed, procEnded } from '../procfs.js';
import { launchNode, type LaunchedChild } from './command.js';
import { ChildPopen, type Popen } from './popen.js';
import { handOver } from './spawn.js';
import type { FromChild, JobMessage, PrepareMessage } from './protocol.js';

/**
 * Warm spares, the forkserver start method where a node cannot be forked:
 * node processes that have already started, loaded the library and imported
 * the main module, and wait for their job. `start()` hands the job to a spare
 * at once. Spares are kept per kind (daemonic or not, same main module), since
 * a daemonic child is launched so that it dies with its parent.
 *
 * How many: the most starts the program made lately within the time a spare
 * takes to boot (a loop of `start()` calls, or starts back to back faster
 * than one spare can replace the last), up to the CPU count, so that the
 * next such burst starts warm; one less after each quiet spell, down to
 * one, so that a program that once started eight processes does not keep
 * eight idle nodes for ever. Missing spares boot together, not one after the
 * other: a program that starts processes back to back consumes spares as fast
 * as they boot, and two cores boot two at once.
 */
class Spare {
  readonly launched: LaunchedChild;
  readonly key: string;
  /** Set when the spare reported that importing the main module failed. */
  failed = false;
  /** Set once the spare has loaded the library and the main module. */
  ready = false;

  /** When it was launched, to learn how long a spare takes to boot. */
  readonly #launchedAt = performance.now();

  constructor(prepare: PrepareMessage, key: string) {
    this.key = key;
    this.launched = launchNode(prepare.daemon, 'spare');
    this.launched.channel.on('message', this.#onMessage);
    this.launched.process.once('exit', () => {
      this.launched.fdChannel?.close();
      pools.get(this.key)?.forget(this);
    });
    this.launched.channel.send(prepare);
    // An idle spare must never keep its parent alive.
    this.launched.process.unref();
    this.launched.channel.unref();
  }

  #onMessage = (message: FromChild): void => {
    if (message.t !== 'ready') return;
    this.launched.channel.off('message', this.#onMessage);
    this.ready = true;
    if (message.ok) pools.get(this.key)?.booted(performance.now() - this.#launchedAt);
    else {
      // The main module fails to import (no main guard, or a bug): a replacement
      // would fail the same way, so stop making them; the next start() still
      // gets this child, which reports the error as its exit, as in Python.
      this.failed = true;
      pools.get(this.key)?.markBroken();
    }
  };

  get usable(): boolean {
    const child = this.launched.process;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return false;
    // A spare killed while idle (by a signal meant for the process group, by
    // the OOM killer): /proc knows before this event loop hears of its exit,
    // and knows of a fatal signal still pending (a Ctrl-C that reached a spare
    // still booting, before it ignores SIGINT: it dies as soon as it runs).
    return !(HAS_PROC && (procEnded(child.pid) || procDoomed(child.pid)));
  }

  discard(): void {
    this.launched.fdChannel?.close();
    this.launched.process.kill('SIGKILL');
  }
}

/** Starts closer together than this belong to one burst: replacements boot once it is over. */
const BURST_GAP_MS = 30;
/** How long a spare takes to boot, until one has (Node 20 on a quiet two-core machine: 65-190 ms). */
const FIRST_BOOT_GUESS_MS = 150;
/** A quiet spell this long (no start) lowers the number of spares kept by one. */
const DECAY_AFTER_MS = 5000;

/** The spares of one kind, and the size of the bursts they serve. */
class SparePool {
  readonly #key: string;
  readonly #prepare: PrepareMessage;
  readonly #idle: Spare[] = [];
  #broken = false;
  /** How many spares to keep warm. */
  #target = 1;
  /** Starts in the current burst. */
  #burst = 0;
  /** When the recent starts happened, newest last: those within one boot time all needed a spare at once. */
  readonly #starts: number[] = [];
  /** How long the last spare took to boot. */
  #bootMs = FIRST_BOOT_GUESS_MS;
  #burstTimer: NodeJS.Timeout | undefined;
  #decayTimer: NodeJS.Timeout | undefined;

  constructor(key: string, prepare: PrepareMessage) {
    this.#key = key;
    this.#prepare = prepare;
  }

  /** A spare for this start: an idle one, or a new one that takes the job as soon as it has booted. */
  take(): Spare {
    this.#noteStart();
    let spare: Spare | undefined;
    while ((spare = this.#idle.shift()) !== undefined && !spare.usable);
    return spare ?? new Spare(this.#prepare, this.#key);
  }

  get broken(): boolean {
    return this.#broken;
  }

  markBroken(): void {
    this.#broken = true;
    this.discardAll();
  }

  forget(spare: Spare): void {
    const index = this.#idle.indexOf(spare);
    if (index >= 0) this.#idle.splice(index, 1);
  }

  /** A spare has booted: it took `ms`, the time the next start would wait for a new one. */
  booted(ms: number): void {
    this.#bootMs = ms;
    this.refill();
  }

  /**
   * Tops the pool up to its target, booting the missing spares together, no
   * more at once than there are CPUs (each boot keeps one busy). Called once a
   * burst is over, when a child of it exits and when a spare is ready: not
   * during a burst, when the program's own children want the CPUs.
   */
  refill(): void {
    if (this.#broken || this.#burst > 0) return;
    this.#restartDecay();
    const booting = this.#idle.filter((spare) => !spare.ready).length;
    const missing = Math.min(this.#target - this.#idle.length, availableParallelism() - booting);
    if (missing <= 0) return;
    getLogger().debug(`forkserver: booting ${missing} warm spare${missing > 1 ? 's' : ''} at once, to keep ${this.#target}`);
    for (let i = 0; i < missing; i++) this.#idle.push(new Spare(this.#prepare, this.#key));
  }

  discardAll(): void {
    for (const spare of this.#idle.splice(0)) spare.discard();
    clearTimeout(this.#burstTimer);
    clearTimeout(this.#decayTimer);
  }

  #noteStart(): void {
    this.#burst += 1;
    const now = performance.now();
    this.#starts.push(now);
    while (this.#starts[0]! < now - this.#bootMs) this.#starts.shift();
    this.#target = Math.max(this.#target, Math.min(Math.max(this.#burst, this.#starts.length), maxSpares()));
    clearTimeout(this.#burstTimer);
    this.#burstTimer = setTimeout(() => {
      this.#burst = 0;
      this.refill();
    }, BURST_GAP_MS).unref();
    this.#restartDecay();
  }

  /** The quiet spell is counted from the last start, exit or refill. */
  #restartDecay(): void {
    clearTimeout(this.#decayTimer);
    this.#decayTimer = setTimeout(() => this.#decay(), DECAY_AFTER_MS).unref();
  }

  #decay(): void {
    if (this.#target <= 1) return;
    // A spare still booting is not idle: on a loaded machine two spares that
    // boot together may take longer than the quiet spell, and the second was
    // discarded as it booted. The spell counts again from the last one ready.
    if (this.#idle.some((spare) => !spare.ready)) {
      this.#restartDecay();
      return;
    }
    this.#target -= 1;
    this.#idle.splice(this.#target).forEach((spare) => spare.discard());
    this.#decayTimer = setTimeout(() => this.#decay(), DECAY_AFTER_MS).unref();
  }
}

/** The cap: a burst of cpuCount() processes starts warm, and no more spares than that are kept. */
function maxSpares(): number {
  return Math.max(2, availableParallelism());
}

const pools = new Map<string, SparePool>();

function keyOf(prepare: PrepareMessage): string {
  return JSON.stringify([prepare.daemon, prepare.main, prepare.startMethod, process.cwd(), process.execArgv]);
}

export function sparePopen(prepare: PrepareMessage, job: JobMessage, fds: readonly number[]): Popen {
  const key = keyOf(prepare);
  let pool = pools.get(key);
  if (pool === undefined) pools.set(key, (pool = new SparePool(key, prepare)));
  const spare = pool.take();
  try {
    handOver(spare.launched, null, job, fds);
  } catch (err) {
    spare.discard();
    throw err;
  }
  const popen = new ChildPopen(spare.launched, prepare.daemon);
  // A child that ends within the burst frees a CPU: its replacement may boot now, once those
  // joining the child have run (booting a node blocks this thread for some milliseconds).
  void popen.exited.then(() => setImmediate(() => pool.refill()));
  return popen;
}

/** Kills every idle spare: called when the parent exits. */
export function discardSpares(): void {
  for (const pool of pools.values()) pool.discardAll();
  pools.clear();
}
