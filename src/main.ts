import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { current, type MainModule } from './current.js';

let cached: MainModule | null | undefined;

/**
 * True in a process that node's test runner started to run a test file: the
 * runner says so in the environment or the flags, and node:test is loaded (a
 * program merely spawned by a test may inherit the variable).
 */
export function underTestRunner(): boolean {
  const runner = process.env.NODE_TEST_CONTEXT !== undefined || process.execArgv.some((a) => a === '--test' || a.startsWith('--test='));
  const loaded = (process as unknown as { moduleLoadList?: string[] }).moduleLoadList;
  return runner && (loaded === undefined || loaded.includes('NativeModule test'));
}

/** The program's entry file as a `file:` URL (symlinks resolved, as `import.meta.url` has them), or null. */
function entryUrl(): string | null {
  const entry = process.argv[1];
  if (entry === undefined || entry === '') return null;
  try {
    return pathToFileURL(realpathSync(entry)).href;
  } catch {
    return null;
  }
}

/**
 * The module a child imports before the one that created its Process, as
 * Python's spawn re-imports `__main__`: it is what makes a target defined in
 * main (next to a factory in another module) resolvable. A child passes its
 * own on. Under node's test runner the entry is a test file, and importing it
 * would run its tests in the child, so there is none.
 */
export function mainModule(): MainModule | null {
  if (current.inheritedMain !== undefined) return current.inheritedMain;
  if (cached !== undefined) return cached;
  const url = underTestRunner() ? null : entryUrl();
  const commonjs = url !== null && require.main !== undefined && pathToFileURL(require.main.filename).href === url;
  cached = url === null ? null : { url, commonjs };
  return cached;
}

/** The entry file when it is a test file run by node's test runner, else null. */
export function testEntryUrl(): string | null {
  return underTestRunner() ? entryUrl() : null;
}

/** What `isMainModule` accepts: `import.meta` in ESM, `module` in CommonJS. */
export type ModuleMeta = { readonly url: string } | { readonly filename: string; readonly id: string };

/**
 * The `if __name__ == '__main__':` of multiproc: true only in the program's
 * entry module, and never in a child process, which imports that module to
 * find its target. `if (isMainModule(import.meta)) main();`
 */
export function isMainModule(meta: ModuleMeta): boolean {
  if (current.parent !== null) return false;
  if ('url' in meta) return typeof meta.url === 'string' && meta.url === entryUrl();
  return require.main !== undefined && (require.main as unknown) === meta;
}
