// The message codec: JSON for plain data, V8's structured clone for the rest;
// every value comes back as structured clone would bring it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { deserialize, serialize } from 'node:v8';
// Internal module: the codec is not public API.
import { decode, encode, isPlainJson } from '../dist/cjs/codec.js';

const cases: unknown[] = [
  0, 1.5, -0, NaN, Infinity, 'text', '\ud800 lone surrogate', '', true, null, undefined,
  [], [1, 'a', null], [1, , 3], [undefined], { a: 1, b: { c: [true] } }, { u: undefined }, { ['__proto__']: 1 },
  Object.create(null), new Date(0), new Map([[1, 2]]), new Set(['x']), 10n, new Uint8Array([1, 2]), /re/g,
  { nested: new Map() }, Array.from({ length: 2000 }, (_, i) => i),
];

test('every value round-trips exactly as V8 structured clone', () => {
  for (const value of cases) {
    const expected = deserialize(serialize(value));
    assert.deepStrictEqual(decode(encode(value, 'a test value')), expected, inspect(value));
  }
});

test('plain JSON data takes the JSON path; everything else V8', () => {
  assert.equal(isPlainJson({ a: [1, 'b', null, { c: false }] }), true);
  for (const value of [-0, NaN, undefined, [1, , 2], { u: undefined }, new Date(0), 1n, new Map()]) assert.equal(isPlainJson(value), false, inspect(value));
  assert.equal(encode({ a: 1 }, 'x')[0], '{'.charCodeAt(0));
  assert.equal(encode(new Map(), 'x')[0], 0xff);
});

test('a value that cannot be cloned fails with the clear error', () => {
  assert.throws(() => encode(() => 1, 'a test value'), { name: 'TypeError', message: /a test value cannot be sent to a child process/ });
});
