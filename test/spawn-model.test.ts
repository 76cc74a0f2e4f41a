// The spawn model: a child imports the module that created its Process (and
// the main module) and finds the target there by name. Each way of naming a
// target, under tsx, compiled by tsc, and from CommonJS.
import assert from 'node:assert/strict';
import { afterEach, before, describe, test } from 'node:test';
import { Process } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { compilePrograms, PROGRAMS, run, TSX, type Outcome } from './helpers/run.js';
import { empty, WithFunctionField } from './fixtures/targets.js';

afterEach(() => assertNoneLeftBehind());

let built = '';
before(() => {
  built = compilePrograms();
});

const byTag = (outcome: Outcome, tag: string): Record<string, unknown>[] => outcome.lines.filter((l) => l.tag === tag);

function expectRan(outcome: Outcome, tag: string, what: string): void {
  assert.deepEqual(byTag(outcome, tag), [{ tag, what }, { tag, exitCode: 0 }], `${tag}\n${outcome.stderr}`);
}

const ESM_FOUND: [string, string][] = [
  ['hidden', 'hidden function sees module const and kwargs'],
  ['exported', 'exported function'],
  ['arrow-const', 'arrow const'],
  ['async', 'async function'],
  ['imported', 'lib target sees lib-private'],
  ['renamed-import', 'renamed import'],
  ['namespace-import', 'lib target sees lib-private'],
  ['default-export', 'default export'],
  ['local-subclass', 'LocalShape: field initializer'],
  ['imported-subclass', 'RemoteShape with 3 sides'],
];

function checkEsm(outcome: Outcome): void {
  assert.equal(outcome.code, 0, outcome.stderr);
  for (const [tag, what] of ESM_FOUND) expectRan(outcome, tag, what);
  // Not findable by name: the child says so and exits with 1.
  assert.deepEqual(byTag(outcome, 'inline-arrow'), [{ tag: 'inline-arrow', exitCode: 1 }]);
  assert.match(outcome.stderr, /Process Process-\d+:\nTypeError: multiproc: cannot find the target of Process-\d+ \("target"\) in the child process/);
  assert.deepEqual(byTag(outcome, 'closure'), [{ tag: 'closure', exitCode: 1 }]);
  assert.match(outcome.stderr, /cannot find the target of Process-\d+ \("inner"\)/);
  assert.match(outcome.stderr, /Inline arrows, nested functions \(closures\), bound functions and methods cannot be found by name/);
  // Refused by start(), before any process exists.
  const thrown = (tag: string): Record<string, unknown> => byTag(outcome, tag)[0]!;
  assert.equal(thrown('bound').thrown, 'TypeError');
  assert.match(String(thrown('bound').message), /is a bound function \("bound hidden"\).*Pass the bound values in args instead/);
  assert.match(String(thrown('anonymous').message), /is an anonymous function/);
  assert.match(String(thrown('builtin').message), /is a built-in function \("max"\)/);
  assert.match(String(thrown('uncloneable').message), /the args of Process-\d+ cannot be sent to a child process: .* could not be cloned/);
}

function checkCjs(outcome: Outcome): void {
  assert.equal(outcome.code, 0, outcome.stderr);
  expectRan(outcome, 'hidden', 'hidden function sees module const and kwargs');
  expectRan(outcome, 'arrow-const', 'arrow const');
  expectRan(outcome, 'imported', 'lib target sees lib-private');
  expectRan(outcome, 'renamed-import', 'renamed import');
  expectRan(outcome, 'local-subclass', 'LocalShape: field initializer');
  expectRan(outcome, 'imported-subclass', 'RemoteShape with 3 sides');
  assert.deepEqual(byTag(outcome, 'inline-arrow'), [{ tag: 'inline-arrow', exitCode: 1 }]);
}

describe('every way of naming a target', () => {
  test('ESM TypeScript under tsx (node --import tsx)', async () => checkEsm(await run(['--import', 'tsx', `${PROGRAMS}targets.ts`])));
  test('ESM TypeScript under the tsx command', async () => checkEsm(await run([TSX, `${PROGRAMS}targets.ts`])));
  test('compiled by tsc, run by node', async () => checkEsm(await run([`${built}targets.js`])));
  test('compiled by tsc, run by node --enable-source-maps', async () => checkEsm(await run(['--enable-source-maps', `${built}targets.js`])));
  test('CommonJS: a .cts file under tsx requires multiproc', async () => checkCjs(await run([TSX, `${PROGRAMS}targets.cts`])));
  test('CommonJS: compiled to .cjs, run by node', async () => checkCjs(await run([`${built}targets.cjs`])));
});

test('the main module is imported first: a factory elsewhere can start a target defined in main', async () => {
  for (const args of [['--import', 'tsx', `${PROGRAMS}factory-main.ts`], [`${built}factory-main.js`]]) {
    const outcome = await run(args);
    expectRan(outcome, 'factory', 'target defined in main, Process created in factory.ts');
  }
});

test('a script without a main guard fails in the child with the bootstrapping error, and forks nothing more', async () => {
  const outcome = await run(['--import', 'tsx', `${PROGRAMS}no-guard.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.deepEqual(outcome.lines, [{ exitCode: 1 }]);
  assert.match(outcome.stderr, /ProcessError: An attempt has been made to start a new process before the current process has finished its bootstrapping phase/);
  assert.match(outcome.stderr, /if \(isMainModule\(import\.meta\)\) main\(\);/);
  assert.equal(outcome.stderr.match(/An attempt has been made/g)?.length, 1);
});

test("multiproc's own preloads (--require) are on a child's command line once, and on a grandchild's once too: they do not pile up by generation", async () => {
  const outcome = await run(['--import', 'tsx', `${PROGRAMS}child-env.ts`, 'grandchild']);
  assert.equal(outcome.code, 0, outcome.stderr);
  const generations = outcome.lines as { execArgv: string[] }[];
  assert.equal(generations.length, 2, outcome.stdout);
  for (const { execArgv } of generations) {
    const preloads = execArgv.filter((_, i) => execArgv[i - 1] === '--require');
    assert.equal(preloads.filter((path) => path.endsWith('sigint-until-job.js')).length, 1, execArgv.join(' '));
    assert.equal(new Set(preloads).size, preloads.length, execArgv.join(' '));
  }
});

test('--inspect, --test and --watch flags do not reach the child; loaders do; argv[1] is not the parent\'s', async () => {
  const outcome = await run(['--inspect=127.0.0.1:0', '--import', 'tsx', '--test-only', `${PROGRAMS}child-env.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  const [child] = outcome.lines as { execArgv: string[]; argv: string[]; testContext: string | null }[];
  assert.ok(child !== undefined, outcome.stderr);
  assert.ok(!child.execArgv.some((a) => a.startsWith('--inspect') || a.startsWith('--test')), child.execArgv.join(' '));
  assert.ok(child.execArgv.includes('tsx'));
  assert.ok(!child.argv.some((a) => a.endsWith('child-env.ts')));
  assert.equal(child.testContext, null);
});

test('a target in a test file is refused by start(): importing the test file would run its tests in the child', () => {
  // This Process is created here, in a test file.
  const p = new Process({ target: empty });
  assert.throws(() => p.start(), /comes from the test file .*spawn-model\.test\.ts\. A child imports the module that created its Process/);
  assert.equal(p.pid, undefined);
});

test('a subclass field that cannot be cloned fails in start(), before any process exists', () => {
  const p = new WithFunctionField();
  assert.throws(() => p.start(), { name: 'TypeError', message: /a field of WithFunctionField-\d+ \(an instance of WithFunctionField\) cannot be sent to a child process/ });
  assert.equal(p.pid, undefined);
  assert.equal(p.isAlive(), false);
});
