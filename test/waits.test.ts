// Async waits hold no libuv threadpool thread (issue 13, items 1 and 2): a
// process exits at once with any number of them pending, fs, crypto, dns and
// other queues keep working beside them, and their timeouts hold, past
// futex_waitv's 128 words and on the fallback without it. Each case runs in
// a program of its own (test/fixtures/programs/pending-waits.ts): an exit is
// what is tested, and a hang there must not take this runner with it.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, run, type Outcome } from './helpers/run.js';

afterEach(() => assertNoneLeftBehind());

/** A hang shows as run()'s own timeout, which rejects. */
function pendingWaits(mode: string, fallback = false): Promise<Outcome> {
  // run() spawns at once, with the environment of the moment.
  if (fallback) process.env.MULTIPROC_NO_FUTEX_WAITV = '1';
  try {
    return run(['--import', 'tsx', `${PROGRAMS}pending-waits.ts`, mode], { timeoutMs: 30_000 });
  } finally {
    delete process.env.MULTIPROC_NO_FUTEX_WAITV;
  }
}

for (const fallback of [false, true]) {
  const how = fallback ? ' (fallback without futex_waitv)' : '';

  test(`process.exit() returns at once with a Lock, an Event, a Condition and a Queue.get pending${how}`, async () => {
    const outcome = await pendingWaits('exit', fallback);
    assert.deepEqual(outcome.lines, [{ pending: true }], outcome.stderr);
    assert.equal(outcome.code, 7, outcome.stderr);
  });

  test(`an uncaught exception ends the process, code 1, with the same waits pending${how}`, async () => {
    const outcome = await pendingWaits('throw', fallback);
    assert.deepEqual(outcome.lines, [{ pending: true }], outcome.stderr);
    assert.equal(outcome.code, 1);
    assert.match(outcome.stderr, /uncaught, with waits pending/);
  });

  test(`with 24 waits pending, fs.promises, crypto, dns and another queue's put and get all complete${how}`, async () => {
    const outcome = await pendingWaits('starve', fallback);
    assert.deepEqual(outcome.lines, [{ file: true, key: 32, address: 'string', got: 'through' }], outcome.stderr);
    assert.equal(outcome.code, 0);
  });

  test(`200 waits on 200 distinct words: those set wake, the others time out${how}`, async () => {
    const outcome = await pendingWaits('many', fallback);
    assert.equal(outcome.code, 0, outcome.stderr);
    const [seen] = outcome.lines;
    assert.equal(seen?.setWoke, 100);
    assert.equal(seen?.othersTimedOut, 100);
  });
}

test('a Pool with maxTasksPerChild 1 whose tasks leave an Event.wait pending: workers retire and join() returns', async () => {
  const outcome = await pendingWaits('pool');
  assert.deepEqual(outcome.lines, [{ doubled: [2, 4, 6, 8] }], outcome.stderr);
  assert.equal(outcome.code, 0);
});
