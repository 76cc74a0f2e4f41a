import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Session } from 'node:inspector';
import { scopeRegistry } from './child/instrument.js';
import { call, findInClosureScopes, internalProperties, openSession } from './pool/scope-lookup.js';

/**
 * Instances of a user's classes cross a process boundary with their class,
 * as Python pickles an object by a reference to its class: the sender sends
 * the class's name, source text and module with the instance's own fields;
 * the receiver finds the same class (same name, identical source) among the
 * modules it has loaded and rebuilds the instance on its prototype, without
 * running the constructor. Structured clone alone would deliver a plain
 * object, whose methods are missing only when the receiver first calls one.
 *
 * Which classes: those defined in a module file (a project module or a
 * package). Built-ins that structured clone carries (Map, Set, Date, RegExp,
 * typed arrays, Error and subclasses) and classes of Node's own modules keep
 * structured clone's behaviour; private `#fields` are not sent (no code
 * outside a class can read them), so a class that keeps its state in them
 * arrives without it, as structured clone has it.
 */
export interface ClassRef {
  name: string;
  source: string;
  /** The module that defines the class (a file: URL). */
  url: string;
}

export const CLASS_MARK = '__multiproc_instance__';

export interface InstanceMarker {
  [CLASS_MARK]: ClassRef;
  fields: Record<string, unknown>;
}

const CLONED_AS_IS: Function[] = [Map, Set, Date, RegExp, Error, ArrayBuffer, SharedArrayBuffer, Boolean, Number, String, Promise, WeakMap, WeakSet];

/** The class of `value` when it is an instance of a class defined in a module file; `null` for everything structured clone carries as it is. */
export function userClassOf(value: object): Function | null {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || proto === Object.prototype || Array.isArray(value) || ArrayBuffer.isView(value)) return null;
  for (const builtIn of CLONED_AS_IS) if (value instanceof builtIn) return null;
  const ctor = (proto as { constructor?: unknown }).constructor;
  if (typeof ctor !== 'function' || ctor.prototype !== proto) return null;
  return describeClass(ctor) === null ? null : ctor;
}

const described = new WeakMap<Function, ClassRef | null>();
/** Classes this process has sent or rebuilt, by source: a reply of the same class needs no search. */
const knownBySource = new Map<string, Function>();

/** How the class `ctor` is named to another process, or null for a class of Node's own (structured clone as before). Throws when it can never be found. */
export function describeClass(ctor: Function): ClassRef | null {
  if (described.has(ctor)) return described.get(ctor)!;
  const source = Function.prototype.toString.call(ctor);
  let ref: ClassRef | null = null;
  if (!source.endsWith('{ [native code] }')) {
    const url = definingModule(ctor);
    if (url !== null && !url.startsWith('node:')) {
      const name = ctor.name;
      const fix =
        'Define the class at the top level of a module file (and export it), so that the receiving process finds it by name as Python finds a pickled class; ' +
        'or send plain data (an object of its fields) and rebuild the instance there.';
      if (name === '' || !/^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u.test(name)) {
        throw Object.assign(new TypeError(`multiproc: an instance of an anonymous class cannot be sent to another process: the receiver cannot find its class by name. ${fix}`), {
          code: 'ERR_MULTIPROC_CLASS_NOT_FOUND',
        });
      }
      if (!url.startsWith('file:')) {
        throw Object.assign(new TypeError(`multiproc: an instance of class ${name} cannot be sent to another process: the class comes from ${url || 'code without a file (node -e, eval or the REPL)'}, which another process cannot load. ${fix}`), {
          code: 'ERR_MULTIPROC_CLASS_NOT_FOUND',
        });
      }
      // Where the module is instrumented (in a child), a class that is not a top-level binding of it
      // (declared inside a function) is known now: the receiver would never find it by name.
      const lookup = scopeRegistry().get(url);
      if (lookup !== undefined && !isBinding(lookup, name, ctor)) {
        throw Object.assign(
          new TypeError(`multiproc: an instance of class ${name} cannot be sent to another process: ${name} is not defined at the top level of ${url} (a class declared inside a function exists only in that call). ${fix}`),
          { code: 'ERR_MULTIPROC_CLASS_NOT_FOUND' },
        );
      }
      ref = { name, source, url };
      knownBySource.set(source, ctor);
    }
  }
  described.set(ctor, ref);
  return ref;
}

function isBinding(lookup: (name: string) => unknown, name: string, ctor: Function): boolean {
  try {
    return lookup(name) === ctor;
  } catch {
    return false;
  }
}

/** The marker that stands for an instance of `ctor` in the bytes (its fields are filled by the caller's walk). */
export function instanceMarker(ctor: Function): InstanceMarker {
  return { [CLASS_MARK]: described.get(ctor)!, fields: {} };
}

export function isInstanceMarker(value: object): value is InstanceMarker {
  const ref = (value as Record<string, unknown>)[CLASS_MARK];
  return typeof ref === 'object' && ref !== null && typeof (ref as ClassRef).source === 'string';
}

/** The instance a marker stands for, on its class found in this process; its fields are set by the caller's walk. */
export function emptyInstance(ref: ClassRef): object {
  return Object.create((findClass(ref) as { prototype: object }).prototype) as object;
}

// Functions multiproc named for a child (targets, Pool tasks, initializers): their scopes hold the other
// top-level bindings of their modules, which is how the parent, whose modules nobody instrumented, finds a class.
const anchors: Function[] = [];
const MAX_ANCHORS = 64;

export function rememberAnchor(fn: Function): void {
  if (anchors.includes(fn)) return;
  if (anchors.length >= MAX_ANCHORS) anchors.shift();
  anchors.push(fn);
}

function findClass(ref: ClassRef): Function {
  const known = knownBySource.get(ref.source);
  if (known !== undefined) return known;
  const matches = (value: unknown): value is Function => typeof value === 'function' && Function.prototype.toString.call(value) === ref.source;
  const found = inModuleScopes(ref, matches) ?? inCommonJsExports(ref, matches) ?? inAnchorScopes(ref, matches);
  if (found === null) {
    throw Object.assign(
      new TypeError(
        `multiproc: an instance of class ${ref.name} (from ${ref.url}) arrived in process ${process.pid}, which cannot find that class: ` +
          `no loaded module here has a top-level class ${ref.name} with the same source (a class declared inside a function is never found). ` +
          `Import the module that defines ${ref.name} in the receiving process (or export the class from it, when it is the main module), ` +
          'and run the same version of the code on both sides.',
      ),
      { code: 'ERR_MULTIPROC_CLASS_NOT_FOUND' },
    );
  }
  knownBySource.set(ref.source, found);
  return found;
}

/** In a child, every project module is instrumented: its top-level bindings are reachable by name. */
function inModuleScopes(ref: ClassRef, matches: (value: unknown) => value is Function): Function | null {
  const scopes = scopeRegistry();
  const own = scopes.get(ref.url);
  for (const lookup of own === undefined ? scopes.values() : [own, ...scopes.values()]) {
    try {
      const value = lookup(ref.name);
      if (matches(value)) return value;
    } catch {
      // not a binding of that module
    }
  }
  return null;
}

function inCommonJsExports(ref: ClassRef, matches: (value: unknown) => value is Function): Function | null {
  let exports: unknown;
  try {
    const path = fileURLToPath(ref.url);
    exports = createRequire(path).cache[path]?.exports;
  } catch {
    return null;
  }
  if (exports === null || (typeof exports !== 'object' && typeof exports !== 'function')) return null;
  if (matches(exports)) return exports;
  for (const key of Object.keys(exports)) {
    const value = (exports as Record<string, unknown>)[key];
    if (matches(value)) return value;
  }
  return null;
}

function inAnchorScopes(ref: ClassRef, matches: (value: unknown) => value is Function): Function | null {
  for (const anchor of anchors) {
    const value = findInClosureScopes(anchor, ref.name, matches);
    if (matches(value)) return value;
  }
  return null;
}

/**
 * The module file that defines `ctor`: V8 knows the script of every
 * function; the inspector (in this thread, nothing attached or paused) maps
 * it to a URL. Asked once per class; the script list is read once and again
 * only for a script loaded since.
 */
const scriptUrls = new Map<string, string>();

function definingModule(ctor: Function): string | null {
  let session: Session | null = null;
  try {
    session = openSession();
    if (session === null) return null;
    const location = internalProperties(session, ctor).find((p) => p.name === '[[FunctionLocation]]')?.value?.value as { scriptId?: string } | undefined;
    const scriptId = location?.scriptId;
    if (scriptId === undefined) return null;
    if (!scriptUrls.has(scriptId)) {
      session.on('Debugger.scriptParsed', (message: { params: { scriptId: string; url: string } }) => scriptUrls.set(message.params.scriptId, message.params.url));
      call(session, 'Debugger.enable', {});
      call(session, 'Debugger.disable', {});
    }
    return scriptUrls.get(scriptId) ?? null;
  } catch {
    return null; // the inspector failed: structured clone as before
  } finally {
    session?.disconnect();
  }
}
