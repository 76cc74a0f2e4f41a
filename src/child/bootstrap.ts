/**
 * The entry point of every child process: in a zygote, the library (this
 * file's imports, lifecycle.ts and all it loads) is compiled eagerly, then
 * the main module lazily (see eager-compile.ts). The flag must be set before
 * V8 compiles lifecycle.ts itself, hence this file.
 */
import { compileLazilyFromNowOn } from './eager-compile.js';
import './lifecycle.js';

compileLazilyFromNowOn();
