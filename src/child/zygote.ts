/**
 * The zygote's side of the forking forkserver: once the main module is
 * loaded, each `fork` message forks one child, from a macrotask of its own so
 * that nothing the zygote had queued runs again in the child. The zygote reaps
 * its children on SIGCHLD and tells the parent how each ended.
 */
import { closeSync, writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ControlChannel } from '../launch/channel.js';
import { FD_CHANNEL_IN_CHILD } from '../launch/command.js';
import type { FromChild, ToChild } from '../launch/protocol.js';
import { requireNative, zygoteNative, type ZygoteNative } from '../native.js';
import { FORK_REFUSED_THREADS, quiesce, workerThreadCount } from './quiesce.js';
import { warmUp } from './warm-up.js';

/** Retry a fork refused while requests were in flight (the main module's own I/O) this often. */
const BUSY_RETRY_MS = 1;
const EBUSY = 16;


export interface ForkedChannels {
  control: number;
  fdChannel: number;
}

/**
 * Serves fork requests; `becomeChild` runs in each forked child (and never
 * returns to the zygote's work). `ready` settles once the main module is loaded.
 */
export function serveForks(channel: ControlChannel<ToChild, FromChild>, daemon: boolean, ready: Promise<unknown>, becomeChild: (channels: ForkedChannels) => void): void {
  const addon = zygoteNative();
  if (addon === null) throw new Error('multiproc: the forking forkserver needs the fork functions of the native addon (native/zygote.cc), which did not load');
  process.title = 'node multiproc: forkserver';
  let pending = 0;
  let scheduled = false;
  let loaded = false;
  const children = new Set<number>();

  const reapChildren = (): void => {
    const ended = addon.reap([...children]);
    for (let i = 0; i < ended.length; i += 2) {
      children.delete(ended[i]!);
      channel.send({ t: 'exit', pid: ended[i]!, code: ended[i + 1]! });
    }
  };
  process.on('SIGCHLD', reapChildren);

  const serve = (): void => {
    scheduled = false;
    // A thread the child would lack (the main module started a Worker, or a loader keeps its hooks on one): refuse.
    // Counted once a turn: no JavaScript but this loop runs in it, so none can start one meanwhile (a burst is one turn).
    const refuse = pending > 0 && workerThreadCount() > 0;
    while (pending > 0) {
      const channels = receive();
      const pid = refuse ? FORK_REFUSED_THREADS : addon.fork(daemon);
      if (pid === 0) {
        process.removeListener('SIGCHLD', reapChildren);
        return becomeChild(channels);
      }
      if (pid === -EBUSY) {
        // Requests in flight would never complete in the child: fork from a quiet moment.
        requeue(channels);
        setTimeout(serve, BUSY_RETRY_MS);
        scheduled = true;
        return;
      }
      pending -= 1;
      closeSync(channels.control);
      closeSync(channels.fdChannel);
      if (pid > 0) children.add(pid);
      answer(pid);
    }
  };

  // The two ends of a request wait on the fd channel; one refused for EBUSY is kept for the retry.
  let held: ForkedChannels | null = null;
  const receive = (): ForkedChannels => {
    if (held !== null) {
      const channels = held;
      held = null;
      return channels;
    }
    const [control, fdChannel] = requireNative('the forkserver').recvFds(FD_CHANNEL_IN_CHILD);
    return { control: control!, fdChannel: fdChannel! };
  };
  const requeue = (channels: ForkedChannels): void => void (held = channels);

  const answer = (pid: number): void => {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32LE(pid);
    writeSync(FD_CHANNEL_IN_CHILD, buffer);
  };

  const schedule = (): void => {
    if (scheduled || !loaded || pending === 0) return;
    scheduled = true;
    setImmediate(serve);
  };

  channel.on('message', (message) => {
    if (message.t !== 'fork') return;
    pending += 1;
    schedule();
  });
  void ready.then(warmUp).then(quiesce).then(() => {
    emptyTheNursery();
    loaded = true;
    schedule();
  });
}

/**
 * A child inherits the zygote's young generation, which the loading of
 * modules leaves nearly full: each child's first scavenge (a V8 task soon
 * after the fork) then copies what the zygote allocated, page by page through
 * copy-on-write faults, 20-35 ms measured in half of a manager's servers,
 * before their first reply. And each page of it costs a child a page fault
 * the first time it allocates there: loading grows it to 4 MB (a manager's
 * client: 2,600 faults in its first 10,000 calls with 8 MB, 1,700 with 4).
 * A last-resort collection moves the survivors to the old generation and
 * shrinks the young one to its least (1 MB, or node's --min-semi-space-size),
 * from which a child grows it as its own allocations need; it also compacts
 * the old generation, which fork() then copies fewer page-table entries of
 * (Node 24: the zygote 83 -> 78 MB resident; 4 x 10,000 manager updates: the
 * clients' kernel time in their first 5000 calls a third less, the program
 * 3-8% faster in three pairs).
 */
function emptyTheNursery(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'major'; flavor: 'last-resort' }) => void;
  setFlagsFromString('--no-expose-gc');
  gc({ type: 'major', flavor: 'last-resort' });
}

export type { ZygoteNative };
