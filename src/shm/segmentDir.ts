import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { OSError } from '../errors.js';

/**
 * Where named segments live. On Linux, shm_open(name) is open('/dev/shm/' +
 * name): using that folder keeps the names Python's and C's shm_open see.
 * Where there is no /dev/shm (macOS, Windows, a container without it), a
 * folder of this user's in the temporary directory serves the same purpose
 * for multiproc's processes: named files any of them opens by name, unlinked
 * by the resource tracker. Python's segments are then not visible by name
 * (macOS keeps its POSIX shared memory out of the file system).
 */
let dir: string | null = null;

export function segmentDir(): string {
  if (dir !== null) return dir;
  if (isDirectory('/dev/shm')) return (dir = '/dev/shm/');
  const user = typeof process.getuid === 'function' ? String(process.getuid()) : safeUserName();
  const own = join(tmpdir(), `multiproc-shm-${user}`);
  mkdirSync(own, { recursive: true, mode: 0o700 });
  // Another user may have made this folder first, to read our segments or plant links in it: refuse to use one that is not ours alone.
  const stat = lstatSync(own);
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  if (!stat.isDirectory() || (uid !== null && (stat.uid !== uid || (stat.mode & 0o077) !== 0))) {
    throw new OSError(
      `multiproc: this platform (${process.platform}) has no /dev/shm, and the folder for shared memory segments, ${own}, is not a private folder of this user's ` +
        `(owner uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)}): remove it, or set TMPDIR to a folder of your own`,
    );
  }
  return (dir = own + (own.endsWith('/') || own.endsWith('\\') ? '' : process.platform === 'win32' ? '\\' : '/'));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function safeUserName(): string {
  try {
    return userInfo().username.replace(/[^\w.-]/g, '_');
  } catch {
    return 'user';
  }
}
