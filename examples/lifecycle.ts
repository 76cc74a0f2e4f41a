// join with a timeout, terminate, exit codes and the start methods.
import { setTimeout as sleep } from 'node:timers/promises';
import { activeChildren, getContext, isMainModule, Process } from 'multiproc';

async function work(ms: number): Promise<void> {
  await sleep(ms);
}

function fail(): void {
  throw new Error('something went wrong in the child (this example expects it)');
}

function exitWith(code: number): void {
  process.exit(code);
}

async function main(): Promise<void> {
  const slow = new Process({ target: work, args: [60_000], daemon: true });
  slow.start();
  await slow.join(100); // resolves after 100 ms: still running
  console.log(`alive after join(100): ${slow.isAlive()}, active children: ${activeChildren().length}`);
  slow.terminate();
  await slow.join();
  console.log(`terminated: exit code ${slow.exitCode}`); // -15

  for (const p of [new Process({ target: fail }), new Process({ target: exitWith, args: [3] })]) {
    p.start();
    await p.join();
    console.log(`${p.name}: exit code ${p.exitCode}`); // 1, then 3
  }

  const fresh = new (getContext('spawn').Process)({ target: work, args: [10] });
  fresh.start();
  await fresh.join();
  console.log(`${fresh.name} ran in a fresh node: exit code ${fresh.exitCode}`);
}

if (isMainModule(import.meta)) await main();
