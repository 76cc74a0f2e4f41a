import type { Session } from 'node:inspector';

/**
 * Finds a binding of a module that this process has already loaded, through
 * a function defined in that module: V8 keeps the module's scope, with every
 * top-level binding the function's module closes over, and the inspector
 * protocol (in this thread, no debugger attached or paused) shows it.
 *
 * Why not import the module again: the main module of
 * `if (isMainModule(import.meta)) await main();` is still running its
 * top-level await while a Pool's results come in, and an `import()` of it
 * waits until main() returns, which may be never. This finds the class at
 * once, exported or not.
 */

const HANDOFF = Symbol.for('multiproc.scopeLookup');
type Slot = { [HANDOFF]?: unknown };

interface RemoteObject {
  objectId?: string;
  description?: string;
  /** A plain value, such as [[FunctionLocation]]'s { scriptId, lineNumber, columnNumber }. */
  value?: unknown;
}
interface PropertyDescriptor {
  name: string;
  value?: RemoteObject;
}
interface Properties {
  result: PropertyDescriptor[];
  internalProperties?: PropertyDescriptor[];
}

let inspectorModule: typeof import('node:inspector') | null | undefined;

/** A session with the inspector of this thread, or null in a node built without one. */
export function openSession(): Session | null {
  if (inspectorModule === undefined) {
    try {
      inspectorModule = require('node:inspector') as typeof import('node:inspector');
    } catch {
      inspectorModule = null; // a node built without the inspector
    }
  }
  if (inspectorModule === null) return null;
  const session = new inspectorModule.Session();
  session.connect();
  return session;
}

/** The inspector answers a call in this thread before `post` returns. */
export function call<T>(session: Session, method: string, params: object): T {
  let reply: { error: Error | null; result: T } | null = null;
  session.post(method, params, (error, result) => (reply = { error, result: result as T }));
  if (reply === null) throw new Error(`no synchronous reply to ${method}`);
  const { error, result } = reply as { error: Error | null; result: T };
  if (error !== null) throw error;
  return result;
}

/**
 * V8's internal properties of `fn` ([[Scopes]], [[FunctionLocation]]...): the
 * function reaches the inspector through a global slot, as the protocol
 * names objects only by what an expression evaluates to.
 */
export function internalProperties(session: Session, fn: Function, group: { objectGroup?: string } = {}): PropertyDescriptor[] {
  const slot = globalThis as Slot;
  slot[HANDOFF] = fn;
  try {
    const probe = call<{ result: RemoteObject }>(session, 'Runtime.evaluate', { expression: `globalThis[Symbol.for('multiproc.scopeLookup')]`, ...group }).result;
    return call<Properties>(session, 'Runtime.getProperties', { objectId: probe.objectId, ownProperties: true, ...group }).internalProperties ?? [];
  } finally {
    delete slot[HANDOFF];
  }
}

/**
 * The value named `name` in the scopes that `fn` closes over (its module's
 * top level among them) for which `accept` holds, or null.
 */
export function findInClosureScopes(fn: Function, name: string, accept: (value: unknown) => boolean): unknown {
  let session: Session | null = null;
  const slot = globalThis as Slot;
  try {
    session = openSession();
    if (session === null) return null;
    const group = { objectGroup: 'multiproc' };
    const scopes = internalProperties(session, fn, group).find((property) => property.name === '[[Scopes]]')?.value?.objectId;
    if (scopes === undefined) return null;
    for (const scope of call<Properties>(session, 'Runtime.getProperties', { objectId: scopes, ownProperties: true, ...group }).result) {
      // The global scope is everyone's; a module's own bindings are in the others.
      if (scope.value?.objectId === undefined || scope.value.description === 'Global') continue;
      const bindings = call<Properties>(session, 'Runtime.getProperties', { objectId: scope.value.objectId, ownProperties: true, ...group }).result;
      const binding = bindings.find((property) => property.name === name)?.value?.objectId;
      if (binding === undefined) continue;
      slot[HANDOFF] = undefined;
      call(session, 'Runtime.callFunctionOn', { objectId: binding, functionDeclaration: `function () { globalThis[Symbol.for('multiproc.scopeLookup')] = this; }` });
      if (accept(slot[HANDOFF])) return slot[HANDOFF];
    }
    return null;
  } catch {
    return null;
  } finally {
    delete slot[HANDOFF];
    session?.disconnect();
  }
}
