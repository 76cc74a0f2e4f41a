import { Socket, type SocketConstructorOpts } from 'node:net';
import { Connection, type ReadInto } from './connection.js';
import { OSError } from './errors.js';
import { native, nativeUnavailableReason } from './native.js';
import { registerReducer } from './reduction.js';
import { validateBoolean } from './validate.js';

/**
 * Two connected ends, as Python's `multiprocessing.Pipe`: duplex (a Unix
 * socket pair) by default; `Pipe(false)` gives `[reader, writer]` over an OS
 * pipe. Pass an end to a child in `args`; each process keeps its own copy.
 */
export function Pipe<T = unknown>(duplex = true): [Connection<T>, Connection<T>] {
  validateBoolean(duplex, 'The "duplex" argument');
  const addon = native();
  if (addon === null) {
    throw new OSError(
      `Pipe() needs multiproc's native addon, which could not be loaded (${nativeUnavailableReason()}). ` +
        'Reinstall with npm ci, where a C++ compiler and Node\'s headers are available, to build it.',
    );
  }
  if (duplex) {
    const [a, b] = addon.socketpair();
    return [connectionOnFd(a, true, true), connectionOnFd(b, true, true)];
  }
  const [reader, writer] = addon.pipe();
  return [connectionOnFd(reader, true, false), connectionOnFd(writer, false, true)];
}

// A Connection travels to a child as its file descriptor, which the child inherits.
registerReducer<Connection>({
  name: 'Connection',
  matches: (value): value is Connection => value instanceof Connection,
  reduce: (connection, handles) => ({ fd: handles.pass(connection.fileno()), readable: connection.readable, writable: connection.writable }),
  rebuild: (state, handles) => {
    const { fd, readable, writable } = state as { fd: number; readable: boolean; writable: boolean };
    return connectionOnFd(handles.fd(fd), readable, writable);
  },
});

/** A Connection over a file descriptor this process owns: a Pipe's end, or one inherited from the parent. */
export function connectionOnFd<T>(fd: number, readable: boolean, writable: boolean): Connection<T> {
  // onread: a paused socket must take nothing from the kernel (see Connection).
  const make = (onread: ReadInto): Socket => new Socket({ fd, readable, writable, allowHalfOpen: true, onread } as SocketConstructorOpts & { onread: ReadInto });
  return new Connection<T>(make, { readable, writable });
}
