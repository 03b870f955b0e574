// The `check`, `ir` and `run` commands (cli/matc.ts loads this module only to run one of them).

import { extent } from '../core/extent.js';
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkSource, compileProgram, stages, type Stage } from '../compiler/compile.js';
import { closest, renderAll, type Diagnostic } from '../compiler/diagnostics.js';
import { solverOptionNames, solverOverrideProblem } from '../compiler/check/solver-specs.js';
import { Module, type CompiledFn } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Tensor } from '../runtime/tensor.js';
import type { NodeStatus } from '../runtime/executable.js';
import { readTensorFile, resolveDims, randomInputs, randomLike } from './inputs.js';
import { backendChoice, cpuOptions } from './cpu-options.js';
import { selectBackend } from '../runtime/select.js';
import { help } from './help.js';
import { fail } from './exit.js';

function readSource(file: string): string {
  if (!existsSync(file)) throw new MatcRuntimeError('MATR111', `no such file: ${file}`);
  return readFileSync(file, 'utf8');
}

function parseKv(text: string | undefined, what: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    // a name, or a member of a dimension family `r[3]` (compile-time collections)
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)\s*=\s*([-+0-9.eE]+)\s*$/.exec(part);
    if (!m || !Number.isFinite(Number(m[2]))) throw new MatcRuntimeError('MATR112', `bad ${what} '${part}': expected name=number`);
    if (what === '--dims' && !(Number.isInteger(Number(m[2])) && Number(m[2]) >= 0)) throw new MatcRuntimeError('MATR112', `bad --dims '${part}': dimensions are non-negative integers`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

export function printDiagnostics(ds: Diagnostic[]): void {
  if (ds.length) process.stderr.write(renderAll(ds) + '\n');
}

export function cmdCheck(files: string[]): number {
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

export async function cmdIr(file: string, fnName: string | undefined, stage: string): Promise<number> {
  const extra = ['schedule', 'wgsl'];
  if (![...stages, ...extra].includes(stage)) throw new MatcRuntimeError('MATR112', `unknown stage '${stage}' (stages: ${[...stages, ...extra].join(', ')})`);
  const m = loadModule(file);
  // a generic function is shown at the defaults of its static parameters (or name one
  // specialisation: --fn 'tt[K=4]')
  const fn = pickFn(m, fnName).specialize();
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

function fmtTensor(t: Tensor, max = 8, int = false): string {
  const vals = Array.from(t.data.slice(0, max)).map((v) => (int ? String(v) : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : v.toFixed(6)));
  return `[${t.shape.join(', ')}] ${vals.join(' ')}${t.size > max ? ` … (${t.size} values)` : ''}`;
}

export async function cmdRun(file: string, v: Record<string, string | boolean | undefined>): Promise<number> {
  const sets = parseKv(v.set as string | undefined, '--set');
  const dimsGiven = parseKv(v.dims as string | undefined, '--dims');
  let module = loadModule(file);
  let fn0 = pickFn(module, v.fn as string | undefined);
  // a generic function: the specialisation for the static values in --dims, the lengths of
  // collections in the inputs file, or the defaults (compile-time collections)
  const early = v.inputs && fn0.generic ? readTensorFile(v.inputs as string, 'inputs') : undefined;
  if (fn0.generic) fn0 = fn0.specialize(dimsGiven, early ?? {});
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
    inputs = early ?? readTensorFile(v.inputs as string, 'inputs');
    dims = { ...dimsGiven };
  } else if (v.random) {
    dims = resolveDims(fn, dimsGiven);
    inputs = randomInputs(fn, dims, batch, seed);
  } else throw new MatcRuntimeError('MATR112', 'give inputs with --inputs FILE or --random');
  for (const [k, x] of Object.entries(scalarSets)) inputs[k] = new Tensor([], [x]);
  const callDims: Record<string, number> = {};
  for (const ip of fn.func.intParams) if (dims[ip.name] !== undefined) callDims[ip.name] = dims[ip.name]!;
  const backend = await selectBackend(backendChoice(v), cpuOptions(v));
  try {
    const opts = { dims: callDims, backend: backend.backend };
    // an optimizer's state starts from NAME.init (its initial state from the parameters), not from
    // random values (a random second moment can be negative: NaN) or nothing: every state input
    // the inputs do not give is computed by the init function
    if (fn.kind === 'optimizer' && module.functions.includes(`${fn.name}.init`)) {
      const init = module.fn(`${fn.name}.init`);
      const stateNames = init.func.results.map((r) => r.name);
      // (--random made every state input up; --set may give one)
      const missing = stateNames.filter((s) => (v.random ? scalarSets[s] === undefined : inputs[s] === undefined));
      if (missing.length) {
        const initInputs: Record<string, Tensor> = {};
        for (const p of init.func.params) if (inputs[p.name] !== undefined) initInputs[p.name] = inputs[p.name]!;
        const st = await init.forward(initInputs, opts);
        for (const s of missing) inputs[s] = st.outputs[s]!;
      }
    }
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
      const ints = new Set(fn.func.results.filter((r) => (r.node.type as { dtype?: string }).dtype === 'i').map((r) => r.name));
      for (const [k, t] of Object.entries(fwd.outputs)) out.push(`  ${k}  ${fmtTensor(t, 8, ints.has(k))}`);
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

type StatusNode = NodeStatus;

function statusJson(s: { ok: boolean; nodes: StatusNode[]; warnings: string[] }): unknown {
  return {
    ok: s.ok,
    warnings: s.warnings,
    nodes: Object.fromEntries(
      s.nodes.map((n) => [
        n.name,
        {
          kind: n.kind,
          iterations: n.iterations.length === 1 ? n.iterations[0] : n.iterations,
          converged: n.converged.length === 1 ? n.converged[0] : n.converged,
          ...(n.residual ? { residual: n.residual.length === 1 ? n.residual[0] : n.residual } : {}),
          ...(n.residualEstimate ? { residualEstimate: true } : {}),
        },
      ]),
    ),
  };
}

/** One line per status entry, worded by its kind. */
function statusLine(n: StatusNode): string {
  const it = n.iterations;
  const conv = n.converged.filter(Boolean).length;
  const all = n.converged.length;
  const worst = (xs: number[], pick: (a: number, b: number) => number) => xs.map((r) => (Number.isFinite(r) ? r : Infinity)).reduce((a, b) => pick(a, b)).toExponential(2);
  const ok = (yes: string, no: string) => (all === 1 ? (conv ? yes : no) : `${conv}/${all} ${yes}`);
  const iters = it.length === 1 ? `${it[0]} iterations` : `iterations ${extent(it).join('…')}`;
  switch (n.kind) {
    case 'linear':
    case 'implicit':
      return `${n.name}  rcond ${n.residual ? worst(n.residual, Math.min) : '-'}  ${ok('well conditioned', 'SINGULAR')}`;
    case 'monitor':
      return `${n.name}  value ${n.residual ? (n.residual.length === 1 ? n.residual[0]!.toExponential(3) : `${worst(n.residual, Math.min)}…${worst(n.residual, Math.max)}`) : '-'}  ${ok('ok', 'FAILED')}`;
    case 'iterative':
      return `${n.name}  ${iters} (MINRES)  relative residual ${n.residual ? worst(n.residual, Math.max) : '-'}  ${ok('solved', 'NOT solved')}`;
    case 'domain':
      return `${n.name}  least value ${n.residual ? worst(n.residual, Math.min) : '-'}  ${ok('in the domain', 'OUTSIDE the domain')}`;
    case 'degenerate':
      return `${n.name}  least relative gap ${n.residual ? worst(n.residual, Math.min) : '-'}  ${ok('simple spectrum', 'DEGENERATE')}`;
    case 'curvature':
      return `${n.name}  least curvature ${n.residual ? worst(n.residual, Math.min) : '-'}  ${ok('a minimum', 'NOT a minimum')}`;
    case 'loop':
      return `${n.name}  ${iters}  ${ok('stopped early', 'ran to its trip count')}`;
    case 'solver': {
      const res = n.residual ? `  residual ${worst(n.residual, Math.max)}${n.residualEstimate ? ' (estimate; --set check=1 computes it exactly)' : ''}` : '';
      return `${n.name}  ${iters}  ${ok('converged', 'NOT converged')}${res}`;
    }
    default:
      return n.kind satisfies never;
  }
}
