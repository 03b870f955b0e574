// One fuzz case through the whole pipeline a user drives (issue 12): check → compile → forward,
// VJP and JVP of every function → a run of each on the CPU with seeded random inputs. The only
// acceptable failures are a well-formed diagnostic (a code, a message, a span inside the file),
// a CompileError and a MatcRuntimeError; anything else — an InternalError, a RangeError (stack
// overflow), a TypeError — is a crash, described by a signature (the error and its first frame)
// so that one bug found a thousand times is reported once. Runs in a worker of the fuzz pool
// (test/fuzz-pool.ts), which reports each stage as it starts so a hang is attributed to it.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CompileError, checkSource, compileProgram } from '../compiler/compile.js';
import { render, renderAll, type Diagnostic } from '../compiler/diagnostics.js';
import { stdlibDir, type SourceLoader } from '../compiler/check/items.js';
import { Module } from '../api/module.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng, randomInstance } from '../runtime/random.js';
import type { TensorType } from '../compiler/ir/types.js';

export const FUZZ_PATH = 'fuzz.mat';

// Imports see the standard library only, read once: a case's result does not depend on the disk
// around the checkout, and the fuzzer never reads the paths it generates.
let stdlib: Map<string, string> | null = null;
function loader(): SourceLoader {
  if (!stdlib) {
    stdlib = new Map();
    for (const f of readdirSync(stdlibDir())) if (f.endsWith('.mat')) stdlib.set(join(stdlibDir(), f), readFileSync(join(stdlibDir(), f), 'utf8'));
  }
  const m = stdlib;
  return { read: (p) => m.get(p) };
}

export type Stage = 'check' | 'compile' | 'forward' | 'vjp' | 'jvp' | 'run forward' | 'run vjp' | 'run jvp';

export interface CaseResult {
  verdict: 'ok' | 'crash';
  /** how far the case got: 'diagnostics', 'compile error', 'runtime error' or 'ran' */
  reached: 'diagnostics' | 'compile error' | 'runtime error' | 'ran';
  /** for crashes: the stage, a signature (error name, message with numbers blanked, first frame)
   *  and the error's text with its first frames */
  stage?: Stage;
  sig?: string;
  text?: string;
  /** milliseconds per stage */
  ms: Partial<Record<Stage, number>>;
}

/** What is wrong with a diagnostic, or null. */
export function malformed(d: Diagnostic, text: string): string | null {
  if (typeof d.code !== 'string' || !/^MAT\d{4}$/.test(d.code)) return `bad code ${JSON.stringify(d.code)}`;
  if (typeof d.message !== 'string' || d.message.trim() === '') return `${d.code} has no message`;
  if (d.severity !== 'error' && d.severity !== 'warning') return `${d.code} has severity ${String(d.severity)}`;
  if (!d.span) return `${d.code} has no span`;
  const len = d.span.file.path === FUZZ_PATH ? text.length : d.span.file.text.length;
  if (!(d.span.start >= 0 && d.span.start <= d.span.end && d.span.end <= len)) return `${d.code} span ${d.span.start}..${d.span.end} outside ${d.span.file.path} (${len} chars)`;
  for (const n of d.notes ?? []) {
    if (typeof n.message !== 'string') return `${d.code} has a note without a message`;
    if (n.span && !(n.span.start >= 0 && n.span.start <= n.span.end && n.span.end <= n.span.file.text.length)) return `${d.code} note span outside its file`;
  }
  render(d);
  return null;
}

export function describeError(e: unknown): { sig: string; text: string } {
  if (!(e instanceof Error)) return { sig: `thrown ${typeof e}: ${String(e).slice(0, 80)}`, text: String(e) };
  const frames = (e.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 5);
  const first = e.message.split('\n')[0]!.slice(0, 200);
  const where = (frames[0] ?? '').trim().replace(/\(file:\/\/.*\/dist\//, '(').replace(/:\d+:\d+\)$/, ')');
  return { sig: `${e.name}: ${first.replace(/%\d+/g, '%N').replace(/\d+/g, 'N')} @ ${where}`, text: `${e.name}: ${first}\n${frames.join('\n')}` };
}

/** Errors a user may legitimately get from a stage. */
const acceptable = (e: unknown): boolean => e instanceof CompileError || e instanceof MatcRuntimeError;

export interface RunOptions {
  /** called as each stage starts (the pool's watchdog attributes hangs to the stage) */
  onStage?: (s: Stage) => void;
  /** at most this many functions are compiled and run */
  maxFunctions?: number;
  /** build the derived forms and run them (false: check only) */
  derive?: boolean;
}

/** Sizes of the random inputs: every dimension 3, int parameters their default or 2. */
function inputsFor(fn: ReturnType<Module['fn']>, seed: number): { inputs: Record<string, Tensor>; dims: Record<string, number> } {
  const f = fn.func;
  const dims: Record<string, number> = {};
  for (const ip of f.intParams) dims[ip.name] = ip.default ?? 2;
  for (const p of f.params) for (const d of (p.node.type as TensorType).shape) for (const v of d.vars()) if (dims[v] === undefined && !f.derivedDims.some((x) => x.name === v)) dims[v] = 3;
  for (const dd of f.derivedDims) dims[dd.name] = dd.value.eval(new Map(Object.entries(dims)));
  const rng = new Rng(seed);
  const inputs: Record<string, Tensor> = {};
  for (const p of f.params) {
    const t = p.node.type as TensorType;
    if (t.shape.length === 0 && p.default !== undefined) continue;
    const shape = t.shape.map((d) => d.eval(new Map(Object.entries(dims))));
    if (shape.some((d) => !Number.isInteger(d) || d < 1 || d > 64)) throw new MatcRuntimeError('MATR112', `fuzz: input ${p.name} would have shape [${shape.join(', ')}]`);
    inputs[p.name] = new Tensor(shape, randomInstance(rng, shape, t.struct));
  }
  const callDims: Record<string, number> = {};
  for (const ip of f.intParams) callDims[ip.name] = dims[ip.name]!;
  return { inputs, dims: callDims };
}

function likeOf(ts: Record<string, Tensor>, rng: Rng): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, new Tensor(t.shape, rng.normals(t.size))]));
}

/** Runs one case; never throws. */
export async function runCase(text: string, opts: RunOptions = {}): Promise<CaseResult> {
  const ms: Partial<Record<Stage, number>> = {};
  let stage: Stage = 'check';
  const begin = (s: Stage) => {
    stage = s;
    opts.onStage?.(s);
    return performance.now();
  };
  const crash = (e: unknown): CaseResult => {
    const d = describeError(e);
    return { verdict: 'crash', reached: 'diagnostics', stage, sig: `${stage}: ${d.sig}`, text: `${stage} threw ${d.text}`, ms };
  };
  const path = FUZZ_PATH;
  let t = begin('check');
  try {
    const ds = checkSource(text, { path, loader: loader() });
    for (const d of ds) {
      const bad = malformed(d, text);
      if (bad) return { verdict: 'crash', reached: 'diagnostics', stage, sig: `check: malformed diagnostic: ${bad.replace(/\d+/g, 'N')}`, text: bad, ms };
    }
    renderAll(ds);
    ms.check = performance.now() - t;
    if (ds.some((d) => d.severity === 'error') || opts.derive === false) return { verdict: 'ok', reached: 'diagnostics', ms };
  } catch (e) {
    return crash(e);
  }
  let module: Module;
  t = begin('compile');
  try {
    module = new Module(compileProgram(text, { path, loader: loader() }));
    ms.compile = performance.now() - t;
  } catch (e) {
    if (acceptable(e)) return { verdict: 'ok', reached: 'compile error', ms };
    return crash(e);
  }
  let reached: CaseResult['reached'] = 'ran';
  // generic functions (static parameters: stdlib/sttp.mat's layers over families of cores) are
  // compiled per specialisation, which needs static values this harness does not choose; their
  // specialisations are fuzzed by test/collections-fuzz.test.ts
  const names = module.functions.filter((n) => !module.fn(n).generic).slice(0, opts.maxFunctions ?? 4);
  for (const [i, name] of names.entries()) {
    const fn = module.fn(name);
    const forms: ('forward' | 'vjp' | 'jvp')[] = [];
    for (const mode of ['forward', 'vjp', 'jvp'] as const) {
      t = begin(mode);
      try {
        module.executable(name, mode);
        forms.push(mode);
      } catch (e) {
        if (!acceptable(e)) return crash(e);
        reached = reached === 'ran' ? 'compile error' : reached;
      }
      ms[mode] = (ms[mode] ?? 0) + performance.now() - t;
    }
    let inputs: Record<string, Tensor>;
    let dims: Record<string, number>;
    try {
      ({ inputs, dims } = inputsFor(fn, 1000 + i));
    } catch (e) {
      if (acceptable(e)) {
        reached = 'runtime error';
        continue;
      }
      return crash(e);
    }
    const rng = new Rng(7 + i);
    for (const mode of forms) {
      const s: Stage = `run ${mode}`;
      t = begin(s);
      try {
        if (mode === 'forward') await fn.forward(inputs, { dims });
        else if (mode === 'vjp') {
          const out = (await fn.forward(inputs, { dims })).outputs;
          await fn.vjp(inputs, likeOf(out, rng), { dims });
        } else {
          const tangents = likeOf(Object.fromEntries(fn.params.filter((p) => p.differentiable && inputs[p.name]).map((p) => [p.name, inputs[p.name]!])), rng);
          await fn.jvp(inputs, tangents, { dims });
        }
      } catch (e) {
        if (!acceptable(e)) return crash(e);
        reached = 'runtime error';
      }
      ms[s] = (ms[s] ?? 0) + performance.now() - t;
    }
  }
  return { verdict: 'ok', reached, ms };
}

/** Whether a spec asks for 10⁶ or more iterations of a loop or a solver: a literal trip count or
 *  iteration limit that large, or a trip count that is a product of four dimensions. The fuzz
 *  pool gives the run stages of such specs a 1 s watchdog, and a run past it is a *requested
 *  long run* — the user asked for that much work — not a hang; compile stages keep the full
 *  watchdog. */
export function asksForLongRun(text: string): boolean {
  const big = /(\.\.\s*(?:reverse\s+)?|max_iter\s*:\s*|refine\s*:\s*)(\d[\d.e+]*)/g;
  for (const m of text.matchAll(big)) if (Number(m[2]) >= 1e6) return true;
  return /\.\.\s*[a-z]\s*\*\s*[a-z]\s*\*\s*[a-z]\s*\*\s*[a-z]/.test(text);
}

/** A hang while running a function whose spec asks for a long run (asksForLongRun). */
export function isRequestedLongRun(text: string, r: { verdict: string; stage?: string }): boolean {
  return r.verdict === 'hang' && String(r.stage ?? '').startsWith('run') && asksForLongRun(text);
}
