// The seed program in TypeScript: one process dances, one sings, side by
// side; each line shows its pid and its parent's pid; the parent joins both.
import { setTimeout as sleep } from 'node:timers/promises';
import { currentProcess, isMainModule, Process } from 'multiproc';

async function dance(times: number, opts: { word: string }): Promise<void> {
  for (let i = 0; i < times; i++) {
    console.log(`${opts.word} (dance)  pid=${process.pid} ppid=${process.ppid} ${currentProcess().name}`);
    await sleep(300);
  }
}

async function sing(times: number, opts: { word: string }): Promise<void> {
  for (let i = 0; i < times; i++) {
    console.log(`${opts.word} (sing)   pid=${process.pid} ppid=${process.ppid} ${currentProcess().name}`);
    await sleep(300);
  }
}

async function main(): Promise<void> {
  console.log(`main pid=${process.pid}`);
  const dancer = new Process({ target: dance, args: [3], kwargs: { word: '跳舞' }, name: 'dancer' });
  const singer = new Process({ target: sing, args: [3], kwargs: { word: '唱歌' }, name: 'singer' });
  dancer.start();
  singer.start();
  await dancer.join();
  await singer.join();
  console.log(`both done: dancer exit code ${dancer.exitCode}, singer exit code ${singer.exitCode}`);
}

if (isMainModule(import.meta)) await main();
