import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { decode, encode } from '../../codec.js';
import { current } from '../../current.js';
import { AssertionError, OSError, ValueError } from '../../errors.js';
import { registerAfterFork } from '../../afterfork.js';
import { FrameParser, header } from '../../framing.js';
import { BrokenBarrierError, OwnerDiedError } from '../errors.js';
import { FAILED, LINK_CONNECT_MS, RUNNING, SET_UP, type LinkData, type LinkOutcome } from './client-thread-protocol.js';
import type { Fifos, RemoteOp, RemoteRef, Reply, Request } from './protocol.js';

/** This thread's identity as a holder: RLock ownership is per (process, thread), as with the addon. */
let OWNER = `${process.pid}:${(require('node:worker_threads') as typeof import('node:worker_threads')).threadId}`;
// A child forked from the forkserver's zygote is another holder (forking happens on the main thread).
registerAfterFork(() => (OWNER = `${process.pid}:0`));

/** A worker thread's script beside this file: .js once built, .ts under tsx (the worker inherits its loader flags). */
export function threadScript(name: string): string {
  return join(__dirname, name + extname(__filename));
}

/**
 * The node flags of such a thread: none once built, so that the parent's
 * `--import` hooks (tsx, for one) are not loaded again in every link's
 * thread, which took 2-3 times as long to start with them; the parent's
 * under tsx, which the .ts script needs.
 */
export function threadExecArgv(): string[] | undefined {
  return extname(__filename) === '.js' ? [] : undefined;
}

/** The prefix of a link's FIFO folder, then the pid of its process (see removeLeftovers in ./server.ts). */
export const LINK_DIR_PREFIX = 'multiproc-link-';

/**
 * How long a blocked call waits for the link's thread to start running its
 * script. A worker thread boots a whole node environment (about 0.1 s of
 * CPU), so on a loaded machine, with several processes starting theirs at
 * once, this took over 10 s: the thread is given up on only when this
 * process has used (almost) no CPU for THREAD_IDLE_MS while it waited (its
 * only other thread at work would be the booting one: one that failed uses none), or
 * after THREAD_START_MS in any case. Once it runs, the thread reports within
 * its own deadline for reaching the server (LINK_CONNECT_MS, ./client-thread.ts).
 */
const THREAD_IDLE_MS = 5_000;
/** Using CPU: this much in one START_CHECK_MS, ten times what this blocked thread's own wake-up costs. */
const THREAD_PROGRESS_US = 1_000;
const THREAD_START_MS = 60_000;
/** The server's answer, once the thread runs: the thread's deadline to connect, and time to report. */
const LINK_MS = LINK_CONNECT_MS + 5_000;
const START_CHECK_MS = 100;

/** What some requests add: a Condition's lock, notify's count, a Value's or an Array's index and contents. */
type Extra = Pick<Request, 'lock' | 'n' | 'index' | 'value'>;

/**
 * This thread's link to one sync server. Requests and replies travel on
 * three FIFOs between this thread and the server, so that no other thread
 * relays them: requests (every one, in the order made, written here with a
 * blocking write), replies to blocking calls (read here with a blocking
 * read: `acquireSync` and friends wait in the kernel, with no busy loop and
 * no thread hop), and replies to async calls (read by the event loop).
 * Node cannot connect a socket synchronously, so a worker thread
 * (./client-thread.ts) sets the link up once: it connects to the server's
 * socket, passes Python's authkey handshake, has the server open the FIFOs,
 * and keeps the connection, whose end tells the server this process is gone.
 */
class ServerLink {
  readonly #address: string;
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  readonly #outcome: MessagePort;
  readonly #threadStartDeadline = Date.now() + THREAD_START_MS;
  /** When this thread first saw the link's thread running (null: not yet). */
  #threadRunningSince: number | null = null;
  readonly #dir: string;
  readonly #fifos: Fifos;
  /** Until set up: the readers the server's writers need (non-blocking, so opening them does not wait). */
  readonly #syncEarly: number;
  readonly #asyncEarly: number;
  #requestFd = -1;
  #syncFd = -1;
  #asyncSocket: Socket | null = null;
  readonly #parser = new FrameParser();
  /** Async calls waiting for their reply, by seq. */
  readonly #pending = new Map<number, (reply: Reply) => void>();
  /** Requests made before the link was set up, in order, with the time their wait must end (null: none). */
  #queued: Array<{ request: Request; deadline: number | null }> = [];
  /** Why the link is broken, once it is: every call fails with it. */
  #failure: string | null = null;
  #seq = 0;

  constructor(address: string) {
    this.#address = address;
    // The FIFOs live in a private folder only until the server has opened them.
    this.#dir = mkdtempSync(join(tmpdir(), `${LINK_DIR_PREFIX}${process.pid}-`));
    this.#fifos = { requests: join(this.#dir, 'requests'), syncReplies: join(this.#dir, 'sync'), asyncReplies: join(this.#dir, 'async') };
    if (process.platform === 'win32') {
      this.#removeFolder();
      throw new OSError(
        'multiproc: locks, events, semaphores, conditions, barriers and shared Values need either the native addon (Linux) or FIFOs (macOS, the BSDs), and Windows (win32) has neither: ' +
          'they are not supported on Windows. Run the program under WSL, where both are available.',
      );
    }
    try {
      execFileSync('mkfifo', ['-m', '600', this.#fifos.requests, this.#fifos.syncReplies, this.#fifos.asyncReplies], { stdio: 'ignore' });
    } catch (error) {
      this.#removeFolder();
      throw new OSError(`multiproc: cannot make the FIFOs of the link to the sync server (mkfifo: ${(error as Error).message})`);
    }
    // Removed once the server has opened them, or as this process exits before that.
    process.on('exit', this.#removeFolder);
    this.#syncEarly = openSync(this.#fifos.syncReplies, constants.O_RDONLY | constants.O_NONBLOCK);
    this.#asyncEarly = openSync(this.#fifos.asyncReplies, constants.O_RDONLY | constants.O_NONBLOCK);
    const channel = new MessageChannel();
    this.#outcome = channel.port1;
    const data: LinkData = { address, authkey: current.authkey, fifos: this.#fifos, flag: this.#flag, outcome: channel.port2 };
    const worker = new Worker(threadScript('client-thread'), { workerData: data, transferList: [channel.port2], execArgv: threadExecArgv() });
    // The link never keeps the process alive by itself; async calls waiting for a reply do.
    worker.unref();
    worker.on('error', (error) => this.#fail(`its thread failed: ${error.message}`));
    this.#outcome.on('message', (outcome: LinkOutcome) => this.#settle(outcome));
    this.#outcome.unref();
  }

  call(ref: RemoteRef, op: RemoteOp, timeoutMs: number | null = null, extra: Extra = {}): Promise<Reply> {
    const seq = ++this.#seq;
    if (this.#failure !== null) return Promise.resolve(this.#failed(seq));
    return new Promise((settle) => {
      this.#pending.set(seq, settle);
      this.#hold();
      const request: Request = { seq, ref, op, owner: OWNER, timeoutMs, ...extra };
      if (this.#requestFd >= 0 || timeoutMs === null) return this.#send(request);
      // The call's deadline runs from now, not from when the link is up: still queued then, it times out here.
      const queued = { request, deadline: Date.now() + timeoutMs };
      this.#queued.push(queued);
      setTimeout(() => {
        const at = this.#queued.indexOf(queued);
        if (at < 0) return;
        this.#queued.splice(at, 1);
        this.#deliver(this.#timedOut(request));
      }, timeoutMs).unref();
    });
  }

  /** Blocks this thread until the answer comes (a negative seq routes it to the blocking FIFO). */
  callSync(ref: RemoteRef, op: RemoteOp, timeoutMs: number | null = null, extra: Extra = {}): Reply {
    const seq = -++this.#seq;
    if (this.#failure === null && this.#requestFd < 0) {
      const deadline = timeoutMs === null ? null : Date.now() + timeoutMs;
      this.#awaitSetUp(deadline);
      // Not up by the call's own deadline: it times out, as it would have waiting on the server.
      if (this.#failure === null && this.#requestFd < 0) return this.#timedOut({ seq, ref, op, owner: OWNER, timeoutMs, ...extra });
      if (deadline !== null) timeoutMs = Math.max(0, deadline - Date.now());
    }
    if (this.#failure !== null) return this.#failed(seq);
    this.#send({ seq, ref, op, owner: OWNER, timeoutMs, ...extra });
    if (this.#failure !== null) return this.#failed(seq);
    try {
      // One blocking call at a time per thread: the next reply on this FIFO is ours.
      return this.#readSyncReply();
    } catch (error) {
      this.#fail((error as Error).message);
      return this.#failed(seq);
    }
  }

  #send(request: Request): void {
    if (this.#requestFd < 0) {
      this.#queued.push({ request, deadline: null });
      return;
    }
    const body = encode(request, 'a request to the sync server');
    const frame = Buffer.concat([header(body.length), body]);
    try {
      for (let done = 0; done < frame.length; ) done += writeSync(this.#requestFd, frame, done);
    } catch (error) {
      // EPIPE: the server has gone (the process that started it exited).
      this.#fail(`the server has gone (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the process that started it has exited`);
    }
  }

  #readSyncReply(): Reply {
    const head = this.#readExactly(4);
    let length = head.readInt32BE(0);
    if (length === -1) length = Number(this.#readExactly(8).readBigUInt64BE(0));
    return decode(this.#readExactly(length)) as Reply;
  }

  #readExactly(length: number): Buffer {
    const buffer = Buffer.allocUnsafe(length);
    for (let done = 0; done < length; ) {
      const n = readSync(this.#syncFd, buffer, done, length - done, null);
      if (n === 0) throw new Error('the server closed the link; the process that started it has exited');
      done += n;
    }
    return buffer;
  }

  /** Blocks until the link thread has set the link up (or failed, or is late), or until `callDeadline`. */
  #awaitSetUp(callDeadline: number | null): void {
    let cpu = cpuMicroseconds();
    let busyAt = Date.now();
    for (;;) {
      const state = Atomics.load(this.#flag, 0);
      if (state === SET_UP || state === FAILED) break;
      const now = Date.now();
      if (callDeadline !== null && now >= callDeadline) return;
      if (state === RUNNING) this.#threadRunningSince ??= now;
      if (this.#threadRunningSince === null) {
        const used = cpuMicroseconds();
        if (used - cpu >= THREAD_PROGRESS_US) busyAt = now;
        cpu = used;
        const idle = now - busyAt > THREAD_IDLE_MS;
        if (idle || now > this.#threadStartDeadline) {
          const why = idle ? `this process has used no CPU for ${THREAD_IDLE_MS / 1000} s while it waited` : `not within ${THREAD_START_MS / 1000} s`;
          this.#fail(`its thread (${threadScript('client-thread')}) did not start: ${why}`);
          return;
        }
      } else if (now > this.#threadRunningSince + LINK_MS) {
        this.#fail(`its thread did not report within ${LINK_MS / 1000} s`);
        return;
      }
      const slice = callDeadline === null ? START_CHECK_MS : Math.min(START_CHECK_MS, callDeadline - now);
      Atomics.wait(this.#flag, 0, state, slice);
    }
    this.#settle();
  }

  /**
   * The answer to a wait whose time ran out before the link was up: false
   * (not acquired, not set); a Barrier's wait breaks the barrier, as a
   * timeout does on the server, so it is broken for the others too.
   */
  #timedOut(request: Request): Reply {
    if (request.ref.kind !== 'Barrier') return { seq: request.seq, result: false };
    this.#send({ seq: ++this.#seq, ref: request.ref, op: 'abort', owner: OWNER, timeoutMs: null });
    return { seq: request.seq, error: { name: 'BrokenBarrierError', message: '' } };
  }

  /** Acts on the link thread's verdict: opens this side's ends, or fails every call. */
  #settle(outcome = receiveMessageOnPort(this.#outcome)?.message as LinkOutcome | undefined): void {
    if (this.#requestFd >= 0 || this.#failure !== null) return;
    // The message is the verdict (the flag changes only after it is posted, for a blocked thread to see).
    if (outcome === undefined) return;
    this.#outcome.close();
    if (outcome.failure !== undefined) return this.#fail(outcome.failure);
    // The server holds its ends open now: these opens do not wait, and the files can go.
    this.#requestFd = openSync(this.#fifos.requests, constants.O_WRONLY);
    this.#syncFd = openSync(this.#fifos.syncReplies, constants.O_RDONLY);
    closeSync(this.#syncEarly);
    this.#removeFolder();
    const socket = new Socket({ fd: this.#asyncEarly, readable: true, writable: false });
    socket.on('data', (chunk: Buffer) =>
      this.#parser.push(chunk, (event) => {
        if (event.kind === 'message') this.#deliver(decode(event.body) as Reply);
      }),
    );
    socket.on('error', () => {});
    socket.on('end', () => this.#fail('the server closed the link; the process that started it has exited'));
    this.#asyncSocket = socket;
    if (this.#pending.size === 0) socket.unref();
    const queued = this.#queued;
    this.#queued = [];
    const now = Date.now();
    // What is left of each wait's time goes with it.
    for (const { request, deadline } of queued) this.#send(deadline === null ? request : { ...request, timeoutMs: Math.max(0, deadline - now) });
  }

  readonly #removeFolder = (): void => {
    rmSync(this.#dir, { recursive: true, force: true });
    process.off('exit', this.#removeFolder);
  };

  #deliver(reply: Reply): void {
    const settle = this.#pending.get(reply.seq);
    this.#pending.delete(reply.seq);
    // No call waits for an answer: nothing keeps the process alive for the link, set up or not.
    if (this.#pending.size === 0) (this.#asyncSocket ?? this.#outcome).unref();
    settle?.(reply);
  }

  /** An async call waits: the process stays alive for its reply. */
  #hold(): void {
    if (this.#asyncSocket !== null) this.#asyncSocket.ref();
    else this.#outcome.ref();
  }

  #fail(why: string): void {
    if (this.#failure !== null) return;
    this.#failure = why;
    for (const [seq, settle] of this.#pending) settle(this.#failed(seq));
    this.#pending.clear();
    this.#queued = [];
    this.#outcome.close();
    this.#asyncSocket?.destroy();
    this.#removeFolder();
  }

  #failed(seq: number): Reply {
    return { seq, error: { name: 'OSError', message: `multiproc: this process's link to the sync server at ${this.#address.replace(/^\0/, '@')} is broken: ${this.#failure}` } };
  }
}

/** The CPU time of every thread of this process, in µs (a blocked main thread adds none). */
function cpuMicroseconds(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

const links = new Map<string, ServerLink>();

/** This process's link to the server at `address`, made on first use. */
export function linkTo(address: string): ServerLink {
  let link = links.get(address);
  if (link === undefined) links.set(address, (link = new ServerLink(address)));
  return link;
}

/**
 * The reply's result, or its error thrown as the Python error it names. A
 * robust lock taken over from a dead holder throws OwnerDiedError (the
 * caller holds the lock, as with the addon).
 */
export function unwrap(reply: Reply, what: string): boolean {
  if (reply.error !== undefined) {
    const { name, message } = reply.error;
    const ErrorClass = { ValueError, AssertionError, OSError, BrokenBarrierError }[name];
    throw new ErrorClass(message);
  }
  if (reply.ownerDied !== undefined) throw new OwnerDiedError(what, reply.ownerDied);
  return reply.result === true;
}

export { OWNER, type Extra };
