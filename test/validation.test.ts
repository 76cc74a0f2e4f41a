// Bad input: every public argument is checked up front, with an error that
// names the problem, and no bad input leaves a process behind or hangs.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  Context,
  ForkServerProcess,
  getAllStartMethods,
  getContext,
  getStartMethod,
  isMainModule,
  Process,
  setStartMethod,
  SpawnProcess,
  ValueError,
  type StartMethod,
} from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { sleepMs } from './fixtures/targets.js';

afterEach(() => assertNoneLeftBehind());

const typeError = (pattern: RegExp) => (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'ERR_INVALID_ARG_TYPE' && pattern.test((e as Error).message);

test('the constructor rejects wrong option types, naming the option', () => {
  const bad = (options: unknown): Process => new Process(options as never);
  assert.throws(() => bad(5), typeError(/The "options" argument must be an object/));
  assert.throws(() => bad([]), typeError(/The "options" argument must be an object/));
  assert.throws(() => bad({ target: 'dance' }), typeError(/The "target" option must be a function \(or null\)\. Received type string \("dance"\)/));
  assert.throws(() => bad({ target: sleepMs, args: 1 }), typeError(/The "args" option must be an array/));
  assert.throws(() => bad({ target: sleepMs, kwargs: [1] }), typeError(/The "kwargs" option must be a plain object/));
  assert.throws(() => bad({ name: 42 }), typeError(/The "name" option must be a string/));
  assert.throws(() => bad({ daemon: 'yes' }), typeError(/The "daemon" option must be a boolean/));
  assert.throws(() => bad({ group: {} }), { name: 'AssertionError' });
});

test('setters check their values', () => {
  const p = new Process();
  assert.throws(() => {
    p.name = 7 as unknown as string;
  }, typeError(/process name must be a string/));
  assert.throws(() => {
    p.daemon = 1 as unknown as boolean;
  }, typeError(/daemon flag must be a boolean/));
  assert.throws(() => {
    p.authkey = 'secret' as unknown as Buffer;
  }, typeError(/authkey must be a Buffer or Uint8Array/));
  p.authkey = new Uint8Array([1, 2, 3]) as Buffer;
  assert.deepEqual(p.authkey, Buffer.from([1, 2, 3]));
  p.name = 'renamed';
  assert.equal(p.name, 'renamed');
});

test('join() rejects bad timeouts before waiting; a negative one acts as 0', async () => {
  const p = make({ target: sleepMs, args: [5_000] });
  p.start();
  try {
    await assert.rejects(p.join('1' as unknown as number), typeError(/The "timeoutMs" argument must be a number of milliseconds/));
    await assert.rejects(p.join(NaN), (e: unknown) => e instanceof RangeError && /not NaN/.test((e as Error).message));
    const t = performance.now();
    await p.join(-5);
    assert.ok(performance.now() - t < 500);
    assert.equal(p.isAlive(), true);
  } finally {
    p.kill();
    await p.join();
  }
  assert.equal(p.exitCode, -9);
});

test('start methods: contexts, the default, and Python\'s errors', () => {
  assert.deepEqual(getAllStartMethods(), ['forkserver', 'spawn']);
  for (const method of getAllStartMethods()) {
    const ctx = getContext(method);
    assert.ok(ctx instanceof Context);
    assert.equal(ctx.getStartMethod(), method);
    assert.equal(ctx.getContext(method), ctx);
    assert.throws(() => ctx.setStartMethod('spawn'), { name: 'ValueError', message: 'cannot set start method of concrete context' });
  }
  assert.equal(getContext('spawn').Process, SpawnProcess);
  assert.equal(getContext('forkserver').Process, ForkServerProcess);
  assert.match(new SpawnProcess().name, /^SpawnProcess-\d+$/);
  assert.throws(() => getContext('fork' as StartMethod), (e: unknown) => e instanceof ValueError && /cannot find context for "fork"/.test((e as Error).message));
  assert.throws(() => getContext(42 as unknown as StartMethod), ValueError);
  // The default is fixed by its first use; setting it again needs force.
  assert.equal(getStartMethod(), 'forkserver');
  assert.throws(() => setStartMethod('spawn'), { message: 'context has already been set' });
  setStartMethod('spawn', { force: true });
  assert.equal(getStartMethod(), 'spawn');
  assert.equal(getContext().Process, Process);
  setStartMethod(null, { force: true });
  assert.equal(getStartMethod({ allowNone: true }), null);
  assert.throws(() => setStartMethod('bogus' as StartMethod, { force: true }), ValueError);
  assert.throws(() => setStartMethod('spawn', 'yes' as never), typeError(/The "options" argument must be a plain object/));
  setStartMethod('forkserver');
  assert.equal(getStartMethod(), 'forkserver');
});

test('isMainModule is false for a module that is not the entry point, and checks its argument', () => {
  assert.equal(isMainModule({ url: 'file:///not/the/entry.js' }), false);
  assert.equal(isMainModule(import.meta), process.argv[1]?.endsWith('validation.test.ts') ?? false);
});
