import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { current } from '../../current.js';
import { nativeUnavailableReason } from '../../native.js';
import { threadScript } from './client.js';
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

/** Children inherit the address here; only a multiproc child (which has the tree's authkey) uses it. */
const ENV = 'MULTIPROC_SYNC_SERVER';

let address: string | null = null;

/**
 * On Linux, a name in the abstract namespace: no file, so nothing is left
 * behind even when the root is killed with SIGKILL (the authkey handshake,
 * not file permissions, keeps others out). Elsewhere, a socket in a private
 * folder, removed at exit.
 */
function privateAddress(): string {
  if (process.platform === 'linux') return `\0multiproc-sync-${process.pid}-${randomBytes(8).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-sync-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'socket');
}

export function serverAddress(): string {
  if (address !== null) return address;
  const inherited = process.env[ENV];
  // An abstract name's NUL cannot be in the environment: '@' stands for it there, as ss(8) shows it.
  if (inherited !== undefined && current.parent !== null) return (address = inherited.replace(/^@/, '\0'));
  process.stderr.write(
    `multiproc: the native addon could not be loaded (${nativeUnavailableReason()}); locks, semaphores, events, conditions, barriers, Values and Arrays go through a slower IPC server\n`,
  );
  address = privateAddress();
  const data: ServerData = { address, authkey: current.authkey };
  // Its FIFO ends are opened with fs and closed by their sockets: Node's bookkeeping of a worker's
  // fs descriptors would take a number reused after such a close for a leak, and warn.
  const worker = new Worker(threadScript('server-thread'), { workerData: data, trackUnmanagedFds: false });
  // The server never keeps the process alive by itself; it ends with it.
  worker.unref();
  // Its clients then fail with an OSError (they cannot connect): say why, rather than crash this process.
  worker.on('error', (error) => process.stderr.write(`multiproc: the sync server's thread failed: ${error.message}\n`));
  process.env[ENV] = address.replace(/^\0/, '@');
  return address;
}
