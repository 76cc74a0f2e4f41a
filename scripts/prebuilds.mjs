// Builds the addon's prebuilt binaries into prebuilds/ (run by `npm pack` /
// `npm publish` through prepack): linux-x64 with the machine's compiler, and
// linux-arm64 where Debian's cross-compiler (g++-aarch64-linux-gnu) is on the
// PATH. It is one Node-API binary per platform and architecture, so each
// serves every Node.js version; node-gyp-build picks it at install and at run
// time, and users need no compiler. prebuildify builds in the current folder's
// build/, so it works in a scratch copy: the developer's own build stays.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const prebuildify = createRequire(import.meta.url).resolve('prebuildify/bin.js');

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, command)));
}

const targets = [{ arch: 'x64', env: {} }];
if (process.arch === 'x64' && process.platform === 'linux' && onPath('aarch64-linux-gnu-g++')) {
  targets.push({ arch: 'arm64', env: { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', PREBUILD_STRIP_BIN: 'aarch64-linux-gnu-strip' } });
} else if (process.env.MULTIPROC_REQUIRE_ARM64 === '1') {
  throw new Error('MULTIPROC_REQUIRE_ARM64=1, but no aarch64-linux-gnu-g++ on the PATH: apt-get install g++-aarch64-linux-gnu');
} else {
  console.error('prebuilds: no aarch64-linux-gnu-g++ on the PATH, so no linux-arm64 prebuild (apt-get install g++-aarch64-linux-gnu)');
}

// node-gyp needs Node's headers; offline it must find them beside this node
// (Debian's nodejs: /usr/include/node) rather than download them.
const prefix = dirname(dirname(process.execPath));
const nodedir = process.env.npm_config_nodedir ?? (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);

const scratch = mkdtempSync(join(tmpdir(), 'multiproc-prebuilds-'));
try {
  for (const entry of ['binding.gyp', 'native', 'package.json']) cpSync(join(root, entry), join(scratch, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
  for (const { arch, env } of targets) {
    execFileSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', '--arch', arch], {
      cwd: scratch,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...(nodedir === undefined ? {} : { npm_config_nodedir: nodedir }), ...env },
    });
  }
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  cpSync(join(scratch, 'prebuilds'), join(root, 'prebuilds'), { recursive: true });
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.error(`prebuilds: ${targets.map((t) => `linux-${t.arch}`).join(', ')}`);
