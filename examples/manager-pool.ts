// A shared dict of results, filled by the workers of a Pool: each task gets
// the dict's proxy in its arguments and writes its result into it.
import { isMainModule, Manager, Pool, type DictProxy } from 'multiproc';

async function countVowels(results: DictProxy<string, number>, word: string): Promise<void> {
  await results.set(word, [...word].filter((c) => 'aeiou'.includes(c)).length);
}

if (isMainModule(import.meta)) {
  await using manager = await Manager();
  const results = await manager.dict<string, number>();
  await using pool = new Pool(2);
  const words = ['multiprocessing', 'manager', 'proxy', 'queue', 'typescript'];
  await pool.starmap(countVowels, words.map((word) => [results, word] as const));
  const sorted = [...(await results.copy())].sort(([a], [b]) => a.localeCompare(b));
  for (const [word, vowels] of sorted) console.log(`${word}: ${vowels}`);
}
