// Runs a program to completion and collects its output.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PROGRAMS = `${ROOT}test/fixtures/programs/`;
export const TSX = `${ROOT}node_modules/tsx/dist/cli.mjs`;

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The JSON lines of stdout. */
  lines: Record<string, unknown>[];
}

/** `detached`: the program leads a process group of its own (to signal the whole group, as a terminal's Ctrl-C does). */
export function run(args: string[], options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv; detached?: boolean } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false, env: { ...process.env, NODE_TEST_CONTEXT: undefined, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: node ${args.join(' ')}\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, lines });
    });
  });
}

let compiled = false;

/** Compiles the program fixtures with tsc into build/programs (ESM .js and CommonJS .cjs). */
export function compilePrograms(): string {
  const out = `${ROOT}out/programs/`;
  if (!compiled) {
    execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${PROGRAMS}tsconfig.json`], { stdio: 'inherit' });
    compiled = true;
  }
  return out;
}

/** A program's stderr without the one line multiproc prints where the addon is missing (CI runs the suite a second time with MULTIPROC_NO_NATIVE=1). */
export function withoutNoAddonLine(stderr: string): string {
  return stderr.replace(/^multiproc: the native addon could not be loaded .*\n/, '');
}
