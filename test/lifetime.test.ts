// Lifetimes: what happens to children when their parent exits, fails, or is
// killed; and proof that nothing is ever left behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getAllStartMethods } from 'multiproc';
import { assertNoneLeftBehind, killDescendants } from './helpers/cleanup.js';
import { PROGRAMS, ROOT, run } from './helpers/run.js';
import { resultFile } from './fixtures/report.js';

afterEach(() => assertNoneLeftBehind());

const LIFETIME = `${PROGRAMS}lifetime.ts`;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

for (const method of getAllStartMethods()) {
  describe(`start method ${method}`, () => {
    test('at a natural exit, daemonic children are terminated and the others waited for', async () => {
      const file = resultFile();
      const t = performance.now();
      const outcome = await run(['--import', 'tsx', LIFETIME, 'exit-naturally', method, file]);
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.ok(performance.now() - t < 30_000);
      assert.equal(readFileSync(file, 'utf8'), 'written by the non-daemonic child');
      const [daemonic] = (outcome.lines[0] as { pids: number[] }).pids;
      assert.ok(await gone(daemonic!, 2000), 'the daemonic child outlived its parent');
    });

    test('process.exit() in the parent still waits for non-daemonic children (as Python\'s atexit join)', async () => {
      const file = resultFile();
      const outcome = await run(['--import', 'tsx', LIFETIME, 'process-exit', method, file]);
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.equal(readFileSync(file, 'utf8'), 'written by the non-daemonic child');
      const [daemonic] = (outcome.lines[0] as { pids: number[] }).pids;
      assert.ok(await gone(daemonic!, 2000));
    });

    test('an uncaught error in the parent: exit code 1, after waiting for non-daemonic children', async () => {
      const file = resultFile();
      const outcome = await run(['--import', 'tsx', LIFETIME, 'uncaught', method, file]);
      assert.equal(outcome.code, 1);
      assert.match(outcome.stderr, /the parent fails/);
      assert.equal(readFileSync(file, 'utf8'), 'written by the non-daemonic child');
    });

    test('a parent killed with SIGKILL takes its daemonic children along, even a busy one; others finish (as in Python)', async () => {
      const file = resultFile();
      const parent = spawn(process.execPath, ['--import', 'tsx', LIFETIME, 'sigkill', method, file], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, NODE_TEST_CONTEXT: undefined },
      });
      try {
        const pids = await new Promise<number[]>((resolve) => {
          let out = '';
          parent.stdout.on('data', (d: Buffer) => {
            out += d;
            const line = out.split('\n').find((l) => l.startsWith('{'));
            if (line !== undefined) resolve((JSON.parse(line) as { pids: number[] }).pids);
          });
        });
        await sleep(300);
        parent.kill('SIGKILL');
        const [sleeper, spinner, worker] = pids as [number, number, number];
        assert.ok(await gone(sleeper, 3000), 'the sleeping daemonic child survived a SIGKILLed parent');
        assert.ok(await gone(spinner, 3000), 'the busy daemonic child survived a SIGKILLed parent');
        assert.ok(await gone(worker, 10_000), 'the non-daemonic child did not finish');
        assert.equal(readFileSync(file, 'utf8'), 'written by the non-daemonic child');
      } finally {
        parent.kill('SIGKILL');
        killDescendants();
      }
    });

    test('after its children end, nothing keeps a parent alive: not the idle spare, not a handle', async () => {
      const file = resultFile();
      const t = performance.now();
      const outcome = await run(['--import', 'tsx', LIFETIME, 'joined', method, file], { timeoutMs: 20_000 });
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.deepEqual(outcome.lines, [{ exitCode: 0 }]);
      assert.ok(existsSync(file));
      assert.ok(performance.now() - t < 15_000);
    });
  });
}
