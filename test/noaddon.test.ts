// What is particular to Pipes, Queues and the Pool without the native addon
// (MULTIPROC_NO_NATIVE=1), run as programs in a child of the test: the
// first end of a Pipe arrives a turn later, and everything still works when
// it is passed on, or closed, before it has; a Queue through the sync server;
// a Pool whose workers' ports are such pairs, and which learns over the port
// which task a worker had received when it died.
// The whole suite also runs without the addon in CI (.ci/run).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { compilePrograms, PROGRAMS, run } from './helpers/run.js';

const pairFolders = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith('multiproc-pairs-'));

test('without the addon: a Pipe end that has not arrived yet says why it has no descriptor, delivers what was sent before it arrived, and travels to a child; a Queue goes both ways; nothing is left behind', async () => {
  const before = new Set(pairFolders());
  const { code, stdout, stderr, lines } = await run(['--import', 'tsx', `${PROGRAMS}noaddon.ts`], { env: { MULTIPROC_NO_NATIVE: '1' }, timeoutMs: 120_000 });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  const said = Object.fromEntries(lines.map((line) => [line.check, line.value]));
  assert.match(String(said['fileno at once']), /connected one turn of the event loop after Pipe\(\) returns/);
  assert.equal(said['second end has a descriptor'], true);
  assert.equal(said['early message'], 'early');
  assert.equal(said['then'], 'EOFError');
  assert.deepEqual(said['echo through an arriving end'], ['echo', 42]);
  assert.equal(said['300 Pipes in one turn, each to its own'], true);
  assert.equal(said['child exit code'], 0);
  assert.equal(said['doubled sum'], 9900);
  assert.equal(said['getNowait on empty'], true);
  assert.equal(said['qsize'], 2);
  assert.deepEqual(said['two gets'], [1, 2]);
  assert.equal(said['qsize after'], 0);
  // The private listener's folder goes with the process.
  assert.deepEqual(pairFolders().filter((name) => !before.has(name)), []);
  await assertNoneLeftBehind();
});

test('without the addon: a Pool and a ProcessPoolExecutor serve every kind of call; a worker that exits in a task fails that task only; maxTasksPerChild and terminate() work; nothing is left behind', async () => {
  const before = new Set(pairFolders());
  const { code, stdout, stderr, lines } = await run(['--import', 'tsx', `${PROGRAMS}noaddon-pool.ts`], { env: { MULTIPROC_NO_NATIVE: '1' }, timeoutMs: 120_000 });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  const said = Object.fromEntries(lines.map((line) => [line.check, line.value]));
  assert.equal(said['map chunksize 1'], 500 * 1000 + (499 * 500) / 2);
  assert.equal(said['map default chunks'], 5000 * 1000 + (4999 * 5000) / 2);
  assert.equal(said['imap in order'], true);
  assert.equal(said['imapUnordered'], 50 * 1000 + (49 * 50) / 2);
  assert.equal(said['apply'], 42);
  assert.deepEqual(said['starmap'], [2, 12]);
  assert.deepEqual(said['async function'], [2, 4, 6]);
  assert.equal(said['applyAsync callback'], 25);
  const exited = said['exit in a task'] as { exitCode: number; message: string };
  assert.equal(exited.exitCode, 3, JSON.stringify(exited));
  assert.match(exited.message, /exited with code 3 while running exitNow\(\)/);
  assert.equal(said['the tasks behind it'], (99 * 100) / 2);
  assert.equal(said['maxTasksPerChild workers'], true);
  assert.equal(said['terminated task'], 'ProcessError');
  assert.equal(said['executor submit'], 12);
  assert.deepEqual(said['executor map'], [2, 4, 6]);
  assert.deepEqual(pairFolders().filter((name) => !before.has(name)), []);
  await assertNoneLeftBehind();
});

test('without the addon: a Pool of 130 workers (more socket pairs in one turn than one accept queue holds) starts them all, and they serve a map; nothing is left behind', async () => {
  const before = new Set(pairFolders());
  // Compiled by tsc and run by node, so that none of the 130 workers loads tsx.
  const { code, stdout, stderr, lines } = await run([`${compilePrograms()}noaddon-many-workers.js`], { env: { MULTIPROC_NO_NATIVE: '1' }, timeoutMs: 300_000 });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  const said = Object.fromEntries(lines.map((line) => [line.check, line.value]));
  assert.equal(said['map'], (129 * 130) / 2);
  assert.deepEqual(pairFolders().filter((name) => !before.has(name)), []);
  await assertNoneLeftBehind();
});
