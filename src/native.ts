import { existsSync } from 'node:fs';
import path from 'node:path';

/** The native addon (native/multiproc.cc): the system calls Node.js has no synchronous API for. */
export interface Native {
  /** An AF_UNIX stream socket pair, both ends close-on-exec. */
  socketpair(): [number, number];
  /** `[readFd, writeFd]`, both close-on-exec. */
  pipe(): [number, number];
  /** prctl(PR_SET_PDEATHSIG) on Linux (0 clears it); throws elsewhere. */
  setParentDeathSignal(signal: number): void;
}

let loaded: { native: Native | null; reason: string | null } | undefined;

/**
 * The addon, or null when it cannot be loaded (not built, built for another
 * platform, or no compiler at install time); `nativeUnavailableReason()` says
 * why. Loaded on first use only, so that programs that never need it pay
 * nothing, and tried once.
 */
export function native(): Native | null {
  return load().native;
}

/** Why `native()` returned null, or null when it did not. */
export function nativeUnavailableReason(): string | null {
  return load().reason;
}

function load(): { native: Native | null; reason: string | null } {
  if (loaded) return loaded;
  try {
    const addon = nodeGypBuild()(packageRoot());
    if (!isNative(addon)) throw new Error('the addon does not export socketpair, pipe and setParentDeathSignal');
    loaded = { native: addon, reason: null };
  } catch (error) {
    loaded = { native: null, reason: error instanceof Error ? error.message : String(error) };
  }
  return loaded;
}

// Required here rather than imported, so that it loads only with the addon.
function nodeGypBuild(): typeof import('node-gyp-build') {
  return require('node-gyp-build');
}

// This file runs from dist/cjs/ once built (and from src/ under tsx): the
// package root is the nearest directory above with binding.gyp, which the
// package ships for node-gyp-build to find build/ beside it.
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no binding.gyp in ${__dirname} or above it`);
  }
}

function isNative(value: unknown): value is Native {
  if (typeof value !== 'object' || value === null) return false;
  const addon = value as Record<string, unknown>;
  return typeof addon.socketpair === 'function' && typeof addon.pipe === 'function' && typeof addon.setParentDeathSignal === 'function';
}
