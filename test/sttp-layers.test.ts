// SVDP and STTP layers of stdlib/sttp.mat (issue 14, items 1, 2 and 4; seeds-math §3.2–3.5): the
// weights and their gradients against the reference's construction in PyTorch
// (test/fixtures/sttp.json); the reference's tests — the top singular value of W is 1 for
// (64,128,3,3), (64,128,1,1), (3,64,3,3), (3,64,1,1) at r ∈ {8, 128}, the edge shapes (1,32),
// (32,1), (1,1), the TT operator equals the dense product for the two cases of test_tt_modules.py —
// the DOF formulas against the reference's count and against the rank of the Jacobian of W (the
// gauge of Prop. 2 leaves no redundant parameter), the paper's compression Z of Tables 1–3,
// gradients against central finite differences in f64 (frames, cores, spectrum, X), W·X without
// forming W (no intermediate of its VJP as large as W), and WebGPU (f32) against the CPU f64.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { stdlibDir } from '../compiler/check/items.js';
import { reachable } from '../compiler/ir/node.js';
import type { TensorType } from '../compiler/ir/types.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { compression, sttpDof, sttpParamCount, sttpParamShapes, sttpShape, svdpDof, type LayerCount, type Spectrum, type SttpShape } from '../api/sttp.js';
import { loadFixture, type FixtureTensor } from './oracles/fixtures.js';
import { jacobiEigen } from './oracles/less-exact.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { layerGpuOrSkip } from './util/gpu-layers.js';
import { relErr } from './util/approx.js';
import { matmul } from './util/dense.js';

after(releaseSharedGpu);

const path = join(stdlibDir(), 'sttp.mat');
const src = readFileSync(path, 'utf8');
const mod = compile(src, { path });
const fx = loadFixture('sttp');
const T = (f: FixtureTensor) => new Tensor(f.shape, f.data);
const size = (sh: readonly number[]) => sh.reduce((a, b) => a * b, 1);

/** The singular values of an m × n matrix, descending (eigenvalues of the smaller Gram matrix). */
function singularValues(w: ArrayLike<number>, m: number, n: number): number[] {
  const small = Math.min(m, n);
  const g = new Float64Array(small * small);
  for (let i = 0; i < small; i++) for (let j = 0; j < small; j++) {
    let s = 0;
    if (m <= n) for (let k = 0; k < n; k++) s += w[i * n + k]! * w[j * n + k]!;
    else for (let k = 0; k < m; k++) s += w[k * n + i]! * w[k * n + j]!;
    g[i * small + j] = s;
  }
  return Array.from(jacobiEigen(g, small).values).map((x) => Math.sqrt(Math.max(0, x))).sort((a, b) => b - a);
}

interface SttpParams {
  PL: Tensor[];
  Pm: Tensor;
  Pv: Tensor;
  PR: Tensor[];
  S?: Tensor;
}

function randomParams(rng: Rng, s: SttpShape, spectrum: Spectrum, scale = 1): SttpParams {
  const p = sttpParamShapes(s, spectrum);
  const R = (sh: number[]) => new Tensor(sh, rng.normals(size(sh)).map((x) => scale * x));
  return { PL: p.PL.map(R), Pm: R(p.Pm), Pv: R(p.Pv), PR: p.PR.map(R), ...(p.S ? { S: R(p.S) } : {}) };
}

/** Collection parameters by their element names (as gradients come back). */
function flatParams(p: SttpParams): Record<string, Tensor> {
  const out: Record<string, Tensor> = { Pm: p.Pm, Pv: p.Pv };
  p.PL.forEach((t, i) => (out[`PL[${i}]`] = t));
  p.PR.forEach((t, i) => (out[`PR[${i}]`] = t));
  if (p.S) out.S = p.S;
  return out;
}

test('STTP and SVDP weights and their gradients equal the reference construction in PyTorch', async () => {
  for (const c of fx.cases.filter((c) => c.name.startsWith('sttp_') || c.name.startsWith('svdp_'))) {
    const learned = c.spectrum === 'learned';
    let fn: string;
    let opts = {};
    if (c.name.startsWith('sttp_')) {
      fn = learned ? 'sttp_weight' : 'sttp_weight_c';
      const dims: Record<string, number> = { K: c.modes!.length, Kout: c.kout! };
      c.modes!.forEach((v, i) => (dims[`n[${i}]`] = v));
      c.ranks!.forEach((v, i) => (dims[`R[${i}]`] = v));
      opts = { dims };
    } else fn = learned ? 'svdp_weight' : 'svdp_weight_c';
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, T(v)]));
    const r = await mod.fn(fn).vjp(inputs, { W: T(c.cotangents.W!) }, opts);
    const e = relErr(r.outputs.W!.data, c.outputs.W!.data);
    assert.ok(e < 1e-12, `${c.name}: W ${e}`);
    for (const k of Object.keys(c.inputs)) {
      const eg = relErr(r.gradients[k]!.data, c.gradients[k]!.data);
      assert.ok(eg < 1e-10, `${c.name}: ∂${k} ${eg}`);
    }
  }
});

test('the reference\'s test: the top singular value of W is 1 (to 1e-12 here; 4 decimals there), and the spectrum is |S|/max|S|', async () => {
  const rng = new Rng(1410);
  for (const [o, i, k] of [[64, 128, 3], [64, 128, 1], [3, 64, 3], [3, 64, 1]] as const) {
    for (const r of [8, 128]) {
      const s = sttpShape(o, i, r, { kernel: k });
      const rank = s.middleRank;
      // STTP, learned spectrum: random frames and S = ones (the reference's init of S), then random S
      const p = randomParams(rng, s, 'learned');
      for (const S of [new Tensor([rank], new Float64Array(rank).fill(1)), p.S!]) {
        const w = (await mod.fn('sttp_weight').forward({ ...p, S }, { dims: s.dims })).outputs.W!;
        const sv = singularValues(w.data, s.dOut, s.dIn);
        assert.ok(Math.abs(sv[0]! - 1) < 1e-12, `STTP (${o},${i},${k},${k}) r=${r}: σ_max = ${sv[0]}`);
        const want = Array.from(S.data).map((x) => Math.abs(x) / Math.max(...Array.from(S.data).map(Math.abs))).sort((a, b) => b - a);
        assert.ok(relErr(sv.slice(0, rank), want) < 1e-11, `STTP (${o},${i},${k},${k}) r=${r}: spectrum`);
        // the rest vanish: the Gram matrix's eigenvalues σ² are exact to rounding (~1e-15), so σ
        // itself only to its square root
        assert.ok(sv.slice(rank).every((x) => x * x < 1e-13), `rank R_Kout: ${sv[rank]}`);
      }
      // STTP, identity spectrum
      const pc = randomParams(rng, s, 'identity');
      const wc = (await mod.fn('sttp_weight_c').forward({ ...pc }, { dims: s.dims })).outputs.W!;
      const svc = singularValues(wc.data, s.dOut, s.dIn);
      assert.ok(svc.slice(0, rank).every((x) => Math.abs(x - 1) < 1e-12), `STTP-C (${o},${i},${k},${k}) r=${r}`);
      // SVDP (learned, S = ones)
      const rr = Math.min(o, i * k * k, r);
      const PU = new Tensor([o, rr], rng.normals(o * rr));
      const PV = new Tensor([i * k * k, rr], rng.normals(i * k * k * rr));
      const ws = (await mod.fn('svdp_weight').forward({ PU, PV, S: new Tensor([rr], new Float64Array(rr).fill(1)) })).outputs.W!;
      const svs = singularValues(ws.data, o, i * k * k);
      assert.ok(Math.abs(svs[0]! - 1) < 1e-12 && svs.slice(0, rr).every((x) => Math.abs(x - 1) < 1e-12), `SVDP (${o},${i},${k},${k}) r=${r}`);
    }
  }
});

test('edge shapes (1,32), (32,1), (1,1): the reference\'s DOF (32, 32, 1) and w wᵀ = 1', async () => {
  const rng = new Rng(1411);
  for (const [o, i, dof] of [[1, 32, 32], [32, 1, 32], [1, 1, 1]] as const) {
    assert.equal(svdpDof(o, i, 32), dof, `SVDP DOF (${o},${i})`);
    const s = sttpShape(o, i, 32);
    assert.equal(sttpDof(s), dof, `STTP DOF (${o},${i})`);
    const p = randomParams(rng, s, 'learned');
    const w = (await mod.fn('sttp_weight').forward({ ...p }, { dims: s.dims })).outputs.W!;
    const ww = Array.from(w.data).reduce((a, x) => a + x * x, 0);
    assert.ok(Math.abs(ww - 1) < 1e-13, `STTP (${o},${i}): w wᵀ = ${ww}`);
    const PU = new Tensor([o, 1], rng.normals(o));
    const PV = new Tensor([i, 1], rng.normals(i));
    const ws = (await mod.fn('svdp_weight').forward({ PU, PV, S: new Tensor([1], [0.3]) })).outputs.W!;
    assert.ok(Math.abs(Array.from(ws.data).reduce((a, x) => a + x * x, 0) - 1) < 1e-13, `SVDP (${o},${i})`);
  }
});

test('the TT operator equals the dense product: the two cases of test_tt_modules.py (c_in 256 → c_out 512, k = 3, r = 32; 128 → 256, k = 1)', async () => {
  for (const c of fx.cases.filter((c) => c.name.startsWith('tt_operator'))) {
    const K = c.modes!.length;
    const dims: Record<string, number> = { K, Kout: c.kout! };
    const cores = Array.from({ length: K }, (_, i) => T(c.inputs[`cores[${i}]`]!));
    const X = T(c.inputs.X!);
    const y = (await mod.fn('tt_apply').forward({ cores, X }, { dims })).outputs.Y!;
    const e = relErr(y.data, c.outputs.Y!.data);
    assert.ok(e < 1e-12, `${c.name}: tt_apply vs NumPy ${e}`);
    // and against matc's own dense operator (the cores contracted into W, then W X)
    const W = (await mod.fn('tt_dense').forward({ cores }, { dims })).outputs.W!;
    const [dOut, dIn] = W.shape as [number, number];
    const cols = X.shape[1]!;
    const d = relErr(y.data, matmul(W.data, X.data, dOut, dIn, cols));
    assert.ok(d < 1e-12, `${c.name}: tt_apply vs tt_dense · X ${d}`);
    // the reference's tolerances, for the record: L∞ < 0.1, RMSE < 0.01
    let linf = 0;
    for (let q = 0; q < y.data.length; q++) linf = Math.max(linf, Math.abs(y.data[q]! - c.outputs.Y!.data[q]!));
    assert.ok(linf < 0.1);
  }
  // the STTP layer applied to X equals its materialised weight times X (an orthonormal TT: the
  // layer of the first case, 512 × 256·3·3 at r = 32)
  const rng = new Rng(1412);
  const s = sttpShape(512, 256, 32, { kernel: 3 });
  const p = randomParams(rng, s, 'learned');
  const X = new Tensor([s.dIn, 4], rng.normals(s.dIn * 4));
  const y = (await mod.fn('sttp_apply').forward({ ...p, X }, { dims: s.dims })).outputs.Y!;
  const W = (await mod.fn('sttp_weight').forward({ ...p }, { dims: s.dims })).outputs.W!;
  assert.ok(relErr(y.data, matmul(W.data, X.data, s.dOut, s.dIn, 4)) < 1e-12, 'sttp_apply = sttp_weight · X');
});

test('DOF: the paper\'s formulas equal the reference\'s count and the parameters the layers use', () => {
  for (const c of fx.cases.filter((c) => c.dof !== undefined)) {
    const spectrum = c.spectrum!;
    if (c.name.startsWith('sttp_')) {
      const [o, ...rest] = c.name.split('_')[2]!.split('x').map(Number) as [number, ...number[]];
      const r = Number(c.name.split('_r')[1]);
      const s = rest.length === 3 ? sttpShape(o, rest[0]!, r, { kernel: rest[1]! }) : sttpShape(o, rest[0]!, r);
      assert.deepEqual(s.n, c.modes, `${c.name}: modes`);
      assert.deepEqual(s.R, c.ranks, `${c.name}: ranks`);
      assert.equal(sttpDof(s, spectrum), c.dof, `${c.name}: DOF`);
      // used parameters: the reduced frames whole, the full ones' strict lower triangles, S
      const p = sttpParamShapes(s, spectrum);
      const tri = (sh: number[]) => sh[1]! * sh[0]! - (sh[1]! * (sh[1]! + 1)) / 2;
      const used = p.PL.reduce((a, sh) => a + size(sh), 0) + (spectrum === 'learned' ? tri(p.Pm) : size(p.Pm)) + tri(p.Pv) + p.PR.reduce((a, sh) => a + size(sh), 0) + (p.S ? p.S[0]! : 0);
      assert.equal(used, c.dof, `${c.name}: parameters used`);
      assert.ok(sttpParamCount(s, spectrum) >= used);
    } else {
      const [m, n] = c.name.split('_')[2]!.split('x').map(Number) as [number, number];
      const r = Number(c.name.split('_r')[1]);
      assert.equal(svdpDof(m, n, r, spectrum), c.dof, `${c.name}: DOF`);
    }
  }
});

/** The rank of the Jacobian of vec(W) with respect to the given parameter entries, by forward mode
 *  (one tangent per entry, batched), and the number of entries. */
async function jacobianRank(fn: string, inputs: Record<string, Tensor>, free: Record<string, (e: number) => boolean>, dims: Record<string, number> = {}): Promise<{ rank: number; entries: number }> {
  const dirs: [string, number][] = [];
  for (const [k, t] of Object.entries(inputs)) for (let e = 0; e < t.size; e++) if (free[k]?.(e) ?? true) dirs.push([k, e]);
  const N = dirs.length;
  const tangents: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(inputs)) {
    const data = new Float64Array(N * t.size);
    dirs.forEach(([kk, e], q) => {
      if (kk === k) data[q * t.size + e] = 1;
    });
    tangents[k] = new Tensor([N, ...t.shape], data);
  }
  const j = await mod.fn(fn).jvp(inputs, tangents, { dims });
  const jw = j.tangents.W!;
  const m = jw.size / N;
  // JᵀJ (N × N) and its eigenvalues
  const g = new Float64Array(N * N);
  for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) {
    let s = 0;
    for (let q = 0; q < m; q++) s += jw.data[a * m + q]! * jw.data[b * m + q]!;
    g[a * N + b] = s;
  }
  const ev = Array.from(jacobiEigen(g, N).values);
  const top = Math.max(...ev);
  return { rank: ev.filter((x) => x > 1e-9 * top).length, entries: N };
}

test('Prop. 2: with the gauge of reduced cores no parameter is redundant — the rank of ∂W/∂θ equals the DOF (less the scale of S) (STTP and SVDP, learned and identity)', async () => {
  const rng = new Rng(1413);
  const strictLower = (cols: number) => (e: number) => e % cols < Math.floor(e / cols);
  // Σ = S / max|S| does not change when S is scaled: the paper's DOF counts all of S (as the
  // reference counts parameters), so a learned spectrum leaves exactly that one direction in the
  // kernel of ∂W/∂θ, and no other
  const scale = (spectrum: Spectrum) => (spectrum === 'learned' ? 1 : 0);
  for (const [o, i, r] of [[8, 12, 4], [4, 3, 3], [6, 10, 6]] as const) {
    const s = sttpShape(o, i, r);
    for (const spectrum of ['learned', 'identity'] as const) {
      const p = randomParams(rng, s, spectrum, 0.5);
      const inputs = flatParams(p);
      const free: Record<string, (e: number) => boolean> = { Pv: strictLower(p.Pv.shape[1]!) };
      if (spectrum === 'learned') free.Pm = strictLower(p.Pm.shape[1]!);
      const { rank, entries } = await jacobianRank(spectrum === 'learned' ? 'sttp_weight' : 'sttp_weight_c', inputs, free, s.dims);
      assert.equal(entries, sttpDof(s, spectrum), `STTP-${spectrum} ${o}×${i} r=${r}: free entries`);
      assert.equal(rank, entries - scale(spectrum), `STTP-${spectrum} ${o}×${i} r=${r}: rank ${rank} of ${entries}`);
    }
    // SVDP
    const rr = Math.min(o, i, r);
    for (const spectrum of ['learned', 'identity'] as const) {
      const PU = new Tensor(spectrum === 'learned' ? [o, rr] : [o - rr, rr], rng.normals((spectrum === 'learned' ? o : o - rr) * rr));
      const PV = new Tensor([i, rr], rng.normals(i * rr));
      const inputs: Record<string, Tensor> = spectrum === 'learned' ? { PU, PV, S: new Tensor([rr], rng.normals(rr)) } : { PU, PV };
      const free: Record<string, (e: number) => boolean> = { PV: strictLower(rr) };
      if (spectrum === 'learned') free.PU = strictLower(rr);
      const { rank, entries } = await jacobianRank(spectrum === 'learned' ? 'svdp_weight' : 'svdp_weight_c', inputs, free);
      assert.equal(entries, svdpDof(o, i, r, spectrum), `SVDP-${spectrum} ${o}×${i}: free entries`);
      assert.equal(rank, entries - scale(spectrum), `SVDP-${spectrum} ${o}×${i}: rank ${rank} of ${entries}`);
    }
  }
  // without the gauge (a core next to the boundary full instead of reduced) one direction is redundant
  const red = compile(`import "sttp.mat"
fn w_redundant(P0: mat[2, 2], P1: mat[4, 3], P2: mat[3, 3], S: vec[3]) -> W: mat[4, 3] =
  tt_dense((reshape(stiefel_full(P0), 1, 2, 2), reshape(stiefel_full(P1) * diag(spectrum(S)), 2, 2, 3),
            reshape(stiefel_full(P2)', 3, 3, 1)), 2)`, { path: join(stdlibDir(), 'redundant.mat') });
  const inputs = { P0: new Tensor([2, 2], rng.normals(4)), P1: new Tensor([4, 3], rng.normals(12)), P2: new Tensor([3, 3], rng.normals(9)), S: new Tensor([3], rng.normals(3)) };
  const free = { P0: strictLower(2), P1: strictLower(3), P2: strictLower(3) };
  const dirs = Object.entries(inputs).flatMap(([k, t]) => Array.from({ length: t.size }, (_, e) => [k, e] as const).filter(([kk, e]) => (free as Record<string, (e: number) => boolean>)[kk]?.(e) ?? true));
  const N = dirs.length;
  const tangents: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(inputs)) {
    const data = new Float64Array(N * t.size);
    dirs.forEach(([kk, e], q) => kk === k && (data[q * t.size + e] = 1));
    tangents[k] = new Tensor([N, ...t.shape], data);
  }
  const jw = (await red.fn('w_redundant').jvp(inputs, tangents)).tangents.W!;
  const g = new Float64Array(N * N);
  for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) for (let q = 0; q < 12; q++) g[a * N + b]! += jw.data[a * 12 + q]! * jw.data[b * 12 + q]!;
  const ev = Array.from(jacobiEigen(g, N).values);
  const rank = ev.filter((x) => x > 1e-9 * Math.max(...ev)).length;
  assert.equal(N, 13);
  assert.equal(rank, sttpDof(sttpShape(4, 3, 3)) - 1, 'rank 11 of 13: the scale of S, and a 2×2 rotation the full first core carries and the second core absorbs');
});

/** The discriminator of SNGAN for CIFAR-10 (preset 32, ndf 128; reduced: 32) and STL-10 (preset 48,
 *  ndf 1024; reduced: 64), layer by layer (src/modules/sngan.py): [C_out, C_in, k, bias]. */
function discriminator(ndf: number, blocks: [number, number, boolean][], first: number): [number, number, number, boolean][] {
  const L: [number, number, number, boolean][] = [[first, 3, 3, true], [first, first, 3, true], [first, 3, 1, true]];
  for (const [ci, co, down] of blocks) {
    L.push([ci, ci, 3, true], [co, ci, 3, true]);
    if (ci !== co || down) L.push([co, ci, 1, true]);
  }
  L.push([1, ndf, 0, false]); // the last linear layer, no bias
  return L;
}
const c10 = (ndf: number) => discriminator(ndf, [[ndf, ndf, true], [ndf, ndf, false], [ndf, ndf, false]], ndf);
const stl = (ndf: number) => discriminator(ndf, [[ndf / 16, ndf / 8, true], [ndf / 8, ndf / 4, true], [ndf / 4, ndf / 2, true], [ndf / 2, ndf, false]], ndf / 16);

function layerCounts(net: [number, number, number, boolean][], method: 'svdp' | 'sttp', r: number, spectrum: Spectrum): LayerCount[] {
  return net.map(([co, ci, k, bias], idx) => {
    const dIn = ci * (k || 1) * (k || 1);
    const dof = method === 'svdp' ? svdpDof(co, dIn, r, spectrum) : sttpDof(k ? sttpShape(co, ci, r, { kernel: k }) : sttpShape(co, ci, r), spectrum);
    return { name: `${idx}: ${co}×${ci}${k ? `×${k}×${k}` : ''}`, numel: co * dIn, dof, extra: bias ? co : 0 };
  });
}

test('compression Z of the paper\'s Tables 1–3 (the SNGAN discriminators), from the DOF formulas', () => {
  // the paper prints Z truncated or rounded to the digits shown
  const close = (z: number, paper: number, digits: number) => Math.abs(z - paper) < 10 ** -digits;
  const rows: [string, [number, number, number, boolean][], 'svdp' | 'sttp', number, Spectrum, number, number][] = [
    ['T2 C10 SVDP-C', c10(128), 'svdp', 64, 'identity', 51.7, 1],
    ['T2 C10 STTP-C', c10(128), 'sttp', 64, 'identity', 16.7, 1],
    ['T2 C10 SVDP-L', c10(128), 'svdp', 64, 'learned', 53.3, 1],
    ['T2 C10 STTP-L', c10(128), 'sttp', 64, 'learned', 18.3, 1],
    ['T2 STL SVDP-C', stl(1024), 'svdp', 64, 'identity', 14.2, 1],
    ['T2 STL STTP-C', stl(1024), 'sttp', 64, 'identity', 3.24, 2],
    ['T2 STL SVDP-L', stl(1024), 'svdp', 64, 'learned', 14.5, 1],
    ['T2 STL STTP-L', stl(1024), 'sttp', 64, 'learned', 3.51, 2],
    ['T1 C10 SVDP-C', c10(32), 'svdp', 64, 'identity', 93.1, 1],
    ['T1 C10 STTP-C', c10(32), 'sttp', 64, 'identity', 87.7, 1],
    ['T1 STL SVDP-C', stl(64), 'svdp', 64, 'identity', 89.4, 1],
    ['T1 STL STTP-C', stl(64), 'sttp', 64, 'identity', 74.1, 1],
    ['T3 SVDP r=32', c10(128), 'svdp', 32, 'learned', 27.71, 2],
    ['T3 SVDP r=64', c10(128), 'svdp', 64, 'learned', 53.36, 2],
    ['T3 STTP r=32', c10(128), 'sttp', 32, 'learned', 6.44, 2],
    ['T3 STTP r=64', c10(128), 'sttp', 64, 'learned', 18.33, 2],
  ];
  for (const [name, net, method, r, spectrum, paper, digits] of rows) {
    const z = compression(layerCounts(net, method, r, spectrum));
    assert.ok(close(z, paper, digits), `${name}: Z = ${z.toFixed(4)}, the paper ${paper}`);
  }
  // per layer, Table 2's C10 STTP-L (r = 64): the weights' own compression
  const per = layerCounts(c10(128), 'sttp', 64, 'learned');
  assert.deepEqual(per.map((l) => l.dof), [3456, 25088, 384, 25088, 25088, 12288, 25088, 25088, 25088, 25088, 128]);
});

test('gradients against central finite differences in f64: frames, cores, spectrum and X of every layer', async () => {
  const rng = new Rng(1414);
  for (const [o, i, r] of [[8, 12, 4], [6, 4, 3]] as const) {
    const s = sttpShape(o, i, r);
    for (const spectrum of ['learned', 'identity'] as const) {
      const p = randomParams(rng, s, spectrum, 0.7);
      const X = new Tensor([s.dIn, 2], rng.normals(s.dIn * 2));
      const g = await gradCheck(mod.fn(spectrum === 'learned' ? 'sttp_apply' : 'sttp_apply_c'), { ...flatParams(p), X }, { dims: s.dims, directions: 4 });
      assert.ok(g.ok && g.maxRelErr < 1e-7, `STTP-${spectrum} ${o}×${i}: ${g.maxRelErr}`);
    }
  }
  const PU = new Tensor([7, 3], rng.normals(21));
  const PV = new Tensor([5, 3], rng.normals(15));
  const X = new Tensor([5, 2], rng.normals(10));
  const g1 = await gradCheck(mod.fn('svdp_apply'), { PU, PV, S: new Tensor([3], [0.4, -1.3, 0.8]), X }, { directions: 4 });
  assert.ok(g1.ok, `svdp_apply: ${g1.maxRelErr}`);
  const g2 = await gradCheck(mod.fn('svdp_apply_c'), { PU: new Tensor([4, 3], rng.normals(12)), PV, X }, { directions: 4 });
  assert.ok(g2.ok, `svdp_apply_c: ${g2.maxRelErr}`);
  // raw cores (the operator alone), Kout = 0 … K
  const n = [2, 3, 2], R = [1, 2, 2, 1];
  const cores = n.map((m, k) => new Tensor([R[k]!, m, R[k + 1]!], rng.normals(R[k]! * m * R[k + 1]!)));
  for (const Kout of [0, 1, 2, 3]) {
    const dIn = n.slice(Kout).reduce((a, b) => a * b, 1);
    const inputs: Record<string, Tensor> = { X: new Tensor([dIn, 2], rng.normals(dIn * 2)) };
    cores.forEach((c, k) => (inputs[`cores[${k}]`] = c));
    const g = await gradCheck(mod.fn('tt_apply'), inputs, { dims: { K: 3, Kout }, directions: 3 });
    assert.ok(g.ok, `tt_apply Kout=${Kout}: ${g.maxRelErr}`);
  }
});

test('W·X without W: no value of the layer\'s forward or VJP is as large as the materialised weight (512 × 2304, r = 32)', () => {
  const s = sttpShape(512, 256, 32, { kernel: 3 });
  const c = 64;
  const fn = mod.fn('sttp_apply').specialize(s.dims);
  const dims = new Map<string, number>(Object.entries(s.dims).filter(([k]) => k !== 'K' && k !== 'Kout'));
  dims.set('c', c);
  const weight = s.dOut * s.dIn;
  for (const form of [mod.program.forward(fn.name), mod.program.vjp(fn.name)]) {
    let largest = 0;
    for (const node of reachable(form.results.map((r) => r.node))) {
      if (node.type.kind !== 'tensor') continue;
      const t = node.type as TensorType;
      const numel = t.shape.reduce((a, d) => a * d.eval(dims), 1);
      largest = Math.max(largest, numel);
    }
    assert.ok(largest < weight, `${form.kind}: the largest value has ${largest} entries, W has ${weight}`);
    assert.ok(largest <= Math.max(s.dIn, s.dOut) * c, `${form.kind}: ${largest} > max(d_in, d_out)·c`);
  }
  // while the materialising function does form it
  const wfn = mod.fn('sttp_weight').specialize(s.dims);
  const sizes = reachable(mod.program.forward(wfn.name).results.map((r) => r.node))
    .filter((n) => n.type.kind === 'tensor')
    .map((n) => (n.type as TensorType).shape.reduce((a, d) => a * d.eval(dims), 1));
  assert.ok(Math.max(...sizes) >= weight);
});

test('int families: dimensions given by the caller, passed on to other functions, checked at the call', async () => {
  const m = compile(`
fn f(P: [mat[R[i] * n[i] - R[i + 1], R[i + 1]] for i in 0..K], n: [int for i in 0..K], R: [int for i in 0..K + 1], K: static int) -> real =
  sum(P[0]) + float(n[1]) + float(prod(n))
fn g(P: [mat[R[i] * n[i] - R[i + 1], R[i + 1]] for i in 0..K], n: [int for i in 0..K], R: [int for i in 0..K + 1], K: static int) -> real =
  2 * f(P, n, R) + f(P, [n[i] for i in 0..K], R)
`, { path: 'families.mat' });
  const P = [new Tensor([1, 2], [1, 2]), new Tensor([3, 1], [1, 1, 1])];
  const dims = { K: 2, 'n[0]': 3, 'n[1]': 2, 'R[0]': 1, 'R[1]': 2, 'R[2]': 1 };
  const f = (await m.fn('f').forward({ P }, { dims })).outputs.out!.data[0];
  assert.equal(f, 3 + 2 + 6);
  assert.equal((await m.fn('g').forward({ P }, { dims })).outputs.out!.data[0], 3 * 11);
  await assert.rejects(m.fn('f').forward({ P }, { dims: { ...dims, 'n[1]': 3 } }), (e: Error & { code?: string }) => e.code === 'MATR102', 'a shape that does not fit the family');
  await assert.rejects(m.fn('f').forward({ P }, { dims: { K: 2, 'n[0]': 3, 'R[0]': 1, 'R[1]': 2, 'R[2]': 1 } }), (e: Error & { code?: string }) => e.code === 'MATR103' && /n\[1\]/.test(e.message), 'a missing member');
  // an empty collection may be passed as [] (here PL of sttp_weight at Kout = 1)
  const s = sttpShape(3, 8, 4);
  assert.equal(s.Kout, 1);
  const p = randomParams(new Rng(1415), s, 'learned');
  assert.equal(p.PL.length, 0);
  const w = await mod.fn('sttp_weight').forward({ ...p }, { dims: s.dims });
  assert.deepEqual(w.outputs.W!.shape, [3, 8]);
  await assert.rejects(mod.fn('sttp_weight').forward({ ...p, PL: [p.Pm] }, { dims: s.dims }), (e: Error & { code?: string }) => e.code === 'MATR161');
});

// On lavapipe the VJP kernel of a whole STTP layer (every frame's loop and its backward rule in
// one instance kernel) took about 3 minutes to compile cold, so it is gated like the other layers
// (test/util/gpu-layers.ts); CI keeps the cheaper checks: the layer's forward and one frame's VJP.
test('WebGPU (f32): an STTP layer\'s forward and a frame\'s VJP (the torch-householder rule) agree with the CPU f64', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const rng = new Rng(1417);
  const s = sttpShape(4, 6, 3);
  const p = randomParams(rng, s, 'learned', 0.7);
  const X = new Tensor([s.dIn, 2], rng.normals(s.dIn * 2));
  const c = await mod.fn('sttp_apply').forward({ ...p, X }, { dims: s.dims });
  const g = await mod.fn('sttp_apply').forward({ ...p, X }, { dims: s.dims, backend });
  assert.ok(relErr(g.outputs.Y!.data, c.outputs.Y!.data) < 1e-4, `Y: ${relErr(g.outputs.Y!.data, c.outputs.Y!.data)}`);
  const P = new Tensor([6, 3], rng.normals(18));
  const dQ = { Q: new Tensor([6, 3], rng.normals(18)) };
  const fc = await mod.fn('stiefel_full').vjp({ P }, dQ);
  const fg = await mod.fn('stiefel_full').vjp({ P }, dQ, { backend });
  assert.ok(relErr(fg.outputs.Q!.data, fc.outputs.Q!.data) < 1e-5, 'Q');
  assert.ok(relErr(fg.gradients.P!.data, fc.gradients.P!.data) < 1e-4, `∂P: ${relErr(fg.gradients.P!.data, fc.gradients.P!.data)}`);
});

test('WebGPU (f32, MATC_GPU_LAYERS=1 on a software adapter): an STTP layer\'s forward and VJP agree with the CPU f64', async (t) => {
  const ctx = await layerGpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const rng = new Rng(1416);
  const s = sttpShape(4, 6, 3);
  const p = randomParams(rng, s, 'learned', 0.7);
  const X = new Tensor([s.dIn, 2], rng.normals(s.dIn * 2));
  const cot = { Y: new Tensor([s.dOut, 2], rng.normals(s.dOut * 2)) };
  const c = await mod.fn('sttp_apply').vjp({ ...p, X }, cot, { dims: s.dims });
  const g = await mod.fn('sttp_apply').vjp({ ...p, X }, cot, { dims: s.dims, backend });
  assert.ok(relErr(g.outputs.Y!.data, c.outputs.Y!.data) < 1e-4, 'Y');
  for (const k of Object.keys(c.gradients)) assert.ok(relErr(g.gradients[k]!.data, c.gradients[k]!.data) < 2e-3, `∂${k}: ${relErr(g.gradients[k]!.data, c.gradients[k]!.data)}`);
});
