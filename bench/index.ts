// `npm run bench`: every table, measured in one run, side by side with Python.
// Each part is imported only when it runs: a spawned child imports this main
// module, and a part's imports (BullMQ and ioredis for the distributed one)
// would otherwise be loaded by every child and counted in every start figure.
import { isMainModule } from 'multiproc';
// The children's targets, though, are imported here, as a program's main
// module imports its own: the forkserver (zygote or spares) loads them with
// main, and a child does not import and compile them cold.
import './targets.js';
import './manager-targets.js';

if (isMainModule(import.meta)) {
  const only = process.argv[2];
  if (only === undefined || only === 'process') await (await import('./process.js')).benchProcess();
  if (only === undefined || only === 'process' || only === 'bursts') await (await import('./process.js')).benchBursts();
  if (only === undefined || only === 'process' || only === 'single-threaded') await (await import('./process.js')).benchSingleThreaded();
  if (only === undefined || only === 'pipe') await (await import('./pipe.js')).benchPipe();
  if (only === 'pipe-rt') await (await import('./pipe.js')).benchPipeRoundTrips(process.argv[3]);
  if (only === 'pipe-noaddon') await (await import('./pipe.js')).benchPipeNoAddon();
  if (only === 'queue-noaddon') await (await import('./queue.js')).benchQueueNoAddon();
  if (only === undefined || only === 'queue') await (await import('./queue.js')).benchQueue();
  if (only === undefined || only === 'pool') await (await import('./pool.js')).benchPool();
  if (only === 'pool-noaddon') await (await import('./pool.js')).benchPoolNoAddon();
  if (only === undefined || only === 'futures') await (await import('./futures.js')).benchFutures();
  if (only === undefined || only === 'sync') await (await import('./sync.js')).benchSync();
  if (only === 'sync-fallback') await (await import('./sync.js')).benchSyncFallback();
  if (only === undefined || only === 'managers') await (await import('./managers.js')).benchManagers();
  if (only === 'managers-rt') await (await import('./managers.js')).benchManagerCalls();
  if (only === 'managers-start') await (await import('./managers.js')).benchManagerStart();
  if (only === 'managers-first') await (await import('./managers.js')).benchManagerFirst();
  if (only === 'managers-updates') await (await import('./managers.js')).benchManagerUpdates(Number(process.argv[3] ?? 1));
  if (only === 'distributed') await (await import('./distributed.js')).benchDistributed();
}
