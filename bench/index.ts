// `npm run bench`: every table, measured in one run, side by side with Python.
import { isMainModule } from 'multiproc';
import { benchPipe, benchPipeNoAddon, benchPipeRoundTrips } from './pipe.js';
import { benchBursts, benchProcess, benchSingleThreaded } from './process.js';
import { benchQueue, benchQueueNoAddon } from './queue.js';
import { benchPool } from './pool.js';
import { benchFutures } from './futures.js';
import { benchDistributed } from './distributed.js';
import { benchSync, benchSyncFallback } from './sync.js';
import { benchManagerCalls, benchManagers } from './managers.js';

if (isMainModule(import.meta)) {
  const only = process.argv[2];
  if (only === undefined || only === 'process') await benchProcess();
  if (only === undefined || only === 'process' || only === 'bursts') await benchBursts();
  if (only === undefined || only === 'process' || only === 'single-threaded') await benchSingleThreaded();
  if (only === undefined || only === 'pipe') await benchPipe();
  if (only === 'pipe-rt') await benchPipeRoundTrips(process.argv[3]);
  if (only === 'pipe-noaddon') await benchPipeNoAddon();
  if (only === 'queue-noaddon') await benchQueueNoAddon();
  if (only === undefined || only === 'queue') await benchQueue();
  if (only === undefined || only === 'pool') await benchPool();
  if (only === undefined || only === 'futures') await benchFutures();
  if (only === undefined || only === 'sync') await benchSync();
  if (only === 'sync-fallback') await benchSyncFallback();
  if (only === undefined || only === 'managers') await benchManagers();
  if (only === 'managers-rt') await benchManagerCalls();
  if (only === 'distributed') await benchDistributed();
}
