// The Pool example's CPU-bound map, run by `multiproc worker` processes
// through Redis instead of local workers: one option changes. Here both
// workers run on this machine; on a cluster each runs on its own machine:
//   npx multiproc worker redis://host:6379/0 --queue primes --processes 4 --root /path/to/project
// Run: REDIS_URL=redis://127.0.0.1:6379/0 npx tsx examples/distributed.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainModule, Pool } from 'multiproc';
import { countPrimes } from './pool.js';

/** The Pool example's prime count of [from, to), and where it was counted. */
export function countPrimesWhere(range: [number, number]): { count: number; where: string } {
  return { count: countPrimes(range), where: `${hostname()} pid ${process.pid}` };
}

/** Starts `multiproc worker` (this package's bin) for the queue; resolves once it serves. */
function startWorker(url: string, queue: string, root: string): Promise<ChildProcess> {
  const bin = join(dirname(createRequire(import.meta.url).resolve('multiproc/package.json')), 'bin', 'multiproc.mjs');
  // --import tsx: these workers load this .ts file; workers running compiled .js need no flag.
  const child = spawn(process.execPath, ['--import', 'tsx', bin, 'worker', url, '--queue', queue, '--processes', '2', '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (data: Buffer) => data.toString().includes('serving queue') && resolve(child));
    child.on('exit', (code) => reject(new Error(`multiproc worker exited (${code})`)));
  });
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const workers = await Promise.all([startWorker(url, 'primes', root), startWorker(url, 'primes', root)]);
  const ranges: [number, number][] = Array.from({ length: 8 }, (_, i) => [i * 50_000, (i + 1) * 50_000]);
  {
    // The local Pool's `new Pool()`, with one option more (and the queue and root the workers use).
    await using pool = new Pool({ processes: 4, backend: url, queue: 'primes', root });
    const results = await pool.map(countPrimesWhere, ranges, 1);
    for (const [i, { count, where }] of results.entries()) console.log(`[${ranges[i]![0]}, ${ranges[i]![1]}): ${count} primes, counted on ${where}`);
    console.log(`${results.reduce((sum, r) => sum + r.count, 0)} primes below ${ranges.at(-1)![1]}, in ${new Set(results.map((r) => r.where)).size} processes`);
  }
  for (const worker of workers) worker.kill('SIGTERM'); // graceful: each finishes what it holds
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))));
}

if (isMainModule(import.meta)) await main();
