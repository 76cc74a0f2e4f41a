import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Connection } from './connection.js';
import { AuthenticationError, invalidArgType } from './errors.js';

/**
 * Python's authkey handshake (multiprocessing.connection), byte for byte, so
 * that a multiproc Client can authenticate to a CPython Listener and back:
 *   server → client  #CHALLENGE#{sha256}<40 random bytes>
 *   client → server  {sha256}<HMAC-SHA256(authkey, the whole challenge)>
 *   server → client  #WELCOME# or #FAILURE#
 * then the same with the roles swapped (mutual). A 20-byte challenge is
 * Python <= 3.11's legacy form, answered with a raw 16-byte HMAC-MD5; a 16- or
 * 20-byte response is accepted as legacy HMAC-MD5 of the whole challenge.
 * Digests are compared in constant time; every read is capped at 256 bytes.
 */
const CHALLENGE = Buffer.from('#CHALLENGE#');
const WELCOME = Buffer.from('#WELCOME#');
const FAILURE = Buffer.from('#FAILURE#');
const NONCE_LENGTH = 40;
const LEGACY_LENGTHS = new Set([16, 20]);
const MAX_HANDSHAKE_MESSAGE = 256;
// Python's names for them, which are also what goes on the wire.
const DIGESTS: Record<string, string> = { md5: 'md5', sha256: 'sha256', sha384: 'sha384', sha3_256: 'sha3-256', sha3_384: 'sha3-384' };

export function checkAuthkey(authkey: unknown): Buffer {
  if (!(authkey instanceof Uint8Array)) throw invalidArgType('authkey', 'a Buffer or Uint8Array (a byte string, as in Python)', authkey);
  return Buffer.from(authkey);
}

function hmac(authkey: Buffer, message: Buffer, digest: string): Buffer {
  return createHmac(DIGESTS[digest]!, authkey).update(message).digest();
}

/** Splits `{name}payload`; an empty name means the legacy unprefixed form. */
function digestAndPayload(message: Buffer): [string, Buffer] {
  if (LEGACY_LENGTHS.has(message.length)) return ['', message];
  if (message[0] === 0x7b /* { */) {
    const close = message.indexOf(0x7d /* } */, 1);
    // As CPython: the closing brace within the first 10 bytes (the longest name is 8).
    if (close > 0 && close < 10) {
      const name = message.subarray(1, close).toString('latin1');
      if (Object.hasOwn(DIGESTS, name)) return [name, message.subarray(close + 1)];
    }
  }
  throw new AuthenticationError(`unsupported message length, missing digest prefix, or unsupported digest: message of ${message.length} bytes`);
}

function createResponse(authkey: Buffer, message: Buffer): Buffer {
  const [digest] = digestAndPayload(message);
  if (digest === '') return hmac(authkey, message, 'md5');
  return Buffer.concat([Buffer.from(`{${digest}}`), hmac(authkey, message, digest)]);
}

function verifyResponse(authkey: Buffer, message: Buffer, response: Buffer): void {
  const [named, mac] = digestAndPayload(response);
  const digest = named || 'md5';
  const expected = hmac(authkey, message, digest);
  if (expected.length !== mac.length) throw new AuthenticationError(`expected '${digest}' of length ${expected.length} got ${mac.length}`);
  if (!timingSafeEqual(expected, mac)) throw new AuthenticationError('digest received was wrong');
}

/** The server's half: challenge the peer and check its answer. */
export async function deliverChallenge(connection: Connection, authkey: Buffer, digest = 'sha256'): Promise<void> {
  const message = Buffer.concat([Buffer.from(`{${digest}}`), randomBytes(NONCE_LENGTH)]);
  connection.sendBytes(Buffer.concat([CHALLENGE, message]));
  const response = await connection.recvBytes(MAX_HANDSHAKE_MESSAGE);
  try {
    verifyResponse(authkey, message, response);
  } catch (err) {
    connection.sendBytes(FAILURE);
    throw err;
  }
  connection.sendBytes(WELCOME);
}

/** The client's half: answer the peer's challenge. */
export async function answerChallenge(connection: Connection, authkey: Buffer): Promise<void> {
  const received = await connection.recvBytes(MAX_HANDSHAKE_MESSAGE);
  if (!received.subarray(0, CHALLENGE.length).equals(CHALLENGE)) {
    throw new AuthenticationError(`Protocol error, expected challenge: a message of ${received.length} bytes without #CHALLENGE#`);
  }
  const message = received.subarray(CHALLENGE.length);
  if (message.length < 20) throw new AuthenticationError(`challenge too short: ${message.length} bytes`);
  connection.sendBytes(createResponse(authkey, message));
  const verdict = await connection.recvBytes(MAX_HANDSHAKE_MESSAGE);
  if (!verdict.equals(WELCOME)) throw new AuthenticationError('digest sent was rejected');
}
