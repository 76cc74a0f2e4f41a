// Queues survive a killed user (issue 13, item 8): a getter killed while it
// waits holds nothing, and an item whose putter was killed while writing it
// is reported lost to its getter, in time, while the queue goes on.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, test } from 'node:test';
import { Event, OSError, Queue } from 'multiproc';
import { make } from './fixtures/make.js';
import { PROGRAMS, run } from './helpers/run.js';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { getForever, putBig, putSome } from './fixtures/queues.js';

afterEach(() => assertNoneLeftBehind());

test('a getter killed while it waits in get() leaves the queue readable by the others', async () => {
  const q = new Queue<number>();
  const waiting = new Event();
  const getter = make({ target: getForever, args: [q, waiting] });
  getter.start();
  assert.equal(await waiting.wait(10_000), true);
  // Time to reach the wait inside get(), where the read lock was held before.
  await sleep(200);
  getter.kill();
  await getter.join();
  await q.put(1);
  assert.equal(await q.get({ timeout: 10_000 }), 1);
  assert.equal(q.qsize(), 0);
  getter.close();
  q.close();
  await q.joinThread();
});

// Either the getter finds the writer dead first (and drops the torn item), or
// the next putter does (and completes the item with zeros, marked lost).
for (const putterFirst of [false, true]) {
  test(`a putter killed while writing a 4 MiB item: its getter is told the item was lost, and the next item comes through${putterFirst ? ' (the next putter given time to repair first)' : ''}`, async () => {
    const q = new Queue<Uint8Array | number>();
    const put = new Event();
    const torn = make({ target: putBig, args: [q, 4 << 20, put] });
    torn.start();
    assert.equal(await put.wait(10_000), true);
    // Its feeder fills the pipe (64 KiB of the 4 MiB) and waits for room: killed there.
    await sleep(200);
    torn.kill();
    await torn.join();
    // Another putter, which must not be stuck behind the dead one's write lock (it exits once its item is in).
    const next = make({ target: putSome, args: [q, [42]] });
    next.start();
    if (putterFirst) await sleep(1500);
    await assert.rejects(q.get({ timeout: 2000 }), (error: unknown) => error instanceof OSError && /item was lost.*died while writing it/.test(error.message));
    assert.equal(await q.get({ timeout: 10_000 }), 42);
    await next.join(10_000);
    assert.equal(next.exitCode, 0);
    assert.equal(q.qsize(), 0);
    for (const p of [torn, next]) p.close();
    q.close();
    await q.joinThread();
  });
}

test('new Queue() that cannot make its pipe fails with the reason and leaves no descriptor behind', async () => {
  // The addon's pipe and shared memory, whichever way this file runs (MULTIPROC_NO_NATIVE set or not: empty leaves the addon on).
  const outcome = await run(['--import', 'tsx', `${PROGRAMS}queue-fds.ts`], { timeoutMs: 30_000, env: { MULTIPROC_NO_NATIVE: '' } });
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.deepEqual(outcome.lines, [{ error: 'pipe2: Too many open files', leaked: 0 }]);
});

test('a getter killed in the middle of reading a 4 MiB item: the next getter skips the rest of it and gets the item after', async () => {
  const q = new Queue<unknown>();
  const put = new Event();
  const putter = make({ target: putBig, args: [q, 4 << 20, put] });
  const waiting = new Event();
  const getter = make({ target: getForever, args: [q, waiting] });
  putter.start();
  try {
    assert.equal(await put.wait(10_000), true);
    await until(() => q.qsize() === 1);
    // Its feeder fills the pipe and waits for room; stopped, it writes no more until SIGCONT.
    await sleep(200);
    process.kill(putter.pid!, 'SIGSTOP');
    getter.start();
    assert.equal(await waiting.wait(10_000), true);
    // The getter has taken the item (it counts no more) and reads it: 64 KiB, then it waits for the rest.
    await until(() => q.qsize() === 0);
    await sleep(200);
    getter.kill();
    await getter.join();
    process.kill(putter.pid!, 'SIGCONT');
    await q.put(7);
    assert.equal(await q.get({ timeout: 10_000 }), 7);
    await putter.join(10_000);
    assert.equal(putter.exitCode, 0);
  } finally {
    // A failure above must not leave the putter stopped, or stuck writing what no one reads.
    for (const p of [putter, getter]) {
      if (p.pid !== undefined && p.exitCode === null) {
        process.kill(p.pid, 'SIGCONT');
        p.kill();
        await p.join();
      }
    }
  }
  for (const p of [putter, getter]) p.close();
  q.close();
  await q.joinThread();
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still not so after 10 s: ${condition}`);
    await sleep(10);
  }
}
