#!/usr/bin/env node
// The matc command line: check, ir, run, compile, bench. The --json output of `run` and `bench`
// is a contract scripts rely on (DESIGN §4): extend it, don't break it. Exit codes: 0 success,
// 1 user errors (diagnostics, bad input data), 2 internal errors.

import { readFileSync, existsSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { CompileError, checkSource, compileProgram, stages, type Stage } from '../compiler/compile.js';
import { closest, renderAll, type Diagnostic } from '../compiler/diagnostics.js';
import { solverOptionNames, solverOverrideProblem } from '../compiler/check/solver-specs.js';
import { Module, type CompiledFn } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { MatcRuntimeError, InternalError } from '../core/errors.js';
import type { StatusKind } from '../core/executable.js';
import { Tensor } from '../runtime/tensor.js';
import { readTensorFile, resolveDims, randomInputs, randomLike, cpuOptions, CPU_OPTIONS_HELP } from './inputs.js';
import { selectBackend, type BackendChoice } from '../runtime/select.js';
import { runCompileCommand, runBenchCommand, extraHelp } from './commands.js';
import { exitAfterFlush } from './exit.js';
import { setQuietAdapterProbe } from '../runtime/webgpu/device.js';

const VERSION = '0.1.0';

const help: Record<string, string> = {
  main: `matc ${VERSION} — a compiler for declarative matrix calculus

usage: matc <command> [options]

commands:
  check FILE...        check specs; diagnostics on stderr
  ir FILE --fn NAME    print a function's IR after a stage
  run FILE --fn NAME   run a function (forward, gradients, gradient check)
  compile FILE -o DIR  write an ES module + .d.ts with the WGSL embedded
  bench FILE --fn NAME time a function on the chosen backend

options: --help (per command), --version
exit codes: 0 ok, 1 user errors, 2 internal errors`,
  check: `usage: matc check FILE...

Parses and checks each file (and its imports). Prints diagnostics with code frames on stderr.
Exit 0 when clean (warnings allowed), 1 when any file has errors.`,
  ir: `usage: matc ir FILE --fn NAME [--stage STAGE]

Prints the function after a pipeline stage:
  parse    the program as read (AST printed back as source)
  check    the function's signature with inferred types and dimensions
  lower    typed IR after elaboration (declarative nodes intact)
  diff     the VJP: the function plus gradients of every input (before solver expansion)
  jvp      the JVP (forward mode)
  expand   declarative nodes expanded into solver loops
  opt      the optimized forward and VJP as they are executed
  schedule the GPU kernel plan (per-instance / tiled kernels)
  wgsl     the generated WGSL`,
  run: `usage: matc run FILE --fn NAME [options]

inputs:
  --inputs FILE        JSON {NAME: {"shape": [...], "data": [...]}} (data flat, row-major,
                       batch dimensions leading)
  --random             seeded random inputs respecting declared structure (sym, spd, sphere, ...)
  --seed N             random seed (default 1)
  --batch B            leading batch dimension for random inputs (default: none)
  --dims m=64,n=32     dimension sizes for random inputs and int parameters (default 4 each)
  --set NAME=VALUE     a scalar input (e.g. lr=0.1) or a solver option for every declarative
                       node that has it (e.g. tol=1e-10, max_iter=500)
gradients:
  --grad               VJP of the outputs with a cotangent (default: seeded random)
  --cotangent FILE     cotangents in the same JSON form
  --check-grad         compare the VJP with central finite differences in f64
execution:
  --backend B          auto (WebGPU when an adapter exists, else CPU), cpu or webgpu
${CPU_OPTIONS_HELP}
  --json               one JSON object on stdout:
                       { backend, fn, dims, outputs, status, gradients, gradCheck, timings }`,
};

function fail(code: number, msg: string): never {
  // synchronous, so process.exit cannot drop it
  writeSync(2, msg.endsWith('\n') ? msg : msg + '\n');
  process.exit(code);
}

function readSource(file: string): string {
  if (!existsSync(file)) throw new MatcRuntimeError('MATR111', `no such file: ${file}`);
  return readFileSync(file, 'utf8');
}

function parseKv(text: string | undefined, what: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([-+0-9.eE]+)\s*$/.exec(part);
    if (!m || !Number.isFinite(Number(m[2]))) throw new MatcRuntimeError('MATR112', `bad ${what} '${part}': expected name=number`);
    if (what === '--dims' && !(Number.isInteger(Number(m[2])) && Number(m[2]) >= 0)) throw new MatcRuntimeError('MATR112', `bad --dims '${part}': dimensions are non-negative integers`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function printDiagnostics(ds: Diagnostic[]): void {
  if (ds.length) process.stderr.write(renderAll(ds) + '\n');
}

function cmdCheck(files: string[]): number {
  if (files.length === 0) fail(1, 'matc check: no files given\n\n' + help.check);
  let errors = 0;
  for (const f of files) {
    const ds = checkSource(readSource(f), { path: f });
    printDiagnostics(ds);
    const n = ds.filter((d) => d.severity === 'error').length;
    errors += n;
    if (n === 0) process.stderr.write(`${f}: ok${ds.length ? ` (${ds.length} warning${ds.length > 1 ? 's' : ''})` : ''}\n`);
  }
  return errors > 0 ? 1 : 0;
}

function loadModule(file: string, solverOptions?: Record<string, number>): Module {
  const p = compileProgram(readSource(file), { path: resolve(file), ...(solverOptions && Object.keys(solverOptions).length ? { solverOptions } : {}) });
  printDiagnostics(p.warnings);
  return new Module(p);
}

function pickFn(m: Module, name: string | undefined): CompiledFn {
  if (!name) {
    if (m.functions.length === 1) return m.fn(m.functions[0]!);
    throw new MatcRuntimeError('MATR100', `--fn is required (functions: ${m.functions.join(', ')})`);
  }
  return m.fn(name);
}

async function cmdIr(file: string, fnName: string | undefined, stage: string): Promise<number> {
  const extra = ['schedule', 'wgsl'];
  if (![...stages, ...extra].includes(stage)) throw new MatcRuntimeError('MATR112', `unknown stage '${stage}' (stages: ${[...stages, ...extra].join(', ')})`);
  const m = loadModule(file);
  const fn = pickFn(m, fnName);
  if (extra.includes(stage)) {
    const { scheduleText } = await import('../compiler/schedule/text.js');
    process.stdout.write(scheduleText(m.program, fn.name, stage as 'schedule' | 'wgsl') + '\n');
    return 0;
  }
  process.stdout.write(m.program.stage(fn.name, stage as Stage) + '\n');
  return 0;
}

function tensorJson(t: Tensor): { shape: number[]; data: number[] } {
  return { shape: [...t.shape], data: Array.from(t.data) };
}

function fmtTensor(t: Tensor, max = 8): string {
  const vals = Array.from(t.data.slice(0, max)).map((v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : v.toFixed(6)));
  return `[${t.shape.join(', ')}] ${vals.join(' ')}${t.size > max ? ` … (${t.size} values)` : ''}`;
}

async function cmdRun(file: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  const sets = parseKv(v.set as string | undefined, '--set');
  const dimsGiven = parseKv(v.dims as string | undefined, '--dims');
  let module = loadModule(file);
  const fn0 = pickFn(module, v.fn as string | undefined);
  const scalarNames = new Set(fn0.params.filter((p) => p.shape.length === 0).map((p) => p.name));
  const scalarSets: Record<string, number> = {};
  const solverSets: Record<string, number> = {};
  for (const [k, x] of Object.entries(sets)) (scalarNames.has(k) ? scalarSets : solverSets)[k] = x;
  // a name that is neither a scalar input nor a solver option, or a bad option value, is an
  // error: `--set maxiter=5` must not be ignored, nor `--set max_iter=-5` accepted
  for (const [k, x] of Object.entries(solverSets)) {
    const why = solverOverrideProblem(k, x);
    if (!why) continue;
    if (solverOptionNames.includes(k)) throw new MatcRuntimeError('MATR112', `--set ${k}=${x}: ${why}`);
    const sug = closest(k, [...scalarNames, ...solverOptionNames]);
    throw new MatcRuntimeError(
      'MATR112',
      `--set ${k}=${x}: '${k}' is neither a scalar input of ${fn0.name} (${scalarNames.size ? [...scalarNames].join(', ') : 'it has none'}) nor a solver option${sug ? `; did you mean '${sug}'?` : ''} (solver options: ${solverOptionNames.join(', ')})`,
    );
  }
  if (Object.keys(solverSets).length) module = loadModule(file, solverSets);
  const fn = module.fn(fn0.name);
  const seed = v.seed !== undefined ? Number(v.seed) : 1;
  if (!Number.isInteger(seed)) throw new MatcRuntimeError('MATR112', `--seed must be an integer, got '${String(v.seed)}'`);
  const batch = v.batch !== undefined ? [Number(v.batch)] : [];
  if (batch.some((b) => !Number.isInteger(b) || b < 1)) throw new MatcRuntimeError('MATR112', '--batch must be a positive integer');
  let inputs: Record<string, Tensor>;
  let dims: Record<string, number>;
  if (v.inputs) {
    inputs = readTensorFile(v.inputs as string, 'inputs');
    dims = { ...dimsGiven };
  } else if (v.random) {
    dims = resolveDims(fn, dimsGiven);
    inputs = randomInputs(fn, dims, batch, seed);
  } else throw new MatcRuntimeError('MATR112', 'give inputs with --inputs FILE or --random');
  for (const [k, x] of Object.entries(scalarSets)) inputs[k] = new Tensor([], [x]);
  const callDims: Record<string, number> = {};
  for (const ip of fn.func.intParams) if (dims[ip.name] !== undefined) callDims[ip.name] = dims[ip.name]!;
  const backend = await selectBackend((v.backend as BackendChoice | undefined) ?? 'auto', cpuOptions(v));
  try {
    const opts = { dims: callDims, backend: backend.backend };
    const bind = fn.bind(inputs, opts);
    const t0 = performance.now();
    const fwd = await fn.forward(inputs, opts);
    const forwardMs = performance.now() - t0;
    const result: Record<string, unknown> = {
      backend: backend.name,
      fn: fn.name,
      dims: Object.fromEntries(bind.dims),
      batch: bind.batch,
      outputs: Object.fromEntries(Object.entries(fwd.outputs).map(([k, t]) => [k, tensorJson(t)])),
      status: statusJson(fwd.status),
    };
    const timings: Record<string, number> = { forwardMs };
    let gradLines: string[] = [];
    if (v.grad || v.cotangent) {
      const cot = v.cotangent ? readTensorFile(v.cotangent as string, 'cotangent') : randomLike(fwd.outputs, seed + 1);
      const t1 = performance.now();
      const g = await fn.vjp(inputs, cot, opts);
      timings.backwardMs = performance.now() - t1;
      result.gradients = Object.fromEntries(Object.entries(g.gradients).map(([k, t]) => [k, tensorJson(t)]));
      result.backwardStatus = statusJson(g.status);
      gradLines = Object.entries(g.gradients).map(([k, t]) => `  ${k}  ${fmtTensor(t)}`);
      for (const w of g.status.warnings) gradLines.push(`  warning: ${w}`);
    }
    let checkLine = '';
    if (v['check-grad']) {
      const gc = await gradCheck(fn, inputs, { seed, dims: callDims });
      result.gradCheck = { maxRelErr: gc.maxRelErr, ok: gc.ok, tolerance: gc.tolerance, directions: gc.directions.length };
      checkLine = `gradient check (f64, central differences, ${gc.directions.length} random directions): max relative error ${gc.maxRelErr.toExponential(2)} — ${gc.ok ? 'ok' : `FAILED (tolerance ${gc.tolerance})`}`;
    }
    result.timings = timings;
    if (v.json) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      const out: string[] = [];
      out.push(`${fn.name}  backend: ${backend.name}  dims: ${[...bind.dims].map(([k, x]) => `${k}=${x}`).join(', ') || '-'}  batch: ${bind.batch.length ? bind.batch.join('×') : 1}`);
      if (backend.note) out.push(`  (${backend.note})`);
      out.push('outputs:');
      for (const [k, t] of Object.entries(fwd.outputs)) out.push(`  ${k}  ${fmtTensor(t)}`);
      if (fwd.status.nodes.length) {
        out.push('status:');
        for (const s of fwd.status.nodes) out.push(`  ${statusLine(s)}`);
      }
      for (const w of fwd.status.warnings) out.push(`  warning: ${w}`);
      if (gradLines.length) out.push('gradients:', ...gradLines);
      if (checkLine) out.push(checkLine);
      out.push(`time: forward ${forwardMs.toFixed(1)} ms${timings.backwardMs !== undefined ? `, backward ${timings.backwardMs.toFixed(1)} ms` : ''}`);
      process.stdout.write(out.join('\n') + '\n');
    }
    if (result.gradCheck && !(result.gradCheck as { ok: boolean }).ok) return 1;
    return 0;
  } finally {
    backend.backend?.dispose?.();
  }
}

function statusJson(s: { ok: boolean; nodes: { name: string; iterations: number[]; converged: boolean[]; residual?: number[] }[]; warnings: string[] }): unknown {
  return {
    ok: s.ok,
    warnings: s.warnings,
    nodes: Object.fromEntries(
      s.nodes.map((n) => [
        n.name,
        {
          iterations: n.iterations.length === 1 ? n.iterations[0] : n.iterations,
          converged: n.converged.length === 1 ? n.converged[0] : n.converged,
          ...(n.residual ? { residual: n.residual.length === 1 ? n.residual[0] : n.residual } : {}),
        },
      ]),
    ),
  };
}

/** How a status line words an entry of each kind: what its value is, and what its flag says
 *  when it holds and when it fails (a singular solve is not "NOT converged"). */
const statusWords: Record<StatusKind, { value: string; ok: string; bad: string; iterations: boolean }> = {
  solver: { value: 'residual', ok: 'converged', bad: 'NOT converged', iterations: true },
  loop: { value: 'residual', ok: 'stopped early', bad: 'ran to its trip count', iterations: true },
  linear: { value: 'rcond', ok: 'well conditioned', bad: 'SINGULAR', iterations: false },
  monitor: { value: 'value', ok: 'ok', bad: 'FAILED', iterations: false },
  curvature: { value: 'curvature', ok: 'a minimum', bad: 'NOT a minimum', iterations: false },
  implicit: { value: 'rcond', ok: 'well conditioned', bad: 'SINGULAR', iterations: false },
};

function statusLine(n: { name: string; kind: StatusKind; iterations: number[]; converged: boolean[]; residual?: number[] }): string {
  const w = statusWords[n.kind];
  const it = n.iterations;
  const conv = n.converged.filter(Boolean).length;
  const iters = !w.iterations ? '' : it.length === 1 ? `  ${it[0]} iterations` : `  iterations ${Math.min(...it)}…${Math.max(...it)}`;
  const worst = (xs: number[]) => (n.kind === 'solver' || n.kind === 'loop' ? Math.max(...xs.map((r) => (Number.isFinite(r) ? r : Infinity))) : Math.min(...xs.map((r) => (Number.isNaN(r) ? -Infinity : r))));
  const res = n.residual ? `  ${w.value} ${worst(n.residual).toExponential(2)}` : '';
  const c = n.converged.length === 1 ? (conv ? w.ok : w.bad) : `${conv}/${n.converged.length} ${w.ok}`;
  return `${n.name}${iters}  ${c}${res}`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(help.main + '\n');
    return cmd ? 0 : 1;
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const spec = {
    fn: { type: 'string' as const },
    stage: { type: 'string' as const, default: 'lower' },
    inputs: { type: 'string' as const },
    random: { type: 'boolean' as const },
    seed: { type: 'string' as const },
    batch: { type: 'string' as const },
    dims: { type: 'string' as const },
    set: { type: 'string' as const, multiple: false },
    grad: { type: 'boolean' as const },
    cotangent: { type: 'string' as const },
    'check-grad': { type: 'boolean' as const },
    backend: { type: 'string' as const },
    precision: { type: 'string' as const },
    threads: { type: 'string' as const },
    reference: { type: 'boolean' as const },
    json: { type: 'boolean' as const },
    out: { type: 'string' as const, short: 'o' },
    help: { type: 'boolean' as const, short: 'h' },
    reps: { type: 'string' as const },
    runtime: { type: 'string' as const },
  };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: spec, allowPositionals: true, strict: true });
  } catch (e) {
    fail(1, `matc ${cmd}: ${(e as Error).message}\n\n${help[cmd] ?? extraHelp(cmd) ?? help.main}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write((help[cmd] ?? extraHelp(cmd) ?? help.main) + '\n');
    return 0;
  }
  switch (cmd) {
    case 'check':
      return cmdCheck(positionals);
    case 'ir':
      if (positionals.length !== 1) fail(1, `matc ir: expected one FILE\n\n${help.ir}`);
      return cmdIr(positionals[0]!, values.fn, values.stage ?? 'lower');
    case 'run':
      if (positionals.length !== 1) fail(1, `matc run: expected one FILE\n\n${help.run}`);
      return cmdRun(positionals[0]!, values as Record<string, string | boolean | undefined>);
    case 'compile':
      return runCompileCommand(positionals, values as Record<string, string | boolean | undefined>);
    case 'bench':
      return runBenchCommand(positionals, values as Record<string, string | boolean | undefined>);
    default:
      fail(1, `matc: unknown command '${cmd}'\n\n${help.main}`);
  }
}

// Dawn's adapter-probe warnings are noise on the command line (MATC_VERBOSE=1 shows them).
setQuietAdapterProbe(true);

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (e: unknown) => {
    if (e instanceof CompileError) {
      printDiagnostics(e.diagnostics);
      exitAfterFlush(1);
      return;
    }
    if (e instanceof MatcRuntimeError) fail(1, `error[${e.code}]: ${e.message}`);
    // sizes that cannot be allocated (--dims, --batch, or what the inputs imply) are the user's
    // request, not a bug in matc
    if (e instanceof RangeError && /Array buffer allocation failed|Invalid typed array length|Invalid array length/.test(e.message)) {
      fail(1, `error[MATR109]: not enough memory for the tensors of this call (${e.message}); use smaller --dims or --batch`);
    }
    if (e instanceof InternalError) fail(2, `internal error: ${e.message}\nThis is a bug in matc; please report it with the spec that triggered it.`);
    fail(2, `internal error: ${(e as Error)?.stack ?? String(e)}\nThis is a bug in matc; please report it with the spec that triggered it.`);
  },
);
