// Targets for the benchmarks: a child finds them here by name.
import { writeFileSync } from 'node:fs';

export function empty(): void {}

/** Records when the target began to run, in the same clock as the parent's `performance.timeOrigin + performance.now()`. */
export function stamp(file: string): void {
  writeFileSync(file, String(performance.timeOrigin + performance.now()));
}
