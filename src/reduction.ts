import { deserialize, serialize } from 'node:v8';

/**
 * How values cross a process boundary. For now: V8's structured clone (Map,
 * Set, Date, BigInt, RegExp, typed arrays, Error...), done in the parent
 * before any process exists, so that a value that cannot travel fails in
 * `start()` and never leaves a half-started child behind.
 */
export function dumps(value: unknown, what: string): Uint8Array {
  try {
    return serialize(value);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw Object.assign(
      new TypeError(
        `multiproc: ${what} cannot be sent to a child process: ${reason.replace(/\.$/, '')}. ` +
          'Arguments travel by structured clone (plain objects, arrays, Map, Set, Date, BigInt, typed arrays, Error...); ' +
          'functions, class instances with methods, sockets and other handles do not. Pass plain data and rebuild the rest in the child.',
        { cause: err },
      ),
      { code: 'ERR_MULTIPROC_NOT_CLONEABLE' },
    );
  }
}

export function loads(bytes: Uint8Array): unknown {
  return deserialize(bytes);
}
