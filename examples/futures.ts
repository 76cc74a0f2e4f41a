// concurrent.futures, as most Python code of this decade writes it:
// ProcessPoolExecutor with submit and asCompleted, map, and an error that
// keeps its class.
import { isMainModule } from 'multiproc';
import { asCompleted, ProcessPoolExecutor } from 'multiproc/futures';

/** The number of steps of n's Collatz sequence down to 1. */
export function collatzSteps(n: number): number {
  let steps = 0;
  for (; n !== 1; steps++) n = n % 2 === 0 ? n / 2 : 3 * n + 1;
  return steps;
}

export class ChecksumError extends Error {
  override name = 'ChecksumError';
}

export function verify(word: string): string {
  if (word !== word.toLowerCase()) throw new ChecksumError(`bad word: ${word}`);
  return word;
}

async function main(): Promise<void> {
  // `await using` shuts the executor down and waits at the end of the block, as Python's `with`.
  await using executor = new ProcessPoolExecutor({ maxWorkers: 2 });

  const futures = [27, 97, 871].map((n) => executor.submit(collatzSteps, n));
  let longest = 0;
  for await (const future of asCompleted(futures)) longest = Math.max(longest, await future.result());
  console.log(`longest: ${longest} steps`);

  const steps: number[] = [];
  for await (const s of executor.map(collatzSteps, [1, 2, 3, 6, 7, 9])) steps.push(s);
  console.log(`map: ${steps.join(' ')}`);

  const checked = executor.submit(verify, 'Hello');
  try {
    await checked; // a Future is awaitable: the same as await checked.result()
  } catch (error) {
    if (error instanceof ChecksumError) console.log(`${error.name}: ${error.message}`);
  }
}

if (isMainModule(import.meta)) await main();
