// The forkserver start method where it forks a zygote (Node 24+ on Linux),
// and the same scenarios where it keeps warm spares instead: every exit path
// of a child, distinct identities and random state, a killed zygote,
// setForkserverPreload, bad input. Run as programs, so that the children's
// own stdout and stderr can be read.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpus, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { setForkserverPreload } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, ROOT, run } from './helpers/run.js';

afterEach(() => assertNoneLeftBehind());

const ZYGOTE = `${PROGRAMS}zygote.ts`;

test('every exit path of a child: process.exit, exitCode, uncaught error, rejection, a drained loop, signals, big pending output', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'exits'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const codes = Object.fromEntries(outcome.lines.map((l) => [l.mode, l.code]));
  assert.deepEqual(codes, { 'exit 0': 0, 'exit 5': 5, exitCode: 3, throw: 1, reject: 1, drain: 0, 'big output': 0, SIGTERM: -15, 'SIGTERM handled': 7 });
  for (const line of ['child says exit 0', 'child says exit 5', 'child sets exitCode 3', 'exit listener ran with 1', 'drained after a timer', 'caught SIGTERM']) {
    assert.ok(outcome.stdout.includes(line + '\n'), `stdout lacks "${line}"`);
  }
  // An error nobody handled is printed, as Node prints it, before the child exits 1.
  assert.match(outcome.stderr, /Error: thrown later \(expected by the test\)/);
  assert.match(outcome.stderr, /Error: rejected \(expected by the test\)/);
  // All of a megabyte written just before the loop drained reached the pipe.
  assert.ok(outcome.stdout.includes('x'.repeat(1 << 20) + '\nend of big output\n'));
  assert.ok(outcome.stderr.includes('y'.repeat(1 << 18) + '\nend of big error output\n'));
});

test('a burst of children: each has its own pid, Math.random, randomUUID and randomBytes', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'identities'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ pids, codes, seen }] = outcome.lines as [{ pids: number[]; codes: number[]; seen: Record<string, unknown>[] }];
  assert.deepEqual(codes, pids.map(() => 0));
  assert.deepEqual(new Set(seen.map((s) => s.pid)), new Set(pids));
  for (const key of ['random', 'uuid', 'bytes']) assert.equal(new Set(seen.map((s) => s[key])).size, pids.length, `${key} repeats across children`);
  assert.equal(new Set(seen.map((s) => s.kernelPpid)).size, 1, 'all forked by one zygote (or all children of the program)');
  // process.ppid names the process that started the child, zygote or not.
  assert.deepEqual(seen.map((s) => s.ppid), seen.map(() => (outcome.lines[0] as { program: number }).program));
});

test('a zygote killed with SIGKILL: the next start() starts a new one, no hang, no orphan', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'killed-zygote'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ first, second, forked }] = outcome.lines as [{ first: number; second: number; forked: boolean }];
  if (forked) assert.notEqual(first, second);
  else assert.equal(first, second);
});

test('a zygote stopped, then killed, while start() calls wait for their forks: each ends with 255, the next start() forks again, no hang', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'stopped-zygote'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [result] = outcome.lines as [{ forked: boolean; ahead?: number; codes?: number[]; replaced?: boolean }];
  if (!result.forked) return; // warm spares: no zygote to stop
  // The first start() takes the child forked ahead before the stop: it runs.
  assert.equal(result.ahead, 1);
  assert.deepEqual(result.codes, [0, 255, 255, 255]);
  assert.equal(result.replaced, true);
  assert.match(outcome.stderr, /the forkserver could not fork a started process \(the forkserver ended\)/);
});

test('a zygote killed while its child runs, the child ended right after: join() settles with the child\'s own exit code', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'orphaned'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal((outcome.lines[0] as { code: number }).code, -15);
});

test('warm spares killed while idle, their deaths not yet seen: the next start() takes a live one', async () => {
  // Spares even where the forkserver forks: that is where spares serve.
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'dead-spares'], { timeoutMs: 120_000, env: { MULTIPROC_FORK: '0' } });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ killed, code }] = outcome.lines as [{ killed: number; code: number }];
  assert.ok(killed >= 1, 'the program had an idle spare to kill');
  assert.equal(code, 0);
});

test('warm spares about to die of a pending signal (as a Ctrl-C reaches a spare still booting): the next start() takes a live one', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'doomed-spares'], { timeoutMs: 120_000, env: { MULTIPROC_FORK: '0' } });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ doomed, code }] = outcome.lines as [{ doomed: number; code: number }];
  assert.ok(doomed >= 1, 'the program had an idle spare to doom');
  // Handed to a doomed spare, the job would end with it: -12 (SIGUSR2).
  assert.equal(code, 0);
});

test('warm spares after a burst of two: both replacements boot together, and the next burst of two starts warm, though each took longer to boot than the quiet spell after which one fewer is kept', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'spare-refill'], { timeoutMs: 120_000, env: { MULTIPROC_FORK: '0', NODE_DEBUG: 'multiproc' } });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ codes, warm, servedWarm }] = outcome.lines as [{ codes: number[]; warm: number; servedWarm: number }];
  assert.deepEqual(codes, [0, 0, 0, 0]);
  // No more boot at once than there are CPUs: each keeps one busy.
  const together = Math.min(2, cpus().length);
  const first = /forkserver: booting (\d+) warm spares? at once, to keep (\d+)/.exec(outcome.stderr);
  assert.deepEqual(first?.slice(1).map(Number), [together, 2], 'the missing spares boot together, not one after the other');
  assert.equal(warm, 2);
  assert.equal(servedWarm, 2);
});

test("a warm spare's child exits through _exit, as Python's forkserver children do, except where NODE_V8_COVERAGE collects what node writes as it tears down: each child still writes its coverage", async () => {
  const coverage = mkdtempSync(join(tmpdir(), 'spare-coverage-'));
  try {
    const outcome = await run(['--import', 'tsx', ZYGOTE, 'exits'], { timeoutMs: 120_000, env: { MULTIPROC_FORK: '0', NODE_V8_COVERAGE: coverage } });
    assert.equal(outcome.code, 0, outcome.stderr);
    // The program, and each of its nine children that ended by exiting (not by SIGTERM); idle spares are killed.
    const pids = new Set(readdirSync(coverage).map((name) => /^coverage-(\d+)-/.exec(name)?.[1]));
    assert.ok(pids.size >= 8, `coverage from ${pids.size} processes: ${readdirSync(coverage).join(', ')}`);
  } finally {
    rmSync(coverage, { recursive: true, force: true });
  }
});

test('a Ctrl-C (SIGINT to the process group) ends the child, not the forkserver: the exit is reported (-2) and the next child forks from the same server, as in Python', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'ctrl-c'], { timeoutMs: 120_000, detached: true });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ interrupted, code, nextCode, sameForkserver }] = outcome.lines as [{ interrupted: boolean; code: number; nextCode: number; sameForkserver: boolean }];
  assert.equal(interrupted, true);
  assert.equal(code, -2);
  assert.equal(nextCode, 0);
  assert.equal(sameForkserver, true);
});

test('the forkserver forks the next child ahead: the next start() takes it, and a zygote killed takes its idle child with it', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'ahead'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [result] = outcome.lines as [{ forked: boolean; idle?: number[]; taken?: number; code?: number; next?: number[]; aliveAfterZygote?: number[] }];
  if (!result.forked) return; // warm spares: tested above
  assert.equal(result.idle?.length, 1, 'one child forked ahead after a start');
  assert.equal(result.taken, result.idle[0], 'the next start() is served by the child forked ahead');
  assert.equal(result.code, 0);
  assert.equal(result.next?.length, 1, 'and the next one is forked ahead after it');
  assert.notEqual(result.next[0], result.taken);
  assert.deepEqual(result.aliveAfterZygote, []);
});

test("a forked child's process.uptime() counts from its start, not from the zygote's start or its fork ahead", async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'uptime'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ uptime, forked }] = outcome.lines as [{ uptime: number; forked: boolean }];
  // A warm spare is a process started before it was needed: its uptime is its own, from its boot.
  if (forked) assert.ok(uptime >= 0 && uptime < 1, `a child started 1.5 s after the zygote started (and forked ahead then) says it has run ${uptime} s`);
  else assert.ok(uptime > 0, `uptime ${uptime}`);
});

test("a forked child starts with the zygote's young generation collected: its first scavenge copies nothing of the zygote's", async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'uptime'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ youngUsed, forked }] = outcome.lines as [{ youngUsed: number; forked: boolean }];
  // What the child allocated itself before its target ran: some tens of KB (1.6 MB when the zygote left its own there).
  if (forked) assert.ok(youngUsed < 512 * 1024, `a forked child starts with ${youngUsed} bytes in its young generation`);
});

test('setForkserverPreload: the forkserver imports the modules once, its children start with them', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'preload', './preloaded.cts'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ seen, code }] = outcome.lines as [{ seen: { preloaded: number }; code: number }];
  assert.equal(code, 0);
  assert.equal(seen.preloaded, 1);
});

test('setForkserverPreload refuses anything but a list of strings, as Python does', () => {
  for (const bad of ['./x.js', [1], null, [['a']]]) {
    assert.throws(() => setForkserverPreload(bad as unknown as string[]), (e: Error) => e instanceof TypeError && e.message.startsWith('module_names must be a list of strings'));
  }
  setForkserverPreload([]);
});

test('the forkserver forks a zygote where fork is enabled (Node 24+ on Linux with the addon), keeps warm spares elsewhere', async () => {
  const outcome = await run(['--import', 'tsx', ZYGOTE, 'identities'], { timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const [{ program, seen }] = outcome.lines as [{ program: number; seen: { kernelPpid: number }[] }];
  const forced = process.env.MULTIPROC_FORK;
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const forkingNode = process.platform === 'linux' && (major >= 24 || (major === 22 && minor >= 15));
  const forks = process.env.MULTIPROC_NO_NATIVE !== '1' && (forced === undefined ? forkingNode : forced === '1');
  // A forked child's parent is the zygote (as with Python's forkserver); a spare's is the program.
  for (const child of seen) assert.equal(child.kernelPpid !== program, forks);
});

for (const mode of ['plain', 'worker']) {
  test(`children import a module nothing loaded before, with the main module compiled afresh by tsx${mode === 'worker' ? ', and a worker thread started by the main module (spares then)' : ''}`, async () => {
    // A new folder and stamp: tsx's cache misses, so the zygote itself compiles (esbuild's service and thread run in it).
    const dir = `${ROOT}build/fresh-${randomUUID()}/`;
    mkdirSync(dir, { recursive: true });
    try {
      for (const file of ['main.ts', 'late.ts']) writeFileSync(dir + file, readFileSync(`${PROGRAMS}fresh/${file}`, 'utf8').replace('// STAMP', `// ${randomUUID()}`));
      const outcome = await run(['--import', 'tsx', `${dir}main.ts`], { timeoutMs: 120_000, env: { FRESH_MODE: mode } });
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.deepEqual(outcome.lines, [{ late: 'imported late' }, { late: 'imported late' }, { late: 'imported late' }, { codes: [0, 0, 0] }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
