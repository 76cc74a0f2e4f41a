// node-gyp-build ships no types. It loads the addon built for this platform and
// runtime from build/ or prebuilds/ under the given package root, and throws
// when there is none.
declare module 'node-gyp-build' {
  function load(root: string): unknown;
  export = load;
}
