import { randomBytes } from 'node:crypto';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { current } from '../current.js';
import { BrokenProcessPool, ProcessError } from '../errors.js';
import type { ModuleRef } from '../targets.js';
import type { BackendHost, BackendStats, FunctionEntry, Holder, Outcome, PoolBackend, Task } from '../pool/task.js';
import { CONNECT_TIMEOUT_MS, holdsNoLoop, reachable, redactedUrl, redisConnection } from './connect.js';
import { cancelChannel, checkQueueName, decodeValue, encodeValue, FUNCTIONS_KEY, JOB_FORMAT, multiprocVersion, openAnswer, sealCancel, sealFunction, sealJob, type JobAnswer } from './job.js';

export interface RedisBackendOptions {
  url: string;
  queue: string;
  processes: number;
  /** The module that created the Pool: where workers find its task functions, relative to `root`. */
  creator: ModuleRef;
  root: string;
  authkey: string;
  /** Default CONNECT_TIMEOUT_MS. */
  connectTimeout: number | null;
}

/**
 * A module that makes a Pool on Redis when imported, unguarded, is imported
 * again by each worker's processes to find its task functions, and would add
 * its jobs again there, without end: refused there, as Process.start() is.
 */
const BOOTSTRAPPING_MESSAGE =
  'An attempt has been made to create a Pool on Redis while this process is importing a module to find a task function ' +
  '(a multiproc worker\'s process, or a child bootstrapping). The module that creates the Pool does so at import time, ' +
  'so every worker would queue its tasks again, without end. Create the Pool only from the entry point, guarded like this:\n\n' +
  '    if (isMainModule(import.meta)) main();      // CommonJS: if (require.main === module) main();\n\n' +
  'This is the same rule as Python\'s "bootstrapping phase" RuntimeError for starting processes.';

/** How often, while results are awaited, the back end reads their jobs from Redis in case an event was missed. */
const RECONCILE_MS = 2000;
/** Completed jobs stay this long for `multiproc status` and BullMQ's tools, then Redis drops them. */
const KEEP_COMPLETED_S = 600;
const KEEP_FAILED_S = 3600;
/** How long a close may wait for BullMQ to let go of its connections before they are cut. */
const CLOSE_WAIT_MS = 2000;
/** How long a pool with nothing out keeps reading events before it lets go (see #openEvents). */
const EVENTS_IDLE_MS = 1000;
interface JobToAdd {
  name: string;
  data: object;
  opts: { jobId: string; removeOnComplete: { age: number }; removeOnFail: { age: number } };
}

/** Payload bytes per addBulk: beyond this, the jobs of a turn go in several, each on its way while the next is encoded. */
const BATCH_BYTES = 256 * 1024;
/** Job ids per cancel message (a terminate() of a large map cancels them all). */
const CANCEL_BATCH = 500;

/**
 * The Pool's back end on BullMQ: each task (a chunk of a map) is one job of
 * a plain BullMQ queue, taken by `multiproc worker` processes anywhere.
 * Jobs have deterministic ids (pool id + task id), so a task is added once;
 * the first answer settles it and any later one (a redelivered chunk) is
 * dropped. Answers arrive as QueueEvents; what an event stream may lose
 * (it is capped, and a restarted Redis forgets its subscribers) is read back
 * from the job itself every few seconds.
 */
export class RedisBackend implements PoolBackend {
  readonly processes: number;
  readonly #host: BackendHost;
  readonly #options: RedisBackendOptions;
  /** 72 random bits, short: it is in every key of every job (Redis stores, writes to its log and sends each one). */
  readonly #poolId = randomBytes(9).toString('base64url');
  readonly #version = multiprocVersion();
  readonly #module: string;
  /** Each task function's digest, once its record is on its way to the queue's hash (see sealFunction). */
  readonly #digests = new Map<FunctionEntry, string>();
  readonly #client: Redis;
  readonly #queue: Queue;
  /** Made once Redis answers: BullMQ cannot close a QueueEvents that never connected, and it would retry for ever. */
  #events: QueueEvents | null = null;
  #eventsOpen: Promise<void> | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  #lastEventId: string | null = null;
  readonly #held = new Map<string, Task>();
  readonly #running = new Set<string>();
  readonly #ready: Promise<void>;
  /** Tasks taken, to be encoded and added as jobs by #flush. */
  #outgoing: { jobId: string; task: Task }[] = [];
  #flushing = false;
  #closed = false;
  #stopped = false;
  #reconciler: NodeJS.Timeout | null = null;
  #lastEvent = 0;
  readonly #idleWaiters = new Set<() => void>();
  readonly #where: Holder;

  constructor(host: BackendHost, options: RedisBackendOptions) {
    if (current.bootstrapping) throw new ProcessError(BOOTSTRAPPING_MESSAGE);
    this.#host = host;
    this.#options = options;
    this.processes = options.processes;
    checkQueueName(options.queue);
    this.#module = moduleUnderRoot(options.creator, options.root);
    this.#where = { label: `the queue "${options.queue}" at ${redactedUrl(options.url)}` };
    const onError = this.#onError;
    this.#client = redisConnection(options.url, onError);
    // A Redis restarted without persistence forgot the functions' records: they go again after each reconnect.
    this.#client.on('ready', () => this.#digests.clear());
    holdsNoLoop(this.#client);
    this.#queue = new Queue(options.queue, { connection: this.#client, skipWaitingForReady: true });
    this.#queue.on('error', onError);
    this.#ready = reachable(this.#client, options.url, options.connectTimeout ?? CONNECT_TIMEOUT_MS).then(
      () => this.#openEvents(),
      (error: Error) => {
        // A final connect error names its cause already; a timeout adds what the connection last said.
        const cause = (error.cause as Error | undefined) ?? this.#firstError ?? error;
        this.#host.broken(new BrokenProcessPool(`${error.message}${error.cause === undefined && cause !== error ? ` (${cause.message})` : ''}`, { cause }));
        throw error;
      },
    );
    this.#ready.catch(() => {});
  }

  #firstError: Error | null = null;
  readonly #onError = (error: Error): void => {
    this.#firstError ??= error;
  };

  /**
   * Answers come as events, read by a QueueEvents while tasks are out. It is
   * closed once the pool has been idle for a moment (its reads arm a timer
   * that would keep the program alive: a Pool that a program forgets to close
   * must not), and opened again before the next jobs are added.
   */
  #openEvents(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#eventsOpen ??= (async () => {
      // Read from a known point, never from BullMQ's default "$": that is the stream's end when its first
      // blocking read reaches Redis, which may come after the first jobs were taken (a copy of the connection
      // connects, names itself, then reads): their events were lost (a task never shown running).
      // Opened again, it reads on from the last event seen: nothing of the idle spell is missed.
      this.#lastEventId ??= await this.#streamEnd();
      const events = new QueueEvents(this.#options.queue, { connection: this.#client, autorun: true, lastEventId: this.#lastEventId });
      this.#events = events;
      const seen = (id: string): void => {
        this.#lastEventId = id;
      };
      events.on('error', this.#onError);
      events.on('active', ({ jobId }, id) => (seen(id), this.#onActive(jobId)));
      events.on('completed', ({ jobId, returnvalue }, id) => (seen(id), this.#onCompleted(jobId, returnvalue)));
      events.on('failed', ({ jobId, failedReason }, id) => (seen(id), this.#onFailed(jobId, failedReason)));
      void events.backend.client.then((client) => holdsNoLoop(client as unknown as Redis), () => {});
      await events.waitUntilReady();
    })();
    return this.#eventsOpen;
  }

  /** The id of the queue's last event now ("0-0" for none yet): events after it are this pool's or later. */
  async #streamEnd(): Promise<string> {
    const last = await this.#client.xrevrange(this.#queue.keys.events!, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  #closeEventsWhenIdle(): void {
    if (this.#idleTimer !== null || this.#events === null) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (this.#held.size > 0 || this.#outgoing.length > 0 || this.#flushing) return;
      void this.#closeEvents();
    }, EVENTS_IDLE_MS);
    this.#idleTimer.unref();
  }

  async #closeEvents(): Promise<void> {
    const events = this.#events;
    this.#events = null;
    this.#eventsOpen = null;
    if (events === null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([events.close().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  get aheadLimit(): number {
    return Math.max(8, 2 * this.processes);
  }

  submit(tasks: Task[]): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    for (const task of tasks) {
      if (!this.#host.take(task)) continue;
      const jobId = `${this.#poolId}-${task.id}`;
      this.#held.set(jobId, task);
      this.#host.dispatched(task, this.#where);
      this.#outgoing.push({ jobId, task });
    }
    void this.#flush();
    this.#watch();
  }

  /**
   * The tasks submitted by one synchronous run of the program (a map, a loop
   * of applyAsync) go to Redis in one addBulk (one round trip): the flush
   * starts once that run returns, as a microtask, not a turn of the event
   * loop later (timers, I/O polled and other callbacks first): an apply's
   * submit-to-add 0.24-0.32 -> 0.20-0.26 ms at load 8.
   */
  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      await Promise.resolve();
      await this.#ready;
      // Opened again after an idle spell: no answer may come before its reader is there.
      await this.#openEvents().catch(() => {
        this.#eventsOpen = null; // answers are then read back from the jobs (#reconcile) until it opens
      });
      const adding: Promise<void>[] = [];
      while (this.#outgoing.length > 0 && !this.#stopped) {
        adding.push(this.#add(this.#encodeBatch()));
        // Let that batch leave before encoding the next: workers start on the first chunks of a big map meanwhile.
        if (this.#outgoing.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await Promise.all(adding);
    } catch {
      // Redis unreachable: the pool is broken (reported by #ready).
      return;
    } finally {
      this.#flushing = false;
    }
    // Tasks submitted while the last batches were on their way found this flush
    // under way and past its loop: they go now (left, they were never added,
    // and a map waited for them for ever).
    if (this.#outgoing.length > 0 && !this.#stopped) void this.#flush();
  }

  /**
   * Jobs for the next tasks waiting, encoded and signed, up to BATCH_BYTES of
   * payload (at least one job): small tasks go many to an addBulk (one round
   * trip), big chunks one by one. A task whose arguments cannot be encoded fails.
   */
  #encodeBatch(): JobToAdd[] {
    const batch: JobToAdd[] = [];
    let bytes = 0;
    let taken = 0;
    while (taken < this.#outgoing.length && bytes < BATCH_BYTES) {
      const { jobId, task } = this.#outgoing[taken++]!;
      if (this.#held.get(jobId) !== task) continue; // cancelled meanwhile
      try {
        const payload = encodeValue(task.kwargs === null ? [task.data] : [task.data, task.kwargs[0]], `the arguments of a task for ${task.fn.ref.name}`);
        const data = sealJob(this.#options.authkey, { version: this.#version, format: JOB_FORMAT, fn: this.#digest(task.fn), kind: task.kind, timeout: task.timeout, payload });
        batch.push({ name: task.fn.ref.name, data, opts: { jobId, removeOnComplete: { age: KEEP_COMPLETED_S }, removeOnFail: { age: KEEP_FAILED_S } } });
        bytes += payload.length;
      } catch (error) {
        this.#fail(jobId, error);
      }
    }
    this.#outgoing = this.#outgoing.slice(taken);
    return batch;
  }

  /**
   * The digest that names a task function in jobs. Its record goes to the
   * queue's hash the first time, on the connection the jobs then go by:
   * Redis runs a connection's commands in order, so the record is there
   * before any job that names it can be taken. (If it fails, Redis is away,
   * and so do the adds.)
   */
  #digest(entry: FunctionEntry): string {
    let digest = this.#digests.get(entry);
    if (digest === undefined) {
      const sealed = sealFunction(this.#options.authkey, { module: this.#module, fn: entry.ref });
      digest = sealed.digest;
      this.#digests.set(entry, digest);
      void this.#client.hset(this.#queue.toKey(FUNCTIONS_KEY), digest, sealed.text).catch(() => {});
    }
    return digest;
  }

  async #add(batch: JobToAdd[]): Promise<void> {
    if (batch.length === 0) return;
    try {
      // One job (an apply, a big chunk) goes as one command: addBulk's pipeline would copy its megabytes once more.
      if (batch.length === 1) await this.#queue.add(batch[0]!.name, batch[0]!.data, batch[0]!.opts);
      else await this.#queue.addBulk(batch);
    } catch (error) {
      for (const job of batch) this.#fail(job.opts.jobId, new ProcessError(`multiproc: the task could not be queued on ${this.#where.label}: ${(error as Error).message}`, { cause: error }));
    }
  }

  #onActive(jobId: string): void {
    this.#lastEvent = Date.now();
    const task = this.#held.get(jobId);
    if (task === undefined || this.#running.has(jobId)) return;
    this.#running.add(jobId);
    this.#host.running(task);
  }

  #onCompleted(jobId: string, returnvalue: unknown): void {
    this.#lastEvent = Date.now();
    const task = this.#held.get(jobId);
    if (task === undefined) return;
    let answer: JobAnswer;
    let outcome: Outcome;
    try {
      const raw = typeof returnvalue === 'string' ? (JSON.parse(returnvalue) as unknown) : returnvalue;
      answer = openAnswer(this.#options.authkey, raw, this.#version, jobId);
      if (answer.status === 'ok') outcome = { status: 'ok', value: decodeValue(answer.value ?? '') };
      else if (answer.status === 'failed') outcome = { status: 'failed', error: answer.error! };
      else outcome = { status: 'unsendable', repr: answer.repr ?? '', reason: answer.reason ?? '' };
    } catch (error) {
      this.#fail(jobId, error);
      return;
    }
    this.#release(jobId);
    // Where it ran comes in a failure's answer, for its error (a success's is BullMQ's record: the job's processedBy).
    if (answer.where !== undefined) task.holder = { label: answer.where };
    this.#host.answered(task, outcome, answer.micros);
  }

  #onFailed(jobId: string, failedReason: string): void {
    this.#lastEvent = Date.now();
    if (!this.#held.has(jobId)) return;
    this.#fail(jobId, new ProcessError(`${failedReason} (job ${jobId} on ${this.#where.label})`));
  }

  #fail(jobId: string, error: unknown): void {
    const task = this.#held.get(jobId);
    if (task === undefined) return;
    this.#release(jobId);
    this.#host.failed(task, error);
  }

  #release(jobId: string): void {
    this.#held.delete(jobId);
    this.#running.delete(jobId);
    if (this.#held.size === 0) {
      this.#idle();
      this.#closeEventsWhenIdle();
    }
  }

  /** While answers are awaited, a timer reads back jobs whose events did not come. */
  #watch(): void {
    if (this.#reconciler !== null || this.#held.size === 0) return;
    this.#reconciler = setInterval(() => void this.#reconcile(), RECONCILE_MS);
    this.#reconciler.unref();
  }

  async #reconcile(): Promise<void> {
    if (Date.now() - this.#lastEvent < RECONCILE_MS || this.#outgoing.length > 0 || this.#flushing) return;
    for (const jobId of [...this.#held.keys()].slice(0, 200)) {
      // Only the fields that say how it ended: not the job's data, megabytes for a big chunk.
      let fields: (string | null)[];
      try {
        fields = await this.#client.hmget(this.#queue.toKey(jobId), 'name', 'finishedOn', 'failedReason', 'returnvalue');
      } catch {
        return; // Redis away for now: the next round tries again
      }
      const [name, finishedOn, failedReason, returnvalue] = fields;
      if (!this.#held.has(jobId)) continue;
      if (name === null) {
        this.#fail(jobId, new ProcessError(`multiproc: job ${jobId} is gone from ${this.#where.label} before it finished (Redis restarted without persistence, or the queue was emptied)`));
      } else if (finishedOn !== null && failedReason === null) {
        this.#onCompleted(jobId, returnvalue);
      } else if (finishedOn !== null) {
        this.#onFailed(jobId, failedReason ?? '');
      }
    }
  }

  cancel(task: Task): void {
    for (const [jobId, held] of this.#held) {
      if (held !== task) continue;
      this.#release(jobId);
      void this.#letGo([jobId]);
      return;
    }
  }

  /** Removals and cancels under way, which a shutdown lets finish (for a moment) before it cuts the connection. */
  readonly #lettingGo = new Set<Promise<void>>();

  /**
   * Jobs let go: a waiting one is removed; the others (running, hence
   * locked, which a removal refuses) are cancelled in their workers, which
   * kill the processes running them and fail the jobs. Removal first: a
   * failed job is no longer locked, so a removal that came after its cancel
   * would erase the record of its failure.
   */
  #letGo(jobIds: string[]): Promise<void> {
    const done = Promise.all(jobIds.map((jobId) => this.#queue.remove(jobId).catch(() => 0))).then((removed) => this.#cancelRunning(jobIds.filter((_, i) => removed[i] !== 1)));
    this.#lettingGo.add(done);
    void done.finally(() => this.#lettingGo.delete(done));
    return done;
  }

  /**
   * Tells the workers to stop these jobs where they run. Sent for every job
   * not removed, not only those seen active (the 'active' event may still be
   * on its way): for a job that is not running, a worker does nothing.
   */
  #cancelRunning(jobIds: string[]): void {
    if (this.#client.status !== 'ready') return;
    for (let i = 0; i < jobIds.length; i += CANCEL_BATCH) {
      void this.#client.publish(cancelChannel(this.#options.queue), sealCancel(this.#options.authkey, jobIds.slice(i, i + CANCEL_BATCH))).catch(() => {});
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#held.size === 0) {
      this.#idle();
      this.#closeEventsWhenIdle();
    }
  }

  #takeAll(): Task[] {
    const held = [...this.#held.entries()];
    this.#held.clear();
    this.#running.clear();
    this.#outgoing = [];
    void this.#letGo(held.map(([jobId]) => jobId)).finally(() => this.#idle());
    return held.map(([, task]) => task).filter((task) => !task.done);
  }

  terminate(): Task[] {
    this.#stopped = true;
    this.#closed = true;
    return this.#takeAll();
  }

  abandon(): Task[] {
    // A broken pool lets go of Redis at once: nothing keeps reconnecting (or the program alive) until a join.
    const held = this.terminate();
    void this.#shutdown();
    return held;
  }

  #idle(): void {
    if (!this.#closed || this.#held.size > 0) return;
    for (const wake of this.#idleWaiters) wake();
    this.#idleWaiters.clear();
  }

  async join(): Promise<void> {
    while (this.#held.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
    await this.#shutdown();
  }

  #shutdownDone: Promise<void> | null = null;

  #shutdown(): Promise<void> {
    this.#shutdownDone ??= (async () => {
      if (this.#reconciler !== null) clearInterval(this.#reconciler);
      this.#reconciler = null;
      this.#stopped = true;
      // BullMQ's close waits for its connections; one that never connected (a broken pool) is let go first.
      if (this.#client.status !== 'ready') this.#client.disconnect();
      if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.#lettingGo]), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
      await Promise.race([Promise.allSettled([this.#events?.close(), this.#queue.close()]), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
      this.#client.disconnect();
    })();
    return this.#shutdownDone;
  }

  stats(): BackendStats {
    return { workers: 0, busyWorkers: 0, tasksQueued: this.#held.size - this.#running.size, tasksRunning: this.#running.size };
  }

  get pids(): number[] {
    return [];
  }
}

/** The creator module as a path under the root, with '/' separators; a clear error when it is elsewhere. */
function moduleUnderRoot(creator: ModuleRef, root: string): string {
  const file = fileURLToPath(creator.url);
  const path = relative(root, file);
  if (path.startsWith('..') || path === '') {
    throw new TypeError(`multiproc: the module that creates this Pool (${file}) is not under the root ${root}; pass { root } (the directory workers get as --root) so that workers can find it`);
  }
  return path.split(sep).join('/');
}
