import { deserialize, serialize } from 'node:v8';
import { CLASS_MARK, emptyInstance, instanceMarker, isInstanceMarker, userClassOf } from './class-refs.js';
import { ProcessError } from './errors.js';

/**
 * How values cross a process boundary: V8's structured clone (Map, Set,
 * Date, BigInt, RegExp, typed arrays, Error...), plus one registry of rules
 * for multiproc's own objects (a Connection today; Queues, Locks, shared
 * memory later): each rule turns an object into plain data and the file
 * descriptors it needs, and rebuilds it on the other side. Serialization
 * happens in the parent before any process exists, so a value that cannot
 * travel fails in `start()` and never leaves a half-started child behind.
 */
export interface HandleSink {
  /** Hands a file descriptor to the child; returns its index among the child's inherited handles. */
  pass(fd: number): number;
  /** Runs `moved` once the child has been handed its job (never if starting it failed): to drop here what went with it. */
  afterHandOver(moved: () => void): void;
}

export interface HandleSource {
  /** The file descriptor, in this process, of the handle passed at `index`. */
  fd(index: number): number;
}

export interface Reducer<T extends object> {
  readonly name: string;
  matches(value: object): value is T;
  reduce(value: T, handles: HandleSink): unknown;
  rebuild(state: unknown, handles: HandleSource): T;
  /** The error for one of these inside a value that is not going to a new child; default: Python's "inheritance" message. */
  refuse?(what: string): Error;
  /**
   * Present for an object that needs no descriptor (a manager's proxy): its
   * state for any message (a Queue item, a Pool task, a Connection's value),
   * rebuilt on the other side by `rebuild`, as Python pickles a proxy anywhere.
   */
  portable?(value: T): unknown;
}

const reducers = new Map<string, Reducer<object>>();
const MARK = '__multiproc_reduced__';

export function registerReducer<T extends object>(reducer: Reducer<T>): void {
  reducers.set(reducer.name, reducer as unknown as Reducer<object>);
}

type Visit = (value: object) => unknown;

/**
 * One walk over a value: `visit` may replace an object (multiproc's own);
 * `classes` turns instances of user classes into markers ('encode') or
 * markers back into instances ('decode').
 */
interface Walk {
  visit: Visit | null;
  classes: 'encode' | 'decode' | null;
  seen: Map<object, unknown>;
}

/** Copy-on-write walk over arrays, plain objects, Maps, Sets and user class instances: returns the value itself when nothing changed. */
function walk(value: unknown, w: Walk): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const { seen } = w;
  if (seen.has(value)) return seen.get(value);
  seen.set(value, value);
  const replaced = w.visit === null ? value : w.visit(value);
  if (replaced !== value) {
    seen.set(value, replaced);
    return replaced;
  }
  if (w.classes === 'encode') {
    const ctor = userClassOf(value);
    if (ctor !== null) {
      const marker = instanceMarker(ctor);
      seen.set(value, marker);
      for (const key of Object.keys(value)) marker.fields[key] = walk((value as Record<string, unknown>)[key], w);
      return marker;
    }
  } else if (w.classes === 'decode' && isInstanceMarker(value)) {
    const instance = emptyInstance(value[CLASS_MARK]) as Record<string, unknown>;
    seen.set(value, instance);
    for (const [key, field] of Object.entries(value.fields)) instance[key] = walk(field, w);
    return instance;
  }
  let copy: unknown = value;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const next = walk(item, w);
      if (next !== item) ((copy === value ? (copy = [...value]) : copy) as unknown[])[i] = next;
    });
  } else if (value instanceof Map) {
    const before = [...value];
    const after = before.map(([k, v]) => [walk(k, w), walk(v, w)] as [unknown, unknown]);
    if (after.some(([k, v], i) => k !== before[i]![0] || v !== before[i]![1])) copy = new Map(after);
  } else if (value instanceof Set) {
    const before = [...value];
    const after = before.map((v) => walk(v, w));
    if (after.some((v, i) => v !== before[i])) copy = new Set(after);
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    for (const [key, item] of Object.entries(value)) {
      const next = walk(item, w);
      if (next !== item) ((copy === value ? (copy = { ...value }) : copy) as Record<string, unknown>)[key] = next;
    }
  }
  seen.set(value, copy);
  return copy;
}

/** Replaces objects inside `value` (arrays, plain objects, Maps and Sets are walked) with what `visit` returns; copies only what changed. */
export function mapObjects(value: unknown, visit: (object: object) => unknown): unknown {
  return walk(value, { visit, classes: null, seen: new Map() });
}

/**
 * A message's value (a Queue item, a Pool task, a Connection's value) with
 * what the receiver must rebuild replaced by markers: the objects of portable
 * rules (see Reducer.portable) and instances of user classes.
 * `refuseInheritanceOnly` says when there are any.
 */
export function reduceForMessage(value: unknown): unknown {
  const visit: Visit = (object) => {
    for (const reducer of reducers.values()) if (reducer.portable !== undefined && reducer.matches(object)) return { [MARK]: reducer.name, state: reducer.portable(object) };
    return object;
  };
  return walk(value, { visit, classes: 'encode', seen: new Map() });
}

/** The inverse of `reduceForMessage`, on receipt. */
export function rebuildMessage(value: unknown): unknown {
  return walk(value, { visit: rebuilder(null), classes: 'decode', seen: new Map() });
}

/**
 * Serializes `value` for a child, replacing registered objects; returns the
 * bytes, the fds to hand over, and `handedOver`, to call once the child has its job.
 */
export function dumpsForChild(value: unknown, what: string): { bytes: Uint8Array; fds: number[]; handedOver(): void } {
  const fds: number[] = [];
  const moved: Array<() => void> = [];
  const sink: HandleSink = { pass: (fd) => fds.push(fd) - 1, afterHandOver: (done) => void moved.push(done) };
  const visit: Visit = (object) => {
    for (const reducer of reducers.values()) if (reducer.matches(object)) return { [MARK]: reducer.name, state: reducer.reduce(object, sink) };
    return object;
  };
  const reduced = walk(value, { visit, classes: 'encode', seen: new Map()});
  return { bytes: dumps(reduced, what), fds, handedOver: () => moved.forEach((done) => done()) };
}

/** The inverse of `dumpsForChild`, in the child. */
export function loadsInChild(bytes: Uint8Array, handles: HandleSource | null): unknown {
  return walk(loads(bytes), { visit: rebuilder(handles), classes: 'decode', seen: new Map() });
}

/** Rebuilds the objects of registered rules, with the descriptors that came with them (none in a message). */
function rebuilder(handles: HandleSource | null): Visit {
  return (object) => {
    const name = (object as Record<string, unknown>)[MARK];
    if (typeof name !== 'string') return object;
    const reducer = reducers.get(name);
    if (reducer === undefined) throw new TypeError(`multiproc: no rule to rebuild a ${name} in this process`);
    // Without an fd channel (no native addon), only what needs no descriptor can be rebuilt (a primitive of the sync server, a proxy).
    const source: HandleSource = handles ?? {
      fd: () => {
        throw new TypeError(`multiproc: a ${name} arrived without its file descriptors`);
      },
    };
    return reducer.rebuild((object as { state: unknown }).state, source);
  };
}

/**
 * Refuses multiproc's own objects (Connections, Queues...) inside a value that
 * is not going to a new child (a Queue item, a value sent on a Connection):
 * they stand for descriptors and shared memory that only a child's start
 * hands over, and V8 would carry them as empty objects. Python refuses a Queue
 * or a Lock the same way, with the same message (a RuntimeError there).
 * The same look tells whether `value` holds what the receiver must rebuild
 * (true: it needs `reduceForMessage`): objects of portable rules (a manager's
 * proxy) or instances of user classes; a value without any is walked once.
 */
export function refuseInheritanceOnly(value: unknown, what: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  let rebuilt = false;
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) return v.forEach(visit);
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof RegExp) return;
    if (v instanceof Map) return v.forEach((item, key) => (visit(key), visit(item)));
    if (v instanceof Set) return v.forEach(visit);
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      for (const reducer of reducers.values()) {
        if (!reducer.matches(v)) continue;
        if (reducer.portable !== undefined) return void (rebuilt = true);
        throw reducer.refuse?.(what) ?? inheritanceOnly(reducer.name.replace(/^sync:/, ''), what);
      }
      if (v instanceof Error) visit((v as { cause?: unknown }).cause);
      else if (!rebuilt && userClassOf(v) !== null) rebuilt = true;
    }
    // What V8 clones of any other object: its own enumerable properties.
    for (const key of Object.keys(v)) visit((v as Record<string, unknown>)[key]);
  };
  visit(value);
  return rebuilt;
}

function inheritanceOnly(name: string, what: string): ProcessError {
  const python = `${name} objects should only be shared between processes through inheritance`;
  const howTo =
    name === 'Connection'
      ? 'Pass the Connection to a child in its Process args (or kwargs), where its descriptor is handed over as the child starts; ' +
        'Python can also send one over a Connection or a Queue (through its resource sharer), multiproc cannot.'
      : `Pass the ${name} to a child in its Process args (or kwargs), where its descriptors and shared memory are handed over as the child starts.`;
  return Object.assign(new ProcessError(`${python}: ${what} cannot carry one. ${howTo}`), { code: 'ERR_MULTIPROC_INHERITANCE_ONLY' });
}

export function dumps(value: unknown, what: string): Uint8Array {
  try {
    return serialize(value);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw Object.assign(
      new TypeError(
        `multiproc: ${what} cannot be sent to a child process: ${reason.replace(/\.$/, '')}. ` +
          'Arguments travel by structured clone (plain objects, arrays, Map, Set, Date, BigInt, typed arrays, Error...) ' +
          'instances of classes defined at the top level of a module, and multiproc\'s own objects (Connection); functions, sockets and other handles do not. ' +
          'Pass plain data and rebuild the rest in the child.',
        { cause: err },
      ),
      { code: 'ERR_MULTIPROC_NOT_CLONEABLE' },
    );
  }
}

export function loads(bytes: Uint8Array): unknown {
  return deserialize(bytes);
}
