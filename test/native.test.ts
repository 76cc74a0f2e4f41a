// The native addon: fds that Node.js cannot make synchronously, made
// close-on-exec, and the parent-death signal. It is internal, so this imports
// the built file rather than the package.
import assert from 'node:assert/strict';
import { closeSync, readFileSync, readSync, writeSync } from 'node:fs';
import { test } from 'node:test';
import { native, nativeUnavailableReason, type Native } from '../dist/cjs/native.js';
import { testsTheAddon } from './helpers/addon.js';

const linux = process.platform === 'linux';

function addon(): Native {
  const loaded = native();
  assert.ok(loaded, `the addon did not load: ${nativeUnavailableReason()}`);
  return loaded;
}

/** Runs `body` with `fds`, closing whichever of them it has not closed itself. */
function withFds(fds: [number, number], body: (close: (fd: number) => void) => void): void {
  const open = new Set(fds);
  const close = (fd: number): void => {
    closeSync(fd);
    open.delete(fd);
  };
  try {
    body(close);
  } finally {
    for (const fd of open) closeSync(fd);
  }
}

function send(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  assert.equal(writeSync(fd, bytes), bytes.length);
}

function receive(fd: number, length: number): string {
  const buffer = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buffer, got, length - got, null);
    assert.notEqual(n, 0, `EOF after ${got} of ${length} bytes`);
    got += n;
  }
  return buffer.toString();
}

function atEof(fd: number): boolean {
  return readSync(fd, Buffer.alloc(1), 0, 1, null) === 0;
}

/** O_CLOEXEC as /proc/<pid>/fdinfo reports it, in the octal flags field. */
function closeOnExec(fd: number): boolean {
  const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
  assert.ok(flags, `no flags in /proc/self/fdinfo/${fd}`);
  return (parseInt(flags, 8) & 0o2000000) !== 0;
}

test('the addon loads, and says no reason why not', { skip: testsTheAddon('it loads') }, () => {
  addon();
  assert.equal(nativeUnavailableReason(), null);
  assert.equal(native(), native(), 'loaded once');
});

test('socketpair() gives two distinct fds connected both ways, EOF once one end closes', { skip: testsTheAddon('socketpair') }, () => {
  const fds = addon().socketpair();
  const [a, b] = fds;
  assert.ok(Number.isInteger(a) && a >= 0 && Number.isInteger(b) && b >= 0, `not fds: ${fds}`);
  assert.notEqual(a, b);
  withFds(fds, (close) => {
    send(a, 'ping, 跳舞');
    assert.equal(receive(b, Buffer.byteLength('ping, 跳舞')), 'ping, 跳舞');
    send(b, 'pong');
    assert.equal(receive(a, 4), 'pong');
    send(a, 'last words');
    close(a);
    assert.equal(receive(b, 10), 'last words', 'what was written before the close is still read');
    assert.ok(atEof(b));
  });
});

test('socketpair() closing the other end gives EOF the other way too', { skip: testsTheAddon('socketpair') }, () => {
  const [a, b] = addon().socketpair();
  withFds([a, b], (close) => {
    close(b);
    assert.ok(atEof(a));
  });
});

test('pipe() gives [readFd, writeFd], one way, EOF once the write end closes', { skip: testsTheAddon('pipe') }, () => {
  const fds = addon().pipe();
  const [r, w] = fds;
  assert.ok(Number.isInteger(r) && r >= 0 && Number.isInteger(w) && w >= 0, `not fds: ${fds}`);
  assert.notEqual(r, w);
  withFds(fds, (close) => {
    send(w, 'one way');
    assert.equal(receive(r, 7), 'one way');
    assert.throws(() => writeSync(r, Buffer.from('back')), { code: 'EBADF' });
    assert.throws(() => readSync(w, Buffer.alloc(1), 0, 1, null), { code: 'EBADF' });
    close(w);
    assert.ok(atEof(r));
  });
});

test('every fd is close-on-exec', { skip: (!linux && 'reads /proc/self/fdinfo') || testsTheAddon('its descriptors') }, () => {
  for (const fds of [addon().socketpair(), addon().pipe()]) {
    withFds(fds, () => {
      for (const fd of fds) assert.ok(closeOnExec(fd), `fd ${fd} is not close-on-exec`);
    });
  }
});

