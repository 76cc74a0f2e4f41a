// The frame parser under random and truncated input (a fuzz test): valid
// frames cut at random places always come out whole and in order; random
// bytes never throw and never make it allocate what a header announces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
// Internal module: the parser is not public API.
import { FrameParser, header, type FrameEvent } from '../dist/cjs/framing.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function feed(parser: FrameParser, stream: Buffer, random: () => number): FrameEvent[] {
  const events: FrameEvent[] = [];
  for (let at = 0; at < stream.length; ) {
    const size = Math.max(1, Math.floor(random() * 300));
    parser.push(stream.subarray(at, at + size), (e) => events.push(e));
    at += size;
  }
  return events;
}

test('valid frames split at random boundaries come out whole, in order, never merged', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const random = rng(seed);
    const bodies = Array.from({ length: 1 + Math.floor(random() * 20) }, () => Buffer.from(Array.from({ length: Math.floor(random() * 700) }, () => Math.floor(random() * 256))));
    const stream = Buffer.concat(bodies.flatMap((b) => [header(b.length), b]));
    const parser = new FrameParser();
    const messages = feed(parser, stream, random).filter((e) => e.kind === 'message');
    assert.deepEqual(messages.map((m) => (m as { body: Buffer }).body), bodies, `seed ${seed}`);
    assert.equal(parser.partial, false);
  }
});

test('the long form (-1 and an 8-byte length) is read; a truncated stream is partial', () => {
  const body = Buffer.from('long form');
  const long = Buffer.alloc(12);
  long.writeInt32BE(-1);
  long.writeBigUInt64BE(BigInt(body.length), 4);
  const parser = new FrameParser();
  const events: FrameEvent[] = [];
  parser.push(Buffer.concat([long, body, header(5), Buffer.from('ab')]), (e) => events.push(e));
  assert.deepEqual(events.filter((e) => e.kind === 'message').map((e) => String((e as { body: Buffer }).body)), ['long form']);
  assert.equal(parser.partial, true);
  assert.equal(parser.announced, 5);
});

test('random bytes never throw, and memory grows only with the bytes that arrive', () => {
  const before = process.memoryUsage().arrayBuffers;
  for (let seed = 1; seed <= 300; seed++) {
    const random = rng(seed * 7919);
    const garbage = Buffer.from(Array.from({ length: Math.floor(random() * 4000) }, () => Math.floor(random() * 256)));
    const parser = new FrameParser();
    const events = feed(parser, garbage, random);
    const invalid = events.findIndex((e) => e.kind === 'invalid');
    if (invalid >= 0) assert.equal(events.slice(invalid + 1).length, 0, 'nothing is emitted after an invalid header');
  }
  assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 1024 * 1024);
});

test('a big message is read into its own buffer only once half of it has arrived; mixed with ordinary pushes, it comes out whole', () => {
  const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
  const stream = Buffer.concat([header(body.length), body, header(3), Buffer.from('end')]);
  for (let seed = 1; seed <= 20; seed++) {
    const random = rng(seed);
    const parser = new FrameParser();
    const events: FrameEvent[] = [];
    const emit = (e: FrameEvent): void => void events.push(e);
    let at = 0;
    while (at < stream.length) {
      const target = parser.directTarget(1024);
      const size = Math.max(1, Math.floor(random() * 40_000));
      if (target !== null && random() < 0.8) {
        // As a socket reading into the buffer it was given: never past the message's end.
        const n = Math.min(size, target.length);
        stream.copy(target, 0, at, at + n);
        parser.pushDirect(n, emit);
        at += n;
      } else {
        parser.push(stream.subarray(at, at + size), emit);
        at += size;
      }
    }
    const messages = events.filter((e) => e.kind === 'message').map((e) => (e as { body: Buffer }).body);
    assert.equal(messages.length, 2, `seed ${seed}`);
    assert.ok(messages[0]!.equals(body), `seed ${seed}`);
    assert.equal(String(messages[1]), 'end');
    assert.equal(parser.partial, false);
  }
  // A header that lies: no buffer for its body until half of what it announces has really come.
  const liar = new FrameParser();
  liar.push(Buffer.concat([header(1 << 30), Buffer.alloc(1000)]), () => undefined);
  assert.equal(liar.directTarget(1024), null);
  const honest = new FrameParser();
  honest.push(Buffer.concat([header(2000), Buffer.alloc(1000)]), () => undefined);
  assert.equal(honest.directTarget(512)?.length, 1000);
});

test('lying lengths against a limit (maxMessageSize, or the most a Buffer holds): refused at the header, never allocated, nothing after', () => {
  const before = process.memoryUsage().arrayBuffers;
  for (let seed = 1; seed <= 300; seed++) {
    const random = rng(seed * 104729);
    const parser = new FrameParser();
    parser.limit = 1 + Math.floor(random() * 5000);
    const parts: Buffer[] = [];
    for (let n = Math.floor(random() * 8); n > 0; n--) {
      // Honest frames under the limit, headers that lie (over it, in either form, up to 2^64 - 1), and bodies cut short.
      const kind = random();
      const length = Math.floor(random() * parser.limit);
      if (kind < 0.5) parts.push(header(length), Buffer.alloc(length, 1));
      else if (kind < 0.7) parts.push(header(parser.limit + 1 + Math.floor(random() * 0x7fff0000)));
      else if (kind < 0.9) {
        const long = Buffer.alloc(12);
        long.writeInt32BE(-1);
        long.writeBigUInt64BE((BigInt(Math.floor(random() * 2 ** 53)) * BigInt(1 + Math.floor(random() * 2048))) % 2n ** 64n, 4);
        parts.push(long);
      } else parts.push(header(length), Buffer.alloc(Math.floor(length / 2)));
      parts.push(Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256))));
    }
    const events = feed(parser, Buffer.concat(parts), random);
    for (const event of events) if (event.kind === 'message') assert.ok(event.body.length <= parser.limit, `seed ${seed}`);
    // However it arrived, what is kept is only ever what came.
    assert.ok(parser.directTarget(0) === null || parser.announced <= parser.limit, `seed ${seed}`);
    const invalid = events.findIndex((e) => e.kind === 'invalid');
    if (invalid >= 0) {
      assert.equal(events.slice(invalid + 1).length, 0, 'nothing is emitted after an invalid header');
      assert.match((events[invalid] as { reason: string }).reason, /announces \d+ bytes|negative length/);
    }
  }
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
});
