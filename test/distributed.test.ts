// The Pool on a Redis back end (BullMQ), through `multiproc worker`
// processes: the same API and errors as the local Pool, nothing lost when a
// worker dies, and bad input refused with clear errors. Each test uses its
// own queue on one private redis-server (test/helpers/redis.ts).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { BrokenProcessPool, MaybeEncodingError, Pool, RemoteTraceback, TimeoutError, ValueError } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { BIN, startWorker, type WorkerHandle } from './helpers/workers.js';
import { PROGRAMS, ROOT, run } from './helpers/run.js';
import { makeRemotePool, mul, napWithPid, overQuota, QuotaError, slowWhere, sqr, unsendable, where, sleepy } from './fixtures/distributed.js';

let redis: RedisServer;
let queues = 0;
const started: WorkerHandle[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis.stop();
  assert.throws(() => process.kill(redis.pid, 0), /ESRCH/, 'redis-server is gone');
});

afterEach(async () => {
  for (const worker of started.splice(0)) await worker.stop();
  await assertNoneLeftBehind(10_000);
});

const nextQueue = (): string => `t${process.pid}-${++queues}`;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** BullMQ's own view of a queue (as its tools see it). */
async function jobCounts(url: string, queue: string, ...types: ('waiting' | 'completed' | 'failed')[]): Promise<Record<string, number>> {
  const client = new IORedis(url);
  const q = new Queue(queue, { connection: client });
  try {
    return await q.getJobCounts(...types);
  } finally {
    await q.close();
    client.disconnect();
  }
}

/** Which `multiproc worker` (its pid) holds the queue's one active job: BullMQ records the taker's name, multiproc-worker-<host>-<pid>. */
async function holderOfActiveJob(url: string, queue: string): Promise<number> {
  const client = new IORedis(url);
  try {
    const [jobId] = await client.lrange(`bull:${queue}:active`, 0, -1);
    const name = await client.hget(`bull:${queue}:${jobId}`, 'pb');
    return Number(/-(\d+)$/.exec(name ?? '')?.[1]);
  } finally {
    client.disconnect();
  }
}

/** Which `multiproc worker` (its pid) completed each completed job of the queue: BullMQ's own record (processedBy), as its tools show it. */
async function completedBy(url: string, queue: string): Promise<number[]> {
  const client = new IORedis(url);
  try {
    const ids = await client.zrange(`bull:${queue}:completed`, 0, -1);
    const names = await Promise.all(ids.map((id) => client.hget(`bull:${queue}:${id}`, 'pb')));
    return names.map((name) => Number(/-(\d+)$/.exec(name ?? '')?.[1]));
  } finally {
    client.disconnect();
  }
}

async function workers(queue: string, count: number, args: string[] = []): Promise<WorkerHandle[]> {
  const list = await Promise.all(Array.from({ length: count }, () => startWorker(redis.url, queue, args)));
  started.push(...list);
  return list;
}

test('map, starmap, imap, imapUnordered and apply give what the local Pool gives, through two workers', async () => {
  const queue = nextQueue();
  await workers(queue, 2, ['--processes', '2']);
  await using pool = makeRemotePool(redis.url, queue);
  assert.deepEqual(await pool.map(sqr, range(100)), range(100).map((x) => x * x));
  // Megabytes of arguments: its chunks go to Redis in several batches, each on its way while the next is encoded.
  const many = range(200_000);
  assert.deepEqual(await pool.map(sqr, many), many.map((x) => x * x));
  assert.deepEqual(await pool.map(sqr, range(30), 1), range(30).map((x) => x * x));
  const pairs = range(10).map((i) => [i, i + 1] as [number, number]);
  assert.deepEqual(await pool.starmap(mul, pairs), pairs.map(([a, b]) => a * b));
  assert.equal(await pool.apply(sqr, [12]), 144);
  assert.equal(await pool.applyAsync(mul, [6, 7]).get(30_000), 42);
  const ordered: number[] = [];
  for await (const value of pool.imap(sqr, range(20), 3)) ordered.push(value);
  assert.deepEqual(ordered, range(20).map((x) => x * x));
  const unordered: number[] = [];
  for await (const value of pool.imapUnordered(sqr, range(20))) unordered.push(value);
  assert.deepEqual(unordered.sort((a, b) => a - b), range(20).map((x) => x * x));
  const progress: number[] = [];
  await pool.map(sqr, range(40), { chunksize: 10, progress: ({ done }) => progress.push(done) });
  assert.equal(progress.at(-1), 40);
  const stats = pool.stats();
  assert.ok(stats.tasksCompleted > 0 && stats.tasksFailed === 0, JSON.stringify(stats));
  // Chunks ran in the workers' own processes (never in the worker's main process), on both workers.
  const places = new Set((await pool.map(where, range(40), 1)).map((text) => text.split(':')[1]));
  assert.ok(places.size >= 2, `chunks ran in ${[...places].join(', ')}`);
});

test('a task submitted while the jobs before it are on their way to Redis is added too (it was left out, and its map waited for ever)', async () => {
  const queue = nextQueue();
  await workers(queue, 1);
  await using pool = makeRemotePool(redis.url, queue);
  assert.equal(await pool.apply(sqr, [2]), 4);
  for (let round = 0; round < 5; round++) {
    const first = pool.applyAsync(sqr, [round]);
    // One turn later: the first job's add has left (its reply not yet read), and this task comes while it is on its way.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const second = pool.applyAsync(mul, [round, 3]);
    assert.deepEqual([await first.get(30_000), await second.get(30_000)], [round * round, round * 3]);
  }
  // imapUnordered submits each next task as an answer comes, often while a job is on its way.
  const unordered: number[] = [];
  for await (const value of pool.imapUnordered(sqr, range(200))) unordered.push(value);
  assert.equal(unordered.length, 200);
});

test('errors keep their class, props and remote stack; an unsendable result is a MaybeEncodingError', async () => {
  const queue = nextQueue();
  await workers(queue, 1, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  const error = await pool.apply(overQuota, [3]).then(
    () => assert.fail('no error'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof QuotaError, String(error));
  assert.equal(error.limit, 3);
  assert.equal(error.message, 'over the quota of 3');
  assert.ok(error.cause instanceof RemoteTraceback);
  assert.match(error.cause.tb, /at overQuota .*test\/fixtures\/distributed\.ts/);
  await assert.rejects(pool.apply(unsendable), MaybeEncodingError);
  // The pool goes on.
  assert.deepEqual(await pool.map(sqr, [1, 2, 3]), [1, 4, 9]);
});

test('a function the workers cannot find fails its tasks with an error naming the module and the function', async () => {
  const queue = nextQueue();
  // This worker's root is test/fixtures: the job's module path (test/fixtures/distributed.ts) is not there.
  started.push(await startWorker(redis.url, queue, ['--processes', '1', '--root', `${ROOT}test/fixtures`]));
  await using pool = makeRemotePool(redis.url, queue);
  await assert.rejects(pool.apply(sqr, [2]), (error: Error) => {
    assert.match(error.message, /test\/fixtures\/test\/fixtures\/distributed\.ts/);
    assert.match(error.message, /task function sqr/);
    return true;
  });
});

test('per-task timeout: the worker kills the process running it and answers TimeoutError', async () => {
  const queue = nextQueue();
  await workers(queue, 1, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  await assert.rejects(pool.apply(sleepy, [30_000], null, { timeout: 500 }), TimeoutError);
  assert.equal(await pool.apply(sqr, [4]), 16);
});

test('kill -9 of a busy worker: every task of the map completes, once, on the other worker', async () => {
  const queue = nextQueue();
  const [victim] = await workers(queue, 2, ['--processes', '2', '--lock-duration', '2000']);
  await using pool = makeRemotePool(redis.url, queue);
  const items = range(16);
  const started = performance.now();
  const results = pool.starmap(slowWhere, items.map((x) => [x, 1500] as [number, number]), 1);
  await sleep(700);
  process.kill(victim!.pid, 'SIGKILL');
  const values = await results;
  const elapsed = performance.now() - started;
  assert.deepEqual(values.map((v) => v.y), items.map((x) => x * x));
  assert.ok(elapsed < 30_000, `took ${elapsed} ms`);
  // Recorded once: 16 completed jobs, none failed, whatever ran twice.
  assert.deepEqual(await jobCounts(redis.url, queue, 'completed', 'failed'), { completed: 16, failed: 0 });
  assert.equal((await victim!.exited).signal, 'SIGKILL');
});

test('terminate() removes the pool\'s waiting jobs from the queue and rejects its tasks', async () => {
  const queue = nextQueue();
  await workers(queue, 1, ['--processes', '1', '--concurrency', '1']);
  const pool = makeRemotePool(redis.url, queue);
  const pending = pool.starmap(slowWhere, range(20).map((x) => [x, 300] as [number, number]), 1);
  await sleep(800);
  pool.terminate();
  await assert.rejects(pending, /terminated/);
  await pool.join();
  assert.deepEqual(await jobCounts(redis.url, queue, 'waiting'), { waiting: 0 });
});

/** Waits until `file` holds a pid (a task wrote it), and returns it. */
async function pidFrom(file: string): Promise<number> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(20)) {
    if (existsSync(file) && readFileSync(file, 'utf8') !== '') return Number(readFileSync(file, 'utf8'));
  }
  throw new Error(`no task wrote ${file} within 30 s`);
}

/** Waits until `pid` is gone (or a zombie), for at most `ms`; false if it still runs. */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return true;
    } catch {
      return true;
    }
  }
  return false;
}

test('terminate() and an AbortSignal stop running chunks where they run: the process running each is killed, its job failed in BullMQ, and the worker serves on', async () => {
  const queue = nextQueue();
  const [worker] = await workers(queue, 1, ['--processes', '1', '--concurrency', '2']);
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-cancel-'));
  try {
    const pool = makeRemotePool(redis.url, queue);
    const running = pool.apply(napWithPid, [join(dir, 'terminated'), 60_000]);
    running.catch(() => {});
    const terminatedPid = await pidFrom(join(dir, 'terminated'));
    pool.terminate();
    await assert.rejects(running, /terminated/);
    await pool.join();
    assert.ok(await goneWithin(terminatedPid, 10_000), `the process running the chunk (${terminatedPid}) still runs 10 s after terminate()`);

    await using second = makeRemotePool(redis.url, queue);
    const controller = new AbortController();
    const aborted = second.apply(napWithPid, [join(dir, 'aborted'), 60_000], null, { signal: controller.signal });
    aborted.catch(() => {});
    const abortedPid = await pidFrom(join(dir, 'aborted'));
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    assert.ok(await goneWithin(abortedPid, 10_000), `the process running the chunk (${abortedPid}) still runs 10 s after the abort`);
    assert.equal(await second.apply(sqr, [3]), 9);
    const client = new IORedis(redis.url, { maxRetriesPerRequest: null });
    const q = new Queue(queue, { connection: client });
    try {
      let reasons: string[] = [];
      for (const deadline = Date.now() + 10_000; reasons.length < 2 && Date.now() < deadline; await sleep(50)) reasons = (await q.getJobs(['failed'])).map((job) => job.failedReason);
      assert.equal(reasons.length, 2, `failed jobs: ${JSON.stringify(reasons)}; counts ${JSON.stringify(await q.getJobCounts())}`);
      for (const reason of reasons) assert.match(reason, /was cancelled by its caller; its process was stopped/);
    } finally {
      await q.close();
      client.disconnect();
    }
    assert.equal(worker!.child.exitCode, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: a wrong URL, an unreachable Redis, a bad queue name, local-only options', async () => {
  assert.throws(() => new Pool({ backend: 'http://localhost:6379' }), /not a Redis URL; write it as redis:\/\/host:6379\/0/);
  assert.throws(() => new Pool({ backend: redis.url, queue: 'a:b' }), /queue name "a:b" is not valid/);
  assert.throws(() => new Pool({ backend: redis.url, maxTasksPerChild: 3 }), ValueError);
  // Nothing listens on port 1: refused, which no wait mends, so it fails at once (not "within 60000 ms").
  const refused = new Pool({ backend: 'redis://127.0.0.1:1/0', connectTimeout: 60_000, root: ROOT });
  await assert.rejects(refused.map(sqr, [1, 2]), (error: Error) => error instanceof BrokenProcessPool && /cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0: connection refused: nothing listens there \(ECONNREFUSED\); start redis-server there/.test(error.message));
  refused.terminate();
  await refused.join();
  // A server that takes the connection and never answers: only the timeout ends the wait.
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  try {
    const unanswered = new Pool({ backend: `redis://127.0.0.1:${port}/0`, connectTimeout: 1000, root: ROOT });
    await assert.rejects(unanswered.map(sqr, [1, 2]), (error: Error) => error instanceof BrokenProcessPool && new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0 within 1000 ms`).test(error.message));
    unanswered.terminate();
    await unanswered.join();
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('a job from another multiproc version, or changed in Redis, fails with a clear error and the worker goes on', async () => {
  const queue = nextQueue();
  const [worker] = await workers(queue, 1, ['--processes', '1']);
  const client = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection: client });
  await using pool = makeRemotePool(redis.url, queue);
  assert.equal(await pool.apply(sqr, [3]), 9);
  const good = (await q.getJobs(['completed']))[0]!;
  const data = good.data as Record<string, unknown>;
  await q.add('sqr', { ...data, version: '0.0.1' }, { jobId: 'old-version' });
  await q.add('sqr', { ...data, payload: Buffer.from('[[99]]').toString('base64') }, { jobId: 'tampered' });
  await q.add('sqr', { hello: 'world' }, { jobId: 'foreign' });
  const reasons = async (): Promise<Map<string, string>> => new Map((await q.getJobs(['failed'])).map((job) => [job.id!, job.failedReason]));
  let failed = await reasons();
  for (const deadline = Date.now() + 20_000; failed.size < 3 && Date.now() < deadline; failed = await reasons()) await sleep(100);
  assert.match(failed.get('old-version') ?? '', /comes from multiproc 0\.0\.1 .*this worker runs multiproc \d+\.\d+\.\d+/);
  assert.match(failed.get('tampered') ?? '', /failed its integrity check/);
  assert.match(failed.get('foreign') ?? '', /not a multiproc task/);
  assert.equal(await pool.apply(sqr, [5]), 25);
  assert.equal(worker!.child.exitCode, null);
  await q.close();
  client.disconnect();
});

test('a task function is recorded once per queue, and jobs name it by a digest: a record changed in Redis, or gone, fails its jobs with a clear error and the worker goes on', async () => {
  const queue = nextQueue();
  await using pool = makeRemotePool(redis.url, queue);
  // No worker yet: the jobs wait while their functions' records are changed under them.
  const changed = pool.apply(mul, [2, 3]);
  const gone = pool.apply(sqr, [4]);
  const client = new IORedis(redis.url);
  const key = `bull:${queue}:multiproc-functions`;
  try {
    let records: Record<string, string> = {};
    for (const deadline = Date.now() + 20_000; Object.keys(records).length < 2 && Date.now() < deadline; ) {
      records = await client.hgetall(key);
      await sleep(20);
    }
    const digestOf = (name: string): string => Object.entries(records).find(([, text]) => (JSON.parse(text) as { fn: { name: string } }).fn.name === name)![0];
    const record = JSON.parse(records[digestOf('mul')]!) as { fn: { source: string } };
    const source = record.fn.source.replace(/a\s*\*\s*b/, 'a + b');
    assert.notEqual(source, record.fn.source);
    await client.hset(key, digestOf('mul'), JSON.stringify({ ...record, fn: { ...record.fn, source } }));
    await client.hdel(key, digestOf('sqr'));
  } finally {
    client.disconnect();
  }
  const [worker] = await workers(queue, 1, ['--processes', '1']);
  await assert.rejects(changed, /the task function of job \S+ \(digest \S+\) failed its integrity check in the queue's record of functions/);
  await assert.rejects(gone, /names a task function \(digest \S+\) that the queue's record of functions lacks/);
  // Another pool records its functions again; the worker serves on.
  await using again = makeRemotePool(redis.url, queue);
  assert.deepEqual(await again.starmap(mul, [[2, 3]]), [6]);
  assert.equal(await again.apply(sqr, [4]), 16);
  assert.equal(worker!.child.exitCode, null);
});

test('a pool records its functions again after a reconnect: a Redis restarted without persistence forgot them, and the next tasks still run', async () => {
  const queue = nextQueue();
  const [first] = await workers(queue, 1, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  assert.equal(await pool.apply(sqr, [3]), 9);
  await first!.stop();
  const client = new IORedis(redis.url);
  try {
    // What such a restart does: the records are gone, and every connection drops.
    await client.del(`bull:${queue}:multiproc-functions`);
    await client.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  } finally {
    client.disconnect();
  }
  // A new worker (the first knew the function already) reads the record the pool sends again.
  await workers(queue, 1, ['--processes', '1']);
  assert.equal(await pool.apply(sqr, [4]), 16);
});

test('a worker of another multiproc install, of another version, refuses the caller\'s jobs naming both versions; the caller\'s task fails with that message', async () => {
  // A second install of the package beside this one (its files, its own
  // package.json with another version), sharing these node_modules.
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-other-version-'));
  try {
    const other = join(dir, 'node_modules', 'multiproc');
    mkdirSync(other, { recursive: true });
    for (const part of ['bin', 'dist', 'build', 'binding.gyp']) cpSync(join(ROOT, part), join(other, part), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const ours = manifest.version;
    writeFileSync(join(other, 'package.json'), JSON.stringify({ ...manifest, version: '0.0.9' }));
    symlinkSync(join(ROOT, 'node_modules'), join(other, 'node_modules'));
    const queue = nextQueue();
    const worker = await startWorker(redis.url, queue, ['--processes', '1'], { bin: join(other, 'bin', 'multiproc.mjs') });
    started.push(worker);
    await using pool = makeRemotePool(redis.url, queue);
    await assert.rejects(pool.apply(sqr, [3]), (error: Error) => {
      assert.match(error.message, new RegExp(`comes from multiproc ${ours.replaceAll('.', '\\.')} \\(job format \\d+\\), this worker runs multiproc 0\\.0\\.9 .*run the same multiproc version on callers and workers`));
      return true;
    });
    assert.equal(worker.child.exitCode, null, 'the worker goes on');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pool idle for a while (its event reader let go) answers its next tasks, and every later one', async () => {
  const queue = nextQueue();
  await workers(queue, 1, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  assert.equal(await pool.apply(sqr, [2]), 4);
  await sleep(1500);
  assert.deepEqual(await Promise.all([pool.apply(sqr, [3]), pool.map(sqr, range(10), 1)]), [9, range(10).map((x) => x * x)]);
  await sleep(1500);
  for (let i = 0; i < 5; i++) assert.equal(await pool.apply(sqr, [i]), i * i);
});

test('a Pool on Redis that the program never closes does not keep it alive once its work is done, as a local Pool', async () => {
  const queue = nextQueue();
  await workers(queue, 1, ['--processes', '1']);
  const outcome = await run(['--import', 'tsx', `${PROGRAMS}remote-forgotten.ts`, redis.url, queue], { timeoutMs: 30_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.deepEqual(outcome.lines, [{ squares: [1, 4, 9] }]);
});

test('multiproc status lists the queue, its counts and its live workers', async () => {
  const queue = nextQueue();
  const list = await workers(queue, 2, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  await pool.map(sqr, range(8), 1);
  const out = await run(['--import', 'tsx', BIN, 'status', redis.url, '--queue', queue]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`queue ${queue}: waiting 0, active 0, completed 8, failed 0, delayed 0; 2 workers`));
  for (const worker of list) assert.match(out.stdout, new RegExp(`worker multiproc-worker-[^ ]+-${worker.pid} from 127\\.0\\.0\\.1:\\d+`));
  // Refused: at once, saying so (a wait for the 5 s connect timeout would say "within 5000 ms").
  const bad = await run(['--import', 'tsx', BIN, 'status', 'redis://127.0.0.1:1/0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0: connection refused: nothing listens there \(ECONNREFUSED\); start redis-server there, or fix the URL/);
});

test('SIGTERM: a worker finishes the chunks it holds, then exits 0', async () => {
  const queue = nextQueue();
  const [worker] = await workers(queue, 1, ['--processes', '1', '--concurrency', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  const running = pool.apply(slowWhere, [7, 1500]);
  await sleep(700);
  worker!.child.kill('SIGTERM');
  assert.deepEqual((await running).y, 49);
  assert.deepEqual(await worker!.exited, { code: 0, signal: null });
});

test('long chunks are shared out: a worker holds one more job than its processes, so the others take the rest of the map, also after a stream of short jobs', async () => {
  const queue = nextQueue();
  await workers(queue, 2, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  // Short jobs first: the workers then held 16 each, and one took most of the next map's long chunks.
  assert.equal((await pool.map(sqr, range(500), 1)).length, 500);
  const answers = await pool.starmap(slowWhere, range(8).map((x) => [x, 400] as [number, number]), 1);
  assert.deepEqual(answers.map((a) => a.y), range(8).map((x) => x * x));
  const perProcess = new Map<number, number>();
  for (const { pid } of answers) perProcess.set(pid, (perProcess.get(pid) ?? 0) + 1);
  assert.equal(perProcess.size, 2, `ran on ${[...perProcess.keys()].join(', ')}`);
  for (const [pid, count] of perProcess) assert.ok(count >= 2, `process ${pid} ran ${count} of 8 chunks`);
});

test('long chunks after a map of big chunks of tiny items are shared out too: the lengths of that map, its chunks still held, do not make a worker take the next map at once', async () => {
  const queue = nextQueue();
  await workers(queue, 2, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  // Chunks of 25k items: short jobs by their bytes (slower to move than to run), so the workers held 16 each;
  // that count, and those lengths averaged in, made one worker take 14 of the next map's 16 long chunks.
  const tiny = await pool.map(sqr, range(400_000));
  assert.equal(tiny[399_999], 399_999 ** 2);
  const answers = await pool.starmap(slowWhere, range(8).map((x) => [x, 400] as [number, number]), 1);
  assert.deepEqual(answers.map((a) => a.y), range(8).map((x) => x * x));
  const perProcess = new Map<number, number>();
  for (const { pid } of answers) perProcess.set(pid, (perProcess.get(pid) ?? 0) + 1);
  assert.equal(perProcess.size, 2, `ran on ${[...perProcess.keys()].join(', ')}`);
  // At least 2 each, as above: on a loaded machine (CI's two lanes) one worker's process may get less CPU and
  // run fewer 400 ms chunks (2 of 8 seen), which says nothing of how many it held.
  for (const [pid, count] of perProcess) assert.ok(count >= 2, `process ${pid} ran ${count} of 8 chunks`);
});

test('a map right after a map of tiny items is shared out: a worker that fetched many of the next map\'s jobs (BullMQ fetches up to the count the tiny chunks set) hands back those beyond its new count, for the other worker', async () => {
  const queue = nextQueue();
  await workers(queue, 2, ['--processes', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  // The queue is seldom found empty between the two maps: one worker took 13-14 of the 16 chunks in most rounds.
  for (let round = 0; round < 3; round++) {
    const tiny = await pool.map(sqr, range(1_000_000));
    assert.equal(tiny[999_999], 999_999 ** 2);
    const answers = await pool.starmap(slowWhere, range(16).map((x) => [x, 20] as [number, number]), 1);
    assert.deepEqual(answers.map((a) => a.y), range(16).map((x) => x * x));
    const perProcess = new Map<number, number>();
    for (const { pid } of answers) perProcess.set(pid, (perProcess.get(pid) ?? 0) + 1);
    assert.equal(perProcess.size, 2, `round ${round}: ran on ${[...perProcess.keys()].join(', ')}`);
    for (const [pid, count] of perProcess) assert.ok(count >= 4, `round ${round}: process ${pid} ran ${count} of 16 chunks`);
  }
});

test('a second SIGTERM stops a worker at once: the chunk it held goes back to the queue, runs on the other worker, and is recorded once, as a success', async () => {
  const queue = nextQueue();
  // Both start before the task: which takes it is read from BullMQ (a worker started after it could take minutes under load).
  const pair = await workers(queue, 2, ['--processes', '1', '--concurrency', '1']);
  await using pool = makeRemotePool(redis.url, queue);
  // Long enough to be running still when the second signal comes: a worker that waited for it would record it itself.
  const running = pool.apply(slowWhere, [7, 5000]);
  let finished = false;
  void running.finally(() => (finished = true)).catch(() => {});
  // Its 'active' event was once lost (read from the stream's end as of a late first read), and this waited for ever.
  while (pool.stats().tasksRunning === 0 && !finished) await sleep(20);
  assert.equal(finished, false, 'the task was never seen running');
  const holderPid = await holderOfActiveJob(redis.url, queue);
  const first = pair.find((worker) => worker.pid === holderPid)!;
  const second = pair.find((worker) => worker.pid !== holderPid)!;
  assert.ok(first !== undefined, `the job is held by pid ${holderPid}, not by ${pair.map((w) => w.pid).join(' or ')}`);
  first.child.kill('SIGTERM');
  // Two signals sent before a loaded worker runs would be one (the kernel merges pending signals): one at a time.
  while (!first.output().includes('stopping (after the jobs it holds)')) await sleep(20);
  first.child.kill('SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null });
  const answer = await running;
  assert.equal(answer.y, 49);
  assert.deepEqual(await jobCounts(redis.url, queue, 'completed', 'failed'), { completed: 1, failed: 0 });
  assert.deepEqual(await completedBy(redis.url, queue), [second.pid]);
});

test('a module that creates a Pool on Redis at import time, unguarded, is refused in the workers\' processes that import it (no endless re-queueing), and the worker serves on', async () => {
  const queue = nextQueue();
  process.env.MULTIPROC_TEST_POOL_AT_IMPORT_URL = redis.url;
  process.env.MULTIPROC_TEST_POOL_AT_IMPORT_QUEUE = queue;
  await workers(queue, 1, ['--processes', '1']);
  const { pool: unguarded, triple } = await import('./fixtures/distributed-pool-at-import.js');
  try {
    await assert.rejects(unguarded.apply(triple, [2]), (error: Error) => {
      assert.match(error.message, /cannot load .*distributed-pool-at-import\.ts, the module of .*triple/);
      assert.match(error.message, /An attempt has been made to create a Pool on Redis while this process is importing a module to find a task function/);
      assert.match(error.message, /if \(isMainModule\(import\.meta\)\) main\(\);/);
      // The module was found: no hint about the worker's --root.
      assert.doesNotMatch(error.message, /--root/);
      return true;
    });
    // Only the one job: none was queued from the worker's process.
    assert.deepEqual(await jobCounts(redis.url, queue, 'waiting', 'completed', 'failed'), { waiting: 0, completed: 1, failed: 0 });
    await using pool = makeRemotePool(redis.url, queue);
    assert.equal(await pool.apply(sqr, [9]), 81);
  } finally {
    unguarded.terminate();
    await unguarded.join();
    delete process.env.MULTIPROC_TEST_POOL_AT_IMPORT_URL;
    delete process.env.MULTIPROC_TEST_POOL_AT_IMPORT_QUEUE;
  }
});

test('examples/distributed.ts: the CPU-bound map through two multiproc worker processes, showing where each chunk ran', async () => {
  const outcome = await run(['--import', 'tsx', `${ROOT}examples/distributed.ts`], { env: { REDIS_URL: redis.url }, timeoutMs: 120_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  const lines = outcome.stdout.trim().split('\n');
  assert.equal(lines.filter((line) => / primes, counted on .+ pid \d+$/.test(line)).length, 8, outcome.stdout);
  assert.match(lines.at(-1)!, /^33860 primes below 400000, in [2-4] processes$/);
});

test('redis-server killed and restarted (AOF) during a map: the map completes, never hangs', async () => {
  const queue = nextQueue();
  await workers(queue, 2, ['--processes', '2']);
  await using pool = makeRemotePool(redis.url, queue);
  const results = pool.starmap(slowWhere, range(12).map((x) => [x, 800] as [number, number]), 1);
  await sleep(600);
  await redis.restart({ hard: true, downMs: 500 });
  const values = await results;
  assert.deepEqual(values.map((v) => v.y), range(12).map((x) => x * x));
  // The pool still works after it.
  assert.equal(await pool.apply(sqr, [9]), 81);
});

const canPartition = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;

test('a worker cut off by a network partition, then healed: its jobs run elsewhere, its late results are refused, the map is whole and right', { skip: canPartition ? false : 'needs root and iproute2 to make a network namespace with a veth pair (CI runs it, as root)' }, async (t) => {
  // The cut-off worker runs in a network namespace that reaches Redis over a veth pair; the link goes down, then up.
  const id = process.pid % 100_000;
  const ns = `mpns${id}`;
  const hostEnd = `mpvh${id}`;
  const nsEnd = `mpvn${id}`;
  const sh = (command: string): void => void execFileSync('sh', ['-c', command], { stdio: 'inherit' });
  sh(`ip netns add ${ns} && ip link add ${hostEnd} type veth peer name ${nsEnd} && ip link set ${nsEnd} netns ${ns} && ` +
    `ip addr add 10.232.7.1/24 dev ${hostEnd} && ip link set ${hostEnd} up && ` +
    `ip netns exec ${ns} ip addr add 10.232.7.2/24 dev ${nsEnd} && ip netns exec ${ns} ip link set ${nsEnd} up && ip netns exec ${ns} ip link set lo up`);
  t.after(() => sh(`ip link del ${hostEnd} 2>/dev/null; ip netns del ${ns} 2>/dev/null; true`));
  const server = await startRedis({ bind: ['10.232.7.1'] });
  t.after(() => server.stop());
  const queue = nextQueue();
  const lock = ['--processes', '2', '--lock-duration', '2000'];
  const cut = await startWorker(`redis://10.232.7.1:${server.port}/0`, queue, lock, { wrap: ['ip', 'netns', 'exec', ns] });
  started.push(cut, await startWorker(server.url, queue, lock));
  await using pool = makeRemotePool(server.url, queue);
  const results = pool.starmap(slowWhere, range(16).map((x) => [x, 1500] as [number, number]), 1);
  await sleep(800);
  sh(`ip link set ${hostEnd} down`);
  await sleep(7000);
  sh(`ip link set ${hostEnd} up`);
  const values = await results;
  assert.deepEqual(values.map((v) => v.y), range(16).map((x) => x * x));
  // Its late completions, once the link is back, are refused by BullMQ (its lock is gone or another worker's): recorded once.
  const refused = /Lock mismatch for job \S+ Cmd moveToFinished|Missing lock for job/;
  for (const deadline = Date.now() + 20_000; !refused.test(cut.output()) && Date.now() < deadline; ) await sleep(200);
  assert.match(cut.output(), refused);
  assert.deepEqual(await jobCounts(server.url, queue, 'completed', 'failed'), { completed: 16, failed: 0 });
});
