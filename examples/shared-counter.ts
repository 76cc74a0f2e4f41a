// A counter in shared memory that four processes add to, holding its lock:
// v.value += 1 is a read then a write, so without the lock updates get lost.
import { isMainModule, Process, Value, type SynchronizedValue } from 'multiproc';

async function addMany(counter: SynchronizedValue<'i'>, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await counter.getLock().withLock(() => {
      counter.value += 1;
    });
  }
}

if (isMainModule(import.meta)) {
  const counter = Value('i', 0);
  const workers = [1, 2, 3, 4].map(() => new Process({ target: addMany, args: [counter, 2_500] }));
  for (const w of workers) w.start();
  for (const w of workers) await w.join();
  console.log(`4 processes x 2500 locked increments = ${counter.value}`);
}
