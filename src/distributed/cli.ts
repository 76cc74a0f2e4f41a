import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { cpuCount } from '../context.js';
import { CONNECT_TIMEOUT_MS, reachable, redactedUrl, redisConnection } from './connect.js';
import { checkQueueName, checkRedisUrl } from './job.js';
import { WorkerService } from './serve.js';

const USAGE = `usage:
  multiproc worker redis://host:6379/0 [--queue NAME] [--processes N] [--concurrency N] [--root DIR] [--authkey KEY] [--lock-duration MS]
      takes chunks of Pool tasks from the queue (default "multiproc") and runs them in N local processes
      (default: the CPU count); task modules are found under --root (default: the current directory)
  multiproc status redis://host:6379/0 [--queue NAME]
      lists queues with their waiting, active, completed and failed jobs and their live workers`;

class UsageError extends Error {}

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} takes a whole number of 1 or more, not "${value}"`);
  return n;
}

/** The `multiproc` command; returns the exit code. */
export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'worker') return await worker(rest, out);
    if (command === 'status') return await status(rest, out);
    if (command === '--help' || command === '-h' || command === 'help') {
      out.write(`${USAGE}\n`);
      return 0;
    }
    throw new UsageError(command === undefined ? 'a command is needed' : `unknown command "${command}"`);
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      process.stderr.write(`multiproc: ${error.message.replace(/^multiproc: /, '')}\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

function parse(args: string[], options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>): { url: string; values: Record<string, string | undefined> } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length !== 1) throw new UsageError('give one Redis URL, like redis://localhost:6379/0');
  const url = parsed.positionals[0]!;
  checkRedisUrl(url);
  return { url, values: parsed.values as Record<string, string | undefined> };
}

async function worker(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { url, values } = parse(args, {
    queue: { type: 'string' },
    processes: { type: 'string' },
    concurrency: { type: 'string' },
    root: { type: 'string' },
    authkey: { type: 'string' },
    'lock-duration': { type: 'string' },
  });
  const queue = checkQueueName(values.queue ?? 'multiproc');
  const processes = positiveInt(values.processes, 'processes') ?? cpuCount();
  const service = await WorkerService.start({
    url,
    queue,
    processes,
    concurrency: positiveInt(values.concurrency, 'concurrency'),
    root: resolve(values.root ?? '.'),
    authkey: values.authkey ?? process.env.MULTIPROC_AUTHKEY ?? '',
    lockDuration: positiveInt(values['lock-duration'], 'lock-duration'),
  });
  out.write(`multiproc worker ${process.pid}: serving queue "${queue}" at ${redactedUrl(url)} with ${processes} processes (${service.label})\n`);
  let signals = 0;
  await new Promise<void>((done) => {
    const onSignal = (): void => {
      // The first signal finishes the jobs held; a second stops at once.
      void service.stop(++signals > 1).then(done);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  out.write(`multiproc worker ${process.pid}: stopped\n`);
  return 0;
}

async function status(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { url, values } = parse(args, { queue: { type: 'string' } });
  let failure: Error | null = null;
  const client = redisConnection(url, (error) => (failure ??= error));
  try {
    await reachable(client, url, CONNECT_TIMEOUT_MS).catch((error: Error) => {
      throw new Error(`${error.message}${error.cause === undefined && failure !== null ? ` (${(failure as Error).message})` : ''}`);
    });
    let names: string[];
    if (values.queue !== undefined) names = [checkQueueName(values.queue)];
    else {
      // BullMQ keeps a meta hash per queue: bull:<name>:meta.
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await client.scan(cursor, 'MATCH', 'bull:*:meta', 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
      names = keys.map((key) => key.slice('bull:'.length, -':meta'.length)).sort();
    }
    out.write(`${redactedUrl(url)}: ${names.length} queue${names.length === 1 ? '' : 's'}\n`);
    for (const name of names) {
      const queue = new Queue(name, { connection: client });
      try {
        const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
        const workers = await queue.getWorkers();
        out.write(`queue ${name}: waiting ${counts.waiting ?? 0}, active ${counts.active ?? 0}, completed ${counts.completed ?? 0}, failed ${counts.failed ?? 0}, delayed ${counts.delayed ?? 0}; ${workers.length} worker${workers.length === 1 ? '' : 's'}\n`);
        for (const w of workers) out.write(`  worker ${(w.rawname ?? '?').split(':w:')[1] ?? '(unnamed)'} from ${w.addr ?? '?'}, connected ${w.age ?? '?'} s\n`);
      } finally {
        await queue.close();
      }
    }
    return 0;
  } finally {
    client.disconnect();
  }
}
