import type { Address } from '../listener.js';
import type { WireError } from './errors.js';

/**
 * The manager protocol, after Python's (a request names an object, a method
 * and arguments; a reply is a kind and a payload), multiplexed: each request
 * carries an id its reply echoes, so one connection per process serves many
 * calls at once and a call that waits in the server (a Queue's get, a Lock's
 * acquire) holds up no other. Messages are Connection messages (JSON when
 * plain, V8's format otherwise).
 *
 *   request  [rid, ident, method, args, proxies?]   rid 0: no reply wanted
 *   reply    [rid, kind, payload?, proxies?, ack?]   no payload: undefined
 *
 * `ident` is an object's id, or null for the server's own methods (create,
 * decref...). `proxies` is 1 when proxy tokens are inside: only then does the
 * receiver walk the message to rebuild them. `ack` is 1 when the reply hands
 * over something the server would otherwise lose (an item taken from a
 * Queue): the client answers `[0, null, 'ack', [rid]]` as it reads it, before
 * the caller sees it, and the server takes the item back if the connection
 * ends first. A reply written to a socket is not yet read: its process may
 * be dying, its socket still open for a moment after it was seen to exit.
 */
export type Request = [rid: number, ident: number | null, method: string, args: unknown[], proxies?: 1];
export type Reply = [rid: number, kind: typeof RETURN | typeof ERROR, payload?: unknown, proxies?: 0 | 1, ack?: 1];

export const RETURN = 0;
export const ERROR = 1;

/** What a proxy is made of when it travels: which server, which object, of which type. */
export interface Token {
  /** null: the server at the other end of the connection the token came on (each side knows its address for it). */
  address: Address | null;
  id: number;
  typeid: string;
  /** The methods the proxy may call (null: the proxy type's own list). */
  exposed: readonly string[] | null;
  /** Methods whose results are proxies, and of which typeid. */
  methodToTypeid: Readonly<Record<string, string>> | null;
}

/** The key that marks a token inside a message: `{ [TOKEN_KEY]: Token }`. */
export const TOKEN_KEY = '__multiproc_proxy__';

/** The largest request a server reads; longer ones are refused before they are buffered, and the connection is closed. */
export const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

/** A stable text for an address: the key of per-process tables and part of error messages. */
export function addressKey(address: Address): string {
  if (typeof address === 'string') return address.startsWith('\0') ? `@${address.slice(1)}` : address;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Whether JSON carries `value` exactly as structured clone does: a string, a
 * boolean, null, or a finite number other than -0. A request whose arguments
 * are all such, and a reply of one, the sender writes as JSON text itself
 * (its shape is known), without the generic encoder's walk.
 */
export function isJsonScalar(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && (value !== 0 || 1 / value > 0);
    default:
      return value === null;
  }
}

/** The server's control methods (Python's public methods of Server). */
export const CONTROL = ['create', 'incref', 'claim', 'decref', 'shutdown', 'numberOfObjects', 'getMethods', 'dummy', 'debugInfo', 'ack'] as const;

export type ErrorPayload = WireError;
