/**
 * Imported first by the bootstrap: in a zygote, V8 compiles the library's
 * functions as it loads them, not on their first call. A forked child runs
 * mostly library code it inherits (receiving its job, rebuilding the Process,
 * exiting) that the zygote itself never called: compiled lazily, each child
 * parsed and compiled it again, a fifth of a forked child's CPU (measured
 * with perf on Node 24). Compiled here once, every child finds it ready.
 * The main module and the user's own imports are compiled lazily as usual
 * (`compileLazilyFromNowOn`, once the library is loaded): a lean zygote forks
 * faster.
 */
import { setFlagsFromString } from 'node:v8';

const zygote = process.argv[2] === 'forkserver';

if (zygote) setFlagsFromString('--no-lazy');

export function compileLazilyFromNowOn(): void {
  if (zygote) setFlagsFromString('--lazy');
}
