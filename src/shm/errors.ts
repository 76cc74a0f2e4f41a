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
