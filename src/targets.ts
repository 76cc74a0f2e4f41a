import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rememberAnchor } from './class-refs.js';

/**
 * How the parent names a function or class so that a child can find it
 * again: the module that holds it, its name, and its source text (the child
 * accepts only a function whose source is identical, so a different function
 * that happens to share the name is never run by mistake).
 */
export interface CodeRef {
  name: string;
  source: string;
}

/** A module the child must load: a `file:` URL, and how to load it. */
export interface ModuleRef {
  url: string;
  commonjs: boolean;
}

// dist/cjs/targets.js → dist: frames from the ESM facade and the CommonJS core are both ours.
const LIB_ROOT = basename(__dirname) === 'cjs' ? dirname(__dirname) : __dirname;

function isLibraryFile(path: string): boolean {
  return path === LIB_ROOT || path.startsWith(LIB_ROOT + sep);
}

type CallSites = NodeJS.CallSite[];

/**
 * The file of the first stack frame outside multiproc, found with V8's
 * CallSite API (never by parsing `err.stack`, which source maps rewrite).
 * For `new Singer()` where `Singer extends Process`, that frame is Singer's
 * constructor, so the module found is the one that defines the subclass.
 */
export function callerFile(below: Function): string | null {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  const holder: { stack?: CallSites } = {};
  try {
    Error.stackTraceLimit = 50;
    Error.prepareStackTrace = (_err, sites) => sites;
    Error.captureStackTrace(holder, below);
    for (const site of holder.stack ?? []) {
      const file = site.getFileName();
      if (!file || file.startsWith('node:')) continue;
      const path = file.startsWith('file:') ? fileURLToPath(file) : file;
      if (isLibraryFile(path)) continue;
      return file;
    }
    return null;
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}

/**
 * Turns a stack frame's file into a module the child can load, or explains
 * why it cannot: code typed into `node -e` or the REPL exists in no file.
 */
export function moduleOf(file: string | null, what: string): ModuleRef {
  const fix =
    `Put ${what} in a module file (for example worker.ts) at its top level and run that file ` +
    `with node or tsx; a child process re-imports that file to find it, as Python's spawn re-imports __main__.`;
  if (file === null) throw new TypeError(`multiproc: cannot tell which module defines ${what}. ${fix}`);
  if (file.startsWith('file:')) {
    if (!existsSync(fileURLToPath(file))) {
      throw new TypeError(`multiproc: ${what} comes from ${file}, which is not a file a child can import (code from node -e, --eval or the REPL). ${fix}`);
    }
    return { url: file, commonjs: false };
  }
  if (isAbsolute(file) && existsSync(file)) return { url: pathToFileURL(file).href, commonjs: true };
  throw new TypeError(`multiproc: ${what} comes from "${file}", which is not a file a child can import (code from node -e, --eval or the REPL). ${fix}`);
}

const TOP_LEVEL_HINT =
  'A target must be a function or class defined at the top level of a module (exported or not), or imported there. ' +
  'Inline arrows, nested functions (closures), bound functions and methods cannot be found by name in another process.';

/**
 * Names a function for the child, rejecting up front what can never be
 * found by name there, as Python refuses to pickle a lambda.
 */
export function describeCode(fn: Function, what: string): CodeRef {
  const source = Function.prototype.toString.call(fn);
  const name = fn.name;
  if (source.endsWith('{ [native code] }')) {
    if (name.startsWith('bound ')) {
      throw new TypeError(
        `multiproc: ${what} is a bound function ("${name}"), which cannot be sent to a child process. ` +
          `${TOP_LEVEL_HINT} Pass the bound values in args instead: new Process({ target: ${name.slice(6) || 'fn'}, args: [...] }).`,
      );
    }
    throw new TypeError(`multiproc: ${what} is a built-in function ("${name}"), which cannot be found by name in a child process. Wrap it in a top-level function of your module.`);
  }
  if (name === '' || !/^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u.test(name)) {
    throw new TypeError(`multiproc: ${what} is an anonymous function, which cannot be sent to a child process. ${TOP_LEVEL_HINT} Give it a name at the top level: function work(...) { ... }.`);
  }
  // Its scopes hold its module's other top-level bindings: where this process finds a class whose instance comes back.
  rememberAnchor(fn);
  return { name, source };
}

export { TOP_LEVEL_HINT };
