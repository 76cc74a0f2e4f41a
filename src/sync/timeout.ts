import { invalidArgType, invalidArgValue } from '../errors.js';

/**
 * A wait's timeout in milliseconds: undefined, null or Infinity wait
 * forever; 0 only tries. Unlike Python's SemLock, which quietly reads a
 * negative timeout as 0, a negative one is refused: it is almost always a
 * deadline computed wrong, better found at once.
 */
export function validateWaitTimeout(timeoutMs: unknown, what = 'timeoutMs'): number | null {
  if (timeoutMs === undefined || timeoutMs === null || timeoutMs === Infinity) return null;
  if (typeof timeoutMs !== 'number') throw invalidArgType(`"${what}" argument`, 'a number of milliseconds, null or undefined (no timeout)', timeoutMs);
  if (Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw invalidArgValue(`"${what}" argument`, 'a number of milliseconds >= 0 (0 only tries; leave it out to wait forever)', timeoutMs);
  }
  return timeoutMs;
}
