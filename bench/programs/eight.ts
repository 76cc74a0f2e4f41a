// The everyday program of issue 14: start eight processes, then join them.
// `npm run bench process` times the whole program, start to finish, beside
// the same program in Python (bench/python/eight.py).
import { isMainModule, Process } from 'multiproc';

export function work(i: number): number {
  return i * i;
}

if (isMainModule(import.meta)) {
  const processes = Array.from({ length: 8 }, (_, i) => new Process({ target: work, args: [i] }));
  for (const p of processes) p.start();
  for (const p of processes) await p.join();
}
