// Managers: CPython's _TestContainers, TestSyncManagerTypes, _TestMyManager
// and the Manager rows of the semantics doc: a SyncManager's server process,
// typed proxies to its dict, list, Namespace, Queue, Lock, Event and Value,
// Python's errors, reference counting, and proxies that travel to children.
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, test } from 'node:test';
import {
  activeChildren,
  AttributeError,
  DictProxy,
  Empty,
  IndexError,
  KeyError,
  ListProxy,
  Manager,
  ProcessError,
  Queue,
  RemoteError,
  SyncManager,
  ValueError,
} from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { appendInChild, barrierParty, conditionWaiter, incrementInChild, joinableWorker, setInNamespace, startProcess, useProxyFromQueue } from './fixtures/managers.js';

// Each manager takes a warm spare; its replacement may still be starting when a test ends on a busy machine.
afterEach(() => assertNoneLeftBehind(10_000));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`never happened: ${what}`);
}

test('Manager() starts a SyncManager whose server is a child named SyncManager-N, and await using shuts it down', async () => {
  {
    await using manager = await Manager();
    assert.ok(manager instanceof SyncManager);
    assert.equal(typeof manager.address, 'string');
    const server = activeChildren().find((p) => p.name.startsWith('SyncManager-'));
    assert.ok(server, `no SyncManager-N among ${activeChildren().map((p) => p.name).join(', ')}`);
    assert.match(server.name, /^SyncManager-\d+$/);
    await assert.rejects(manager.start(), (err: Error) => err instanceof ProcessError && err.message === 'Already started server');
  }
  assert.equal(activeChildren().filter((p) => p.name.startsWith('SyncManager-')).length, 0);
});

test('after shutdown: start() is "Manager has shut down", and proxies fail at once with BrokenPipeError', async () => {
  const manager = await Manager();
  const d = await manager.dict({ a: 1 });
  await manager.shutdown();
  await assert.rejects(manager.start(), (err: Error) => err instanceof ProcessError && err.message === 'Manager has shut down');
  await assert.rejects(manager.dict(), /Manager has shut down/);
  await assert.rejects(d.get('a'), (err: Error) => err.name === 'BrokenPipeError' && /is gone/.test(err.message));
  await manager.join();
});

test('dict proxy: get/set/has/delete/keys/values/items/update/pop/setdefault/clear/len/copy and async iteration', async () => {
  await using manager = await Manager();
  const d = await manager.dict<string, number>({ a: 1 });
  // A method that returns nothing resolves with undefined (its reply carries no payload), a null stays null.
  assert.equal(await d.set('b', 2), undefined);
  assert.equal(await d.get('b'), 2);
  assert.equal(await d.get('zz'), undefined);
  const nullable = await manager.dict<string, null>({ n: null });
  assert.equal(await nullable.get('n'), null);
  assert.equal(await d.get('zz', 0), 0);
  assert.equal(await d.has('a'), true);
  assert.equal(await d.delete('a'), true);
  assert.equal(await d.delete('a'), false);
  await d.update({ c: 3, d: 4 });
  await d.update(new Map([['e', 5]]));
  assert.deepEqual(await d.keys(), ['b', 'c', 'd', 'e']);
  assert.deepEqual(await d.values(), [2, 3, 4, 5]);
  assert.deepEqual(await d.items(), [['b', 2], ['c', 3], ['d', 4], ['e', 5]]);
  assert.equal(await d.pop('c'), 3);
  assert.equal(await d.pop('c', -1), -1);
  await assert.rejects(d.pop('c'), (err: Error) => err instanceof KeyError && err.message === "'c'");
  assert.equal(await d.setdefault('f', 6), 6);
  assert.equal(await d.setdefault('f', 7), 6);
  assert.equal(await d.len(), 4);
  const copy = await d.copy();
  assert.ok(copy instanceof Map);
  assert.deepEqual([...copy], [['b', 2], ['d', 4], ['e', 5], ['f', 6]]);
  const seen: Array<[string, number]> = [];
  for await (const entry of d) seen.push(entry);
  assert.deepEqual(seen, [...copy]);
  await d.clear();
  assert.equal(await d.len(), 0);
  assert.match(String(d), /^<DictProxy object, typeid 'dict' at \d+>$/);
});

test('list proxy: Python list methods, errors as Python raises them, values by value', async () => {
  await using manager = await Manager();
  const l = await manager.list<number>([1]);
  await l.append(2);
  await l.extend([3, 4]);
  await l.insert(0, 0);
  assert.deepEqual(await l.copy(), [0, 1, 2, 3, 4]);
  assert.equal(await l.get(-1), 4);
  await l.set(0, 10);
  assert.equal(await l.pop(), 4);
  assert.equal(await l.pop(0), 10);
  await l.remove(2);
  assert.equal(await l.index(3), 1);
  assert.equal(await l.count(1), 1);
  await l.extend([9, 5]);
  await l.sort();
  assert.deepEqual(await l.copy(), [1, 3, 5, 9]);
  await l.sort({ reverse: true });
  await l.reverse();
  assert.deepEqual(await l.slice(1, 3), [3, 5]);
  assert.equal(await l.len(), 4);
  await assert.rejects(l.get(10), (err: Error) => err instanceof IndexError && err.message === 'list index out of range');
  await assert.rejects(l.remove(42), (err: Error) => err instanceof ValueError && err.message === '42 is not in list');
  const items: number[] = [];
  for await (const item of l) items.push(item);
  assert.deepEqual(items, [1, 3, 5, 9]);
  // A plain value that comes back is a copy: changing it changes nothing (Python: l2[0].append(2)).
  const nested = await manager.list<number[]>([[1]]);
  const first = await nested.get(0);
  first.push(2);
  assert.deepEqual(await nested.get(0), [1]);
});

test('nested proxies: a dict holding a list proxy, a list in a list (test_dict_proxy_nested, test_list_proxy_in_list)', async () => {
  await using manager = await Manager();
  const inner = await manager.list<number>([1]);
  const outer = await manager.dict<string, ListProxy<number>>();
  await outer.set('inner', inner);
  const again = await outer.get('inner');
  assert.ok(again instanceof ListProxy);
  await again!.append(2);
  assert.deepEqual(await inner.copy(), [1, 2]);
  const lists = await manager.list<ListProxy<number>>([inner]);
  await (await lists.get(0)).append(3);
  assert.deepEqual(await inner.copy(), [1, 2, 3]);
});

test('Namespace, Value, Array, Queue, Lock and Event proxies', async () => {
  await using manager = await Manager();
  const ns = await manager.Namespace<{ name: string; _hidden?: number; x?: number }>({ name: 'Bob' });
  await ns.set('_hidden', 1);
  assert.equal(await ns.get('name'), 'Bob');
  assert.equal(await ns.repr(), "Namespace(name='Bob')");
  await assert.rejects(ns.get('x'), (err: Error) => err instanceof AttributeError && err.message === "'Namespace' object has no attribute 'x'");
  const v = await manager.Value('i', 7);
  await v.set((await v.get()) + 1);
  assert.equal(await v.get(), 8);
  const arr = await manager.Array('d', [1.5, 2.5]);
  await arr.set(1, 4);
  assert.deepEqual(await arr.getValue(), [1.5, 4]);
  const q = await manager.Queue<number>(1);
  await q.put(1);
  assert.equal(await q.full(), true);
  await assert.rejects(q.put(2, { timeout: 20 }), { name: 'Full' });
  assert.equal(await q.get(), 1);
  await assert.rejects(q.get({ block: false }), (err: Error) => err instanceof Empty);
  await assert.rejects(q.get({ timeout: 20 }), (err: Error) => err instanceof Empty);
  const lock = await manager.Lock();
  assert.equal(await lock.acquire(), true);
  assert.equal(await lock.acquire({ block: false }), false);
  assert.equal(await lock.acquire(20), false);
  await lock.release();
  await assert.rejects(lock.release(), (err: Error) => err instanceof ValueError);
  const ev = await manager.Event();
  assert.equal(await ev.wait(10), false);
  const waiting = ev.wait();
  await ev.set();
  assert.equal(await waiting, true);
  assert.equal(await ev.isSet(), true);
});

test('a waiting get holds up no other call, from the same process or not', async () => {
  await using manager = await Manager();
  const q = await manager.Queue<string>();
  const d = await manager.dict<string, number>();
  const pending = q.get();
  await d.set('a', 1);
  assert.equal(await d.get('a'), 1);
  await q.put('late');
  assert.equal(await pending, 'late');
});

test('errors: a method outside exposed is a RemoteError naming it; an unsendable argument fails that call only', async () => {
  await using manager = await Manager();
  const d = await manager.dict<string, unknown>();
  await assert.rejects(d.callMethod('secret'), (err: Error) => err instanceof RemoteError && /method 'secret' of dict object is not in exposed=\['get', 'set'/.test(err.message));
  await assert.rejects(d.set('f', () => 1), (err: Error) => err instanceof TypeError && /cannot be sent/.test(err.message));
  await d.set('ok', 1);
  assert.equal(await d.get('ok'), 1);
});

test('a referent is freed when its last proxy is disposed of, or collected', async () => {
  await using manager = await Manager();
  const base = await manager.numberOfObjects();
  const d = await manager.dict();
  assert.equal(await manager.numberOfObjects(), base + 1);
  d.dispose();
  await assert.rejects(d.len(), /disposed of/);
  await eventually(async () => (await manager.numberOfObjects()) === base, 'the disposed dict is freed');
  // Dropped without dispose(): the garbage collector's finalizer gives the reference back.
  await (async () => {
    const l = await manager.list([1, 2, 3]);
    assert.equal(await l.len(), 3);
  })();
  await eventually(async () => (await manager.numberOfObjects()) === base, 'the collected list is freed');
});

test('proxies travel to children in Process args, connect there with the authkey, and their references go when the child does', async () => {
  await using manager = await Manager();
  const l = await manager.list<number>();
  const p = startProcess(appendInChild, [l, [1, 2, 3]]);
  await p.join();
  assert.equal(p.exitCode, 0);
  assert.deepEqual(await l.copy(), [1, 2, 3]);
  const base = await manager.numberOfObjects();
  const kept = await manager.list<number>();
  const child = startProcess(appendInChild, [kept, [7]]);
  kept.dispose();
  await child.join();
  assert.equal(child.exitCode, 0);
  // The parent gave its reference back before the child ended: the child's connection held the last one.
  await eventually(async () => (await manager.numberOfObjects()) === base, 'the list freed once the child is gone');
});

test('a dict updated by 4 processes under a managed Lock loses no update', async () => {
  await using manager = await Manager();
  const d = await manager.dict<string, number>({ n: 0 });
  const lock = await manager.Lock();
  const children = [1, 2, 3, 4].map(() => startProcess(incrementInChild, [d, lock, 'n', 25]));
  await Promise.all(children.map((c) => c.join()));
  assert.deepEqual(children.map((c) => c.exitCode), [0, 0, 0, 0]);
  assert.equal(await d.get('n'), 100);
});

test('proxies travel in a multiproc Queue item and in a Namespace given to a child', async () => {
  await using manager = await Manager();
  const l = await manager.list<string>();
  const q = new Queue<ListProxy<string>>();
  const p = startProcess(useProxyFromQueue, [q]);
  await q.put(l);
  await p.join();
  assert.equal(p.exitCode, 0);
  assert.deepEqual(await l.copy(), [`from ${p.pid}`]);
  const ns = await manager.Namespace({ x: 1 });
  const c = startProcess(setInNamespace, [ns]);
  await c.join();
  assert.deepEqual(await ns.getValue(), { x: 2, who: 'child' });
});

test('JoinableQueue, RLock, Semaphore, BoundedSemaphore, Condition and Barrier proxies, with children', async () => {
  await using manager = await Manager();
  const jq = await manager.JoinableQueue<number | null>();
  const total = await manager.dict<string, number>();
  const worker = startProcess(joinableWorker, [jq, total]);
  for (const n of [1, 2, 3, null]) await jq.put(n);
  await jq.join();
  assert.equal(await total.get('sum'), 6);
  await assert.rejects(jq.taskDone(), (err: Error) => err instanceof ValueError && err.message === 'task_done() called too many times');
  await worker.join();

  const rlock = await manager.RLock();
  assert.equal(await rlock.acquire(), true);
  assert.equal(await rlock.acquire(), true);
  await rlock.release();
  await rlock.release();
  await assert.rejects(rlock.release(), { name: 'AssertionError', message: 'cannot release un-acquired lock' });

  const sem = await manager.Semaphore(2);
  assert.equal(await sem.acquire(), true);
  assert.equal(await sem.acquire(), true);
  assert.equal(await sem.acquire({ block: false }), false);
  assert.equal(await sem.getValue(), 0);
  await sem.release();
  const bounded = await manager.BoundedSemaphore(1);
  await assert.rejects(bounded.release(), (err: Error) => err instanceof ValueError && /released too many times/.test(err.message));

  const cond = await manager.Condition();
  const state = await manager.dict<string, boolean>({ go: false });
  const out = await manager.Queue<string>();
  const waiter = startProcess(conditionWaiter, [cond, state, out]);
  assert.equal(await out.get(), 'waiting');
  await cond.acquire();
  await state.set('go', true);
  await cond.notifyAll();
  await cond.release();
  assert.equal(await out.get(), 'woken');
  await waiter.join();
  await assert.rejects(cond.notify(), { name: 'AssertionError' });

  const barrier = await manager.Barrier(3);
  assert.equal(await barrier.parties(), 3);
  const indexes = await manager.Queue<number>();
  const parties = [1, 2].map(() => startProcess(barrierParty, [barrier, indexes]));
  const mine = await barrier.wait();
  const theirs = [await indexes.get(), await indexes.get()];
  assert.deepEqual([mine, ...theirs].sort(), [0, 1, 2]);
  for (const p of parties) await p.join();
  const lonely = await manager.Barrier(2);
  await assert.rejects(lonely.wait(20), { name: 'BrokenBarrierError' });
  assert.equal(await lonely.broken(), true);
});

void DictProxy;
