// The leanest worker the distributed Pool's design allows, for `npm run bench
// distributed`: a bare BullMQ worker (as bullmq-worker.mjs, concurrency 16)
// that runs each job's x => x * 2 in a child process of its own rather than
// on its event loop, as `multiproc worker` must. One child, fed over its
// stdin and answering on its stdout, a line of JSON a job each way: no
// authentication, no codec, no function lookup, no error forwarding.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const CHILD = `
const { createInterface } = require('node:readline');
createInterface({ input: process.stdin }).on('line', (line) => {
  const [id, x] = JSON.parse(line);
  process.stdout.write(JSON.stringify([id, x * 2]) + '\\n');
});
`;

const [url, queue] = process.argv.slice(2);
const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
const waiting = new Map();
let next = 0;
createInterface({ input: child.stdout }).on('line', (line) => {
  const [id, value] = JSON.parse(line);
  waiting.get(id)?.(value);
  waiting.delete(id);
});
const inChild = (x) =>
  new Promise((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    child.stdin.write(JSON.stringify([id, x]) + '\n');
  });
const worker = new Worker(queue, async (job) => inChild(job.data.x), { connection: new Redis(url, { maxRetriesPerRequest: null }), concurrency: 16 });
await worker.waitUntilReady();
await inChild(0);
process.send?.('ready');
process.on('SIGTERM', () => void worker.close().then(() => (child.kill(), process.exit(0))));
