// The bare BullMQ worker of `npm run bench distributed`: x => x * 2 on its own event loop, concurrency 16.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [url, queue] = process.argv.slice(2);
const worker = new Worker(queue, async (job) => job.data.x * 2, { connection: new Redis(url, { maxRetriesPerRequest: null }), concurrency: 16 });
await worker.waitUntilReady();
process.send?.('ready');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
