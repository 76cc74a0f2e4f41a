import { instrument, shouldInstrument } from './instrument.js';

/**
 * ESM load hooks of a child process. On Node 20 they run on the loader
 * thread (`module.register`); on Node >= 22.15 the same `transform` runs
 * in-thread through `module.registerHooks`. A hook registered after tsx's
 * runs first, so `nextLoad` hands us tsx's JavaScript output.
 */
export interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | ArrayBufferView | null;
  shortCircuit?: boolean;
}

type NextLoad = (url: string, context?: unknown) => LoadResult | Promise<LoadResult>;

let libraryUrl = 'file:///nonexistent/';

export function initialize(data: { libraryUrl: string }): void {
  libraryUrl = data.libraryUrl;
}

const INSTRUMENTED_FORMATS = new Set(['module', 'module-typescript', 'commonjs', 'commonjs-typescript']);

export function transform(url: string, result: LoadResult): LoadResult {
  // A CommonJS result without source goes to the CommonJS loader, instrumented by the _compile patch.
  if (result.source === null || result.source === undefined || !INSTRUMENTED_FORMATS.has(result.format ?? '')) return result;
  if (!shouldInstrument(url, libraryUrl)) return result;
  const text = typeof result.source === 'string' ? result.source : Buffer.from(result.source as ArrayBuffer).toString('utf8');
  return { ...result, source: instrument(text, url) };
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  return transform(url, await nextLoad(url, context));
}
