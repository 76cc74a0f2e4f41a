// Instances of a user's classes keep their class across processes (Python pickles by class reference):
// in Process args, Queue items, Pipe messages, Pool tasks and results; what cannot be found fails clearly.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Queue } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, run } from './helpers/run.js';
import { make } from './fixtures/make.js';
import { anonymousInstance, emitter, inspectItems, localInstance, Point } from './fixtures/classes.js';

afterEach(() => assertNoneLeftBehind());

test('a program under `if (isMainModule(import.meta)) await main()`: its classes, exported or not, travel both ways with methods, getters, shared references and cycles', async () => {
  const outcome = await run(['--import', 'tsx', `${PROGRAMS}classes.ts`], { timeoutMs: 60_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [child, back, pool] = outcome.lines;
  assert.deepEqual(child, {
    what: 'child',
    exitCode: 0,
    report: { ledgerIsLedger: true, accountIsAccount: true, cycleKept: true, sameAccountTwice: true, history: [['ada', [100]]], summary: 'ada: 100' },
  });
  // The child deposited 5 into its copy (the ledger holds that one account twice): 105 + 105 = 210.
  assert.deepEqual(back, { what: 'back', queueItemIsAccount: true, queueItemDeposit: 211, pipeLedgerIsLedger: true, pipeTotal: 210, pipeCycleKept: true, parentUnchanged: 100 });
  assert.deepEqual(pool, { what: 'pool', openedAreAccounts: true, summaries: ['x: 10', 'y: 10'], deposited: [11, 20, 20] });
});

test('a class the receiver cannot find: an error that names it, in the receiver; in a sender that can tell (a child), at once', async () => {
  const items = new Queue<unknown>();
  const results = new Queue<Record<string, unknown>>();
  const p = make({ target: inspectItems, args: [items, results] });
  p.start();
  await items.put(localInstance());
  await items.put(new Point(3, 4));
  const notFound = await results.get();
  assert.equal(notFound.code, 'ERR_MULTIPROC_CLASS_NOT_FOUND');
  assert.equal(notFound.name, 'TypeError');
  assert.match(String(notFound.error), /an instance of class Local \(from file:.*classes\.ts\) arrived in process \d+, which cannot find that class/);
  assert.deepEqual(await results.get(), { isPoint: true, norm: 5 });
  const refused = await results.get();
  assert.equal(refused.code, 'ERR_MULTIPROC_CLASS_NOT_FOUND');
  assert.match(String(refused.error), /Local is not defined at the top level of file:.*classes\.ts/);
  await p.join();
  assert.equal(p.exitCode, 0);
  items.close();
  results.close();
});

test('an anonymous class is refused at once in the sender; classes of Node\'s own modules travel as structured clone carries them', async () => {
  const q = new Queue<unknown>();
  assert.throws(() => q.putNowait(anonymousInstance()), { name: 'TypeError', code: 'ERR_MULTIPROC_CLASS_NOT_FOUND', message: /an instance of an anonymous class cannot be sent/ });
  q.putNowait(emitter());
  q.putNowait(new Map([[1, new Point(1, 0)]]));
  const cloned = (await q.get()) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(cloned), Object.prototype);
  assert.ok('_events' in cloned);
  const map = (await q.get()) as Map<number, Point>;
  assert.ok(map.get(1) instanceof Point);
  assert.equal(map.get(1)!.norm(), 1);
  q.close();
});
