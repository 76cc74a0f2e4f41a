import { readFileSync } from 'node:fs';
import { BrokenProcessPool } from '../errors.js';
import { lifecycle } from '../log.js';
import { native } from '../native.js';
import { CREATOR_FILE, Process, type ProcessOptions } from '../process.js';
import { SharedRegion } from '../shared/region.js';
import { PoolPort, portPair } from './port.js';
import { DEFINE, FAILED, OK, READY, RECEIVED, RESULT, TASK, type FromWorker, type WorkerSetup } from './protocol.js';
import type { ErrorDescription } from './remote-error.js';
import type { BackendHost, BackendStats, PoolBackend, Task } from './task.js';

export interface LocalBackendOptions {
  processes: number;
  workerClass: typeof Process;
  setup: WorkerSetup;
  maxTasksPerChild: number | null;
  maxMemoryMb: number | null;
  creatorFile: string | null;
}

interface WorkerSlot {
  readonly process: Process;
  readonly port: PoolPort;
  /**
   * Written by the worker as it receives tasks (the last one's id + 1): whether a task it died with had
   * reached it. Shared memory with the addon; without it, a copy kept from its RECEIVED messages.
   */
  readonly received: Int32Array;
  readonly label: string;
  ready: boolean;
  /** Dispatched, not yet answered, in order: the first is the one running. */
  readonly inflight: Task[];
  readonly defined: Set<number>;
  dispatched: number;
  retiring: boolean;
  /** Its successor has been started already. */
  replaced: boolean;
  exited: boolean;
}

// The in-flight depth per worker adapts to task length: deep for tiny tasks
// (the pipe stays full and messages batch), one for long ones (no task waits
// behind another while a worker is idle), but two in a pool of one process:
// there no other worker could take the task lined up, and it is there when
// the one before ends, not a round trip through the pool later. (A `multiproc
// worker` of one process is such a pool: its second held job waited for the
// first's answer to pass through it; the bench's CPU-bound map through two
// of them went from a median 1.38x serial to 1.52x at load 4-5, the idle gap
// between tasks in a process from 3.4 to 2.2 ms.)
const PIPELINE_US = 400;
const PER_MESSAGE_US = 4;
const MAX_WINDOW = 128;
const SHORT_TASK_US = 2000;
const MAX_START_FAILURES = 3;
const OTHERS_AFTER_MS = 10;

function residentMiB(pid: number): number {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]);
    return (pages * 4096) / (1024 * 1024);
  } catch {
    return 0;
  }
}

/**
 * The Pool's first back end: warm worker processes on this machine, each
 * over its own socket pair. A worker that dies fails the task it was running
 * with BrokenProcessPool, its other tasks go to the other workers, and it is
 * replaced.
 */
export class LocalBackend implements PoolBackend {
  readonly processes: number;
  readonly #host: BackendHost;
  readonly #options: LocalBackendOptions;
  readonly #workers = new Set<WorkerSlot>();
  #queue: Task[] = [];
  #queueHead = 0;
  #closed = false;
  #stopped = false;
  #window: number;
  /** The least depth: two with one process (see PIPELINE_US). */
  readonly #minWindow: number;
  #runEstimateUs = -1;
  #startFailures = 0;
  #startOthers: NodeJS.Timeout | null = null;
  readonly #idleWaiters = new Set<() => void>();

  constructor(host: BackendHost, options: LocalBackendOptions) {
    this.#host = host;
    this.#options = options;
    this.processes = options.processes;
    this.#minWindow = options.processes === 1 ? 2 : 1;
    this.#window = this.#minWindow;
    // The first worker starts now (a warm forkserver spare usually takes it,
    // in a millisecond), and any error surfaces here, as in Python. The others
    // start once it is ready, or 10 ms later: launching a node is a few
    // milliseconds of synchronous work here that would delay the first result.
    this.#startWorker();
    if (options.processes > 1) this.#startOthers = setTimeout(() => this.#startRemaining(), OTHERS_AFTER_MS);
  }

  get aheadLimit(): number {
    return Math.max(8, 2 * this.processes * this.#window);
  }

  #startRemaining(): void {
    if (this.#startOthers === null) return;
    clearTimeout(this.#startOthers);
    this.#startOthers = null;
    if (this.#stopped) return;
    while (this.#workers.size < this.processes && this.#startOrBreak('a worker of the pool'));
  }

  /** Starts a worker, or breaks the pool when it cannot (`what` names it in the error); whether it started. */
  #startOrBreak(what: string): boolean {
    try {
      this.#startWorker();
      return true;
    } catch (error) {
      this.#host.broken(new BrokenProcessPool(`${what} could not be started: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      return false;
    }
  }

  submit(tasks: Task[]): void {
    for (const task of tasks) this.#queue.push(task);
    this.#dispatch();
  }

  cancel(task: Task): void {
    // Queued: it is skipped at dispatch. Running, or lined up in a worker: that worker goes.
    const slot = task.holder as WorkerSlot | null;
    if (slot !== null) this.#kill(slot);
  }

  #dispatch(): void {
    // A worker is topped up once half its line is done, not at every result:
    // fewer, fuller writes (each one wakes the worker up).
    const refill = this.#window >> 1;
    let topping: WorkerSlot | null = null;
    while (this.#queueHead < this.#queue.length) {
      let best: WorkerSlot | null = null;
      let anyReady = false;
      for (const slot of this.#workers) {
        if (slot.ready) anyReady = true;
        if (!slot.ready || slot.retiring || slot.exited || slot.inflight.length >= this.#window) continue;
        if (slot.inflight.length > refill && slot !== topping) continue;
        if (best === null || slot.inflight.length < best.inflight.length) best = slot;
      }
      topping = best;
      // While no worker is ready yet (a new pool), the first one started takes
      // the first task: it is usually a warm spare, ready in a millisecond, and
      // the task is then already there, one round trip sooner.
      if (best === null && !anyReady) {
        const first = this.#workers.values().next().value as WorkerSlot | undefined;
        if (first !== undefined && !first.retiring && !first.exited && first.inflight.length === 0) best = first;
      }
      if (best === null) break;
      const task = this.#queue[this.#queueHead++]!;
      if (this.#host.take(task)) this.#send(best, task);
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
      if (this.#closed) this.#releaseIdleWorkers();
    }
  }

  /** After close(), once nothing is queued: each worker with nothing left to do is told to finish. */
  #releaseIdleWorkers(): void {
    for (const slot of this.#workers) if (slot.inflight.length === 0 && !slot.retiring) this.#retire(slot);
  }

  #send(slot: WorkerSlot, task: Task): void {
    try {
      if (!slot.defined.has(task.fn.id)) {
        slot.port.send(task.fn.module === undefined ? [DEFINE, task.fn.id, task.fn.ref] : [DEFINE, task.fn.id, task.fn.ref, task.fn.module], 'a task function');
        slot.defined.add(task.fn.id);
      }
      const message = task.kwargs === null ? [TASK, task.id, task.fn.id, task.kind, task.data] : [TASK, task.id, task.fn.id, task.kind, task.data, task.kwargs[0]];
      slot.port.send(message, `the arguments of a task for ${task.fn.ref.name}`);
    } catch (error) {
      // This task cannot travel; the pool and the other tasks carry on.
      this.#host.failed(task, error);
      return;
    }
    this.#host.dispatched(task, slot);
    slot.inflight.push(task);
    slot.dispatched++;
    if (slot.inflight.length === 1) this.#host.running(task);
    if (this.#options.maxTasksPerChild !== null && slot.dispatched >= this.#options.maxTasksPerChild) slot.retiring = true;
  }

  #kill(slot: WorkerSlot): void {
    if (slot.exited) return;
    slot.retiring = true;
    try {
      slot.process.kill();
    } catch {
      // already gone
    }
  }

  #startWorker(): void {
    const pair = portPair();
    // With the addon the word is shared memory, which the worker writes; without it, the worker says it over the port.
    let region: SharedRegion | null = null;
    let process: Process;
    try {
      if (native() !== null) region = SharedRegion.create(4);
      const options = { args: [pair.child, this.#options.setup, region], daemon: true, [CREATOR_FILE]: this.#options.creatorFile } as unknown as ProcessOptions;
      process = new this.#options.workerClass(options);
      process.start();
    } catch (error) {
      pair.parent.destroy();
      throw error;
    } finally {
      // The child has its own copy now (or is being sent it); ours would hide the child's death from the parent's end.
      pair.releaseChild();
      region?.close();
    }
    const label = `${process.name}, pid ${process.pid}`;
    let portClosed!: () => void;
    const closed = new Promise<void>((resolve) => (portClosed = resolve));
    const slot: WorkerSlot = {
      process,
      label,
      port: new PoolPort(pair.parent, (message) => this.#onMessage(slot, message as FromWorker), portClosed),
      received: region?.int32() ?? new Int32Array(1),
      ready: false,
      inflight: [],
      defined: new Set(),
      dispatched: 0,
      retiring: false,
      replaced: false,
      exited: false,
    };
    slot.port.unref();
    this.#workers.add(slot);
    lifecycle('debug', 'added worker %s', label);
    // Without the addon, a RECEIVED message may still be on its way when the exit is known: the worker's end closes at its
    // death (nothing else holds it), so once the port has closed, everything the worker wrote has been read.
    const ended = region === null ? Promise.all([process.sentinel, closed]).then(([code]) => code) : process.sentinel;
    void ended.then((code) => this.#onExit(slot, code));
  }

  #onMessage(slot: WorkerSlot, message: FromWorker): void {
    if (message[0] === READY) {
      if (message[1] !== null) {
        this.#host.initializerFailed(slot.label, message[1]);
        return;
      }
      slot.ready = true;
      this.#startFailures = 0;
      this.#startRemaining();
      this.#dispatch();
      return;
    }
    if (message[0] === RECEIVED) {
      slot.received[0] = (message[1] + 1) | 0;
      return;
    }
    if (message[0] !== RESULT) return;
    const [, taskId, status, value, micros] = message;
    const task = slot.inflight.shift();
    if (task === undefined || task.id !== taskId) return;
    const perItem = micros / task.items;
    this.#runEstimateUs = this.#runEstimateUs < 0 ? perItem : this.#runEstimateUs * 0.8 + perItem * 0.2;
    const taskUs = this.#runEstimateUs * task.items + PER_MESSAGE_US;
    // Short tasks: at least two in line, so the next one travels while this one runs.
    this.#window = Math.max(taskUs < SHORT_TASK_US ? 2 : this.#minWindow, Math.min(MAX_WINDOW, Math.floor(PIPELINE_US / taskUs)));
    const next = slot.inflight[0];
    if (next !== undefined) this.#host.running(next);
    if (status === OK) this.#host.answered(task, { status: 'ok', value }, micros);
    else if (status === FAILED) this.#host.answered(task, { status: 'failed', error: value as ErrorDescription }, micros);
    else {
      const { value: repr, reason } = value as { value: string; reason: string };
      this.#host.answered(task, { status: 'unsendable', repr, reason }, micros);
    }
    if (this.#options.maxMemoryMb !== null && !slot.retiring && residentMiB(slot.process.pid!) > this.#options.maxMemoryMb) slot.retiring = true;
    if (slot.retiring && slot.inflight.length === 0) this.#retire(slot);
    this.#dispatch();
  }

  /** A worker that served its share goes (it exits once its channel ends) and another takes its place. */
  #retire(slot: WorkerSlot): void {
    slot.retiring = true;
    slot.port.end();
    // Its successor starts now rather than when it has exited: no gap in service.
    if (!this.#closed && !slot.replaced) {
      slot.replaced = true;
      this.#startOrBreak('a replacement worker');
    }
  }

  #onExit(slot: WorkerSlot, code: number): void {
    slot.exited = true;
    lifecycle('debug', 'cleaning up worker %s (%s)', slot.label, BrokenProcessPool.describeExit(code));
    if (!slot.retiring && !this.#stopped) this.#host.workerLost(slot.label, code);
    this.#workers.delete(slot);
    slot.port.destroy();
    const lost = slot.inflight.splice(0);
    // Only a task the worker had taken fails: one sent to a worker already dead
    // (killed while idle, say) never began, and goes to another worker.
    const running = lost[0];
    if (running !== undefined && !running.done && Atomics.load(slot.received, 0) - ((running.id + 1) | 0) >= 0) {
      lost.shift();
      this.#host.failed(running, BrokenProcessPool.workerDied(slot.label, code, running.fn.ref.name));
    }
    // The tasks lined up behind it never started: they go back to the front of the queue.
    const unstarted = lost.filter((task) => !task.done);
    for (const task of unstarted) this.#host.returned(task);
    if (unstarted.length > 0) {
      this.#queue = [...unstarted, ...this.#queue.slice(this.#queueHead)];
      this.#queueHead = 0;
    }
    if (!slot.ready && !slot.retiring && !this.#stopped) {
      if (++this.#startFailures >= MAX_START_FAILURES) {
        this.#host.broken(
          new BrokenProcessPool(
            `${MAX_START_FAILURES} workers in a row exited before they could serve (the last: ${slot.label}, ${BrokenProcessPool.describeExit(code)}); ` +
              'see their output above. The pool is broken: create a new one after fixing the cause.',
          ),
        );
      }
    }
    if (this.#stopped) {
      this.#notifyIdle();
      return;
    }
    const pending = this.#queueHead < this.#queue.length || [...this.#workers].some((w) => w.inflight.length > 0);
    if (!slot.replaced && (!this.#closed || pending)) this.#startOrBreak('a replacement worker');
    this.#dispatch();
    this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#workers.size > 0) return;
    for (const wake of this.#idleWaiters) wake();
    this.#idleWaiters.clear();
  }

  /** Takes every task it holds, unfinished, out of the queue and the workers' lines. */
  #takeAll(): Task[] {
    const held = this.#queue.slice(this.#queueHead);
    this.#queue = [];
    this.#queueHead = 0;
    for (const slot of this.#workers) held.push(...slot.inflight.splice(0));
    return held.filter((task) => !task.done);
  }

  #stop(): void {
    this.#stopped = true;
    this.#closed = true;
    if (this.#startOthers !== null) clearTimeout(this.#startOthers);
    this.#startOthers = null;
  }

  close(): void {
    this.#closed = true;
    this.#dispatch();
  }

  terminate(): Task[] {
    this.#stop();
    const held = this.#takeAll();
    for (const slot of this.#workers) {
      slot.retiring = true;
      slot.port.destroy();
      try {
        slot.process.terminate();
      } catch {
        // already gone
      }
    }
    return held;
  }

  abandon(): Task[] {
    this.#stop();
    const held = this.#takeAll();
    for (const slot of this.#workers) this.#kill(slot);
    return held;
  }

  async join(): Promise<void> {
    while (this.#workers.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
  }

  stats(): BackendStats {
    let busy = 0;
    let queued = 0;
    for (let i = this.#queueHead; i < this.#queue.length; i++) if (!this.#queue[i]!.done) queued++;
    for (const slot of this.#workers) {
      if (slot.inflight.length > 0) busy++;
      queued += Math.max(0, slot.inflight.length - 1);
    }
    return { workers: this.#workers.size, busyWorkers: busy, tasksQueued: queued, tasksRunning: busy };
  }

  get pids(): number[] {
    return [...this.#workers].filter((slot) => !slot.exited).map((slot) => slot.process.pid!);
  }
}
