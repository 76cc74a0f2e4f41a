// SharedMemory and ShareableList: CPython's _TestSharedMemory rows, attaching
// from other processes, and the resource tracker after SIGKILL. Run as it is
// (with the native addon: buf is mapped memory) and again by
// test/shared-memory-fallback.test.ts with MULTIPROC_NO_NATIVE=1 (buf reads
// and writes the segment's file); the same tests hold in both modes, but for
// buf.buffer, which only mapped memory has.
import assert from 'node:assert/strict';
import { kMaxLength } from 'node:buffer';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, afterEach, test } from 'node:test';
import { FileExistsError, FileNotFoundError, OSError, ShareableList, SharedMemory, ValueError } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS } from './helpers/run.js';
import { make } from './fixtures/make.js';
import { editList, receiveDead, sumShared, writeByName } from './fixtures/shm.js';

/** Without the native addon (this file run by test/shared-memory-fallback.test.ts). */
const FALLBACK = process.env.MULTIPROC_NO_NATIVE === '1';

afterEach(() => assertNoneLeftBehind());

// Every segment a test makes: none may be left in /dev/shm at the end.
const made: string[] = [];
const track = <T extends SharedMemory | ShareableList>(x: T): T => {
  made.push(x instanceof SharedMemory ? x.name : x.shm.name);
  return x;
};
after(() => {
  const left = made.filter((name) => existsSync(`/dev/shm/${name}`));
  assert.deepEqual(left, [], 'segments left in /dev/shm');
});

test('test_shared_memory_basics: a generated psm_ name, size, buf, attach by name, repr, close, unlink twice', () => {
  const shm = track(new SharedMemory({ create: true, size: 512 }));
  assert.match(shm.name, /^psm_[0-9a-f]{8}$/);
  assert.equal(shm.size, 512);
  assert.equal(shm.buf.length, 512);
  assert.equal(String(shm), `SharedMemory('${shm.name}', size=512)`);
  shm.buf.write('hello');
  const other = new SharedMemory({ name: shm.name, size: 1 }); // size is ignored when attaching
  assert.equal(other.size, 512);
  assert.equal(other.buf.toString('utf8', 0, 5), 'hello');
  other.buf[0] = 'j'.charCodeAt(0);
  assert.equal(shm.buf.toString('utf8', 0, 5), 'jello');
  assert.equal(new SharedMemory({ name: `/${shm.name}` }).buf[0], 'j'.charCodeAt(0)); // a leading slash is fine
  other.close();
  other.close();
  assert.equal(other.closed, true);
  assert.throws(() => other.buf, ValueError);
  assert.equal(shm.buf[1], 'e'.charCodeAt(0), 'closing one mapping leaves the others');
  shm.unlink();
  assert.equal(shm.buf[1], 'e'.charCodeAt(0), 'unlinking leaves mappings valid');
  assert.throws(() => shm.unlink(), (e: Error) => e instanceof FileNotFoundError && (e as FileNotFoundError).errno === 2 && e.message.includes(shm.name));
  assert.throws(() => new SharedMemory({ name: shm.name }), FileNotFoundError);
});

test('buf is a Buffer over the segment: indexes, every kind of method, views, iteration; what one attachment writes the other reads', () => {
  const shm = track(new SharedMemory({ create: true, size: 64 }));
  const other = new SharedMemory({ name: shm.name });
  const [a, b] = [shm.buf, other.buf];
  assert.ok(a instanceof Buffer && Buffer.isBuffer(a));
  assert.deepEqual([a.length, a.byteLength], [64, 64]);
  // Indexes, with a Buffer's Uint8 coercion; out of range reads undefined and writes nothing.
  a[0] = 300;
  a[1] = -1;
  a[2] = 2.9;
  assert.deepEqual([b[0], b[1], b[2]], [44, 255, 2]);
  assert.equal(b[64], undefined);
  a[64] = 1;
  assert.equal(b.length, 64);
  // Fixed-width reads and writes, both ways.
  a.writeDoubleLE(Math.PI, 8);
  assert.equal(b.readDoubleLE(8), Math.PI);
  b.writeInt32BE(-123456, 16);
  assert.equal(a.readInt32BE(16), -123456);
  a.writeBigUInt64LE(2n ** 63n, 24);
  assert.equal(b.readBigUInt64LE(24), 2n ** 63n);
  b.writeUIntLE(0xabcdef, 32, 3);
  assert.equal(a.readUIntLE(32, 3), 0xabcdef);
  // Methods over ranges and the whole: write, toString, fill, set, copy, indexOf, includes, equals, compare, swap, reverse.
  a.fill(0);
  assert.ok(b.equals(Buffer.alloc(64)));
  assert.equal(a.write('héllo', 40), 6);
  assert.equal(b.toString('utf8', 40, 46), 'héllo');
  assert.equal(b.indexOf('llo'), 43);
  assert.ok(b.includes('hé'));
  b.set([1, 2, 3, 4], 0);
  assert.deepEqual([...a.subarray(0, 4)], [1, 2, 3, 4]);
  a.swap16();
  assert.deepEqual([...b.subarray(0, 4)], [2, 1, 4, 3]);
  b.fill(9, 4, 6);
  assert.deepEqual([a[3], a[4], a[5], a[6]], [3, 9, 9, 0]);
  a.copy(b, 10, 0, 4);
  assert.deepEqual([...a.subarray(10, 14)], [2, 1, 4, 3]);
  assert.equal(a.compare(b), 0);
  assert.equal(Buffer.from(b).compare(Buffer.from(a)), 0);
  // subarray and slice are views of the same bytes, as Python's buf[a:b] is.
  const view = b.subarray(40, 46);
  assert.equal(view.length, 6);
  a.write('jello', 40);
  assert.equal(view.toString('utf8', 0, 5), 'jello');
  view[0] = 'y'.charCodeAt(0);
  assert.equal(a.toString('utf8', 40, 45), 'yello');
  b.slice(40, 41)[0] = 'm'.charCodeAt(0);
  assert.equal(a.toString('utf8', 40, 45), 'mello');
  // Iteration and copies see the current bytes; a copy is no longer the segment.
  a.fill(7);
  assert.deepEqual([...b.subarray(0, 3)], [7, 7, 7]);
  let sum = 0;
  for (const byte of b) sum += byte;
  assert.equal(sum, 7 * 64);
  const copy = Buffer.from(b);
  copy[0] = 1;
  assert.equal(a[0], 7);
  assert.deepEqual(b.toJSON().data.slice(0, 2), [7, 7]);
  other.close();
  // A buf kept past close(): mapped memory stays valid until collected; the file is closed at once, so its buf refuses.
  if (FALLBACK) assert.throws(() => b[0], (e: Error) => e instanceof ValueError && /is closed/.test(e.message));
  else assert.equal(b[0], 7);
  assert.equal(a[0], 7, 'closing one attachment leaves the other');
  shm.unlink();
});

test('test_shared_memory_recreate: creating an existing name is a FileExistsError; a chosen name works', () => {
  const name = `mp_test_${process.pid}_${Date.now()}`;
  const shm = track(new SharedMemory({ name, create: true, size: 64 }));
  assert.equal(shm.name, name);
  assert.throws(() => new SharedMemory({ name, create: true, size: 64 }), (e: Error) => e instanceof FileExistsError && e instanceof OSError && (e as FileExistsError).errno === 17);
  shm.unlink();
});

test('test_invalid_shared_memory_creation and bad names: each gets its error', () => {
  assert.throws(() => new SharedMemory({ create: true, size: -2 }), (e: Error) => e instanceof ValueError && e.message === "'size' must be a positive integer");
  assert.throws(() => new SharedMemory({ create: true, size: 0 }), (e: Error) => e instanceof ValueError && e.message === "'size' must be a positive number different from zero");
  assert.throws(() => new SharedMemory({ create: true }), /'size' must be a positive number different from zero/);
  assert.throws(() => new SharedMemory({}), (e: Error) => e instanceof ValueError && /'name' can only be null if create is true/.test(e.message));
  assert.throws(() => new SharedMemory({ name: 'a\0b', create: true, size: 8 }), (e: Error) => e instanceof ValueError && /embedded null character/.test(e.message));
  assert.throws(() => new SharedMemory({ name: 'x'.repeat(300), create: true, size: 8 }), (e: Error) => e instanceof OSError && (e as OSError & { code: string }).code === 'ENAMETOOLONG');
  assert.throws(() => new SharedMemory({ name: 'a/b', create: true, size: 8 }), ValueError);
  assert.throws(() => new SharedMemory({ name: '', create: true, size: 8 }), ValueError);
  assert.throws(() => new SharedMemory({ name: 5 as unknown as string }), TypeError);
  assert.throws(() => new SharedMemory({ create: true, size: 1.5 }), TypeError);
  assert.throws(() => new SharedMemory({ create: 'yes' as unknown as boolean, size: 8 }), TypeError);
  assert.throws(() => new SharedMemory(null as unknown as object), TypeError);
  assert.throws(() => new SharedMemory({ name: 'psm_surely_missing_here' }), FileNotFoundError);
  // (Where a Buffer may be as long as any safe integer, as on Node 24, there is no such size to ask for.)
  if (kMaxLength < Number.MAX_SAFE_INTEGER) {
    // buf is one Buffer (mapped, or over the file): no larger than a Buffer can be; no segment is made for it.
    const name = `mp_test_big_${process.pid}`;
    assert.throws(
      () => new SharedMemory({ name, create: true, size: kMaxLength + 1 }),
      (e: Error) => e instanceof RangeError && (e as RangeError & { code: string }).code === 'ERR_BUFFER_TOO_LARGE' && /buffer\.constants\.MAX_LENGTH/.test(e.message),
    );
    assert.equal(existsSync(`/dev/shm/${name}`), false);
  }
});

test('test_shared_memory_across_processes: a child attaches by name alone; another gets the segment in args and sums 8 MiB', async () => {
  const shm = track(new SharedMemory({ create: true, size: 8 << 20 }));
  const p = make({ target: writeByName, args: [shm.name, 'written by a child'] });
  p.start();
  await p.join();
  assert.equal(p.exitCode, 0);
  assert.equal(shm.buf.toString('utf8', 0, 17), 'written by a child'.slice(0, 17));
  const count = (8 << 20) / 8;
  let expected = 0;
  if (FALLBACK) {
    // No mapping, so no ArrayBuffer to view: a clear error, not a private copy that would silently not be shared.
    assert.throws(() => shm.buf.buffer, (e: Error) => e instanceof TypeError && /SharedMemory\.buf is not mapped memory/.test(e.message) && /buf\.readDoubleLE/.test(e.message) && /npm ci/.test(e.message));
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) expected += values[i] = i % 7;
    shm.buf.set(new Uint8Array(values.buffer));
  } else {
    const values = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, count);
    for (let i = 0; i < count; i++) expected += values[i] = i % 7;
  }
  const result = track(new SharedMemory({ create: true, size: 8 }));
  const q = make({ target: sumShared, args: [shm, count, result] });
  q.start();
  await q.join();
  assert.equal(q.exitCode, 0);
  assert.equal(result.buf.readDoubleLE(0), expected);
  for (const segment of [shm, result]) segment.unlink();
});

test('test_shared_memory_pickle_unpickle_dead_object: a segment unlinked before it arrives fails in the child', async () => {
  const shm = track(new SharedMemory({ create: true, size: 16 }));
  const p = make({ target: receiveDead, args: [shm] });
  shm.unlink();
  p.start();
  await p.join();
  assert.equal(p.exitCode, 1);
});

test('test_shared_memory_ShareableList_basics: types, in-place edits, storage limits, attach, count/index, no append', async () => {
  const list = track(new ShareableList(['howdy', Buffer.from('HoWdY'), -273.154, 100, null, true, 42n]));
  assert.equal(list.length, 7);
  assert.deepEqual([...list], ['howdy', Buffer.from('HoWdY'), -273.154, 100, null, true, 42n]);
  assert.equal(list[-1], 42n);
  assert.throws(() => list[7], RangeError);
  list[0] = 'hi'; // shorter fits
  assert.equal(list[0], 'hi');
  list[0] = 'exactly8';
  assert.equal(list[0], 'exactly8');
  assert.throws(() => (list[0] = 'nine char'), (e: Error) => e instanceof ValueError && e.message === 'bytes/str item exceeds available storage');
  list[3] = 'ok'; // a number's 8 bytes take a short string: the type may change if it fits
  assert.equal(list[3], 'ok');
  assert.equal(list.count(true), 1);
  assert.equal(list.index(null), 4);
  assert.throws(() => list.index('absent'), ValueError);
  assert.equal((list as unknown as { append?: unknown }).append, undefined);
  const attached = new ShareableList(null, { name: list.shm.name });
  assert.deepEqual([...attached], [...list]);
  const numbers = track(new ShareableList([3, 'text', 5]));
  const p = make({ target: editList, args: [numbers] });
  p.start();
  await p.join();
  assert.deepEqual([...numbers], [30, 'changed', null]);
  assert.throws(() => new ShareableList([{}] as unknown as null[]), TypeError);
  assert.throws(() => new ShareableList(null), ValueError);
  const empty = track(new ShareableList([]));
  assert.equal(empty.length, 0);
  for (const l of [list, numbers, empty]) l.shm.unlink();
});

/** Runs a program until its stdout and stderr close: once every process that holds them let go (the resource tracker last). */
function runToClose(program: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${PROGRAMS}${program}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (c, s) => resolve({ code: c, signal: s, stdout: out, stderr: err }));
  });
}

test('resource tracker: segments left by a process tree killed with SIGKILL are unlinked, with Python\'s warning', async () => {
  // The program makes a segment, a child of it makes another (both register with the tree's one
  // tracker), then both die by SIGKILL.
  const { code, signal, stdout, stderr } = await runToClose('shm-killed.ts');
  assert.equal(signal, 'SIGKILL', `exit code ${code}: ${stderr}`);
  const { names } = JSON.parse(stdout.split('\n').find((l) => l.startsWith('{'))!) as { names: string[] };
  made.push(...names);
  assert.deepEqual(names.filter((name) => existsSync(`/dev/shm/${name}`)), []);
  assert.match(stderr, /resource_tracker: There appear to be 2 leaked shared_memory objects to clean up at shutdown/);
  for (const name of names) assert.ok(stderr.includes(`/${name}`));
});

test('resource tracker: a child still starting when the rest of its tree dies keeps the segment it was sent, until it is gone too', async () => {
  const { signal, stdout, stderr } = await runToClose('shm-orphan.ts');
  assert.equal(signal, 'SIGKILL', stderr);
  const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { name?: string; attached?: string; read?: string });
  const name = lines[0]!.name!;
  made.push(name);
  assert.deepEqual(lines[1], { attached: name, read: 'attached after the parent died' }, stderr);
  assert.equal(existsSync(`/dev/shm/${name}`), false);
  assert.match(stderr, /resource_tracker: There appear to be 1 leaked shared_memory objects to clean up at shutdown/);
  assert.ok(stderr.includes(`/${name}`));
});
