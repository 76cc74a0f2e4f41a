// `multiproc worker` processes for the distributed tests: started from the
// package's bin (under tsx, so they can load the .ts fixtures), stopped and
// proven gone at the end of each test.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './run.js';

export const BIN = `${ROOT}bin/multiproc.mjs`;

export interface WorkerHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** SIGTERM (graceful), then waits for the exit; SIGKILL if it takes longer than `withinMs`. */
  stop(withinMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startWorker(url: string, queue: string, args: string[] = [], options: { wrap?: string[]; env?: NodeJS.ProcessEnv; bin?: string } = {}): Promise<WorkerHandle> {
  const command = [...(options.wrap ?? []), process.execPath, '--import', 'tsx', options.bin ?? BIN, 'worker', url, '--queue', queue, '--root', ROOT, ...args];
  const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined, ...options.env } });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 30_000;
  while (!output.includes('serving queue')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`multiproc worker exited at start:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`multiproc worker did not start within 30 s:\n${output}`);
    }
    await sleep(20);
  }
  return {
    child,
    pid: child.pid!,
    output: () => output,
    exited,
    async stop(withinMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), withinMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
