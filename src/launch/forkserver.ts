import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mainModule } from '../main.js';
import type { Popen } from './popen.js';
import type { JobMessage, PrepareMessage } from './protocol.js';
import { discardSpares as discardIdleSpares, sparePopen } from './spares.js';
import { discardZygotes, forkAvailable, zygotePopen } from './zygote.js';

/**
 * The `forkserver` start method: a warm node takes the job. Where a node can
 * be forked safely, a zygote forks one per start; elsewhere warm spares wait.
 */
export function forkserverPopen(prepare: PrepareMessage, job: JobMessage, fds: readonly number[]): Popen {
  const warm = preload.length === 0 ? prepare : { ...prepare, preload };
  return (forkAvailable() ? zygotePopen(warm, job, fds) : null) ?? sparePopen(warm, job, fds);
}

/** Ends every idle warm process (spares, zygotes): called when the parent exits. */
export function discardSpares(): void {
  discardIdleSpares();
  discardZygotes();
}

let preload: string[] = [];

/**
 * Python's `set_forkserver_preload`: modules a forkserver imports once, after
 * the main module, so that every child it serves starts with them loaded
 * (Python ignores one that fails to import, and so do we). Relative paths are
 * taken from the main module's folder (the current directory without one);
 * bare names are packages. Applies to forkservers started afterwards.
 */
export function setForkserverPreload(moduleNames: readonly string[]): void {
  if (!Array.isArray(moduleNames) || !moduleNames.every((name) => typeof name === 'string')) {
    throw new TypeError('module_names must be a list of strings: setForkserverPreload([\'./heavy-module.js\', \'some-package\'])');
  }
  const main = mainModule();
  const base = main === null ? pathToFileURL(process.cwd() + '/').href : main.url;
  preload = moduleNames.map((name) => {
    if (name.startsWith('file:')) return name;
    if (isAbsolute(name)) return pathToFileURL(name).href;
    if (name.startsWith('./') || name.startsWith('../')) return new URL(name, base).href;
    return name;
  });
}
