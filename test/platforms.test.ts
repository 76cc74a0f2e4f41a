// What replaces a Linux mechanism where it is missing (docs/platforms.md), run on Linux with the
// mechanism taken away: here, a machine without /dev/shm (macOS, Windows, some containers).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, run } from './helpers/run.js';

afterEach(() => assertNoneLeftBehind());

const AS_ROOT = process.getuid?.() === 0;
const NEEDS_ROOT = !AS_ROOT && 'needs root, to take /dev/shm away in a private mount namespace (CI runs as root)';

/** Runs node with `args` in a private mount namespace whose /dev has only null, zero, random and urandom. */
function withoutDevShm(args: string[], env: NodeJS.ProcessEnv): ReturnType<typeof run> {
  const devices = ['null 1 3', 'zero 1 5', 'random 1 8', 'urandom 1 9'].map((d) => {
    const [name, major, minor] = d.split(' ');
    return `mknod -m 666 /dev/${name} c ${major} ${minor}`;
  });
  const script = `mount -t tmpfs none /dev && ${devices.join(' && ')} && exec "$@"`;
  return run(['-e', `require('node:child_process').execFileSync('unshare', ['-m', 'sh', '-c', ${JSON.stringify(script)}, 'sh', process.execPath, ...${JSON.stringify(args)}], { stdio: 'inherit' })`], { env, timeoutMs: 60_000 });
}

for (const mode of ['native addon', 'no addon']) {
  test(`without /dev/shm (${mode}): SharedMemory lives in a private folder of the user's, works between processes, and what is left is unlinked by the tracker`, { skip: NEEDS_ROOT }, async () => {
    const outcome = await withoutDevShm(['--import', 'tsx', `${PROGRAMS}shm-no-devshm.ts`], mode === 'no addon' ? { MULTIPROC_NO_NATIVE: '1' } : {});
    assert.equal(outcome.code, 0, outcome.stderr);
    const [line] = outcome.lines as [{ leaked: string }];
    assert.deepEqual({ ...line, leaked: undefined }, { devShm: false, exitCode: 0, read: 'from the child', inFolder: true, unlinked: true, leaked: undefined });
    // The tracker outlives the program by a moment: it unlinks the leaked segment once the program is gone.
    for (let i = 0; i < 500 && existsSync(line.leaked); i++) await sleep(20);
    assert.equal(existsSync(line.leaked), false, `${line.leaked} was not unlinked`);
  });
}
