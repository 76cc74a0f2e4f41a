import { fileURLToPath } from 'node:url';
import type { CodeRef, ModuleRef } from '../targets.js';
import { TOP_LEVEL_HINT } from '../targets.js';
import { scopeRegistry } from './instrument.js';

/**
 * A module loaded in the child, with what it exports (searched too: it covers
 * `export default function () {}`); `undefined` when not read yet.
 */
export interface LoadedModule {
  ref: ModuleRef;
  exports: unknown;
  role: string;
}

/** The exports of a module that is already loaded: from the require cache, or a (cached) import(). */
async function loadedExports(url: string): Promise<unknown> {
  const cached = require.cache[fileURLToPath(url)];
  if (cached !== undefined) return cached.exports;
  try {
    return await import(url);
  } catch {
    return undefined;
  }
}

const toSource = (value: unknown): string | null => (typeof value === 'function' ? Function.prototype.toString.call(value) : null);

function exportedValues(exports: unknown): unknown[] {
  if (exports === null || (typeof exports !== 'object' && typeof exports !== 'function')) return [];
  const values: unknown[] = typeof exports === 'function' ? [exports] : [];
  for (const key of Object.keys(exports)) {
    try {
      values.push((exports as Record<string, unknown>)[key]);
    } catch {
      // an export still in its temporal dead zone
    }
  }
  return values;
}

/**
 * Finds the function or class the parent named: first in the module that
 * created the Process, then in the main module, then in every other project
 * module loaded here (which covers renamed imports and CommonJS-compiled
 * ones). A candidate counts only if its source text is identical to the
 * parent's, so a different function that shares the name is never run.
 */
export async function resolveCode(ref: CodeRef, modules: readonly LoadedModule[], what: string): Promise<Function> {
  return findInScopes(ref, modules) ?? (await findAnywhere(ref, modules, what));
}

/** The modules this child's job named (the creating module, main): where a Pool worker looks for task functions. */
export const jobModules: LoadedModule[] = [];

/** The fast path, synchronous: the name in the creating module, then in main, then anywhere in scope. */
export function findInScopes(ref: CodeRef, modules: readonly LoadedModule[]): Function | undefined {
  const scopes = scopeRegistry();
  for (const url of [...modules.map((m) => m.ref.url), ...scopes.keys()]) {
    const lookup = scopes.get(url);
    if (lookup === undefined) continue;
    try {
      const value = lookup(ref.name);
      if (toSource(value) === ref.source) return value as Function;
    } catch {
      // not a binding of that module
    }
  }
  return undefined;
}

async function findAnywhere(ref: CodeRef, modules: readonly LoadedModule[], what: string): Promise<Function> {
  const scopes = scopeRegistry();
  const tried: string[] = [];
  const matches = (value: unknown): value is Function => toSource(value) === ref.source;
  const inScope = (url: string): unknown => {
    const lookup = scopes.get(url);
    if (lookup === undefined) return undefined;
    try {
      return lookup(ref.name);
    } catch {
      return undefined;
    }
  };
  for (const module of modules) {
    const value = inScope(module.ref.url);
    if (matches(value)) return value;
    const exported = exportedValues(module.exports ?? (await loadedExports(module.ref.url))).find(matches);
    if (exported !== undefined) return exported as Function;
    if (!scopes.has(module.ref.url)) tried.push(`${module.ref.url} (${module.role}): not instrumented, searched its exports only`);
    else if (value === undefined) tried.push(`${module.ref.url} (${module.role}): no top-level "${ref.name}"`);
    else tried.push(`${module.ref.url} (${module.role}): its top-level "${ref.name}" is a different ${typeof value === 'function' ? 'function' : typeof value}`);
  }
  const searched = new Set(modules.map((m) => m.ref.url));
  const others = [...scopes.keys()].filter((url) => !searched.has(url));
  for (const url of others) {
    const value = inScope(url);
    if (matches(value)) return value;
  }
  // Last, what the other modules export: an anonymous `export default function` has no name in scope.
  for (const url of others) {
    const exported = exportedValues(await loadedExports(url)).find(matches);
    if (exported !== undefined) return exported as Function;
  }
  tried.push(`${others.length} other loaded module${others.length === 1 ? '' : 's'}: no top-level "${ref.name}" and no export with the same source`);
  throw new TypeError(
    `multiproc: cannot find ${what} ("${ref.name}") in the child process. Looked in:\n  - ${tried.join('\n  - ')}\n` +
      `${TOP_LEVEL_HINT} Define "${ref.name}" at the top level of the module that creates the Process, or import it there ` +
      '(and keep code that starts processes under an isMainModule(import.meta) guard).',
  );
}
