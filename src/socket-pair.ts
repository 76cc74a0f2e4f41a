import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, Socket, type NetConnectOpts, type Server, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ReadInto, SocketMaker } from './connection.js';

/**
 * Connected stream-socket pairs made with Node alone, for a Pipe where the
 * native addon (socketpair(2)) is missing: listeners of this process's own,
 * on Unix sockets in a private folder (0700, made by mkdtemp; named pipes
 * on Windows), which each pair connects to. Binding, listening and a local
 * connect happen at once, in the call, so the connecting end is usable at
 * once; the accepted end arrives on the next turn of the event loop, which a
 * Connection built on a promise of its socket waits for. The folder goes
 * when the process exits.
 */
interface PairListener {
  server: Server;
  address: string;
  /** Accepted ends are handed out in the order their peers connected (a listener's accept queue is FIFO). */
  waiting: Array<{ resolve(accepted: Socket): void; reject(err: Error): void }>;
}
const listeners: PairListener[] = [];
let folder: string | null | undefined;
/**
 * Connects that may wait in one listener's accept queue at once: the
 * smallest default backlog among the platforms (macOS's somaxconn, and
 * Linux's before 5.4). Past it a connect could be refused, and the ends
 * handed out in order would no longer match: the pairs made in one turn
 * past that many go through another listener (a Pool of 200 workers makes
 * 200 at once).
 */
const MAX_WAITING = 128;

function listenerWithRoom(): PairListener {
  const found = listeners.find((l) => l.waiting.length < MAX_WAITING);
  if (found !== undefined) return found;
  if (folder === undefined) {
    folder = process.platform === 'win32' ? null : mkdtempSync(join(tmpdir(), 'multiproc-pairs-'));
    const made = folder;
    if (made !== null) process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  const address = folder === null ? `\\\\.\\pipe\\multiproc-pairs-${process.pid}-${randomBytes(8).toString('hex')}` : join(folder, `pairs-${listeners.length}`);
  const waiting: PairListener['waiting'] = [];
  // Not reading until a Connection takes the socket over (with onread).
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
    const take = waiting.shift();
    if (take === undefined) accepted.destroy();
    else take.resolve(accepted);
    if (waiting.length === 0) server.unref();
  });
  server.on('error', (err) => {
    for (const take of waiting.splice(0)) take.reject(err);
  });
  server.listen({ path: address, backlog: 511 });
  server.unref();
  const listener = { server, address, waiting };
  listeners.push(listener);
  return listener;
}

/** The connecting end's maker: `onread` may be left out (a Pool's port reads with 'data' events). */
export type ConnectingMaker = (onread?: ReadInto) => Socket;

/**
 * A connected pair: the first end's socket maker (connected now) and a
 * promise of the second's (accepted on the next turn of the event loop).
 */
export function socketPair(): [ConnectingMaker, Promise<SocketMaker>] {
  const { server, address, waiting } = listenerWithRoom();
  const accepted = new Promise<SocketMaker>((resolve, reject) => {
    waiting.push({ resolve: (socket) => resolve((onread) => takeOver(socket, onread)), reject });
  });
  // Alive until the accepted end is here: someone may already wait on it.
  server.ref();
  const connecting: ConnectingMaker = (onread) => connect({ path: address, allowHalfOpen: true, onread } as NetConnectOpts);
  return [connecting, accepted];
}

/** The accepted socket's libuv handle, moved to a Socket with `onread` (as Listener does: net.Server offers no onread). */
export function takeOver(accepted: Socket, onread?: ReadInto): Socket {
  const holder = accepted as unknown as { _handle: object | null };
  const handle = holder._handle;
  holder._handle = null;
  return new Socket({ handle, onread, readable: true, writable: true, allowHalfOpen: true } as SocketConstructorOpts & { handle: object | null; onread?: ReadInto });
}
