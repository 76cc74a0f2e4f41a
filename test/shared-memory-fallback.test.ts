// SharedMemory and ShareableList without the native addon: test/shared-memory.test.ts
// again, in a process where the addon "cannot load" (MULTIPROC_NO_NATIVE=1,
// inherited by every child), so that buf reads and writes the segment's file;
// and one segment shared both ways by a process with the addon, one without,
// and python3.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ShareableList, SharedMemory } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, ROOT, run } from './helpers/run.js';

const PYTHON = process.env.MULTIPROC_TEST_PYTHON || 'python3';
const PYTHON_PEER = fileURLToPath(new URL('./fixtures/python/shm_peer.py', import.meta.url));

function count(tap: string, what: 'pass' | 'fail' | 'skipped' | 'todo'): number {
  const found = new RegExp(`^# ${what} (\\d+)$`, 'm').exec(tap);
  assert.ok(found, `no "# ${what}" line in:\n${tap}`);
  return Number(found[1]);
}

/** The fallback resource trackers' journal folders: each tracker removes its own as it exits. */
const trackerDirs = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith('multiproc-tracker-'));

test('every test of SharedMemory and ShareableList passes with buf on the segment file; no warning; every tracker exits', async () => {
  const before = new Set(trackerDirs());
  process.env.MULTIPROC_NO_NATIVE = '1';
  let outcome;
  try {
    outcome = await run(['--import', 'tsx', '--test', '--test-reporter=tap', `${ROOT}test/shared-memory.test.ts`], { timeoutMs: 120_000 });
  } finally {
    delete process.env.MULTIPROC_NO_NATIVE;
  }
  const { code, stdout, stderr } = outcome;
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.equal(count(stdout, 'fail'), 0);
  assert.equal(count(stdout, 'skipped') + count(stdout, 'todo'), 0);
  assert.ok(count(stdout, 'pass') >= 9, stdout);
  // Shared memory needs no sync server, whose line is the fallback's only warning, and says nothing of its own.
  const warnings = `${stdout}\n${stderr}`.split('\n').filter((line) => line.includes('multiproc: the native addon'));
  assert.deepEqual(warnings, []);
  // The trackers outlive the test process by one poll at most.
  const deadline = Date.now() + 5000;
  while (trackerDirs().some((name) => !before.has(name)) && Date.now() < deadline) await sleep(50);
  assert.deepEqual(trackerDirs().filter((name) => !before.has(name)), []);
  await assertNoneLeftBehind();
});

/** Runs test/fixtures/programs/shm-peer.ts, with or without the addon: it reads a range, then writes `text` at `writeAt`. */
async function nodePeer(withAddon: boolean, name: string, readAt: number, readLength: number, writeAt: number, text: string): Promise<{ read: string; mapped: boolean }> {
  if (!withAddon) process.env.MULTIPROC_NO_NATIVE = '1';
  try {
    const { code, stderr, lines } = await run(['--import', 'tsx', `${PROGRAMS}shm-peer.ts`, name, String(readAt), String(readLength), String(writeAt), text]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '', 'attaching by name warns of nothing');
    return lines[0] as { read: string; mapped: boolean };
  } finally {
    delete process.env.MULTIPROC_NO_NATIVE;
  }
}

function pythonPeer(name: string, readAt: number, readLength: number, writeAt: number, text: string): { read: string } {
  const out = execFileSync(PYTHON, [PYTHON_PEER, name, String(readAt), String(readLength), String(writeAt), text], { encoding: 'utf8' });
  return JSON.parse(out.trim()) as { read: string };
}

test('one segment shared both ways by a process with the addon (mapped), one without (file I/O) and python3', async () => {
  const shm = new SharedMemory({ create: true, size: 4096 });
  try {
    shm.buf.write('from native', 0);
    // native -> fallback, and fallback writes
    assert.deepEqual(await nodePeer(false, shm.name, 0, 11, 100, 'from fallback'), { read: 'from native', mapped: false });
    // fallback -> python, and python writes
    assert.deepEqual(pythonPeer(shm.name, 100, 13, 200, 'from python'), { read: 'from fallback' });
    // python -> fallback, and fallback -> native
    assert.deepEqual(await nodePeer(false, shm.name, 200, 11, 300, 'fallback again'), { read: 'from python', mapped: false });
    assert.equal(shm.buf.toString('utf8', 100, 113), 'from fallback');
    assert.equal(shm.buf.toString('utf8', 300, 314), 'fallback again');
    // a second native process sees them all, and python sees what it writes
    assert.deepEqual(await nodePeer(true, shm.name, 300, 14, 400, 'native peer'), { read: 'fallback again', mapped: true });
    assert.deepEqual(pythonPeer(shm.name, 400, 11, 500, 'done'), { read: 'native peer' });
    assert.equal(shm.buf.toString('utf8', 500, 504), 'done');
  } finally {
    shm.close();
    shm.unlink();
  }
  assert.equal(existsSync(`/dev/shm/${shm.name}`), false);
  await assertNoneLeftBehind();
});

test('a ShareableList made with the addon is read and edited in place by a process without it', async () => {
  const list = new ShareableList([1.5, 'abc', 7n, true, null]);
  try {
    process.env.MULTIPROC_NO_NATIVE = '1';
    let outcome;
    try {
      outcome = await run(['--import', 'tsx', `${PROGRAMS}shareable-peer.ts`, list.shm.name]);
    } finally {
      delete process.env.MULTIPROC_NO_NATIVE;
    }
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.deepEqual(outcome.lines[0], { items: [1.5, 'abc', '7n', true, null] });
    assert.deepEqual([...list], ['peer', 'abc', -1n, true, null]);
  } finally {
    list.shm.close();
    list.shm.unlink();
  }
  await assertNoneLeftBehind();
});
