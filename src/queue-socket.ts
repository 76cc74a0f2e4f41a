import { readSync, writeSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { ReadInto, SocketMaker } from './connection.js';
import { EOFError, OSError } from './errors.js';
import { handleToken, takeHandle, type PinnedHandle } from './launch/handles.js';
import { socketPair } from './socket-pair.js';

/**
 * One end of a Queue's socket pair where the native addon is missing (see
 * queue-fallback.ts): its socket (which may arrive a turn of the event loop
 * after the pair is made, as a Pipe's first end does), and what passing it
 * to a child needs: its handle, kept open until sent, however soon the queue
 * closes here.
 */
export class SocketEnd {
  #socket: Socket | null = null;
  readonly arrived: Promise<Socket>;
  #pins = 0;
  #closing = false;

  constructor(make: SocketMaker | Promise<SocketMaker>, onread: ReadInto, readable: boolean) {
    const build = (maker: SocketMaker): Socket => {
      const socket = maker(onread);
      socket.on('error', () => {}); // a peer gone shows as EOF (reader) or EPIPE (writer), where it is met
      socket.pause();
      socket.unref();
      if (!readable) socket.on('data', () => {});
      this.#socket = socket;
      if (this.#closing && this.#pins === 0) socket.destroy();
      return socket;
    };
    this.arrived = make instanceof Promise ? make.then(build) : Promise.resolve(build(make));
    this.arrived.catch(() => {});
  }

  /** The socket, or null while it arrives. */
  get socket(): Socket | null {
    return this.#socket;
  }

  /** The descriptor, or -1 (none yet, or no descriptors: Windows). */
  get fd(): number {
    const fd = (this.#socket as unknown as { _handle?: { fd?: number } | null } | null)?._handle?.fd;
    return typeof fd === 'number' ? fd : -1;
  }

  /** A token that carries this end to a child (launch/handles.ts). */
  token(): number {
    return handleToken(() => this.#pin());
  }

  close(): void {
    this.#closing = true;
    if (this.#pins === 0) this.#socket?.destroy();
  }

  #pin(): Promise<PinnedHandle> {
    if (this.#closing) throw new OSError('handle is closed');
    this.#pins += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#pins -= 1;
      if (this.#pins === 0 && this.#closing) this.#socket?.destroy();
    };
    return this.arrived.then((socket) => {
      const handle = (socket as unknown as { _handle?: object | null })._handle;
      if (handle == null) {
        release();
        throw new OSError('handle is closed');
      }
      return { handle, release };
    });
  }
}

/** A socket maker over a handle received from the parent (or a descriptor). */
export function makerFor(key: number): SocketMaker {
  const handle = takeHandle(key);
  return (onread) =>
    new Socket({ ...(handle === undefined ? { fd: key } : { handle }), allowHalfOpen: true, onread } as SocketConstructorOpts & { onread: ReadInto });
}

/** A fresh pair: [reader maker, writer maker] (the reader, usually the parent's, is the one that arrives later). */
export function queueSocketPair(): [Promise<SocketMaker>, SocketMaker] {
  const [connected, accepted] = socketPair();
  return [accepted, connected];
}

/**
 * Reads whole frames (a 4-byte big-endian length, then the body) from a
 * socket that other processes read too, and never a byte past the frame:
 * Node reads into the buffer we give it (`onread`), sized to what is left
 * of the frame, and stops when it is whole. Reads are tried at once,
 * without the event loop, when the bytes are already there.
 */
export class FrameReader {
  #header = Buffer.allocUnsafe(4);
  #target: Buffer = this.#header;
  #got = 0;
  #inBody = false;
  #waiting: { resolve(body: Buffer): void; reject(err: Error): void } | null = null;
  #ended = false;
  #end: SocketEnd | null = null;

  readonly onread: ReadInto = {
    buffer: () => this.#target.subarray(this.#got),
    callback: (bytesRead) => {
      this.#got += bytesRead;
      return this.#advance();
    },
  };

  attach(end: SocketEnd): void {
    this.#end = end;
    void end.arrived.then((socket) => {
      socket.on('end', () => this.#onEnd());
      socket.on('close', () => this.#onEnd());
    }, () => this.#onEnd());
  }

  /** Whether a frame has begun to come in (its bytes are owed to whoever reads next). */
  get partial(): boolean {
    return this.#got > 0 || this.#inBody;
  }

  /**
   * Tries to finish the frame without waiting: the body, or null if the
   * bytes are not all there yet. `spin`: keep trying while a frame has begun
   * (for the synchronous getNowait, whose writer is mid-write).
   */
  readNow(spinMs = 0): Buffer | null {
    const fd = this.#end?.fd ?? -1;
    if (fd < 0) return null;
    const until = Date.now() + spinMs;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, this.#target, this.#got, this.#target.length - this.#got, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        if (spinMs > 0 && this.partial && Date.now() < until) continue;
        return null;
      }
      if (n === 0) {
        this.#ended = true;
        throw new EOFError('got end of file during message');
      }
      this.#got += n;
      const body = this.#complete();
      if (body !== null) return body;
    }
  }

  /** The next frame's body, read by the event loop; the caller makes sure no one else reads meanwhile. */
  async read(): Promise<Buffer> {
    const now = this.readNow();
    if (now !== null) return now;
    if (this.#ended) throw new EOFError('got end of file during message');
    const socket = await this.#end!.arrived;
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiting = { resolve, reject };
      // The buffer Node holds was sized before any synchronous read: give it the one for what is left.
      (socket as unknown as { _handle?: { useUserBuffer?(b: Uint8Array): void } | null })._handle?.useUserBuffer?.(this.onread.buffer());
      socket.ref();
      socket.resume();
    });
  }

  /** Gives up waiting for a frame that has not begun (a timeout): false if it has begun, and must be read to its end. */
  cancel(): boolean {
    if (this.partial || this.#waiting === null) return false;
    this.#stop();
    this.#waiting = null;
    return true;
  }

  #stop(): void {
    const socket = this.#end?.socket;
    socket?.pause();
    socket?.unref();
  }

  /** After bytes came in from the event loop: false (stop reading) once the frame is whole. */
  #advance(): boolean {
    const body = this.#complete();
    if (body === null) return true;
    this.#stop();
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.resolve(body);
    return false;
  }

  /** The body if the frame is whole (and the reader set up for the next), else null. */
  #complete(): Buffer | null {
    if (this.#got < this.#target.length) return null;
    if (!this.#inBody) {
      const length = this.#header.readUInt32BE(0);
      this.#got = 0;
      if (length > 0) {
        this.#inBody = true;
        this.#target = Buffer.allocUnsafe(length);
        return null;
      }
      return Buffer.alloc(0);
    }
    const body = this.#target;
    this.#inBody = false;
    this.#target = this.#header = Buffer.allocUnsafe(4);
    this.#got = 0;
    return body;
  }

  #onEnd(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.reject(new EOFError('got end of file during message'));
  }
}

/** Writes `data` whole to the writer end: at once when the kernel takes it, else as it makes room. */
export async function writeWhole(end: SocketEnd, data: Buffer): Promise<void> {
  const socket = await end.arrived;
  let written = 0;
  if (end.fd >= 0 && socket.writableLength === 0) {
    try {
      written = writeSync(end.fd, data);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
  if (written === data.length) return;
  await new Promise<void>((resolve, reject) => {
    socket.ref();
    socket.write(data.subarray(written), (err) => {
      socket.unref();
      if (err) reject(err);
      else resolve();
    });
  });
}
