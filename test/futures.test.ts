// multiproc/futures: the assertions of CPython's test_concurrent_futures that
// apply (test_future, test_wait, test_as_completed, executor, test_process_pool,
// test_shutdown, test_init), on real worker processes.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { BrokenProcessPool, CancelledError, Event, ProcessError, RemoteTraceback, TimeoutError, ValueError } from 'multiproc';
import { ALL_COMPLETED, asCompleted, FIRST_COMPLETED, FIRST_EXCEPTION, Future, InvalidStateError, ProcessPoolExecutor, wait, type CompletedFuture, type FutureState } from 'multiproc/futures';
import * as futures from 'multiproc/futures';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import {
  capture,
  divmod,
  divmodPair,
  exitWith,
  failingInitializer,
  initialize,
  initializedValue,
  keepEvent,
  makeExecutor,
  mul,
  pid,
  pow,
  powPair,
  raiseRuntimeError,
  RuntimeError,
  sleepMs,
  waitAndRaise,
  waitEvent,
  ZeroDivisionError,
} from './fixtures/futures.js';

afterEach(() => assertNoneLeftBehind());

/** CPython's util.create_future: a Future in a given state. */
function createFuture<T>(state: FutureState, outcome: { result?: T; exception?: unknown } = {}): Future<T> {
  const future = new Future<T>();
  if (state === 'RUNNING') future.setRunningOrNotifyCancel();
  if (state === 'CANCELLED' || state === 'CANCELLED_AND_NOTIFIED') future.cancel();
  if (state === 'CANCELLED_AND_NOTIFIED') future.setRunningOrNotifyCancel();
  if (state === 'FINISHED') {
    if ('exception' in outcome) future.setException(outcome.exception);
    else future.setResult(outcome.result as T);
  }
  assert.equal(future.state, state);
  return future;
}

const PENDING_FUTURE = createFuture('PENDING');
const RUNNING_FUTURE = createFuture('RUNNING');
const CANCELLED_FUTURE = createFuture('CANCELLED');
const CANCELLED_AND_NOTIFIED_FUTURE = createFuture('CANCELLED_AND_NOTIFIED');
class OSError extends Error {}
const EXCEPTION_FUTURE = createFuture('FINISHED', { exception: new OSError() });
const SUCCESSFUL_FUTURE = createFuture('FINISHED', { result: 42 });

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** What a test writes to stderr, as CPython's support.captured_stderr. */
async function capturedStderr(body: () => void | Promise<void>): Promise<string> {
  const write = process.stderr.write;
  let captured = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    captured += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    await body();
  } finally {
    process.stderr.write = write;
  }
  return captured;
}

test('the subpath exports Python\'s names', () => {
  assert.deepEqual(Object.keys(futures).sort(), [
    'ALL_COMPLETED', 'BrokenProcessPool', 'CancelledError', 'FIRST_COMPLETED', 'FIRST_EXCEPTION', 'Future', 'InvalidStateError', 'ProcessPoolExecutor', 'TimeoutError', 'asCompleted', 'wait',
  ]);
  assert.equal(futures.BrokenProcessPool, BrokenProcessPool);
  assert.equal(futures.TimeoutError, TimeoutError);
  assert.equal(futures.CancelledError, CancelledError);
  assert.deepEqual([FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED], ['FIRST_COMPLETED', 'FIRST_EXCEPTION', 'ALL_COMPLETED']);
});

test('test_future: done callbacks with a result, an exception, a cancel; already done; a raising callback is printed and skipped', async () => {
  let callbackResult: unknown = null;
  const f1 = new Future<number>();
  f1.addDoneCallback((f) => void f.result().then((r) => (callbackResult = r)));
  f1.setResult(5);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(callbackResult, 5);

  let callbackException: unknown = null;
  const f2 = new Future();
  f2.addDoneCallback((f) => void f.exception().then((e) => (callbackException = e)));
  f2.setException(new Error('test'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((callbackException as Error).message, 'test');

  let wasCancelled: boolean | null = null;
  const f3 = new Future();
  f3.addDoneCallback((f) => (wasCancelled = f.cancelled()));
  assert.equal(f3.cancel(), true);
  assert.equal(wasCancelled, true);

  let raisingWasCalled = false;
  let fnWasCalled = false;
  const stderr = await capturedStderr(() => {
    const f = new Future<number>();
    f.addDoneCallback(() => {
      raisingWasCalled = true;
      throw new Error('doh!');
    });
    f.addDoneCallback(() => (fnWasCalled = true));
    f.setResult(5);
  });
  assert.ok(raisingWasCalled && fnWasCalled);
  assert.match(stderr, /exception calling callback for <Future \d+ state=finished returned number>/);
  assert.match(stderr, /Error: doh!/);

  // Already done: the callback runs at once.
  let already: string[] = [];
  SUCCESSFUL_FUTURE.addDoneCallback((f) => already.push(f.state));
  EXCEPTION_FUTURE.addDoneCallback((f) => already.push(f.state));
  createFuture('CANCELLED').addDoneCallback((f) => already.push(String(f.cancelled())));
  assert.deepEqual(already, ['FINISHED', 'FINISHED', 'true']);
  already = [];
  const late = await capturedStderr(() => SUCCESSFUL_FUTURE.addDoneCallback(() => {
    throw new Error('doh!');
  }));
  assert.match(late, /exception calling callback for/);
  assert.match(late, /doh!/);
});

test('test_future: cancel, cancelled, done, running in each state', () => {
  const f1 = createFuture('PENDING');
  const f2 = createFuture('RUNNING');
  const f3 = createFuture('CANCELLED');
  const f4 = createFuture('CANCELLED_AND_NOTIFIED');
  const f5 = createFuture('FINISHED', { exception: new OSError() });
  const f6 = createFuture('FINISHED', { result: 5 });
  assert.equal(f1.cancel(), true);
  assert.equal(f1.state, 'CANCELLED');
  assert.equal(f2.cancel(), false);
  assert.equal(f2.state, 'RUNNING');
  assert.equal(f3.cancel(), true);
  assert.equal(f3.state, 'CANCELLED');
  assert.equal(f4.cancel(), true);
  assert.equal(f4.state, 'CANCELLED_AND_NOTIFIED');
  assert.equal(f5.cancel(), false);
  assert.equal(f5.state, 'FINISHED');
  assert.equal(f6.cancel(), false);
  assert.equal(f6.state, 'FINISHED');

  const all = [PENDING_FUTURE, RUNNING_FUTURE, CANCELLED_FUTURE, CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, SUCCESSFUL_FUTURE];
  assert.deepEqual(all.map((f) => f.cancelled()), [false, false, true, true, false, false]);
  assert.deepEqual(all.map((f) => f.done()), [false, false, true, true, true, true]);
  assert.deepEqual(all.map((f) => f.running()), [false, true, false, false, false, false]);
  assert.equal(String(PENDING_FUTURE).replace(/\d+/, 'N'), '<Future N state=pending>');
  assert.equal(String(CANCELLED_AND_NOTIFIED_FUTURE).replace(/\d+/, 'N'), '<Future N state=cancelled>');
  assert.equal(String(EXCEPTION_FUTURE).replace(/\d+/, 'N'), '<Future N state=finished raised Error>');
  assert.equal(String(SUCCESSFUL_FUTURE).replace(/\d+/, 'N'), '<Future N state=finished returned number>');
});

test('test_future: result and exception with a timeout, a later result, a later cancel; await', async () => {
  await assert.rejects(PENDING_FUTURE.result(0), TimeoutError);
  await assert.rejects(RUNNING_FUTURE.result(0), TimeoutError);
  await assert.rejects(CANCELLED_FUTURE.result(0), CancelledError);
  await assert.rejects(CANCELLED_AND_NOTIFIED_FUTURE.result(0), CancelledError);
  await assert.rejects(EXCEPTION_FUTURE.result(0), OSError);
  assert.equal(await SUCCESSFUL_FUTURE.result(0), 42);

  await assert.rejects(PENDING_FUTURE.exception(0), TimeoutError);
  await assert.rejects(RUNNING_FUTURE.exception(0), TimeoutError);
  await assert.rejects(CANCELLED_FUTURE.exception(0), CancelledError);
  await assert.rejects(CANCELLED_AND_NOTIFIED_FUTURE.exception(0), CancelledError);
  assert.ok((await EXCEPTION_FUTURE.exception(0)) instanceof OSError);
  assert.equal(await SUCCESSFUL_FUTURE.exception(0), null);

  const later = createFuture<number>('PENDING');
  setTimeout(() => later.setResult(42), 20);
  assert.equal(await later.result(5000), 42);
  const cancelledLater = createFuture<number>('PENDING');
  setTimeout(() => cancelledLater.cancel(), 20);
  await assert.rejects(cancelledLater.result(5000), CancelledError);
  const failsLater = createFuture<number>('PENDING');
  setTimeout(() => failsLater.setException(new OSError()), 20);
  assert.ok((await failsLater.exception(5000)) instanceof OSError);

  assert.equal(await SUCCESSFUL_FUTURE, 42);
  await assert.rejects(async () => await EXCEPTION_FUTURE, OSError);
  // A failed future nobody awaits is no unhandled rejection (the test runner would report one).
  createFuture('FINISHED', { exception: new OSError() });
});

test('test_future: a second setResult or setException is an InvalidStateError naming the state', async () => {
  const f = createFuture<number>('PENDING');
  f.setResult(1);
  assert.throws(() => f.setResult(2), (e: unknown) => e instanceof InvalidStateError && /^FINISHED: <Future \d+ state=finished returned number>$/.test(e.message));
  assert.equal(f.done(), true);
  assert.equal(await f.result(), 1);
  const g = createFuture('PENDING');
  const error = new ValueError('x');
  g.setException(error);
  assert.throws(() => g.setException(new Error()), (e: unknown) => e instanceof InvalidStateError && /^FINISHED: <Future \d+ state=finished raised ValueError>$/.test(e.message));
  assert.equal(await g.exception(), error);
});

test('test_wait: FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED, timeout, duplicates', async () => {
  const event = new Event();
  await using executor = makeExecutor({ maxWorkers: 2, initializer: keepEvent, initargs: [event] });
  try {
    // test_20369
    const future = executor.submit(mul, 1, 2);
    const { done, notDone } = await wait([future, future], { returnWhen: ALL_COMPLETED });
    assert.deepEqual([...done], [future]);
    assert.equal(notDone.size, 0);

    // test_first_completed
    const future1 = executor.submit(mul, 21, 2);
    const future2 = executor.submit(waitEvent);
    let split = await wait([CANCELLED_FUTURE, future1, future2], { returnWhen: FIRST_COMPLETED });
    assert.deepEqual(split.done, new Set([future1]));
    assert.deepEqual(split.notDone, new Set([CANCELLED_FUTURE, future2]));

    // test_first_completed_some_already_completed
    split = await wait([CANCELLED_AND_NOTIFIED_FUTURE, SUCCESSFUL_FUTURE, future2], { returnWhen: FIRST_COMPLETED });
    assert.deepEqual(split.done, new Set([CANCELLED_AND_NOTIFIED_FUTURE, SUCCESSFUL_FUTURE]));
    assert.deepEqual(split.notDone, new Set([future2]));

    // test_first_exception_one_already_failed
    split = await wait([EXCEPTION_FUTURE, future2], { returnWhen: FIRST_EXCEPTION });
    assert.deepEqual(split.done, new Set([EXCEPTION_FUTURE]));
    assert.deepEqual(split.notDone, new Set([future2]));

    // test_timeout
    split = await wait([CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, SUCCESSFUL_FUTURE, future2], { timeout: 50, returnWhen: ALL_COMPLETED });
    assert.deepEqual(split.done, new Set([CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, SUCCESSFUL_FUTURE]));
    assert.deepEqual(split.notDone, new Set([future2]));
  } finally {
    event.set();
  }
  assert.equal(await executor.submit(waitEvent), true);
});

test('test_wait: FIRST_EXCEPTION returns at the first error (some already complete), ALL_COMPLETED waits for all', async () => {
  const event = new Event();
  await using executor = makeExecutor({ maxWorkers: 2, initializer: keepEvent, initargs: [event] });
  const future1 = executor.submit(divmod, 21, 0);
  const future2 = executor.submit(waitEvent);
  try {
    const split = await wait([SUCCESSFUL_FUTURE, CANCELLED_FUTURE, CANCELLED_AND_NOTIFIED_FUTURE, future1, future2], { returnWhen: FIRST_EXCEPTION });
    assert.deepEqual(split.done, new Set([SUCCESSFUL_FUTURE, CANCELLED_AND_NOTIFIED_FUTURE, future1]));
    assert.deepEqual(split.notDone, new Set([CANCELLED_FUTURE, future2]));
  } finally {
    event.set();
  }
  await future2;

  // test_first_exception: the successful one is done before the failing one fails.
  const blocker = new Event();
  await using second = makeExecutor({ maxWorkers: 3, initializer: keepEvent, initargs: [blocker] });
  const ok = second.submit(mul, 2, 21);
  const failing = second.submit(waitAndRaise);
  const first = await wait([ok], { returnWhen: ALL_COMPLETED });
  assert.equal(first.done.size, 1);
  blocker.set();
  const split = await wait([ok, failing], { returnWhen: FIRST_EXCEPTION });
  assert.deepEqual(split.done, new Set([ok, failing]));
  assert.equal(((await failing.exception()) as Error).message, 'this is an exception');

  const a = second.submit(divmod, 2, 0);
  const b = second.submit(mul, 2, 21);
  const all = await wait([SUCCESSFUL_FUTURE, CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, a, b], { returnWhen: ALL_COMPLETED });
  assert.deepEqual(all.done, new Set([SUCCESSFUL_FUTURE, CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, a, b]));
  assert.equal(all.notDone.size, 0);
  assert.ok((await a.exception()) instanceof ZeroDivisionError);
});

test('test_as_completed: every future once, already done ones first; the timeout message; duplicates once', async () => {
  await using executor = makeExecutor({ maxWorkers: 2 });
  const future1 = executor.submit(mul, 2, 21);
  const future2 = executor.submit(mul, 7, 6);
  const completed = await collect(asCompleted([CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, SUCCESSFUL_FUTURE, future1, future2]));
  assert.deepEqual(new Set(completed), new Set([CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, SUCCESSFUL_FUTURE, future1, future2]));
  assert.deepEqual(completed.slice(0, 3), [CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, SUCCESSFUL_FUTURE]);
  assert.deepEqual(await Promise.all([future1, future2]), [42, 42]);

  // test_future_times_out
  const alreadyCompleted = new Set([CANCELLED_AND_NOTIFIED_FUTURE, EXCEPTION_FUTURE, SUCCESSFUL_FUTURE]);
  for (const timeout of [0, 100]) {
    const slow = executor.submit(sleepMs, 1000);
    const seen = new Set<CompletedFuture<unknown>>();
    await assert.rejects(async () => {
      for await (const f of asCompleted([...alreadyCompleted, slow], timeout)) seen.add(f);
    }, TimeoutError);
    assert.deepEqual(seen, alreadyCompleted);
  }

  // test_duplicate_futures
  const once = executor.submit(sleepMs, 50);
  assert.equal((await collect(asCompleted([once, once, once]))).length, 1);

  // test_correct_timeout_exception_msg
  await assert.rejects(collect(asCompleted([CANCELLED_AND_NOTIFIED_FUTURE, PENDING_FUTURE, RUNNING_FUTURE, SUCCESSFUL_FUTURE], 0)), {
    name: 'TimeoutError',
    message: '2 (of 4) futures unfinished',
  });
});

test('executor: submit, keyword arguments, map with and without chunksize, an error where its result would come, map timeout', async () => {
  await using executor = makeExecutor({ maxWorkers: 2 });
  assert.equal(await executor.submit(pow, 2, 8).result(), 256);
  assert.equal(await executor.submit(mul, 2, 8), 16);
  assert.deepEqual(await executor.submit(capture, 1, { self: 2, fn: 3 }), [1, { self: 2, fn: 3 }]);
  assert.throws(() => (executor.submit as (fn: unknown) => unknown)(42), { code: 'ERR_INVALID_ARG_TYPE' });

  const squares = range(10).map((i) => i ** i);
  assert.deepEqual(await collect(executor.map(powPair, [])), []);
  assert.deepEqual(await collect(executor.map(powPair, range(10).map((i) => [i, i] as [number, number]))), squares);
  assert.deepEqual(await collect(executor.map(powPair, range(10).map((i) => [i, i] as [number, number]), { chunksize: 3 })), squares);

  // test_map_exception
  const it = executor.map(divmodPair, [[1, 2], [1, 3], [1, 0], [1, 5]] as [number, number][]);
  assert.deepEqual((await it.next()).value, [0, 1]);
  assert.deepEqual((await it.next()).value, [0, 1]);
  await assert.rejects(it.next(), ZeroDivisionError);

  // test_map_timeout
  const results: unknown[] = [];
  await assert.rejects(async () => {
    for await (const r of executor.map(sleepMs, [0, 0, 3000], { timeout: 500 })) results.push(r);
  }, TimeoutError);
  assert.deepEqual(results, [null, null]);

  // test_map_chunksize
  const ref = range(40).map((i) => i ** i);
  for (const chunksize of [6, 50, 40]) assert.deepEqual(await collect(executor.map(powPair, range(40).map((i) => [i, i] as [number, number]), { chunksize })), ref);
  assert.throws(() => executor.map(powPair, [], { chunksize: -1 }), { name: 'ValueError', message: 'chunksize must be >= 1.' });

  // test_shutdown_race_issue12456
  void collect(executor.map(pid, [2, 2, 2]));
  await executor.shutdown();
});

test('executor: Python\'s checks of maxWorkers, maxTasksPerChild and initializer', () => {
  for (const number of [0, -1]) assert.throws(() => new ProcessPoolExecutor({ maxWorkers: number }), { name: 'ValueError', message: 'max_workers must be greater than 0' });
  assert.throws(() => new ProcessPoolExecutor({ maxTasksPerChild: 0 }), { name: 'ValueError', message: 'max_tasks_per_child must be >= 1' });
  assert.throws(() => new ProcessPoolExecutor({ maxTasksPerChild: 1.5 }), { name: 'TypeError', message: 'max_tasks_per_child must be an integer' });
  assert.throws(() => new ProcessPoolExecutor({ initializer: 3 as never }), { name: 'TypeError', message: 'initializer must be a callable' });
});

test('test_traceback: the task\'s error with its class, its remote stack in cause', async () => {
  await using executor = makeExecutor({ maxWorkers: 1 });
  const error = await executor.submit(raiseRuntimeError).exception();
  assert.ok(error instanceof RuntimeError);
  assert.equal(error.message, '123');
  assert.ok(error.cause instanceof RemoteTraceback);
  assert.match(error.cause.tb, /raiseRuntimeError/);
});

test('test_killed_child: a worker that dies breaks the executor: its futures and every later submit fail with BrokenProcessPool', async () => {
  const executor = makeExecutor({ maxWorkers: 2 });
  const victim = await executor.submit(pid);
  const running = [executor.submit(sleepMs, 3000), executor.submit(sleepMs, 3000), executor.submit(sleepMs, 3000)];
  // Kill a worker, busy or idle: Python breaks the pool either way.
  process.kill(victim, 'SIGKILL');
  for (const future of running) {
    const error = await future.exception();
    assert.ok(error instanceof BrokenProcessPool, String(error));
    assert.match(error.message, /^A process in the process pool was terminated abruptly while the future was running or pending \(.*PoolWorker-\d+, pid \d+, killed by signal SIGKILL\)\.$/);
    assert.equal(error.signal, 'SIGKILL');
  }
  assert.throws(() => executor.submit(pow, 2, 8), { name: 'BrokenProcessPool', message: 'A child process terminated abruptly, the process pool is not usable anymore' });
  assert.throws(() => executor.map(pid, [1]), BrokenProcessPool);
  await executor.shutdown();

  // test_traceback_when_child_process_terminates_abruptly
  let broken: unknown;
  {
    await using single = makeExecutor({ maxWorkers: 1 });
    broken = await single.submit(exitWith, 99).exception();
  }
  assert.ok(broken instanceof BrokenProcessPool);
  assert.equal(broken.exitCode, 99);
  assert.ok(broken.cause instanceof RemoteTraceback);
  assert.match(broken.cause.tb, /terminated abruptly: exited with code 99/);
});

test('test_max_tasks_per_child: a new worker after three calls', async () => {
  const executor = makeExecutor({ maxWorkers: 1, maxTasksPerChild: 3 });
  const original = await executor.submit(pid);
  assert.equal(await executor.submit(pid), original);
  assert.equal(await executor.submit(pid), original);
  assert.notEqual(await executor.submit(pid), original);
  // gh-115634: more calls than the workers' limits, none left behind.
  assert.deepEqual(await Promise.all(range(8).map((i) => executor.submit(mul, i, 2))), range(8).map((i) => i * 2));
  await executor.shutdown({ wait: true, cancelFutures: true });
});

test('test_init: the initializer runs in each worker; a failing one breaks the executor', async () => {
  {
    await using executor = makeExecutor({ maxWorkers: 2, initializer: initialize, initargs: ['initialized'] });
    assert.deepEqual(await Promise.all(range(4).map(() => executor.submit(initializedValue))), range(4).map(() => 'initialized'));
  }
  const stderr = await capturedStderr(async () => {
    await using failing = makeExecutor({ maxWorkers: 2, initializer: failingInitializer });
    await assert.rejects(failing.submit(mul, 1, 2).result(), BrokenProcessPool);
    assert.throws(() => failing.submit(mul, 1, 2), BrokenProcessPool);
  });
  void stderr;
});

test('test_shutdown: no submit after shutdown; cancelFutures cancels what has not started; await using waits', async () => {
  const executor = makeExecutor({ maxWorkers: 1 });
  const started = executor.submit(sleepMs, 300);
  const queued = range(5).map(() => executor.submit(sleepMs, 300));
  // The first is running (handed to the worker); the others wait in line.
  assert.equal(started.running(), true);
  await executor.shutdown({ wait: true, cancelFutures: true });
  assert.equal(await started, null);
  const cancelled = queued.filter((f) => f.cancelled());
  assert.ok(cancelled.length >= 1, 'some calls were cancelled');
  for (const f of cancelled) await assert.rejects(f.result(), CancelledError);
  for (const f of queued.filter((f) => !f.cancelled())) assert.equal(await f, null);
  assert.throws(() => executor.submit(pow, 2, 5), { name: 'ProcessError', message: 'cannot schedule new futures after shutdown' });
  assert.ok(ProcessError);
  // The cancelled calls count as done for wait() once the executor has dropped them.
  const { notDone } = await wait(queued, { timeout: 1000 });
  assert.equal(notDone.size, 0);

  let result: Future<number>;
  {
    await using scoped = makeExecutor({ maxWorkers: 1 });
    result = scoped.submit(mul, 6, 7);
  }
  assert.equal(result.done(), true);
  assert.equal(await result, 42);

  // A future cancelled before it runs is never run.
  const single = makeExecutor({ maxWorkers: 1 });
  const first = single.submit(sleepMs, 100);
  const second = single.submit(pid);
  assert.equal(second.cancel(), true);
  assert.equal(first.cancel(), false);
  await single.shutdown();
  assert.equal(second.state, 'CANCELLED_AND_NOTIFIED');
});
