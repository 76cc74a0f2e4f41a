// BaseManager with registered typeids (CPython's _TestMyManager and
// _TestRemoteManager): a server at a TCP address with an authkey, clients
// that only know the address and the key, over loopback and across two
// network namespaces joined by a veth pair.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { AuthenticationError, BaseProxy, Queue, RemoteError } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { ROOT } from './helpers/run.js';
import { FooProxy, makeMyManager, makeQueueManager, QueueClient, serveQueue, startProcess } from './fixtures/managers.js';

// Each manager takes a warm spare; its replacement may still be starting when a test ends on a busy machine.
afterEach(() => assertNoneLeftBehind(10_000));

test('register: a proxytype of our own, exposed names, a callable that throws (RemoteError with its class and stack)', async () => {
  await using manager = await makeMyManager().start();
  const foo = await manager.Foo();
  assert.ok(foo instanceof FooProxy);
  assert.equal(await foo.f(), 'f()');
  await assert.rejects(foo.g(), (err: Error) => err instanceof RemoteError && err.remoteName === 'FooError' && /g\(\) failed/.test(err.message) && /at Foo\.g/.test(err.remoteStack));
  // Names that start with '_' are not exposed by default (Python's _h).
  await assert.rejects(foo.h(), (err: Error) => err instanceof RemoteError && /method '_h' of Foo object is not in exposed=\['f', 'g', 'closure', 'slow'\]/.test(err.message));
  const bar = await manager.Bar();
  assert.ok(bar instanceof BaseProxy);
  assert.equal(await bar.f(), 'f()');
  assert.equal(await bar._h(), '_h()');
  await assert.rejects(bar.callMethod('g'), /not in exposed=\['f', '_h'\]/);
  await assert.rejects(manager.failing(), (err: Error) => err instanceof RemoteError && err.remoteName === 'SyntaxError' && /failed on purpose/.test(err.message) && /failingCallable/.test(err.remoteStack));
  // The manager keeps serving.
  assert.equal(await foo.f(), 'f()');
});

test('a wrong authkey is an AuthenticationError, and the server serves the right key afterwards', async () => {
  const authkey = randomBytes(16);
  const report = new Queue<{ host: string; port: number }>();
  const server = startProcess(serveQueue, ['127.0.0.1', 0, authkey, report]);
  try {
    const address = await waitForPort(report);
    await assert.rejects(new QueueClient({ address, authkey: Buffer.from('wrong') }).connect(), (err: Error) => err instanceof AuthenticationError);
    const client = await new QueueClient({ address, authkey }).connect();
    const q = await client.getQueue();
    await q.put('hello');
    assert.equal(await q.get(), 'hello');
    await client.shutdown();
  } finally {
    server.terminate();
    await server.join();
  }
});

test('getServer() in this process: serveForever at a TCP address, a client connects, an unknown typeid is refused', async () => {
  const authkey = randomBytes(16);
  const manager = makeQueueManager({ address: { host: '127.0.0.1', port: 0 }, authkey });
  const server = manager.getServer();
  const serving = server.serveForever();
  const address = server.address;
  assert.equal(typeof (address as { port: number }).port, 'number');
  const client = await new QueueClient({ address, authkey }).connect();
  const q = await client.getQueue();
  await q.put(1);
  assert.equal(await q.get(), 1);
  QueueClient.register('notThere');
  await assert.rejects((client as unknown as { notThere(): Promise<unknown> }).notThere(), (err: Error) => err instanceof RemoteError && /no typeid "notThere"/.test(err.message));
  server.shutdown();
  await serving;
  await assert.rejects(q.get(), /is gone/);
  await client.shutdown();
});

/** Whether this process may make network namespaces (root, with iproute2). */
function canMakeNamespaces(): boolean {
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

test('across two network namespaces joined by a veth pair: the server in one, workers and the submitter in the other', async (t) => {
  if (!canMakeNamespaces()) {
    t.diagnostic('not root, or no iproute2: examples/remote-queue.ts runs over loopback in test/examples.test.ts');
    return;
  }
  const tag = `${process.pid % 10000}`;
  const [server, client] = [`mpsrv${tag}`, `mpcli${tag}`];
  const [vethS, vethC] = [`mps${tag}`, `mpc${tag}`];
  const children: ReturnType<typeof spawn>[] = [];
  try {
    ip('netns', 'add', server);
    ip('netns', 'add', client);
    ip('link', 'add', vethS, 'type', 'veth', 'peer', 'name', vethC);
    ip('link', 'set', vethS, 'netns', server);
    ip('link', 'set', vethC, 'netns', client);
    ip('-n', server, 'addr', 'add', '10.231.0.1/24', 'dev', vethS);
    ip('-n', client, 'addr', 'add', '10.231.0.2/24', 'dev', vethC);
    for (const [ns, dev] of [[server, vethS], [client, vethC]] as const) {
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    const example = `${ROOT}examples/remote-queue.ts`;
    const inNamespace = (ns: string, ...args: string[]): ReturnType<typeof spawn> => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', example, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    };
    const outcome = (child: ReturnType<typeof spawn>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d: Buffer) => (stdout += d));
        child.stderr!.on('data', (d: Buffer) => (stderr += d));
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    const serving = inNamespace(server, 'serve', '10.231.0.1', '50000');
    const served = outcome(serving);
    await new Promise<void>((resolve, reject) => {
      serving.stdout!.on('data', (d: Buffer) => d.toString().includes('serving on 10.231.0.1:50000') && resolve());
      void served.then(({ code, stderr }) => reject(new Error(`the server exited with ${code}: ${stderr}`)));
    });
    // The other namespace cannot reach the server's loopback, only its veth address.
    const workers = [1, 2].map(() => outcome(inNamespace(client, 'work', '10.231.0.1', '50000')));
    const submitted = await outcome(inNamespace(client, 'submit', '10.231.0.1', '50000', '20', '2'));
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.match(submitted.stdout, /^20 squares from [12] worker process\(es\): sum 2870\n$/);
    for (const w of await Promise.all(workers)) assert.equal(w.code, 0, w.stderr);
    serving.kill('SIGTERM');
    await served;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of [server, client]) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // never made
      }
    }
  }
});

async function waitForPort(report: Queue<{ host: string; port: number }>): Promise<{ host: string; port: number }> {
  return report.get({ timeout: 30_000 });
}
