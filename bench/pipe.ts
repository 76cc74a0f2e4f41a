// `npm run bench`, Pipe part: ping-pong round trip of a small object, and
// one-way bandwidth of 1 MiB and 16 MiB messages, for multiproc's Pipe,
// Python's mp.Pipe and a raw length-framed Node pipe, measured in one run.
import { execFileSync, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pipe, Process } from 'multiproc';
import { blast, echo } from './targets.js';

const SMALL = { a: 1, b: 'hello', c: [1, 2, 3] };
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 5000);

async function pipePingPong(): Promise<number> {
  const [a, b] = Pipe();
  const p = new Process({ target: echo, args: [b] });
  p.start();
  b.close();
  for (let i = 0; i < 500; i++) {
    a.send(SMALL);
    await a.recv();
  }
  const t = performance.now();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    a.send(SMALL);
    await a.recv();
  }
  const us = ((performance.now() - t) / ROUND_TRIPS) * 1000;
  a.close();
  await p.join();
  return us;
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
async function rawPingPong(): Promise<number> {
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
  for (let i = 0; i < 500; i++) await roundTrip();
  const t = performance.now();
  for (let i = 0; i < ROUND_TRIPS; i++) await roundTrip();
  const us = ((performance.now() - t) / ROUND_TRIPS) * 1000;
  child.kill();
  return us;
}

export async function benchPipe(): Promise<void> {
  const py = JSON.parse(
    execFileSync('python3', [fileURLToPath(new URL('../../bench/python/pipe_bench.py', import.meta.url)), String(ROUND_TRIPS)], { encoding: 'utf8' }),
  ) as { pingpong_us: number; mib_1: number; mib_16: number };
  const rt = await pipePingPong();
  const raw = await rawPingPong();
  const mib1 = await pipeBandwidth(1 << 20, 200);
  const mib16 = await pipeBandwidth(16 << 20, 20);
  const f = (x: number): string => x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);
  console.log(`\n## Pipe (${ROUND_TRIPS} round trips; one-way bandwidth child → parent; ${process.version}, python3 in the same run)\n`);
  console.log('| | multiproc Pipe | raw framed node pipe | Python mp.Pipe |');
  console.log('|---|---|---|---|');
  console.log(`| ping-pong round trip, small object (us) | ${f(rt)} | ${f(raw)} | ${f(py.pingpong_us)} |`);
  console.log(`| 1 MiB messages (MiB/s) | ${f(mib1)} | | ${f(py.mib_1)} |`);
  console.log(`| 16 MiB messages (MiB/s) | ${f(mib16)} | | ${f(py.mib_16)} |`);
  console.log('\n(Round trips between two processes are bimodal on this VM: about 5 us on one vCPU, 40+ us across two. Compare within a run.)');
  console.log(`\n| target | measured | goal |\n|---|---|---|`);
  console.log(`| Pipe round trip / Python mp.Pipe | ${f(rt / py.pingpong_us)}x | <= 1x |`);
  console.log(`| Pipe round trip / raw framed pipe | ${f(rt / raw)}x | <= 1.3x |`);
  console.log(`| 16 MiB messages | ${f(mib16 / 1024)} GiB/s | >= 1.5 GiB/s |`);
}
