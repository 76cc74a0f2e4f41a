// A private redis-server for a test suite: a random loopback port, a
// temporary directory, killed at the end. Where redis-server is missing it
// is installed when this runs as root with apt; otherwise the suite stops
// with a message saying what to install (never a silent skip).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function findRedisServer(): string | null {
  for (const path of ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server']) {
    if (spawnSync(path, ['--version']).status === 0) return path;
  }
  const which = spawnSync('sh', ['-c', 'command -v redis-server']);
  return which.status === 0 ? which.stdout.toString().trim() : null;
}

export function redisServerPath(): string {
  let path = findRedisServer();
  if (path !== null) return path;
  const root = process.getuid?.() === 0;
  if (root && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null'], { stdio: 'inherit' });
    path = findRedisServer();
    if (path !== null) return path;
  }
  throw new Error('these tests need redis-server (Redis 6.2 or later) on PATH: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and run the tests again');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
  });
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly pid: number;
  /** Stops it (SIGKILL when `hard`), and starts it again on the same port and directory (AOF on: what was written survives). */
  restart(options?: { hard?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** `bind`: addresses to listen on besides 127.0.0.1 (a veth address for the partition test). */
export async function startRedis({ bind = [] }: { bind?: string[] } = {}): Promise<RedisServer> {
  const binary = redisServerPath();
  const dir = mkdtempSync(join(tmpdir(), 'multiproc-redis-'));
  const port = await freePort();
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    // Not marked as the test's descendant: it lives for the suite, and stop() proves it gone.
    const env = { ...process.env };
    delete env.MULTIPROC_TEST_MARK;
    child = spawn(binary, ['--port', String(port), '--bind', ['127.0.0.1', ...bind].join(' '), ...(bind.length > 0 ? ['--protected-mode', 'no'] : []), '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore', env });
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port} (see ${join(dir, 'redis.log')})`);
      await sleep(20);
    }
  };
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  await launch();
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    dir,
    get pid() {
      return child.pid!;
    },
    async restart({ hard = true, downMs = 0 } = {}) {
      await halt(hard ? 'SIGKILL' : 'SIGTERM');
      await sleep(downMs);
      await launch();
    },
    async stop() {
      await halt('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]() {
      return server.stop();
    },
  };
  return server;
}
