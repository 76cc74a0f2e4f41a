// Queues: CPython's _TestQueue rows (tests 20-25 of the semantics doc) and
// many producers and consumers in different processes.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Empty, Full, JoinableQueue, Pipe, ProcessError, Queue, SimpleQueue, ValueError, wait } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { consume, forwardQueue, patterned, produce, putSized, putSome, takeSome, worker } from './fixtures/queues.js';

afterEach(() => assertNoneLeftBehind());

const timed = async (work: () => Promise<unknown>): Promise<number> => {
  const t = performance.now();
  await work().catch(() => undefined);
  return performance.now() - t;
};

test('test_put: six ways to put, Full at once without blocking, Full after the timeout when blocking', async () => {
  const q = new Queue<number>(6);
  await q.put(1);
  await q.put(2, { block: true });
  await q.put(3, { block: true, timeout: null });
  await q.put(4, { block: false });
  await q.put(5, { block: false, timeout: null });
  q.putNowait(6);
  assert.equal(q.empty(), false);
  assert.equal(q.full(), true);
  assert.equal(q.qsize(), 6);
  await assert.rejects(q.put(7, { block: false }), Full);
  await assert.rejects(q.put(7, { block: false, timeout: 100 }), Full);
  assert.throws(() => q.putNowait(7), Full);
  assert.ok((await timed(() => q.put(7, { block: false, timeout: 2000 }))) < 500);
  const took = await timed(() => q.put(7, { timeout: 200 }));
  assert.ok(took >= 190);
  await assert.rejects(q.put(7, { block: true, timeout: 100 }), Full);
  for (let i = 1; i <= 6; i++) assert.equal(await q.get(), i);
  assert.equal(q.empty(), true);
  assert.equal(q.full(), false);
  q.close();
});

test('put() on a queue with room is done when it returns: items go in call order with putNowait\'s, bounded or not; a full queue still waits', async () => {
  for (const q of [new Queue<string>(), new Queue<string>(4), new JoinableQueue<string>(4)]) {
    const first = q.put('a');
    q.putNowait('b');
    const third = q.put('c');
    await Promise.all([first, third]);
    assert.deepEqual([await q.get(), await q.get(), await q.get()], ['a', 'b', 'c']);
    q.close();
  }
  const q = new Queue<number>(1);
  await q.put(1);
  let done = false;
  const waiting = q.put(2).then(() => (done = true));
  await new Promise(setImmediate);
  assert.equal(done, false, 'a put into a full queue resolved before a slot was free');
  assert.equal(await q.get(), 1);
  await waiting;
  assert.equal(await q.get(), 2);
  q.close();
});

test('test_get: a child puts 2, 3, 4, 5; four ways to get; Empty at once or after the timeout', async () => {
  const q = new Queue<number>();
  const p = make({ target: putSome, args: [q, [2, 3, 4, 5]] });
  p.start();
  assert.equal(await q.get({ block: true, timeout: null }), 2);
  assert.equal(await q.get({ block: true }), 3);
  assert.equal(await q.get({ timeout: 10_000 }), 4);
  await p.join();
  assert.equal(q.getNowait(), 5);
  await assert.rejects(q.get({ block: false }), Empty);
  await assert.rejects(q.get({ block: false, timeout: null }), Empty);
  assert.throws(() => q.getNowait(), Empty);
  assert.ok((await timed(() => q.get({ block: false, timeout: 2000 }))) < 500);
  assert.ok((await timed(() => q.get({ timeout: 200 }))) >= 190);
  await assert.rejects(q.get({ timeout: 50 }), Empty);
  q.close();
});

test('test_fork: what the parent put before a child starts comes first, then the child\'s, in order', async () => {
  const q = new Queue<number>();
  for (let i = 0; i < 10; i++) await q.put(i);
  const p = make({ target: putSome, args: [q, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]] });
  p.start();
  const got = [];
  for (let i = 0; i < 20; i++) got.push(await q.get({ timeout: 10_000 }));
  assert.deepEqual(got, [...Array(20).keys()]);
  await assert.rejects(q.get({ block: false }), Empty);
  await p.join();
  q.close();
});

test('wait() over queues, connections and sentinels: the ready ones', async () => {
  const q = new Queue<number>();
  const other = new Queue<number>();
  const [a, b] = Pipe();
  assert.deepEqual(await wait([q, other, a], 100), []);
  const p = make({ target: putSome, args: [q, [7]] });
  p.start();
  assert.deepEqual(await wait([q, other, a], 20_000), [q]);
  assert.equal(await q.get(), 7);
  await p.join();
  b.send('x');
  assert.deepEqual(await wait([q, a, p.sentinel], 1000), [a, p.sentinel]);
  for (const c of [a, b]) c.close();
  q.close();
  other.close();
});

test('test_qsize', async () => {
  const q = new Queue<number>();
  assert.equal(q.qsize(), 0);
  await q.put(1);
  assert.equal(q.qsize(), 1);
  await q.put(5);
  assert.equal(q.qsize(), 2);
  await q.get();
  assert.equal(q.qsize(), 1);
  await q.get();
  assert.equal(q.qsize(), 0);
  q.close();
});

test('test_task_done: four worker processes; join() returns when every item is done', async () => {
  const q = new JoinableQueue<number | null>();
  const workers = Array.from({ length: 4 }, () => make({ target: worker, args: [q] }));
  for (const w of workers) w.start();
  for (let i = 0; i < 10; i++) await q.put(i);
  await q.join();
  for (let i = 0; i < 4; i++) await q.put(null);
  for (const w of workers) await w.join();
  assert.deepEqual(workers.map((w) => w.exitCode), [0, 0, 0, 0]);
  assert.throws(() => q.taskDone(), { name: 'ValueError', message: 'task_done() called too many times' });
  q.close();
});

test('test_closed_queue_put_get_exceptions: ValueError matching "is closed"; joinThread needs close', async () => {
  for (const q of [new Queue(), new JoinableQueue()]) {
    await assert.rejects(q.joinThread(), (e: unknown) => e instanceof ValueError && / not closed$/.test((e as Error).message));
    q.close();
    await assert.rejects(q.put('foo'), (e: unknown) => e instanceof ValueError && /is closed/.test((e as Error).message));
    await assert.rejects(q.get(), /is closed/);
    assert.throws(() => q.putNowait('foo'), /is closed/);
    await q.joinThread();
  }
});

test('three producers and three consumers in six processes: nothing lost, nothing duplicated, FIFO per producer', async () => {
  const q = new Queue<[number, number] | null>(50);
  const results = new Queue<[number, number][]>();
  const producers = [0, 1, 2].map((id) => make({ target: produce, args: [q, id, 300] }));
  const consumers = [0, 1, 2].map(() => make({ target: consume, args: [q, results] }));
  for (const p of [...producers, ...consumers]) p.start();
  for (const p of producers) await p.join();
  for (let i = 0; i < 3; i++) await q.put(null);
  const took = [await results.get({ timeout: 30_000 }), await results.get({ timeout: 30_000 }), await results.get({ timeout: 30_000 })];
  for (const c of consumers) await c.join();
  const all = took.flat();
  assert.equal(all.length, 900);
  assert.equal(new Set(all.map(([id, i]) => `${id}:${i}`)).size, 900);
  for (const mine of took) {
    for (const id of [0, 1, 2]) {
      const seq = mine.filter(([p]) => p === id).map(([, i]) => i);
      assert.deepEqual(seq, [...seq].sort((a, b) => a - b), 'items of one producer arrive in order');
    }
  }
  q.close();
  results.close();
});

test('items one get read ahead are taken by the next gets of other processes, in order, small and large alike', async () => {
  // A get reads many whole items out of the pipe at once and leaves the rest in
  // the queue's shared memory: a child that gets next must find them there.
  const q = new Queue<string>();
  const results = new Queue<string[]>();
  const sizes = [1, 7, 300, 5000, 20_000, 70_000, 3, 16_380, 16_384, 9];
  const items = Array.from({ length: 600 }, (_, i) => `${i}:`.padEnd(sizes[i % sizes.length]!, 'x'));
  for (const item of items) q.putNowait(item);
  const took = [await q.get()];
  const child = make({ target: takeSome, args: [q, 250, results] });
  child.start();
  took.push(...(await results.get({ timeout: 30_000 })));
  await child.join();
  assert.equal(child.exitCode, 0);
  while (took.length < items.length) took.push(await q.get({ timeout: 10_000 }));
  assert.deepEqual(took, items);
  assert.equal(q.qsize(), 0);
  q.close();
  results.close();
});

test('a queue passed to a child is passed on to a grandchild', async () => {
  const q = new Queue<string>();
  const p = make({ target: forwardQueue, args: [q] });
  p.start();
  assert.equal(await q.get({ timeout: 20_000 }), 'from the grandchild');
  await p.join();
  q.close();
});

test('an item that cannot be cloned fails in put() itself; large items travel whole', async () => {
  const q = new Queue();
  await assert.rejects(q.put(() => 1), { name: 'TypeError', message: /a Queue item cannot be sent to a child process/ });
  assert.throws(() => q.putNowait(Symbol('x')), TypeError);
  const big = new Float64Array(2 << 20).fill(1.5);
  await q.put(big);
  assert.deepEqual(await q.get(), big);
  q.close();
});

// The sizes around the edges of how items are written: the 64 bytes a getter reads first without the addon,
// the largest item one chunk holds (32 KiB), the item whose last chunk would be shorter than 64 bytes.
const range = (from: number, to: number, step = 1): number[] => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
const EDGE_LENGTHS = [...range(0, 140), ...range(32_640, 32_800), ...range(65_400, 65_700, 7), ...range(98_200, 98_400, 3), 1 << 20];

test('items of every size near the edges of how they are written travel whole and in order from a child', async () => {
  const q = new Queue<Uint8Array | null>();
  const p = make({ target: putSized, args: [q, EDGE_LENGTHS] });
  p.start();
  const wrong: number[] = [];
  for (const length of EDGE_LENGTHS) {
    const item = await q.get({ timeout: 60_000 });
    if (item === null || !Buffer.from(item).equals(patterned(length))) wrong.push(length);
  }
  assert.deepEqual(wrong, []);
  assert.equal(await q.get({ timeout: 60_000 }), null);
  await p.join();
  assert.equal(p.exitCode, 0);
  assert.equal(q.qsize(), 0);
  p.close();
  q.close();
  await q.joinThread();
});

test('a Queue, a Connection or another multiproc object in an item is refused in put(), as Python refuses it (RuntimeError there)', async () => {
  const q = new Queue();
  const inner = new JoinableQueue();
  const simple = new SimpleQueue();
  const [a, b] = Pipe();
  const refused = (name: string) => (e: unknown): boolean =>
    e instanceof ProcessError &&
    (e as Error).message.startsWith(`${name} objects should only be shared between processes through inheritance`) &&
    /Process args/.test((e as Error).message) &&
    (e as { code?: string }).code === 'ERR_MULTIPROC_INHERITANCE_ONLY';
  await assert.rejects(q.put(q), refused('Queue'));
  await assert.rejects(q.put({ deep: [new Map([['k', inner]])] }), refused('JoinableQueue'));
  assert.throws(() => q.putNowait(new Set([simple])), refused('SimpleQueue'));
  assert.throws(() => q.putNowait([1, { conn: a }]), refused('Connection'));
  // Inside an instance of some class (V8 clones its own fields) and an Error's cause.
  class Holder {
    constructor(readonly held: unknown) {}
  }
  await assert.rejects(q.put(new Holder(b)), refused('Connection'));
  await assert.rejects(q.put(new Error('x', { cause: inner })), refused('JoinableQueue'));
  // Nothing was queued by the refusals; plain items still go through.
  assert.equal(q.qsize(), 0);
  await q.put({ fine: [1, 2, new Map([[1, 'one']])] });
  assert.deepEqual(await q.get(), { fine: [1, 2, new Map([[1, 'one']])] });
  // The same on a Connection (Python refuses a Queue there too).
  assert.throws(() => a.send({ q } as never), refused('Queue'));
  assert.throws(() => a.send(b as never), refused('Connection'));
  a.send(new Map([['still', 'works']]) as never);
  assert.deepEqual(await b.recv(), new Map([['still', 'works']]));
  for (const x of [q, inner, simple, a, b]) x.close();
});

test('SimpleQueue: put, get, empty, close; get takes no timeout', async () => {
  const q = new SimpleQueue<number>();
  assert.equal(q.empty(), true);
  await q.put(1);
  assert.equal(await q.get(), 1);
  await assert.rejects(q.get({ timeout: 1 } as never), TypeError);
  q.close();
  q.close();
});

test('bad arguments are refused up front', async () => {
  assert.throws(() => new Queue('3' as never), TypeError);
  const q = new Queue();
  await assert.rejects(q.get({ timeout: 'soon' as never }), TypeError);
  await assert.rejects(q.put(1, { timeout: NaN }), RangeError);
  q.close();
});
