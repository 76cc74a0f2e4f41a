// manager.Pool(): a Pool that lives in the manager's server (Python's
// SyncManager registers pool.Pool): its workers are the server's children,
// its proxy travels to other processes, and what its async methods return
// stays in the server behind AsyncResult and iterator proxies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import { activeChildren, AsyncResultProxy, IteratorProxy, Manager, PoolProxy } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { addPair, failTask, interruptSelf, makeManagedPool, mapThroughPool, slowSquare, square, startProcess, workerPid } from './fixtures/managers.js';

// Each manager takes a warm spare; its replacement may still be starting when a test ends on a busy machine.
afterEach(() => assertNoneLeftBehind(10_000));

function parentOf(pid: number): number {
  // The fields after the command's closing parenthesis: state, then ppid.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Resolves once `pid` has exited (a worker of a server that is gone is nobody's descendant here: checked by pid). */
async function gone(pid: number): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`the worker ${pid} of a server that was shut down is still running`);
}

/** Not in the module that created the Pool, nor loaded in the server: it cannot be found there. */
function onlyHere(x: number): number {
  return x + 1;
}

test('manager.Pool(): apply, map, starmap, imap and imapUnordered; workers descend from the server', async () => {
  await using manager = await Manager();
  await using pool = await makeManagedPool(manager, 2);
  assert.ok(pool instanceof PoolProxy);
  assert.equal(await pool.apply(square, [3]), 9);
  assert.deepEqual(await pool.map(square, [1, 2, 3, 4, 5]), [1, 4, 9, 16, 25]);
  assert.deepEqual(await pool.map(square, new Set([6, 7]), 1), [36, 49]);
  assert.deepEqual(await pool.starmap(addPair, [[1, 2], [3, 4]]), [3, 7]);
  const ordered = await pool.imap(slowSquare, [1, 2, 3, 4]);
  assert.ok(ordered instanceof IteratorProxy);
  const seen: number[] = [];
  for await (const value of ordered) seen.push(value);
  assert.deepEqual(seen, [1, 4, 9, 16]);
  const unordered: number[] = [];
  for await (const value of await pool.imapUnordered(slowSquare, [1, 2, 3, 4])) unordered.push(value);
  assert.deepEqual(unordered.sort((a, b) => a - b), [1, 4, 9, 16]);
  const server = activeChildren().find((p) => p.name.startsWith('SyncManager-'))!;
  // Its child, or (where a zygote forks the workers) its zygote's.
  const ancestors: number[] = [];
  for (let pid = parentOf(await pool.apply(workerPid)); pid > 1; pid = parentOf(pid)) ancestors.push(pid);
  assert.ok(ancestors.slice(0, 2).includes(server.pid!), `the worker's ancestors ${ancestors.join(' ')} do not start with the server ${server.pid}`);
});

test('applyAsync, mapAsync and starmapAsync resolve with AsyncResult proxies: get, wait, ready, successful', async () => {
  await using manager = await Manager();
  await using pool = await makeManagedPool(manager, 2);
  const one = await pool.applyAsync(square, [4]);
  assert.ok(one instanceof AsyncResultProxy);
  assert.equal(await one.get(10_000), 16);
  assert.equal(await one.ready(), true);
  assert.equal(await one.successful(), true);
  const many = await pool.mapAsync(square, [1, 2, 3]);
  await many.wait();
  assert.deepEqual(await many.get(), [1, 4, 9]);
  assert.deepEqual(await (await pool.starmapAsync(addPair, [[2, 2]])).get(), [4]);
  const failed = await pool.applyAsync(failTask, [7]);
  await assert.rejects(failed.get(), (err: Error) => /task 7 failed/.test(err.message));
  assert.equal(await failed.successful(), false);
});

test('a task that throws, and a function the server cannot find, fail their own call with a clear error; the Pool goes on', async () => {
  await using manager = await Manager();
  await using pool = await makeManagedPool(manager, 1);
  await assert.rejects(pool.apply(failTask, [1]), (err: Error) => /task 1 failed/.test(err.message));
  await assert.rejects(pool.apply(onlyHere, [1]), (err: Error) => /cannot find the task function onlyHere/.test(err.message));
  await assert.rejects(pool.map(square, 5 as never), (err: Error) => err instanceof TypeError && /maps over an iterable/.test(err.message));
  assert.deepEqual(await pool.map(square, [2]), [4]);
});

test('a managed Pool\'s workers ignore SIGINT, as the server does (Python\'s SIG_IGN survives fork and exec into them)', async () => {
  await using manager = await Manager();
  await using pool = await makeManagedPool(manager, 1);
  const pid = await pool.apply(interruptSelf);
  // The one worker took its SIGINT and serves on: no replacement started.
  assert.equal(await pool.apply(workerPid), pid);
  assert.equal(await pool.apply(square, [5]), 25);
});

test('a Pool proxy travels to a child, whose tasks run on the same workers; shutdown ends the Pool with the server', async () => {
  const manager = await Manager();
  const pool = await makeManagedPool(manager, 2);
  const out = await manager.Queue<number[]>();
  const child = startProcess(mapThroughPool, [pool, out]);
  assert.deepEqual(await out.get({ timeout: 30_000 }), [25, 36, 49]);
  await child.join();
  assert.equal(child.exitCode, 0);
  const worker = await pool.apply(workerPid);
  // Shut down with the Pool still running: its workers go with the server (checked after each test).
  await manager.shutdown();
  await gone(worker);
});
