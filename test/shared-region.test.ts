// The shared-memory core: SharedRegion (memfd + mmap) travelling to children,
// Atomics across processes, and the addon's real shared futexes. Internal, so
// this imports the built modules rather than the package.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { wait, waitAsync, wake } from '../dist/cjs/shared/futex.js';
import { SharedRegion } from '../dist/cjs/shared/region.js';
import { READY_WORD, REPORT_WORD, startAdder, startWaiter, WAKE_CODES, WAKE_WORD } from './fixtures/shared.js';
import { testsTheAddon } from './helpers/addon.js';
import { assertNoneLeftBehind } from './helpers/cleanup.js';

afterEach(async () => {
  await assertNoneLeftBehind();
});

/** Runs `body` with a new region of `size` bytes, closing it afterwards. */
async function withRegion(size: number, body: (region: SharedRegion) => Promise<void> | void): Promise<void> {
  const region = SharedRegion.create(size);
  try {
    await body(region);
  } finally {
    region.close();
  }
}

/** The kernel function the process's main thread sleeps in ('0' where the kernel hides it). */
function wchan(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'latin1');
  } catch {
    return '';
  }
}

/** Polls `ready` every few ms until it holds, failing after `withinMs`. */
async function until(ready: () => boolean, what: string, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!ready()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

test('a region is zero-filled, sized, and its int32 view covers whole words', { skip: testsTheAddon('memfd and mmap') }, async () => {
  await withRegion(10, (region) => {
    assert.equal(region.size, 10);
    assert.equal(region.buffer.byteLength, 10);
    assert.ok(Number.isInteger(region.fd) && region.fd > 2);
    assert.deepEqual([...new Uint8Array(region.buffer)], new Array(10).fill(0));
    assert.equal(region.int32().length, 2);
    region.close();
    assert.equal(region.closed, true);
    assert.throws(() => region.fd, { name: 'ValueError' });
    region.close(); // idempotent
    // The mapping outlives the fd.
    region.int32()[0] = 7;
    assert.equal(region.int32()[0], 7);
  });
});

test('SharedRegion.create validates its size', () => {
  assert.throws(() => SharedRegion.create(0), RangeError);
  assert.throws(() => SharedRegion.create(1.5), RangeError);
  assert.throws(() => SharedRegion.create('8' as unknown as number), TypeError);
});

test('4 children each add 1 to a shared word 10,000 times: the parent reads exactly 40,000', { skip: testsTheAddon('memfd and mmap') }, async () => {
  await withRegion(64, async (region) => {
    const children = Array.from({ length: 4 }, () => startAdder(region, 10_000, 4));
    for (const child of children) {
      await child.join();
      assert.equal(child.exitCode, 0);
      child.close();
    }
    assert.equal(Atomics.load(region.int32(), 1), 4, 'all four passed the barrier');
    assert.equal(Atomics.load(region.int32(), 0), 40_000);
  });
});

test('a closed region cannot be passed to a child: start() fails and no process is left', { skip: testsTheAddon('memfd and mmap') }, () => {
  const region = SharedRegion.create(8);
  region.close();
  assert.throws(() => startAdder(region, 1, 1), { name: 'ValueError', message: /SharedRegion is closed/ });
});

test('a futex wake crosses processes: the parent wakes a child sleeping in futexWait', { skip: testsTheAddon('futexes') }, async () => {
  await withRegion(64, async (region) => {
    const view = region.int32();
    const child = startWaiter(region, 30_000);
    // Wake only once the child sleeps in the futex: a wake before that would be
    // lost, and a store of 1 before it would make the child see 'not-equal'.
    await until(() => Atomics.load(view, READY_WORD) === 1, 'the child is about to wait');
    const pid = child.pid!;
    const visible = wchan(pid) !== '0';
    if (visible) await until(() => wchan(pid).startsWith('futex'), `the child (pid ${pid}) sleeps in a futex`);
    else await sleep(200);
    Atomics.store(view, WAKE_WORD, 1);
    const woken = wake(view, WAKE_WORD, 1);
    if (visible) assert.equal(woken, 1);
    await child.join(10_000);
    assert.equal(child.exitCode, 0);
    assert.equal(Atomics.load(view, REPORT_WORD), WAKE_CODES.ok);
    child.close();
  });
});

test("futexWait returns 'not-equal' at once when the word differs, and 'timed-out' after its timeout", { skip: testsTheAddon('futexes') }, async () => {
  await withRegion(16, (region) => {
    const view = region.int32();
    Atomics.store(view, 0, 5);
    assert.equal(wait(view, 0, 4, 10_000), 'not-equal');
    const started = performance.now();
    assert.equal(wait(view, 0, 5, 50), 'timed-out');
    assert.ok(performance.now() - started >= 45, 'it waited about as long as asked');
    assert.equal(wait(view, 0, 5, 0), 'timed-out');
    assert.equal(wake(view, 0), 0, 'no one waits');
  });
});

test('futexWaitAsync leaves the event loop running, and a wake from this process resolves it with ok', { skip: testsTheAddon('futexes') }, async () => {
  await withRegion(16, async (region) => {
    const view = region.int32();
    let settled = false;
    const waiting = waitAsync(view, 0, 0, 10_000).finally(() => {
      settled = true;
    });
    const ranWhileWaiting = await new Promise<boolean>((resolve) => setTimeout(() => resolve(!settled), 20));
    assert.equal(ranWhileWaiting, true, 'a timer fired while the wait was pending');
    // The waiting thread may not sleep yet: wake (leaving the word at 0) until a wake finds it.
    await until(() => wake(view, 0, 1) === 1, 'a wake reaches the waiting thread');
    assert.equal(await waiting, 'ok');
    assert.equal(await waitAsync(view, 0, 1, 10_000), 'not-equal');
    assert.equal(await waitAsync(view, 0, 0, 20), 'timed-out');
  });
});

test('futex calls reject a wrong view, an index out of range and non-integers', { skip: testsTheAddon('futexes') }, async () => {
  await withRegion(16, (region) => {
    const view = region.int32();
    assert.throws(() => wait(new Int32Array(4), 0, 0, 0), { name: 'TypeError', message: /shared memory from mapFd/ });
    assert.throws(() => wait(new Uint32Array(region.buffer) as unknown as Int32Array, 0, 0, 0), { name: 'TypeError', message: /Int32Array/ });
    assert.throws(() => wake({} as Int32Array, 0), TypeError);
    assert.throws(() => wait(view, 4, 0, 0), { name: 'RangeError', message: /index .* from 0 to 3, not 4/ });
    assert.throws(() => wake(view, -1), RangeError);
    assert.throws(() => wake(view, 0.5), RangeError);
    assert.throws(() => wait(view, 0, 2 ** 31, 0), { name: 'RangeError', message: /expected/ });
    assert.throws(() => wait(view, 0, 0, Number.NaN), { name: 'RangeError', message: /timeoutMs/ });
    assert.throws(() => wake(view, 0, -1), { name: 'RangeError', message: /count/ });
    assert.throws(() => waitAsync(view, 99, 0, 0), RangeError);
    assert.throws(() => wait(view, '0' as unknown as number, 0, 0), TypeError);
  });
});

test('without the native addon, SharedRegion.create says the addon is needed', () => {
  // A separate node in which node-gyp-build cannot be loaded, as where no addon was built.
  const region = new URL('../dist/cjs/shared/region.js', import.meta.url).pathname;
  const script = `
    const Module = require('node:module');
    const load = Module._load;
    Module._load = function (request, ...rest) {
      if (request === 'node-gyp-build') throw new Error('no addon here');
      return load.call(this, request, ...rest);
    };
    try {
      require(${JSON.stringify(region)}).SharedRegion.create(8);
    } catch (error) {
      process.stdout.write(JSON.stringify({ name: error.name, message: error.message }));
    }`;
  // Without MULTIPROC_NO_NATIVE, whichever way this file runs: the reason is the failed load.
  const env = { ...process.env, MULTIPROC_NO_NATIVE: '' };
  const { name, message } = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env })) as { name: string; message: string };
  assert.equal(name, 'OSError');
  assert.match(message, /SharedRegion needs multiproc's native addon, which could not be loaded \(no addon here\)/);
});
