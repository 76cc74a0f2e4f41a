// What is particular to Pipes and Queues without the native addon
// (MULTIPROC_NO_NATIVE=1), run as a program in a child of the test: the
// first end of a Pipe arrives a turn later, and everything still works when
// it is passed on, or closed, before it has; a Queue through the sync server.
// The whole suite also runs without the addon in CI (.ci/run).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, run } from './helpers/run.js';

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
