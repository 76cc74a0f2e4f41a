// `npm run bench`, Queue part: a child puts small ints (or 1 MiB buffers), the
// parent gets them; multiproc's Queue against Python's mp.Queue in one run.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Process, Queue } from 'multiproc';
import { fill } from './targets.js';

const SMALL = Number(process.env.BENCH_QUEUE_ITEMS ?? 100_000);

async function rate(count: number, size: number): Promise<number> {
  const q = new Queue<number | Buffer>();
  const p = new Process({ target: fill, args: [q, count, size] });
  p.start();
  await q.get();
  const t = performance.now();
  for (let i = 1; i < count; i++) await q.get();
  const perSecond = (count - 1) / ((performance.now() - t) / 1000);
  await p.join();
  q.close();
  return perSecond;
}

/** `npm run bench -- queue-noaddon`: the no-addon column, measured in a process with MULTIPROC_NO_NATIVE=1, as JSON. */
export async function benchQueueNoAddon(): Promise<void> {
  console.log(JSON.stringify({ small: await rate(SMALL, 0), mib: await rate(200, 1 << 20) }));
}

export async function benchQueue(): Promise<void> {
  const script = fileURLToPath(new URL('./index.js', import.meta.url));
  const bareOut = execFileSync(process.execPath, [script, 'queue-noaddon'], { env: { ...process.env, MULTIPROC_NO_NATIVE: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const bare = JSON.parse(bareOut.trim().split('\n').pop()!) as { small: number; mib: number };
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/queue_bench.py', import.meta.url)), String(SMALL)], { encoding: 'utf8' }),
  ) as { small_per_s: number; mib_per_s: number };
  const small = await rate(SMALL, 0);
  const mib = await rate(200, 1 << 20);
  const f = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(0)}k` : x.toFixed(0));
  console.log(`\n## Queue (child puts, parent gets; ${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc Queue | without the addon | Python mp.Queue | goal |');
  console.log('|---|---|---|---|---|');
  console.log(`| small ints (messages/s) | ${f(small)} | ${f(bare.small)} | ${f(py.small_per_s)} | >= 2x Python (without the addon: >= 1x) |`);
  console.log(`| 1 MiB items (MiB/s) | ${mib.toFixed(0)} | ${bare.mib.toFixed(0)} | ${py.mib_per_s.toFixed(0)} | >= 1024 MiB/s |`);
}
