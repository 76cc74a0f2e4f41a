// Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier and Value across processes:
// CPython's _TestLock, _TestSemaphore, _TestEvent, _TestCondition and _TestBarrier rows (tests 30-32 of the
// semantics doc), robust mode, and bad input. These objects work with or
// without the native addon: test/primitives-fallback.test.ts runs this file
// again with MULTIPROC_NO_NATIVE=1, where they go through the sync server.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssertionError, Barrier, BoundedSemaphore, BrokenBarrierError, Client, Condition, Event, Listener, Lock, OwnerDiedError, ProcessError, RawArray, RawValue, RLock, Semaphore, Value, ValueError } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { addUnderLock, addWithLock, atBarrier, atBarrierSync, fileIncrements, forwardLock, ownEventThroughGrandchild, holdForever, releaseIt, releaseLater, releaseRLock, setLater, takeOverSync, waitOnCondition, waitOnConditionSync } from './fixtures/sync.js';

afterEach(() => assertNoneLeftBehind());

test('test_lock: acquire true, try false, release, a second release is a ValueError; repr', async () => {
  const lock = new Lock();
  assert.equal(String(lock), '<Lock(owner=None)>');
  assert.equal(await lock.acquire(), true);
  assert.equal(String(lock), '<Lock(owner=MainProcess)>');
  assert.equal(lock.locked(), true);
  assert.equal(await lock.acquire(0), false);
  assert.equal(lock.acquireSync(0), false);
  assert.equal(await lock.acquire(20), false);
  assert.equal(lock.release(), undefined);
  assert.throws(() => lock.release(), (e: Error) => e instanceof ValueError && e.message === 'semaphore or lock released too many times');
  assert.equal(lock.acquireSync(), true);
  lock.release();
});

test('a Lock has no owner: a child releases what the parent acquired; a grandchild too', async () => {
  const lock = new Lock();
  await lock.acquire();
  const p = make({ target: releaseIt, args: [lock] });
  p.start();
  await p.join();
  assert.equal(p.exitCode, 0);
  assert.equal(lock.locked(), false);
  await lock.acquire();
  const q = make({ target: forwardLock, args: [lock] });
  q.start();
  assert.equal(await lock.acquire(30_000), true, 'the grandchild released it');
  await q.join();
  assert.equal(q.exitCode, 0);
  lock.release();
});

test('test_rlock: re-entrant, released as many times; a 4th release and a release by another process are AssertionErrors', async () => {
  const lock = new RLock();
  assert.equal(String(lock), '<RLock(None, 0)>');
  assert.equal(await lock.acquire(), true);
  assert.equal(await lock.acquire(), true);
  assert.equal(lock.acquireSync(), true);
  assert.equal(String(lock), '<RLock(MainProcess, 3)>');
  const failed = new Event();
  const released = new Event();
  const p = make({ target: releaseRLock, args: [lock, failed, released] });
  p.start();
  await p.join();
  assert.equal(failed.isSet(), true);
  assert.equal(released.isSet(), false);
  for (let i = 0; i < 3; i++) assert.equal(lock.release(), undefined);
  assert.throws(() => lock.release(), (e: Error) => e instanceof AssertionError && e.message === 'attempt to release recursive lock not owned by thread');
});

test('withLock releases whether fn returns or throws', async () => {
  const lock = new Lock();
  assert.equal(await lock.withLock(() => 42), 42);
  assert.equal(lock.locked(), false);
  await assert.rejects(lock.withLock(async () => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(lock.locked(), false);
});

test('test_semaphore: 2, 1, 0, try fails at 0, releases go past the start; BoundedSemaphore refuses', async () => {
  const s = new Semaphore(2);
  assert.equal(s.getValue(), 2);
  assert.equal(await s.acquire(), true);
  assert.equal(s.getValue(), 1);
  assert.equal(s.acquireSync(), true);
  assert.equal(s.getValue(), 0);
  assert.equal(await s.acquire(0), false);
  s.release();
  s.release();
  s.release();
  s.release();
  assert.equal(s.getValue(), 4);
  assert.equal(String(s), '<Semaphore(value=4)>');
  const b = new BoundedSemaphore(2);
  await b.acquire();
  b.release();
  assert.throws(() => b.release(), (e: Error) => e instanceof ValueError && e.message === 'semaphore or lock released too many times');
  assert.equal(String(b), '<BoundedSemaphore(value=2, maxvalue=2)>');
  const zero = new BoundedSemaphore(0);
  assert.throws(() => zero.release(), ValueError);
});

test('test_timeout: Semaphore(0) try and timed acquires give false', async () => {
  const s = new Semaphore(0);
  assert.equal(await s.acquire(0), false);
  assert.equal(s.acquireSync(0), false);
  assert.equal(await s.acquire(50), false);
  assert.equal(s.acquireSync(50), false);
  const [a, b] = await Promise.all([s.acquire(30), s.acquire(60)]);
  assert.deepEqual([a, b], [false, false]);
});

test('a Semaphore across processes: children wake waiters in the parent', async () => {
  const s = new Semaphore(0);
  const p = make({ target: releaseIt, args: [s as unknown as Lock] });
  p.start();
  assert.equal(await s.acquire(30_000), true);
  await p.join();
});

test('test_event: unset, wait(0) and wait(T) false; set wakes; a child sets it later', async () => {
  const event = new Event();
  assert.equal(event.isSet(), false);
  assert.equal(await event.wait(0), false);
  assert.equal(await event.wait(30), false);
  assert.equal(event.waitSync(30), false);
  event.set();
  assert.equal(event.isSet(), true);
  assert.equal(await event.wait(), true);
  assert.equal(event.waitSync(), true);
  assert.equal(String(event), '<Event set>');
  event.clear();
  assert.equal(event.isSet(), false);
  const p = make({ target: setLater, args: [event, 100] });
  p.start();
  const waits = [event.wait(), event.wait(), event.wait(30_000)];
  assert.deepEqual(await Promise.all(waits), [true, true, true]);
  await p.join();
});

test('an Event set by a child wakes a blocking waitSync', async () => {
  const event = new Event();
  const p = make({ target: setLater, args: [event, 50] });
  p.start();
  assert.equal(event.waitSync(30_000), true);
  await p.join();
});

test('robust mode: a holder killed with SIGKILL does not deadlock; the next acquirer gets OwnerDiedError and holds the lock', async () => {
  const lock = new Lock({ robust: true });
  assert.equal(lock.robust, true);
  const holding = new Event();
  const holder = make({ target: holdForever, args: [lock, holding] });
  holder.start();
  assert.equal(await holding.wait(30_000), true);
  assert.equal(await lock.acquire(0), false);
  holder.kill();
  await assert.rejects(lock.acquire(30_000), (e: Error) => e instanceof OwnerDiedError && e.ownerPid === holder.pid && /died without releasing it/.test(e.message));
  assert.equal(lock.locked(), true);
  lock.release();
  await holder.join();
  assert.equal(holder.exitCode, -9);

  // Again, with the next acquirer a child blocked in acquireSync.
  holding.clear();
  const again = make({ target: holdForever, args: [lock, holding] });
  again.start();
  assert.equal(await holding.wait(30_000), true);
  const tookOver = new Event();
  const taker = make({ target: takeOverSync, args: [lock, tookOver] });
  taker.start();
  again.kill();
  await taker.join();
  await again.join();
  assert.equal(tookOver.isSet(), true);
  assert.equal(lock.locked(), false);
});

test('robust mode for an RLock: the next acquirer owns it after OwnerDiedError, and releases it', async () => {
  const lock = new RLock({ robust: true });
  const holding = new Event();
  const holder = make({ target: holdForever, args: [lock as unknown as Lock, holding] });
  holder.start();
  assert.equal(await holding.wait(30_000), true);
  holder.kill();
  await assert.rejects(lock.acquire(30_000), OwnerDiedError);
  assert.equal(String(lock), '<RLock(MainProcess, 1)>');
  assert.equal(await lock.acquire(), true); // re-entrant: ours now
  lock.release();
  lock.release();
  assert.throws(() => lock.release(), AssertionError);
  await holder.join();
});

test('the default (not robust) Lock stays held when its holder dies, as in Python', async () => {
  const lock = new Lock();
  const holding = new Event();
  const holder = make({ target: holdForever, args: [lock, holding] });
  holder.start();
  assert.equal(await holding.wait(30_000), true);
  holder.kill();
  await holder.join();
  assert.equal(await lock.acquire(100), false);
  lock.release(); // a Lock has no owner: anyone may free it
  assert.equal(await lock.acquire(0), true);
  lock.release();
});

test('bad input: negative or non-number timeouts, bad values, wrong types', async () => {
  const lock = new Lock();
  await assert.rejects(lock.acquire(-1), (e: Error) => e instanceof RangeError && /must be a number of milliseconds >= 0/.test(e.message));
  await assert.rejects(lock.acquire('10' as unknown as number), TypeError);
  await assert.rejects(lock.acquire(NaN), RangeError);
  assert.throws(() => lock.acquireSync(-5), RangeError);
  await assert.rejects(new Event().wait(-1), RangeError);
  await assert.rejects(new Semaphore(0).acquire(-1), RangeError);
  assert.throws(() => new Semaphore(-1), (e: Error) => e instanceof ValueError && e.message === 'semaphore initial value must be >= 0');
  assert.throws(() => new Semaphore(1.5), TypeError);
  assert.throws(() => new Lock({ robust: 'yes' as unknown as boolean }), TypeError);
  await assert.rejects(lock.withLock(5 as unknown as () => void), TypeError);
  assert.throws(() => new RLock().release(), AssertionError);
  assert.throws(() => new Lock().release(), ValueError);
});

test('contended locked increments of a file in two processes and this one end exact (async and blocking acquires)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-test-'));
  try {
    const path = join(dir, 'counter');
    writeFileSync(path, '0');
    const lock = new Lock();
    const children = [true, false].map((sync) => make({ target: fileIncrements, args: [lock, path, 300, sync] }));
    for (const p of children) p.start();
    await fileIncrements(lock, path, 300, false);
    for (const p of children) await p.join();
    assert.deepEqual(children.map((p) => p.exitCode), [0, 0]);
    assert.equal(readFileSync(path, 'utf8'), '900');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a blocking acquireSync in the parent is woken by a child\'s release; a Semaphore too', async () => {
  const lock = new Lock();
  await lock.acquire();
  const p = make({ target: releaseLater, args: [lock, 50] });
  p.start();
  assert.equal(lock.acquireSync(30_000), true);
  lock.release();
  const s = new Semaphore(0);
  const q = make({ target: releaseLater, args: [s as unknown as Lock, 50] });
  q.start();
  assert.equal(s.acquireSync(30_000), true);
  await p.join();
  await q.join();
  assert.deepEqual([p.exitCode, q.exitCode], [0, 0]);
});

test('instanceof and the inherited helpers hold for every class', async () => {
  const bounded = new BoundedSemaphore(1);
  assert.ok(bounded instanceof BoundedSemaphore && bounded instanceof Semaphore);
  assert.ok(new RLock() instanceof RLock);
  assert.ok(!(new RLock() instanceof Lock));
  assert.ok(new Event() instanceof Event);
  assert.equal(await bounded.withLock(() => bounded.getValue()), 0);
  assert.equal(bounded.getValue(), 1);
});

test('a child makes an Event of its own and a grandchild sets it', async () => {
  const done = new Event();
  const p = make({ target: ownEventThroughGrandchild, args: [done] });
  p.start();
  assert.equal(await done.wait(30_000), true);
  await p.join();
  assert.equal(p.exitCode, 0);
});

async function notifyCase(target: typeof waitOnCondition | typeof waitOnConditionSync, lock?: Lock): Promise<void> {
  const cond = new Condition(lock);
  const sleeping = new Semaphore(0);
  const woken = new Semaphore(0);
  const children = [0, 1, 2].map(() => make({ target, args: [cond, sleeping, woken] }));
  for (const p of children) p.start();
  for (let i = 0; i < 3; i++) assert.equal(await sleeping.acquire(30_000), true);
  // Each child took its ticket holding the lock, so once we hold it all three wait.
  await cond.acquire();
  cond.notify();
  cond.release();
  assert.equal(await woken.acquire(30_000), true);
  await sleep(200);
  assert.equal(woken.getValue(), 0, 'notify() woke exactly one');
  await cond.acquire();
  cond.notify(2);
  cond.release();
  assert.equal(await woken.acquire(30_000), true);
  assert.equal(await woken.acquire(30_000), true);
  for (const p of children) await p.join();
  assert.deepEqual(children.map((p) => p.exitCode), [0, 0, 0]);
}

test('test_notify / test_notify_n: three children wait on a Condition; notify() wakes one, notify(2) the other two', async () => {
  await notifyCase(waitOnCondition);
});

test('the same with a Lock and the blocking waitSync in the children', async () => {
  await notifyCase(waitOnConditionSync, new Lock());
});

test('test_notify_all and test_timeout: notifyAll wakes every waiter of this process; wait(T) gives false', async () => {
  // A Lock, not the default RLock: RLock ownership is per process, so it would not keep these tasks apart.
  const cond = new Condition(new Lock());
  await cond.acquire();
  assert.equal(await cond.wait(30), false);
  assert.equal(cond.waitSync(30), false);
  cond.release();
  const woke: boolean[] = [];
  let entered = 0;
  const waiters = [0, 1, 2].map(async () => {
    await cond.acquire();
    entered += 1; // holding the lock, which wait() releases only once it has its place in line
    const r = await cond.wait(30_000);
    woke.push(r);
    cond.release();
  });
  while (entered < 3) await sleep(5);
  await cond.acquire();
  cond.notifyAll();
  cond.release();
  await Promise.all(waiters);
  assert.deepEqual(woke, [true, true, true]);
});

test('test_waitfor: waitFor returns the predicate\'s value, also at the timeout', async () => {
  const cond = new Condition();
  let state = 0;
  await cond.acquire();
  assert.equal(await cond.waitFor(() => state === 3, 50), false);
  const setter = (async () => {
    for (let i = 0; i < 3; i++) {
      await sleep(10);
      await cond.acquire();
      state += 1;
      cond.notify();
      cond.release();
    }
  })();
  assert.equal(await cond.waitFor(() => state === 3), true);
  cond.release();
  await setter;
});

test('Condition misuse: wait and notify without the lock are AssertionErrors with Python\'s messages', async () => {
  const cond = new Condition(new Lock());
  await assert.rejects(cond.wait(), (e: Error) => e instanceof AssertionError && e.message === 'must acquire() condition before using wait()');
  assert.throws(() => cond.waitSync(), /must acquire\(\) condition before using wait\(\)/);
  assert.throws(() => cond.notify(), (e: Error) => e instanceof AssertionError && e.message === 'lock is not owned');
  assert.throws(() => cond.notifyAll(), /lock is not owned/);
  assert.throws(() => new Condition(5 as unknown as Lock), TypeError);
});

test('a primitive inside a value sent on a Connection is refused with Python\'s words: only inheritance shares it', async () => {
  const listener = new Listener();
  const accepted = listener.accept();
  const client = await Client(listener.address);
  const server = await accepted;
  try {
    for (const [name, value] of [['Lock', new Lock()], ['Semaphore', new Semaphore()], ['Event', new Event()], ['Condition', new Condition()]] as const) {
      assert.throws(
        () => client.send({ inside: [value] }),
        (e: Error) => e instanceof ProcessError && e.message.startsWith(`${name} objects should only be shared between processes through inheritance`),
      );
    }
  } finally {
    client.close();
    server.close();
    listener.close();
  }
});

test('Value and RawValue: typecodes, wrap-around as in C, getLock and getObj, repr', () => {
  const v = Value('i', 7);
  assert.equal(v.value, 7);
  v.value = 2 ** 31;
  assert.equal(v.value, -(2 ** 31), 'an int wraps as in C');
  assert.ok(v.getLock() instanceof RLock);
  assert.equal(v.getObj().value, -(2 ** 31));
  assert.equal(String(v), "<Synchronized wrapper for SharedValue('i', -2147483648)>");
  const d = RawValue('d', 1.5);
  assert.ok(d instanceof RawValue);
  d.value = d.value * 2;
  assert.equal(d.value, 3);
  const q = Value('q', 5n, { lock: new Lock() });
  q.value = q.value * 3n;
  assert.equal(q.value, 15n);
  assert.ok(q.getLock() instanceof Lock);
  const c = Value('c', 'a', { lock: false });
  assert.deepEqual(c.value, Buffer.from('a'));
  assert.throws(() => (v.value = 1.5), RangeError);
  assert.throws(() => Value('z' as 'i', 0), TypeError);
});

test('four processes add 250 each to a Value under its lock (async and withLock + acquireSync): exactly 1000', async () => {
  const v = Value('i', 0);
  const children = [addUnderLock, addWithLock, addUnderLock].map((target) => make({ target, args: [v, 250] }));
  for (const p of children) p.start();
  await addWithLock(v, 250);
  for (const p of children) await p.join();
  assert.deepEqual(children.map((p) => p.exitCode), [0, 0, 0]);
  assert.equal(v.value, 1000);
});

test('test_barrier: the parent and three children pass together, cycle after cycle, with distinct indices', async () => {
  const barrier = new Barrier(4);
  assert.equal(barrier.parties, 4);
  const results = RawArray('i32', [9, 9, 9, 9, 9, 9]);
  const children = [0, 1, 2].map((slot) => make({ target: slot === 2 ? atBarrierSync : atBarrier, args: [barrier, results, slot] }));
  for (const p of children) p.start();
  const mine = await barrier.wait(30_000);
  for (const p of children) await p.join();
  assert.deepEqual([...results.slice(0, 3), mine].sort(), [0, 1, 2, 3]);
  assert.equal(barrier.nWaiting, 0);
  // A second cycle on the same barrier.
  const again = [0, 1, 2].map((slot) => make({ target: atBarrier, args: [barrier, results, slot + 3] }));
  for (const p of again) p.start();
  const second = barrier.waitSync(30_000);
  for (const p of again) await p.join();
  assert.deepEqual([...results.slice(3, 6), second].sort(), [0, 1, 2, 3]);
});

test('test_action, test_abort, test_reset, test_timeout: broken barriers', async () => {
  let ran = 0;
  const withAction = new Barrier(2, { action: () => void (ran += 1) });
  assert.deepEqual((await Promise.all([withAction.wait(), withAction.wait()])).sort(), [0, 1]);
  assert.equal(ran, 1);

  const failing = new Barrier(2, { action: () => { throw new Error('action failed'); } });
  const outcomes = await Promise.allSettled([failing.wait(), failing.wait()]);
  assert.deepEqual(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).name : 'ok')).sort(), ['BrokenBarrierError', 'Error']);
  assert.equal(failing.broken, true);

  const barrier = new Barrier(3);
  const waiting = barrier.wait();
  await sleep(20);
  assert.equal(barrier.nWaiting, 1);
  barrier.abort();
  await assert.rejects(waiting, BrokenBarrierError);
  assert.equal(barrier.broken, true);
  await assert.rejects(barrier.wait(), BrokenBarrierError);
  barrier.reset();
  assert.equal(barrier.broken, false);

  const pending = barrier.wait();
  await sleep(20);
  barrier.reset();
  await assert.rejects(pending, BrokenBarrierError);
  assert.equal(barrier.broken, false);
  assert.deepEqual((await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()])).sort(), [0, 1, 2]);

  await assert.rejects(barrier.wait(30), BrokenBarrierError);
  assert.equal(barrier.broken, true);
  const timed = new Barrier(2, { timeout: 20 });
  await assert.rejects(timed.wait(), BrokenBarrierError);
  assert.throws(() => make({ target: atBarrier, args: [withAction, RawArray('i32', 1), 0] }).start(), /action cannot be passed/);
});

test('bad input for barriers', () => {
  assert.throws(() => new Barrier(0), RangeError);
  assert.throws(() => new Barrier('2' as unknown as number), TypeError);
});
