import { hostname } from 'node:os';
import { join, relative, resolve as resolvePath, isAbsolute } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { getContext } from '../context.js';
import { TimeoutError } from '../errors.js';
import { LocalBackend } from '../pool/local-backend.js';
import { MAP, STARMAP } from '../pool/protocol.js';
import { describeError } from '../pool/remote-error.js';
import type { BackendHost, FunctionEntry, Holder, Outcome, Task } from '../pool/task.js';
import { ForkServerPoolWorker, SpawnPoolWorker } from '../pool/worker.js';
import type { Process } from '../process.js';
import { CONNECT_TIMEOUT_MS, reachable, redactedUrl, redisConnection } from './connect.js';
import { cancelChannel, checkQueueName, decodeValue, encodeValue, FUNCTIONS_KEY, multiprocVersion, openCancel, openFunction, openJob, sealAnswer, type FunctionRecord, type JobAnswer } from './job.js';

export interface WorkerServiceOptions {
  url: string;
  queue: string;
  /** Local worker processes that run the chunks. */
  processes: number;
  /** Jobs held at once; by default it follows their length (see #adapt). */
  concurrency?: number;
  /** Job modules are paths under this directory. */
  root: string;
  authkey: string;
  /** BullMQ's lock: a job whose worker stops renewing it (killed, cut off) runs elsewhere after about this long. */
  lockDuration?: number;
  stalledInterval?: number;
  /** How often a job may stall (its worker lost) before it fails for good. */
  maxStalledCount?: number;
  log?: (line: string) => void;
}

export const DEFAULT_LOCK_MS = 3000;

/** How a held job's task ended, and the local process that ran it (named in a failure's answer). */
interface Answered {
  outcome: Outcome;
  micros: number;
  holder: Holder | null;
}

/**
 * Jobs a worker holds by default. Long ones: one more than its processes, so
 * that a process finds its next chunk here when it finishes, while the rest
 * of a map stays in the queue for idle workers elsewhere (holding more would
 * make them wait behind this worker's busy processes). Short ones: many, as
 * each job costs Redis round trips and a message to a process, which are
 * then overlapped and batched (measured with single-item jobs: 15-20% less
 * CPU per job at 16 than at 8). A job is short when it runs under
 * SHORT_JOB_US, or for less time than its bytes take to fetch, decode and
 * pass on (about TRANSFER_US_PER_CHAR each: a big chunk of tiny items), so
 * that the next chunks are already here, decoded, when a process is free
 * (a map of 1M tiny items in 8 chunks took 10% longer when held two by two).
 */
const SHORT_JOB_US = 2000;
const TRANSFER_US_PER_CHAR = 0.05;
const longJobConcurrency = (processes: number): number => processes + 1;
const shortJobConcurrency = (processes: number): number => Math.max(16, 8 * processes);

/**
 * `multiproc worker`: takes jobs from a BullMQ queue and runs each chunk in
 * a local pool of processes, never on this event loop, which stays free to
 * renew the jobs' locks. Answers go back as the jobs' return values; an
 * error of a task is an answer too (it keeps class, props and stack), while
 * a job that cannot be run (another version, a payload changed in Redis)
 * fails in BullMQ with a message that says why.
 */
export class WorkerService {
  readonly #options: WorkerServiceOptions;
  readonly #version = multiprocVersion();
  readonly #backend: LocalBackend;
  readonly #client: Redis;
  readonly #worker: Worker;
  /** Subscribed to the queue's cancel channel (a subscribed connection can do nothing else). */
  #cancels: Redis | null = null;
  readonly #functions = new Map<string, FunctionEntry>();
  readonly #answers = new Map<Task, (answered: Answered) => void>();
  /** The task of each job held here, by id: a cancel message names jobs. */
  readonly #heldJobs = new Map<string, Task>();
  readonly #cancelled = new WeakSet<Task>();
  readonly #label = `${hostname()}, multiproc worker pid ${process.pid}`;
  #nextTask = 0;
  /** Moving averages of how long jobs run and take to move (µs), which set how many are held at once when --concurrency is not given. */
  #runUs = -1;
  #transferUs = -1;
  /** The queue was found empty, and no job came since. */
  #drained = false;
  /** Bumped when the queue is found empty: a job that started before belongs to the burst before (see #startOver). */
  #burst = 0;
  /** Jobs of this burst timed so far (see #startOver). */
  #timed = 0;
  /** The function of the last job taken: another one starts a new burst (see #process). */
  #lastFn: string | null = null;
  /** Jobs past the check of how many are held (see #process). */
  #holding = 0;
  #stopping: Promise<void> | null = null;
  /** Set by a stop at once: the jobs held go back to the queue (see #handBack), where other workers take them. */
  #handingBack = false;
  readonly #handedBack = new WeakSet<Task>();
  #broken: Error | null = null;

  static async start(options: WorkerServiceOptions): Promise<WorkerService> {
    const service = new WorkerService(options);
    try {
      await reachable(service.#client, options.url, CONNECT_TIMEOUT_MS);
      await service.#worker.waitUntilReady();
      await service.#listenForCancels();
    } catch (error) {
      await service.stop();
      throw error;
    }
    service.#worker.run().catch((error: unknown) => service.#log(`stopped taking jobs: ${String(error)}`));
    return service;
  }

  private constructor(options: WorkerServiceOptions) {
    this.#options = options;
    checkQueueName(options.queue);
    const method = getContext().getStartMethod();
    this.#backend = new LocalBackend(this.#host, {
      processes: options.processes,
      workerClass: (method === 'spawn' ? SpawnPoolWorker : ForkServerPoolWorker) as typeof Process,
      setup: { initializer: null, initargs: [] },
      maxTasksPerChild: null,
      maxMemoryMb: null,
      // The local workers import this light module (task modules come later, as jobs name them).
      creatorFile: join(__dirname, 'job.js'),
    });
    const lockDuration = options.lockDuration ?? DEFAULT_LOCK_MS;
    this.#client = redisConnection(options.url, (error) => this.#log(`redis: ${error.message}`));
    // A processor of two parameters: BullMQ then makes no AbortController per job (cancels come by #cancel).
    this.#worker = new Worker(options.queue, (job: Job, token?: string) => this.#process(job, token), {
      connection: this.#client,
      autorun: false,
      concurrency: options.concurrency ?? longJobConcurrency(options.processes),
      lockDuration,
      // A job whose worker died moves back to waiting at the first stalled check after its lock expires:
      // its lock, renewed every lockDuration / 2, expires 1/2 to 1 lockDuration after the death, and a
      // check every lockDuration / 6 adds at most that (a check is one short script for all workers).
      stalledInterval: options.stalledInterval ?? Math.max(250, Math.round(lockDuration / 6)),
      maxStalledCount: options.maxStalledCount ?? 2,
      // What `multiproc status` and BullMQ's tools show (a Redis client name: no spaces).
      name: `multiproc-worker-${hostname()}-${process.pid}`,
    });
    this.#worker.on('error', (error) => this.#log(`bullmq: ${error.message}`));
    this.#worker.on('drained', () => {
      this.#drained = true;
      this.#startOver();
    });
  }

  /** A caller that lets go of a running job (terminate(), an AbortSignal) asks here that it stop: its process is killed. */
  async #listenForCancels(): Promise<void> {
    const channel = cancelChannel(this.#options.queue);
    const cancels = this.#client.duplicate();
    this.#cancels = cancels;
    cancels.on('error', (error: Error) => this.#log(`redis (cancel channel): ${error.message}`));
    cancels.on('message', (from: string, text: string) => {
      if (from !== channel) return;
      const jobIds = openCancel(this.#options.authkey, text);
      if (jobIds === null) return this.#log('a cancel message on the queue\'s channel failed its integrity check (another authkey?); ignored');
      for (const jobId of jobIds) this.#cancel(jobId);
    });
    await cancels.subscribe(channel);
  }

  #log(line: string): void {
    (this.#options.log ?? ((text: string) => process.stderr.write(`${text}\n`)))(`multiproc worker ${process.pid}: ${line}`);
  }

  get label(): string {
    return this.#label;
  }

  get pids(): number[] {
    return this.#backend.pids;
  }

  /**
   * The function a job names by its digest, under one number for the local
   * workers: read from the queue's record of functions the first time (one
   * round trip per function and worker), then known here.
   */
  #entry(digest: string, jobId: string | undefined): FunctionEntry | Promise<FunctionEntry> {
    const entry = this.#functions.get(digest);
    if (entry !== undefined) return entry;
    return this.#client.hget(this.#worker.toKey(FUNCTIONS_KEY), digest).then((text) => {
      const known = this.#functions.get(digest); // read meanwhile for another job
      if (known !== undefined) return known;
      const made = this.#newEntry(openFunction(this.#options.authkey, digest, text, jobId), jobId);
      this.#functions.set(digest, made);
      return made;
    });
  }

  #newEntry(record: FunctionRecord, jobId: string | undefined): FunctionEntry {
    if (isAbsolute(record.module)) throw new Error(`multiproc worker: job ${jobId} names no module path relative to the root`);
    const file = resolvePath(this.#options.root, record.module);
    const inside = relative(this.#options.root, file);
    if (inside.startsWith('..') || isAbsolute(inside)) throw new Error(`multiproc worker: job ${jobId} names the module "${record.module}", outside this worker's root ${this.#options.root}; refused`);
    return { id: this.#functions.size, ref: record.fn, fn: null, module: pathToFileURL(file).href };
  }

  async #process(job: Job, token: string | undefined): Promise<JobAnswer> {
    this.#drained = false;
    if (this.#broken !== null) throw this.#broken;
    if (this.#handingBack) return this.#handBack(job, token);
    const data = openJob(this.#options.authkey, job.data, this.#version, job.id);
    // Another function: another map or apply. The queue is often not found
    // empty between two (the next map's jobs come as the last ones of the map
    // before finish), so the lengths measured there would set how many of the
    // new jobs this worker takes; it starts over instead, and hands back to
    // the queue what BullMQ fetched beyond the new count, for idle workers.
    // (A map of 1M tiny items left a worker holding 16, and it took 14 of the
    // next map's 16 chunks of 20 ms while the other stood idle.)
    if (data.fn !== this.#lastFn) {
      if (this.#lastFn !== null) this.#startOver();
      this.#lastFn = data.fn;
    }
    if (this.#holding >= this.#worker.concurrency) return this.#handBack(job, token);
    this.#holding++;
    try {
      return await this.#run(job, token, data, this.#burst);
    } finally {
      this.#holding--;
    }
  }

  async #run(job: Job, token: string | undefined, data: ReturnType<typeof openJob>, burst: number): Promise<JobAnswer> {
    const known = this.#entry(data.fn, job.id);
    const entry = known instanceof Promise ? await known : known;
    let args: unknown[];
    try {
      args = decodeValue(data.payload) as unknown[];
      if (!Array.isArray(args)) throw new TypeError('not a list');
    } catch (error) {
      throw new Error(`multiproc worker: the payload of job ${job.id} cannot be decoded (${(error as Error).message}); refused`);
    }
    const jobId = job.id ?? '';
    const task: Task = {
      id: this.#nextTask++,
      fn: entry,
      kind: data.kind,
      data: args[0],
      kwargs: args.length > 1 ? [args[1]] : null,
      items: data.kind === MAP || data.kind === STARMAP ? (args[0] as { length: number }).length : 1,
      submitted: performance.now(),
      timeout: typeof data.timeout === 'number' ? data.timeout : null,
      signal: null,
      settle: () => {},
      group: null,
      start: null,
      holder: null,
      timer: null,
      onAbort: null,
      done: false,
    };
    // One promise per job, resolved by #answer straight from the local process's message.
    const { outcome, micros, holder } = await new Promise<Answered>((settle) => {
      this.#answers.set(task, settle);
      this.#heldJobs.set(jobId, task);
      this.#backend.submit([task]);
    });
    this.#heldJobs.delete(jobId);
    if (this.#handedBack.has(task)) return this.#handBack(job, token);
    this.#adapt(micros, data.payload.length, burst === this.#burst);
    // Its caller let go of it (terminate(), an AbortSignal): failed in BullMQ, so that its tools say so.
    if (this.#cancelled.has(task)) throw new Error(`multiproc worker: job ${job.id} was cancelled by its caller; its process was stopped`);
    let answer: Omit<JobAnswer, 'mac'>;
    if (outcome.status === 'ok') {
      try {
        answer = { version: this.#version, micros, status: 'ok', value: encodeValue(outcome.value, `the result of ${entry.ref.name}`) };
      } catch (error) {
        answer = { version: this.#version, where: this.#where(holder), micros, status: 'unsendable', repr: String(outcome.value), reason: (error as Error).message };
      }
    } else if (outcome.status === 'failed') answer = { version: this.#version, where: this.#where(holder), micros, status: 'failed', error: outcome.error };
    else answer = { version: this.#version, where: this.#where(holder), micros, status: 'unsendable', repr: outcome.repr, reason: outcome.reason };
    return sealAnswer(this.#options.authkey, answer);
  }

  /**
   * A job this worker stops without finishing (a stop at once) goes back to
   * the queue's waiting list now, under the lock this worker holds, and
   * BullMQ is told so (WaitingError): not completed, not failed, and another
   * worker takes it at once instead of after its lock expires.
   */
  async #handBack(job: Job, token: string | undefined): Promise<never> {
    if (token === undefined) throw new Error(`multiproc worker: job ${job.id} came without its lock token; it runs elsewhere once its lock expires`);
    await job.moveToWait(token);
    throw new WaitingError();
  }

  /** Follows the jobs' length with the number held at once (see SHORT_JOB_US), unless --concurrency fixed it. */
  #adapt(micros: number, payloadChars: number, ofThisBurst: boolean): void {
    if (this.#options.concurrency !== undefined || !ofThisBurst) return;
    this.#timed++;
    const transfer = payloadChars * TRANSFER_US_PER_CHAR;
    this.#runUs = this.#runUs < 0 ? micros : 0.8 * this.#runUs + 0.2 * micros;
    this.#transferUs = this.#transferUs < 0 ? transfer : 0.8 * this.#transferUs + 0.2 * transfer;
    const processes = this.#options.processes;
    // Many only from the second job of a burst: a burst of one short job (an apply, a map's last chunk) left
    // the worker at many, and it took most of the next map of long ones.
    const short = this.#timed > 1 && this.#runUs < Math.max(SHORT_JOB_US, this.#transferUs) && !this.#drained;
    this.#worker.concurrency = short ? shortJobConcurrency(processes) : longJobConcurrency(processes);
  }

  /**
   * When the queue is found empty ('drained'), what comes next is a new
   * burst, whose length is not known yet: the worker holds one more job than
   * its processes and forgets the lengths it measured, and many only once two
   * jobs of the new burst were short (see #adapt). The jobs of the burst
   * before that are still held change nothing. Before, after a map of 1M tiny
   * items (its chunks count as short: their bytes take longer to move than
   * they run), one worker took 14 of the next map's 16 chunks of 20 ms at
   * once (BullMQ fetches up to the concurrency before the first job runs)
   * while the other stood idle: a chunk of that map still held raised the
   * count again after the drain, and its lengths, averaged in, made the
   * first long chunks count as short too.
   *
   * (Starting over also whenever no job is held shared out as well, but cut
   * single-item throughput to a third: in a stream of short jobs that is
   * often so, and the worker held few most of the time.)
   */
  #startOver(): void {
    this.#burst++;
    this.#timed = 0;
    this.#runUs = -1;
    this.#transferUs = -1;
    if (this.#options.concurrency === undefined) this.#worker.concurrency = longJobConcurrency(this.#options.processes);
  }

  /** Settles a held job's task once (the first of its answer, a timeout, a cancel, a stop). */
  #answer(task: Task, outcome: Outcome, micros: number): void {
    const settle = this.#answers.get(task);
    if (settle === undefined || task.done) return;
    task.done = true;
    if (task.timer !== null) clearTimeout(task.timer);
    this.#answers.delete(task);
    settle({ outcome, micros, holder: task.holder });
  }

  /** A job's caller let go of it: its task fails here, and the local process running it is killed. */
  #cancel(jobId: string): void {
    const task = this.#heldJobs.get(jobId);
    if (task === undefined) return;
    this.#heldJobs.delete(jobId); // a second cancel message for it finds nothing to do
    this.#cancelled.add(task);
    this.#answer(task, { status: 'failed', error: describeError(new Error(`the job ${jobId} was cancelled`), () => null) }, 0);
    this.#backend.cancel(task);
  }

  /** Where a task ran, for the error that names it (host, worker pid, local process). */
  #where(holder: Holder | null): string {
    return holder === null ? this.#label : `${this.#label}, ${holder.label}`;
  }

  readonly #host: BackendHost = {
    take: (task) => !task.done,
    dispatched: (task, holder) => {
      task.holder = holder;
    },
    running: (task) => {
      if (task.timeout === null || task.timer !== null) return;
      task.timer = setTimeout(() => {
        const error = new TimeoutError(`the task ${task.fn.ref.name}() did not finish within ${task.timeout} ms; its process (${task.holder?.label ?? '?'}) on ${this.#label} was killed and replaced`);
        this.#answer(task, { status: 'failed', error: describeError(error, () => null) }, task.timeout! * 1000);
        this.#backend.cancel(task);
      }, task.timeout);
    },
    returned: (task) => {
      task.holder = null;
      if (task.timer !== null) clearTimeout(task.timer);
      task.timer = null;
    },
    answered: (task, outcome, micros) => this.#answer(task, outcome, micros),
    failed: (task, error) => this.#answer(task, { status: 'failed', error: describeError(error, () => null) }, 0),
    workerLost: (label, code) => this.#log(`local worker ${label} exited (${code}); replaced`),
    initializerFailed: () => {},
    broken: (error) => {
      this.#broken = error;
      this.#log(`cannot run tasks: ${error.message}`);
      for (const task of this.#backend.abandon()) this.#answer(task, { status: 'failed', error: describeError(error, () => null) }, 0);
      void this.stop();
    },
  };

  /**
   * Graceful: takes no new job, finishes the ones it holds, then stops its
   * processes. At once (`force`, or a second call): kills the processes and
   * hands the jobs held back to the queue, where other workers take them.
   * BullMQ's own close(force) is not used: it returns a graceful close under
   * way as it is (which waits for the jobs), and left alone the jobs it drops
   * would wait for their locks to expire.
   */
  stop(force = false): Promise<void> {
    if (this.#stopping !== null && (!force || this.#handingBack)) return this.#stopping;
    if (force) {
      this.#handingBack = true;
      for (const task of this.#backend.terminate()) {
        this.#handedBack.add(task);
        this.#answer(task, { status: 'failed', error: describeError(new Error('the worker stopped'), () => null) }, 0);
      }
    }
    this.#stopping = (async () => {
      this.#log(`stopping (${force ? 'now' : 'after the jobs it holds'}) on ${redactedUrl(this.#options.url)} queue ${this.#options.queue}`);
      this.#cancels?.disconnect();
      // Graceful in BullMQ: it waits for its processors, which hand back at once what a stop at once let go.
      await this.#worker.close().catch(() => {});
      this.#backend.close();
      await this.#backend.join();
      this.#client.disconnect();
    })();
    return this.#stopping;
  }
}
