// `npm install`'s step for multiproc: node-gyp-build uses a prebuilt addon
// when one fits this platform (prebuilds/), or compiles it with node-gyp.
// When neither works (no prebuild for this platform and no compiler, or a
// broken one), the install still succeeds: multiproc then runs without the
// addon, on its slower IPC fallback, and says so once on stderr at run time.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

// The addon's primitives are Linux's (futexes, memfd): elsewhere multiproc runs on its portable paths, so nothing is compiled.
if (process.platform !== 'linux') process.exit(0);
const bin = createRequire(import.meta.url).resolve('node-gyp-build/bin.js');
const result = spawnSync(process.execPath, [bin], { stdio: 'inherit' });
if (result.status !== 0) {
  process.stderr.write('multiproc: no prebuilt addon fits this platform and it could not be compiled; multiproc will run without it (slower locks, queues and shared memory). Install a C++ toolchain and run npm rebuild multiproc to get it.\n');
}
