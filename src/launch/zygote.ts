import { closeSync, readSync } from 'node:fs';
import Module from 'node:module';
import { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { FORK_REFUSED_THREADS } from '../child/quiesce.js';
import { getLogger } from '../log.js';
import { native, zygoteNative } from '../native.js';
import { ControlChannel } from './channel.js';
import { FdChannel, launchNode, type LaunchedChild } from './command.js';
import { SignalledPopen, zombieExitCode, type Popen } from './popen.js';
import { HAS_PROC, procDoomed, procStat } from '../procfs.js';
import type { FromChild, JobMessage, PrepareMessage, ToChild } from './protocol.js';
import { handOver } from './spawn.js';

/**
 * The forking forkserver: one warm node per kind of child (main module,
 * daemon flag, flags), the zygote, started on first use with V8's
 * `--single-threaded` (its helper threads would be missing in a forked child:
 * measured, 1-3% of children hang or crash without it). It loads the library,
 * the parent's `--import` hooks and the main module once, then forks one child
 * per `start()`, which receives its job over its own channels as any child
 * does. The zygote reaps its children and reports their exit codes here.
 *
 * Fork is enabled where the torture test passes (test/zygote-torture.test.ts):
 * Linux, Node 24 and later, and Node 22 from 22.15 on. On Node 20, V8 still
 * posts work to its dead helper threads (full GCs, WebAssembly) and forked
 * children hang. Node 22 before 22.15 has no in-thread module hooks: a loader
 * such as tsx would run on a thread of the zygote that its children lack.
 */
function forkTested(): boolean {
  const major = Number(process.versions.node.split('.')[0]);
  const inThreadHooks = typeof (Module as unknown as { registerHooks?: unknown }).registerHooks === 'function';
  return major >= 24 || (major === 22 && inThreadHooks);
}

export function forkAvailable(): boolean {
  // For measuring and testing: MULTIPROC_FORK=0 keeps warm spares, =1 forks on any Node version.
  const forced = process.env.MULTIPROC_FORK;
  return (forced === undefined ? forkTested() : forced === '1') && zygoteNative() !== null;
}

/**
 * Flags a zygote needs beyond the parent's own. `--use-largepages` copies
 * node's own machine code (~40 MB) to anonymous huge pages: fork() then hands
 * it to each child as a few page-table entries, where a file mapping is not
 * copied at all and every child faulted in the code it ran again, 16 pages a
 * fault (measured on Node 24: page faults per child 600 -> 455, the children's
 * CPU 15% less in a burst of 8). Where the kernel has no transparent huge
 * pages, `silent` leaves the code where it is, without a warning.
 */
const ZYGOTE_FLAGS = ['--single-threaded', '--use-largepages=silent'];

const PID_BYTES = 4;

class Zygote {
  readonly #launched: LaunchedChild;
  readonly #key: string;
  readonly #daemon: boolean;
  readonly #children = new Map<number, ZygotePopen>();
  /** Pipelined requests whose answer (the pid) is not read yet, oldest first. */
  readonly #awaitingPid: ZygotePopen[] = [];
  /** Whether the zygote has forked a child: it boots and decides whether it can fork before its first answer. */
  #answered = false;
  #refs = 0;
  #gone = false;
  /** A child forked ahead of its job, which the next start() takes (see #scheduleAhead). */
  #ahead: ForkedChild | null = null;
  #aheadScheduled = false;
  /** Children given a job that have not ended. */
  readonly #running = new Set<ZygotePopen>();

  constructor(prepare: PrepareMessage, key: string) {
    this.#key = key;
    this.#daemon = prepare.daemon;
    // A zygote always dies with its parent (daemonic children die with it; the others carry on, reparented).
    this.#launched = launchNode(true, 'forkserver', ZYGOTE_FLAGS);
    this.#launched.channel.on('message', (message) => this.#onMessage(message));
    this.#launched.process.once('exit', () => this.#onGone());
    // Its channel closes first: the process's own handle is unreferenced, and
    // a parent whose children died with their zygote must not drain its loop
    // before it learns so (its joins would never settle).
    this.#launched.channel.once('close', () => this.#onGone());
    this.#launched.channel.send({ ...prepare, zygote: true });
    this.#launched.process.unref();
    this.#launched.channel.unref();
  }

  get alive(): boolean {
    const child = this.#launched.process;
    return !this.#gone && child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  }

  /**
   * Forks a child and hands it its job. The first request to a zygote waits
   * for its answer (while it boots; and a zygote that refuses to fork sends
   * this kind of child to warm spares). Later requests are pipelined, as the
   * zygote forks every request it has received in one turn: `start()` returns
   * at once and the pid is read when first asked for (reading the answers in
   * order). A burst of starts then costs one round trip, not one each: each
   * is a wake-up of the zygote and of the parent, competing for the CPU with
   * the children already running (measured on a busy host, a loop of 8
   * starts took most of the burst; pipelined, a few ms).
   * Returns null if the zygote is gone (the caller starts a new one).
   */
  fork(job: JobMessage, fds: readonly number[]): ZygotePopen | null {
    const forked = this.#takeAhead() ?? this.#request(false);
    if (forked === null) return null;
    const popen = forked.popen;
    popen.assign();
    this.#running.add(popen);
    void popen.exited.then(() => {
      this.#running.delete(popen);
      this.#scheduleAhead();
    });
    // Its channel closes as it exits: a zombie until the zygote reaps it, it
    // says how it ended, before the zygote's report (which waits for the
    // zygote's next turn: 5-15 ms when it is forking).
    forked.child.channel.once('close', () => popen.channelClosed());
    try {
      handOver(forked.child, null, job, fds);
    } catch (err) {
      popen.kill();
      throw err;
    }
    this.#scheduleAhead();
    return popen;
  }

  /**
   * Asks the zygote for a child, without a job yet: its two channels, and its
   * Popen (whose pid is read when first needed, unless this is the first
   * request, which waits for the zygote to boot and say whether it can fork).
   * Null where the zygote is gone or cannot fork this kind of child.
   */
  #request(idle: boolean): ForkedChild | null {
    const addon = native()!;
    const fdChannel = this.#launched.fdChannel!;
    const control = addon.socketpair();
    const passing = addon.socketpair();
    let sent = false;
    try {
      fdChannel.pass([control[1], passing[1]]);
      this.#launched.channel.send({ t: 'fork' });
      sent = true;
    } catch {
      // the zygote is gone: no request went out
    } finally {
      closeSync(control[1]);
      closeSync(passing[1]);
    }
    const first = !this.#answered;
    const pid = !sent ? 0 : first ? this.#readAnswer() : null;
    if (pid !== null && pid <= 0) {
      closeSync(control[0]);
      closeSync(passing[0]);
      if (pid === FORK_REFUSED_THREADS) {
        // Its children would lack a thread it runs: this kind of child starts from warm spares from now on.
        getLogger().debug('forkserver: a worker thread runs in the zygote (a loader or the main module started it); starting spares instead of forking');
        unforkable.add(this.#key);
        this.discard();
        return null;
      }
      if (pid < 0) throw new Error(`multiproc: the forkserver could not fork (errno ${-pid})`);
      this.discard();
      return null;
    }
    this.#answered = true;
    const child = {
      channel: new ControlChannel<FromChild, ToChild>(new Socket({ fd: control[0], readable: true, writable: true })),
      fdChannel: new FdChannel(passing[0]),
    };
    child.channel.unref();
    const popen = new ZygotePopen(this.#daemon, this, idle);
    if (pid === null) this.#awaitingPid.push(popen);
    else this.#forked(popen, pid);
    return { child, popen };
  }

  /**
   * A forked child spends 15-25 ms (Node 24, ~390 page faults) before it can
   * read a job: dropping the zygote's channels, taking its own, its first
   * allocations. Forking the next child once a start() has been served moves
   * that out of the next start(), as Python's forkserver cannot: a start after
   * a pause, or a Manager(), then finds its child waiting. Only while fewer
   * children run than there are CPUs: in a burst, the child forked ahead
   * would take a CPU from the burst's own; it is forked as they end. It costs
   * one idle process, which never keeps the parent alive and goes when the
   * parent does.
   */
  #scheduleAhead(): void {
    if (this.#aheadScheduled || this.#ahead !== null || this.#running.size >= availableParallelism()) return;
    this.#aheadScheduled = true;
    setImmediate(() => {
      this.#aheadScheduled = false;
      if (this.#ahead === null && this.alive && !unforkable.has(this.#key) && this.#running.size < availableParallelism()) this.#ahead = this.#request(true);
    }).unref();
  }

  /** The child forked ahead, unless it has ended or is about to (a fatal signal pending). */
  #takeAhead(): ForkedChild | null {
    const ahead = this.#ahead;
    this.#ahead = null;
    if (ahead === null) return null;
    // A pid not read yet: the request is pipelined like any other, and its answer read when needed.
    if (!ahead.popen.known || ahead.popen.usable) return ahead;
    dropChild(ahead);
    return null;
  }

  /** Drops the child forked ahead; with `ended`, only if that is the one that ended (it is not replaced until the next start()). */
  #dropAhead(ended?: ZygotePopen): void {
    if (this.#ahead === null || (ended !== undefined && this.#ahead.popen !== ended)) return;
    dropChild(this.#ahead);
    this.#ahead = null;
  }

  /** Reads the zygote's answers, in the order of the requests, until `popen` has its pid (all of them without one). */
  readPids(popen?: ZygotePopen): void {
    while (this.#awaitingPid.length > 0) {
      const next = this.#awaitingPid.shift()!;
      const pid = this.#readAnswer();
      if (pid > 0) this.#forked(next, pid);
      else next.notForked(pid);
      if (next === popen) return;
    }
  }

  #forked(popen: ZygotePopen, pid: number): void {
    popen.forked(pid);
    this.#children.set(pid, popen);
  }

  /** The pid, or -errno; 0 if the zygote is gone. */
  #readAnswer(): number {
    try {
      return readPid(this.#launched.fdChannel!.fd);
    } catch {
      return 0;
    }
  }

  /** While a child is referenced, the zygote's channel keeps the parent alive: its exit is reported there. */
  hold(delta: number): void {
    this.#refs += delta;
    if (this.#refs > 0) this.#launched.channel.ref();
    else this.#launched.channel.unref();
  }

  discard(): void {
    this.#launched.fdChannel?.close();
    this.#launched.process.kill('SIGKILL');
    this.#onGone();
  }

  #onMessage(message: FromChild): void {
    if (message.t !== 'exit') return;
    // Its pid was written before the child could end.
    this.readPids();
    const popen = this.#children.get(message.pid);
    this.#children.delete(message.pid);
    if (popen === undefined) return;
    popen.ended(message.code);
    this.#dropAhead(popen);
  }

  /** The zygote died (killed, or discarded): its children's exits can no longer be reported; watch them end instead. */
  #onGone(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#dropAhead();
    // What it answered before it went still counts (the rest were never forked); a socket whose peer is gone reads to its end.
    this.readPids();
    this.#launched.fdChannel?.close();
    if (zygotes.get(this.#key) === this) zygotes.delete(this.#key);
    for (const popen of this.#children.values()) popen.orphaned();
    this.#children.clear();
  }
}

/** A forked child and the two channels its parent holds to it. */
interface ForkedChild {
  child: Pick<LaunchedChild, 'channel' | 'fdChannel'>;
  popen: ZygotePopen;
}

/**
 * Ends a child forked ahead that no start() will take: closing its channel
 * ends it (a child without a job leaves when its parent's end closes), and
 * so does SIGKILL where its pid is known, at once.
 */
function dropChild(forked: ForkedChild): void {
  forked.child.channel.abandon();
  forked.child.fdChannel?.close();
  forked.popen.discardIdle();
}

/** Reads the zygote's answer to a fork request: the pid, or -errno; 0 if the zygote is gone. */
function readPid(fd: number): number {
  const answer = Buffer.alloc(PID_BYTES);
  let got = 0;
  while (got < PID_BYTES) {
    const n = readSync(fd, answer, got, PID_BYTES - got, null);
    if (n === 0) return 0;
    got += n;
  }
  return answer.readInt32LE(0);
}

/** How often an orphaned child (its zygote gone) is checked for its end. */
const ORPHAN_POLL_MS = 50;
/** The exit code of a child whose status was lost with its zygote, as Python's forkserver reports it. */
const LOST_STATUS = 255;

/** A forked child: a child of the zygote, whose exit the zygote reports. */
export class ZygotePopen extends SignalledPopen {
  readonly exited: Promise<number>;
  #pid: number | null = null;
  #code: number | null = null;
  #holding = false;
  /** Forked ahead, with no job yet: nobody's Process, so it holds nothing and is never reported. */
  #idle: boolean;
  readonly #daemon: boolean;
  readonly #zygote: Zygote;
  #resolve: (code: number) => void = () => {};
  #orphanTimer: NodeJS.Timeout | undefined;

  constructor(daemon: boolean, zygote: Zygote, idle: boolean) {
    super();
    this.#idle = idle;
    this.#daemon = daemon;
    this.#zygote = zygote;
    this.exited = new Promise((resolve) => (this.#resolve = resolve));
    this.applyRef();
  }

  /** Read from the zygote's answer when first asked for (0 for a child that was never forked: it has ended, and is never signalled). */
  get pid(): number {
    if (this.#pid === null) this.#zygote.readPids(this);
    return this.#pid ?? 0;
  }

  forked(pid: number): void {
    this.#pid = pid;
  }

  /** Whether the zygote's answer (the pid) has been read. */
  get known(): boolean {
    return this.#pid !== null;
  }

  /** A child forked ahead that can take a job: alive, and no fatal signal pending (see spares.ts). */
  get usable(): boolean {
    return this.poll() === null && !(HAS_PROC && procDoomed(this.pid));
  }

  /** Given a job: from now on it is a started Process's child. */
  assign(): void {
    this.#idle = false;
    this.applyRef();
  }

  /** A child forked ahead that will not be used: killed if its pid is known (its closed channel ends it anyway). */
  discardIdle(): void {
    if (this.known) super.kill();
  }

  /**
   * Its channel closed: it is exiting. Its descriptors close a moment before
   * it becomes a zombie, so a few more looks follow; the zygote's report
   * settles it in any case.
   */
  channelClosed(looks = 5): void {
    if (this.poll() !== null || looks <= 1) return;
    setTimeout(() => this.channelClosed(looks - 1), 1).unref();
  }

  /** A pipelined request the zygote could not serve: the child never existed. */
  notForked(answer: number): void {
    this.#pid = 0;
    if (this.#idle) return this.ended(LOST_STATUS);
    const why = answer === 0 ? 'the forkserver ended' : answer === FORK_REFUSED_THREADS ? 'a worker thread runs in the forkserver' : `errno ${-answer}`;
    process.emitWarning(`multiproc: the forkserver could not fork a started process (${why}); it reports exit code ${LOST_STATUS}`);
    this.ended(LOST_STATUS);
  }

  override terminate(): void {
    void this.pid; // a child not forked has ended: never signal pid 0
    super.terminate();
  }

  override kill(): void {
    void this.pid;
    super.kill();
  }

  poll(): number | null {
    // A zombie not yet reaped by the zygote already has its code. Never
    // blocks: a child whose pid is not read yet is not known to have ended.
    if (this.#code === null && this.#pid !== null && this.#pid > 0) {
      const code = zombieExitCode(this.pid);
      if (code !== null) this.ended(code);
    }
    return this.#code;
  }

  ended(code: number): void {
    clearInterval(this.#orphanTimer);
    if (this.#code === null) this.#code = code;
    this.#resolve(this.#code);
    this.applyRef();
  }

  orphaned(): void {
    if (this.#code !== null) return;
    this.#orphanTimer = setInterval(() => {
      // Its new parent (init, or a subreaper) may take its time to reap it:
      // a zombie has ended, and still says how.
      const code = zombieExitCode(this.pid);
      if (code !== null) return this.ended(code);
      const state = procStat(this.pid)?.[0];
      if (state === undefined || state === 'X') this.ended(LOST_STATUS);
    }, ORPHAN_POLL_MS);
    this.applyRef();
  }

  /** As ChildPopen: a non-daemonic child keeps its parent alive until it ends; a daemonic one only while joined. */
  protected applyRef(): void {
    const hold = !this.#idle && this.#code === null && (!this.#daemon || this.refs > 0);
    if (this.#orphanTimer !== undefined) {
      if (hold) this.#orphanTimer.ref();
      else this.#orphanTimer.unref();
    }
    if (hold === this.#holding) return;
    this.#holding = hold;
    this.#zygote.hold(hold ? 1 : -1);
  }
}

const zygotes = new Map<string, Zygote>();
/** Kinds of children whose zygote refused to fork (a worker thread ran in it). */
const unforkable = new Set<string>();

function keyOf(prepare: PrepareMessage): string {
  return JSON.stringify([prepare.daemon, prepare.main, prepare.startMethod, process.cwd(), process.execArgv]);
}

/** A forked child with its job, or null where the zygote could not serve (the caller falls back to a spare). */
export function zygotePopen(prepare: PrepareMessage, job: JobMessage, fds: readonly number[]): Popen | null {
  const key = keyOf(prepare);
  if (unforkable.has(key)) return null;
  // A zygote that died (killed, say) is replaced once; one that dies again at once is not retried in a loop.
  for (let attempt = 0; attempt < 2 && !unforkable.has(key); attempt++) {
    let zygote = zygotes.get(key);
    if (zygote === undefined || !zygote.alive) zygotes.set(key, (zygote = new Zygote(prepare, key)));
    const popen = zygote.fork(job, fds);
    if (popen !== null) return popen;
  }
  return null;
}

/** Kills every zygote: called when the parent exits (their non-daemonic children carry on). */
export function discardZygotes(): void {
  for (const zygote of [...zygotes.values()]) zygote.discard();
  zygotes.clear();
}
