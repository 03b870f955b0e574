// `matc compile FILE -o DIR`: writes DIR/<name>.js, an ES module that embeds every function's
// forward, VJP and JVP as instance-kernel specs (WGSL + host layout) and as printed IR (for the CPU
// reference), and DIR/<name>.d.ts, its typed API. Loading the module needs only matc's runtime
// (runtime/aot): the compiler runs here, once.
//
// The module imports the runtime through the package (`matc/dist/runtime/aot/index.js`) unless
// `--runtime` names another specifier or a path; a path is written relative to DIR, so a module
// compiled next to a checkout (examples, tests, a static page) finds that checkout's dist/.
//
// Before writing, every embedded IR text is read back and printed again: a difference means the
// CPU path of the module would run something else than the compiler produced, so it is an error.

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CompileError, compileProgram, type Program } from '../compiler/compile.js';
import { renderAll } from '../compiler/diagnostics.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import type { InstanceKernelSpec } from '../compiler/codegen/wgsl/layout.js';
import { Graph, type Func } from '../compiler/ir/node.js';
import { parseFunc } from '../compiler/ir/parser.js';
import { printFunc } from '../compiler/ir/printer.js';
import type { TensorType } from '../compiler/ir/types.js';
import { InternalError, MatcRuntimeError } from '../runtime/errors.js';
import { WORKGROUP_SIZES } from '../runtime/webgpu/backend.js';
import { gradientOf } from '../runtime/derivative-names.js';
import { AOT_FORMAT, kernelKey, type AotExecutable, type AotFunctionData, type AotMissing, type AotModuleData, type AotSignature, type FunctionKind } from '../runtime/aot/format.js';
import { exitAfterFlush } from './exit.js';

/** The runtime entry a generated module imports unless told otherwise. */
export const DEFAULT_RUNTIME = 'matc/dist/runtime/aot/index.js';
const RUNTIME_ENTRY = ['runtime', 'aot', 'index.js'];

function matcVersion(): string {
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    for (const up of ['..', join('..', '..')]) {
      const p = join(here, up, 'package.json');
      if (existsSync(p)) return (JSON.parse(readFileSync(p, 'utf8')) as { version?: string }).version ?? '0.0.0';
    }
  } catch {
    // a version is informative only
  }
  return '0.0.0';
}

// ---- what is embedded ----------------------------------------------------------------------------

function typeText(t: TensorType): { text: string; shape: string[] } {
  const shape = t.shape.map((d) => d.toString());
  const kind = t.struct ?? (shape.length === 0 ? 'real' : shape.length === 1 ? 'vec' : shape.length === 2 ? 'mat' : 'tensor');
  return { text: shape.length ? `${kind}[${shape.join(', ')}]` : kind, shape };
}

export interface BuildWarning {
  fn: string;
  message: string;
}

function executable(f: Func, what: string): AotExecutable {
  const ir = printFunc(f);
  // The CPU path runs the parsed text: it must be the IR the compiler produced.
  let again: string;
  try {
    again = printFunc(parseFunc(ir, new Graph()));
  } catch (e) {
    throw new InternalError(`${what}: the printed IR does not parse back (${(e as Error).message})`, ir);
  }
  if (again !== ir) throw new InternalError(`${what}: the printed IR does not print back identically after parsing`, firstDifference(ir, again));
  let kernel: AotExecutable['kernel'] = null;
  let variants: Record<string, InstanceKernelSpec> | undefined;
  let kernelError: string | undefined;
  try {
    kernel = genInstanceKernel(f);
    // every variant the JIT may pick on some adapter for some dimensions (WebGpuBackend.kernelOptions)
    for (const wg of WORKGROUP_SIZES) {
      for (const sg of [false, true]) {
        const v = genInstanceKernel(f, { workgroupSize: wg, subgroups: sg });
        if (v.wgsl !== kernel.wgsl) (variants ??= {})[kernelKey(wg, sg)] = v;
      }
    }
  } catch (e) {
    kernelError = (e as Error).message.split('\n')[0];
  }
  return {
    ir,
    params: f.params.map((p) => ({ name: p.name, ...(p.default !== undefined ? { default: p.default } : {}), differentiable: p.differentiable })),
    intParams: f.intParams.map((p) => ({ name: p.name, ...(p.default !== undefined ? { default: p.default } : {}) })),
    assertions: (f.assertions ?? []).map((a) => ({ dim: a.dim.toString(), message: a.message })),
    kernel,
    ...(variants ? { variants } : {}),
    ...(kernelError !== undefined ? { kernelError } : {}),
  };
}

function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}:\n  printed: ${x[i] ?? '(end)'}\n  re-read: ${y[i] ?? '(end)'}`;
  }
  return '';
}

function derived(program: Program, name: string, mode: 'vjp' | 'jvp', warnings: BuildWarning[]): AotExecutable | AotMissing {
  let f: Func;
  try {
    f = program[mode](name);
  } catch (e) {
    // The JIT raises this error when the form is first called; the module raises it then too.
    if (!(e instanceof CompileError)) throw e;
    warnings.push({ fn: name, message: `no ${mode.toUpperCase()}: ${e.message.split('\n')[0]}` });
    return { error: e.message };
  }
  return executable(f, `${name} (${mode})`);
}

/** The embedded data of every function of a program. */
export function buildModuleData(program: Program, source: string, warnings: BuildWarning[] = []): AotModuleData {
  const functions: Record<string, AotFunctionData> = {};
  for (const name of program.names) {
    const lowered = program.lowered(name);
    if (lowered.kind === 'vjp' || lowered.kind === 'jvp') throw new InternalError(`${name}: a program function of kind ${lowered.kind}`);
    const fwdFunc = program.forward(name);
    const forward = executable(fwdFunc, `${name} (forward)`);
    const vjp = derived(program, name, 'vjp', warnings);
    const jvp = derived(program, name, 'jvp', warnings);
    for (const [mode, e] of [['forward', forward], ['vjp', vjp], ['jvp', jvp]] as const) {
      if ('kernelError' in e && e.kernelError) warnings.push({ fn: name, message: `no WebGPU kernel for the ${mode} (CPU only): ${e.kernelError}` });
    }
    const vjpResults = 'error' in vjp ? [] : program.vjp(name).results.map((r) => r.name);
    const signature: AotSignature = {
      kind: lowered.kind as FunctionKind,
      params: lowered.params.map((p) => {
        const t = p.node.type as TensorType;
        const tt = typeText(t);
        return {
          name: p.name,
          type: tt.text,
          shape: tt.shape,
          struct: t.struct ?? 'general',
          ...(p.default !== undefined ? { default: p.default } : {}),
          differentiable: p.differentiable,
        };
      }),
      results: lowered.results.map((r) => {
        const tt = typeText(r.node.type as TensorType);
        return { name: r.name, type: tt.text, shape: tt.shape };
      }),
      intParams: lowered.intParams.map((p) => ({ name: p.name, ...(p.default !== undefined ? { default: p.default } : {}) })),
      derivedDims: lowered.derivedDims.map((d) => ({ name: d.name, value: d.value.toString() })),
      status: fwdFunc.status.map((s) => s.name),
      gradients: vjpResults.map(gradientOf).filter((p): p is string => p !== null),
      // as the JIT's jvp: every differentiable input of the function takes a tangent
      tangents: 'error' in jvp ? [] : lowered.params.filter((p) => p.differentiable).map((p) => p.name),
    };
    functions[name] = { signature, forward, vjp, jvp };
  }
  return { format: AOT_FORMAT, matc: matcVersion(), source, functions };
}

// ---- JavaScript and declaration text ---------------------------------------------------------------

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
  const inputs = s.params.map((p) => `${inner}/** ${p.type}${p.default !== undefined ? ` (default ${p.default})` : ''} */\n${inner}${key(p.name)}${p.default !== undefined ? '?' : ''}: InputValue;`);
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

// ---- files and the command ---------------------------------------------------------------------------

/** The import specifier for `--runtime`: a package name or specifier stays as it is (a bare
 *  name gets the runtime entry appended); a path (./, ../, /) to dist/, to a checkout or to the
 *  entry file itself is made relative to the output directory. */
export function runtimeSpecifier(runtime: string | undefined, outDir: string): string {
  if (runtime === undefined || runtime === '') return DEFAULT_RUNTIME;
  const isPath = runtime.startsWith('.') || isAbsolute(runtime);
  if (!isPath) return runtime.endsWith('.js') ? runtime : `${runtime}/dist/${RUNTIME_ENTRY.join('/')}`;
  let p = resolve(runtime);
  if (!p.endsWith('.js')) {
    const candidates = [join(p, 'dist', ...RUNTIME_ENTRY), join(p, ...RUNTIME_ENTRY)];
    const hit = candidates.find((c) => existsSync(c));
    if (!hit) throw new MatcRuntimeError('MATR111', `--runtime ${runtime}: no ${RUNTIME_ENTRY.join('/')} under ${p} or ${join(p, 'dist')} (build matc first: npx tsc -p tsconfig.json)`);
    p = hit;
  } else if (!existsSync(p) || !statSync(p).isFile()) throw new MatcRuntimeError('MATR111', `--runtime ${runtime}: no such file ${p}`);
  let rel = relative(resolve(outDir), p).split(sep).join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return rel;
}

export interface CompileToDirResult {
  js: string;
  dts: string;
  functions: string[];
  warnings: BuildWarning[];
}

/** Compiles FILE into OUTDIR/<name>.js and OUTDIR/<name>.d.ts. */
export function compileToDir(file: string, outDir: string, opts: { runtime?: string; solverOptions?: Record<string, number> } = {}): CompileToDirResult {
  if (!existsSync(file)) throw new MatcRuntimeError('MATR111', `no such file: ${file}`);
  const program = compileProgram(readFileSync(file, 'utf8'), { path: resolve(file), ...(opts.solverOptions ? { solverOptions: opts.solverOptions } : {}) });
  if (program.warnings.length) process.stderr.write(renderAll(program.warnings) + '\n');
  const warnings: BuildWarning[] = [];
  const data = buildModuleData(program, basename(file), warnings);
  const { js, dts } = emitModule(data, runtimeSpecifier(opts.runtime, outDir));
  mkdirSync(outDir, { recursive: true });
  const base = basename(file).replace(/\.mat$/, '');
  const jsPath = join(outDir, `${base}.js`);
  const dtsPath = join(outDir, `${base}.d.ts`);
  writeFileSync(jsPath, js);
  writeFileSync(dtsPath, dts);
  return { js: jsPath, dts: dtsPath, functions: Object.keys(data.functions), warnings };
}

const USAGE = 'usage: matc compile FILE -o DIR [--runtime PATH|SPECIFIER]';

export async function compileCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  if (positionals.length !== 1) throw new MatcRuntimeError('MATR112', `matc compile: expected one FILE\n\n${USAGE}`);
  const out = values.out;
  if (typeof out !== 'string' || out === '') throw new MatcRuntimeError('MATR112', `matc compile: -o DIR is required\n\n${USAGE}`);
  const runtime = typeof values.runtime === 'string' ? values.runtime : undefined;
  const r = compileToDir(positionals[0]!, out, { ...(runtime ? { runtime } : {}) });
  for (const w of r.warnings) process.stderr.write(`warning: ${w.fn}: ${w.message}\n`);
  process.stdout.write(`wrote ${r.js} and ${r.dts} (${r.functions.length} function${r.functions.length === 1 ? '' : 's'}: ${r.functions.join(', ')})\n`);
  return 0;
}

// `node dist/cli/aot.js FILE -o DIR --runtime PATH`: the same command with its own option parser.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values, positionals } = parseArgs({
    options: { out: { type: 'string', short: 'o' }, runtime: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  compileCommand(positionals, values).then(
    (code) => exitAfterFlush(code),
    (e: unknown) => {
      if (e instanceof CompileError) {
        process.stderr.write(renderAll(e.diagnostics) + '\n');
        exitAfterFlush(1);
        return;
      }
      if (e instanceof MatcRuntimeError) {
        process.stderr.write(`error[${e.code}]: ${e.message}\n`);
        exitAfterFlush(1);
        return;
      }
      process.stderr.write(`internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      exitAfterFlush(2);
    },
  );
}
