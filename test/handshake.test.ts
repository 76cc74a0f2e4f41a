// The authkey handshake under random, truncated and lying input (a seeded
// fuzz test over real sockets), on both sides: a Listener that raw peers
// feed garbage, and a Client that a raw server feeds garbage. No crash, no
// hang, memory that grows only with what arrives; a peer that cannot
// authenticate never gets a connection, and a legitimate one still does.
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { afterEach, test } from 'node:test';
import { Client, Listener } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';

afterEach(() => assertNoneLeftBehind());

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const frame = (body: Buffer): Buffer => {
  const h = Buffer.alloc(4);
  h.writeInt32BE(body.length);
  return Buffer.concat([h, body]);
};

/** What a hostile or broken peer says, chosen by `random`: frames honest, cut short or lying, in the handshake's words or not. */
function garbage(random: () => number): Buffer[] {
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const parts: Buffer[] = [];
  for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
    const kind = Math.floor(random() * 8);
    if (kind === 0) parts.push(bytes(Math.floor(random() * 300)));
    else if (kind === 1) parts.push(frame(bytes(Math.floor(random() * 300))));
    else if (kind === 2) parts.push(frame(Buffer.concat([Buffer.from('#CHALLENGE#{sha256}'), bytes(Math.floor(random() * 60))])));
    else if (kind === 3) parts.push(frame(Buffer.concat([Buffer.from('{sha256}'), bytes(32)])));
    else if (kind === 4) parts.push(frame(Buffer.from(random() < 0.5 ? '#WELCOME#' : '#FAILURE#')));
    else if (kind === 5) {
      // A length that lies: far more than will ever come.
      const h = Buffer.alloc(4);
      h.writeInt32BE(256 + Math.floor(random() * 0x7fff0000));
      parts.push(h, bytes(Math.floor(random() * 1000)));
    } else if (kind === 6) {
      const h = Buffer.alloc(12);
      h.writeInt32BE(-1);
      h.writeBigUInt64BE((BigInt(Math.floor(random() * 2 ** 53)) * 4096n) % 2n ** 64n, 4);
      parts.push(h, bytes(64));
    } else {
      // A frame cut short.
      const body = frame(bytes(16 + Math.floor(random() * 200)));
      parts.push(body.subarray(0, Math.floor(random() * body.length)));
    }
  }
  return parts;
}

test('a Listener fed garbage by 150 seeded peers: accept() only ever rejects with AuthenticationError, nobody gets in but the legitimate Client, memory stays bounded', { timeout: 120_000 }, async () => {
  const authkey = Buffer.from('the right key');
  const before = process.memoryUsage().arrayBuffers;
  for (const address of [undefined, { host: '127.0.0.1', port: 0 }]) {
    const listener = new Listener(address, { authkey });
    const where = listener.address;
    const peers: Socket[] = [];
    await Promise.all(
      Array.from({ length: 75 }, (_, i) => {
        const random = rng(i + 1 + (address === undefined ? 0 : 1000));
        return new Promise<void>((resolve) => {
          const socket = createConnection(typeof where === 'string' ? { path: where } : where);
          peers.push(socket);
          // (A Unix socket's backlog may refuse some at once: EAGAIN.)
          socket.on('error', () => resolve());
          socket.on('data', () => {});
          socket.once('connect', () => {
            for (const part of garbage(random)) socket.write(part);
            // Some go at once, some half-close, some stay (the Listener closes them).
            const end = random();
            if (end < 0.3) socket.destroy();
            else if (end < 0.6) socket.end();
            resolve();
          });
        });
      }),
    );
    // The garbage is answered (refused) while the legitimate Client comes in.
    const client = Client(where, { authkey, timeout: 30_000 });
    let accepted;
    for (;;) {
      try {
        accepted = await listener.accept(30_000);
        break;
      } catch (error) {
        assert.equal((error as Error).name, 'AuthenticationError', (error as Error).stack);
      }
    }
    const legitimate = await client;
    legitimate.send('me');
    assert.equal(await accepted.recv(), 'me');
    accepted.close();
    legitimate.close();
    listener.close();
    for (const peer of peers) peer.destroy();
  }
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
});

test('a Client fed garbage by a server, 150 seeded times: it rejects with AuthenticationError, OSError, EOFError or TimeoutError, never hangs or crashes', { timeout: 120_000 }, async () => {
  const before = process.memoryUsage().arrayBuffers;
  let seed = 0;
  const server = createServer((socket) => {
    const random = rng(++seed * 31);
    socket.on('error', () => {});
    socket.on('data', () => {});
    for (const part of garbage(random)) socket.write(part);
    if (random() < 0.5) socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const seen = new Set<string>();
  for (let i = 0; i < 150; i++) {
    const outcome = await Client({ host: '127.0.0.1', port }, { authkey: Buffer.from('k'), timeout: 1000 }).then(
      (connection) => {
        connection.close();
        return 'connected';
      },
      (error: Error) => error.name,
    );
    assert.ok(['AuthenticationError', 'OSError', 'EOFError', 'TimeoutError'].includes(outcome), `attempt ${i}: ${outcome}`);
    seen.add(outcome);
  }
  server.close();
  // The garbage is varied enough to reach more than one way of failing.
  assert.ok(seen.size >= 2, [...seen].join());
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
});
