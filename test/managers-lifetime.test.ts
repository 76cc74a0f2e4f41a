// Managers never hang and leave nothing behind: a server killed with
// SIGKILL fails every pending and later call at once; a client killed in the
// middle of a call disturbs no one and loses nothing; shutdown with proxies
// alive elsewhere is clean; a parent that exits, or is killed, takes its
// manager's server with it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { afterEach, test } from 'node:test';
import { activeChildren, BrokenPipeError, Client, currentProcess, Empty, Manager, ProcessError, type Address, type BaseProxy } from 'multiproc';
import { assertNoneLeftBehind, descendants } from './helpers/cleanup.js';
import { PROGRAMS } from './helpers/run.js';
import { blockInGet, callFooInChild, failingInitializer, holdUntil, lockThenBlock, makeMyManager, startProcess } from './fixtures/managers.js';

// Each manager takes a warm spare; its replacement may still be starting when a test ends on a busy machine.
afterEach(() => assertNoneLeftBehind(10_000));

function serverProcess() {
  const server = activeChildren().find((p) => p.name.startsWith('SyncManager-'));
  assert.ok(server, 'the manager\'s server process');
  return server;
}

test('start() learns the address the server got (TCP port 0) on its own connection, which its proxies use; children connect there', async () => {
  await using manager = await makeMyManager({ address: { host: '127.0.0.1', port: 0 } }).start();
  const address = manager.address as { host: string; port: number };
  assert.equal(address.host, '127.0.0.1');
  assert.ok(address.port > 0);
  const foo = await manager.Foo();
  assert.equal(await foo.f(), 'f()');
  const child = startProcess(callFooInChild, [foo]);
  await child.join();
  assert.equal(child.exitCode, 0);
  assert.equal(await foo.f(), 'f()');
});

test('an initializer that throws: start() rejects with a ProcessError naming the server and its exit code, and nothing is left', async () => {
  const manager = makeMyManager();
  await assert.rejects(manager.start(failingInitializer), (err: Error) => err instanceof ProcessError && /server process MyManager-\d+ exited with code 1 before it served/.test(err.message));
  assert.equal(manager.address, null);
  assert.ok(!activeChildren().some((p) => p.name.startsWith('MyManager-')));
});

test('a server killed with SIGKILL: every pending call and every later one fails at once with BrokenPipeError', async () => {
  const manager = await Manager();
  const q = await manager.Queue<number>();
  const lock = await manager.Lock();
  await lock.acquire();
  const pending = [q.get(), q.get({ timeout: 60_000 }), lock.acquire()];
  const server = serverProcess();
  server.kill();
  for (const call of pending) await assert.rejects(call, (err: Error) => err instanceof BrokenPipeError && /is gone/.test(err.message));
  await assert.rejects(q.put(1), (err: Error) => err instanceof BrokenPipeError);
  await assert.rejects(manager.dict(), (err: Error) => err instanceof BrokenPipeError);
  await manager.shutdown();
  assert.equal(server.exitCode, -9);
});

test('a client killed in the middle of a get takes nothing: the next item goes to a live caller, and others are not disturbed', async () => {
  await using manager = await Manager();
  const q = await manager.Queue<number>();
  const ready = await manager.Queue<string>();
  const d = await manager.dict<string, number>();
  const child = startProcess(blockInGet, [q, ready]);
  assert.equal(await ready.get(), 'waiting');
  // Its get is in the server's line now; kill it there.
  child.kill();
  await child.join();
  await d.set('still', 1);
  await q.put(42);
  assert.equal(await q.get({ timeout: 5000 }), 42);
  assert.equal(await d.get('still'), 1);
});

/** The server's id of a proxy's object, for a raw connection's requests. */
function idOf(proxy: BaseProxy): number {
  return Number(/ at (\d+)>$/.exec(String(proxy))![1]);
}

test('items a client read but never acknowledged go back to the front of the queue, in order, when it goes; an acknowledged one does not', async () => {
  await using manager = await Manager();
  const q = await manager.Queue<number>();
  const lock = await manager.Lock();
  for (const item of [1, 2, 3]) await q.put(item);
  // A client that dies between the kernel taking its reply and reading it is the same to the server: it read nothing back.
  const dying = await Client(manager.address as Address, { authkey: currentProcess().authkey });
  for (const rid of [1, 2]) {
    dying.send([rid, idOf(q), 'get', []]);
    assert.deepEqual(await dying.recv(), [rid, 0, rid, 0, 1], 'the reply hands the item over and asks for its receipt');
  }
  dying.close();
  assert.deepEqual([await q.get({ timeout: 5000 }), await q.get({ timeout: 5000 }), await q.get({ timeout: 5000 })], [1, 2, 3]);

  await q.put(4);
  const acknowledging = await Client(manager.address as Address, { authkey: currentProcess().authkey });
  acknowledging.send([1, idOf(q), 'get', []]);
  assert.deepEqual(await acknowledging.recv(), [1, 0, 4, 0, 1]);
  acknowledging.send([0, null, 'ack', [1]]);
  // It also holds the lock: the lock comes free when the server has dealt with its going, unacknowledged replies first.
  acknowledging.send([2, idOf(lock), 'acquire', []]);
  assert.deepEqual(await acknowledging.recv(), [2, 0, true]);
  acknowledging.close();
  assert.equal(await lock.acquire(5000), true);
  await assert.rejects(q.get({ block: false }), (err: Error) => err instanceof Empty);
});

test('a Lock held by a process that dies is released for the next caller', async () => {
  await using manager = await Manager();
  const lock = await manager.Lock();
  const ready = await manager.Queue<string>();
  const q = await manager.Queue<number>();
  const child = startProcess(lockThenBlock, [lock, q, ready]);
  assert.equal(await ready.get(), 'waiting');
  assert.equal(await lock.acquire({ block: false }), false);
  child.kill();
  await child.join();
  assert.equal(await lock.acquire(5000), true);
});

test('shutdown() while a child holds proxies and waits in a call: the child\'s call fails at once, and nothing is left', async () => {
  const manager = await Manager();
  const l = await manager.list<number>([1]);
  const ev = await manager.Event();
  const ready = await manager.Queue<string>();
  const child = startProcess(holdUntil, [l, ev, ready]);
  assert.equal(await ready.get(), 'waiting');
  await manager.shutdown();
  await child.join();
  // The child's wait failed with the server gone: its target rejected (exit code 1), it did not hang.
  assert.equal(child.exitCode, 1);
});

for (const mode of ['exit', 'process-exit', 'sigkill'] as const) {
  test(`a parent that ${mode === 'exit' ? 'exits naturally' : mode === 'process-exit' ? 'calls process.exit()' : 'is killed with SIGKILL'} without shutdown(): its manager's server goes too`, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${PROGRAMS}manager-parent.ts`, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    assert.equal(mode === 'sigkill' ? signal : code, mode === 'sigkill' ? 'SIGKILL' : 0, stderr);
    const { server, a } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { server: number; a: number };
    assert.equal(a, 1);
    await assertNoneLeftBehind(5000);
    assert.ok(!descendants().some((p) => p.pid === server), `the server ${server} is still running`);
  });
}
