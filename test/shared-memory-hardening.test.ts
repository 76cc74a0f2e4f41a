// SharedMemory where things go wrong: sizes past what a Buffer may hold,
// what another user plants in /dev/shm, a /dev/shm too full for a segment,
// and a resource tracker killed with SIGKILL. Each case runs in a program of
// its own (test/fixtures/programs/), with the native addon (buf is mapped
// memory) and without it (MULTIPROC_NO_NATIVE=1: buf reads and writes the
// segment's file), since a regression may kill the process that meets it.
import assert from 'node:assert/strict';
import { kMaxLength } from 'node:buffer';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, ROOT, run } from './helpers/run.js';

const PYTHON = process.env.MULTIPROC_TEST_PYTHON || 'python3';
const SPARSE = fileURLToPath(new URL('./fixtures/python/shm_sparse.py', import.meta.url));
// Each case runs in both modes whichever way this file runs (CI's second pass
// sets MULTIPROC_NO_NATIVE=1 for the whole suite; an empty value leaves the addon on).
const MODES = [
  { mode: 'native', env: { MULTIPROC_NO_NATIVE: '' } },
  { mode: 'fallback', env: { MULTIPROC_NO_NATIVE: '1' } },
] as const;
const ROOT_USER = process.getuid?.() === 0;
/** Runs a command as `nobody`, as another local user would (needs root, as in CI). */
const asNobody = (command: string, ...args: string[]): void => {
  execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', command, ...args]);
};

afterEach(() => assertNoneLeftBehind());

/** Runs a fixture program in a mode; its JSON lines. */
async function inMode(env: Record<string, string>, program: string, args: string[] = [], wrap: string[] = []): Promise<{ code: number | null; signal: string | null; stderr: string; lines: Record<string, unknown>[] }> {
  const saved = process.env.MULTIPROC_NO_NATIVE;
  if (env.MULTIPROC_NO_NATIVE !== undefined) process.env.MULTIPROC_NO_NATIVE = env.MULTIPROC_NO_NATIVE;
  try {
    if (wrap.length === 0) return await run(['--import', 'tsx', `${PROGRAMS}${program}`, ...args], { timeoutMs: 120_000 });
    return await runWrapped(wrap, ['--import', 'tsx', `${PROGRAMS}${program}`, ...args]);
  } finally {
    if (saved === undefined) delete process.env.MULTIPROC_NO_NATIVE;
    else process.env.MULTIPROC_NO_NATIVE = saved;
  }
}

/** Runs `node args` under a wrapping command line (`unshare -m sh -c '... "$@"'`). */
function runWrapped(wrap: string[], args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string; lines: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(wrap[0]!, [...wrap.slice(1), process.execPath, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stderr: `${stderr}\n${stdout}`, lines });
    });
  });
}

/** Runs a program until its stdout and stderr close: once every process that holds them let go (the resource tracker last). */
function runToClose(env: Record<string, string>, program: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${PROGRAMS}${program}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (c, s) => resolve({ code: c, signal: s, stdout: out, stderr: err }));
  });
}

/** The native trackers' log folders in the temporary directory: each is removed when its tracker is done with it. */
const trackerLogs = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith('multiproc-tracker-') && existsSync(join(tmpdir(), name, 'log')));

const byCase = (lines: Record<string, unknown>[], key: string, value: string): Record<string, unknown> => {
  const found = lines.find((line) => line[key] === value);
  assert.ok(found, `no ${key} ${value} in ${JSON.stringify(lines)}`);
  return found;
};

test('larger than a Buffer may be here: a RangeError when creating, attaching or making an Array, never a double free; nothing left behind', async () => {
  // A segment of 2**32 + 4096 bytes made by another program, as CPython makes one (sparse: it costs nothing).
  const foreign = `mp_sparse_${process.pid}`;
  execFileSync(PYTHON, [SPARSE, foreign, String(2 ** 32 + 4096)]);
  try {
    const tooLarge = 2 ** 32 + 4096 > kMaxLength;
    // Without the addon an Array lives on the sync server: one of 4 GiB is refused only where a Buffer cannot be that long.
    for (const { mode, env } of MODES.filter(({ mode }) => mode === 'native' || tooLarge)) {
      const { code, signal, stderr, lines } = await inMode(env, 'shm-too-large.ts', [foreign]);
      assert.deepEqual([code, signal], [0, null], `${mode}: ${stderr}`);
      assert.ok(lines.some((line) => line.case === 'end'), mode);
      const rawArray = byCase(lines, 'case', 'rawArray');
      const attach = byCase(lines, 'case', 'attach');
      if (tooLarge) {
        // Node 20: buffer.constants.MAX_LENGTH is 4 GiB.
        const create = byCase(lines, 'case', 'create');
        for (const refused of [create, rawArray, attach]) {
          assert.equal(refused.error, 'RangeError', `${mode}: ${JSON.stringify(refused)}`);
          assert.equal(refused.code, 'ERR_BUFFER_TOO_LARGE');
          assert.match(refused.message as string, /MAX_LENGTH/);
        }
        assert.deepEqual(create.segmentsMade, [], `${mode}: the refused segment is not left in /dev/shm`);
        assert.equal(attach.stillThere, true, 'a segment that is not ours stays');
        if (mode === 'native') {
          const mapFd = byCase(lines, 'case', 'mapFd');
          assert.equal(mapFd.error, 'RangeError');
          assert.equal(mapFd.code, 'ERR_BUFFER_TOO_LARGE');
          assert.equal(mapFd.mappingsLeft, 0, 'the mapping is released (once: the process did not abort)');
        }
      } else {
        // Node 24: a Buffer may be as long as any safe integer, so both work.
        assert.deepEqual(rawArray.made, { length: 2 ** 32 + 1, last: 7 }, mode);
        assert.deepEqual(attach.made, { size: 2 ** 32 + 4096, last: 0 }, mode);
      }
    }
  } finally {
    unlinkSync(`/dev/shm/${foreign}`);
  }
});

test('attaching never follows a symlink planted in /dev/shm (ELOOP, as shm_open), nor opens a FIFO or a directory; creating over one is FileExistsError', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-victim-'));
  const victim = join(dir, 'secret');
  writeFileSync(victim, 'the victim file, which a planted symlink points at');
  const ours = `mp_link_${process.pid}`;
  const theirs = `mp_link_nobody_${process.pid}`;
  const fifo = `mp_fifo_${process.pid}`;
  const directory = `mp_dir_${process.pid}`;
  const planted = [ours, ...(ROOT_USER ? [theirs, fifo] : []), directory];
  symlinkSync(victim, `/dev/shm/${ours}`);
  if (ROOT_USER) {
    // As another local user would plant them (CI runs as root).
    asNobody('ln', '-s', victim, `/dev/shm/${theirs}`);
    asNobody('mkfifo', `/dev/shm/${fifo}`);
    assert.equal(lstatSync(`/dev/shm/${theirs}`).uid, 65534);
  }
  mkdirSync(`/dev/shm/${directory}`);
  try {
    for (const { mode, env } of MODES) {
      const { code, stderr, lines } = await inMode(env, 'shm-planted.ts', planted);
      assert.equal(code, 0, `${mode}: ${stderr}`);
      for (const name of planted) {
        const attached = lines.find((line) => line.name === name && !('create' in line) && !('created' in line));
        assert.ok(attached, `${mode}: no line for ${name}`);
        assert.equal(attached.error, 'OSError', `${mode}: ${name}: ${JSON.stringify(attached)}`);
        assert.ok((attached.message as string).includes(`'/${name}'`), `${mode}: the error names the segment: ${JSON.stringify(attached)}`);
        const created = lines.find((line) => line.name === name && 'create' in line);
        assert.equal((created?.create as { error?: string } | undefined)?.error, 'FileExistsError', `${mode}: ${name}: ${JSON.stringify(created)}`);
      }
      for (const link of planted.filter((name) => name.startsWith('mp_link'))) {
        assert.deepEqual(pick(lines.find((line) => line.name === link)!), { errno: 40, code: 'ELOOP' }, `${mode}: ${link}`);
      }
      if (ROOT_USER) assert.deepEqual(pick(lines.find((line) => line.name === fifo)!), { errno: 19, code: 'ENODEV' }, `${mode}: a FIFO is not a segment`);
      assert.deepEqual(pick(lines.find((line) => line.name === directory)!), { errno: 21, code: 'EISDIR' }, mode);
      assert.equal(readFileSync(victim, 'utf8'), 'the victim file, which a planted symlink points at', `${mode}: the victim is untouched`);
    }
  } finally {
    for (const name of planted) {
      if (name === directory) rmdirSync(`/dev/shm/${name}`);
      else unlinkSync(`/dev/shm/${name}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

const pick = (line: Record<string, unknown>): { errno: unknown; code: unknown } => ({ errno: line.errno, code: line.code });

test(
  'a /dev/shm too full for a segment: ENOSPC in the constructor, nothing left behind; a segment made is reserved, so writing all of it never gets SIGBUS',
  { skip: !ROOT_USER && 'mounts a private 8 MiB tmpfs on /dev/shm in a mount namespace of its own, which needs root (as in CI)' },
  async () => {
    for (const { mode, env } of MODES) {
      const { code, signal, stderr, lines } = await inMode(env, 'shm-full.ts', [], ['unshare', '-m', 'sh', '-c', 'mount -t tmpfs -o size=8m multiproc-test /dev/shm && exec "$@"', 'sh']);
      assert.deepEqual([code, signal], [0, null], `${mode}: ${stderr}`);
      assert.equal(byCase(lines, 'step', 'start').total, 8 << 20, `${mode}: a private tmpfs`);
      assert.equal(byCase(lines, 'step', 'created').freeAfter, 2 << 20, `${mode}: the segment's 6 MiB are taken at once`);
      assert.equal(byCase(lines, 'step', 'filled').code, 'ENOSPC');
      assert.deepEqual(byCase(lines, 'step', 'written'), { step: 'written', first: 0xab, last: 0xab }, mode);
      const second = byCase(lines, 'step', 'second');
      assert.equal(second.error, 'OSError', `${mode}: ${JSON.stringify(second)}`);
      assert.deepEqual([second.isOSError, second.errno, second.code], [true, 28, 'ENOSPC']);
      assert.match(second.message as string, /^\[Errno 28\] No space left on device: '\/psm_[0-9a-f]{8}'$/);
      assert.deepEqual(byCase(lines, 'step', 'left').added, [], `${mode}: the segment that did not fit is unlinked`);
      if (mode === 'native') assert.deepEqual(byCase(lines, 'step', 'fallocate'), { step: 'fallocate', errno: 28, syscall: 'posix_fallocate' });
      assert.deepEqual(byCase(lines, 'step', 'end').left, []);
    }
  },
);

test('the resource tracker killed with SIGKILL is started again, knowing every segment of the tree: all are unlinked at the end, with Python\'s warning', async () => {
  for (const { mode, env } of MODES) {
    const { signal, stdout, stderr } = await runToClose(env, 'shm-tracker-killed.ts');
    assert.equal(signal, 'SIGKILL', `${mode}: ${stderr}`);
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { killed?: number; restarted?: number | null; names?: string[] });
    assert.ok(typeof lines[0]?.restarted === 'number' && lines[0].restarted !== lines[0].killed, `${mode}: a new tracker: ${stdout}\n${stderr}`);
    const names = lines[1]!.names!;
    assert.equal(new Set(names).size, 4);
    assert.deepEqual(names.filter((name) => existsSync(`/dev/shm/${name}`)), [], `${mode}: ${stderr}`);
    assert.match(stderr, /UserWarning: resource_tracker: process died unexpectedly \(SIGKILL\), relaunching/, mode);
    assert.match(stderr, /resource_tracker: There appear to be 4 leaked shared_memory objects to clean up at shutdown/, `${mode}: ${stderr}`);
    for (const name of names) assert.ok(stderr.includes(`/${name}`), `${mode}: ${name} in the warning`);
  }
});

test('the tracker killed after the process that started it is gone: the next process to need it starts its own, registers again what it made, and warns as Python does', async () => {
  // Native only: without the addon a process writes the tracker's journal, a file, and cannot tell the tracker is gone.
  const before = new Set(trackerLogs());
  const { signal, stdout, stderr } = await runToClose(MODES[0].env, 'shm-tracker-orphaned.ts');
  assert.equal(signal, 'SIGKILL', stderr);
  const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { names?: string[]; own?: string[] });
  const [first] = lines.find((line) => line.names)!.names!;
  const own = lines.find((line) => line.own)?.own;
  try {
    assert.ok(own, `${stdout}\n${stderr}`);
    assert.deepEqual(own.filter((name) => existsSync(`/dev/shm/${name}`)), [], stderr);
    assert.match(stderr, /UserWarning: resource_tracker: process died unexpectedly, relaunching\. {2}Some resources might leak\./);
    assert.match(stderr, /resource_tracker: There appear to be 2 leaked shared_memory objects to clean up at shutdown/);
    for (const name of own) assert.ok(stderr.includes(`/${name}`));
    // The killed tracker's log, which no one could start a tracker on any more, is removed with it; the new one removes its own.
    assert.deepEqual(trackerLogs().filter((dir) => !before.has(dir)), []);
  } finally {
    // Only the killed tracker knew of the first process's segment: Python's "might leak".
    if (existsSync(`/dev/shm/${first}`)) unlinkSync(`/dev/shm/${first}`);
  }
});
