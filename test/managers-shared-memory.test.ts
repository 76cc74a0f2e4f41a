// SharedMemoryManager (Python's test_shared_memory_SharedMemoryManager_basics):
// segments made through it are real SharedMemory and ShareableList objects,
// and its server unlinks every one of them when the manager shuts down.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { activeChildren, FileNotFoundError, ShareableList, SharedMemory, SharedMemoryManager, ValueError } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';

// Each manager takes a warm spare; its replacement may still be starting when a test ends on a busy machine.
afterEach(() => assertNoneLeftBehind(10_000));

test('SharedMemory() and ShareableList() make real segments; shutdown() unlinks them all', async () => {
  const smm = new SharedMemoryManager();
  await assert.rejects(smm.SharedMemory(16), (err: Error) => err instanceof ValueError && /not started: await smm.start\(\)/.test(err.message));
  await smm.start();
  const shm = await smm.SharedMemory(64);
  assert.ok(shm instanceof SharedMemory);
  shm.buf[0] = 7;
  const list = await smm.ShareableList([1, 'two', null]);
  assert.ok(list instanceof ShareableList);
  assert.deepEqual((await smm.listSegments()).sort(), [shm.name, list.shm.name].sort());
  const attached = new SharedMemory({ name: shm.name });
  assert.equal(attached.buf[0], 7);
  attached.close();
  await smm.shutdown();
  for (const name of [shm.name, list.shm.name]) assert.throws(() => new SharedMemory({ name }), FileNotFoundError);
  // What was mapped stays usable until closed, as after any unlink.
  assert.equal(shm.buf[0], 7);
  shm.close();
  list.shm.close();
});

test('await using: a segment whose owner unlinked it first is no error at shutdown', async () => {
  let name: string;
  {
    await using smm = await new SharedMemoryManager().start();
    const shm = await smm.SharedMemory(8);
    name = shm.name;
    shm.close();
    shm.unlink();
  }
  assert.throws(() => new SharedMemory({ name }), FileNotFoundError);
});

test('the server ignores SIGINT, as Python\'s does (a Ctrl-C reaches the whole process group): it serves on, and shutdown() still unlinks', async () => {
  const smm = await new SharedMemoryManager().start();
  const shm = await smm.SharedMemory(16);
  const server = activeChildren().find((p) => p.name.startsWith('SharedMemoryManager-'));
  assert.ok(server?.pid !== undefined, 'the manager\'s server process');
  process.kill(server.pid, 'SIGINT');
  // The signal is delivered before the server reads this request: without its listener, Node's default would have ended it.
  assert.deepEqual(await smm.listSegments(), [shm.name]);
  assert.equal(server.exitCode, null);
  await smm.shutdown();
  assert.equal(server.exitCode, 0);
  assert.throws(() => new SharedMemory({ name: shm.name }), FileNotFoundError);
  shm.close();
});
