// Value, Array, RawValue and RawArray: CPython's _TestValue, _TestArray and
// _TestSharedCTypes rows, and the 4 x 10,000 locked increments. They work
// with or without the native addon: test/primitives-fallback.test.ts runs
// this file again with MULTIPROC_NO_NATIVE=1 (contents on the sync server).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Lock, RawArray, RawValue, RLock, SharedArray, SharedValue, SynchronizedValue, Value } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { addUnderLock, addWithLock, doubleAll, fillThroughGrandchild } from './fixtures/sync.js';

afterEach(() => assertNoneLeftBehind());

// Through the sync server, each increment is four round trips: fewer there.
const EACH = process.env.MULTIPROC_NO_NATIVE === '1' ? 1_000 : 10_000;

test(`four processes adding ${EACH} each under getLock() end at exactly ${4 * EACH}`, async () => {
  const v = Value('i', 0);
  const children = [addUnderLock, addUnderLock, addWithLock, addWithLock].map((target) => make({ target, args: [v, EACH] }));
  for (const p of children) p.start();
  for (const p of children) await p.join();
  assert.deepEqual(children.map((p) => p.exitCode), [0, 0, 0, 0]);
  assert.equal(v.value, 4 * EACH);
});

test('an Array in a child and a grandchild: elements written there are read here; its lock travels with it', async () => {
  const arr = SharedArray('i', 8);
  const p = make({ target: fillThroughGrandchild, args: [arr] });
  p.start();
  await p.join();
  assert.equal(p.exitCode, 0);
  assert.deepEqual([...arr], [0, 1, 2, 3, 100, 101, 102, 103]);
  assert.equal(await arr.getLock().acquire(0), true, 'the children released the lock');
  arr.getLock().release();
});

test('test_value / test_rawvalue: typecodes and names, initial values, what a child changes', async () => {
  const cases = [
    Value('i', 10),
    Value('d', 1.25),
    Value('h', -1),
    Value('f64', 2.5),
    Value('u8', 255),
    Value('q', 2n ** 40n),
  ] as const;
  assert.deepEqual(cases.map((v) => v.value), [10, 1.25, -1, 2.5, 255, 2n ** 40n]);
  assert.equal(Value('i').value, 0);
  assert.equal(Value('d').value, 0);
  assert.deepEqual(Value('c', 'x').value, Buffer.from('x'));
  const raw = RawValue('i32', 7);
  raw.value += 1;
  assert.equal(raw.value, 8);
  assert.equal(String(raw), "SharedValue('i32', 8)");
  assert.ok(raw instanceof RawValue);
  const arr = SharedArray('d', [1, 2, 3]);
  const chars = RawArray('c', 32);
  const big = RawValue('q', 5n);
  const p = make({ target: doubleAll, args: [arr, chars, big] });
  p.start();
  await p.join();
  assert.equal(p.exitCode, 0);
  assert.deepEqual([...arr], [2, 4, 6]);
  assert.deepEqual(chars.value, Buffer.from('from the child'));
  assert.equal(big.value, 15n);
});

test('test_getobj_getlock: a lock by default (an RLock), a given one, or none', () => {
  const v = Value('i', 5);
  assert.ok(v instanceof SynchronizedValue);
  assert.ok(v.getLock() instanceof RLock);
  assert.ok(v.getObj() instanceof RawValue);
  assert.ok(v.getObj() instanceof SharedValue);
  assert.equal(v.getObj().value, 5);
  const lock = new Lock();
  assert.equal(Value('i', 5, { lock }).getLock(), lock);
  const rlock = new RLock();
  assert.equal(Value('i', 5, { lock: rlock }).getLock(), rlock);
  const plain = Value('i', 5, { lock: false });
  assert.ok(plain instanceof SharedValue);
  assert.equal((plain as unknown as { getLock?: unknown }).getLock, undefined);
  assert.throws(() => Value('i', 5, { lock: 5 as unknown as Lock }), { name: 'TypeError', message: /^5 has no method 'acquire'/ });

  const arr = SharedArray('i', 10);
  assert.ok(arr.getLock() instanceof RLock);
  const obj = arr.getObj();
  obj[3] = 9;
  assert.equal(arr[3], 9);
  assert.equal(SharedArray('i', 10, { lock }).getLock(), lock);
  const rawArr = SharedArray('i', 10, { lock: false });
  assert.equal((rawArr as unknown as { getLock?: unknown }).getLock, undefined);
});

test('test_array / test_array_from_size / test_rawarray: typed arrays, zero-filled, len, iteration, slices', () => {
  const arr = SharedArray('i', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(arr instanceof Int32Array);
  assert.equal(arr.length, 10);
  assert.deepEqual([...arr.slice(2, 5)], [2, 3, 4]);
  arr[4] = 40;
  assert.equal(arr[4], 40);
  const zeros = SharedArray('d', 1000);
  assert.equal(zeros.length, 1000);
  assert.ok(zeros.every((x) => x === 0));
  assert.equal(RawArray('f64', 0).length, 0);
  const bytes = SharedArray('c', 'hi');
  assert.deepEqual(bytes.value, Buffer.from('hi'));
  bytes.value = Buffer.from('a');
  assert.deepEqual(bytes.value, Buffer.from('a'));
  assert.throws(() => (bytes.value = Buffer.from('abc')), RangeError);
  const big = RawArray('u64', [1n, 2n]);
  assert.ok(big instanceof BigUint64Array);
  assert.equal(big[1], 2n);
});

test('bad input: typecodes, sizes, initial values of the wrong type', () => {
  assert.throws(() => Value('x' as 'i', 1), { name: 'TypeError', message: /bad typecode/ });
  assert.throws(() => SharedArray('z' as 'i', 3), /bad typecode/);
  assert.throws(() => RawArray('i', -1), RangeError);
  assert.throws(() => RawArray('i', 1.5), RangeError);
  assert.throws(() => RawArray('i', {} as unknown as number), TypeError);
  assert.throws(() => Value('i', 1.5), RangeError);
  assert.throws(() => Value('i', 'a' as unknown as number), TypeError);
  assert.throws(() => Value('q', 1.5 as unknown as bigint), TypeError);
  assert.throws(() => Value('c', 'ab' as unknown as Buffer), TypeError);
  assert.throws(() => RawArray('i', ['a' as unknown as number]), TypeError);
  const v = Value('i', 1);
  assert.throws(() => {
    v.value = 'no' as unknown as number;
  }, TypeError);
});

test("an Array's buffer and subarray: the shared memory itself with the addon; without it, a clear error rather than a copy that would not be shared", () => {
  const arr = RawArray('d', [1, 2, 3]);
  if (process.env.MULTIPROC_NO_NATIVE === '1') {
    assert.throws(() => arr.buffer, { name: 'TypeError', message: /without the native addon, a shared Array keeps its contents on the sync server, so it has no ArrayBuffer to share: .*build the native addon/ });
    assert.throws(() => arr.subarray(1), { name: 'TypeError', message: /has no view to share/ });
  } else {
    new Float64Array(arr.buffer, arr.byteOffset, 3)[1] = 20;
    arr.subarray(2)[0] = 30;
  }
  // Either way, what is written through the Array is read through it, and copies are copies.
  arr[0] = 10;
  const copy = arr.slice();
  copy[0] = -1;
  assert.deepEqual([...arr], process.env.MULTIPROC_NO_NATIVE === '1' ? [10, 2, 3] : [10, 20, 30]);
  assert.equal(arr.indexOf(arr[2]!), 2);
});
