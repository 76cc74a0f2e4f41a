import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { deserialize, serialize } from 'node:v8';

/**
 * The control channel between a parent and its child: V8-serialized
 * messages, each framed by a 4-byte big-endian length, over a socket pair on
 * the child's fd 3. Unlike Node's IPC channel, nothing is read before the
 * bootstrap listens, so a message can never be emitted to nobody (with
 * `--import tsx`, IPC messages that arrive while the preload runs are lost),
 * and what a parent wrote stays readable after it dies, as in Python, whose
 * spawn hands the child its preparation data over a pipe.
 */
export class ControlChannel<In, Out> extends EventEmitter<{ message: [In]; close: [] }> {
  readonly #socket: Socket;
  #buffered: Buffer = Buffer.alloc(0);

  constructor(socket: Socket) {
    super();
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('close', () => this.emit('close'));
    // A peer that dies mid-write resets the connection: that is a close, not a crash.
    socket.on('error', () => socket.destroy());
  }

  send(message: Out): void {
    const body = serialize(message);
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(body.length);
    this.#socket.write(Buffer.concat([header, body]));
  }

  unref(): void {
    this.#socket.unref();
  }

  ref(): void {
    this.#socket.ref();
  }

  /** Closes this end without a word to anyone: a forked child drops the zygote's channel so. */
  abandon(): void {
    this.removeAllListeners();
    this.#socket.removeAllListeners();
    this.#socket.on('error', () => {});
    this.#socket.destroy();
    this.#buffered = Buffer.alloc(0);
  }

  #receive(chunk: Buffer): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    while (this.#buffered.length >= 4) {
      const length = this.#buffered.readUInt32BE(0);
      if (this.#buffered.length < 4 + length) break;
      const body = this.#buffered.subarray(4, 4 + length);
      this.#buffered = this.#buffered.subarray(4 + length);
      this.emit('message', deserialize(body) as In);
    }
  }
}
