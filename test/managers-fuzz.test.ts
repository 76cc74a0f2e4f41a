// Bad input to a manager's server: a wrong key, malformed and oversized
// requests from a peer that has the key (fuzzed), unknown typeids and
// methods, values that cannot be sent. Each is refused with a clear error,
// nothing crashes, nothing is buffered without bound, and the server keeps
// serving everyone else.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { serialize } from 'node:v8';
import { afterEach, test } from 'node:test';
import { AuthenticationError, Client, currentProcess, Manager, RemoteError, type Address, type Connection } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { makeMyManager } from './fixtures/managers.js';

// Each manager takes a warm spare; its replacement may still be starting when a test ends on a busy machine.
afterEach(() => assertNoneLeftBehind(10_000));

/** Sends one raw message and resolves with the server's answer: its reply, or the end of the connection. */
async function answer(conn: Connection, send: () => void): Promise<{ reply?: unknown; closed: boolean }> {
  send();
  try {
    const reply = await conn.recv();
    if (!Array.isArray(reply) || reply[0] !== 0) return { reply, closed: false };
    // A refusal (request id 0) is followed by the end of the connection.
    try {
      await conn.recv();
      return { reply, closed: false };
    } catch {
      return { reply, closed: true };
    }
  } catch {
    return { closed: true };
  }
}

function randomValue(depth = 0): unknown {
  const pick = Math.floor(Math.random() * 9);
  switch (pick) {
    case 0:
      return Math.random() * 1e6 - 5e5;
    case 1:
      return randomBytes(Math.floor(Math.random() * 8)).toString('hex');
    case 2:
      return null;
    case 3:
      return depth > 3 ? 1 : Array.from({ length: Math.floor(Math.random() * 4) }, () => randomValue(depth + 1));
    case 4:
      return depth > 3 ? 'x' : { [randomBytes(2).toString('hex')]: randomValue(depth + 1), __multiproc_proxy__: randomValue(depth + 1) };
    case 5:
      return Math.floor(Math.random() * 20) - 5;
    case 6:
      return ['get', 'set', 'create', 'decref', 'incref', 'claim', '__proto__', 'constructor', 'shutdownX', 'getMethods'][Math.floor(Math.random() * 10)];
    case 7:
      return true;
    default:
      return undefined;
  }
}

test('a wrong authkey is an AuthenticationError before anything is deserialised; the manager keeps serving', async () => {
  await using manager = await Manager();
  await assert.rejects(Client(manager.address as Address, { authkey: Buffer.from('not the key') }), (err: Error) => err instanceof AuthenticationError);
  const d = await manager.dict({ a: 1 });
  assert.equal(await d.get('a'), 1);
});

test('malformed requests from a peer with the key are refused with a clear error and close that connection only', async () => {
  await using manager = await Manager();
  const d = await manager.dict<string, number>({ a: 1 });
  const garbage: Array<[string, (c: Connection) => void]> = [
    ['random bytes', (c) => c.sendBytes(randomBytes(64))],
    ['an empty message', (c) => c.sendBytes(Buffer.alloc(0))],
    ['a JSON string', (c) => c.send('hello')],
    ['an object', (c) => c.send({ rid: 1 })],
    ['a short array', (c) => c.send([1, null])],
    ['a negative request id', (c) => c.send([-1, null, 'dummy', []])],
    ['a truncated V8 message', (c) => c.sendBytes(serialize({ a: [1, 2, 3] }).subarray(0, 5))],
  ];
  for (const [what, send] of garbage) {
    const conn = await Client(manager.address as Address, { authkey: currentProcess().authkey });
    const { reply, closed } = await answer(conn, () => send(conn));
    assert.ok(closed, `${what}: the connection stays open`);
    assert.ok(Array.isArray(reply), `${what}: no error reply`);
    assert.equal((reply as unknown[])[0], 0);
    assert.match(((reply as unknown[])[2] as { message: string }).message, /a malformed request was refused and its connection closed/, what);
    conn.close();
  }
  assert.equal(await d.get('a'), 1);
});

test('on the wire: only a reply that hands an item over asks for a receipt; a call that returns nothing is a short JSON reply', async () => {
  await using manager = await Manager();
  const conn = await Client(manager.address as Address, { authkey: currentProcess().authkey });
  const raw = async (request: unknown[]): Promise<unknown[]> => {
    conn.send(request);
    const bytes = await conn.recvBytes();
    // JSON text, not V8's format (which begins with 0xFF): the cheap encoding both ways.
    assert.equal(String.fromCharCode(bytes[0]!), '[', `the reply to ${JSON.stringify(request)} is JSON`);
    return JSON.parse(bytes.toString()) as unknown[];
  };
  const idOf = (reply: unknown[]): number => (reply[2] as { __multiproc_proxy__: { id: number } }).__multiproc_proxy__.id;
  const dict = idOf(await raw([1, null, 'create', ['dict']]));
  assert.deepEqual(await raw([2, dict, 'set', ['a', 1]]), [2, 0]);
  assert.deepEqual(await raw([3, dict, 'get', ['a']]), [3, 0, 1]);
  const queue = idOf(await raw([4, null, 'create', ['Queue']]));
  assert.deepEqual(await raw([5, queue, 'put', [7]]), [5, 0]);
  // The item is handed over: the reply asks for a receipt ([rid, kind, item, proxies, ack]).
  assert.deepEqual(await raw([6, queue, 'get', []]), [6, 0, 7, 0, 1]);
  conn.send([0, null, 'ack', [6]]);
  // A get that finds nothing hands nothing over: an error, with no receipt asked.
  const empty = await raw([7, queue, 'get', [{ block: false }]]);
  assert.equal(empty.length, 3);
  assert.equal(empty[1], 1);
  conn.close();
  const d = await manager.dict({ still: 'serving' });
  assert.equal(await d.get('still'), 'serving');
});

test('an oversized request is refused from its header, before its body is buffered', async () => {
  await using manager = await Manager();
  const conn = await Client(manager.address as Address, { authkey: currentProcess().authkey });
  // Past 64 MiB: refused when its header arrives, not after the server has gathered it.
  const { reply, closed } = await answer(conn, () => conn.sendBytes(Buffer.alloc(65 * 1024 * 1024)));
  assert.ok(closed);
  assert.match(((reply as unknown[])[2] as { message: string }).message, /longer than the server accepts/);
  conn.close();
  const d = await manager.dict({ still: 'serving' });
  assert.equal(await d.get('still'), 'serving');
});

test('a peer that goes on writing after its malformed request still reads the refusal, then the end of the connection', async () => {
  await using manager = await Manager();
  const conn = await Client(manager.address as Address, { authkey: currentProcess().authkey });
  // The server refuses the first message while 16 MiB more are on their way: it ends its side and
  // drops what still comes, rather than closing at once, which would reset this socket mid-write.
  const { reply, closed } = await answer(conn, () => {
    conn.sendBytes(randomBytes(64));
    conn.sendBytes(Buffer.alloc(16 * 1024 * 1024));
  });
  assert.ok(closed);
  assert.match(((reply as unknown[])[2] as { message: string }).message, /a malformed request was refused and its connection closed/);
  conn.close();
  const d = await manager.dict({ still: 'serving' });
  assert.equal(await d.get('still'), 'serving');
});

test('fuzz: 300 well-framed requests of random shape; every one with an id gets an answer, the server never crashes', async () => {
  await using manager = await makeMyManager().start();
  const foo = await manager.Foo();
  let conn = await Client(manager.address as Address, { authkey: currentProcess().authkey });
  for (let i = 0; i < 300; i++) {
    const request = Math.random() < 0.7 ? [i + 1, randomValue(), randomValue(), Array.isArray(randomValue()) ? [randomValue()] : [], Math.random() < 0.3 ? 1 : undefined] : randomValue();
    let sent: Buffer;
    try {
      sent = Buffer.from(serialize(request));
    } catch {
      continue;
    }
    const { reply, closed } = await answer(conn, () => conn.sendBytes(sent));
    if (closed) {
      conn.close();
      conn = await Client(manager.address as Address, { authkey: currentProcess().authkey });
      continue;
    }
    assert.ok(Array.isArray(reply), `request ${JSON.stringify(request)} got ${String(reply)}`);
  }
  conn.close();
  assert.equal(await foo.f(), 'f()');
  await assert.rejects(foo.callMethod('nope'), (err: Error) => err instanceof RemoteError);
});

test('a value that cannot be sent back fails that call with a clear error; the manager keeps serving', async () => {
  await using manager = await makeMyManager().start();
  const foo = await manager.Foo();
  await assert.rejects(foo.callMethod('closure'), (err: Error) => err instanceof TypeError && /the result of this call cannot be sent back from the manager's server/.test(err.message));
  // An argument that cannot be sent fails in the caller, before anything leaves.
  await assert.rejects(foo.callMethod('slow', [() => 1]), (err: Error) => err instanceof TypeError && /cannot be sent/.test(err.message));
  assert.equal(await foo.f(), 'f()');
});
