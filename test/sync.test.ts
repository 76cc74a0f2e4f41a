// What only the native addon does (futexes on shared memory: contended
// increments, thousands of objects in a few arenas), and what a process
// without it gets. The primitives' semantics are in test/primitives.test.ts,
// which runs in both modes.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Condition, Event, Lock, RawArray, Semaphore } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { PROGRAMS } from './helpers/run.js';
import { lockedIncrements, releaseIt } from './fixtures/sync.js';

afterEach(() => assertNoneLeftBehind());

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

test('without the native addon, locks, semaphores, events, conditions, barriers, Values, Arrays, SharedMemory, ShareableList, Pipe and Pool work, with one warning that says what is slower and how to get the addon', async () => {
  const { spawnSync } = await import('node:child_process');
  const out = spawnSync(process.execPath, ['--import', 'tsx', `${PROGRAMS}no-native.ts`], { env: { ...process.env, MULTIPROC_NO_NATIVE: '1' }, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; ok?: boolean; error?: string; message?: string });
  assert.deepEqual(lines.map((l) => l.name), ['Lock', 'RLock', 'Semaphore', 'Event', 'Condition', 'Value', 'Barrier', 'Array', 'SharedMemory', 'ShareableList', 'Pipe', 'Pool']);
  // SharedMemory and ShareableList on the segment's file (test/shared-memory-fallback.test.ts); Pipe and Pool: test/noaddon.test.ts.
  for (const line of lines) assert.equal(line.ok, true, `${line.name}: ${line.message}`);
  assert.equal(
    out.stderr,
    "multiproc: the native addon could not be loaded (disabled by MULTIPROC_NO_NATIVE=1); slower without it: locks, semaphores, events, conditions, barriers, Values and Arrays (through an IPC server), queues, Pools, and SharedMemory's buf (file reads and writes); unset MULTIPROC_NO_NATIVE to use it\n",
  );
});

test('without the native addon, where worker threads cannot start, every call fails with an OSError that says why (never a hang)', async () => {
  const { spawnSync } = await import('node:child_process');
  const runIt = (mode: 'async' | 'sync'): string[] => {
    const out = spawnSync(process.execPath, ['--require', `${PROGRAMS}break-workers.cjs`, `${PROGRAMS}broken-link.mjs`, mode], {
      env: { ...process.env, MULTIPROC_NO_NATIVE: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(out.status, 0, out.stderr);
    // (The server thread's failure is reported on stderr too, if it is seen before the program ends.)
    return JSON.parse(out.stdout) as string[];
  };
  // An async call learns of the thread's failure at once; the calls after it fail at once too.
  const broken = /^OSError: multiproc: this process's link to the sync server at \/\S+\/multiproc-sync-\d+-\w+\/socket is broken: its thread failed: worker threads are broken in this process$/;
  const [first, second, ...rest] = runIt('async');
  assert.match(first!, broken);
  assert.equal(second, first);
  assert.deepEqual(rest, []);
  // A blocking call first cannot hear of it: it gives up once the process has used no CPU for a while
  // (a thread still booting on a loaded machine uses some: it is waited for).
  const [blocking] = runIt('sync');
  assert.match(blocking!, /^OSError: multiproc: this process's link to the sync server at \S+ is broken: its thread \(\S+client-thread.js\) did not start: this process has used no CPU for 5 s while it waited$/);
});
