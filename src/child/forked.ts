/**
 * What a child forked from the zygote puts right before it runs anything:
 * the state fork copied that must differ per process, and its own way out.
 *
 * Node's normal exit (process.exit, a fatal error, the loop draining) tears
 * down the platform and joins V8's helper threads, which a forked child does
 * not have: it would hang or crash. So every exit goes through `_exit` here,
 * after 'exit' listeners ran, as Node runs them, and after stdout and stderr
 * took what was written (writes to a pipe complete at once unless it is full,
 * as they do for any node; the loop only drains once pending writes are done).
 */
import { writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { runAfterForkHooks } from '../afterfork.js';
import type { ZygoteNative } from '../native.js';

/** When this process began for its user: the fork, then the job (it may have been forked ahead of its start()). */
let bornAt: bigint | null = null;

export function becomeForkedChild(addon: ZygoteNative): void {
  Object.defineProperty(process, 'pid', { value: addon.getpid(), configurable: true, enumerable: true, writable: false });
  Math.random = seededRandom(addon.getpid());
  // Node counts uptime from the zygote's start; this process began at the fork.
  bornAt = process.hrtime.bigint();
  process.uptime = () => Number(process.hrtime.bigint() - bornAt!) / 1e9;
  runAfterForkHooks();
  takeTheExitPath(addon);
}

/** A forked child's job arrived: its uptime counts from its start(), however long it waited forked ahead. */
export function countUptimeFromJob(): void {
  if (bornAt !== null) bornAt = process.hrtime.bigint();
}

/**
 * A forkserver's child leaves through `_exit` once its 'exit' listeners have
 * run, as Python's forkserver children leave through `os._exit`: a forked
 * child must (see above); a warm spare may, and saves Node's teardown (the
 * heap freed, the platform's threads joined: 2-3 ms measured here on every
 * child's exit, before its parent's `join()` settles). Where something
 * collects what Node writes as it tears down (NODE_V8_COVERAGE, --cpu-prof,
 * --heap-prof, a diagnostic report on exit), a spare exits as node does.
 */
export function exitLikeAForkedChild(addon: ZygoteNative): void {
  const collecting = process.env.NODE_V8_COVERAGE !== undefined || process.execArgv.some((flag) => /^--(cpu-prof|heap-prof|prof|report-on-signal|report-uncaught-exception|diagnostic-dir)/.test(flag));
  if (!collecting) takeTheExitPath(addon);
}

function takeTheExitPath(addon: ZygoteNative): void {
  const reallyExit = (code: number): never => addon.exit(Number(code) | 0);
  (process as unknown as { reallyExit: (code: number) => never }).reallyExit = reallyExit;

  // A fatal error: Node emits 'exit' from JavaScript, then prints the error
  // and tears down in C++. Here the error is printed, the remaining 'exit'
  // listeners run, and the child leaves.
  let fatal: { error: unknown } | null = null;
  process.on('uncaughtExceptionMonitor', (error) => {
    fatal = { error };
    // Still running on the next turn: some 'uncaughtException' listener handled it.
    setImmediate(() => (fatal = null)).unref();
  });
  process.on('exit', function lastWords(code) {
    addon.setExitCode(Number(process.exitCode ?? code) | 0);
    if (fatal === null || process.listenerCount('uncaughtException') > 0) return;
    const listeners = process.listeners('exit');
    for (const listener of listeners.slice(listeners.indexOf(lastWords) + 1)) {
      try {
        (listener as (code: number) => void).call(process, code);
      } catch {
        // as Node, which ignores a throwing 'exit' listener at this point
      }
    }
    writeAll(2, `${inspect(fatal.error)}\n\nNode.js ${process.version}\n`);
    reallyExit(Number(process.exitCode ?? code) | 0);
  });
}

/** Writes to a descriptor that Node made non-blocking: EAGAIN only means "not yet". */
function writeAll(fd: number, text: string): void {
  const buffer = Buffer.from(text);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let done = 0; done < buffer.length; ) {
    try {
      done += writeSync(fd, buffer, done);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}

/**
 * Math.random for this child: V8 seeded its generator once, in the zygote,
 * and every child would repeat the same numbers. Marsaglia's xorshift128,
 * seeded from the clock and the pid through splitmix64.
 */
function seededRandom(pid: number): () => number {
  let seed = (BigInt(pid) << 32n) ^ process.hrtime.bigint() ^ BigInt(Math.floor(Date.now()));
  const next64 = (): bigint => {
    // splitmix64, to spread the seed over the state
    seed = (seed + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = seed;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return z ^ (z >> 31n);
  };
  const s = new Uint32Array(4);
  const a = next64();
  const b = next64();
  s[0] = Number(a & 0xffffffffn);
  s[1] = Number(a >> 32n);
  s[2] = Number(b & 0xffffffffn);
  s[3] = Number(b >> 32n) | 1;
  // xorshift128 on 32-bit words (Marsaglia), two outputs make a 53-bit fraction.
  const step = (): number => {
    let t = s[3]!;
    const x = s[0]!;
    s[3] = s[2]!;
    s[2] = s[1]!;
    s[1] = x;
    t ^= t << 11;
    t ^= t >>> 8;
    s[0] = t ^ x ^ (x >>> 19);
    return s[0]!;
  };
  return function random(): number {
    return ((step() >>> 5) * 67108864 + (step() >>> 6)) / 9007199254740992;
  };
}
