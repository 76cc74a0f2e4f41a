import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import { OSError } from '../errors.js';

/** An OSError with its errno, as Python's: `errno` the number, `code` the Node-style name. */
abstract class ErrnoError extends OSError {
  abstract readonly errno: number;
  abstract readonly code: string;
}

/** Creating a segment whose name exists already (Python's `FileExistsError`, errno EEXIST). */
export class FileExistsError extends ErrnoError {
  override name = 'FileExistsError';
  readonly errno = 17;
  readonly code = 'EEXIST';
}

/** Attaching to, or unlinking, a segment that does not exist (Python's `FileNotFoundError`, errno ENOENT). */
export class FileNotFoundError extends ErrnoError {
  override name = 'FileNotFoundError';
  readonly errno = 2;
  readonly code = 'ENOENT';
}

/**
 * Any other failed system call on a segment as Python reports it: an OSError
 * whose message starts `[Errno N]` and names the segment, with `errno` (the
 * positive number, as Python's), `code` ('ELOOP') and `syscall`. Takes Node's
 * errors (negative errno, with code) and the addon's (positive errno, no code).
 */
export function osError(error: unknown, what: string): Error {
  const { errno, code, syscall } = (error ?? {}) as { errno?: unknown; code?: unknown; syscall?: unknown };
  if (typeof errno !== 'number' || errno === 0) return error instanceof Error ? error : new OSError(String(error));
  const number = Math.abs(errno);
  const name = typeof code === 'string' ? code : getSystemErrorName(-number);
  const described = getSystemErrorMap().get(-number)?.[1] ?? name;
  const text = described.charAt(0).toUpperCase() + described.slice(1);
  return Object.assign(new OSError(`[Errno ${number}] ${text}: ${what}`), { errno: number, code: name, ...(typeof syscall === 'string' ? { syscall } : {}), cause: error });
}
