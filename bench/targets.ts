// Targets for the benchmarks: a child finds them here by name.
import { writeFileSync } from 'node:fs';
import type { Connection } from 'multiproc';

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
