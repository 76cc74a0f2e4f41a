/**
 * Python's `multiprocessing.util.register_after_fork`: state a module keeps
 * about its own process (a pid read at load, a cache of it) that a child forked
 * from the forkserver's zygote must not inherit. Each hook runs once in every
 * forked child, before the child runs anything else.
 */
const hooks: (() => void)[] = [];

export function registerAfterFork(hook: () => void): void {
  hooks.push(hook);
}

/** Called by a forked child's bootstrap, once `process.pid` is its own. */
export function runAfterForkHooks(): void {
  for (const hook of hooks) hook();
}
