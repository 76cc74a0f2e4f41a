import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, Socket, type NetConnectOpts, type Server, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ReadInto, SocketMaker } from './connection.js';
import { OSError } from './errors.js';
import { nativeUnavailableReason } from './native.js';

/**
 * Connected stream-socket pairs made with Node alone, for a Pipe where the
 * native addon (socketpair(2)) is missing: a listener of this process's own,
 * on a Unix socket in a private folder (0700, made by mkdtemp; a named pipe
 * on Windows), which each pair connects to. Binding, listening and a local
 * connect happen at once, in the call, so the connecting end is usable at
 * once; the accepted end arrives on the next turn of the event loop, which a
 * Connection built on a promise of its socket waits for. The folder goes
 * when the process exits.
 */
let listener: { server: Server; address: string; folder: string | null } | null = null;
/** Accepted ends are handed out in the order their peers connected (the kernel's accept queue is FIFO). */
const waiting: Array<{ resolve(accepted: Socket): void; reject(err: Error): void }> = [];
/**
 * Connects that may wait in the kernel's accept queue at once: the smallest
 * default backlog among the platforms (macOS's somaxconn). Past it a connect
 * could be refused, and the ends handed out in order would no longer match.
 */
const MAX_WAITING = 128;

function listen(): { server: Server; address: string } {
  if (listener !== null) return listener;
  const folder = process.platform === 'win32' ? null : mkdtempSync(join(tmpdir(), 'multiproc-pairs-'));
  const address = folder === null ? `\\\\.\\pipe\\multiproc-pairs-${process.pid}-${randomBytes(8).toString('hex')}` : join(folder, 'pairs');
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
  if (folder !== null) process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  listener = { server, address, folder };
  return listener;
}

/** The connecting end's maker: `onread` may be left out (a Pool's port reads with 'data' events). */
export type ConnectingMaker = (onread?: ReadInto) => Socket;

/**
 * A connected pair: the first end's socket maker (connected now) and a
 * promise of the second's (accepted on the next turn of the event loop).
 */
export function socketPair(): [ConnectingMaker, Promise<SocketMaker>] {
  const { server, address } = listen();
  if (waiting.length >= MAX_WAITING) {
    throw new OSError(
      `Pipe(): ${MAX_WAITING} Pipes were made in this turn of the event loop, the most that can be made in one without multiproc's native addon ` +
        `(${nativeUnavailableReason()}); await a turn (for example await new Promise(setImmediate)) between batches, or install the addon.`,
    );
  }
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
