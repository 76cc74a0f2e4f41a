// `npm run bench`, Pipe part: ping-pong round trip of a small object, and
// one-way bandwidth of 1 MiB and 16 MiB messages, for multiproc's Pipe,
// Python's mp.Pipe and a raw length-framed Node pipe, measured in one run.
import { execFileSync, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pipe, Process } from 'multiproc';
import { blast, echo } from './targets.js';

const SMALL = { a: 1, b: 'hello', c: [1, 2, 3] };
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 10000);

type RoundTrip = () => Promise<unknown>;

/** A multiproc Pipe to an echo child: one round trip per call. */
async function pipeEcho(): Promise<{ roundTrip: RoundTrip; stop: () => Promise<void>; pid: number }> {
  const [a, b] = Pipe();
  const p = new Process({ target: echo, args: [b] });
  p.start();
  b.close();
  return {
    roundTrip: async () => {
      a.send(SMALL);
      return a.recv();
    },
    stop: async () => {
      a.close();
      await p.join();
    },
    pid: p.pid!,
  };
}

/** Microseconds per round trip over `n` sequential round trips. */
async function timeRoundTrips(roundTrip: RoundTrip, n: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await roundTrip();
  return ((performance.now() - t) / n) * 1000;
}

async function pipeBandwidth(size: number, count: number): Promise<number> {
  const [a, b] = Pipe();
  const p = new Process({ target: blast, args: [b, size, count] });
  p.start();
  b.close();
  a.send('go');
  const t = performance.now();
  for (let i = 0; i < count; i++) await a.recvBytes();
  const mib = (size * count) / ((performance.now() - t) / 1000) / 2 ** 20;
  a.close();
  await p.join();
  return mib;
}

/** The floor: a bare node child echoing 4-byte-length frames of JSON on fd 3, with the least code that works. */
function rawEcho(): { roundTrip: RoundTrip; stop: () => void; pid: number } {
  const code = `const s = new (require('net').Socket)({ fd: 3, readable: true, writable: true }); let buf = Buffer.alloc(0);
    s.on('data', (d) => { buf = buf.length ? Buffer.concat([buf, d]) : d; while (buf.length >= 4) { const n = buf.readUInt32BE(0); if (buf.length < 4 + n) break; s.write(buf.subarray(0, 4 + n)); buf = buf.subarray(4 + n); } });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const socket = child.stdio[3] as Socket;
  let pending: ((body: Buffer) => void) | null = null;
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (buf.length < 4 + n) break;
      const body = buf.subarray(4, 4 + n);
      buf = buf.subarray(4 + n);
      pending?.(body);
    }
  });
  const roundTrip = (): Promise<unknown> =>
    new Promise((resolve) => {
      pending = (body) => resolve(JSON.parse(String(body)));
      const body = Buffer.from(JSON.stringify(SMALL));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(body.length);
      socket.write(Buffer.concat([head, body]));
    });
  return { roundTrip, stop: () => void child.kill(), pid: child.pid! };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const PYTHON_BENCH = fileURLToPath(new URL('../../bench/python/pipe_bench.py', import.meta.url));

interface RoundTrips {
  rt: number;
  raw: number;
  perRound: number;
  python: number;
}

/**
 * Round trips of multiproc's Pipe and of the raw pipe, interleaved, then
 * Python's (its own process, just after). `vcpus` 2: this process on vCPU 0
 * and the echo children on vCPU 1 (the caller has pinned this process).
 */
async function roundTrips(vcpus?: 1 | 2): Promise<RoundTrips> {
  // Interleaved rounds against the same two echo children, so that both see
  // the same moments of a shared machine; the ratio is taken per round.
  const pipe = await pipeEcho();
  const rawPipe = rawEcho();
  if (vcpus === 2) for (const pid of [pipe.pid, rawPipe.pid]) execFileSync('taskset', ['-p', '-c', '1', String(pid)], { stdio: 'ignore' });
  await timeRoundTrips(pipe.roundTrip, 500);
  await timeRoundTrips(rawPipe.roundTrip, 500);
  // Many short rounds: a round trip's cost flips between two modes (one vCPU
  // or two) from moment to moment, and the median of per-round ratios sees past that.
  const rounds = 21;
  const pipeUs: number[] = [];
  const rawUs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    pipeUs.push(await timeRoundTrips(pipe.roundTrip, Math.ceil(ROUND_TRIPS / rounds)));
    rawUs.push(await timeRoundTrips(rawPipe.roundTrip, Math.ceil(ROUND_TRIPS / rounds)));
  }
  await pipe.stop();
  rawPipe.stop();
  const pingpong = vcpus === 2 ? 'pingpong-two-vcpus' : 'pingpong';
  const python = (JSON.parse(execFileSync('python3', [PYTHON_BENCH, String(ROUND_TRIPS), pingpong], { encoding: 'utf8' })) as { pingpong_us: number }).pingpong_us;
  return { rt: median(pipeUs), raw: median(rawUs), perRound: median(pipeUs.map((x, i) => x / rawUs[i]!)), python };
}

/** `npm run bench -- pipe-rt [2]`: the round trips alone, as JSON (what the pinned runs below report). */
export async function benchPipeRoundTrips(vcpus?: string): Promise<void> {
  console.log(JSON.stringify(await roundTrips(vcpus === '2' ? 2 : 1)));
}

/**
 * The same round trips pinned with taskset: every process on one vCPU, where
 * no wake-up crosses vCPUs and what remains is the work each side does; or
 * this side on one vCPU and the echoes on the other, where every message
 * wakes the other vCPU. Unpinned, the scheduler picks one or the other from
 * moment to moment, and for each pair of processes on its own. Null where
 * taskset is missing (or the machine has one vCPU).
 */
function pinnedRoundTrips(vcpus: 1 | 2): RoundTrips | null {
  try {
    const script = fileURLToPath(new URL('./index.js', import.meta.url));
    const out = execFileSync('taskset', ['-c', '0', process.execPath, script, 'pipe-rt', String(vcpus)], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()!) as RoundTrips;
  } catch {
    return null;
  }
}

/** `npm run bench -- pipe-noaddon`: what the table's no-addon column shows, measured in a process with MULTIPROC_NO_NATIVE=1, as JSON. */
export async function benchPipeNoAddon(): Promise<void> {
  const pipe = await pipeEcho();
  await timeRoundTrips(pipe.roundTrip, 500);
  const rounds = 21;
  const us: number[] = [];
  for (let i = 0; i < rounds; i++) us.push(await timeRoundTrips(pipe.roundTrip, Math.ceil(ROUND_TRIPS / rounds)));
  await pipe.stop();
  console.log(JSON.stringify({ rt: median(us), mib1: await pipeBandwidth(1 << 20, 200), mib16: await pipeBandwidth(16 << 20, 20) }));
}

/** The no-addon figures, from a child process of this run (the addon is chosen once per process). */
function noAddonFigures(): { rt: number; mib1: number; mib16: number } {
  const script = fileURLToPath(new URL('./index.js', import.meta.url));
  const out = execFileSync(process.execPath, [script, 'pipe-noaddon'], { env: { ...process.env, MULTIPROC_NO_NATIVE: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()!) as { rt: number; mib1: number; mib16: number };
}

export async function benchPipe(): Promise<void> {
  const py = JSON.parse(execFileSync('python3', [PYTHON_BENCH, String(ROUND_TRIPS)], { encoding: 'utf8' })) as { mib_1: number; mib_16: number };
  const bare = noAddonFigures();
  const free = await roundTrips();
  const pinned = pinnedRoundTrips(1);
  const crossing = pinnedRoundTrips(2);
  const mib1 = await pipeBandwidth(1 << 20, 200);
  const mib16 = await pipeBandwidth(16 << 20, 20);
  const f = (x: number): string => x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);
  console.log(`\n## Pipe (${ROUND_TRIPS} round trips; one-way bandwidth child → parent; ${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc Pipe | without the addon | raw framed node pipe | Python mp.Pipe |');
  console.log('|---|---|---|---|---|');
  console.log(`| ping-pong round trip, small object (us) | ${f(free.rt)} | ${f(bare.rt)} | ${f(free.raw)} | ${f(free.python)} |`);
  if (pinned !== null) console.log(`| the same, all on one vCPU (us) | ${f(pinned.rt)} | | ${f(pinned.raw)} | ${f(pinned.python)} |`);
  if (crossing !== null) console.log(`| the same, echo on the other vCPU (us) | ${f(crossing.rt)} | | ${f(crossing.raw)} | ${f(crossing.python)} |`);
  console.log(`| 1 MiB messages (MiB/s) | ${f(mib1)} | ${f(bare.mib1)} | | ${f(py.mib_1)} |`);
  console.log(`| 16 MiB messages (MiB/s) | ${f(mib16)} | ${f(bare.mib16)} | | ${f(py.mib_16)} |`);
  console.log('\n(Round trips between two processes are bimodal on this VM: about 5 us on one vCPU, 40+ us across two. Compare within a run.)');
  console.log(`\n| target | measured | goal |\n|---|---|---|`);
  console.log(`| Pipe round trip / Python mp.Pipe | ${f(free.rt / free.python)}x | <= 1x |`);
  if (pinned !== null) console.log(`| the same, on one vCPU | ${f(pinned.rt / pinned.python)}x | <= 1x |`);
  if (crossing !== null) console.log(`| the same, across two vCPUs | ${f(crossing.rt / crossing.python)}x | <= 1x |`);
  console.log(`| Pipe round trip / raw framed pipe (median of per-round ratios) | ${f(free.perRound)}x | <= 1.3x |`);
  if (pinned !== null) console.log(`| the same, on one vCPU | ${f(pinned.perRound)}x | <= 1.3x |`);
  if (crossing !== null) console.log(`| the same, across two vCPUs | ${f(crossing.perRound)}x | <= 1.3x |`);
  console.log(`| 16 MiB messages | ${f(mib16 / 1024)} GiB/s | >= 1.5 GiB/s |`);
  console.log(`| without the addon: round trip / the addon's | ${f(bare.rt / free.rt)}x | <= 2x |`);
}
