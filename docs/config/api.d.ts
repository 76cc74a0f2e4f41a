// What the API reference documents: the package's root, and its
// multiproc/futures subpath as the namespace `futures`.
export * from '../../dist/cjs/index.js';
export * as futures from '../../dist/cjs/futures/index.js';
