// Shared set-up for the declarative-layer tests: the stdlib sources (found from both test/ and
// dist/test/), compiled modules with default and tight solver options, and small helpers to build
// batched tensors and read per-instance slices.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compile, type CompiledFn, type Module } from '../../api/module.js';
import { Tensor } from '../../runtime/tensor.js';

/** Solver overrides for tests that need the exact solution (what gradCheck uses too). */
export const TIGHT = { tol: 1e-13, max_iter: 5000, refine: 4 } as const;

export function repoPath(rel: string): string {
  const candidates = [new URL(`../../${rel}`, import.meta.url), new URL(`../../../${rel}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`${rel} not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

export function stdlibSource(name: 'less' | 'ied'): string {
  return readFileSync(repoPath(`stdlib/${name}.mat`), 'utf8');
}

const modules = new Map<string, Module>();

/** The stdlib module, compiled once per option set. */
export function stdlibModule(name: 'less' | 'ied', solverOptions?: Record<string, number>): Module {
  const key = `${name}:${JSON.stringify(solverOptions ?? {})}`;
  let m = modules.get(key);
  if (!m) {
    m = compile(stdlibSource(name), { path: `stdlib/${name}.mat`, ...(solverOptions ? { solverOptions } : {}) });
    modules.set(key, m);
  }
  return m;
}

export function stdlibFn(name: 'less' | 'ied', fn: string, solverOptions?: Record<string, number>): CompiledFn {
  return stdlibModule(name, solverOptions).fn(fn);
}

/** Instance i of a batched tensor whose instance shape has `size` elements. */
export function instance(t: Tensor, i: number, size: number): Float64Array {
  return Float64Array.from(t.data.subarray(i * size, (i + 1) * size));
}

/** Stacks equally-sized instances into a tensor with a leading batch dimension. */
export function stack(parts: ArrayLike<number>[], shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(parts.length * size);
  parts.forEach((p, i) => {
    if (p.length !== size) throw new Error(`stack: part ${i} has ${p.length} elements, expected ${size}`);
    data.set(p as ArrayLike<number>, i * size);
  });
  return new Tensor([parts.length, ...shape], data);
}

/** Σ ⟨a_k, b_k⟩ over the tensors both maps hold. */
export function pairing(a: Record<string, Tensor>, b: Record<string, Tensor>): number {
  let s = 0;
  for (const [k, t] of Object.entries(a)) {
    const u = b[k];
    if (!u) continue;
    for (let i = 0; i < t.size; i++) s += t.data[i]! * u.data[i]!;
  }
  return s;
}

export function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toExponential(digits) : String(x);
}
