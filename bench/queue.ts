// `npm run bench`, Queue part: a child puts small ints (with putNowait, and
// with `await q.put()`) or 1 MiB buffers, the parent gets them; multiproc's Queue against Python's mp.Queue in one run.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Process, Queue } from 'multiproc';
import { fill } from './targets.js';

const SMALL = Number(process.env.BENCH_QUEUE_ITEMS ?? 100_000);

/** Items/s through the queue (from the first get to the last), and the producer's put loop's own rate (per CPU second). */
async function rate(count: number, size: number, awaitPut = false): Promise<{ through: number; puts: number }> {
  const q = new Queue<number | Buffer>();
  const p = new Process({ target: fill, args: [q, count, size, awaitPut] });
  p.start();
  await q.get();
  const t = performance.now();
  for (let i = 1; i < count; i++) await q.get();
  const through = (count - 1) / ((performance.now() - t) / 1000);
  const loopCpuMs = (await q.get()) as number;
  await p.join();
  q.close();
  return { through, puts: count / (loopCpuMs / 1000) };
}

/** `npm run bench -- queue-noaddon`: the no-addon column, measured in a process with MULTIPROC_NO_NATIVE=1, as JSON. */
export async function benchQueueNoAddon(): Promise<void> {
  console.log(JSON.stringify({ small: await rate(SMALL, 0), awaitPut: await rate(SMALL, 0, true), mib: (await rate(200, 1 << 20)).through }));
}

export async function benchQueue(): Promise<void> {
  const script = fileURLToPath(new URL('./index.js', import.meta.url));
  const bareOut = execFileSync(process.execPath, [script, 'queue-noaddon'], { env: { ...process.env, MULTIPROC_NO_NATIVE: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  type Rate = { through: number; puts: number };
  const bare = JSON.parse(bareOut.trim().split('\n').pop()!) as { small: Rate; awaitPut: Rate; mib: number };
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/queue_bench.py', import.meta.url)), String(SMALL)], { encoding: 'utf8' }),
  ) as { small_per_s: number; puts_per_s: number; mib_per_s: number };
  // Alternated, medians of 3: the two forms see the same load.
  const smalls: Rate[] = [];
  const awaits: Rate[] = [];
  for (let i = 0; i < 3; i++) {
    smalls.push(await rate(SMALL, 0));
    awaits.push(await rate(SMALL, 0, true));
  }
  const median = (rates: Rate[], key: keyof Rate): number => rates.map((r) => r[key]).sort((a, b) => a - b)[1]!;
  const small = { through: median(smalls, 'through'), puts: median(smalls, 'puts') };
  const awaitPut = { through: median(awaits, 'through'), puts: median(awaits, 'puts') };
  const mib = (await rate(200, 1 << 20)).through;
  const f = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(0)}k` : x.toFixed(0));
  console.log(`\n## Queue (child puts, parent gets; ${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc Queue | without the addon | Python mp.Queue | goal |');
  console.log('|---|---|---|---|---|');
  console.log(`| small ints, putNowait (messages/s) | ${f(small.through)} | ${f(bare.small.through)} | ${f(py.small_per_s)} | >= 2x Python (without the addon: >= 1x) |`);
  console.log(`| small ints, await put (messages/s) | ${f(awaitPut.through)} | ${f(bare.awaitPut.through)} | ${f(py.small_per_s)} | >= 2x Python |`);
  // Python's q.put only appends to a list: its feeder thread pickles, so its loop is no yardstick for ours.
  const pyLoop = `${f(py.puts_per_s)} (q.put; its feeder thread pickles)`;
  console.log(`| the producer's loop of putNowait (puts per CPU second) | ${f(small.puts)} | ${f(bare.small.puts)} | ${pyLoop} | (what await put is measured against) |`);
  console.log(
    `| the producer's loop of await put (puts per CPU second) | ${f(awaitPut.puts)} (${(small.puts / awaitPut.puts).toFixed(2)}x the cost of putNowait) | ${f(bare.awaitPut.puts)} | ${pyLoop} | <= 1.2x the cost of putNowait |`,
  );
  console.log(`| 1 MiB items (MiB/s) | ${mib.toFixed(0)} | ${bare.mib.toFixed(0)} | ${py.mib_per_s.toFixed(0)} | >= 1024 MiB/s |`);
}
