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

export async function benchQueue(): Promise<void> {
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/queue_bench.py', import.meta.url)), String(SMALL)], { encoding: 'utf8' }),
  ) as { small_per_s: number; mib_per_s: number };
  const small = await rate(SMALL, 0);
  const mib = await rate(200, 1 << 20);
  const f = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(0)}k` : x.toFixed(0));
  console.log(`\n## Queue (child puts, parent gets; ${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc Queue | Python mp.Queue | goal |');
  console.log('|---|---|---|---|');
  console.log(`| small ints (messages/s) | ${f(small)} | ${f(py.small_per_s)} | >= 2x Python |`);
  console.log(`| 1 MiB items (MiB/s) | ${mib.toFixed(0)} | ${py.mib_per_s.toFixed(0)} | >= 1024 MiB/s |`);
}
