// `npm run bench`, managers part: a proxy call against a Pipe round trip in
// the same process, a Queue proxy's put then get, starting a Manager to its first proxy (also the
// first in a fresh program, the forkserver started by it), and 4 processes
// doing 10,000 dict updates each through one manager; multiproc against
// Python's multiprocessing.managers, measured in the same run. With
// MULTIPROC_BENCH_FORKING_NODE=/path/to/node (a Node 24), the Manager() start
// and the 4-process program are measured under that node too, where the
// forkserver forks a zygote.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { activeChildren, getContext, Manager, Pipe, Process } from 'multiproc';
import { updater } from './manager-targets.js';
import { echo } from './targets.js';

const N_CALLS = 5_000;
const N_UPDATES = 10_000;
const N_WORKERS = 4;
const PYTHON_BENCH = fileURLToPath(new URL('../../bench/python/managers_bench.py', import.meta.url));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface PythonFigures {
  start_ms: number;
  pipe_us: number;
  dict_get_us: number;
  list_append_us: number;
  queue_put_get_us: number;
  updates_ms: number;
  updates_cpu: UpdatesCpu;
}

/** CPU time per update of the 4-process program, in us: the clients' (their first and second halves) and the server's; and the clients' page faults per update. */
interface UpdatesCpu {
  first_user: number;
  first_sys: number;
  second_user: number;
  second_sys: number;
  first_faults: number;
  second_faults: number;
  server_user: number;
  server_sys: number;
}

interface CallFigures {
  pipe: number;
  dictGet: number;
  listAppend: number;
  /** A Queue proxy's put then get: the get's reply asks for a receipt, which the client sends as it reads it. */
  queuePutGet: number;
  /** Median of per-round ratios of a proxy call to a Pipe round trip, measured interleaved. */
  ratio: number;
}

async function timeCalls(fn: () => Promise<unknown>, n: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return ((performance.now() - t) / n) * 1e3;
}

/** A proxy call and a Pipe round trip of the same request, in interleaved rounds. */
async function calls(): Promise<CallFigures> {
  await using manager = await Manager();
  const d = await manager.dict<string, number>({ a: 1 });
  const l = await manager.list<number>();
  const [a, b] = Pipe();
  const p = new Process({ target: echo, args: [b] });
  p.start();
  b.close();
  const request = [1, 5, 'get', ['a']];
  const pipe = async (): Promise<unknown> => {
    a.send(request);
    return a.recv();
  };
  const get = (): Promise<unknown> => d.get('a');
  await timeCalls(pipe, 500);
  await timeCalls(get, 500);
  const rounds = 21;
  const pipeUs: number[] = [];
  const getUs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    pipeUs.push(await timeCalls(pipe, Math.ceil(N_CALLS / rounds)));
    getUs.push(await timeCalls(get, Math.ceil(N_CALLS / rounds)));
  }
  const listAppend = await timeCalls(() => l.append(1), N_CALLS);
  const q = await manager.Queue<number>();
  const queuePutGet = await timeCalls(async () => {
    await q.put(1);
    await q.get();
  }, N_CALLS);
  a.close();
  await p.join();
  return { pipe: median(pipeUs), dictGet: median(getUs), listAppend, queuePutGet, ratio: median(getUs.map((g, i) => g / pipeUs[i]!)) };
}

/** `npm run bench -- managers-rt`: the call figures alone, as JSON (what the pinned run reports). */
export async function benchManagerCalls(): Promise<void> {
  console.log(JSON.stringify(await calls()));
}

/** The same, with this process and everything it starts on vCPU 0; null where taskset is missing. */
function pinned(): { ours: CallFigures; python: PythonFigures } | null {
  try {
    const script = fileURLToPath(new URL('./index.js', import.meta.url));
    const ours = JSON.parse(execFileSync('taskset', ['-c', '0', process.execPath, script, 'managers-rt'], { encoding: 'utf8' }).trim().split('\n').pop()!) as CallFigures;
    const python = JSON.parse(execFileSync('taskset', ['-c', '0', 'python3', PYTHON_BENCH], { encoding: 'utf8' })) as PythonFigures;
    return { ours, python };
  } catch {
    return null;
  }
}

/** `npm run bench -- managers-first`: a program's first Manager() to its first proxy, the forkserver started by it (ms, as JSON). */
export async function benchManagerFirst(): Promise<void> {
  const t = performance.now();
  const manager = await Manager({ context: getContext('forkserver') });
  await manager.dict();
  console.log(JSON.stringify({ ms: performance.now() - t }));
  await manager.shutdown();
}

/**
 * The first Manager() of a program to its first proxy, median of 5 programs:
 * the plain figure beside the ones measured with the forkserver running,
 * since a program that starts one manager waits for the forkserver's boot
 * (`node`: which node runs ours; Python's forkserver context for Python).
 */
function firstInProgram(node: string | null): number {
  const runs: number[] = [];
  const script = fileURLToPath(new URL('./index.js', import.meta.url));
  for (let i = 0; i < 5; i++) {
    const out = node === null ? execFileSync('python3', [PYTHON_BENCH, 'first'], { encoding: 'utf8' }) : execFileSync(node, [script, 'managers-first'], { encoding: 'utf8' });
    runs.push((JSON.parse(out.trim().split('\n').pop()!) as { ms: number }).ms);
  }
  return median(runs);
}

/** Time for the forkserver to have its next warm process ready after a start (a spare boots a node, on Node 20). */
const WARM_AGAIN_MS = 500;

/**
 * `await Manager()` to its first proxy, on the forkserver context (median of
 * 7, each shut down after), back to back or `pauseMs` apart. Back to back, on
 * Node 20, every other start waits for a spare to boot, which measures the
 * spare pool rather than the manager; apart, the forkserver has its warm
 * process ready, as a program that starts its manager finds it.
 */
async function startup(pauseMs: number): Promise<number> {
  const times: number[] = [];
  const context = getContext('forkserver');
  for (let i = 0; i < 7; i++) {
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const t = performance.now();
    const manager = await Manager({ context });
    await manager.dict();
    times.push(performance.now() - t);
    await manager.shutdown();
  }
  return median(times);
}

interface StartFigures {
  version: string;
  backToBack: number;
  apart: number;
  updatesMs: number;
  updatesCpu: UpdatesCpu;
}

/** `npm run bench -- managers-start`: Manager() to its first proxy, back to back and apart, and the 4-process program, as JSON. */
export async function benchManagerStart(): Promise<void> {
  const backToBack = await startup(0);
  const apart = await startup(WARM_AGAIN_MS);
  const { ms: updatesMs, cpu: updatesCpu } = await updates();
  console.log(JSON.stringify({ version: process.version, backToBack, apart, updatesMs, updatesCpu } satisfies StartFigures));
}

/**
 * The same under the node that MULTIPROC_BENCH_FORKING_NODE names (a Node 24,
 * where the forkserver forks a zygote, when this run's node hands jobs to
 * spares, which boot a node for each process past the ones kept warm), run
 * after the rest; null when unset.
 */
function onForkingNode(): StartFigures | null {
  const node = process.env.MULTIPROC_BENCH_FORKING_NODE;
  if (node === undefined || node === '') return null;
  const script = fileURLToPath(new URL('./index.js', import.meta.url));
  return JSON.parse(execFileSync(node, [script, 'managers-start'], { encoding: 'utf8' }).trim().split('\n').pop()!) as StartFigures;
}

/** A process's CPU time so far, [user, system] in us, from /proc (Linux; the kernel counts in ticks of 10 ms). */
function cpuOf(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) * 1e4, Number(fields[12]) * 1e4];
}

/** 4 processes, 10,000 awaited `d.set(key, i)` each, through one manager: start to last join, and CPU per update. */
async function updates(): Promise<{ ms: number; cpu: UpdatesCpu }> {
  await using manager = await Manager();
  const d = await manager.dict<string, number | number[]>();
  const server = activeChildren().find((p) => p.name.startsWith('SyncManager'))!.pid!;
  const serverBefore = cpuOf(server);
  const t = performance.now();
  const workers = Array.from({ length: N_WORKERS }, (_, i) => new Process({ target: updater, args: [d, `k${i}`, N_UPDATES] }));
  for (const w of workers) w.start();
  for (const w of workers) await w.join();
  const ms = performance.now() - t;
  const serverAfter = cpuOf(server);
  const sums = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < N_WORKERS; i++) {
    if ((await d.get(`k${i}`)) !== N_UPDATES - 1) throw new Error(`lost updates for k${i}`);
    ((await d.get(`cpu:k${i}`)) as number[]).forEach((us, j) => (sums[j]! += us));
  }
  const half = (N_WORKERS * N_UPDATES) / 2;
  const total = N_WORKERS * N_UPDATES;
  return {
    ms,
    cpu: {
      first_user: sums[0]! / half,
      first_sys: sums[1]! / half,
      second_user: sums[2]! / half,
      second_sys: sums[3]! / half,
      first_faults: sums[4]! / half,
      second_faults: sums[5]! / half,
      server_user: (serverAfter[0] - serverBefore[0]) / total,
      server_sys: (serverAfter[1] - serverBefore[1]) / total,
    },
  };
}

/** `npm run bench -- managers-updates [runs]`: the 4-process program alone, each run as a line of JSON (for A/B runs and profilers). */
export async function benchManagerUpdates(runs = 1): Promise<void> {
  for (let i = 0; i < runs; i++) console.log(JSON.stringify(await updates()));
}

export async function benchManagers(): Promise<void> {
  const py = JSON.parse(execFileSync('python3', [PYTHON_BENCH], { encoding: 'utf8' })) as PythonFigures;
  const free = await calls();
  const one = pinned();
  const start = await startup(0);
  const startApart = await startup(WARM_AGAIN_MS);
  const { ms: busy, cpu } = await updates();
  const forking = onForkingNode();
  const first = firstInProgram(process.execPath);
  const firstForking = forking === null ? null : firstInProgram(process.env.MULTIPROC_BENCH_FORKING_NODE!);
  const firstPython = firstInProgram(null);
  const pcpu = py.updates_cpu;
  const f = (x: number): string => x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);
  console.log(`\n## Managers (${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc | Python multiprocessing | goal |');
  console.log('|---|---|---|---|');
  console.log(`| Pipe round trip of a small request, for reference (us) | ${f(free.pipe)} | ${f(py.pipe_us)} | |`);
  console.log(`| dict proxy get, d['a'] (us per call) | ${f(free.dictGet)} | ${f(py.dict_get_us)} | <= 1.3x our Pipe round trip |`);
  console.log(`| list proxy append (us per call) | ${f(free.listAppend)} | ${f(py.list_append_us)} | |`);
  console.log(`| Queue proxy put then get (us per pair) | ${f(free.queuePutGet)} | ${f(py.queue_put_get_us)} | |`);
  if (one !== null) {
    console.log(`| dict proxy get, everything on one vCPU (us per call) | ${f(one.ours.dictGet)} | ${f(one.python.dict_get_us)} | <= Python |`);
    console.log(`| Pipe round trip, one vCPU (us) | ${f(one.ours.pipe)} | ${f(one.python.pipe_us)} | |`);
  }
  console.log(`| Manager() to its first proxy, back to back (ms) | ${f(start)} (forkserver) | ${f(py.start_ms)} (fork) | < 15 ms |`);
  console.log(`| Manager() to its first proxy, ${WARM_AGAIN_MS / 1000} s apart (ms) | ${f(startApart)} (forkserver) | | < 15 ms |`);
  if (forking !== null) {
    console.log(`| Manager() to its first proxy, back to back, ${forking.version} (ms) | ${f(forking.backToBack)} (forkserver) | | < 15 ms |`);
    console.log(`| Manager() to its first proxy, ${WARM_AGAIN_MS / 1000} s apart, ${forking.version} (ms) | ${f(forking.apart)} (forkserver) | | < 15 ms |`);
  }
  console.log(`| Manager() to its first proxy, the first in a program: the forkserver starts (ms, median of 5 programs) | ${f(first)} | ${f(firstPython)} (forkserver) | |`);
  if (firstForking !== null) console.log(`| the same, ${forking!.version} (ms) | ${f(firstForking)} | ${f(firstPython)} (forkserver) | |`);
  console.log(`| ${N_WORKERS} processes x ${N_UPDATES} dict updates through one manager (ms) | ${f(busy)} | ${f(py.updates_ms)} | faster than Python |`);
  const split = (user: number, sys: number): string => `${f(user + sys)} (${f(user)} + ${f(sys)})`;
  if (forking !== null) console.log(`| the same, ${forking.version} (ms) | ${f(forking.updatesMs)} | ${f(py.updates_ms)} | faster than Python |`);
  console.log(`| the same, a client's CPU per update, its first ${N_UPDATES / 2} (us, user + sys) | ${split(cpu.first_user, cpu.first_sys)} | ${split(pcpu.first_user, pcpu.first_sys)} | |`);
  console.log(`| the same, a client's CPU per update, its last ${N_UPDATES / 2} (us, user + sys) | ${split(cpu.second_user, cpu.second_sys)} | ${split(pcpu.second_user, pcpu.second_sys)} | |`);
  console.log(`| the same, the server's CPU per update (us, user + sys; 10 ms ticks) | ${split(cpu.server_user, cpu.server_sys)} | ${split(pcpu.server_user, pcpu.server_sys)} | |`);
  console.log(`| the same, a client's page faults per update, its first / last ${N_UPDATES / 2} | ${f(cpu.first_faults)} / ${f(cpu.second_faults)} | ${f(pcpu.first_faults)} / ${f(pcpu.second_faults)} | |`);
  if (forking !== null) {
    const fc = forking.updatesCpu;
    console.log(`| the same, ${forking.version}: a client's CPU per update, its first / last ${N_UPDATES / 2} (us, user + sys) | ${split(fc.first_user, fc.first_sys)} / ${split(fc.second_user, fc.second_sys)} | | |`);
    console.log(`| the same, ${forking.version}: a client's page faults per update, its first / last ${N_UPDATES / 2} | ${f(fc.first_faults)} / ${f(fc.second_faults)} | | |`);
  }
  console.log(`\n| target | measured | goal |\n|---|---|---|`);
  console.log(`| proxy call / Pipe round trip (median of interleaved rounds) | ${f(free.ratio)}x | <= 1.3x |`);
  if (one !== null) console.log(`| the same, on one vCPU | ${f(one.ours.ratio)}x | <= 1.3x |`);
  if (one !== null) console.log(`| proxy call / Python's, on one vCPU | ${f(one.ours.dictGet / one.python.dict_get_us)}x | <= 1x |`);
  console.log(`| Manager() to first proxy, back to back / ${WARM_AGAIN_MS / 1000} s apart | ${f(start)} / ${f(startApart)} ms | < 15 ms |`);
  if (forking !== null) console.log(`| the same, ${forking.version} | ${f(forking.backToBack)} / ${f(forking.apart)} ms | < 15 ms |`);
  console.log(`| ${N_WORKERS} x ${N_UPDATES} updates / Python's | ${f(busy / py.updates_ms)}x | < 1x |`);
  if (forking !== null) console.log(`| the same, ${forking.version} | ${f(forking.updatesMs / py.updates_ms)}x | < 1x |`);
}
