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
import { bigHeapTimed, empty, jsonTimed, primesTimed, stamp } from './targets.js';

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

interface Memory {
  rss: number;
  /** Pages of this process alone (not the node binary's text, shared with every node): what it really costs. */
  private: number;
}

function memoryMiB(pid: number): Memory {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(rollup)![1]);
  return { rss: kib('Rss') / 1024, private: (kib('Private_Clean') + kib('Private_Dirty')) / 1024 };
}

/** The floor of any warm start+join in Node: an idle node child gets one message on a socket and exits. */
async function warmNodeFloor(): Promise<number> {
  const code = "new (require('net').Socket)({ fd: 3, readable: true }).on('data', () => process.exit(0))";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  await sleep(250);
  const t = performance.now();
  (child.stdio[3] as NodeJS.WritableStream).write('x');
  await new Promise((resolve) => child.on('exit', resolve));
  return performance.now() - t;
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

async function idleMemory(): Promise<{ spare: Memory; bare: Memory }> {
  const Fs = getContext('forkserver').Process;
  await startJoin(Fs);
  await sleep(800); // the replacement spare has booted and imported main
  const [spare] = childPids();
  const bare = spawn(process.execPath, ['-e', "new (require('net').Socket)({ fd: 3, readable: true })"], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  await sleep(800);
  const result = { spare: memoryMiB(spare!), bare: memoryMiB(bare.pid!) };
  bare.kill();
  return result;
}

type Row = Record<string, number>;

const BURSTS = [1, 2, 4, 8] as const;

/** Starts k processes, then joins them all: the everyday `for ... start()` then `join()`. */
async function burst(P: typeof Process, k: number): Promise<number> {
  const t = performance.now();
  const ps = Array.from({ length: k }, () => new P({ target: empty }));
  for (const p of ps) p.start();
  for (const p of ps) await p.join();
  return performance.now() - t;
}

/** Rounds of each burst size back to back, no pause between them: the program's own pace. */
async function bursts(P: typeof Process): Promise<Row> {
  const row: Row = {};
  await burst(P, 1); // the first start boots the forkserver
  for (const k of BURSTS) {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) times.push(await burst(P, k));
    row[k] = median(times);
  }
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) times.push(await startJoin(P));
  row.backToBack = median(times);
  return row;
}

/** Wall time of a whole program, median of a few runs. */
function wall(command: string, args: string[], runs = Math.min(5, ROUNDS)): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    execFileSync(command, args, { stdio: 'ignore' });
    times.push(performance.now() - t);
  }
  return median(times);
}

/** How the parent runs: the forkserver's zygote loads the same hooks (tsx) as the parent. */
const runtime = process.execArgv.some((a) => a.includes('tsx')) ? 'tsx' : 'node';

/** Burst table, side by side with Python, and the eight-process program timed whole. */
export async function benchBursts(): Promise<void> {
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/process_bench.py', import.meta.url)), String(ROUNDS)], { encoding: 'utf8' }),
  ) as Record<string, { start_join: number; bursts: Record<string, number> }>;
  const fs = await bursts(getContext('forkserver').Process);
  const sp = await bursts(getContext('spawn').Process);
  const f = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(x < 10 ? 2 : 1));
  const how = forkserverKind();
  console.log(`\n## Bursts: start k processes, then join all (median of ${ROUNDS} back-to-back rounds, ms; ${process.version} under ${runtime}, forkserver = ${how}; python3 in the same run)\n`);
  console.log('| burst of | multiproc forkserver | multiproc spawn | Python fork | Python forkserver | Python spawn |');
  console.log('|---|---|---|---|---|---|');
  for (const k of BURSTS) {
    console.log(`| ${k} | ${f(fs[k])} | ${f(sp[k])} | ${f(py.fork!.bursts[k])} | ${f(py.forkserver!.bursts[k])} | ${f(py.spawn!.bursts[k])} |`);
  }
  console.log(`| back to back, start+join | ${f(fs.backToBack)} | ${f(sp.backToBack)} | ${f(py.fork!.start_join)} | ${f(py.forkserver!.start_join)} | ${f(py.spawn!.start_join)} |`);
  console.log(`\n| target | measured | goal |\n|---|---|---|`);
  console.log(`| burst of 8 / Python fork | ${f(fs[8]! / py.fork!.bursts[8]!)}x | <= 1.5x (and < Python forkserver: ${f(fs[8]! / py.forkserver!.bursts[8]!)}x) |`);
  console.log(`| burst of 2 / Python forkserver | ${f(fs[2]! / py.forkserver!.bursts[2]!)}x | <= 1.5x |`);
  console.log(`| back to back / Python forkserver | ${f(fs.backToBack! / py.forkserver!.start_join)}x | <= 1.5x |`);

  const root = fileURLToPath(new URL('../../', import.meta.url));
  const eightTs = join(root, 'bench/programs/eight.ts');
  const eightPy = join(root, 'bench/python/eight.py');
  const npx = wall('npx', ['tsx', eightTs]);
  const tsx = wall(process.execPath, ['--import', 'tsx', eightTs]);
  const python = wall('python3', [eightPy]);
  const bare = wall('npx', ['tsx', '-e', '0']);
  console.log(`\n## The eight-process program, whole (median of ${Math.min(5, ROUNDS)} runs, ms; ${process.version})\n`);
  console.log('| npx tsx eight.ts | node --import tsx eight.ts | python3 eight.py | npx tsx -e 0 (its floor) |');
  console.log('|---|---|---|---|');
  console.log(`| ${f(npx)} | ${f(tsx)} | ${f(python)} | ${f(bare)} |`);
  console.log(`\nnpx tsx eight.ts / python3 eight.py: ${f(npx / python)}x (goal < 2x)`);
}

/** What the forkserver is on this Node (as src/launch/zygote.ts decides it). */
function forkserverKind(): string {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const forced = process.env.MULTIPROC_FORK;
  const forks = forced === undefined ? process.platform === 'linux' && (major >= 24 || (major === 22 && minor >= 15)) : forced === '1';
  return forks ? 'fork from a zygote' : 'warm spares';
}

/** The price of `--single-threaded`: the same CPU-bound tasks in a forked child and in a fresh node. */
export async function benchSingleThreaded(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-bench-'));
  const tasks = { 'prime count (the Pool example)': primesTimed, 'JSON round trips (allocation-heavy)': jsonTimed, 'big heap (~150 MB live, churning)': bigHeapTimed };
  const runs = Math.max(3, Math.min(ROUNDS, 5));
  const timeIn = async (P: typeof Process, task: (file: string) => void): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const file = join(dir, `t-${Math.random()}`);
      const p = new P({ target: task, args: [file] });
      p.start();
      await p.join();
      times.push(Number(readFileSync(file, 'utf8')));
    }
    return median(times);
  };
  const f = (x: number): string => x.toFixed(x < 10 ? 2 : 1);
  console.log(`\n## The price of --single-threaded: task time inside the child (median of ${runs}, ms; ${process.version}, forkserver = ${forkserverKind()})\n`);
  console.log('| task | forkserver child | spawned node | ratio |');
  console.log('|---|---|---|---|');
  for (const [name, task] of Object.entries(tasks)) {
    const forked = await timeIn(getContext('forkserver').Process, task);
    const spawned = await timeIn(getContext('spawn').Process, task);
    console.log(`| ${name} | ${f(forked)} | ${f(spawned)} | ${f(forked / spawned)}x |`);
  }
  rmSync(dir, { recursive: true, force: true });
}

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
  // Interleaved, and spaced so that no sample shares the CPUs with a booting
  // replacement spare (2 cores); the forkserver samples find a spare ready.
  for (let i = 0; i < ROUNDS; i++) {
    add('node.start_join', await bareNode(['-e', '0']));
    add('node.warm_floor', await warmNodeFloor());
    add('spawn.start_join', await startJoin(Sp));
    add('spawn.to_target', await toTarget(Sp, dir));
    await sleep(300);
    add('forkserver.start_join', await startJoin(Fs));
    await sleep(300);
    add('forkserver.to_target', await toTarget(Fs, dir));
    await sleep(300);
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
  console.log(`\nfloor of any warm start+join in Node (an idle node child gets a message and exits): ${f(m['node.warm_floor']!)} ms`);
  console.log(`forkserver back to back (each replacement spare still booting): ${f(sustained)} ms per start+join`);
  console.log(`\n| target | measured | goal |\n|---|---|---|`);
  console.log(`| forkserver start+join / Python fork | ${f(m['forkserver.start_join']! / py.fork!.start_join)}x | <= 1.5x |`);
  console.log(`| forkserver start → target | ${f(m['forkserver.to_target']!)} ms | < 2 ms |`);
  // Paired: each round measured both back to back, so a slow moment of the shared machine hits both.
  const paired = median(samples['spawn.start_join']!.map((x, i) => x / samples['node.start_join']![i]!));
  console.log(`| spawn start+join / node -e 0 (median of per-round ratios) | ${f(paired)}x | <= 1.6x (aim 1.3x) |`);
  const idle = forkserverKind() === 'warm spares' ? 'idle warm spare' : 'idle zygote';
  console.log(`| ${idle} / bare idle node, private memory | ${f(memory.spare.private)} / ${f(memory.bare.private)} MiB | spare <= bare |`);
  console.log(`| ${idle} / bare idle node, RSS (incl. shared node binary) | ${f(memory.spare.rss)} / ${f(memory.bare.rss)} MiB | |`);
}

