// `npm run bench`, Pool part: multiproc's Pool(2) against Python's Pool(2) and
// the Node pools (poolifier's cluster pool, workerpool and tinypool on child
// processes, piscina on threads), all measured in this run, plus the raw IPC
// round trip of a forked child as the floor.
import { execFileSync, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FixedClusterPool } from 'poolifier';
import workerpool from 'workerpool';
import Tinypool from 'tinypool';
import { Piscina } from 'piscina';
import { Pool, Process } from 'multiproc';
import { empty } from './targets.js';

const TASKS = Number(process.env.BENCH_POOL_TASKS ?? 20_000);
const CHUNKED = Number(process.env.BENCH_POOL_CHUNKED ?? 1_000_000);
const ROUND_TRIPS = 1400;
const ROUNDS = 7;
const FIB_N = 32; // about 20 ms a task here, as fib(26) in Python
const FIB_COUNT = 16;
const PY_FIB_N = 26;

export function sqr(x: number): number {
  return x * x;
}

export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

const peersDir = new URL('../../bench/peers/', import.meta.url);
const peerPath = (name: string): string => fileURLToPath(new URL(name, peersDir));

interface PeerPool {
  run(x: number): Promise<number>;
  destroy(): Promise<unknown>;
}

interface Row {
  firstMs: number;
  chunk1PerS: number;
  rtUs: number;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** The mean round trip of `count` sequential calls, in microseconds. */
async function timeCalls(call: (x: number) => Promise<unknown>, count = ROUND_TRIPS / ROUNDS): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < count; i++) await call(i);
  return ((performance.now() - t) / count) * 1000;
}

/** Round trips in microseconds: ROUNDS rounds of sequential calls. */
async function roundTrips(call: (x: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < ROUNDS; r++) out.push(await timeCalls(call));
  return out;
}

async function measurePeer(make: () => PeerPool): Promise<Row> {
  const t0 = performance.now();
  const pool = make();
  await pool.run(1);
  const firstMs = performance.now() - t0;
  await Promise.all(range(200).map((x) => pool.run(x)));
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    await Promise.all(range(TASKS).map((x) => pool.run(x)));
    rates.push(TASKS / ((performance.now() - t) / 1000));
  }
  const rtUs = median(await roundTrips((x) => pool.run(x)));
  await pool.destroy();
  return { firstMs, chunk1PerS: median(rates), rtUs };
}

/** A forked child that echoes process.send messages: the raw IPC round trip, the floor for a process pool. */
function rawIpcEcho(): { call: (x: number) => Promise<unknown>; close: () => void } {
  const child = fork(peerPath('echo-child.cjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  return {
    call: (x) =>
      new Promise((resolve) => {
        child.once('message', resolve);
        child.send(x);
      }),
    close: () => child.kill(),
  };
}

/** The same CPU-bound work split between two forked node children by hand: what the machine gives two processes now. */
async function rawForkedSpeedup(serialMs: number): Promise<number> {
  const kids = [0, 1].map(() => fork(peerPath('fib-child.cjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }));
  const run = (count: number): Promise<unknown[]> =>
    Promise.all(
      kids.map(
        (kid) =>
          new Promise((resolve) => {
            kid.once('message', resolve);
            kid.send([FIB_N, count]);
          }),
      ),
    );
  await run(1);
  const t = performance.now();
  await run(FIB_COUNT / 2);
  const ms = performance.now() - t;
  for (const kid of kids) kid.kill();
  return serialMs / ms;
}

async function firstResult(): Promise<number> {
  const t = performance.now();
  const pool = new Pool(2);
  await pool.apply(sqr, [1]);
  const ms = performance.now() - t;
  pool.terminate();
  await pool.join();
  return ms;
}

/** Creation to first result (the forkserver's spare warm, as Python's forkserver is after an earlier pool). */
async function bestFirstResult(): Promise<number> {
  const warm = new Process({ target: empty });
  warm.start();
  await warm.join();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const firsts: number[] = [];
  for (let i = 0; i < 3; i++) {
    firsts.push(await firstResult());
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return Math.min(...firsts);
}

/** Tasks per second of `pool.map(sqr, ..., 1)`: the median of 3 runs after a warm-up. */
async function chunk1Rate(pool: Pool): Promise<number> {
  await pool.map(sqr, range(1000), 1);
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    await pool.map(sqr, range(TASKS), 1);
    rates.push(TASKS / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

/** Items per second of `pool.map(sqr, data)` with the default chunking: the median of 3 runs after a warm-up. */
async function chunkedRate(pool: Pool): Promise<number> {
  const data = range(CHUNKED);
  await pool.map(sqr, data.slice(0, 10000));
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    await pool.map(sqr, data);
    rates.push(CHUNKED / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

interface NoAddonRow {
  firstMs: number;
  chunk1PerS: number;
  chunkedPerS: number;
  rtUs: number;
}

/** `npm run bench -- pool-noaddon`: the no-addon column, measured in a process with MULTIPROC_NO_NATIVE=1, as JSON. */
export async function benchPoolNoAddon(): Promise<void> {
  const firstMs = await bestFirstResult();
  const pool = new Pool(2);
  const chunk1PerS = await chunk1Rate(pool);
  const chunkedPerS = await chunkedRate(pool);
  await timeCalls((x) => pool.apply(sqr, [x]));
  const rtUs = median(await roundTrips((x) => pool.apply(sqr, [x])));
  pool.close();
  await pool.join();
  const row: NoAddonRow = { firstMs, chunk1PerS, chunkedPerS, rtUs };
  console.log(JSON.stringify(row));
}

/** The no-addon figures, from a child process of this run (the addon is chosen once per process). */
function noAddonFigures(): NoAddonRow {
  const script = fileURLToPath(new URL('./index.js', import.meta.url));
  const out = execFileSync(process.execPath, [script, 'pool-noaddon'], { env: { ...process.env, MULTIPROC_NO_NATIVE: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()!) as NoAddonRow;
}

export async function benchPool(): Promise<void> {
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/pool_bench.py', import.meta.url)), String(TASKS), String(CHUNKED), String(ROUND_TRIPS), String(PY_FIB_N), String(FIB_COUNT)], {
      encoding: 'utf8',
    }),
  ) as { first_forkserver_ms: number; first_fork_ms: number; chunk1_per_s: number; chunked_per_s: number; apply_rt_us: number; cpu_speedup: number };
  const bare = noAddonFigures();

  const firstMs = await bestFirstResult();
  const pool = new Pool(2);
  const chunk1PerS = await chunk1Rate(pool);
  let t: number;
  const chunkedPerS = await chunkedRate(pool);
  // Round trips: multiproc's apply and the raw IPC echo in alternating rounds
  // (placement on the two vCPUs drifts; compare within a round).
  const raw = rawIpcEcho();
  await timeCalls((x) => raw.call(x));
  await timeCalls((x) => pool.apply(sqr, [x]));
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ours.push(await timeCalls((x) => pool.apply(sqr, [x])));
    theirs.push(await timeCalls((x) => raw.call(x)));
  }
  raw.close();
  const rtUs = median(ours);
  const rawUs = median(theirs);
  const rtRatio = median(ours.map((us, i) => us / theirs[i]!));
  t = performance.now();
  for (let i = 0; i < FIB_COUNT; i++) fib(FIB_N);
  const serial = performance.now() - t;
  t = performance.now();
  await pool.map(fib, new Array<number>(FIB_COUNT).fill(FIB_N), 1);
  const speedup = serial / (performance.now() - t);
  pool.close();
  await pool.join();
  const rawSpeedup = await rawForkedSpeedup(serial);

  const poolifier = await measurePeer(() => {
    const p = new FixedClusterPool<number, number>(2, peerPath('poolifier-worker.cjs'));
    return { run: (x) => p.execute(x), destroy: () => p.destroy() };
  });
  const wp = await measurePeer(() => {
    const p = workerpool.pool(peerPath('workerpool-worker.cjs'), { minWorkers: 2, maxWorkers: 2, workerType: 'process' });
    return { run: (x) => p.exec('sqr', [x]) as unknown as Promise<number>, destroy: async () => void (await p.terminate()) };
  });
  const tiny = await measurePeer(() => {
    const p = new Tinypool({ filename: new URL('tinypool-worker.mjs', peersDir).href, runtime: 'child_process', minThreads: 2, maxThreads: 2 });
    return { run: (x) => p.run(x) as Promise<number>, destroy: () => p.destroy() };
  });
  const piscina = await measurePeer(() => {
    const p = new Piscina({ filename: new URL('tinypool-worker.mjs', peersDir).href, minThreads: 2, maxThreads: 2 });
    return { run: (x) => p.run(x) as Promise<number>, destroy: () => p.destroy() };
  });

  const k = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1000).toFixed(1)}k`);
  console.log(`\n## Pool (2 workers; throughputs: medians of 3 runs; round trips: medians of ${ROUNDS} rounds; ${process.version}, python3, poolifier, workerpool, tinypool, piscina in the same run)\n`);
  console.log('| | multiproc Pool | without the addon | Python Pool | poolifier (cluster) | workerpool (process) | tinypool (child_process) | piscina (threads) | goal |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  console.log(
    `| x*x tasks/s, chunksize 1 | ${k(chunk1PerS)} | ${k(bare.chunk1PerS)} | ${k(py.chunk1_per_s)} | ${k(poolifier.chunk1PerS)} | ${k(wp.chunk1PerS)} | ${k(tiny.chunk1PerS)} | ${k(piscina.chunk1PerS)} | ` +
      `>= 2x poolifier (${(chunk1PerS / poolifier.chunk1PerS).toFixed(2)}x); without the addon >= poolifier (${(bare.chunk1PerS / poolifier.chunk1PerS).toFixed(2)}x) |`,
  );
  console.log(`| x*x tasks/s, default chunking (${k(CHUNKED)} items) | ${k(chunkedPerS)} | ${k(bare.chunkedPerS)} | ${k(py.chunked_per_s)} | | | | | >= Python (${(chunkedPerS / py.chunked_per_s).toFixed(2)}x) |`);
  console.log(
    `| apply round trip (us) | ${rtUs.toFixed(0)} | ${bare.rtUs.toFixed(0)} | ${py.apply_rt_us.toFixed(0)} | ${poolifier.rtUs.toFixed(0)} | ${wp.rtUs.toFixed(0)} | ${tiny.rtUs.toFixed(0)} | ${piscina.rtUs.toFixed(0)} | <= 1.5x raw IPC ${rawUs.toFixed(0)} us (${rtRatio.toFixed(2)}x, median of per-round ratios) |`,
  );
  console.log(
    `| create -> first result (ms) | ${firstMs.toFixed(1)} (forkserver) | ${bare.firstMs.toFixed(1)} (forkserver: warm spares) | ${py.first_forkserver_ms.toFixed(1)} (forkserver), ${py.first_fork_ms.toFixed(1)} (fork) | ${poolifier.firstMs.toFixed(0)} | ${wp.firstMs.toFixed(0)} | ${tiny.firstMs.toFixed(0)} | ${piscina.firstMs.toFixed(0)} | < 10 ms |`,
  );
  console.log(`| CPU-bound map vs serial (fib(${FIB_N}) x ${FIB_COUNT}; Python fib(${PY_FIB_N})) | ${speedup.toFixed(2)}x | | ${py.cpu_speedup.toFixed(2)}x | | | | | >= 1.9x (2 forked node children by hand, same work, now: ${rawSpeedup.toFixed(2)}x) |`);
}
