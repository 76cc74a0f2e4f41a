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

export function serverAddress(): string {
  if (address !== null) return address;
  const inherited = process.env[ENV];
  if (inherited !== undefined && current.parent !== null) return (address = inherited);
  process.stderr.write(
    `multiproc: the native addon could not be loaded (${nativeUnavailableReason()}); locks, semaphores, events, conditions, barriers, Values and Arrays go through a slower IPC server\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-sync-'));
  address = join(dir, 'socket');
  const data: ServerData = { address, authkey: current.authkey };
  const worker = new Worker(threadScript('server-thread'), { workerData: data });
  // The server never keeps the process alive by itself; it ends with it.
  worker.unref();
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  process.env[ENV] = address;
  return address;
}
