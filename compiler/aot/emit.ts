// The text of a module written by `matc compile`: an ES module that embeds the data of
// compiler/aot/build.ts as literals and exports the functions, and its typed declarations (.d.ts).

import type { AotModuleData, AotSignature } from '../../core/aot-format.js';

const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface ' +
    'package private protected public await arguments eval undefined NaN Infinity'
  ).split(' '),
);
/** Names the generated module exports itself. */
const OWN_EXPORTS = new Set(['functions', 'load', 'createModule', 'module', 'default', 'Functions', 'Tensor', 'mod', 'data']);

function isIdent(s: string): boolean {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s);
}

/** The export name of each function ("sgd.init" → sgd_init), or null where none is safe. */
export function exportNames(names: string[]): Map<string, string | null> {
  const out = new Map<string, string | null>();
  const taken = new Set<string>();
  // exact identifiers first, so that a function named sgd_init keeps its name over "sgd.init"
  const order = [...names.filter(isIdent), ...names.filter((n) => !isIdent(n))];
  for (const n of order) {
    let id = n.replace(/[^A-Za-z0-9_$]/g, '_');
    if (/^[0-9]/.test(id)) id = `_${id}`;
    if (RESERVED.has(id) || OWN_EXPORTS.has(id) || taken.has(id)) out.set(n, null);
    else {
      out.set(n, id);
      taken.add(id);
    }
  }
  return out;
}

function key(k: string): string {
  return isIdent(k) && !RESERVED.has(k) ? k : JSON.stringify(k);
}

/** A JS literal for embedded data: numbers JSON cannot spell (−0, ±∞, NaN) survive, and long
 *  texts (IR, WGSL) are template literals so the generated file reads as the text it holds. */
function lit(v: unknown, ind: string): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') {
    if (Object.is(v, -0)) return '-0';
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') {
    if (v.includes('\n') && !/[`\\\r]|\$\{/.test(v)) return '`' + v + '`';
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const flat = v.every((x) => x === null || typeof x !== 'object');
    if (flat) {
      const one = `[${v.map((x) => lit(x, ind)).join(', ')}]`;
      if (one.length <= 100 && !one.includes('\n')) return one;
    }
    const inner = ind + '  ';
    return `[\n${v.map((x) => inner + lit(x, inner)).join(',\n')},\n${ind}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  const prim = (x: unknown) => x === null || typeof x !== 'object';
  const simple = entries.every(([, x]) => prim(x) || (Array.isArray(x) && x.every(prim)));
  if (simple) {
    const one = `{ ${entries.map(([k, x]) => `${key(k)}: ${lit(x, ind)}`).join(', ')} }`;
    if (one.length <= 100 && !one.includes('\n')) return one;
  }
  const inner = ind + '  ';
  return `{\n${entries.map(([k, x]) => `${inner}${key(k)}: ${lit(x, inner)}`).join(',\n')},\n${ind}}`;
}

function signatureLine(name: string, s: AotSignature): string {
  const ps = s.params.map((p) => `${p.name}: ${p.type}${p.default !== undefined ? ` = ${p.default}` : ''}`);
  const ints = s.intParams.map((p) => `${p.name}: int${p.default !== undefined ? ` = ${p.default}` : ''}`);
  const rs = s.results.map((r) => `${r.name}: ${r.type}`);
  const res = rs.length === 1 ? rs[0]! : `(${rs.join(', ')})`;
  const where = s.derivedDims.length ? ` where ${s.derivedDims.map((d) => `${d.name} = ${d.value}`).join(', ')}` : '';
  return `${s.kind} ${name}(${[...ps, ...ints].join(', ')}) -> ${res}${where}`;
}

function tsString(s: string): string {
  return JSON.stringify(s);
}

/** The function's type in the .d.ts: MatcFunction<inputs, outputs, differentiable inputs>. */
function functionType(s: AotSignature, ind: string): string {
  const inner = ind + '    ';
  // a collection's elements (cores[0], cores[1], …) may be given one by one or as an array
  const cols = new Map<string, number>();
  for (const p of s.params) {
    const m = /^(.+)\[(\d+)\]$/.exec(p.name);
    if (m) cols.set(m[1]!, Math.max(cols.get(m[1]!) ?? 0, Number(m[2]) + 1));
  }
  const inputs = s.params.map((p) => `${inner}/** ${p.type}${p.default !== undefined ? ` (default ${p.default})` : ''} */\n${inner}${key(p.name)}${p.default !== undefined || /^(.+)\[\d+\]$/.test(p.name) ? '?' : ''}: InputValue;`);
  for (const [c, n] of cols) inputs.push(`${inner}/** the collection ${c}[0] … ${c}[${n - 1}] as an array */\n${inner}${key(c)}?: readonly InputValue[];`);
  const outputs = s.results.map((r) => `${inner}/** ${r.type} */\n${inner}${key(r.name)}: Tensor;`);
  const diff = [...new Set([...s.gradients, ...s.tangents])];
  const g = diff.length ? diff.map(tsString).join(' | ') : 'never';
  return `MatcFunction<\n${ind}  {\n${inputs.join('\n')}\n${ind}  },\n${ind}  {\n${outputs.join('\n')}\n${ind}  },\n${ind}  ${g}\n${ind}>`;
}

export interface EmittedModule {
  js: string;
  dts: string;
}

/** The ES module and its declarations for embedded data. `runtime`: the import specifier. */
export function emitModule(data: AotModuleData, runtime: string): EmittedModule {
  const names = Object.keys(data.functions);
  const ids = exportNames(names);
  const spec = JSON.stringify(runtime);
  const header = [
    `// Generated by matc ${data.matc} (matc compile) from ${data.source}; do not edit: recompile.`,
    `// Needs only matc's runtime (${runtime}); the printed IR runs on the CPU reference, the WGSL on WebGPU.`,
    '//',
    ...names.map((n) => `//   ${signatureLine(n, data.functions[n]!.signature)}${ids.get(n) === null ? '   (only as functions[' + JSON.stringify(n) + '])' : ''}`),
  ];
  const js: string[] = [...header, '', `import { defineModule } from ${spec};`, '/** The tensor type the functions take and return (batch dimensions lead). */', `export { Tensor } from ${spec};`, ''];
  js.push(`const data = ${lit(data, '')};`, '');
  js.push(
    '/** The module: its functions run on the CPU reference until load() picks a backend. */',
    'const mod = defineModule(data);',
    'export default mod;',
    '/** Every function by its source name. */',
    'export const functions = mod.functions;',
    '/** Picks the backend of the exported functions: WebGPU when a GPU object is given or found, else the CPU reference. */',
    'export const load = (opts) => mod.load(opts);',
    '/** An independent instance of the module on its own backend. */',
    'export const createModule = (opts) => mod.createModule(opts);',
  );
  for (const n of names) {
    const id = ids.get(n);
    if (id) js.push(`export const ${id} = mod.functions[${JSON.stringify(n)}];`);
  }
  js.push('');

  const dts: string[] = [...header, '', `import type { AotModule, InputValue, LoadOptions, LoadedModule, MatcFunction, Tensor } from ${spec};`, `export { Tensor } from ${spec};`, ''];
  dts.push('export interface Functions {');
  for (const n of names) {
    const s = data.functions[n]!.signature;
    const status = s.status.length ? ` Status: ${s.status.join(', ')}.` : '';
    dts.push(`  /** ${signatureLine(n, s)}.${status} */`, `  readonly ${key(n)}: ${functionType(s, '  ')};`);
  }
  dts.push('}', '');
  dts.push('declare const mod: AotModule<Functions>;', 'export default mod;', 'export declare const functions: Functions;');
  dts.push('export declare function load(opts?: LoadOptions): Promise<LoadedModule<Functions>>;');
  dts.push('export declare function createModule(opts?: LoadOptions): Promise<LoadedModule<Functions>>;');
  for (const n of names) {
    const id = ids.get(n);
    if (id) dts.push(`export declare const ${id}: Functions[${JSON.stringify(n)}];`);
  }
  dts.push('');
  return { js: js.join('\n'), dts: dts.join('\n') };
}

