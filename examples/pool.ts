// A Pool of worker processes: a CPU-bound map and the speed-up it brings,
// imap with progress, errors that keep their class and the worker's stack,
// and a task that takes too long.
import { cpuCount, isMainModule, Pool, RemoteTraceback, TimeoutError } from 'multiproc';

/** How many primes lie in [from, to): plain trial division, to keep a CPU busy. */
export function countPrimes([from, to]: [number, number]): number {
  let count = 0;
  for (let n = Math.max(from, 2); n < to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

export class ParseError extends Error {
  override name = 'ParseError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

export function parseLine(text: string, line: number): number {
  if (!/^\d+$/.test(text)) throw new ParseError(`not a number: ${JSON.stringify(text)}`, line);
  return Number(text);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  const ranges = Array.from({ length: 16 }, (_, i) => [i * 100_000, (i + 1) * 100_000] as [number, number]);
  const sum = (counts: number[]): number => counts.reduce((a, b) => a + b, 0);

  let start = performance.now();
  const serial = sum(ranges.map(countPrimes));
  const serialMs = performance.now() - start;

  // `await using` terminates the workers at the end of the block, as Python's `with Pool() as pool`.
  await using pool = new Pool(); // cpuCount() workers
  await Promise.all([pool.apply(sleep, [300]), pool.apply(sleep, [300])]); // let the workers start

  start = performance.now();
  const parallel = sum(await pool.map(countPrimes, ranges, 1));
  const poolMs = performance.now() - start;
  console.log(`primes below 1.6 million: ${parallel} (serial: ${serial})`);
  console.error(`serial ${serialMs.toFixed(0)} ms, a pool of ${cpuCount()}: ${poolMs.toFixed(0)} ms, ${(serialMs / poolMs).toFixed(2)}x faster`);

  // imap yields in order as results come; `progress: true` draws a bar when stderr is a terminal.
  let seen = 0;
  for await (const count of pool.imap(countPrimes, ranges.slice(0, 4), { progress: true })) seen += count;
  const reported: string[] = [];
  await pool.map(countPrimes, ranges.slice(0, 4), { chunksize: 1, progress: ({ done, total }) => reported.push(`${done}/${total}`) });
  console.log(`imap: ${seen} primes below 400000; progress ${reported.join(' ')}`);

  // A task's error arrives with its own class and fields; err.cause holds the worker's stack.
  try {
    await pool.starmap(parseLine, [
      ['12', 1],
      ['x7', 2],
    ]);
  } catch (error) {
    if (error instanceof ParseError && error.cause instanceof RemoteTraceback) {
      console.log(`ParseError on line ${error.line}: ${error.message}; thrown ${error.cause.tb.split('\n')[1]!.trim().split(' (')[0]}`);
    }
  }

  // A task that runs too long is stopped: its worker is killed and replaced.
  try {
    await pool.apply(sleep, [60_000], null, { timeout: 200 });
  } catch (error) {
    if (error instanceof TimeoutError) console.log(`TimeoutError: ${error.message.split(';')[0]}`);
  }
  console.log(`still serving: ${await pool.apply(countPrimes, [[0, 100]])} primes below 100`);
}

// Started from a function rather than with top-level await: the pool finds
// ParseError in this module once the module has finished loading.
if (isMainModule(import.meta)) void main();
