import { AssertionError, AuthenticationError, BrokenPipeError, EOFError, OSError, ProcessError, TimeoutError, ValueError } from '../errors.js';
import { Empty, Full } from '../queues.js';
import { BrokenBarrierError } from '../sync/errors.js';

/**
 * Errors of the manager protocol. A method that fails in the server comes
 * back as the same class when it is one a user can catch by name (Python's
 * '#ERROR': KeyError, Empty, ValueError...); any other failure (a registered
 * callable's own error, a method outside `exposed`, a broken request) comes
 * back as a RemoteError carrying the server's stack (Python's '#TRACEBACK').
 */

/** A lookup with a key the dict does not hold (Python's `KeyError`). */
export class KeyError extends Error {
  override name = 'KeyError';
}

/** An index out of range, or a list method on a missing item (Python's `IndexError`). */
export class IndexError extends Error {
  override name = 'IndexError';
}

/** A method the object does not have, or does not expose; a Namespace's missing name (Python's `AttributeError`). */
export class AttributeError extends Error {
  override name = 'AttributeError';
}

const RULE = '-'.repeat(75);

/** A failure inside the manager's server: `remoteName` is the error's class there, `remoteStack` its stack. */
export class RemoteError extends ProcessError {
  override name = 'RemoteError';
  readonly remoteName: string;
  readonly remoteStack: string;

  constructor(remoteName: string, remoteMessage: string, remoteStack: string) {
    // Python's str(RemoteError): the server's traceback between two rules.
    super(`${remoteName}: ${remoteMessage}\n${RULE}\n${remoteStack}\n${RULE}`);
    this.remoteName = remoteName;
    this.remoteStack = remoteStack;
  }
}

/** How an error travels in a reply: its class name, message and stack; `remote: true` forces a RemoteError. */
export interface WireError {
  name: string;
  message: string;
  stack: string;
  remote?: boolean;
}

type ErrorClass = new (message: string) => Error;

// What comes back as its own class: errors the referents throw on purpose, by name.
const KNOWN: Record<string, ErrorClass> = {
  KeyError,
  IndexError,
  AttributeError,
  ValueError,
  TypeError,
  RangeError,
  Empty,
  Full,
  TimeoutError,
  AssertionError,
  BrokenBarrierError: BrokenBarrierError as unknown as ErrorClass,
  AuthenticationError,
  OSError,
  BrokenPipeError,
  EOFError,
};

export function toWire(err: unknown, remote = false): WireError {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack ?? `${err.name}: ${err.message}`, remote };
  return { name: 'Error', message: String(err), stack: `thrown: ${String(err)}`, remote: true };
}

/** The error a caller sees for a failed call; `where` names the call, for the stack. */
export function fromWire(wire: WireError): Error {
  const Known = wire.remote ? undefined : KNOWN[wire.name];
  if (Known === undefined) return new RemoteError(wire.name, wire.message, wire.stack);
  const err = new Known(wire.message);
  if (err.name !== wire.name) err.name = wire.name;
  // The server's stack, for whoever debugs it; the local one says where the call was made.
  Object.defineProperty(err, 'remoteStack', { value: wire.stack, enumerable: false });
  return err;
}

/** Calls on a manager whose server is gone (killed, shut down, unreachable): one class, at once, for every call. */
export function serverGone(address: string, why: string): BrokenPipeError {
  return Object.assign(
    new BrokenPipeError(
      `the manager's server at ${address} is gone (${why}): this call, and every call on its proxies, fails. ` +
        'Start a new manager (await Manager()), or reconnect once the server serves again.',
    ),
    { code: 'ERR_MULTIPROC_MANAGER_GONE' },
  );
}
