import { Connection } from './connection.js';
import { Queue, READINESS } from './queues.js';
import { invalidArgType } from './errors.js';
import { validateTimeout } from './validate.js';

/** What `wait()` watches: Connections (ready to read, or at their end), Queues (an item to get) and Promises such as `p.sentinel` (settled). */
export type Waitable = Connection | Queue | PromiseLike<unknown>;

const settled = new WeakSet<PromiseLike<unknown>>();

function isReady(object: Waitable): Promise<boolean> | boolean {
  if (object instanceof Connection) return object.closed ? true : object.poll(0);
  if (object instanceof Queue) return object[READINESS].ready();
  return settled.has(object);
}

/**
 * Waits until at least one of `objects` is ready, or `timeoutMs` has passed,
 * and resolves with the ready ones, in the order given (`[]` on timeout), as
 * Python's `multiprocessing.connection.wait`.
 */
export async function wait<T extends Waitable>(objects: readonly T[], timeoutMs?: number | null): Promise<T[]> {
  if (!Array.isArray(objects)) throw invalidArgType('"objects" argument', 'an array of Connections, Queues and Promises (such as p.sentinel)', objects);
  for (const object of objects) {
    if (!(object instanceof Connection) && !(object instanceof Queue) && typeof (object as PromiseLike<unknown>)?.then !== 'function') {
      throw invalidArgType('each object', 'a Connection, a Queue or a Promise (such as p.sentinel)', object);
    }
  }
  const timeout = validateTimeout(timeoutMs);
  const ready = async (): Promise<T[]> => {
    const flags = await Promise.all(objects.map(isReady));
    return objects.filter((_, i) => flags[i]);
  };
  const now = await ready();
  if (now.length > 0 || timeout === 0) return now;
  let timer: NodeJS.Timeout | undefined;
  const watchers = objects.map((object) =>
    object instanceof Connection
      ? object.poll(timeout).then(() => undefined, () => undefined)
      : object instanceof Queue
        ? object[READINESS].whenReady(timeout)
        : Promise.resolve(object).then(
            () => void settled.add(object),
            () => void settled.add(object),
          ),
  );
  if (timeout !== null) watchers.push(new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeout))));
  await Promise.race(watchers);
  clearTimeout(timer);
  // A poll phase of the event loop lets the Connections that are reading take
  // in what the kernel already holds, so that all the ready ones are reported,
  // as select() would, not only the first. The first immediate may run before
  // the next poll phase; the second runs after it.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  return ready();
}
