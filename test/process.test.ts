// Conformance: the Process rows of CPython's _test_multiprocessing (tests
// 1-19 of the semantics doc, §3.3), run under both start methods, with
// Python's exit codes, error types and messages.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  activeChildren,
  AssertionError,
  cpuCount,
  currentProcess,
  getAllStartMethods,
  parentProcess,
  Process,
  ValueError,
  type StartMethod,
} from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { lines, resultFile, take } from './fixtures/report.js';
import {
  AsyncRunner,
  busyForever,
  closeStdio,
  describeSelf,
  echo,
  empty,
  exitWith,
  middle,
  nameChildren,
  recurse,
  rejectLater,
  Shouter,
  sleepMs,
  startChild,
  throwRangeError,
  waitForThreads,
} from './fixtures/targets.js';

afterEach(() => assertNoneLeftBehind());

test('test_current: the main process', () => {
  const me = currentProcess();
  assert.equal(me.name, 'MainProcess');
  assert.equal(me.isAlive(), true);
  assert.equal(me.daemon, false);
  assert.ok(Buffer.isBuffer(me.authkey) && me.authkey.length === 32);
  assert.equal(me.ident, process.pid);
  assert.equal(me.pid, process.pid);
  assert.equal(me.exitCode, null);
  assert.equal(parentProcess(), null);
  assert.equal(currentProcess(), me);
  assert.equal(String(me), `<MainProcess name='MainProcess' parent=null started>`);
});

test('test_daemon_argument: daemon inherits the creating process flag unless given', () => {
  assert.equal(new Process().daemon, currentProcess().daemon);
  assert.equal(new Process({ daemon: true }).daemon, true);
  assert.equal(new Process({ daemon: false }).daemon, false);
});

test('test_cpu_count', () => {
  assert.ok(Number.isInteger(cpuCount()) && cpuCount() >= 1);
});

test('names count up per process; subclasses use their class name', () => {
  const a = new Process();
  const b = new Process();
  const [na, nb] = [Number(a.name.split('-')[1]), Number(b.name.split('-')[1])];
  assert.match(a.name, /^Process-\d+$/);
  assert.equal(nb, na + 1);
  assert.match(new AsyncRunner('x').name, /^async-runner$/);
  assert.match(new Shouter('f', [], { when: new Date(), map: new Map(), bytes: new Uint8Array() }).name, /^Shouter-\d+$/);
});

for (const method of getAllStartMethods()) {
  describe(`start method ${method}`, () => {
    test('test_args_argument: args as an array or any iterable reach the target intact', async () => {
      // Every kind of value in the args of one child per kind of container (each start costs a whole node here).
      const values = [1, 'str', [1], { a: 1 }, new Map([[1n, new Date(5)]]), new Uint8Array([1, 2]), null];
      for (const wrap of [(file: string) => [file, ...values], (file: string) => new Set([file, ...values])]) {
        const file = resultFile();
        const p = make({ target: echo, args: wrap(file) as [string, ...unknown[]] }, method);
        p.start();
        await p.join();
        assert.equal(p.exitCode, 0);
        assert.deepEqual(take(file), values);
      }
    });

    test('test_process: the full lifecycle, with kwargs as the last argument', async () => {
      const file = resultFile();
      const p = make({ target: describeSelf, args: [file, 1, 2], kwargs: { hello: 23, bye: 2.54 }, name: 'SomeProcess', daemon: true }, method);
      assert.deepEqual(p.authkey, currentProcess().authkey);
      assert.equal(p.isAlive(), false);
      assert.ok(Array.isArray(activeChildren()));
      assert.ok(!activeChildren().includes(p));
      assert.equal(p.exitCode, null);
      assert.equal(p.pid, undefined);
      assert.equal(p.ident, undefined);
      p.start();
      assert.ok(Number.isInteger(p.pid));
      assert.equal(p.exitCode, null);
      assert.equal(p.isAlive(), true);
      assert.ok(activeChildren().includes(p));
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(p.isAlive(), false);
      assert.ok(!activeChildren().includes(p));
      const child = take(file) as Record<string, unknown>;
      assert.deepEqual(child.rest, [1, 2, { hello: 23, bye: 2.54 }]);
      assert.equal(child.name, 'SomeProcess');
      assert.deepEqual(child.authkey, currentProcess().authkey);
      assert.equal(child.pid, p.pid);
      assert.equal(child.ident, p.pid);
      assert.equal(child.ppid, process.pid);
      assert.equal(child.daemon, true);
      assert.equal(child.alive, true);
      assert.equal(child.isCurrent, true);
      assert.deepEqual(child.parent, { pid: process.pid, name: 'MainProcess', alive: true });
      assert.equal(child.title, 'node multiproc: SomeProcess');
    });

    test('test_terminate: join(0) and join(-1) return at once; terminate gives -15', async () => {
      const p = make({ target: sleepMs, args: [100_000] }, method);
      p.start();
      for (const timeout of [0, -1]) {
        const t = performance.now();
        await p.join(timeout);
        assert.ok(performance.now() - t < 1000);
        assert.equal(p.isAlive(), true);
      }
      await p.join(50);
      assert.equal(p.isAlive(), true);
      p.terminate();
      await p.join();
      assert.equal(p.isAlive(), false);
      assert.ok(!activeChildren().includes(p));
      assert.equal(p.exitCode, -15);
      assert.match(String(p), /stopped exitcode=-SIGTERM>$/);
      p.terminate(); // a no-op once ended
    });

    test('test_kill: kill gives -9, even for a busy child', async () => {
      const p = make({ target: busyForever }, method);
      p.start();
      await p.join(100);
      p.kill();
      await p.join();
      assert.equal(p.exitCode, -9);
    });

    test('test_active_children: absent before start, present while running, absent after join', async () => {
      const p = make({ target: sleepMs, args: [200] }, method);
      assert.ok(!activeChildren().includes(p));
      p.start();
      assert.ok(activeChildren().includes(p));
      await p.join();
      assert.ok(!activeChildren().includes(p));
    });

    test('activeChildren() reaps a child that ended without join', async () => {
      const p = make({ target: empty }, method);
      p.start();
      await p.sentinel;
      assert.ok(!activeChildren().includes(p));
      assert.equal(p.exitCode, 0);
    });

    test('test_recursion: children start children, named Process-N:M', async () => {
      const file = resultFile();
      const p = make({ target: recurse, args: [file, []] }, method);
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(lines(file), [[], [0], [0, 0], [0, 1], [1], [1, 0], [1, 1]]);
      const names = resultFile();
      const q = make({ target: nameChildren, args: [names] }, method);
      q.start();
      await q.join();
      const id = q.name.split('-')[1];
      // A child's own children use the plain Process class, numbered under the child's identity.
      assert.deepEqual(take(names), [q.name, `Process-${id}:1`, `Process-${id}:2`, 0]);
    });

    test('test_parent_process: a grandchild sees its parent alive, then dead', async () => {
      const file = resultFile();
      const p = make({ target: middle, args: [file] }, method);
      p.start();
      // Terminate only once the grandchild has looked (a loaded machine can take seconds to start it).
      for (let i = 0; i < 3000 && lines(file).length === 0; i++) await sleep(20);
      p.terminate();
      await p.join();
      for (let i = 0; i < 3000 && lines(file).length < 2; i++) await sleep(20);
      assert.deepEqual(lines(file), [
        { phase: 'before', alive: true, name: p.name },
        { phase: 'after', alive: false },
      ]);
    });

    test('test_sentinel: a Promise that settles with the exit code', async () => {
      const p = make({ target: sleepMs, args: [300] }, method);
      assert.throws(() => p.sentinel, (e: Error) => e instanceof ValueError && e.message === 'process not started');
      p.start();
      const sentinel = p.sentinel;
      assert.ok(sentinel instanceof Promise);
      const early = await Promise.race([sentinel, sleep(0, 'pending')]);
      assert.equal(early, 'pending');
      assert.equal(await sentinel, 0);
      assert.equal(p.sentinel, sentinel);
    });

    test('test_close: not while running; afterwards most members throw ValueError', async () => {
      const p = make({ target: sleepMs, args: [200] }, method);
      p.start();
      assert.throws(() => p.close(), {
        name: 'ValueError',
        message: 'Cannot close a process while it is still running. You should first call join() or terminate().',
      });
      await p.join();
      assert.equal(p.exitCode, 0);
      p.close();
      const closed = { name: 'ValueError', message: 'process object is closed' };
      assert.throws(() => p.isAlive(), closed);
      await assert.rejects(p.join(), closed);
      assert.throws(() => p.terminate(), closed);
      assert.throws(() => p.kill(), closed);
      assert.throws(() => p.start(), closed);
      assert.throws(() => p.pid, closed);
      assert.throws(() => p.exitCode, closed);
      assert.throws(() => p.sentinel, closed);
      assert.equal(typeof p.name, 'string');
      assert.equal(p.daemon, false);
      assert.match(String(p), / closed>$/);
      p.close();
    });

    // As many as CPython's test starts under spawn (5), more where a server starts them (it tries 100 there).
    const many = method === 'spawn' ? 5 : 20;
    test(`test_many_processes: ${many} sleepers end with 0; ${many} terminated at once end with -15`, async () => {
      const sleepers = Array.from({ length: many }, () => make({ target: sleepMs, args: [10] }, method));
      for (const p of sleepers) p.start();
      for (const p of sleepers) await p.join();
      assert.deepEqual(sleepers.map((p) => p.exitCode), sleepers.map(() => 0));
      const doomed = Array.from({ length: many }, () => make({ target: sleepMs, args: [100_000] }, method));
      for (const p of doomed) p.start();
      for (const p of doomed) p.terminate();
      for (const p of doomed) await p.join();
      assert.deepEqual(doomed.map((p) => p.exitCode), doomed.map(() => -15));
    });

    test('test_lose_target_ref: start() drops the parent\'s references to the target and args', async () => {
      const file = resultFile();
      const p = make({ target: echo, args: [file, 5] }, method);
      p.start();
      assert.equal(p.run(), undefined); // the target is gone from the parent-side object
      await p.join();
      assert.deepEqual(take(file), [5]);
    });

    test('test_wait_for_threads: the child waits for ref\'d timers, not for unref\'d ones', async () => {
      const file = resultFile();
      const p = make({ target: waitForThreads, args: [file] }, method);
      p.start();
      await p.join();
      assert.equal(take(file), 'set');
      assert.equal(p.exitCode, 0);
    });

    test('test_error_on_stdio_flush: closed stdout and stderr in the child do not change its exit code', async () => {
      for (const [fail, expected] of [[false, 0], [true, 1]] as const) {
        const file = resultFile();
        const p = make({ target: closeStdio, args: [file, fail] }, method);
        p.start();
        await p.join();
        assert.equal(take(file), 'ran');
        assert.equal(p.exitCode, expected);
      }
    });

    test('test_sys_exit: process.exit(n) gives n, truncated by the OS to 0-255', async () => {
      for (const [code, expected] of [[0, 0], [8, 8], [256, 0], [300, 44]] as const) {
        const p = make({ target: exitWith, args: [code] }, method);
        p.start();
        await p.join();
        assert.equal(p.exitCode, expected);
      }
    });

    test('an uncaught error or rejected promise gives exit code 1', async () => {
      for (const target of [throwRangeError, rejectLater]) {
        const p = make({ target, args: ['expected in this test'] }, method);
        p.start();
        await p.join();
        assert.equal(p.exitCode, 1);
      }
    });

    test('test_subclassing: fields travel (Date, Map, BigInt, bytes), the constructor does not run again', async () => {
      const file = resultFile();
      const extras = { when: new Date(1234), map: new Map([['n', 2n ** 70n]]), bytes: new Uint8Array([9, 8]) };
      const p = new Shouter(file, ['hello', 'world'], extras);
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(take(file), { shouted: ['HELLO', 'WORLD'], extras, constructions: 1, name: p.name, same: true, isShouter: true });
    });

    test('an async run() is awaited', async () => {
      const file = resultFile();
      const p = new AsyncRunner(file);
      p.start();
      await p.join();
      assert.equal(take(file), 'async run done');
    });

    test('a daemonic process may not have children', async () => {
      const file = resultFile();
      const p = make({ target: startChild, args: [file], daemon: true }, method);
      p.start();
      await p.join();
      assert.deepEqual(take(file), { name: 'AssertionError', message: 'daemonic processes are not allowed to have children' });
    });
  });
}

test('state errors carry Python\'s types and messages', async () => {
  const p = make({ target: sleepMs, args: [50] });
  await assert.rejects(p.join(), (e: Error) => e instanceof AssertionError && e.message === 'can only join a started process');
  assert.throws(() => p.terminate(), { name: 'AssertionError', message: 'can only terminate a started process' });
  p.start();
  assert.throws(() => p.start(), { name: 'AssertionError', message: 'cannot start a process twice' });
  assert.throws(() => {
    p.daemon = true;
  }, { name: 'AssertionError', message: 'process has already started' });
  await p.join();
  assert.throws(() => p.start(), { name: 'AssertionError', message: 'cannot start a process twice' });
  await p.join(); // joining a stopped process returns at once, again and again
  await assert.rejects(currentProcess().join(), { name: 'AssertionError', message: 'can only join a child process' });
  assert.throws(() => currentProcess().start(), { name: 'AssertionError', message: 'can only start a process object created by current process' });
  assert.throws(() => new Process({ group: 'g' as unknown as null }), { name: 'AssertionError', message: 'group argument must be null or undefined for now' });
});

test('target null runs nothing and exits 0', async () => {
  const p = make({ target: null });
  p.start();
  await p.join();
  assert.equal(p.exitCode, 0);
});

test('repr follows Python: initial, started, stopped, daemon', async () => {
  const p = make({ target: sleepMs, args: [100], name: 'R', daemon: true });
  assert.equal(String(p), `<Process name='R' parent=${process.pid} initial daemon>`);
  p.start();
  assert.equal(String(p), `<Process name='R' pid=${p.pid} parent=${process.pid} started daemon>`);
  await p.join();
  assert.equal(String(p), `<Process name='R' pid=${p.pid} parent=${process.pid} stopped exitcode=0 daemon>`);
});
