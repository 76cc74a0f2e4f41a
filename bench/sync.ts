// `npm run bench`, sync part: locks, a cross-process wake-up, and 8 MiB of
// doubles handed to a child through SharedMemory against over a Pipe;
// multiproc against Python's multiprocessing, measured in the same run.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Barrier, Lock, Pipe, Process, RawArray, Semaphore, SharedMemory } from 'multiproc';
import { incrementer, ponger, summer } from './targets.js';

const N_LOCK = 2_000_000;
const N_ASYNC = 1_000_000;
const N_INC = 200_000;
const N_PING = 20_000;
const MIB8 = 8 << 20;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function uncontended(): { sync: number; async: Promise<number> } {
  const lock = new Lock();
  for (let i = 0; i < 100_000; i++) {
    lock.acquireSync();
    lock.release();
  }
  let t = performance.now();
  for (let i = 0; i < N_LOCK; i++) {
    lock.acquireSync();
    lock.release();
  }
  const sync = ((performance.now() - t) / N_LOCK) * 1e6;
  const async = (async () => {
    t = performance.now();
    for (let i = 0; i < N_ASYNC; i++) {
      await lock.acquire();
      lock.release();
    }
    return ((performance.now() - t) / N_ASYNC) * 1e6;
  })();
  return { sync, async };
}

async function contended(): Promise<number> {
  const lock = new Lock();
  const counter = RawArray('d', 1);
  const times = RawArray('d', 2);
  const barrier = new Barrier(2);
  const ps = [0, 1].map((slot) => new Process({ target: incrementer, args: [lock, counter, N_INC, barrier, times, slot] }));
  for (const p of ps) p.start();
  for (const p of ps) await p.join();
  if (counter[0] !== 2 * N_INC) throw new Error(`lost increments: ${counter[0]}`);
  return (Math.max(...times) / (2 * N_INC)) * 1e6;
}

async function pingPong(rounds = N_PING): Promise<{ sync: number; async: number }> {
  const ping = new Semaphore(0);
  const pong = new Semaphore(0);
  const p = new Process({ target: ponger, args: [ping, pong, 100 + rounds + rounds / 4] });
  p.start();
  for (let i = 0; i < 100; i++) {
    ping.release();
    pong.acquireSync();
  }
  let t = performance.now();
  for (let i = 0; i < rounds; i++) {
    ping.release();
    pong.acquireSync();
  }
  const sync = ((performance.now() - t) / rounds) * 1e3;
  t = performance.now();
  for (let i = 0; i < rounds / 4; i++) {
    ping.release();
    await pong.acquire();
  }
  const async = ((performance.now() - t) / (rounds / 4)) * 1e3;
  await p.join();
  return { sync, async };
}

async function handOver(): Promise<{ shm: number; pipe: number }> {
  const [a, b] = Pipe();
  const p = new Process({ target: summer, args: [b] });
  p.start();
  b.close();
  const shm = new SharedMemory({ create: true, size: MIB8 });
  const values = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, MIB8 / 8);
  for (let i = 0; i < values.length; i++) values[i] = i % 10;
  const payload = Buffer.from(shm.buf);
  const shmTimes: number[] = [];
  const pipeTimes: number[] = [];
  for (let round = 0; round < 7; round++) {
    let t = performance.now();
    a.send({ kind: 'shm', name: shm.name });
    await a.recv();
    shmTimes.push(performance.now() - t);
    t = performance.now();
    a.send({ kind: 'pipe' });
    a.sendBytes(payload);
    await a.recv();
    pipeTimes.push(performance.now() - t);
  }
  a.send(null);
  await p.join();
  a.close();
  shm.close();
  shm.unlink();
  return { shm: median(shmTimes), pipe: median(pipeTimes) };
}

/** Microseconds per call of `fn`, after a warm-up (sync or awaited). */
async function perCall(fn: () => unknown, n: number): Promise<number> {
  for (let i = 0; i < n / 10; i++) await fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return ((performance.now() - t) / n) * 1e3;
}

interface FallbackFigures {
  locked: number;
  acquireSync: number;
  acquireAsync: number;
  pingSync: number;
  pingAsync: number;
}

/** The IPC fallback's costs (run in a process with MULTIPROC_NO_NATIVE=1): printed as JSON for benchSync's table. */
export async function benchSyncFallback(): Promise<void> {
  const lock = new Lock();
  const figures: FallbackFigures = {
    locked: await perCall(() => lock.locked(), 3000),
    acquireSync: await perCall(() => (lock.acquireSync(), lock.release()), 3000),
    acquireAsync: await perCall(async () => (await lock.acquire(), lock.release()), 3000),
    ...(await pingPong(2000).then(({ sync, async }) => ({ pingSync: sync, pingAsync: async }))),
  };
  console.log(JSON.stringify(figures));
}

function fallbackFigures(): FallbackFigures {
  const index = fileURLToPath(new URL('./index.js', import.meta.url));
  const out = execFileSync(process.execPath, [index, 'sync-fallback'], { env: { ...process.env, MULTIPROC_NO_NATIVE: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out) as FallbackFigures;
}

export async function benchSync(): Promise<void> {
  const py = JSON.parse(execFileSync('python3', [fileURLToPath(new URL('../../bench/python/sync_bench.py', import.meta.url))], { encoding: 'utf8' })) as {
    uncontended_ns: number;
    contended_ns: number;
    pingpong_us: number;
    shm_ms: number;
    pipe_ms: number;
  };
  const alone = uncontended();
  const asyncNs = await alone.async;
  const inc = await contended();
  const ping = await pingPong();
  const hand = await handOver();
  console.log(`\n## Locks and shared memory (${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc | Python multiprocessing | goal |');
  console.log('|---|---|---|---|');
  console.log(`| uncontended Lock acquire+release (ns) | ${alone.sync.toFixed(0)} (acquireSync), ${asyncNs.toFixed(0)} (await acquire) | ${py.uncontended_ns.toFixed(0)} | <= Python |`);
  console.log(`| 2 processes contending, per locked increment (ns) | ${inc.toFixed(0)} | ${py.contended_ns.toFixed(0)} | >= 2x faster |`);
  console.log(`| Semaphore ping-pong, round trip (us) | ${ping.sync.toFixed(1)} (acquireSync), ${ping.async.toFixed(1)} (await acquire) | ${py.pingpong_us.toFixed(1)} | <= 2x Python |`);
  console.log(`| 8 MiB of doubles to a child that sums them: SharedMemory (ms) | ${hand.shm.toFixed(1)} | ${py.shm_ms.toFixed(1)} | |`);
  console.log(`| the same over a Pipe (ms) | ${hand.pipe.toFixed(1)} | ${py.pipe_ms.toFixed(1)} | SharedMemory >= 2x faster |`);
  const fb = fallbackFigures();
  const probe = new Lock();
  let t = performance.now();
  for (let i = 0; i < N_LOCK; i++) probe.locked();
  const lockedUs = (performance.now() - t) / N_LOCK * 1e3;
  console.log(`\n### Without the native addon (the IPC fallback, MULTIPROC_NO_NATIVE=1), same run\n`);
  console.log('| | fallback (us) | native addon (us) |');
  console.log('|---|---|---|');
  console.log(`| one blocking round trip: lock.locked() | ${fb.locked.toFixed(1)} | ${lockedUs.toFixed(3)} |`);
  console.log(`| acquireSync() + release() | ${fb.acquireSync.toFixed(1)} | ${(alone.sync / 1e3).toFixed(3)} |`);
  console.log(`| await acquire() + release() | ${fb.acquireAsync.toFixed(1)} | ${(asyncNs / 1e3).toFixed(3)} |`);
  console.log(`| Semaphore ping-pong with a child, round trip | ${fb.pingSync.toFixed(1)} (acquireSync), ${fb.pingAsync.toFixed(1)} (await acquire) | ${ping.sync.toFixed(1)}, ${ping.async.toFixed(1)} |`);
}
