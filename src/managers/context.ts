/**
 * What a referent's method may know about the call it serves: which
 * connection made it (an RLock's owner is the process that acquired it) and
 * a signal that aborts when that connection ends, so that a waiting call of
 * a process that died (a get on a Queue, an acquire) stops waiting and takes
 * nothing that another process would then miss.
 */
export interface CallContext {
  readonly holder: number;
  readonly signal: AbortSignal;
  /** Runs when the caller's connection ends (a held Lock is released). */
  onDisconnect(action: () => void): void;
  /** Runs if this call's reply cannot be delivered (its caller has gone): an item it took goes back. */
  onUndelivered(action: () => void): void;
}

let active: CallContext | null = null;

const NO_CALL: CallContext = { holder: 0, signal: new AbortController().signal, onDisconnect: () => undefined, onUndelivered: () => undefined };

/** The call being served; read it synchronously, at the start of a method. */
export function currentCall(): CallContext {
  return active ?? NO_CALL;
}

/** Makes `context` the call being served, for the synchronous part of its method; returns the one to restore with leaveCall (no closure per call). */
export function enterCall(context: CallContext): CallContext | null {
  const before = active;
  active = context;
  return before;
}

export function leaveCall(before: CallContext | null): void {
  active = before;
}

/** A referent's method the server calls when it frees the object (else its `close()`, if any): a managed Pool terminates. */
export const FREED = Symbol('multiproc.managerFreed');
