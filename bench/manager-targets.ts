// Targets for the managers benchmark: a child finds them here by name.
import type { DictProxy } from 'multiproc';

/** Sets `key` to 0..n-1 in a managed dict, one awaited call each (Python's `d[key] = i`). */
export async function updater(d: DictProxy<string, number>, key: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await d.set(key, i);
}
