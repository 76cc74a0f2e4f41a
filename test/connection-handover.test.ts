// A Connection handed to a child loses nothing that this process has read
// from its socket and not yet delivered (issue 15, item 2): complete
// messages and the start of one, for every kind of end (duplex and one-way
// Pipe ends, accepted Unix and TCP ends, a Client end). CI runs this file
// with and without the native addon (MULTIPROC_NO_NATIVE=1).
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { Client, Listener, Pipe, type Address, type Connection } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { make } from './fixtures/make.js';
import { relayReceived } from './fixtures/connections.js';

afterEach(() => assertNoneLeftBehind());

// A message lost on the way leaves a read waiting for ever: the limit turns that into a failure.
const LIMIT = { timeout: 60_000 };

/** Starts a child that receives `count` messages on `end` and reports them; resolves with what it reports. */
async function handOver(end: Connection, count: number, options: { bytes?: boolean; afterStart?: () => void } = {}): Promise<unknown[]> {
  const [report, childReport] = Pipe();
  const p = make({ target: relayReceived, args: [end, count, childReport, { bytes: options.bytes ?? false }] });
  p.start();
  childReport.close();
  end.close();
  options.afterStart?.();
  try {
    return (await report.recv()) as unknown[];
  } finally {
    report.close();
    await p.join();
    assert.equal(p.exitCode, 0);
  }
}

const frame = (body: Buffer): Buffer => {
  const h = Buffer.alloc(4);
  h.writeInt32BE(body.length);
  return Buffer.concat([h, body]);
};

/** A connected raw socket to `listener` (no authkey) and the accepted end. */
async function rawPeer(listener: Listener): Promise<{ raw: Socket; accepted: Connection }> {
  const accepted = listener.accept();
  const address = listener.address;
  const raw = createConnection(typeof address === 'string' ? { path: address } : { host: address.host, port: address.port });
  await new Promise((resolve) => raw.once('connect', resolve));
  return { raw, accepted: await accepted };
}

/** Writes `bytes`, resolving once the kernel has them. */
const write = (raw: Socket, bytes: Buffer): Promise<void> => new Promise((resolve, reject) => raw.write(bytes, (err) => (err ? reject(err) : resolve())));

describe('Pipe ends: what the parent read ahead travels with the end', () => {
  test('duplex: the peer sent three, the parent took one; the child gets the other two, then what comes after', LIMIT, async () => {
    const [peer, end] = Pipe();
    for (const i of [1, 2, 3]) peer.send(i);
    assert.equal(await end.recv(), 1);
    assert.deepEqual(await handOver(end, 3, { afterStart: () => peer.send(4) }), [2, 3, 4]);
    peer.close();
  });

  test('one-way: the reader end, with two messages read ahead', LIMIT, async () => {
    const [reader, writer] = Pipe(false);
    for (const i of ['a', 'b', 'c']) writer.send(i);
    assert.equal(await reader.recv(), 'a');
    assert.deepEqual(await handOver(reader, 3, { afterStart: () => writer.send('d') }), ['b', 'c', 'd']);
    writer.close();
  });

  test('duplex: a big message the parent has begun to read arrives whole in the child', LIMIT, async () => {
    const [peer, end] = Pipe();
    // More than a socket buffer holds: the parent's read-ahead stops inside it, and the rest is still being written.
    const big = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    peer.sendBytes(Buffer.from('small'));
    peer.sendBytes(big);
    peer.sendBytes(Buffer.from('after'));
    assert.equal(String(await end.recvBytes()), 'small');
    const [gotBig, after] = (await handOver(end, 2, { bytes: true })) as Uint8Array[];
    assert.ok(Buffer.from(gotBig!).equals(big), 'the big message changed on the way');
    assert.equal(Buffer.from(after!).toString(), 'after');
    peer.close();
  });

  test('a start that fails keeps what was read ahead here', LIMIT, async () => {
    const [peer, end] = Pipe();
    for (const i of [1, 2]) peer.send(i);
    assert.equal(await end.recv(), 1);
    const p = make({ target: relayReceived, args: [end, 1, end, { notCloneable: () => 1 }] as never });
    assert.throws(() => p.start(), { code: 'ERR_MULTIPROC_NOT_CLONEABLE' });
    assert.equal(await end.recv(), 2);
    peer.close();
    end.close();
  });
});

describe('accepted and Client ends', () => {
  for (const [label, address] of [['Unix socket', undefined], ['TCP', { host: '127.0.0.1', port: 0 }]] as const) {
    test(`${label}: the client writes right after the handshake; the accepted end, passed to a child, loses nothing`, LIMIT, async () => {
      const listener = new Listener(address);
      try {
        const [accepted, client] = await Promise.all([listener.accept(), Client(listener.address)]);
        client.send('first');
        client.send('second');
        // One more turn, so that this process has read both (with the handshake's last message) before the hand-over.
        await new Promise(setImmediate);
        assert.deepEqual(await handOver(accepted, 3, { afterStart: () => client.send('third') }), ['first', 'second', 'third']);
        client.close();
      } finally {
        listener.close();
      }
    });

    test(`${label}: whole messages and the start of the next, read here before the hand-over, reach the child in order`, LIMIT, async () => {
      const listener = new Listener(address as Address | undefined, { authkey: null });
      try {
        const { raw, accepted } = await rawPeer(listener);
        const third = frame(Buffer.from('third message, sent in two parts'));
        await write(raw, Buffer.concat([frame(Buffer.from('one')), frame(Buffer.from('two')), third.subarray(0, 9)]));
        assert.equal(String(await accepted.recvBytes()), 'one');
        const got = (await handOver(accepted, 2, { bytes: true, afterStart: () => raw.write(third.subarray(9)) })) as Uint8Array[];
        assert.deepEqual(got.map((b) => Buffer.from(b).toString()), ['two', 'third message, sent in two parts']);
        raw.destroy();
      } finally {
        listener.close();
      }
    });

    test(`${label}: a Client end, with what the server sent right after the handshake`, LIMIT, async () => {
      const listener = new Listener(address);
      try {
        const [server, client] = await Promise.all([listener.accept(), Client(listener.address)]);
        server.send('hello');
        server.send('again');
        assert.equal(await client.recv(), 'hello');
        assert.deepEqual(await handOver(client, 2, { afterStart: () => server.send('later') }), ['again', 'later']);
        server.close();
      } finally {
        listener.close();
      }
    });
  }
});

test('an end handed over while a recv() waits on it here: that recv takes its one message, the child the next', LIMIT, async () => {
  await parentThenChildRead(['for the parent']);
});

test('after a hand-over, each recv() here takes one message, read on its own, and the child the next', LIMIT, async () => {
  await parentThenChildRead(['first for the parent', 'second for the parent']);
});

/**
 * A recv() waits on an end here as it is handed to a child; the peer then
 * sends these messages and one for the child, all in the kernel before this
 * process reads: its recv()s must take only theirs, one each, the child the last.
 */
async function parentThenChildRead(forParent: string[]): Promise<void> {
  const [peer, end] = Pipe();
  const [report, childReport] = Pipe();
  const p = make({ target: relayReceived, args: [end, 1, childReport, { waitForGo: true }] });
  const pending = end.recv();
  p.start();
  childReport.close();
  for (const message of forParent) peer.send(message);
  peer.send('for the child');
  assert.equal(await pending, forParent[0]);
  for (const message of forParent.slice(1)) assert.equal(await end.recv(), message);
  report.send('go');
  assert.deepEqual(await report.recv(), ['for the child']);
  report.close();
  await p.join();
  assert.equal(p.exitCode, 0);
  end.close();
  peer.close();
}
