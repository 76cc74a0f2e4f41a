// Compile-time checks (run by `npm run typecheck`, not executed): `args` and
// `kwargs` are typed from the target's parameters.
import { Pool, Process, type AsyncResult } from 'multiproc';

function dance(times: number, opts: { word: string }): void {}
function pair(a: number, b: string): void {}
function none(): void {}
function maybe(a: number, opts?: { fast: boolean }): void {}
function rest(...xs: number[]): void {}
async function later(ms: number): Promise<void> {}

new Process({ target: dance, args: [3], kwargs: { word: '跳舞' } });
new Process({ target: dance, args: [3, { word: '跳舞' }] });
new Process({ target: pair, args: [1, 'b'] });
new Process({ target: none });
new Process({ target: maybe, args: [1] });
new Process({ target: maybe, args: [1], kwargs: { fast: true } });
new Process({ target: rest, args: [1, 2, 3] });
new Process({ target: rest, args: [1], kwargs: 2 });
new Process({ target: later, args: [10] });
new Process({ name: 'no target' });
const list: Process[] = [new Process({ target: pair, args: [1, 'b'] })];
void list;

// @ts-expect-error: an argument of the wrong type
new Process({ target: pair, args: [1, 2] });
// @ts-expect-error: a missing argument
new Process({ target: pair, args: [1] });
// @ts-expect-error: args required when the target has parameters
new Process({ target: pair });
// @ts-expect-error: kwargs of the wrong shape
new Process({ target: dance, args: [3], kwargs: { wrd: 'x' } });
// @ts-expect-error: too many arguments
new Process({ target: none, args: [1] });
// @ts-expect-error: group must be null
new Process({ group: 'workers' });
// @ts-expect-error: daemon is a boolean
new Process({ daemon: 'yes' });

// Pool: results typed from the task function, arguments checked.
async function poolTypes(pool: Pool): Promise<void> {
  const squares: number[] = await pool.map((x: number) => x * x, [1, 2]);
  const lengths: number[] = await pool.map(async (s: string) => s.length, ['a']);
  const sums: number[] = await pool.starmap((a: number, b: number) => a + b, [[1, 2]]);
  const one: number = await pool.apply(pair2, [1, 'b']);
  const withKwargs: string = await pool.apply(dance2, [3], { word: 'x' });
  const later: AsyncResult<number> = pool.applyAsync(pair2, [1, 'b'], { callback: (n: number) => void n });
  for await (const n of pool.imap((x: number) => x + 1, [1])) void (n satisfies number);
  void [squares, lengths, sums, one, withKwargs, later];
  // @ts-expect-error: an argument of the wrong type
  await pool.apply(pair2, [1, 2]);
  // @ts-expect-error: items of the wrong type
  await pool.map((x: number) => x, ['a']);
}
function pair2(a: number, b: string): number {
  return a + b.length;
}
function dance2(times: number, opts: { word: string }): string {
  return opts.word.repeat(times);
}
void poolTypes;
