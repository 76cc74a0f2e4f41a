import { invalidArgType, invalidArgValue } from './errors.js';

/**
 * Validates a timeout in milliseconds: `undefined` or `null` means "wait
 * forever"; a negative number behaves like 0, as in Python. Anything that is
 * not a finite-or-infinite number is rejected up front.
 */
export function validateTimeout(timeoutMs: unknown, what = 'timeoutMs'): number | null {
  if (timeoutMs === undefined || timeoutMs === null) return null;
  if (typeof timeoutMs !== 'number') throw invalidArgType(`"${what}" argument`, 'a number of milliseconds, null or undefined', timeoutMs);
  if (Number.isNaN(timeoutMs)) throw invalidArgValue(`"${what}" argument`, 'a number of milliseconds, not NaN', timeoutMs);
  if (timeoutMs === Infinity) return null;
  return Math.max(0, timeoutMs);
}

export function validateBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw invalidArgType(what, 'a boolean', value);
  return value;
}

export function validateString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalidArgType(what, 'a string', value);
  return value;
}

export function validateObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgType(what, 'a plain object', value);
  return value as Record<string, unknown>;
}
