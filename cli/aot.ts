// `matc compile FILE -o DIR`: writes DIR/<name>.js, an ES module that embeds every function's
// forward, VJP and JVP as executables (compiler/aot/build.ts: GPU variants, the CPU program and
// the printed IR), and DIR/<name>.d.ts, its typed API (compiler/aot/emit.ts). Loading the module
// needs only matc's runtime (runtime/aot): the compiler runs here, once. This file holds the
// command: files, the --runtime specifier, messages.
//
// The module imports the runtime through the package (`matc/dist/runtime/aot/index.js`) unless
// `--runtime` names another specifier or a path; a path is written relative to DIR, so a module
// compiled next to a checkout (examples, tests, a static page) finds that checkout's dist/.

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, parse, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CompileError, compileProgram } from '../compiler/compile.js';
import { renderAll } from '../compiler/diagnostics.js';
import { buildModuleData, type BuildWarning } from '../compiler/aot/build.js';
import { emitModule } from '../compiler/aot/emit.js';
import { MatcRuntimeError } from '../core/errors.js';
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

const reason = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  return err.code === 'ENOENT' ? 'no such directory' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.code === 'ENOTDIR' ? 'a part of the path is not a directory' : err.code === 'EROFS' ? 'read-only file system' : (err.message ?? String(e));
};

/** Creates the output directory one level at a time (MATR118 when it cannot be). Node's
 *  `mkdirSync(dir, { recursive: true })` never returns on some pseudo file systems (`--out
 *  /proc/x`: the mkdir fails with ENOENT under a parent that exists, and it retries). */
function makeOutDir(outDir: string): void {
  const abs = resolve(outDir);
  const root = parse(abs).root;
  let cur = root;
  for (const part of abs.slice(root.length).split(sep).filter(Boolean)) {
    cur = join(cur, part);
    try {
      mkdirSync(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        if (statSync(cur).isDirectory()) continue;
        throw new MatcRuntimeError('MATR118', `--out ${outDir}: ${cur} is a file, not a directory`);
      }
      throw new MatcRuntimeError('MATR118', `--out ${outDir}: cannot create the directory ${cur}: ${reason(e)}`);
    }
  }
}

function writeOut(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new MatcRuntimeError('MATR118', `cannot write ${path}: ${reason(e)}`);
  }
}

/** Compiles FILE into OUTDIR/<name>.js and OUTDIR/<name>.d.ts. */
export function compileToDir(file: string, outDir: string, opts: { runtime?: string; solverOptions?: Record<string, number>; statics?: Record<string, number[]> } = {}): CompileToDirResult {
  if (!existsSync(file)) throw new MatcRuntimeError('MATR111', `no such file: ${file}`);
  const program = compileProgram(readFileSync(file, 'utf8'), { path: resolve(file), ...(opts.solverOptions ? { solverOptions: opts.solverOptions } : {}) });
  if (program.warnings.length) process.stderr.write(renderAll(program.warnings) + '\n');
  const warnings: BuildWarning[] = [];
  specializeAll(program, opts.statics ?? {}, warnings);
  const data = buildModuleData(program, basename(file), matcVersion(), warnings);
  const { js, dts } = emitModule(data, runtimeSpecifier(opts.runtime, outDir));
  makeOutDir(outDir);
  const base = basename(file).replace(/\.mat$/, '');
  const jsPath = join(outDir, `${base}.js`);
  const dtsPath = join(outDir, `${base}.d.ts`);
  writeOut(jsPath, js);
  writeOut(dtsPath, dts);
  return { js: jsPath, dts: dtsPath, functions: Object.keys(data.functions), warnings };
}

/** `--static K=4,5,N=2,3` → { K: [4, 5], N: [2, 3] } (a value without a name continues the list). */
export function parseStatics(text: string | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (!text) return out;
  let cur: string | undefined;
  for (const part of text.split(',')) {
    const m = /^\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?(\d+)\s*$/.exec(part);
    if (!m || (m[1] === undefined && cur === undefined)) throw new MatcRuntimeError('MATR112', `bad --static '${part}': expected NAME=VALUE[,VALUE…] with non-negative integers, e.g. K=4,5`);
    if (m[1] !== undefined) cur = m[1];
    (out[cur!] ??= []).push(Number(m[2]));
  }
  return out;
}

/** Makes the specialisations `--static` asks for: every combination of the listed values of a
 *  generic function's static parameters (defaults for those not listed); a generic function with
 *  a static parameter neither listed nor defaulted is left out, with a warning. */
function specializeAll(program: ReturnType<typeof compileProgram>, statics: Record<string, number[]>, warnings: BuildWarning[]): void {
  for (const g of program.generics) {
    if (g.endsWith('.init')) continue; // made with its optimizer
    const info = program.genericInfo(g)!;
    const lists = info.statics.map((s) => statics[s.name] ?? (s.default !== undefined ? [s.default] : undefined));
    const missing = info.statics.filter((_, i) => !lists[i]).map((s) => s.name);
    if (missing.length) {
      if (info.statics.some((s) => statics[s.name])) warnings.push({ fn: g, message: `not compiled: give --static ${missing.map((m) => `${m}=…`).join(',')} as well` });
      else if (!program.names.some((n) => n.startsWith(`${g}[`))) warnings.push({ fn: g, message: `not compiled: it is generic in ${missing.join(', ')}; name the values with --static ${missing.map((m) => `${m}=…`).join(',')}` });
      continue;
    }
    let combos: Record<string, number>[] = [{}];
    info.statics.forEach((s, i) => {
      combos = combos.flatMap((c) => lists[i]!.map((v) => ({ ...c, [s.name]: v })));
    });
    for (const c of combos) program.specialize(g, c);
  }
}

const USAGE = 'usage: matc compile FILE -o DIR [--runtime PATH|SPECIFIER] [--static K=4,5]';

export async function compileCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  if (positionals.length !== 1) throw new MatcRuntimeError('MATR112', `matc compile: expected one FILE\n\n${USAGE}`);
  const out = values.out;
  if (typeof out !== 'string' || out === '') throw new MatcRuntimeError('MATR112', `matc compile: -o DIR is required\n\n${USAGE}`);
  const runtime = typeof values.runtime === 'string' ? values.runtime : undefined;
  const statics = parseStatics(typeof values.static === 'string' ? values.static : undefined);
  const r = compileToDir(positionals[0]!, out, { ...(runtime ? { runtime } : {}), statics });
  for (const w of r.warnings) process.stderr.write(`warning: ${w.fn}: ${w.message}\n`);
  process.stdout.write(`wrote ${r.js} and ${r.dts} (${r.functions.length} function${r.functions.length === 1 ? '' : 's'}: ${r.functions.join(', ')})\n`);
  return 0;
}

// `node dist/cli/aot.js FILE -o DIR --runtime PATH`: the same command with its own option parser.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values, positionals } = parseArgs({
    options: { out: { type: 'string', short: 'o' }, runtime: { type: 'string' }, static: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
