// Targets for the benchmarks: a child finds them here by name.
import { writeFileSync } from 'node:fs';
import type { Connection, Queue } from 'multiproc';

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

/** Puts `count` items (small ints, or `size`-byte buffers) into a queue. */
export async function fill(q: Queue<number | Buffer>, count: number, size: number): Promise<void> {
  const payload = size > 0 ? Buffer.alloc(size) : null;
  for (let i = 0; i < count; i++) q.putNowait(payload ?? i);
  q.close();
  await q.joinThread();
}
