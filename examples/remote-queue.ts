// Python's "queue on a server, workers on other hosts": a BaseManager
// serves two queues at a TCP address with a key; workers that know only the
// address and the key connect and take jobs. Run as it is, everything runs on
// this machine (127.0.0.1); on several machines, run
//   npx tsx remote-queue.ts serve 0.0.0.0 50000          (on the server)
//   npx tsx remote-queue.ts work SERVER-IP 50000         (on each worker)
//   npx tsx remote-queue.ts submit SERVER-IP 50000 100   (anywhere)
import { BaseManager, isMainModule, Process, Queue, type BaseProxy } from 'multiproc';

const authkey = Buffer.from('abracadabra');

/** A queue in the server's memory; `get` waits for an item. */
class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiting: Array<(item: T) => void> = [];

  put(item: T): void {
    const taker = this.#waiting.shift();
    if (taker) taker(item);
    else this.#items.push(item);
  }

  get(): T | Promise<T> {
    if (this.#items.length > 0) return this.#items.shift()!;
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}

type Job = number | null;
type Result = [job: number, square: number, pid: number];
type InboxProxy<T> = BaseProxy & { put(item: T): Promise<void>; get(): Promise<T> };

const jobs = new Inbox<Job>();
const results = new Inbox<Result>();

function getJobs(): Inbox<Job> {
  return jobs;
}

function getResults(): Inbox<Result> {
  return results;
}

/** The server side registers the callables that make (here: return) the shared objects. */
class QueueManager extends BaseManager {
  declare getJobs: () => Promise<InboxProxy<Job>>;
  declare getResults: () => Promise<InboxProxy<Result>>;
}
QueueManager.register('getJobs', getJobs);
QueueManager.register('getResults', getResults);

/** A client registers the same typeids without callables. */
class QueueClient extends BaseManager {
  declare getJobs: () => Promise<InboxProxy<Job>>;
  declare getResults: () => Promise<InboxProxy<Result>>;
}
QueueClient.register('getJobs');
QueueClient.register('getResults');

async function serve(host: string, port: number, report?: Queue<number>): Promise<void> {
  const server = new QueueManager({ address: { host, port }, authkey }).getServer();
  const { port: chosen } = server.address as { port: number };
  if (report) await report.put(chosen);
  else console.log(`serving on ${host}:${chosen}`);
  await server.serveForever();
}

async function work(host: string, port: number): Promise<void> {
  const manager = await new QueueClient({ address: { host, port }, authkey }).connect();
  const [todo, done] = [await manager.getJobs(), await manager.getResults()];
  for (let job = await todo.get(); job !== null; job = await todo.get()) await done.put([job, job * job, process.pid]);
}

async function submit(host: string, port: number, count: number, workers: number): Promise<string> {
  const manager = await new QueueClient({ address: { host, port }, authkey }).connect();
  const [todo, done] = [await manager.getJobs(), await manager.getResults()];
  for (let i = 1; i <= count; i++) await todo.put(i);
  for (let i = 0; i < workers; i++) await todo.put(null); // one stop sign per worker
  let sum = 0;
  const pids = new Set<number>();
  for (let i = 0; i < count; i++) {
    const [, square, pid] = await done.get();
    sum += square;
    pids.add(pid);
  }
  await manager.shutdown();
  return `${count} squares from ${pids.size} worker process(es): sum ${sum}`;
}

if (isMainModule(import.meta)) {
  const [mode, host = '127.0.0.1', port = '50000', count = '10', workers = '1'] = process.argv.slice(2);
  if (mode === 'serve') await serve(host, Number(port));
  else if (mode === 'work') await work(host, Number(port));
  else if (mode === 'submit') console.log(await submit(host, Number(port), Number(count), Number(workers)));
  else {
    // All on this machine: a server process, two workers that get only the address and the key.
    const report = new Queue<number>();
    const server = new Process({ target: serve, args: ['127.0.0.1', 0, report] });
    server.start();
    const chosen = await report.get();
    const team = [1, 2].map(() => new Process({ target: work, args: ['127.0.0.1', chosen] }));
    for (const w of team) w.start();
    console.log(await submit('127.0.0.1', chosen, 10, team.length));
    for (const w of team) await w.join();
    server.terminate();
    await server.join();
    console.log(`workers exited with ${team.map((w) => w.exitCode).join(', ')}; server stopped`);
  }
}
