// Interoperation with CPython's multiprocessing.connection, at the bytes
// level: a multiproc Client against a Python Listener and a Python Client
// against a multiproc Listener, over TCP and Unix sockets, with the authkey
// handshake both ways (python3 3.11 challenges in the legacy HMAC-MD5 form;
// a multiproc Listener challenges in the 3.12+ {sha256} form, which 3.11
// answers with HMAC-MD5) and Python's framing (the 1 MiB messages are split
// into several reads). MULTIPROC_TEST_PYTHON picks another interpreter
// (python3.12 and later answer {sha256} challenges with {sha256}).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { Client, Listener, type Address } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';

afterEach(() => assertNoneLeftBehind());

const PYTHON = process.env.MULTIPROC_TEST_PYTHON || 'python3';
const PEER = fileURLToPath(new URL('./fixtures/python/peer.py', import.meta.url));
const KEY = Buffer.from('interop secret');
const WRONG_KEY = Buffer.from('not the secret');
const MiB = 1024 * 1024;
const FAMILIES = ['AF_INET', 'AF_UNIX'] as const;
type Family = (typeof FAMILIES)[number];
const TIMEOUT = { timeout: 20_000 };

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running peer.py: its JSON lines one at a time, its exit, and its stderr for failure messages. */
class Peer {
  readonly #child: ChildProcess;
  readonly #lines: Array<Record<string, unknown>> = [];
  #waiting: (() => void) | null = null;
  #stderr = '';
  #exit: Exit | null = null;
  readonly exited: Promise<Exit>;

  constructor(args: string[]) {
    this.#child = spawn(PYTHON, [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    this.#child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('{')) this.#lines.push(JSON.parse(line) as Record<string, unknown>);
        else this.#stderr += `[stdout] ${line}\n`;
      }
      this.#wake();
    });
    this.#child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.exited = new Promise((resolve) => {
      // 'close': the exit status and all of stdout and stderr are in.
      this.#child.on('close', (code, signal) => {
        this.#exit = { code, signal };
        this.#wake();
        resolve(this.#exit);
      });
      this.#child.on('error', (err) => {
        this.#stderr += `spawn ${PYTHON}: ${err.message}\n`;
        this.#exit = { code: null, signal: null };
        this.#wake();
        resolve(this.#exit);
      });
    });
  }

  /** The next JSON line; rejects if python exits without printing one. */
  async line(): Promise<Record<string, unknown>> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return line;
      if (this.#exit !== null) throw new Error(`python exited (${JSON.stringify(this.#exit)}) without the expected line; stderr:\n${this.#stderr}`);
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
  }

  /**
   * `promise`, or a rejection that shows python's stderr if python exits and
   * `promise` has not settled a second later (python may exit right after
   * writing what settles it).
   */
  async unlessExited<T>(promise: Promise<T>): Promise<T> {
    const exited = this.exited.then(async (exit) => {
      await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      throw new Error(`python exited (${JSON.stringify(exit)}) first; stderr:\n${this.#stderr}`);
    });
    exited.catch(() => undefined);
    return Promise.race([promise, exited]);
  }

  /** Waits for python to exit by itself and checks its exit code. */
  async expectExit(code: number): Promise<void> {
    const exit = await this.exited;
    assert.deepEqual(exit, { code, signal: null }, `python's exit; stderr:\n${this.#stderr}`);
  }

  /** For `finally`: kills python if it is still running, and waits for it. */
  async stop(): Promise<void> {
    if (this.#exit === null) this.#child.kill('SIGKILL');
    await this.exited;
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
  }
}

/** Python's printed Listener address (a [host, port] list or a path) as a multiproc Address. */
function fromPython(address: unknown): Address {
  if (typeof address === 'string') return address;
  assert.ok(Array.isArray(address) && address.length === 2, `address ${JSON.stringify(address)}`);
  return { host: address[0] as string, port: address[1] as number };
}

/** A multiproc Address as the JSON peer.py reads. */
function toPython(address: Address): string {
  return JSON.stringify(typeof address === 'string' ? address : [address.host, address.port]);
}

function newListener(family: Family, authkey: Buffer): Listener {
  return family === 'AF_INET' ? new Listener({ host: '127.0.0.1', port: 0 }, { authkey }) : new Listener(null, { authkey });
}

const bigPayload = (): Buffer => {
  const out = Buffer.allocUnsafe(MiB);
  for (let i = 0; i < MiB; i++) out[i] = (i * 7 + 3) & 0xff;
  return out;
};

for (const family of FAMILIES) {
  test(`a multiproc Client authenticates to a Python Listener (${family}) and exchanges bytes`, TIMEOUT, async () => {
    const peer = new Peer(['listen', family, KEY.toString('hex')]);
    try {
      const { address } = await peer.line();
      if (family === 'AF_UNIX') assert.equal(typeof address, 'string');
      const conn = await peer.unlessExited(Client(fromPython(address), { authkey: KEY }));
      try {
        // One round trip, then several messages in flight at once.
        conn.sendBytes(Buffer.from('ping'));
        assert.deepEqual(await peer.unlessExited(conn.recvBytes()), Buffer.from('py:ping'));
        const messages = [Buffer.from('hello from multiproc'), Buffer.alloc(0), bigPayload(), Buffer.from('naïve ✓', 'utf8'), Buffer.from([0, 0, 0, 0xff])];
        for (const message of messages) conn.sendBytes(message);
        for (const message of messages) {
          const reply = await peer.unlessExited(conn.recvBytes());
          assert.equal(reply.length, message.length + 3);
          assert.ok(reply.equals(Buffer.concat([Buffer.from('py:'), message])), `echo of a message of ${message.length} bytes`);
        }
        // A slice, as Python's send_bytes(buf, offset, size).
        conn.sendBytes(Buffer.from('0123456789'), 2, 5);
        assert.deepEqual(await peer.unlessExited(conn.recvBytes()), Buffer.from('py:23456'));
      } finally {
        conn.close();
      }
      await peer.expectExit(0);
    } finally {
      await peer.stop();
    }
  });

  test(`a Python Client authenticates to a multiproc Listener (${family}) and exchanges bytes`, TIMEOUT, async () => {
    const listener = newListener(family, KEY);
    const peer = new Peer(['connect', toPython(listener.address), KEY.toString('hex')]);
    try {
      const conn = await peer.unlessExited(listener.accept());
      try {
        const hello = await peer.unlessExited(conn.recvBytes());
        assert.equal(hello.toString(), 'hello from python');
        conn.sendBytes(Buffer.concat([Buffer.from('multiproc:'), hello]));
        const big = await peer.unlessExited(conn.recvBytes());
        assert.equal(big.length, MiB);
        assert.ok(big.equals(Buffer.alloc(MiB).map((_, i) => i & 0xff)), 'bytes(range(256)) * 4096');
        conn.sendBytes(Buffer.concat([Buffer.from('big:'), big]));
        // Python closes after the reply: the stream ends here.
        await assert.rejects(peer.unlessExited(conn.recvBytes()), { name: 'EOFError' });
      } finally {
        conn.close();
      }
      assert.deepEqual(await peer.line(), { reply: 'multiproc:hello from python' });
      assert.deepEqual(await peer.line(), { big: MiB + 4, ok: true });
      await peer.expectExit(0);
    } finally {
      await peer.stop();
      listener.close();
    }
  });

  test(`a multiproc Client with the wrong key is refused by a Python Listener (${family})`, TIMEOUT, async () => {
    const peer = new Peer(['listen', family, KEY.toString('hex')]);
    try {
      const { address } = await peer.line();
      await assert.rejects(peer.unlessExited(Client(fromPython(address), { authkey: WRONG_KEY })), (err: Error) => {
        assert.equal(err.name, 'AuthenticationError');
        assert.equal(err.message, 'digest sent was rejected');
        return true;
      });
      assert.deepEqual(await peer.line(), { error: 'AuthenticationError', message: 'digest received was wrong' });
      await peer.expectExit(3);
    } finally {
      await peer.stop();
    }
  });

  test(`a Python Client with the wrong key is refused by a multiproc Listener (${family})`, TIMEOUT, async () => {
    const listener = newListener(family, KEY);
    const peer = new Peer(['connect', toPython(listener.address), WRONG_KEY.toString('hex')]);
    try {
      await assert.rejects(peer.unlessExited(listener.accept()), (err: Error) => {
        assert.equal(err.name, 'AuthenticationError');
        assert.equal(err.message, 'digest received was wrong');
        return true;
      });
      // Python must be told: #FAILURE#, so that its Client raises AuthenticationError (not EOFError).
      assert.deepEqual(await peer.line(), { error: 'AuthenticationError', message: 'digest sent was rejected' });
      await peer.expectExit(3);
    } finally {
      await peer.stop();
      listener.close();
    }
  });
}
