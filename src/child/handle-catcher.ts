/**
 * Preloaded with `--require` into a child started without the native addon,
 * before any other preload (tsx's `--import` runs the event loop while it
 * loads, and Node emits an IPC message to nobody if no one listens yet): it
 * keeps the handles the parent sends over Node's IPC channel until the
 * bootstrap asks for them. Imports nothing, so that it costs nothing.
 */
const STORE = Symbol.for('multiproc.received-handles');

interface Store {
  handles: Map<number, object>;
  onArrival: (() => void) | null;
}

const store: Store = { handles: new Map(), onArrival: null };
(globalThis as Record<symbol, unknown>)[STORE] = store;

process.on('message', (message: unknown, handle: unknown) => {
  const tagged = message as { multiproc?: unknown; index?: unknown } | null;
  if (tagged?.multiproc !== 'handle' || typeof tagged.index !== 'number' || typeof handle !== 'object' || handle === null) return;
  store.handles.set(tagged.index, handle);
  store.onArrival?.();
});
// Listening must not keep the child alive: the bootstrap refs the channel while it waits for handles.
process.channel?.unref();

export {};
