/**
 * Preloaded with `--require` into every child, first, so that it runs as
 * soon as node has booted, before tsx or any other preload and the library
 * load (a quarter of a second in a spare, which a Ctrl-C in a terminal
 * reaching the whole process group used to end): until its job arrives, the
 * process is a warm spare or the forkserver (or a child forked from it), and
 * ignores SIGINT, as Python's forkserver does. The job gives SIGINT's default
 * action back (lifecycle.ts removes this listener). Imports nothing.
 */
const LISTENER = Symbol.for('multiproc.sigint-until-job');

function ignoreSigintUntilJob(): void {}

process.on('SIGINT', ignoreSigintUntilJob);
(globalThis as Record<symbol, unknown>)[LISTENER] = ignoreSigintUntilJob;

export {};
