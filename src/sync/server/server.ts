import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { current } from '../../current.js';
import { warnWithoutAddon } from '../../native.js';
import { LINK_DIR_PREFIX, threadExecArgv, threadScript } from './client.js';
import type { ServerData } from './server-thread.js';

/**
 * The sync server of this process tree, for primitives made where the
 * native addon cannot load. The root process starts it with its first such
 * primitive, as a worker thread (./server-thread.ts) listening on a Unix
 * socket in a private folder; its children learn the address from their
 * environment (or from the primitives they receive) and connect with the
 * tree's authkey. It lives as long as the root process: a child that outlives
 * the root gets an OSError from its next call.
 */

/** The prefix of the server's folder, then the pid of the process it belongs to. */
export const SERVER_DIR_PREFIX = 'multiproc-sync-';

/** Children inherit the address here; only a multiproc child (which has the tree's authkey) uses it. */
const ENV = 'MULTIPROC_SYNC_SERVER';

let address: string | null = null;

/**
 * A socket in a folder only this user can enter (0700, as mkdtemp makes
 * it): the kernel keeps every other user out before a byte is read, which
 * the authkey handshake alone cannot (a peer that connects can still cost a
 * descriptor, a handshake, a thread's error). Not Linux's abstract
 * namespace, which any local user can reach (the name shows in
 * /proc/net/unix), and not SO_PEERCRED: this server runs exactly where the
 * native addon, the only way to getsockopt from Node, cannot load.
 *
 * The folder is removed as the process exits; one that a SIGKILL left
 * behind (the reason the abstract namespace was once chosen) is removed by
 * the next server started by this user, since its name carries the pid of
 * its owner, which is gone: an empty folder and a dead socket file until then.
 */
function privateAddress(): string {
  removeLeftovers(SERVER_DIR_PREFIX);
  removeLeftovers(LINK_DIR_PREFIX);
  const dir = mkdtempSync(join(tmpdir(), `${SERVER_DIR_PREFIX}${process.pid}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'socket');
}

/**
 * Removes this user's folders named `<prefix><pid>-...` in the temporary
 * folder whose process has gone. (A pid reused since then keeps its folder
 * until that process goes in turn: nothing worse than an empty folder.)
 */
export function removeLeftovers(prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = name.startsWith(prefix) ? Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]) : NaN;
    if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    const path = join(tmpdir(), name);
    try {
      if (statSync(path).uid === uid) rmSync(path, { recursive: true, force: true });
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function serverAddress(): string {
  if (address !== null) return address;
  const inherited = process.env[ENV];
  if (inherited !== undefined && current.parent !== null) return (address = inherited);
  warnWithoutAddon();
  address = privateAddress();
  const data: ServerData = { address, authkey: current.authkey };
  // Its FIFO ends are opened with fs and closed by their sockets: Node's bookkeeping of a worker's
  // fs descriptors would take a number reused after such a close for a leak, and warn.
  const worker = new Worker(threadScript('server-thread'), { workerData: data, trackUnmanagedFds: false, execArgv: threadExecArgv() });
  // The server never keeps the process alive by itself; it ends with it.
  worker.unref();
  // Its clients then fail with an OSError (they cannot connect): say why, rather than crash this process.
  worker.on('error', (error) => process.stderr.write(`multiproc: the sync server's thread failed: ${error.message}\n`));
  process.env[ENV] = address;
  return address;
}
