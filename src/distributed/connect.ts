import IORedis, { type Redis } from 'ioredis';
import { checkRedisUrl } from './job.js';

/** Default bound on reaching Redis at start: a wrong URL fails in this time, never hangs. */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * A Redis connection as BullMQ needs it (no per-command retry limit: its
 * blocking reads wait as long as they must), which reports its first
 * failure to `onError` rather than as an unhandled 'error' event.
 */
export function redisConnection(url: string, onError: (error: Error) => void): Redis {
  checkRedisUrl(url);
  const client = new IORedis(url, { maxRetriesPerRequest: null, connectTimeout: CONNECT_TIMEOUT_MS, lazyConnect: false });
  client.on('error', onError);
  return client;
}

/** An ioredis connection as BullMQ hands it out (a cluster client has no single stream). */
interface UnrefableClient {
  stream?: { unref?: () => unknown };
  on(event: 'connect', listener: () => void): unknown;
}

/**
 * The connection no longer keeps the program alive, now and after each
 * reconnect: a Pool's front end holds the event loop while it has tasks out,
 * so a Pool on Redis that a program forgets to close lets it end, as a local
 * Pool does.
 */
export function holdsNoLoop(client: UnrefableClient): void {
  const unref = (): void => void client.stream?.unref?.();
  client.on('connect', unref);
  unref();
}

/**
 * Errors of a connect that no retry within the timeout can mend: nothing
 * listens there, or the host name does not resolve. They fail at once; only
 * a connect left unanswered (a firewall that drops, a host that is down)
 * waits out the timeout.
 */
const FINAL_CONNECT_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused: nothing listens there',
  ENOTFOUND: 'the host name does not resolve',
};

/**
 * Resolves when the server answers PING; rejects at once on a final connect
 * error, and after `ms` otherwise, with an error that names the URL and the fix.
 */
export async function reachable(client: Redis, url: string, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onError: ((error: Error) => void) | undefined;
  const shown = redactedUrl(url);
  const fix = 'start redis-server there, or fix the URL (redis://host:port/db)';
  try {
    await Promise.race([
      client.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`multiproc: cannot reach Redis at ${shown} within ${ms} ms; ${fix}`)), ms);
        onError = (error: Error): void => {
          const code = (error as NodeJS.ErrnoException).code;
          const why = code === undefined ? undefined : FINAL_CONNECT_ERRORS[code];
          if (why !== undefined) reject(new Error(`multiproc: cannot reach Redis at ${shown}: ${why} (${code}); ${fix}`, { cause: error }));
        };
        client.on('error', onError);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onError !== undefined) client.off('error', onError);
  }
}

/** The URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return url;
  }
}
