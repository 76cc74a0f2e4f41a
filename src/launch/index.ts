import { current } from '../current.js';
import { ValueError } from '../errors.js';
import { forkserverPopen } from './forkserver.js';
import type { Popen } from './popen.js';
import type { JobMessage, PrepareMessage } from './protocol.js';
import { spawnPopen } from './spawn.js';

export type StartMethod = 'spawn' | 'forkserver';

/** All start methods, the default first (as Python 3.14 lists them). */
export const START_METHODS: readonly StartMethod[] = ['forkserver', 'spawn'];

/** The default when none was set: see README "Start methods" for the measurements behind it. */
export const DEFAULT_START_METHOD: StartMethod = 'forkserver';

const launchers: Record<StartMethod, (prepare: PrepareMessage, job: JobMessage, fds: readonly number[]) => Popen> = {
  spawn: spawnPopen,
  forkserver: forkserverPopen,
};

export function launcherFor(method: StartMethod): (prepare: PrepareMessage, job: JobMessage, fds: readonly number[]) => Popen {
  return launchers[method];
}

export function isStartMethod(method: unknown): method is StartMethod {
  return typeof method === 'string' && Object.hasOwn(launchers, method);
}

export function checkStartMethod(method: unknown): StartMethod {
  if (isStartMethod(method)) return method;
  throw new ValueError(`cannot find context for ${JSON.stringify(method)}: the start methods are ${START_METHODS.map((m) => `'${m}'`).join(' and ')}`);
}

let chosen: StartMethod | null = null;

/** The default context's start method, fixed by its first use (as in Python). */
export function defaultStartMethod(allowNone = false): StartMethod | null {
  if (chosen === null && !allowNone) chosen = isStartMethod(current.inheritedStartMethod) ? current.inheritedStartMethod : DEFAULT_START_METHOD;
  return chosen;
}

export function chooseStartMethod(method: StartMethod | null): void {
  chosen = method;
}
