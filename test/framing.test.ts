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
