// Locks, semaphores, events, conditions and barriers across processes:
// CPython's _TestLock, _TestSemaphore, _TestEvent, _TestCondition and
// _TestBarrier rows (tests 30-32 of the semantics doc), robust mode, and bad input.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, test } from 'node:test';
import {
  AssertionError,
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  Condition,
  Event,
  Lock,
  OwnerDiedError,
  RawArray,
  RLock,
  Semaphore,
  ValueError,
} from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { PROGRAMS } from './helpers/run.js';
import {
  atBarrier,
  atBarrierSync,
  forwardLock,
  holdForever,
  lockedIncrements,
  releaseIt,
  releaseRLock,
  setLater,
  takeOverSync,
  waitOnCondition,
  waitOnConditionSync,
} from './fixtures/sync.js';

afterEach(() => assertNoneLeftBehind());

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

test('contended locked increments in two processes and this one end exact (async and blocking acquires)', async () => {
  const lock = new Lock();
  const counter = RawArray('d', 1);
  const children = [true, false].map((sync) => make({ target: lockedIncrements, args: [lock, counter, 5000, sync] }));
  for (const p of children) p.start();
  await lockedIncrements(lock, counter, 5000, false);
  for (const p of children) await p.join();
  assert.equal(counter[0], 15000);
});


test('thousands of primitives share a few arenas: no file descriptor per object', async () => {
  const kept = [];
  for (let i = 0; i < 20_000; i++) {
    const lock = new Lock();
    await lock.acquire();
    lock.release();
    if (i % 1000 === 0) kept.push(lock, new Event(), new Semaphore(2), new Condition());
  }
  const p = make({ target: releaseIt, args: [kept[0] as Lock] });
  await (kept[0] as Lock).acquire();
  p.start();
  await p.join();
  assert.equal((kept[0] as Lock).locked(), false);
});


test('bad input for barriers', () => {
  assert.throws(() => new Barrier(0), RangeError);
  assert.throws(() => new Barrier('2' as unknown as number), TypeError);
});

test('without the native addon, locks, semaphores, events, conditions, Values, SharedMemory and ShareableList work (one warning); each object that needs shared memory mapped fails at once, saying why and how to get it', async () => {
  const { spawnSync } = await import('node:child_process');
  const out = spawnSync(process.execPath, ['--import', 'tsx', `${PROGRAMS}no-native.ts`], { env: { ...process.env, MULTIPROC_NO_NATIVE: '1' }, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; ok?: boolean; error?: string; message?: string });
  assert.deepEqual(lines.map((l) => l.name), ['Lock', 'RLock', 'Semaphore', 'Event', 'Condition', 'Value', 'Barrier', 'Array', 'SharedMemory', 'ShareableList']);
  for (const line of lines.slice(0, 6)) assert.equal(line.ok, true, line.name);
  // SharedMemory and ShareableList on the segment's file (test/shared-memory-fallback.test.ts).
  for (const line of lines.slice(8)) assert.equal(line.ok, true, `${line.name}: ${line.message}`);
  for (const line of lines.slice(6, 8)) {
    assert.equal(line.error, 'OSError', line.name);
    assert.match(line.message!, new RegExp(`^${line.name} needs multiproc's native addon, which could not be loaded \\(disabled by MULTIPROC_NO_NATIVE=1\\)`));
    assert.match(line.message!, /npm ci/);
  }
  assert.equal(
    out.stderr,
    'multiproc: the native addon could not be loaded (disabled by MULTIPROC_NO_NATIVE=1); locks, semaphores, events, conditions and Values go through a slower IPC server\n',
  );
});
