// A producer and a consumer with a Queue, and a worker pool made by hand
// with a JoinableQueue: the processes share the queues passed in args.
import { isMainModule, JoinableQueue, Process, Queue } from 'multiproc';

async function producer(q: Queue<number | null>, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) await q.put(i * i);
  await q.put(null); // no more
}

async function consumer(q: Queue<number | null>, results: Queue<number>): Promise<void> {
  let sum = 0;
  for (let item = await q.get(); item !== null; item = await q.get()) sum += item;
  await results.put(sum);
}

async function worker(tasks: JoinableQueue<number | null>, done: Queue<string>): Promise<void> {
  for (;;) {
    const n = await tasks.get();
    if (n === null) {
      tasks.taskDone();
      return;
    }
    await done.put(`${n}! = ${factorial(n)} (worker ${process.pid})`);
    tasks.taskDone();
  }
}

function factorial(n: number): bigint {
  let f = 1n;
  for (let i = 2n; i <= BigInt(n); i++) f *= i;
  return f;
}

if (isMainModule(import.meta)) {
  const q = new Queue<number | null>(10); // bounded: the producer waits when it is full
  const results = new Queue<number>();
  const processes = [new Process({ target: producer, args: [q, 100] }), new Process({ target: consumer, args: [q, results] })];
  for (const p of processes) p.start();
  console.log(`sum of the first 100 squares: ${await results.get()}`);
  for (const p of processes) await p.join();

  const tasks = new JoinableQueue<number | null>();
  const done = new Queue<string>();
  const workers = [1, 2].map(() => new Process({ target: worker, args: [tasks, done] }));
  for (const w of workers) w.start();
  for (const n of [5, 10, 20]) await tasks.put(n);
  await tasks.join(); // every task marked done
  const lines = [await done.get(), await done.get(), await done.get()].map((l) => l.replace(/ \(worker \d+\)/, ''));
  console.log(lines.sort().join('\n'));
  for (const _ of workers) await tasks.put(null);
  for (const w of workers) await w.join();
  for (const queue of [q, results, tasks, done]) queue.close();
}
