#!/usr/bin/env node
// The `multiproc` command: `multiproc worker redis://...` and `multiproc status redis://...`.
// Its pool's processes import this file as the main module, so it acts only when run.
import { isMainModule } from '../dist/index.mjs';
import { createRequire } from 'node:module';

if (isMainModule(import.meta)) {
  const { main } = createRequire(import.meta.url)('../dist/cjs/distributed/cli.js');
  process.exitCode = await main(process.argv.slice(2));
}
