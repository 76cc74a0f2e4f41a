import { createServer, type Server } from 'node:net';

/**
 * Code that children commonly run first, run once in the zygote before it
 * forks: a forked child inherits the zygote's loaded modules and compiled
 * functions, while what it runs for the first time itself is compiled cold,
 * several times slower than in a fresh node (`listen()` loads `cluster` and
 * compiles the listen path: 7-25 ms in a forked child, under 1 ms warm). A
 * manager's server, and any child that serves a Listener, starts so.
 */
export async function warmUp(): Promise<void> {
  const listens: ((server: Server, done: () => void) => void)[] = [(server, done) => server.listen({ port: 0, host: '127.0.0.1' }, done)];
  // Listeners' default address on Linux: an abstract Unix socket (nothing on disk).
  if (process.platform === 'linux') listens.push((server, done) => server.listen({ path: `\0multiproc-warm-up-${process.pid}` }, done));
  for (const listen of listens) {
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        listen(server, resolve);
      });
    } catch {
      // an optimisation only: a zygote that cannot listen forks all the same
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
