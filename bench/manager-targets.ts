// Targets for the managers benchmark: a child finds them here by name.
import type { DictProxy } from 'multiproc';

/**
 * Sets `key` to 0..n-1 in a managed dict, one awaited call each (Python's
 * `d[key] = i`), then records under `cpu:<key>` this process's CPU time
 * (user, system, in us) and its page faults for the first half of the calls
 * and the second: a fresh process runs the first ones cold, before V8 has
 * optimised them, and touches its young generation's pages for the first
 * time (copies of the zygote's, where it was forked).
 */
export async function updater(d: DictProxy<string, number | number[]>, key: string, n: number): Promise<void> {
  const start = process.cpuUsage();
  const startFaults = process.resourceUsage().minorPageFault;
  for (let i = 0; i < n / 2; i++) await d.set(key, i);
  const first = process.cpuUsage(start);
  const halfFaults = process.resourceUsage().minorPageFault;
  const half = process.cpuUsage();
  for (let i = n / 2; i < n; i++) await d.set(key, i);
  const second = process.cpuUsage(half);
  const endFaults = process.resourceUsage().minorPageFault;
  await d.set(`cpu:${key}`, [first.user, first.system, second.user, second.system, halfFaults - startFaults, endFaults - halfFaults]);
}
