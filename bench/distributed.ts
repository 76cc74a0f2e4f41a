// `npm run bench distributed`: the Pool on its Redis back end (BullMQ)
// through `multiproc worker` processes on this machine, side by side with a
// bare BullMQ harness (Queue + QueueEvents, workers computing x * 2 on their
// event loop), the same harness with each job run in a child process of the
// worker (the least the design costs: jobs never run on a worker's
// event loop), and the local Pool, all in this run.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'multiproc';
import { startRedis, type RedisServer } from '../test/helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bin/multiproc.mjs`;
const APPLY_CALLS = 300;
/** The side-by-side parts run in this many interleaved rounds. */
const ROUNDS = 3;
const SINGLE_ITEMS = Number(process.env.BENCH_DISTRIBUTED_ITEMS ?? 6000);
const TINY_ITEMS = 1_000_000;
const CPU_TASKS = 16;

export function sqr(x: number): number {
  return x * x;
}

/** About 20 ms of CPU. */
export function burn(x: number): number {
  const end = performance.now() + 20;
  let n = 0;
  while (performance.now() < end) n++;
  return x + (n < 0 ? 1 : 0);
}

export async function nap(ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
}

/** CPU time (user + system, ms) a process has used so far, from /proc; NaN where there is none (not Linux). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks: 100 a second on Linux
  } catch {
    return NaN;
  }
}

/** A process and all its descendants (a worker's local pool, its forkserver), from /proc. */
function family(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // not Linux, or gone
  }
  return [pid, ...children.flatMap(family)];
}

/** CPU per job (µs) of the caller, Redis and the workers (with their processes) while `run` handles `jobs` jobs. */
async function cpuPerJob(redisPid: number, workers: ChildProcess[], jobs: number, run: () => Promise<void>): Promise<CpuShare> {
  const groups = [[process.pid], [redisPid], workers.flatMap((worker) => family(worker.pid!))];
  const used = (): number[] => groups.map((pids) => pids.reduce((sum, pid) => sum + cpuMs(pid), 0));
  const before = used();
  await run();
  const [caller, redis, workerSide] = used().map((ms, i) => (ms - before[i]!) * 1000 / jobs);
  return { caller: caller!, redis: redis!, workers: workerSide! };
}

interface CpuShare {
  caller: number;
  redis: number;
  workers: number;
}

const share = (c: CpuShare): string => (Number.isNaN(c.caller) ? 'n/a' : `${c.caller.toFixed(0)} / ${c.redis.toFixed(0)} / ${c.workers.toFixed(0)}`);

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const k = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));

async function multiprocWorker(url: string, queue: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'worker', url, '--queue', queue, '--root', ROOT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('serving queue')) resolve();
    });
    child.on('exit', () => reject(new Error(`multiproc worker exited: ${out}`)));
  });
  return child;
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** Bare BullMQ workers: `bullmq-worker.mjs` (jobs on its event loop) or `bullmq-hop-worker.mjs` (jobs in its child process). */
async function bareWorkers(url: string, queue: string, count: number, script: string): Promise<ChildProcess[]> {
  const path = fileURLToPath(new URL(`../../bench/peers/${script}`, import.meta.url));
  return Promise.all(
    range(count).map(
      () =>
        new Promise<ChildProcess>((resolve) => {
          const child = fork(path, [url, queue], { stdio: 'inherit' });
          child.once('message', () => resolve(child));
        }),
    ),
  );
}

/** One side of the side-by-side: single apply round trips and a batch of single-item jobs. */
interface Harness {
  readonly workers: ChildProcess[];
  apply(x: number): Promise<void>;
  batch(n: number): Promise<void>;
  stop(): Promise<void>;
}

/** The bare harness: Queue + QueueEvents, two bare BullMQ workers (see bareWorkers). */
async function bareHarness(redis: RedisServer, queue: string, script: string): Promise<Harness> {
  const workers = await bareWorkers(redis.url, queue, 2, script);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection: client });
  const eventsClient = new Redis(redis.url, { maxRetriesPerRequest: null });
  const events = new QueueEvents(queue, { connection: eventsClient });
  await events.waitUntilReady();
  const waiting = new Map<string, () => void>();
  events.on('completed', ({ jobId }) => {
    waiting.get(jobId)?.();
    waiting.delete(jobId);
  });
  let id = 0;
  return {
    workers,
    async apply(x) {
      const jobId = `b${++id}`;
      const done = new Promise<void>((resolve) => waiting.set(jobId, resolve));
      await q.add('x', { x }, { jobId, removeOnComplete: true });
      await done;
    },
    async batch(n) {
      const all = range(n).map((x) => {
        const jobId = `s${++id}`;
        return { promise: new Promise<void>((resolve) => waiting.set(jobId, resolve)), job: { name: 'x', data: { x }, opts: { jobId, removeOnComplete: true } } };
      });
      await q.addBulk(all.map((a) => a.job));
      await Promise.all(all.map((a) => a.promise));
    },
    async stop() {
      await stopAll(workers);
      await events.close();
      await q.close();
      client.disconnect();
      eventsClient.disconnect();
    },
  };
}

/** The Pool on Redis through two `multiproc worker` processes of one local process each. */
async function multiprocHarness(redis: RedisServer, pool: Pool): Promise<Harness> {
  const queue = 'bench-multiproc';
  const workers = [await multiprocWorker(redis.url, queue, ['--processes', '1']), await multiprocWorker(redis.url, queue, ['--processes', '1'])];
  return {
    workers,
    async apply(x) {
      await pool.apply(sqr, [x]);
    },
    async batch(n) {
      await pool.map(sqr, range(n), 1);
    },
    async stop() {
      await stopAll(workers);
    },
  };
}

/**
 * Apply p50 (ms), single-item jobs/s and CPU per job of each harness, in
 * interleaved rounds: a change of the machine's load during the run falls on
 * both sides alike.
 */
async function sideBySide(redis: RedisServer, harnesses: Harness[]): Promise<{ applyP50: number; perS: number; cpu: CpuShare }[]> {
  const times = harnesses.map((): number[] => []);
  const busyMs = harnesses.map(() => 0);
  const cpu = harnesses.map((): CpuShare => ({ caller: 0, redis: 0, workers: 0 }));
  for (const harness of harnesses) for (let i = 0; i < 50; i++) await harness.apply(i);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [h, harness] of harnesses.entries()) {
      for (let i = 0; i < APPLY_CALLS / ROUNDS; i++) {
        const t = performance.now();
        await harness.apply(i);
        times[h]!.push(performance.now() - t);
      }
    }
    for (const [h, harness] of harnesses.entries()) {
      const jobs = Math.ceil(SINGLE_ITEMS / ROUNDS);
      const used = await cpuPerJob(redis.pid, harness.workers, jobs, async () => {
        const t = performance.now();
        await harness.batch(jobs);
        busyMs[h]! += performance.now() - t;
      });
      cpu[h] = { caller: cpu[h]!.caller + used.caller / ROUNDS, redis: cpu[h]!.redis + used.redis / ROUNDS, workers: cpu[h]!.workers + used.workers / ROUNDS };
    }
  }
  return harnesses.map((_, h) => ({ applyP50: percentile(times[h]!, 50), perS: (Math.ceil(SINGLE_ITEMS / ROUNDS) * ROUNDS) / (busyMs[h]! / 1000), cpu: cpu[h]! }));
}

/** Seconds from kill -9 of a worker holding jobs to the first of them starting on the other worker. */
async function recovery(redis: RedisServer): Promise<number> {
  const queue = 'bench-kill';
  const victim = await multiprocWorker(redis.url, queue, ['--processes', '2']);
  const survivor = await multiprocWorker(redis.url, queue, ['--processes', '2']);
  const pool = new Pool({ processes: 4, backend: redis.url, queue, root: ROOT });
  const eventsClient = new Redis(redis.url, { maxRetriesPerRequest: null });
  const events = new QueueEvents(queue, { connection: eventsClient });
  await events.waitUntilReady();
  const firstActive = new Map<string, number>();
  let killedAt = 0;
  let rerun = 0;
  events.on('active', ({ jobId }) => {
    if (firstActive.has(jobId) && killedAt > 0 && rerun === 0) rerun = performance.now();
    if (!firstActive.has(jobId)) firstActive.set(jobId, performance.now());
  });
  const map = pool.map(nap, range(16).map(() => 1500), 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  victim.kill('SIGKILL');
  killedAt = performance.now();
  await map;
  pool.close();
  await pool.join();
  await events.close();
  eventsClient.disconnect();
  await stopAll([survivor]);
  return rerun === 0 ? NaN : (rerun - killedAt) / 1000;
}

export async function benchDistributed(): Promise<void> {
  const redis = await startRedis();
  try {
    const pool = new Pool({ processes: 2, backend: redis.url, queue: 'bench-multiproc', root: ROOT });
    const ours = await multiprocHarness(redis, pool);
    const theirs = await bareHarness(redis, 'bench-bare', 'bullmq-worker.mjs');
    const hopping = await bareHarness(redis, 'bench-hop', 'bullmq-hop-worker.mjs');
    const [mine, base, hop] = await sideBySide(redis, [ours, theirs, hopping]);
    const { applyP50, perS, cpu } = mine!;
    await theirs.stop();
    await hopping.stop();
    let t = performance.now();
    const tiny = range(TINY_ITEMS);
    t = performance.now();
    await pool.map(sqr, tiny);
    const remoteTinyMs = performance.now() - t;
    t = performance.now();
    await pool.map(burn, range(CPU_TASKS), 1);
    const cpuMs = performance.now() - t;
    pool.close();
    await pool.join();
    await ours.stop();

    t = performance.now();
    for (let i = 0; i < CPU_TASKS; i++) burn(i);
    const serialMs = performance.now() - t;

    const local = new Pool(2);
    await local.map(sqr, range(1000));
    t = performance.now();
    await local.map(sqr, tiny);
    const localTinyMs = performance.now() - t;
    local.close();
    await local.join();

    const killS = await recovery(redis);

    console.log(`\n## Distributed Pool (redis-server, BullMQ; two multiproc worker processes on this machine; bare BullMQ harness and local Pool(2) in the same run; ${process.version})\n`);
    console.log('| | multiproc Pool on Redis | bare BullMQ | bare BullMQ, each job in a child process | local Pool(2) | goal |');
    console.log('|---|---|---|---|---|---|');
    console.log(`| apply round trip p50 (ms; ${APPLY_CALLS} calls in ${ROUNDS} rounds interleaved with the bare ones) | ${applyP50.toFixed(2)} | ${base!.applyP50.toFixed(2)} | ${hop!.applyP50.toFixed(2)} (${(hop!.applyP50 / base!.applyP50).toFixed(2)}x bare) | | <= 1.2x bare (${(applyP50 / base!.applyP50).toFixed(2)}x) |`);
    console.log(`| single-item jobs/s (map, chunksize 1, ${k(SINGLE_ITEMS)} items in ${ROUNDS} rounds interleaved with the bare ones, 2 workers) | ${k(perS)} | ${k(base!.perS)} | ${k(hop!.perS)} (${(hop!.perS / base!.perS).toFixed(2)}x bare) | | >= 0.8x bare (${(perS / base!.perS).toFixed(2)}x) |`);
    console.log(`| CPU per single-item job, µs: caller / redis-server / workers with their processes (the row above; steadier than wall time on a loaded machine) | ${share(cpu)} | ${share(base!.cpu)} | ${share(hop!.cpu)} | | |`);
    console.log(`| map of ${k(TINY_ITEMS)} x*x, default chunking (ms) | ${remoteTinyMs.toFixed(0)} | | | ${localTinyMs.toFixed(0)} | <= 3x local (${(remoteTinyMs / localTinyMs).toFixed(2)}x) |`);
    console.log(`| CPU-bound map (${CPU_TASKS} x 20 ms) vs serial, 2 workers of 1 process | ${(serialMs / cpuMs).toFixed(2)}x | | | | >= 1.6x |`);
    console.log(`| kill -9 of a busy worker to its jobs running elsewhere (s; lock 3 s) | ${killS.toFixed(2)} | | | | < 5 s |`);
  } finally {
    await redis.stop();
  }
}
