import { deserialize } from 'node:v8';
import { dumps, rebuildMessage, reduceForMessage, refuseInheritanceOnly } from './reduction.js';

/**
 * How a message body is encoded (Connection.send, Queue items): V8's
 * structured clone, except that plain JSON data (the common case: finite
 * numbers, strings, booleans, null, and arrays and plain objects of them) goes
 * as JSON text, which is 3-5x cheaper both ways and comes back identical. The
 * first byte tells them apart: V8's format always begins with 0xFF, a byte
 * UTF-8 text never has.
 */
const V8_TAG = 0xff;
// V8's format after this byte holds markers the receiver rebuilds: managers' proxies, instances of user classes.
const REBUILD_TAG = 0xfe;
// Past this many objects and arrays, checking costs more than it saves: V8
// takes it. Primitives cost nothing here (a flat array of a million numbers
// is checked in a millisecond and is still much cheaper as JSON).
const CHECK_BUDGET = 512;

export function encode(value: unknown, what: string): Uint8Array {
  const text = jsonText(value);
  return text !== null ? Buffer.from(text) : encodeV8(value, what);
}

/** V8's format, for what is not plain JSON data; multiproc's own objects are refused (they travel only to a new child). */
export function encodeV8(value: unknown, what: string): Uint8Array {
  if (!refuseInheritanceOnly(value, what)) return dumps(value, what);
  const body = dumps(reduceForMessage(value), what);
  const bytes = new Uint8Array(body.byteLength + 1);
  bytes[0] = REBUILD_TAG;
  bytes.set(body, 1);
  return bytes;
}

/** The JSON text of `value` when JSON carries it exactly, else null (it goes by V8's format): lets a caller write the text where it wants it. */
export function jsonText(value: unknown): string | null {
  return isPlainJson(value) ? JSON.stringify(value) : null;
}

export function decode(bytes: Uint8Array): unknown {
  if (bytes[0] === V8_TAG) return deserialize(bytes);
  if (bytes[0] === REBUILD_TAG) return rebuildMessage(deserialize(bytes.subarray(1)));
  return JSON.parse(Buffer.isBuffer(bytes) ? bytes.toString() : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString());
}

/** True when JSON would bring `value` back exactly as structured clone does. */
export function isPlainJson(value: unknown): boolean {
  checkBudget = CHECK_BUDGET;
  return isPlainJsonWithin(value, 0);
}

/** Objects and arrays isPlainJson may still look into: one counter for the whole walk, kept here rather than in a closure made per call. */
let checkBudget = 0;

function isPlainJsonWithin(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0);
    case 'object': {
      if (v === null) return true;
      if (--checkBudget < 0 || depth > 32) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!(i in v) || !isPlainJsonWithin(v[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in v) if (!isPlainJsonWithin((v as Record<string, unknown>)[key], depth + 1)) return false;
      return true;
    }
    default:
      return false; // undefined, bigint, symbol, function
  }
}
