// Every README example runs, and says what the README says it says.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { addonTurnedOff } from './helpers/addon.js';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { ROOT, run, withoutNoAddonLine } from './helpers/run.js';

afterEach(() => assertNoneLeftBehind());

test('examples/demo.ts: one dances, one sings, side by side, showing pids', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/demo.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  const main = /main pid=(\d+)/.exec(outcome.stdout)![1];
  const dance = outcome.stdout.split('\n').filter((l) => l.includes('跳舞 (dance)'));
  const sing = outcome.stdout.split('\n').filter((l) => l.includes('唱歌 (sing)'));
  assert.equal(dance.length, 3);
  assert.equal(sing.length, 3);
  for (const line of [...dance, ...sing]) assert.match(line, new RegExp(`pid=\\d+ ppid=${main} `));
  assert.notEqual(/pid=(\d+)/.exec(dance[0]!)![1], /pid=(\d+)/.exec(sing[0]!)![1]);
  assert.match(outcome.stdout, /both done: dancer exit code 0, singer exit code 0/);
});

test('examples/subclass.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/subclass.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.match(outcome.stdout, /singer \(pid \d+\) sings 唱歌 #1\nsinger \(pid \d+\) sings 唱歌 #2\nexit code 0/);
});

test('examples/lifecycle.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/lifecycle.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.match(outcome.stdout, /alive after join\(100\): true, active children: 1\nterminated: exit code -15\nProcess-\d+: exit code 1\nProcess-\d+: exit code 3\nSpawnProcess-\d+ ran in a fresh node: exit code 0/);
  assert.match(outcome.stderr, /Process Process-\d+:\nError: something went wrong in the child/);
});

test('examples/pipe.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/pipe.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'hello -> HELLO\npipe -> PIPE\nchild exit code 0\n');
});

test('examples/echo-server.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/echo-server.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'echo: first\necho: second\nserver exit code 0\n');
});

test('examples/classes.ts: an Account goes to a child and comes back an Account; Pool results keep their class', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/classes.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'ada: 150, an Account: true\ngrace: 11, alan: 11\n');
});

test('examples/queues.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/queues.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'sum of the first 100 squares: 338350\n10! = 3628800\n20! = 2432902008176640000\n5! = 120\n');
});

test('examples/pool.ts: a CPU-bound map with its speed-up, imap with progress, errors, a timeout', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/pool.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(
    outcome.stdout,
    'primes below 1.6 million: 121127 (serial: 121127)\n' +
      'imap: 33860 primes below 400000; progress 0/4 1/4 2/4 3/4 4/4\n' +
      'ParseError on line 2: not a number: "x7"; thrown at parseLine\n' +
      'TimeoutError: the task sleep() did not finish within 200 ms\n' +
      'still serving: 25 primes below 100\n',
  );
  assert.match(withoutNoAddonLine(outcome.stderr), /^serial \d+ ms, a pool of \d+: \d+ ms, \d+\.\d\dx faster\n$/);
});

test('examples/shared-counter.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/shared-counter.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, '4 processes x 2500 locked increments = 10000\n');
});

test('examples/producer-consumer.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/producer-consumer.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'the consumer took 100 items through a 4-slot buffer; their sum: 5050\n');
});

test('examples/shared-array.ts', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/shared-array.ts`]);
  if (addonTurnedOff) {
    // Without the addon a segment is a file that buf reads and writes, not mapped memory: no typed array can view it,
    // and the example stops at its first view with the error that says so (its finally unlinks both segments).
    assert.equal(outcome.code, 1);
    assert.match(outcome.stderr, /TypeError: multiproc: without the native addon, SharedMemory\.buf is not mapped memory, so it has no ArrayBuffer to view/);
    return;
  }
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'sum of 0..4194303 by 4 workers: 8796090925056 (expected 8796090925056)\n');
  assert.doesNotMatch(outcome.stderr, /leaked shared_memory/);
});

test('examples/futures.ts: ProcessPoolExecutor with submit, asCompleted, map, and an error that keeps its class', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/futures.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'longest: 178 steps\nmap: 0 1 7 8 16 19\nChecksumError: bad word: Hello\n');
});

test('examples/manager-pool.ts: a shared dict of results filled by a Pool', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/manager-pool.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'manager: 3\nmultiprocessing: 5\nproxy: 1\nqueue: 4\ntypescript: 2\n');
});

test('examples/managed-pool.ts: a Pool in the manager used here and from a child; a SharedMemoryManager', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/managed-pool.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, 'here: 1 4 9\nin a child: 16 25 36\napplyAsync: 49\nsegments: 1\n');
  assert.equal(withoutNoAddonLine(outcome.stderr), '');
});

test('examples/remote-queue.ts: a queue served on one address, workers that know only the address and the key', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/remote-queue.ts`]);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.match(outcome.stdout, /^10 squares from [12] worker process\(es\): sum 385\nworkers exited with 0, 0; server stopped\n$/);
});
