import { createServer, Socket, type Server } from 'node:net';
import { ControlChannel } from '../launch/channel.js';
import { native } from '../native.js';
import { connectionOnFd, Pipe } from '../pipe.js';
import { dumpsForChild, loadsInChild } from '../reduction.js';

/**
 * Code that children commonly run first, run once in the zygote before it
 * forks: a forked child inherits the zygote's loaded modules and compiled
 * functions, while what it runs for the first time itself is compiled cold,
 * several times slower than in a fresh node (`listen()` loads `cluster` and
 * compiles the listen path: 7-25 ms in a forked child, under 1 ms warm). A
 * manager's server, and any child that serves a Listener, starts so.
 */
export async function warmUp(): Promise<void> {
  await rehearseTheChannel();
  await rehearseAConnection();
  await warmUpListen();
}

/**
 * What every forked child does first: drop the zygote's channel (destroying
 * a socket makes Node create process.stderr), take its own (a Socket on a
 * descriptor), read its job and decode it; and what most children do next,
 * print (Node creates process.stdout on first use). Run here once, over a
 * socket pair, each child finds this code compiled and these objects made;
 * on a host where a page fault costs 10-20 us, what a child does for the
 * first time costs mostly the pages it touches.
 */
async function rehearseTheChannel(): Promise<void> {
  void process.stdout;
  void process.stderr;
  const addon = native();
  if (addon === null) return;
  const [here, there] = addon.socketpair();
  const receiving = new ControlChannel<{ t: string }, never>(new Socket({ fd: here, readable: true, writable: true }));
  const sending = new ControlChannel<never, { t: string; payload: Uint8Array; names: string[] }>(new Socket({ fd: there, readable: true, writable: true }));
  try {
    const received = new Promise((resolve) => receiving.once('message', resolve));
    sending.send({ t: 'job', payload: new Uint8Array(64), names: ['a rehearsal', 'of a job'] });
    await received;
  } finally {
    receiving.abandon();
    sending.abandon();
  }
}

/**
 * A Connection among a job's arguments, as a manager's server receives its
 * starter's (and many targets a Pipe end): rebuilt from its descriptor, read
 * and written. A forked manager server spent 2-3 ms and 45 page faults on
 * this alone before it could answer.
 */
async function rehearseAConnection(): Promise<void> {
  const addon = native();
  if (addon === null) return;
  const [mine, theirs] = Pipe<Uint8Array>();
  const [here, there] = addon.socketpair();
  const { bytes } = dumpsForChild([{ connection: theirs, key: new Uint8Array(32) }], 'a rehearsal');
  const [{ connection: rebuilt }] = loadsInChild(bytes, { fd: () => here }) as [{ connection: typeof mine }];
  const peer = connectionOnFd<Uint8Array>(there, true, true);
  try {
    peer.send(new Uint8Array(64));
    rebuilt.send(await rebuilt.recv());
    await peer.recv();
  } finally {
    for (const connection of [mine, theirs, rebuilt, peer]) connection.close();
  }
}

async function warmUpListen(): Promise<void> {
  const listens: ((server: Server, done: () => void) => void)[] = [(server, done) => server.listen({ port: 0, host: '127.0.0.1' }, done)];
  // Listeners' default address on Linux: an abstract Unix socket (nothing on disk).
  if (process.platform === 'linux') listens.push((server, done) => server.listen({ path: `\0multiproc-warm-up-${process.pid}` }, done));
  for (const listen of listens) {
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        listen(server, resolve);
      });
    } catch {
      // an optimisation only: a zygote that cannot listen forks all the same
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
