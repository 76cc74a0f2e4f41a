// `npm run bench`, Process part: start+join of an empty target and
// start-to-first-line-of-target for multiproc's forkserver and spawn, bare
// `node -e 0`, and Python's fork, forkserver and spawn, measured in one run;
// plus the idle memory of a warm spare against a bare idle node.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { getContext, type Process } from 'multiproc';
import { empty, stamp } from './targets.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const now = (): number => performance.timeOrigin + performance.now();

async function startJoin(P: typeof Process): Promise<number> {
  const t = performance.now();
  const p = new P({ target: empty });
  p.start();
  await p.join();
  return performance.now() - t;
}

async function toTarget(P: typeof Process, dir: string): Promise<number> {
  const file = join(dir, `stamp-${Math.random()}`);
  const p = new P({ target: stamp, args: [file] });
  const t0 = now();
  p.start();
  await p.join();
  return Number(readFileSync(file, 'utf8')) - t0;
}

function bareNode(args: string[]): Promise<number> {
  const t = performance.now();
  return new Promise((resolve) => spawn(process.execPath, args, { stdio: 'ignore' }).on('exit', () => resolve(performance.now() - t)));
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

function childPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

async function idleMemory(): Promise<{ spare: number; bare: number }> {
  const Fs = getContext('forkserver').Process;
  await startJoin(Fs);
  await sleep(800); // the replacement spare has booted and imported main
  const spares = childPids();
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  await sleep(800);
  const result = { spare: spares.length ? rssKiB(spares[0]!) / 1024 : NaN, bare: rssKiB(bare.pid!) / 1024 };
  bare.kill();
  return result;
}

type Row = Record<string, number>;

export async function benchProcess(): Promise<void> {
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/process_bench.py', import.meta.url)), String(ROUNDS)], { encoding: 'utf8' }),
  ) as Record<string, { start_join: number; to_target: number }>;
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-bench-'));
  const Fs = getContext('forkserver').Process;
  const Sp = getContext('spawn').Process;
  await startJoin(Fs); // starts the first spare
  const samples: Record<string, number[]> = {};
  const add = (key: string, value: number): void => void (samples[key] ??= []).push(value);
  for (let i = 0; i < ROUNDS; i++) {
    add('node.start_join', await bareNode(['-e', '0']));
    await sleep(250);
    add('forkserver.start_join', await startJoin(Fs));
    await sleep(250);
    add('forkserver.to_target', await toTarget(Fs, dir));
    add('spawn.start_join', await startJoin(Sp));
    add('spawn.to_target', await toTarget(Sp, dir));
  }
  // Back to back, without letting the replacement spare finish booting: the sustained rate.
  const t = performance.now();
  for (let i = 0; i < 10; i++) await startJoin(Fs);
  const sustained = (performance.now() - t) / 10;
  rmSync(dir, { recursive: true, force: true });
  const memory = await idleMemory();

  const m: Row = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : 'n/a');
  console.log(`\n## Process start (median of ${ROUNDS}, ms; ${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc forkserver | multiproc spawn | node -e 0 | Python fork | Python forkserver | Python spawn |');
  console.log('|---|---|---|---|---|---|---|');
  console.log(`| start+join, empty target | ${f(m['forkserver.start_join']!)} | ${f(m['spawn.start_join']!)} | ${f(m['node.start_join']!)} | ${f(py.fork!.start_join)} | ${f(py.forkserver!.start_join)} | ${f(py.spawn!.start_join)} |`);
  console.log(`| start → first line of target | ${f(m['forkserver.to_target']!)} | ${f(m['spawn.to_target']!)} | | ${f(py.fork!.to_target)} | ${f(py.forkserver!.to_target)} | ${f(py.spawn!.to_target)} |`);
  console.log(`\nforkserver back to back (replacement spare still booting): ${f(sustained)} ms per start+join`);
  console.log(`\n| target | measured | goal |\n|---|---|---|`);
  console.log(`| forkserver start+join / Python fork | ${f(m['forkserver.start_join']! / py.fork!.start_join)}x | <= 1.5x |`);
  console.log(`| forkserver start → target | ${f(m['forkserver.to_target']!)} ms | < 2 ms |`);
  console.log(`| spawn start+join / node -e 0 | ${f(m['spawn.start_join']! / m['node.start_join']!)}x | <= 1.6x (aim 1.3x) |`);
  console.log(`| idle warm spare RSS / bare idle node RSS | ${f(memory.spare)} / ${f(memory.bare)} MiB | spare <= bare |`);
}

