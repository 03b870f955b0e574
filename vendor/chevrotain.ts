// chevrotain, as matc imports it. The package's entry is ~640 modules (lodash-es), which take
// ~0.4 s to load; `npm run build` (scripts/bundle.mjs) replaces the compiled form of this file
// with one bundled module of the same exports, so the compiler starts in a fraction of that.
// Until then it re-exports the package as it is.
export * from 'chevrotain';
