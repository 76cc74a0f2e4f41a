// A producer and a consumer in two processes share a small buffer (a shared
// Int32Array) and a Condition: the consumer waits while it is empty, the
// producer while it is full, and each notifies the other.
import { Condition, isMainModule, Process, RawArray } from 'multiproc';

const SIZE = 4; // slots; word SIZE holds how many are filled, SIZE + 1 the next read position
type Ring = Int32Array;

async function producer(cond: Condition, ring: Ring, count: number): Promise<void> {
  for (let item = 1; item <= count; item++) {
    await cond.acquire();
    await cond.waitFor(() => ring[SIZE]! < SIZE); // room for one more
    ring[(ring[SIZE + 1]! + ring[SIZE]!) % SIZE] = item;
    ring[SIZE]! += 1;
    cond.notifyAll();
    cond.release();
  }
}

async function consumer(cond: Condition, ring: Ring, count: number, result: Int32Array): Promise<void> {
  let sum = 0;
  for (let taken = 0; taken < count; taken++) {
    await cond.acquire();
    await cond.waitFor(() => ring[SIZE]! > 0); // something to take
    sum += ring[ring[SIZE + 1]!]!;
    ring[SIZE + 1] = (ring[SIZE + 1]! + 1) % SIZE;
    ring[SIZE]! -= 1;
    cond.notifyAll();
    cond.release();
  }
  result[0] = sum;
}

if (isMainModule(import.meta)) {
  const cond = new Condition();
  const ring = RawArray('i32', SIZE + 2);
  const result = RawArray('i32', 1);
  const p = new Process({ target: producer, args: [cond, ring, 100] });
  const c = new Process({ target: consumer, args: [cond, ring, 100, result] });
  p.start();
  c.start();
  await p.join();
  await c.join();
  console.log(`the consumer took 100 items through a 4-slot buffer; their sum: ${result[0]}`);
}
