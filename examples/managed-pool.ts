// A Pool that lives in the manager's server: any process holding its proxy
// submits to the same workers, and results come back through the proxy.
// A SharedMemoryManager unlinks the segments made through it when it ends.
import { isMainModule, Manager, Process, SharedMemoryManager, type PoolProxy, type QueueProxy } from 'multiproc';

function square(x: number): number {
  return x * x;
}

async function submitFromChild(pool: PoolProxy, out: QueueProxy<number[]>): Promise<void> {
  await out.put(await pool.map(square, [4, 5, 6]));
}

if (isMainModule(import.meta)) {
  await using manager = await Manager();
  await using pool = await manager.Pool(2);           // its workers are started by the server
  console.log('here:', (await pool.map(square, [1, 2, 3])).join(' '));
  const out = await manager.Queue<number[]>();
  const child = new Process({ target: submitFromChild, args: [pool, out] });
  child.start();
  console.log('in a child:', (await out.get()).join(' '));
  await child.join();
  const later = await pool.applyAsync(square, [7]);    // an AsyncResult proxy
  console.log('applyAsync:', await later.get());

  await using smm = await new SharedMemoryManager().start();
  const shm = await smm.SharedMemory(16);              // a real SharedMemory, tracked by the server
  shm.buf[0] = 42;
  console.log('segments:', (await smm.listSegments()).length);
}
