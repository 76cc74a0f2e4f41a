// The IPC fallback: test/primitives.test.ts and test/sharedctypes.test.ts
// again, in a process where the native addon "cannot load"
// (MULTIPROC_NO_NATIVE=1, inherited by every child), so that every lock,
// semaphore, event, condition, barrier, Value and Array goes through the
// sync server; same tests, same expectations.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, ROOT, run } from './helpers/run.js';

const WARNING = "multiproc: the native addon could not be loaded (disabled by MULTIPROC_NO_NATIVE=1); slower without it: locks, semaphores, events, conditions, barriers, Values and Arrays (through an IPC server), queues, Pools, and SharedMemory's buf (file reads and writes); unset MULTIPROC_NO_NATIVE to use it";

function count(tap: string, what: 'pass' | 'fail' | 'skipped' | 'todo'): number {
  const found = new RegExp(`^# ${what} (\\d+)$`, 'm').exec(tap);
  assert.ok(found, `no "# ${what}" line in:\n${tap}`);
  return Number(found[1]);
}

/** The sync servers' private folders (where the socket is not abstract) and the links' FIFO folders. */
const serverDirs = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith('multiproc-sync-') || name.startsWith('multiproc-link-'));

for (const [file, tests] of [
  ['primitives.test.ts', 28],
  ['sharedctypes.test.ts', 7],
] as const) {
  test(`every test of ${file} passes through the sync server, with one warning line; nothing is left behind`, async () => {
    await passesWithoutTheAddon(file, tests);
  });
}

async function passesWithoutTheAddon(file: string, tests: number): Promise<void> {
  const before = new Set(serverDirs());
  process.env.MULTIPROC_NO_NATIVE = '1';
  let outcome;
  try {
    outcome = await run(['--import', 'tsx', '--test', '--test-reporter=tap', `${ROOT}test/${file}`], { timeoutMs: 180_000 });
  } finally {
    delete process.env.MULTIPROC_NO_NATIVE;
  }
  const { code, stdout, stderr } = outcome;
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.equal(count(stdout, 'fail'), 0);
  assert.equal(count(stdout, 'skipped') + count(stdout, 'todo'), 0);
  assert.equal(count(stdout, 'pass'), tests, stdout);
  // The test runner reports the file's stderr as "# " lines. Children print
  // nothing: only the root, which starts the server, warns, once.
  const warnings = `${stdout}\n${stderr}`.split('\n').filter((line) => line.includes('multiproc: the native addon'));
  assert.deepEqual(warnings.map((line) => line.replace(/^# /, '')), [WARNING]);
  // And no warning of Node's (a descriptor the server thread mishandles shows as one).
  assert.deepEqual(`${stdout}\n${stderr}`.split('\n').filter((line) => /\bWarning: /.test(line)), []);
  // The server is a thread of the root process, so no process can be left; no folder is left either.
  assert.deepEqual(serverDirs().filter((name) => !before.has(name)), []);
  await assertNoneLeftBehind();
}

test("the sync server's thread and each process's link thread start without the program's --import hooks (tsx): they are loaded once per process, not again per thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'thread-marker-'));
  const marks = join(dir, 'threads');
  try {
    const { code, stdout, stderr, lines } = await run(['--import', 'tsx', '--import', `${PROGRAMS}thread-marker.mjs`, `${PROGRAMS}link-threads.ts`], {
      env: { MULTIPROC_NO_NATIVE: '1', THREAD_MARKER_FILE: marks },
    });
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    const [{ took, started, exitCodes }] = lines as [{ took: number[]; started: number[]; exitCodes: number[] }];
    assert.deepEqual(took, started);
    assert.deepEqual(exitCodes, [0, 0]);
    // The preload notes each worker thread it runs in: with the hooks inherited, the server's and both links'.
    assert.equal(existsSync(marks) ? readFileSync(marks, 'utf8') : '', '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assertNoneLeftBehind();
});
