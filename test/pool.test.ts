// Pool: CPython's _TestPool, _TestPoolWorkerErrors and _TestPoolWorkerLifetime
// rows (tests 33-40 of the semantics doc), and what multiproc adds: no hang
// when a worker dies, per-task timeouts and signals, recycling, stats.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import { AsyncResult, BrokenProcessPool, getContext, Lock, MaybeEncodingError, Pipe, Queue, ProcessError, RemoteTraceback, TimeoutError, ValueError } from 'multiproc';
import { PROGRAMS, run, withoutNoAddonLine } from './helpers/run.js';
import { make } from './fixtures/make.js';
import { empty } from './fixtures/targets.js';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import {
  asyncDouble,
  exitInTask,
  failingInitializer,
  hoardMemory,
  identity,
  initialize,
  initializedValue,
  keepShared,
  report,
  killSelf,
  makePool,
  makeSpawnPool,
  mul,
  pid,
  raiseString,
  raiseTaskFailure,
  raiseTypeError,
  raiseWithCause,
  SayWhenError,
  sleepMs,
  spin,
  sqr,
  TaskFailure,
  throwingGenerator,
  unsendableResult,
  withOptions,
} from './fixtures/pools.js';

afterEach(() => assertNoneLeftBehind());

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

test('test_apply / test_map / test_starmap / test_imap / test_imap_unordered: results as the builtin map', async () => {
  await using pool = makePool(4);
  assert.equal(await pool.apply(sqr, [5]), 25);
  assert.equal(await pool.apply(withOptions, [3], { times: 7 }), 21);
  assert.deepEqual(await pool.map(sqr, range(10)), range(10).map((x) => x * x));
  assert.deepEqual(await pool.map(sqr, range(100), 20), range(100).map((x) => x * x));
  const pairs = range(10).map((i) => [i, i + 1] as [number, number]);
  assert.deepEqual(await pool.starmap(mul, pairs), pairs.map(([a, b]) => a * b));
  assert.deepEqual(await pool.starmapAsync(mul, pairs, 20).get(), pairs.map(([a, b]) => a * b));
  assert.deepEqual(await collect(pool.imap(sqr, range(10))), range(10).map((x) => x * x));
  assert.deepEqual(await collect(pool.imap(sqr, range(1000), 100)), range(1000).map((x) => x * x));
  const it = pool.imap(sqr, range(3));
  for (const x of range(3)) assert.deepEqual(await it.next(), { done: false, value: x * x });
  assert.deepEqual(await it.next(), { done: true, value: undefined });
  // Python's next(timeout): a TimeoutError, and the iterator goes on.
  const slow = pool.imap(sleepMs, [300]);
  await assert.rejects(slow.next(50), TimeoutError);
  const late = await slow.next();
  assert.equal(late.done, false);
  assert.equal(typeof late.value, 'number');
  assert.deepEqual(await slow.next(1000), { done: true, value: undefined });
  const unordered = await collect(pool.imapUnordered(sqr, range(1000), 100));
  assert.deepEqual(unordered.sort((a, b) => a - b), range(1000).map((x) => x * x));
});

test('async task functions, and async iterables as input', async () => {
  await using pool = makePool(2);
  async function* numbers(): AsyncGenerator<number> {
    for (let i = 0; i < 20; i++) yield i;
  }
  assert.deepEqual(await pool.map(asyncDouble, range(20), 3), range(20).map((x) => 2 * x));
  assert.deepEqual(await pool.map(asyncDouble, numbers()), range(20).map((x) => 2 * x));
  assert.deepEqual(await collect(pool.imap(asyncDouble, numbers(), 4)), range(20).map((x) => 2 * x));
  assert.equal(await pool.apply(sqr, [6, 5]), 36);
});

test('test_async / test_async_timeout / AsyncResult: get, wait, ready, successful, callbacks', async () => {
  await using pool = makePool(2);
  const res = pool.applyAsync(sqr, [7, 100]);
  assert.ok(res instanceof AsyncResult);
  assert.equal(res.ready(), false);
  assert.throws(() => res.successful(), (err: unknown) => err instanceof ValueError && /not ready$/.test(err.message));
  assert.equal(await res.get(), 49);
  assert.equal(res.ready(), true);
  assert.equal(res.successful(), true);
  assert.equal(await res, 49);

  const slow = pool.applyAsync(sqr, [6, 1000]);
  await assert.rejects(slow.get(50), (err: unknown) => err instanceof TimeoutError && err instanceof ProcessError);
  await slow.wait(20);
  assert.equal(slow.ready(), false);

  const seen: unknown[] = [];
  const failed: unknown[] = [];
  const ok = pool.mapAsync(sqr, range(5), { callback: (v) => seen.push(v) });
  await ok;
  assert.deepEqual(seen, [[0, 1, 4, 9, 16]]);
  const bad = pool.applyAsync(raiseTaskFailure, [3], { errorCallback: (e) => failed.push(e) });
  await assert.rejects(bad.get(), TaskFailure);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(failed.length, 1);
  assert.ok(failed[0] instanceof TaskFailure);
  assert.equal(bad.successful(), false);
});

test('test_empty_iterable / test_map_chunksize: [] in, [] out; chunksize is checked', async () => {
  await using pool = makePool(2);
  assert.deepEqual(await pool.map(sqr, []), []);
  assert.deepEqual(await collect(pool.imap(sqr, [])), []);
  assert.deepEqual(await collect(pool.imapUnordered(sqr, [])), []);
  assert.deepEqual(await pool.mapAsync(sqr, [], 1).get(1000), []);
  assert.throws(() => pool.imap(sqr, range(3), 0), { name: 'ValueError', message: 'Chunksize must be 1+, not 0' });
  assert.throws(() => pool.mapAsync(sqr, range(3), -1), { name: 'ValueError', message: 'Chunksize must be 1+, not -1' });
  assert.throws(() => pool.mapAsync(sqr, range(3), 1.5), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('test_imap_handle_iterable_exception: results before the failing chunk, then the input error, unwrapped', async () => {
  await using pool = makePool(2);
  const cases: [number, number, number][] = [
    [1, 3, 3],
    [2, 7, 6],
    [4, 7, 4],
  ];
  for (const ordered of [true, false]) {
    for (const [chunksize, when, before] of cases) {
      const it = ordered ? pool.imap(sqr, throwingGenerator(10, when), chunksize) : pool.imapUnordered(sqr, throwingGenerator(10, when), chunksize);
      const got: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const x of it) got.push(x);
        })(),
        (err: unknown) => err instanceof SayWhenError && err.cause === undefined,
      );
      assert.deepEqual(got.sort((a, b) => a - b), range(before).map((x) => x * x), `chunksize ${chunksize}, failing at ${when}`);
    }
    const first = ordered ? pool.imap(sqr, throwingGenerator(10, 0)) : pool.imapUnordered(sqr, throwingGenerator(10, 0));
    await assert.rejects(first.next(), SayWhenError);
  }
  // map reads its input first: the error propagates from the call, as Python's.
  assert.throws(() => pool.mapAsync(sqr, throwingGenerator(10, 3)), SayWhenError);
  await assert.rejects(pool.map(sqr, throwingGenerator(10, 3)), SayWhenError);
});

test('imap reads its input lazily, with back-pressure, and closes it on break', async () => {
  await using pool = makePool(2);
  let pulled = 0;
  let closed = false;
  function* endless(): Generator<number> {
    try {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  let seen = 0;
  for await (const value of pool.imap(sqr, endless())) {
    assert.equal(value, seen * seen);
    if (++seen === 300) break;
  }
  assert.equal(closed, true);
  assert.ok(pulled < 300 + 2 * 2 * 128 + 10, `pulled ${pulled} items for 300 results`);
});

test('test_traceback / errors keep their class, message, properties, and the remote stack in cause', async () => {
  await using pool = makePool(2);
  const failure = await pool.apply(raiseTaskFailure, [7]).catch((e: unknown) => e);
  assert.ok(failure instanceof TaskFailure, `got ${String(failure)}`);
  assert.equal(failure.message, 'task 7 failed');
  assert.equal(failure.name, 'TaskFailure');
  assert.deepEqual(failure.details, { id: 7, tags: ['a', 'b'] });
  assert.ok(failure.cause instanceof RemoteTraceback);
  assert.match(failure.cause.tb, /raiseTaskFailure/);
  assert.match(failure.cause.tb, /fixtures\/pools\.ts:\d+/);
  assert.match(failure.cause.message, /^\n"""\n[^]*\n"""$/);
  assert.match(failure.stack!, /at ForkServerPoolWorker-\d+, pid \d+/);

  const typeError = await pool.apply(raiseTypeError).catch((e: unknown) => e);
  assert.ok(typeError instanceof TypeError);
  assert.equal((typeError as TypeError & { code: string }).code, 'E_WRONG');
  assert.equal((typeError as TypeError & { extra: number }).extra, 123);

  const outer = await pool.apply(raiseWithCause).catch((e: unknown) => e);
  assert.ok(outer instanceof Error && outer.cause instanceof RemoteTraceback);
  assert.ok(outer.cause.cause instanceof RangeError);
  assert.equal((outer.cause.cause as Error).message, 'inner');

  const thrown = await pool.apply(raiseString).catch((e: unknown) => e);
  assert.ok(thrown instanceof Error);
  assert.match(thrown.message, /threw a value that is not an Error: 'just a string'/);
  assert.equal((thrown as Error & { thrown: unknown }).thrown, 'just a string');

  // The map's error is the chunk's error; the pool goes on.
  await assert.rejects(pool.map(raiseTaskFailure, [1, 2, 3]), TaskFailure);
  assert.equal(await pool.apply(sqr, [3]), 9);
});

test('test_unpickleable_result / bad arguments: a clear error for that task, and the pool keeps working', async () => {
  await using pool = makePool(2);
  for (let i = 0; i < 20; i++) {
    const err = await pool.apply(unsendableResult).catch((e: unknown) => e);
    assert.ok(err instanceof MaybeEncodingError, String(err));
    assert.match(err.message, /^Error sending result: '.*'\. Reason: '.*could not be cloned.*'$/);
    assert.match(err.value, /fn/);
  }
  const args = pool.applyAsync(identity, [{ fn: () => 1 }]);
  await assert.rejects(args.get(), (err: unknown) => err instanceof TypeError && /cannot be sent to a child process/.test(err.message));
  assert.deepEqual(await pool.map(identity, [1, 'a', null]), [1, 'a', null]);
  assert.deepEqual(await pool.apply(identity, [new Map([[1, 2n]])]), new Map([[1, 2n]]));
});

test('bad input: functions that cannot be found by name, wrong types', async () => {
  await using pool = makePool(1);
  assert.throws(() => pool.applyAsync((x: number) => x), { name: 'TypeError', message: /anonymous function/ });
  assert.throws(() => pool.applyAsync(Math.max), { name: 'TypeError', message: /built-in function/ });
  assert.throws(() => pool.applyAsync(sqr.bind(null, 1)), { name: 'TypeError', message: /bound function/ });
  assert.throws(() => pool.applyAsync(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => pool.applyAsync(sqr, 5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => pool.mapAsync(sqr, 5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => pool.applyAsync(sqr, [1], { timeout: 'soon' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => pool.applyAsync(sqr, [1], { signal: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(await pool.apply(sqr, [2]), 4);
});

test('test_make_pool / maxtasksperchild and initializer checks: Python\'s errors', async () => {
  assert.throws(() => makePool(-1), { name: 'ValueError', message: 'Number of processes must be at least 1' });
  assert.throws(() => makePool(0), { name: 'ValueError', message: 'Number of processes must be at least 1' });
  for (const bad of [0, -1, 0.5, '12']) {
    assert.throws(() => makePool({ processes: 1, maxTasksPerChild: bad as number }), { name: 'ValueError', message: 'maxtasksperchild must be a positive int or None' });
  }
  assert.throws(() => makePool({ processes: 1, initializer: 3 as never }), { name: 'TypeError', message: 'initializer must be a callable' });
  const pool = makePool(3);
  assert.equal(await pool.apply(sqr, [3]), 9);
  // The first worker starts at once; the others once it is ready (or 10 ms later).
  for (let i = 0; i < 100 && pool.pids.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(pool.pids.length, 3);
  pool.terminate();
  await pool.join();
});

test('test_context / test_enter / lifecycle: close, join, terminate, Pool not running, Pool is still running', async () => {
  const pool = makePool(2);
  await assert.rejects(pool.join(), { name: 'ValueError', message: 'Pool is still running' });
  const pending = pool.mapAsync(sqr, range(10), 1);
  pool.close();
  assert.throws(() => pool.applyAsync(sqr, [1]), { name: 'ValueError', message: 'Pool not running' });
  await assert.rejects(pool.map(sqr, [1]), { name: 'ValueError', message: 'Pool not running' });
  assert.throws(() => pool.imap(sqr, [1]), { name: 'ValueError', message: 'Pool not running' });
  await pool.join();
  // close() lets submitted tasks finish.
  assert.deepEqual(await pending, range(10).map((x) => x * x));
  assert.equal(pool.pids.length, 0);

  // As Python: a pool does not travel to another process.
  const traveller = make({ target: empty, args: [pool] as never });
  assert.throws(() => traveller.start(), { name: 'TypeError', message: /^pool objects cannot be passed between processes or pickled/ });
  const [a, b] = Pipe();
  assert.throws(() => a.send({ pool }), { name: 'TypeError', message: /^pool objects cannot be passed between processes or pickled/ });
  a.close();
  b.close();

  const doomed = makePool(2);
  const running = doomed.applyAsync(sleepMs, [5000]);
  doomed.terminate();
  await doomed.join();
  await assert.rejects(running.get(), { name: 'ProcessError', message: /terminated/ });

  let escaped: ReturnType<typeof makePool>;
  {
    await using scoped = makePool(1);
    escaped = scoped;
    assert.equal(await scoped.apply(sqr, [3]), 9);
  }
  assert.throws(() => escaped.applyAsync(sqr, [1]), { name: 'ValueError', message: 'Pool not running' });
});

test('it never hangs: a worker killed with SIGKILL fails the task it ran with BrokenProcessPool, is replaced, and the rest go on', async () => {
  await using pool = makePool(2);
  const before = new Set(pool.pids);
  const others = pool.mapAsync(sleepMs, [50, 50, 50, 50, 50, 50], 1);
  const doomed = pool.applyAsync(killSelf);
  const err = await doomed.get().catch((e: unknown) => e);
  assert.ok(err instanceof BrokenProcessPool, String(err));
  assert.equal(err.signal, 'SIGKILL');
  assert.equal(err.exitCode, null);
  assert.match(err.message, /PoolWorker-\d+, pid \d+\) killed by signal SIGKILL while running killSelf\(\)/);
  assert.equal((await others).length, 6);
  assert.equal(await pool.apply(sqr, [4]), 16);
  assert.equal(pool.pids.length, 2);
  assert.notDeepEqual(new Set(pool.pids), before);

  // kill -9 from outside, on a busy worker.
  {
    await using single = makePool(1);
    assert.equal(await single.apply(sqr, [2]), 4);
    const busy = single.applyAsync(spin, [5000]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(single.stats().busyWorkers, 1);
    process.kill(single.pids[0]!, 'SIGKILL');
    await assert.rejects(busy.get(), (e: unknown) => e instanceof BrokenProcessPool && e.signal === 'SIGKILL');
    assert.equal(await single.apply(sqr, [5]), 25);
  }

  const exited = await pool.apply(exitInTask, [3]).catch((e: unknown) => e);
  assert.ok(exited instanceof BrokenProcessPool);
  assert.equal(exited.exitCode, 3);
  assert.match(exited.message, /exited with code 3 while running exitInTask\(\)/);
  assert.deepEqual(await pool.map(sqr, range(20)), range(20).map((x) => x * x));
});

test('per-task timeout and AbortSignal: the task is rejected, its worker killed and replaced', async () => {
  await using pool = makePool(2);
  const timedOut = await pool.apply(sleepMs, [5000], null, { timeout: 100 }).catch((e: unknown) => e);
  assert.ok(timedOut instanceof TimeoutError);
  assert.match(timedOut.message, /sleepMs\(\) did not finish within 100 ms/);

  const controller = new AbortController();
  const running = pool.applyAsync(sleepMs, [5000], { signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 50));
  controller.abort();
  await assert.rejects(running.get(), { name: 'AbortError' });

  const already = AbortSignal.abort(new Error('never mind'));
  await assert.rejects(pool.apply(sqr, [1], null, { signal: already }), { message: 'never mind' });

  const mapAbort = new AbortController();
  const map = pool.mapAsync(sleepMs, [1000, 1000, 1000, 1000], { chunksize: 1, signal: mapAbort.signal });
  setTimeout(() => mapAbort.abort(), 50);
  await assert.rejects(map.get(), { name: 'AbortError' });
  assert.deepEqual(await pool.map(sqr, range(5)), range(5).map((x) => x * x));
  assert.equal(pool.pids.length, 2);

  // One long-lived signal for many tasks: no listener is left behind on it.
  const shared = new AbortController();
  assert.equal((await pool.map(sqr, range(200), { chunksize: 1, signal: shared.signal })).length, 200);
  assert.equal(getEventListeners(shared.signal, 'abort').length, 0);
});

test('an error class of the main module keeps its class under `if (isMainModule(import.meta)) await main();` as under `void main()`', async () => {
  for (const form of ['await', 'void']) {
    const outcome = await run(['--import', 'tsx', `${PROGRAMS}pool-main-error.ts`, form], { timeoutMs: 30_000 });
    assert.equal(outcome.code, 0, outcome.stderr);
    // While main() is awaited the main module is still evaluating, and an import() of it would wait for
    // main() to return: only a lookup that imports nothing can find the class, exported or not.
    assert.deepEqual(
      outcome.lines.map(({ account, ledger, exported, name, field }) => ({ account, ledger, exported, name, field })),
      [
        { account: 'a1', ledger: true, exported: false, name: 'LedgerError', field: 'a1' },
        { account: 'a2', ledger: true, exported: false, name: 'LedgerError', field: 'a2' },
        { account: 'x3', ledger: true, exported: true, name: 'LedgerError', field: 'x3' },
      ],
      form,
    );
  }
});

test('a task sent just after an idle worker was killed goes to its replacement, not to a BrokenProcessPool', async () => {
  await using pool = makePool(1);
  for (let round = 0; round < 3; round++) {
    assert.equal(await pool.apply(sqr, [round]), round * round);
    const [victim] = pool.pids;
    process.kill(victim!, 'SIGKILL');
    // Dead for sure (a zombie, not yet reaped), and the pool has not had an event-loop turn to notice.
    // (A forked worker is the zygote's child, which reaps it: then it is gone from /proc at once.)
    const dead = (): boolean => {
      try {
        return /^\S+ \(.*\) Z/.test(readFileSync(`/proc/${victim}/stat`, 'latin1'));
      } catch {
        return true;
      }
    };
    while (!dead());
    const results = [pool.apply(sqr, [7]), pool.apply(mul, [6, 7])];
    assert.deepEqual(await Promise.all(results), [49, 42]);
    assert.notEqual(pool.pids[0], victim);
  }
});

test('pool.map with one AbortSignal over many chunks: one abort listener, no MaxListenersExceededWarning', async () => {
  await using pool = makePool(2);
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const controller = new AbortController();
    const map = pool.map(sqr, range(50), { chunksize: 1, signal: controller.signal });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    const lazy = pool.imap(sqr, range(50), { chunksize: 1, signal: controller.signal });
    assert.deepEqual(await collect(lazy), range(50).map((x) => x * x));
    assert.deepEqual(await map, range(50).map((x) => x * x));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    const aborted = pool.map(sleepMs, range(30).map(() => 1000), { chunksize: 1, signal: controller.signal });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(aborted, { name: 'AbortError' });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
});

test('test_pool_worker_lifetime: maxTasksPerChild replaces workers; with close() and join() every result arrives', async () => {
  const pool = makePool({ processes: 3, maxTasksPerChild: 10 });
  const pids = await pool.map(pid, range(100), 1);
  assert.ok(new Set(pids).size >= 10, `${new Set(pids).size} distinct workers for 100 tasks`);
  pool.close();
  await pool.join();

  // test_pool_worker_lifetime_early_close, with CPython's sizes.
  const once = makePool({ processes: 3, maxTasksPerChild: 1 });
  const results = range(6).map((i) => once.applyAsync(sqr, [i]));
  once.close();
  await once.join();
  assert.deepEqual(await Promise.all(results.map((r) => r.get())), range(6).map((x) => x * x));
});

test('maxMemoryPerChildMb recycles a worker that grew past it', async () => {
  await using pool = makePool({ processes: 1, maxMemoryPerChildMb: 150 });
  const first = await pool.apply(hoardMemory, [200]);
  const second = await pool.apply(pid);
  assert.notEqual(first, second);
});

test('test_pool_initializer: initializer and initargs run in each worker; a failing one breaks the pool', async () => {
  const pool = makePool({ processes: 2, initializer: initialize, initargs: [{ ready: 'yes' }] });
  assert.deepEqual(await pool.apply(initializedValue), { ready: 'yes' });
  pool.close();
  await pool.join();

  const broken = makePool({ processes: 2, initializer: failingInitializer });
  const err = await broken.apply(sqr, [2]).catch((e: unknown) => e);
  assert.ok(err instanceof BrokenProcessPool, String(err));
  assert.match(err.message, /initializer failingInitializer\(\) failed/);
  assert.ok(err.cause instanceof RangeError);
  await assert.rejects(broken.apply(sqr, [2]), BrokenProcessPool);
  broken.terminate();
  await broken.join();
});

test('stats() and progress callbacks', async () => {
  await using pool = makePool(2);
  const reports: { done: number; total: number | null }[] = [];
  await pool.map(sqr, range(40), { chunksize: 10, progress: (p) => reports.push({ ...p }) });
  assert.deepEqual(reports[0], { done: 0, total: 40 });
  assert.deepEqual(reports.at(-1), { done: 40, total: 40 });
  const seen: number[] = [];
  for await (const _ of pool.imap(sqr, range(5), { progress: (p) => seen.push(p.done) })) void _;
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  const stats = pool.stats();
  assert.equal(stats.workers, 2);
  assert.equal(stats.tasksQueued, 0);
  assert.equal(stats.busyWorkers, 0);
  assert.equal(stats.tasksCompleted, 4 + 5);
  assert.equal(stats.runTime.count, 9);
  assert.ok(stats.runTime.p50 >= 0 && stats.runTime.p99 >= stats.runTime.p50);
  assert.ok(stats.waitTime.count >= 9);
});

test('at parent exit: a forgotten pool does not keep the program alive; busy workers die with their parent', async () => {
  const forgotten = await run(['--import', 'tsx', `${PROGRAMS}pool-exit.ts`, 'forgotten'], { timeoutMs: 30_000 });
  assert.equal(forgotten.code, 0, forgotten.stderr);
  assert.deepEqual(forgotten.lines, [{ squares: [1, 4, 9] }]);
  for (const mode of ['exit-busy', 'kill-parent']) {
    const outcome = await run(['--import', 'tsx', `${PROGRAMS}pool-exit.ts`, mode], { timeoutMs: 30_000 });
    assert.equal(outcome.lines.length, 2, `${mode}: ${outcome.stdout} ${outcome.stderr}`);
    if (mode === 'kill-parent') assert.equal(outcome.signal, 'SIGKILL');
    else assert.equal(outcome.code, 0, outcome.stderr);
    await assertNoneLeftBehind(5000);
  }
});

test('a spawn context: workers named SpawnPoolWorker-N', async () => {
  await using pool = makeSpawnPool();
  const err = await pool.apply(raiseTaskFailure, [1]).catch((e: unknown) => e);
  assert.match((err as Error).stack!, /at SpawnPoolWorker-\d+, pid \d+/);
});

test('progress: true draws a bar on a terminal (run under script(1)), and nothing when stderr is not one', async () => {
  const program = `${PROGRAMS}pool-progress.ts`;
  const onTerminal = await run(['-e', `require('node:child_process').execFileSync('script', ['-qc', ${JSON.stringify(`"${process.execPath}" --import tsx ${program}`)}, '/dev/null'], { stdio: 'inherit' })`], { timeoutMs: 30_000 });
  assert.equal(onTerminal.code, 0, onTerminal.stderr);
  assert.match(onTerminal.stdout, /100% \| 40\/40/);
  assert.match(onTerminal.stdout, /sum 780/);
  const piped = await run(['--import', 'tsx', program], { timeoutMs: 30_000 });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout, 'sum 780\n');
  assert.equal(withoutNoAddonLine(piped.stderr), '');
});

test('a Queue and a Lock reach the workers through initargs, as in Python', async () => {
  const queue = new Queue<string>();
  const lock = new Lock();
  await using pool = makePool({ processes: 2, initializer: keepShared, initargs: [queue, lock] });
  const pids = await pool.map(report, ['a', 'b', 'c', 'd'], 1);
  const got: string[] = [];
  for (let i = 0; i < 4; i++) got.push(await queue.get({ timeout: 5000 }));
  assert.deepEqual(got.map((line) => line.split(' ')[0]).sort(), ['a', 'b', 'c', 'd']);
  for (const line of got) assert.ok(pids.includes(Number(line.split(' from ')[1])), line);
  queue.close();
});
