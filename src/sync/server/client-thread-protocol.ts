/**
 * What a process's main thread and its link thread (./client-thread.ts)
 * share: the data the thread starts with, its verdict, and the states of the
 * flag a blocked main thread waits on.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Fifos } from './protocol.js';

export interface LinkData {
  address: string;
  authkey: Uint8Array;
  fifos: Fifos;
  /** Word 0: one of the states below (the main thread may be blocked on it). */
  flag: Int32Array;
  /** Where the outcome goes: it comes before the flag changes to SET_UP or FAILED. */
  outcome: MessagePort;
}

export interface LinkOutcome {
  failure?: string;
}

/** The thread has not run its script yet: the flag's first value, a new SharedArrayBuffer's zero. */
export const STARTING = 0;
/** The link is set up: the outcome says so. */
export const SET_UP = 1;
/** The link could not be set up: the outcome says why. */
export const FAILED = 2;
/** The thread runs its script: it reports SET_UP or FAILED within LINK_CONNECT_MS. */
export const RUNNING = 3;

/** How long the thread tries to reach the server (which may not listen yet, or be busy) before it gives up. */
export const LINK_CONNECT_MS = 10_000;
