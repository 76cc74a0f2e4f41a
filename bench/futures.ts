// `npm run bench futures`: multiproc/futures' ProcessPoolExecutor against the
// Pool it is built on (submit against apply, map against imap), in
// alternating rounds, and Python's ProcessPoolExecutor and Pool in the same run.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Pool } from 'multiproc';
import { ProcessPoolExecutor } from 'multiproc/futures';

const ITEMS = Number(process.env.BENCH_FUTURES_ITEMS ?? 20_000);
const CALLS = 300;
const ROUNDS = 11;
const PY_ITEMS = 5_000;

export function sqr(x: number): number {
  return x * x;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** The mean round trip of CALLS sequential calls, in microseconds. */
async function roundTrip(call: (x: number) => PromiseLike<unknown>): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < CALLS; i++) await call(i);
  return ((performance.now() - t) / CALLS) * 1000;
}

/** Items per second through a lazy iterator of results. */
async function throughput(results: AsyncIterable<number>): Promise<number> {
  const t = performance.now();
  let sum = 0;
  for await (const r of results) sum += r;
  if (sum < 0) throw new Error('unreachable');
  return ITEMS / ((performance.now() - t) / 1000);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export async function benchFutures(): Promise<void> {
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/futures_bench.py', import.meta.url)), String(PY_ITEMS), String(CALLS)], { encoding: 'utf8' }),
  ) as { submit_rt_us: number; apply_rt_us: number; map_per_s: number; imap_per_s: number };

  await using pool = new Pool(2);
  await using ex = new ProcessPoolExecutor({ maxWorkers: 2 });
  await pool.map(sqr, range(1000), 1);
  for await (const _ of ex.map(sqr, range(1000)));

  // Alternating rounds, compared within each round: placement on the vCPUs drifts.
  const submit: number[] = [];
  const apply: number[] = [];
  const map: number[] = [];
  const imap: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    submit.push(await roundTrip((x) => ex.submit(sqr, x)));
    apply.push(await roundTrip((x) => pool.apply(sqr, [x])));
    map.push(await throughput(ex.map(sqr, range(ITEMS))));
    imap.push(await throughput(pool.imap(sqr, range(ITEMS))));
  }
  const ratio = (a: number[], b: number[]): number => median(a.map((x, i) => x / b[i]!));
  const k = (x: number): string => `${(x / 1000).toFixed(1)}k`;
  console.log(`\n## concurrent.futures (2 workers; medians of ${ROUNDS} alternating rounds; ${process.version} and python3 in the same run)\n`);
  console.log('| | multiproc ProcessPoolExecutor | multiproc Pool | Python ProcessPoolExecutor | Python Pool | goal |');
  console.log('|---|---|---|---|---|---|');
  console.log(
    `| submit(f, x) round trip vs apply (us) | ${median(submit).toFixed(0)} | ${median(apply).toFixed(0)} | ${py.submit_rt_us.toFixed(0)} | ${py.apply_rt_us.toFixed(0)} | <= 1.1x apply (${ratio(submit, apply).toFixed(2)}x, median of per-round ratios) |`,
  );
  console.log(
    `| map(f, items) vs imap, chunksize 1 (items/s) | ${k(median(map))} | ${k(median(imap))} | ${k(py.map_per_s)} | ${k(py.imap_per_s)} | >= 1/1.1 of imap (${ratio(map, imap).toFixed(2)}x) |`,
  );
}
