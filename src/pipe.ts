import { Socket, type SocketConstructorOpts } from 'node:net';
import { Connection, HAND_OVER, PIN_HANDLE, type ReadInto } from './connection.js';
import { handleToken, takeHandle } from './launch/handles.js';
import { native } from './native.js';
import { registerReducer } from './reduction.js';
import { socketPair } from './socket-pair.js';
import { validateBoolean } from './validate.js';

/**
 * Two connected ends, as Python's `multiprocessing.Pipe`: duplex (a Unix
 * socket pair) by default; `Pipe(false)` gives `[reader, writer]` over an OS
 * pipe. Pass an end to a child in `args`; each process keeps its own copy.
 * Without the native addon both are a stream-socket pair made through a
 * private listener, the first end connected a turn of the event loop later.
 */
export function Pipe<T = unknown>(duplex = true): [Connection<T>, Connection<T>] {
  validateBoolean(duplex, 'The "duplex" argument');
  const addon = native();
  if (addon === null) {
    // The accepted end comes later, so it goes first: the usual second end (the child's) has its descriptor at once.
    const [connected, accepted] = socketPair();
    return [new Connection<T>(accepted, { readable: true, writable: duplex }), new Connection<T>(connected, { readable: duplex, writable: true })];
  }
  if (duplex) {
    const [a, b] = addon.socketpair();
    return [connectionOnFd(a, true, true), connectionOnFd(b, true, true)];
  }
  const [reader, writer] = addon.pipe();
  return [connectionOnFd(reader, true, false), connectionOnFd(writer, false, true)];
}

// A Connection travels to a child as its file descriptor, which the child
// inherits; without the addon, as its socket's handle over Node's IPC channel.
// What this process has read from it and not delivered goes along (see HAND_OVER).
registerReducer<Connection>({
  name: 'Connection',
  matches: (value): value is Connection => value instanceof Connection,
  reduce: (connection, handles) => {
    const fd = handles.pass(native() === null ? handleToken(() => connection[PIN_HANDLE]()) : connection.fileno());
    const { unread, forget } = connection[HAND_OVER]();
    handles.afterHandOver(forget);
    return { fd, readable: connection.readable, writable: connection.writable, ...(unread !== null && { unread }) };
  },
  rebuild: (state, handles) => {
    const { fd, readable, writable, unread } = state as { fd: number; readable: boolean; writable: boolean; unread?: Uint8Array };
    return connectionOnFd(handles.fd(fd), readable, writable, unread);
  },
});

/** A Connection over a file descriptor this process owns: a Pipe's end, or one inherited from the parent (or its handle, received without the addon). */
export function connectionOnFd<T>(fd: number, readable: boolean, writable: boolean, unread?: Uint8Array): Connection<T> {
  const handle = takeHandle(fd);
  // onread: a paused socket must take nothing from the kernel (see Connection).
  const make = (onread: ReadInto): Socket =>
    new Socket({ ...(handle === undefined ? { fd } : { handle }), readable, writable, allowHalfOpen: true, onread } as SocketConstructorOpts & { onread: ReadInto });
  return new Connection<T>(make, { readable, writable, unread });
}
