import type { ChildProcess } from 'node:child_process';

/**
 * Passing descriptors to a child without the native addon: over Node's own
 * IPC channel (`subprocess.send(message, handle)`), which carries a socket's
 * libuv handle on every platform Node supports. A Connection does not hand
 * over a descriptor number here but a token (a negative number, which no
 * descriptor is), redeemed when the child is handed its job: the Connection
 * then keeps its socket open until the send is done, however soon the caller
 * closes its own copy.
 */

/** A socket's libuv handle (a TCP or Pipe wrap), pinned open until `release`. */
export interface PinnedHandle {
  handle: object;
  release(): void;
}

/** Pins the handle at once (synchronously); the handle itself may come later (a Pipe end still being connected). */
export type Pin = () => Promise<PinnedHandle>;

const tokens = new Map<number, Pin>();
let lastToken = 0;

/** A stand-in for a descriptor, redeemed by the channel that passes it. */
export function handleToken(pin: Pin): number {
  lastToken -= 1;
  tokens.set(lastToken, pin);
  return lastToken;
}

/** What the child's bootstrap reads: `{ multiproc: 'handle', index }`, the handle beside it. */
export interface HandleMessage {
  multiproc: 'handle';
  index: number;
}

/**
 * The parent's side: sends one job's handles, in order, each tagged with its
 * index among them (Node sends one handle per message, and waits for the
 * child's acknowledgement before the next).
 */
export class IpcHandleChannel {
  readonly #child: ChildProcess;

  constructor(child: ChildProcess) {
    this.#child = child;
    // The channel must not keep the parent alive: the child's Popen decides that.
    child.channel?.unref();
  }

  /** Pins every handle now, then sends them; a handle's pin is released once it is sent, or the child is gone. */
  pass(fds: readonly number[]): void {
    const pins = fds.map((fd) => {
      const pin = tokens.get(fd);
      if (pin === undefined) {
        throw new Error(`multiproc: descriptor ${fd} can only be passed to a child with the native addon (only Connections and Queues travel without it)`);
      }
      tokens.delete(fd);
      return pin;
    });
    const pinned = pins.map((pin) => pin());
    pinned.forEach((handle, index) => void this.#send(handle, index));
  }

  async #send(pinned: Promise<PinnedHandle>, index: number): Promise<void> {
    let got: PinnedHandle;
    try {
      got = await pinned;
    } catch {
      return; // closed before it could be connected: the child's rebuild will say so
    }
    const child = this.#child;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      child.off('exit', release);
      got.release();
    };
    // A child that dies before acknowledging leaves Node's queue unsent, with no callback.
    child.once('exit', release);
    if (!child.connected) return release();
    const message: HandleMessage = { multiproc: 'handle', index };
    child.send(message, got.handle as Parameters<ChildProcess['send']>[1], release);
  }

  close(): void {}
}

// ---- the child's side

const STORE = Symbol.for('multiproc.received-handles');

interface Store {
  handles: Map<number, object>;
  onArrival: (() => void) | null;
}

/** Handles received and rebuilt into a key a reducer can pass around as a descriptor, until `takeHandle` claims them. */
const claimable = new Map<number, object>();

/**
 * Waits for the `count` handles of this child's job (the catcher preloaded
 * with `--require` holds those that came early); resolves with a source that
 * gives each one's key for `takeHandle`: its descriptor where it has one.
 */
export async function receiveHandles(count: number): Promise<{ fd(index: number): number }> {
  const store = (globalThis as Record<symbol, unknown>)[STORE] as Store | undefined;
  if (store === undefined) throw new Error('multiproc: this child was started without its handle catcher (--require), so it cannot receive descriptors');
  if (store.handles.size < count) {
    // Until they are here, the channel keeps this child alive (its job is waiting for them).
    process.channel?.ref();
    try {
      await new Promise<void>((resolve) => {
        store.onArrival = () => {
          if (store.handles.size >= count) resolve();
        };
      });
    } finally {
      store.onArrival = null;
      process.channel?.unref();
    }
  }
  let nextKey = -1;
  const keys = new Map<number, number>();
  for (const [index, handle] of store.handles) {
    const fd = (handle as { fd?: unknown }).fd;
    // Windows has no descriptors: a negative key, which no descriptor is.
    const key = typeof fd === 'number' && fd >= 0 ? fd : nextKey--;
    keys.set(index, key);
    claimable.set(key, handle);
  }
  store.handles.clear();
  return {
    fd: (index) => {
      const key = keys.get(index);
      if (key === undefined) throw new Error(`multiproc: handle ${index} of this job never arrived`);
      return key;
    },
  };
}

/** The received handle behind `key` (from `receiveHandles`), for a Socket to take over; undefined if there is none. */
export function takeHandle(key: number): object | undefined {
  const handle = claimable.get(key);
  claimable.delete(key);
  return handle;
}
