// Targets for the benchmarks: a child finds them here by name.
import { writeFileSync } from 'node:fs';
import { countPrimes } from '../examples/pool.js';
import { SharedMemory, type Barrier, type Connection, type Lock, type Queue, type Semaphore } from 'multiproc';

export function empty(): void {}

/** Records when the target began to run, in the same clock as the parent's `performance.timeOrigin + performance.now()`. */
export function stamp(file: string): void {
  writeFileSync(file, String(performance.timeOrigin + performance.now()));
}

/** Echoes every value back until the other end closes. */
export async function echo(conn: Connection): Promise<void> {
  for (;;) {
    try {
      conn.send(await conn.recv());
    } catch {
      return;
    }
  }
}

/** Waits for 'go', then sends `count` messages of `size` bytes. */
export async function blast(conn: Connection, size: number, count: number): Promise<void> {
  const payload = Buffer.alloc(size);
  await conn.recv();
  for (let i = 0; i < count; i++) conn.sendBytes(payload);
  conn.close();
}

/**
 * Puts `count` items (small ints, or `size`-byte buffers) into a queue, with
 * putNowait, or with `await q.put()` (the README's form), then the CPU time
 * its loop took (ms): the cost of put itself, which the getter's rate does not
 * show (the feeder writes once the loop has given the event loop a turn), and
 * which, unlike the wall time, other processes on a busy machine do not inflate.
 */
export async function fill(q: Queue<number | Buffer>, count: number, size: number, awaitPut = false): Promise<void> {
  const payload = size > 0 ? Buffer.alloc(size) : null;
  const start = process.cpuUsage();
  if (awaitPut) for (let i = 0; i < count; i++) await q.put(payload ?? i);
  else for (let i = 0; i < count; i++) q.putNowait(payload ?? i);
  const used = process.cpuUsage(start);
  q.putNowait((used.user + used.system) / 1000);
  q.close();
  await q.joinThread();
}

/** sync bench: `n` locked increments of counter[0] after both parties arrive; the loop's time (ms) into times[slot]. */
export function incrementer(lock: Lock, counter: Float64Array, n: number, barrier: Barrier, times: Float64Array, slot: number): void {
  barrier.waitSync();
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    lock.acquireSync();
    counter[0]! += 1;
    lock.release();
  }
  times[slot] = performance.now() - t;
}

/** sync bench: answers each `ping` with a `pong`, `n` times. */
export function ponger(ping: Semaphore, pong: Semaphore, n: number): void {
  for (let i = 0; i < n; i++) {
    ping.acquireSync();
    pong.release();
  }
}

/** sync bench: sums 8 MiB of doubles, from a SharedMemory named in a message or from the bytes of the next message. */
export async function summer(conn: Connection): Promise<void> {
  for (;;) {
    const msg = (await conn.recv()) as { kind: 'shm'; name: string } | { kind: 'pipe' } | null;
    if (msg === null) return;
    let data: Uint8Array;
    let shm: SharedMemory | null = null;
    if (msg.kind === 'shm') {
      shm = new SharedMemory({ name: msg.name });
      data = shm.buf;
    } else {
      data = await conn.recvBytes();
    }
    const values = new Float64Array(data.buffer, data.byteOffset, data.byteLength / 8);
    let sum = 0;
    for (let i = 0; i < values.length; i++) sum += values[i]!;
    conn.send(sum);
    shm?.close();
  }
}

// The price of a forked child's `--single-threaded` (no concurrent GC or
// compilation): CPU-bound work timed inside the child, written to `file`.
function timed(file: string, work: () => unknown): void {
  const t = performance.now();
  work();
  writeFileSync(file, String(performance.now() - t));
}

/** The Pool example's task: count the primes below 1.6 million. */
export function primesTimed(file: string): void {
  timed(file, () => countPrimes([0, 1_600_000]));
}

/** Allocation-heavy: build, stringify and parse many small objects. */
export function jsonTimed(file: string): void {
  timed(file, () => {
    let total = 0;
    for (let round = 0; round < 40; round++) {
      const rows = Array.from({ length: 5000 }, (_, i) => ({ id: i, name: `row-${i}`, tags: ['a', 'b', String(round)], score: i * 1.5 }));
      total += (JSON.parse(JSON.stringify(rows)) as unknown[]).length;
    }
    return total;
  });
}

/** A long task over a big heap: keeps ~150 MB live while churning through more. */
export function bigHeapTimed(file: string): void {
  timed(file, () => {
    const kept: number[][] = [];
    for (let i = 0; i < 300; i++) kept.push(Array.from({ length: 60_000 }, (_, j) => i + j));
    let sum = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 300; i += 3) kept[i] = Array.from({ length: 60_000 }, (_, j) => round + j);
      sum += kept[round]![round]!;
    }
    return sum;
  });
}
