/**
 * Source instrumentation that makes a module's top-level scope reachable by
 * name in a child: one statement appended to every project module registers
 * a function that evaluates a name inside that module. A direct `eval` in a
 * nested function sees every top-level binding: functions, classes,
 * `const`/`let`/`var` and import bindings, exported or not. `arguments[0]` is
 * used instead of a parameter so that no user name is shadowed. The code
 * changes no line of the module, so stacks and source maps stay right.
 */
export const SCOPES = Symbol.for('multiproc.scopes');

export type ScopeLookup = (name: string) => unknown;

export function scopeRegistry(): Map<string, ScopeLookup> {
  const holder = globalThis as { [SCOPES]?: Map<string, ScopeLookup> };
  holder[SCOPES] ??= new Map();
  return holder[SCOPES];
}

/** Project modules only: files outside node_modules and outside multiproc itself. */
export function shouldInstrument(url: string, libraryUrl: string): boolean {
  return url.startsWith('file:') && !url.includes('/node_modules/') && !url.startsWith(libraryUrl) && !url.endsWith('.json');
}

const MAP_COMMENT = /\n\/\/[#@] sourceMappingURL=[^\n]*\s*$/;

/**
 * Appends the registration, before a trailing source-map comment (which must
 * stay last) and, for tsx's CommonJS output, inside the arrow function that
 * wraps the whole module (`__filename=...;(()=>{ ... })()`), where the
 * top-level bindings live.
 */
export function instrument(source: string, url: string): string {
  const statement = `\n;globalThis[Symbol.for("multiproc.scopes")]?.set(${JSON.stringify(url)},function(){return eval(arguments[0])});\n`;
  const map = MAP_COMMENT.exec(source);
  const body = map === null ? source : source.slice(0, map.index);
  const tail = map === null ? '' : source.slice(map.index);
  const wrapped = /^(?:"use strict";)?\s*var __filename\s*=|^__filename\s*=/.test(body) ? /\}\)\(\)\s*;?\s*$/.exec(body) : null;
  if (wrapped !== null) return body.slice(0, wrapped.index) + statement + body.slice(wrapped.index) + tail;
  return body + statement + tail;
}
