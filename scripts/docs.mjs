// Generates the API reference, docs/api/, from the TSDoc comments of the
// public surface (dist/cjs/index.d.ts and the multiproc/futures subpath) with
// API Extractor and API Documenter. `--check` generates it elsewhere and
// fails when docs/api differs, so that CI catches a reference gone stale.
// Run `npm run build` first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const published = join(root, 'docs', 'api');
const check = process.argv.includes('--check');

if (!existsSync(join(root, 'dist', 'cjs', 'index.d.ts'))) {
  console.error('docs: dist/ is missing; run `npm run build` first.');
  process.exit(1);
}
const model = join(root, 'out', 'api');
rmSync(model, { recursive: true, force: true });
execFileSync(bin('api-extractor'), ['run', '--local', '-c', join(root, 'docs', 'config', 'api-extractor.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
const target = check ? mkdtempSync(join(tmpdir(), 'multiproc-docs-')) : published;
execFileSync(bin('api-documenter'), ['markdown', '-i', model, '-o', target], { stdio: ['ignore', 'ignore', 'inherit'] });
if (!check) {
  console.log(`docs: wrote ${readdirSync(published).length} pages to docs/api (start at docs/api/index.md)`);
  process.exit(0);
}

const pages = (dir) => (existsSync(dir) ? readdirSync(dir).sort() : []);
const fresh = pages(target);
const stale = [];
for (const name of new Set([...fresh, ...pages(published)])) {
  const a = existsSync(join(target, name)) ? readFileSync(join(target, name), 'utf8') : null;
  const b = existsSync(join(published, name)) ? readFileSync(join(published, name), 'utf8') : null;
  if (a !== b) stale.push(a === null ? `${name} (should not exist)` : b === null ? `${name} (missing)` : name);
}
rmSync(target, { recursive: true, force: true });
if (stale.length > 0) {
  console.error(`docs: docs/api is out of date with the TSDoc of the public API (${stale.length} pages: ${stale.slice(0, 8).join(', ')}${stale.length > 8 ? ', ...' : ''}).\nRun \`npm run docs\` and commit docs/api.`);
  process.exit(1);
}
console.log(`docs: docs/api is up to date (${fresh.length} pages)`);
