// The spectral ops far from 1 (issue 12: no silent wrong results). Their loops form sums of
// squares of the entries, which overflow past √max (f64 1.3e154, f32 1.8e19) and underflow below
// √tiny (f64 1.5e-154, f32 1.1e-19); there a QR skipped every reflection (R = triu(A)), eigh
// stopped after one sweep and svd returned σ = 0, every one with `ok: true`. They now run on
// A / max|A| outside [eps², eps⁻²] (compiler/solvers/spectral.ts inputScale). Each op is
// homogeneous, so the oracle is the same op at scale 1: eigh(sA) = (sλ, V), svd(sA) = (U, sσ, V),
// qr(sA) = (Q, sR), sqrtm(sS) = √s sqrtm(S).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import type { Backend } from '../runtime/backend.js';
import { gpuOrSkip } from './gpu-available.js';

const SRC = `fn e(S: sym[n]) -> (lam: vec[n], V: mat[n, n]) = eigh(S)
fn s(A: mat[m, n]) -> (U: mat[m, k], sv: vec[k], V: mat[n, k]) where k = min(m, n) = svd(A)
fn q(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder_qr(A)
fn r(S: sym[n]) -> mat[n, n] = sqrtm(S)
`;
const mod = compile(SRC, { path: 'spectral-range.mat' });

// a symmetric positive definite 4 × 4 and a tall 5 × 4 of full rank
const S0 = [4, 1, 2, 0.5, 1, 5, 1, 2, 2, 1, 6, 1, 0.5, 2, 1, 7];
const A0 = [4, 1, 2, 0.5, 3, 5, 1, 2, 1, 1, 6, 1, 2, 0.3, 1, 7, -1, 2, 0.5, 1];

/** What each function returns, divided by the power of the scale it carries. */
async function scaledOutputs(backend: Backend | 'cpu', sc: number): Promise<Record<string, number[]>> {
  const S = new Tensor([4, 4], S0.map((x) => x * sc));
  const A = new Tensor([5, 4], A0.map((x) => x * sc));
  const out: Record<string, number[]> = {};
  const take = (name: string, data: ArrayLike<number>, div: number) => (out[name] = Array.from(data, (x) => x / div));
  const opts = { backend };
  const e = await mod.fn('e').forward({ S }, opts);
  const s = await mod.fn('s').forward({ A }, opts);
  const q = await mod.fn('q').forward({ A }, opts);
  const r = await mod.fn('r').forward({ S }, opts);
  for (const [name, res] of [['eigh', e], ['svd', s], ['qr', q], ['sqrtm', r]] as const) assert.ok(res.status.ok, `${name} at ${sc}: ${res.status.warnings.join('; ')}`);
  take('lam', e.outputs.lam!.data, sc);
  take('V', e.outputs.V!.data, 1);
  take('sv', s.outputs.sv!.data, sc);
  take('U', s.outputs.U!.data, 1);
  take('Vs', s.outputs.V!.data, 1);
  take('Q', q.outputs.Q!.data, 1);
  take('R', q.outputs.R!.data, sc);
  take('sqrtm', r.outputs.out!.data, Math.sqrt(sc));
  return out;
}

function compare(got: Record<string, number[]>, want: Record<string, number[]>, tol: number, what: string): void {
  for (const [k, w] of Object.entries(want)) {
    const g = got[k]!;
    const scale = Math.max(...w.map(Math.abs));
    const err = Math.max(...w.map((x, i) => Math.abs(g[i]! - x))) / scale;
    assert.ok(err <= tol, `${what}: ${k} off by ${err.toExponential(2)} (relative to its largest entry); got ${g.slice(0, 4).map((x) => x.toPrecision(6)).join(', ')}…`);
  }
}

const CPU: Record<string, () => Backend | 'cpu'> = {
  'reference interpreter': () => new CpuBackend({ reference: true }),
  'compiled, WebAssembly': () => new CpuBackend({ threads: 1, engine: 'wasm' }),
  'compiled, JavaScript': () => new CpuBackend({ threads: 1, engine: 'js' }),
};

for (const [name, make] of Object.entries(CPU)) {
  test(`f64 CPU (${name}): eigh, svd, householder_qr and sqrtm of s·A equal those of A scaled, for s from 1e-300 to 1e300`, async () => {
    const backend = make();
    const want = await scaledOutputs(backend, 1);
    for (const sc of [1e-300, 1e-170, 1e-40, 1e40, 1e160, 1e200, 1e300]) compare(await scaledOutputs(backend, sc), want, 1e-12, `scale ${sc}`);
  });
}

test('WebGPU (f32): the same from 1e-30 to 1e30 (squares of f32 entries leave its range past 1e±19)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const want = await scaledOutputs(new CpuBackend({ reference: true }), 1);
  for (const sc of [1e-30, 1e-22, 1, 1e22, 1e30]) compare(await scaledOutputs(backend, sc), want, 2e-5, `WebGPU, scale ${sc}`);
});
