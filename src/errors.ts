import { constants as osConstants } from 'node:os';
/**
 * Error classes with Python's names. Each is a real `Error` subclass whose
 * `name` matches the class, so `err instanceof ProcessError` and
 * `err.name === 'ProcessError'` both work, in ESM and CommonJS alike.
 */

/** Base class of multiproc's own errors, as `multiprocessing.ProcessError`. */
export class ProcessError extends Error {
  override name = 'ProcessError';
}

/** A value has the right type but not an acceptable state or content, as Python's `ValueError`. */
export class ValueError extends Error {
  override name = 'ValueError';
}

/** An operation did not finish within its timeout (`multiprocessing.TimeoutError`). */
export class TimeoutError extends ProcessError {
  override name = 'TimeoutError';
}

/** The authkey handshake failed (`multiprocessing.AuthenticationError`). */
export class AuthenticationError extends ProcessError {
  override name = 'AuthenticationError';
}

/** A receive buffer is too small for the message (`multiprocessing.BufferTooShort`); `message` holds the whole message. */
export class BufferTooShort extends ProcessError {
  override name = 'BufferTooShort';
  /** The message that did not fit, as Python's `args[0]`. */
  readonly received: Buffer;

  constructor(received: Buffer) {
    super(`the receive buffer is too small for a message of ${received.length} bytes; the message is in err.received`);
    this.received = received;
  }
}

/**
 * A misuse that Python reports with an `assert` (start twice, join before
 * start...): same name and messages as Python's AssertionError.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

/** An operating-system-level failure of a connection (Python's `OSError`): closed handle, wrong direction, bad length. */
export class OSError extends Error {
  override name = 'OSError';
}

/** A Queue's item whose putter died in the middle of writing it (`pid` when known): the same words with or without the addon. */
export function itemLostError(pid: number | null): OSError {
  const putter = pid === null ? 'the process that was putting it' : `the process that was putting it (pid ${pid})`;
  return new OSError(`an item was lost: ${putter} died while writing it; the queue goes on with the items after it`);
}

/** Writing to a connection whose peer has closed (Python's `BrokenPipeError`, an OSError). */
export class BrokenPipeError extends OSError {
  override name = 'BrokenPipeError';
}

/** The peer closed the connection: nothing more will arrive (Python's `EOFError`). */
export class EOFError extends Error {
  override name = 'EOFError';
}

/** Thrown where a Node-style argument check fails: the wrong type. */
export function invalidArgType(what: string, expected: string, actual: unknown): TypeError {
  const err = new TypeError(`The ${what} must be ${expected}. Received ${describe(actual)}`);
  return Object.assign(err, { code: 'ERR_INVALID_ARG_TYPE' });
}

/** Thrown where a Node-style argument check fails: a value out of range. */
export function invalidArgValue(what: string, expected: string, actual: unknown): RangeError {
  const err = new RangeError(`The ${what} must be ${expected}. Received ${describe(actual)}`);
  return Object.assign(err, { code: 'ERR_OUT_OF_RANGE' });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'string') return `type string (${JSON.stringify(value.length > 28 ? value.slice(0, 25) + '...' : value)})`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `type ${typeof value} (${String(value)})`;
}

/**
 * A Pool's worker died (killed, out of memory, `process.exit()` in a task)
 * while it held this task; the pool replaced it and goes on. Python's Pool
 * hangs forever here; its `concurrent.futures` raises an error of this name.
 */
export class BrokenProcessPool extends ProcessError {
  override name = 'BrokenProcessPool';
  /** The worker's exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended the worker (`'SIGKILL'`), or null. */
  readonly signal: string | null;

  constructor(message: string, options?: { cause?: unknown; exitCode?: number | null; signal?: string | null }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options?.exitCode ?? null;
    this.signal = options?.signal ?? null;
  }

  /** How a worker ended, from its Process exit code (negative: a signal). */
  static describeExit(code: number): string {
    return code < 0 ? `killed by signal ${signalName(-code)}` : `exited with code ${code}`;
  }

  static workerDied(worker: string, code: number, task: string): BrokenProcessPool {
    return new BrokenProcessPool(
      `a worker of the pool (${worker}) ${BrokenProcessPool.describeExit(code)} while running ${task}(); the pool replaced it and runs the other tasks. ` +
        'Out of memory (the OOM killer sends SIGKILL), process.exit() in a task, or a crash ends a worker this way.',
      { exitCode: code < 0 ? null : code, signal: code < 0 ? signalName(-code) : null },
    );
  }
}

/** A task's result could not be sent back to the pool (Python's `MaybeEncodingError`); the pool keeps working. */
export class MaybeEncodingError extends ProcessError {
  override name = 'MaybeEncodingError';
  /** Why the result could not be sent. */
  readonly exc: string;
  /** The result, as text. */
  readonly value: string;

  constructor(exc: string, value: string) {
    super(`Error sending result: '${value}'. Reason: '${exc}'`);
    this.exc = exc;
    this.value = value;
  }
}

function signalName(number: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === number) return name;
  return String(number);
}

/** A Future was cancelled (Python's `concurrent.futures.CancelledError`): its result() and exception() throw this. */
export class CancelledError extends Error {
  override name = 'CancelledError';
}
