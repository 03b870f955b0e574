// The spectral builtins (eigh, svd, expm, sqrtm, invsqrtm, polar) on the CPU: forward values against
// NumPy/SciPy (test/fixtures/spectral.json, written by test/oracles/gen_spectral_fixtures.py);
// VJPs against the fixtures' independent gradients (scipy expm_frechet, Sylvester equations,
// perturbation formulas) and against central finite differences of matc's own forward in f64;
// JVPs against finite differences; JVP–VJP consistency; repeated eigenvalues (finite, correct
// derivatives of expm, sqrtm, invsqrtm and polar; flagged eigenvector derivatives); statuses
// (Jacobi sweeps, domains, degenerate spectra, a sweep limit reached); the compiled CPU program
// against the reference interpreter; bad input as diagnostics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compile, type CompiledFn } from '../api/module.js';
import { compileProgram, CompileError } from '../compiler/compile.js';
import { bindInputs } from '../runtime/bind.js';
import { runExecutableCpu } from '../runtime/cpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { fixturePath, type FixtureTensor } from './oracles/fixtures.js';
import { relErr } from './util/approx.js';
import { derivativeChecks } from './util/derivative-checks.js';

interface SpectralCase {
  name: string;
  op: 'eigh' | 'svd' | 'expm' | 'sqrtm' | 'invsqrtm' | 'polar';
  degenerate: boolean;
  inputs: { A: FixtureTensor };
  outputs: Record<string, FixtureTensor>;
  cotangents: Record<string, FixtureTensor>;
  gradients: Record<string, FixtureTensor>;
  checks: Record<string, number>;
}

const fixture = JSON.parse(readFileSync(fixturePath('spectral.json'), 'utf8')) as { cases: SpectralCase[] };

const SRC = `
fn eigh_(A: mat[n, n]) -> (values: vec[n], vectors: mat[n, n]) = eigh(A)
fn svd_(A: mat[m, n]) -> (U: mat[m, k], s: vec[k], V: mat[n, k]) where k = min(m, n) = svd(A)
fn expm_(A: mat[n, n]) -> out: mat[n, n] = expm(A)
fn sqrtm_(A: mat[n, n]) -> out: mat[n, n] = sqrtm(A)
fn invsqrtm_(A: mat[n, n]) -> out: mat[n, n] = invsqrtm(A)
fn polar_(A: mat[m, n]) -> out: mat[m, n] = polar(A)
`;
const mod = compile(SRC, { path: 'spectral.mat', verify: true });
const fnOf = (op: string): CompiledFn => mod.fn(`${op}_`);

const tensor = (t: FixtureTensor): Tensor => new Tensor(t.shape, Float64Array.from(t.data));

function get(data: ArrayLike<number>, cols: number, i: number, j: number): number {
  return data[i * cols + j]!;
}

/** M = X diag(w) Yᵀ (X: r×k, Y: c×k). */
function xdy(X: ArrayLike<number>, w: ArrayLike<number>, Y: ArrayLike<number>, r: number, c: number, k: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) for (let l = 0; l < k; l++) out[i * c + j] += get(X, k, i, l) * w[l]! * get(Y, k, j, l);
  return out;
}

/** The projector onto the columns of X (r×k) whose index is in `cols`. */
function projector(X: ArrayLike<number>, r: number, k: number, cols: number[]): Float64Array {
  const w = new Float64Array(k);
  for (const c of cols) w[c] = 1;
  return xdy(X, w, X, r, r, k);
}

/** Groups of (nearly) equal values, as index lists. */
function clusters(v: ArrayLike<number>, tol: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < v.length; i++) {
    const last = out[out.length - 1];
    if (last && Math.abs(v[i]! - v[last[last.length - 1]!]!) <= tol) last.push(i);
    else out.push([i]);
  }
  return out;
}

test('forward values against NumPy/SciPy (compiled CPU and reference interpreter): eigh, svd, expm, sqrtm, invsqrtm, polar', async () => {
  for (const c of fixture.cases) {
    const fn = fnOf(c.op);
    const inputs = { A: tensor(c.inputs.A) };
    for (const reference of [false, true]) {
      const exe = fn.module.executable(fn.name, 'forward');
      const r = runExecutableCpu(exe, bindInputs(exe.signature, inputs, {}), reference ? { reference: true } : {});
      const what = `${c.name} (${reference ? 'interpreter' : 'compiled'})`;
      assert.ok(r.nodes.every((s) => s.converged.every(Boolean)), `${what}: status ${JSON.stringify(r.nodes)}`);
      const out = (k: string) => r.outputs[k]!.data;
      if (!c.degenerate || (c.op !== 'eigh' && c.op !== 'svd')) {
        for (const [k, want] of Object.entries(c.outputs)) {
          const e = relErr(out(k), want.data, 1);
          assert.ok(e <= 1e-12, `${what}: ${k} differs from NumPy/SciPy by ${e.toExponential(2)}`);
        }
        continue;
      }
      // repeated eigenvalues / singular values: the vectors of a repeated one are any basis of its
      // space, so compare the values, the reconstruction and the projector of each space
      const [rows, cols] = c.inputs.A.shape as [number, number];
      if (c.op === 'eigh') {
        const w = out('values');
        const V = out('vectors');
        assert.ok(relErr(w, c.outputs.values!.data, 1) <= 1e-12, `${what}: values`);
        const n = rows;
        const S = new Float64Array(n * n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) S[i * n + j] = 0.5 * (c.inputs.A.data[i * n + j]! + c.inputs.A.data[j * n + i]!);
        assert.ok(relErr(xdy(V, w, V, n, n, n), S, 1) <= 1e-12, `${what}: V diag(w) V' = sym(A)`);
        for (const g of clusters(c.outputs.values!.data, 1e-9)) {
          assert.ok(relErr(projector(V, n, n, g), projector(c.outputs.vectors!.data, n, n, g), 1) <= 1e-10, `${what}: eigenspace ${g}`);
        }
      } else {
        const k = Math.min(rows, cols);
        const s = out('s');
        assert.ok(relErr(s, c.outputs.s!.data, 1) <= 1e-12, `${what}: singular values`);
        assert.ok(relErr(xdy(out('U'), s, out('V'), rows, cols, k), c.inputs.A.data, 1) <= 1e-12, `${what}: U diag(s) V' = A`);
        for (const g of clusters(c.outputs.s!.data, 1e-9)) {
          assert.ok(relErr(projector(out('U'), rows, k, g), projector(c.outputs.U!.data, rows, k, g), 1) <= 1e-10, `${what}: left singular space ${g}`);
          assert.ok(relErr(projector(out('V'), cols, k, g), projector(c.outputs.V!.data, cols, k, g), 1) <= 1e-10, `${what}: right singular space ${g}`);
        }
      }
    }
  }
});

test('VJPs against the fixtures\' independent gradients (expm_frechet, Sylvester, perturbation theory), repeated eigenvalues included', async () => {
  let n = 0;
  for (const c of fixture.cases) {
    if (!c.gradients.A) continue;
    const fn = fnOf(c.op);
    const cot: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(c.cotangents)) cot[k] = tensor(v);
    const r = await fn.vjp({ A: tensor(c.inputs.A) }, cot);
    const e = relErr(r.gradients.A!.data, c.gradients.A.data, 1);
    assert.ok(e <= 1e-9, `${c.name}: gradient differs from the oracle by ${e.toExponential(2)}`);
    assert.ok(r.status.ok, `${c.name}: ${r.status.warnings.join('; ')}`);
    n++;
  }
  assert.ok(n >= 18, `only ${n} gradient cases`);
});

function rand(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 16807) % 2147483647;
    return x / 2147483647 - 0.5;
  };
}

test('VJP and JVP against central finite differences in f64, and JVP–VJP consistency, for every op and case', async () => {
  for (const c of fixture.cases) {
    // eigenvectors and singular vectors of a repeated value have no derivative (flagged: below)
    if (c.degenerate && (c.op === 'eigh' || c.op === 'svd')) continue;
    const fn = fnOf(c.op);
    const r = await derivativeChecks(fn, tensor(c.inputs.A), rand(7 + c.name.length));
    // the FD step error of h = 1e-6 on these O(1)..O(100) maps is ~1e-9 relative
    assert.ok(r.vjp <= 1e-6, `${c.name}: VJP vs finite differences ${r.vjp.toExponential(2)}`);
    assert.ok(r.jvp <= 1e-6, `${c.name}: JVP vs finite differences ${r.jvp.toExponential(2)}`);
    assert.ok(r.dual <= 1e-11, `${c.name}: ⟨ct, J v⟩ vs ⟨Jᵀct, v⟩ ${r.dual.toExponential(2)}`);
  }
});

test('repeated eigenvalues: polar of an orthogonal matrix, expm, sqrtm and invsqrtm stay finite and match finite differences (not flagged)', async () => {
  const c = Math.cos(0.7);
  const s = Math.sin(0.7);
  const cases: [string, number[], number[]][] = [
    // a rotation: every singular value is 1
    ['polar_', [3, 3], [c, -s, 0, s, c, 0, 0, 0, 1]],
    // the identity: every eigenvalue is 1
    ['sqrtm_', [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]],
    ['invsqrtm_', [3, 3], [4, 0, 0, 0, 4, 0, 0, 0, 9]],
    // a multiple of the identity and a defective (Jordan) matrix
    ['expm_', [3, 3], [2, 0, 0, 0, 2, 0, 0, 0, 2]],
    ['expm_', [3, 3], [1, 1, 0, 0, 1, 1, 0, 0, 1]],
    // a tall matrix with orthonormal columns (σ = 1, 1)
    ['polar_', [3, 2], [1, 0, 0, 1, 0, 0]],
  ];
  for (const [name, shape, data] of cases) {
    const fn = mod.fn(name);
    const r = await derivativeChecks(fn, new Tensor(shape, data), rand(11));
    assert.ok(r.vjp <= 1e-6 && r.jvp <= 1e-6 && r.dual <= 1e-11, `${name} ${JSON.stringify(data)}: ${JSON.stringify(r)}`);
  }
});

test('the eigenvector derivative at a (nearly) repeated eigenvalue is flagged in the status (VJP and JVP), eigenvalues alone are not', async () => {
  const fn = fnOf('eigh');
  // eigenvalues 1, 1 + 1e-12, 3
  const A = new Tensor([3, 3], [1, 0, 0, 0, 1 + 1e-12, 0, 0, 0, 3]);
  const fwd = await fn.forward({ A });
  assert.ok(fwd.status.ok, 'the forward itself is fine');
  const entry = fwd.status.nodes.find((s) => s.name.startsWith('eigh_/eigh@'));
  assert.ok(entry && entry.kind === 'solver' && entry.converged[0] === true && entry.iterations[0]! >= 1, JSON.stringify(fwd.status.nodes));
  const ones = (t: Tensor) => new Tensor(t.shape, Array.from({ length: t.size }, () => 1));
  const wavy = (t: Tensor) => new Tensor(t.shape, Array.from({ length: t.size }, (_, i) => Math.cos(1.7 * i)));
  const g = await fn.vjp({ A }, { values: ones(fwd.outputs.values!), vectors: wavy(fwd.outputs.vectors!) });
  assert.equal(g.status.ok, false);
  const back = g.status.nodes.find((s) => s.name.endsWith('/backward'))!;
  assert.equal(back.kind, 'degenerate');
  assert.equal(back.converged[0], false);
  assert.ok(back.residual![0]! < 1e-10, `least relative gap ${back.residual![0]}`);
  assert.match(g.status.warnings.join('\n'), /degenerate/);
  for (const x of g.gradients.A!.data) assert.ok(Number.isFinite(x), 'the flagged gradient is still finite (the unresolved pair is left out)');
  const t = await fn.jvp({ A }, { A: ones(A) });
  assert.equal(t.status.ok, false);
  assert.ok(t.status.nodes.some((s) => s.name.endsWith('/tangent') && s.kind === 'degenerate' && !s.converged[0]));
  // a cotangent that does not couple the two eigenvectors of the pair (Vᵀ V̄ symmetric on it) is
  // resolved: the left-out term is zero
  const sym = await fn.vjp({ A }, { values: ones(fwd.outputs.values!), vectors: ones(fwd.outputs.vectors!) });
  assert.ok(sym.status.ok, sym.status.warnings.join('; '));
  // eigenvalue cotangents only: well defined, nothing flagged
  const gv = await fn.vjp({ A }, { values: ones(fwd.outputs.values!), vectors: new Tensor(fwd.outputs.vectors!.shape, new Float64Array(9)) });
  assert.ok(gv.status.ok, gv.status.warnings.join('; '));
  // a well separated spectrum: the backward entry is there and ok
  const B = new Tensor([3, 3], [2, 1, 0, 1, 3, 1, 0, 1, 4]);
  const gb = await fn.vjp({ A: B }, { values: ones(fwd.outputs.values!), vectors: wavy(fwd.outputs.vectors!) });
  const okEntry = gb.status.nodes.find((s) => s.name.endsWith('/backward'))!;
  assert.ok(gb.status.ok && okEntry.converged[0] === true && okEntry.residual![0]! > 0.1, JSON.stringify(okEntry));
});

test('svd: repeated singular values flag the singular-vector derivative; the singular-value derivative alone is not flagged', async () => {
  const fn = fnOf('svd');
  const c = fixture.cases.find((x) => x.name === 'svd_5x3_repeated')!;
  const A = tensor(c.inputs.A);
  const fwd = await fn.forward({ A });
  const cot: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(fwd.outputs)) cot[k] = new Tensor(v.shape, Array.from({ length: v.size }, (_, i) => Math.cos(i)));
  const g = await fn.vjp({ A }, cot);
  assert.equal(g.status.ok, false);
  assert.ok(g.status.nodes.some((s) => s.kind === 'degenerate' && !s.converged[0]));
  const gs = await fn.vjp({ A }, { U: new Tensor([5, 3], new Float64Array(15)), s: cot.s!, V: new Tensor([3, 3], new Float64Array(9)) });
  assert.ok(gs.status.ok);
  // ∂(Σ c_j s_j)/∂A = U diag(c) Vᵀ
  const want = xdy(fwd.outputs.U!.data, cot.s!.data, fwd.outputs.V!.data, 5, 3, 3);
  assert.ok(relErr(gs.gradients.A!.data, want, 1) <= 1e-12);
});

test('domains: sqrtm of an indefinite matrix, invsqrtm of a singular one and polar of a rank-deficient one are flagged', async () => {
  const sq = await fnOf('sqrtm').forward({ A: new Tensor([2, 2], [1, 2, 2, 1]) }); // eigenvalues −1, 3
  assert.equal(sq.status.ok, false);
  const d = sq.status.nodes.find((s) => s.name.endsWith('/domain'))!;
  assert.ok(d.kind === 'domain' && !d.converged[0] && Math.abs(d.residual![0]! + 1) < 1e-12, JSON.stringify(d));
  assert.match(sq.status.warnings.join('\n'), /domain/);
  const inv = await fnOf('invsqrtm').forward({ A: new Tensor([2, 2], [1, 1, 1, 1]) }); // eigenvalues 0, 2
  assert.equal(inv.status.ok, false);
  const pol = await fnOf('polar').forward({ A: new Tensor([3, 2], [1, 2, 2, 4, 3, 6]) }); // rank 1
  assert.equal(pol.status.ok, false);
  assert.ok(pol.status.nodes.some((s) => s.kind === 'domain' && !s.converged[0]));
  // in the domain: ok, and sqrtm of a positive semidefinite matrix (an eigenvalue 0) is allowed
  const psd = await fnOf('sqrtm').forward({ A: new Tensor([2, 2], [1, 1, 1, 1]) });
  assert.ok(psd.status.ok, psd.status.warnings.join('; '));
  assert.ok(relErr(psd.outputs.out!.data, [Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2], 1) <= 1e-12);
});

test('a Jacobi sweep limit that is reached is reported as not converged (max_sweeps), never a silent result', async () => {
  const src = `fn f(A: mat[n, n]) -> (d: vec[n], V: mat[n, n]) = eigh(A, max_sweeps: 1)
fn g(A: mat[m, n]) -> (U: mat[m, k], s: vec[k], V: mat[n, k]) where k = min(m, n) = svd(A, max_sweeps: 1)
fn h(A: mat[n, n]) -> mat[n, n] = sqrtm(A' * A, max_sweeps: 1)`;
  const m = compile(src, { path: 'sweeps.mat', verify: true });
  const rnd = rand(5);
  const A = new Tensor([8, 8], Array.from({ length: 64 }, rnd));
  for (const name of ['f', 'g', 'h']) {
    const r = await m.fn(name).forward({ A });
    assert.equal(r.status.ok, false, name);
    const s = r.status.nodes.find((x) => x.kind === 'solver')!;
    assert.equal(s.iterations[0], 1);
    assert.equal(s.converged[0], false);
    assert.match(r.status.warnings.join('\n'), /did not converge/);
  }
  // the default limit converges on the same matrix
  const ok = await fnOf('eigh').forward({ A });
  assert.ok(ok.status.ok && ok.status.nodes[0]!.iterations[0]! < 30);
});

test('batched instances and the f32 interpreter: each instance equals its own call; f32 within f32 rounding', async () => {
  const rnd = rand(17);
  const B = 4;
  const n = 5;
  const A = new Tensor([B, n, n], Array.from({ length: B * n * n }, rnd));
  for (const op of ['eigh', 'svd', 'expm', 'polar']) {
    const fn = fnOf(op);
    const all = await fn.forward({ A });
    const f32 = await fn.forward({ A }, { f32: true });
    for (let b = 0; b < B; b++) {
      const one = await fn.forward({ A: new Tensor([n, n], A.data.slice(b * n * n, (b + 1) * n * n)) });
      for (const [k, v] of Object.entries(one.outputs)) {
        const size = v.size;
        const slice = all.outputs[k]!.data.slice(b * size, (b + 1) * size);
        assert.ok(relErr(slice, v.data, 1) <= 1e-14, `${op} instance ${b} ${k}`);
        assert.ok(relErr(f32.outputs[k]!.data.slice(b * size, (b + 1) * size), v.data, 1) <= 2e-5, `${op} f32 instance ${b} ${k}`);
      }
    }
  }
});

test('compiled CPU program (WebAssembly and JS) = reference interpreter: forward, VJP and JVP of every op', () => {
  const rnd = rand(23);
  const shapes: Record<string, number[]> = { eigh: [6, 6], svd: [7, 4], expm: [5, 5], sqrtm: [5, 5], invsqrtm: [5, 5], polar: [4, 6] };
  for (const [op, sh] of Object.entries(shapes)) {
    const fn = fnOf(op);
    for (const mode of ['forward', 'vjp', 'jvp'] as const) {
      const exe = fn.module.executable(fn.name, mode);
      assert.ok(exe.cpu(), `${op} ${mode}: a CPU program (${exe.cpuError()})`);
      const inputs: Record<string, Tensor> = {};
      for (const p of exe.signature.params) {
        const dims = new Map([['m', sh[0]!], ['n', sh[1]!], ['k', Math.min(sh[0]!, sh[1]!)]]);
        const shape = p.shape.map((d) => d.eval(dims));
        const size = shape.reduce((a, b) => a * b, 1);
        // spd inputs for the symmetric functions: A = B Bᵀ + I
        let data = Array.from({ length: 2 * size }, rnd).slice(0, size);
        if ((op === 'sqrtm' || op === 'invsqrtm') && p.name === 'A') {
          const k = shape[0]!;
          const S = new Array<number>(k * k).fill(0);
          for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let l = 0; l < k; l++) S[i * k + j]! += data[i * k + l]! * data[j * k + l]!;
          for (let i = 0; i < k; i++) S[i * k + i]! += 1;
          data = S;
        }
        inputs[p.name] = new Tensor([2, ...shape], [...data, ...data.map((x) => 0.5 * x + 0.1)]);
      }
      const bind = bindInputs(exe.signature, inputs, {});
      const ref = runExecutableCpu(exe, bind, { reference: true });
      for (const engine of ['wasm', 'js'] as const) {
        const prev = process.env.MATC_CPU;
        if (engine === 'js') process.env.MATC_CPU = 'js';
        try {
          const got = runExecutableCpu(exe, bind);
          for (const [k, a] of Object.entries(ref.outputs)) {
            const e = relErr(got.outputs[k]!.data, a.data, 1);
            assert.ok(e <= 1e-10, `${op} ${mode} ${engine}: ${k} compiled vs interpreted ${e.toExponential(2)}`);
          }
          assert.deepEqual(
            got.nodes.map((s) => [s.name, s.iterations, s.converged]),
            ref.nodes.map((s) => [s.name, s.iterations, s.converged]),
            `${op} ${mode} ${engine}: statuses`,
          );
        } finally {
          if (engine === 'js') {
            if (prev === undefined) delete process.env.MATC_CPU;
            else process.env.MATC_CPU = prev;
          }
        }
      }
    }
  }
});

test('forward mode over reverse: the Hessian–vector product of a loss through eigh values and polar matches finite differences of the VJP', async () => {
  // The VJP of a spectral op is ordinary IR with spectral ops in it; its JVP differentiates those
  // again (a second-order derivative of sqrtm/expm/polar through their own rules).
  const src = `fn f(A: mat[n, n]) -> real = sum(expm(0.3 * A) .* sqrtm(A' * A + eye(n))) + sum(polar(A) .* A)`;
  const m = compile(src, { path: 'hvp.mat', verify: true });
  const fn = m.fn('f');
  const rnd = rand(29);
  const A = new Tensor([4, 4], Array.from({ length: 16 }, rnd));
  const dir = new Tensor([4, 4], Array.from({ length: 16 }, rnd));
  const one = { out: new Tensor([], [1]) };
  const h = 1e-5;
  const gp = await fn.vjp({ A: new Tensor([4, 4], A.data.map((x, i) => x + h * dir.data[i]!)) }, one);
  const gm = await fn.vjp({ A: new Tensor([4, 4], A.data.map((x, i) => x - h * dir.data[i]!)) }, one);
  const fdHv = gp.gradients.A!.data.map((x, i) => (x - gm.gradients.A!.data[i]!) / (2 * h));
  // the JVP of the gradient: differentiate the VJP function in forward mode
  const p = compileProgram(src, { path: 'hvp.mat', verify: true });
  const { jvpFunc } = await import('../compiler/diff/jvp.js');
  const { implicitHooks } = await import('../compiler/diff/implicit.js');
  const { expandFunc } = await import('../compiler/solvers/expand.js');
  const { simplifyFunc } = await import('../compiler/opt/simplify.js');
  const { runCpu } = await import('../runtime/cpu/backend.js');
  const { signatureOf } = await import('../runtime/signature.js');
  const vjp = p.vjpRaw('f');
  const hv = simplifyFunc(p.b, expandFunc(p.b, jvpFunc(p.b, { ...vjp, params: vjp.params.map((q) => ({ ...q, differentiable: q.name === 'A' })) }, { implicit: implicitHooks.jvp, notes: [] }), { overrides: {} }));
  const out = runCpu(hv, bindInputs(signatureOf(hv), { A, 'ct.out': new Tensor([], [1]), 'tg.A': dir }, {}));
  const got = out.outputs['tg.grad.A']!;
  const e = relErr(got.data, fdHv, 1);
  assert.ok(e <= 1e-6, `Hessian–vector product vs finite differences of the gradient: ${e.toExponential(2)}`);
});

test('bad input is a diagnostic: non-square eigh/expm/sqrtm, wrong arity, a vector, an unknown option, a bad max_sweeps', () => {
  const cases: [string, string, RegExp][] = [
    ['fn f(A: mat[m, n]) -> vec[n] = let (d, V) = eigh(A) in d', 'MAT0208', /must be a square matrix/],
    ['fn f(A: mat[m, n]) -> mat[m, n] = expm(A)', 'MAT0208', /square/],
    ['fn f(A: mat[m, n]) -> mat[m, n] = sqrtm(A)', 'MAT0208', /square/],
    ['fn f(A: mat[n, n], B: mat[n, n]) -> mat[n, n] = expm(A, B)', 'MAT0303', /takes 1 argument/],
    ['fn f(A: mat[n, n]) -> mat[n, n] = polar()', 'MAT0303', /takes 1 argument/],
    ['fn f(x: vec[n]) -> vec[n] = let (U, s, V) = svd(x) in s', 'MAT0208', /must be a matrix/],
    ['fn f(A: mat[n, n]) -> mat[n, n] = expm(A, max_sweeps: 3)', 'MAT0220', /takes no options/],
    ['fn f(A: mat[n, n]) -> vec[n] = let (d, V) = eigh(A, sweeps: 3) in d', 'MAT0220', /max_sweeps/],
    ['fn f(A: mat[n, n]) -> vec[n] = let (d, V) = eigh(A, max_sweeps: 0) in d', 'MAT0220', /integer literal/],
    ['fn f(A: mat[n, n]) -> mat[n, n] = eigh(A)', 'MAT0208', /found \(vec\[n\], mat\[n, n\]\)/],
  ];
  for (const [src, code, msg] of cases) {
    assert.throws(
      () => compile(src, { path: 'bad.mat' }),
      (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === code && msg.test(d.message)),
      `${src}: expected ${code}`,
    );
  }
});
