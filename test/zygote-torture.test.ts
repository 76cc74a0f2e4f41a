// Proof that forking a warm node is safe where it is enabled: a few hundred
// children forked from the zygote, one after another and in bursts of 8, each
// using what a forked node could get wrong (the event loop, the threadpool,
// DNS, a child process, TCP and Unix sockets, a worker thread, WebAssembly,
// forced full GCs, a SIGTERM handler). Zero hangs, zero crashes; every
// child's line of output and its own exit code checked. Where the forkserver
// keeps warm spares instead (no fork), a short run checks the same target.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, run } from './helpers/run.js';

afterEach(() => assertNoneLeftBehind());

// As the library decides (src/launch/zygote.ts): Linux, Node 24+ or 22.15+, unless MULTIPROC_FORK says otherwise.
const forks = process.env.MULTIPROC_FORK === '1' || (process.env.MULTIPROC_FORK !== '0' && process.platform === 'linux' && forkingNode());

function forkingNode(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  return major >= 24 || (major === 22 && minor >= 15);
}
const [SEQUENTIAL, BURSTS] = forks ? [96, 13] : [8, 1];

test(`${SEQUENTIAL} forked children in sequence and ${BURSTS * 8} in bursts of 8: no hang, no crash, every output and exit code right`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-torture-'));
  try {
    const outcome = await run(['--import', 'tsx', `${PROGRAMS}torture.ts`, String(SEQUENTIAL), String(BURSTS), dir], { timeoutMs: 900_000 });
    assert.equal(outcome.code, 0, outcome.stderr);
    const total = SEQUENTIAL + BURSTS * 8;
    const ends = outcome.lines.filter((l) => 'index' in l) as { index: number; code: number; hung: boolean }[];
    const reports = outcome.lines.filter((l) => 'child' in l) as { child: number; checks: Record<string, unknown> }[];
    assert.equal(ends.length, total);
    const hung = ends.filter((e) => e.hung).map((e) => e.index);
    const crashed = ends.filter((e) => !e.hung && e.code !== e.index % 5).map((e) => `${e.index}: ${e.code}`);
    assert.deepEqual({ hung, crashed }, { hung: [], crashed: [] });
    assert.deepEqual(new Set(reports.map((r) => r.child)).size, total);
    for (const { child, checks } of reports) {
      assert.deepEqual(
        { ...checks, worker: undefined, gc: undefined },
        { promises: '2,4', fs: true, crypto: 16, dns: true, exec: true, tcp: 'ping', unix: 'ping', wasm: 42, uuid: 36, worker: undefined, gc: undefined },
        `child ${child}`,
      );
      if ('worker' in checks) assert.deepEqual([checks.worker, checks.gc], [42, 800], `child ${child}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
