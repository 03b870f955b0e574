// The expand stage's lowering of the spectral ops (eigh, svd, expm, symfun, polar, householder) into ordinary
// IR loops, run after differentiation (their derivatives are matrix-level rules:
// compiler/diff/spectral-rules.ts), so that every backend — the reference interpreter, the CPU
// program and the WebGPU instance kernel — runs them with no routine of its own.
//
//  eigh   cyclic Jacobi (Golub & Van Loan, Matrix Computations, 4th ed., §8.5.2–8.5.3) on the
//         symmetric part S = (A + Aᵀ)/2: sweeps over the pairs p < q (row order); each rotation
//         J(p, q, θ) zeroes S_pq with the smaller angle, t = sign(τ)/(|τ| + √(1 + τ²)),
//         τ = (S_qq − S_pp)/(2 S_pq), c = 1/√(1 + t²), s = t c, and updates two columns and two
//         rows of S (O(n): the new rows are the new columns, S stays exactly symmetric, and the
//         new diagonal entries are S_pp − t S_pq and S_qq + t S_pq, the pair's entry exactly 0)
//         and two columns of V. Sweeps stop when ‖off(S)‖_F ≤ n·eps·‖S‖_F (at most MAX_SWEEPS;
//         Jacobi converges quadratically, 5–8 sweeps in practice); the status reports the sweeps,
//         converged and the relative off-diagonal norm. Then the eigenvalues are sorted ascending
//         (selection by minloc; ties keep Jacobi's order) and each eigenvector is oriented so that
//         its entry of largest magnitude is positive (the first such entry on ties).
//  svd    one-sided Jacobi (Hestenes 1958; Demmel & Veselić 1992) on the columns of A: a rotation
//         of columns p, q of W (and of V, from I) makes them orthogonal; a pair is rotated when
//         |w_pᵀw_q| > m·eps·‖w_p‖‖w_q‖ and ‖w_p‖‖w_q‖ > (n·eps)²‖A‖²_F (pairs of numerically zero
//         columns are left alone); sweeps stop after one without a rotation. σ_j = ‖w_j‖, sorted
//         descending, the first k = min(m, n) kept, u_j = w_j/σ_j; columns with
//         σ_j ≤ max(m, n)·eps·σ_max (rank deficiency, and the n − m spare columns of a wide A) are
//         completed to an orthonormal U by Gram–Schmidt (twice) of the unit vector e_i least
//         represented in the other columns (the row of least norm). Each pair (u_j, v_j) is
//         oriented so that the entry of largest magnitude of v_j is positive. When A is known
//         to be wide (n − m a positive constant) the columns of Aᵀ are rotated instead and the
//         factors swapped (n² fewer pairs); for shapes known only at run time the column form
//         serves both (O(m n²) per sweep for a wide A).
//  expm   scaling and squaring with the [13/13] Padé approximant (Higham 2005, "The scaling and
//         squaring method for the matrix exponential revisited", Alg. 2.3 with the degree fixed at
//         13): s = max(0, ⌈log₂(‖A‖₁/θ₁₃)⌉), θ₁₃ = 5.371920351148152, r₁₃(2⁻ˢA) by one LU
//         solve (V − U) R = V + U, then s squarings in a loop whose trip count is the data's. The
//         backward error is below the unit roundoff of f64 for every A (Higham's bound; the
//         lower degrees 3–9 that Higham uses for small norms only save products). In f32
//         2⁻ˢ underflows past s = 149 (‖A‖₁ > 4e45, beyond f32 anyway).
//  heigh  complex Hermitian Jacobi on S = (A + Aᴴ)/2 held as (Re S, Im S): for the pair (p, q) with
//         s_pq = r e^{iφ}, the unitary G = D R, D = diag(1, e^{−iφ}) on (p, q), makes the pair's entry
//         real (Dᴴ S D has r there) and R is eigh's real rotation of (s_pp, s_qq, r); so column p
//         of SG is c s_p − s e^{−iφ} s_q, column q is s s_p + c e^{−iφ} s_q, the new rows are the
//         conjugates of the new columns, the new diagonal entries s_pp − t r, s_qq + t r and the
//         pair's entry exactly 0; V ← V G. Stopping, sorting and the status as for eigh; each
//         eigenvector is then multiplied by the phase that makes its entry of largest magnitude
//         (the first on ties) real and positive — that entry's row is an output of the op, for
//         the derivative's gauge term (compiler/diff/spectral-rules.ts).
//  symfun V f(Λ) Vᵀ from eigh (the same eigh node the derivative uses), symmetrized.
//  polar  U Vᵀ from svd (the same svd node the derivative uses).

import { Dim } from '../../core/dims.js';
import { type Builder, shapeOf } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import { type Func, type Node, mapFuncRoots, reachable, substitute } from '../ir/node.js';
import { eighOf, svdOf } from '../diff/spectral-rules.js';
import { inputScale } from './scale.js';

/** The sweep limit of the Jacobi iterations (eigh, svd): reaching it is reported as not converged. */
export const MAX_SWEEPS = 30;

/** Padé [13/13] numerator coefficients b₀…b₁₃ (Higham 2005, Table 2.3). */
const PADE13 = [
  64764752532480000, 32382376266240000, 7771770303897600, 1187353796428800, 129060195264000, 10559470521600, 670442572800, 33522128640,
  1323241920, 40840800, 960960, 16380, 182, 1,
];
const THETA13 = 5.371920351148152;

const one = (b: Builder): Node => b.const(1);

/** sign(x) with sign(0) = 1, as a real. */
const signPos = (b: Builder, x: Node): Node => b.select(b.binary('ge', x, b.const(0)), b.const(1), b.const(-1));

/** The rotation of a symmetric 2×2 problem with off-diagonal `off` and diagonal difference
 *  `diff` (= a_qq − a_pp for eigh, β − α for Hestenes): t = tan θ of the smaller angle, 0 when
 *  `go` is 0. */
function rotation(b: Builder, diff: Node, off: Node, go: Node): { t: Node; c: Node; s: Node } {
  const tau = b.div(diff, b.mul(b.const(2), b.select(go, off, one(b))));
  const t0 = b.div(signPos(b, tau), b.add(b.unary('abs', tau), b.unary('sqrt', b.add(one(b), b.mul(tau, tau)))));
  const t = b.mul(go, t0);
  const c = b.div(one(b), b.unary('sqrt', b.add(one(b), b.mul(t, t))));
  return { t, c, s: b.mul(t, c) };
}

/** Columns p and q of X rotated: (c x_p − s x_q, s x_p + c x_q) written back. */
function rotateCols(b: Builder, X: Node, p: Node, q: Node, c: Node, s: Node): Node {
  const xp = b.getcol(X, p);
  const xq = b.getcol(X, q);
  return b.setcol(b.setcol(X, p, b.sub(b.mul(c, xp), b.mul(s, xq))), q, b.add(b.mul(s, xp), b.mul(c, xq)));
}

/** Loops over the pairs p < q of n columns (row-cyclic order), carrying `inits`. */
function pairLoops(b: Builder, n: Dim, inits: Node[], names: string[], label: string, body: (p: Node, q: Node, cs: Node[]) => Node[]): Node[] {
  const nd = b.dim(n);
  const outer = buildLoop(b, { lo: b.iconst(0), hi: b.ibin('isub', nd, b.iconst(1)), inits, names, label: `${label}/p`, origin: 'jacobi' }, (p, cs) => {
    const inner = buildLoop(b, { lo: b.ibin('iadd', p, b.iconst(1)), hi: nd, inits: cs, names, label: `${label}/q`, origin: 'jacobi' }, (q, cs2) => ({ next: body(p, q, cs2) }));
    return { next: inner.outs };
  });
  return outer.outs;
}

/** The entry of largest magnitude of v is made positive (the first on ties): ±1. */
function orientSign(b: Builder, v: Node): Node {
  const i = b.maxloc(b.unary('abs', v));
  return b.select(b.binary('lt', b.index(v, [i]), b.const(0)), b.const(-1), one(b));
}

// ---- eigh ---------------------------------------------------------------------------------------------

export function lowerEigh(b: Builder, a: Node, label: string, maxSweeps = MAX_SWEEPS): Node[] {
  const n = shapeOf(a)[0]!;
  const S = b.scale(0.5, b.add(a, b.transpose(a)));
  const nrm = b.norm(S);
  const offNorm = (X: Node): Node => b.norm(b.sub(X, b.diag(b.diagvec(X))));
  const tol = b.mul(b.mul(b.itof(b.dim(n)), b.eps()), nrm);
  const sweeps = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.iconst(maxSweeps), inits: [S, b.eye(n)], names: ['S', 'V'], until: true, label, origin: 'eigh' },
    (_sw, [S0, V0]) => {
      const [S1, V1] = pairLoops(b, n, [S0!, V0!], ['S', 'V'], label, (p, q, [X, V]) => {
        const app = b.index(X!, [p, p]);
        const aqq = b.index(X!, [q, q]);
        const apq = b.index(X!, [p, q]);
        const { t, c, s } = rotation(b, b.sub(aqq, app), apq, b.binary('ne', apq, b.const(0)));
        const xp = b.getcol(X!, p);
        const xq = b.getcol(X!, q);
        // the new columns p and q of JᵀSJ (= its new rows): the 2×2 block set exactly
        const vp = b.setindex(b.setindex(b.sub(b.mul(c, xp), b.mul(s, xq)), [p], b.sub(app, b.mul(t, apq))), [q], b.const(0));
        const vq = b.setindex(b.setindex(b.add(b.mul(s, xp), b.mul(c, xq)), [q], b.add(aqq, b.mul(t, apq))), [p], b.const(0));
        const X2 = b.setrow(b.setrow(b.setcol(b.setcol(X!, p, vp), q, vq), p, vp), q, vq);
        return [X2, rotateCols(b, V!, p, q, c, s)];
      });
      return { next: [S1!, V1!], done: b.binary('le', offNorm(S1!), tol) };
    },
  );
  const [Sf, Vf] = sweeps.outs as [Node, Node];
  const pos = b.binary('gt', nrm, b.const(0));
  const residual = b.select(pos, b.div(offNorm(Sf), b.select(pos, nrm, one(b))), b.const(0));
  // ascending order (selection), each vector oriented
  const sorted = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.dim(n), inits: [b.diagvec(Sf), b.zeros([n]), b.zeros([n, n])], names: ['rest', 'lambda', 'V'], label: `${label}/sort`, origin: 'eigh' },
    (k, [rest, lam, W]) => {
      const j = b.minloc(rest!);
      const v = b.getcol(Vf, j);
      return { next: [b.setindex(rest!, [j], b.const(Infinity)), b.setindex(lam!, [k], b.index(rest!, [j])), b.setcol(W!, k, b.mul(orientSign(b, v), v))] };
    },
  );
  return [sorted.outs[1]!, sorted.outs[2]!, sweeps.iterations, sweeps.converged, residual];
}

// ---- heigh (complex Hermitian) ------------------------------------------------------------------------

export function lowerHeigh(b: Builder, ar: Node, ai: Node, label: string, maxSweeps = MAX_SWEEPS): Node[] {
  const n = shapeOf(ar)[0]!;
  const Sr0 = b.scale(0.5, b.add(ar, b.transpose(ar)));
  const Si0 = b.scale(0.5, b.sub(ai, b.transpose(ai)));
  const nrm = b.unary('sqrt', b.add(b.sumsq(Sr0), b.sumsq(Si0)));
  const offNorm = (Xr: Node, Xi: Node): Node => b.unary('sqrt', b.add(b.sumsq(b.sub(Xr, b.diag(b.diagvec(Xr)))), b.sumsq(Xi)));
  const tol = b.mul(b.mul(b.itof(b.dim(n)), b.eps()), nrm);
  const names = ['Sr', 'Si', 'Vr', 'Vi'];
  const sweeps = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.iconst(maxSweeps), inits: [Sr0, Si0, b.eye(n), b.zeros([n, n])], names, until: true, label, origin: 'eigh' },
    (_sw, [Sr, Si, Vr, Vi]) => {
      const out = pairLoops(b, n, [Sr!, Si!, Vr!, Vi!], names, label, (p, q, [Xr, Xi, Wr, Wi]) => {
        const app = b.index(Xr!, [p, p]);
        const aqq = b.index(Xr!, [q, q]);
        const pr = b.index(Xr!, [p, q]);
        const pi = b.index(Xi!, [p, q]);
        const r = b.binary('hypot', pr, pi);
        const go = b.binary('gt', r, b.const(0));
        const { t, c, s } = rotation(b, b.sub(aqq, app), r, go);
        // e^{−iφ} = (pr − i pi)/r (1 where r = 0)
        const rr = b.select(go, r, one(b));
        const wr = b.select(go, b.div(pr, rr), one(b));
        const wi = b.select(go, b.div(pi, rr), b.const(0));
        // new columns: c x_p − s e^{−iφ} x_q and s x_p + c e^{−iφ} x_q, with e^{−iφ} x_q =
        // (wr xr + wi xi) + i (wr xi − wi xr)
        const rot = (Yr: Node, Yi: Node): { pr: Node; pi: Node; qr: Node; qi: Node } => {
          const xpr = b.getcol(Yr, p);
          const xpi = b.getcol(Yi, p);
          const xqr = b.getcol(Yr, q);
          const xqi = b.getcol(Yi, q);
          const er = b.add(b.mul(wr, xqr), b.mul(wi, xqi));
          const ei = b.sub(b.mul(wr, xqi), b.mul(wi, xqr));
          return { pr: b.sub(b.mul(c, xpr), b.mul(s, er)), pi: b.sub(b.mul(c, xpi), b.mul(s, ei)), qr: b.add(b.mul(s, xpr), b.mul(c, er)), qi: b.add(b.mul(s, xpi), b.mul(c, ei)) };
        };
        const x = rot(Xr!, Xi!);
        const zero = b.const(0);
        const vpr = b.setindex(b.setindex(x.pr, [p], b.sub(app, b.mul(t, r))), [q], zero);
        const vpi = b.setindex(b.setindex(x.pi, [p], zero), [q], zero);
        const vqr = b.setindex(b.setindex(x.qr, [q], b.add(aqq, b.mul(t, r))), [p], zero);
        const vqi = b.setindex(b.setindex(x.qi, [q], zero), [p], zero);
        // rows are the conjugates of the columns (S stays exactly Hermitian)
        const Xr2 = b.setrow(b.setrow(b.setcol(b.setcol(Xr!, p, vpr), q, vqr), p, vpr), q, vqr);
        const Xi2 = b.setrow(b.setrow(b.setcol(b.setcol(Xi!, p, vpi), q, vqi), p, b.neg(vpi)), q, b.neg(vqi));
        const v = rot(Wr!, Wi!);
        return [Xr2, Xi2, b.setcol(b.setcol(Wr!, p, v.pr), q, v.qr), b.setcol(b.setcol(Wi!, p, v.pi), q, v.qi)];
      });
      return { next: out, done: b.binary('le', offNorm(out[0]!, out[1]!), tol) };
    },
  );
  const [Sr, Si, Vr, Vi] = sweeps.outs as [Node, Node, Node, Node];
  const pos = b.binary('gt', nrm, b.const(0));
  const residual = b.select(pos, b.div(offNorm(Sr, Si), b.select(pos, nrm, one(b))), b.const(0));
  // ascending order (selection); each vector times the phase that makes its largest entry real > 0
  const sorted = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.dim(n), inits: [b.diagvec(Sr), b.zeros([n]), b.zeros([n, n]), b.zeros([n, n]), b.zeros([n])], names: ['rest', 'lambda', 'Vr', 'Vi', 'k'], label: `${label}/sort`, origin: 'eigh' },
    (k, [rest, lam, Wr, Wi, ks]) => {
      const j = b.minloc(rest!);
      const vr = b.getcol(Vr, j);
      const vi = b.getcol(Vi, j);
      const i = b.maxloc(b.add(b.mul(vr, vr), b.mul(vi, vi)));
      const xr = b.index(vr, [i]);
      const xi = b.index(vi, [i]);
      const h = b.binary('hypot', xr, xi);
      const hh = b.select(b.binary('gt', h, b.const(0)), h, one(b));
      // v · conj(x)/|x|, x = v_i
      const cr = b.div(xr, hh);
      const ci = b.neg(b.div(xi, hh));
      const nr = b.setindex(b.sub(b.mul(vr, cr), b.mul(vi, ci)), [i], h);
      const ni = b.setindex(b.add(b.mul(vr, ci), b.mul(vi, cr)), [i], b.const(0));
      return { next: [b.setindex(rest!, [j], b.const(Infinity)), b.setindex(lam!, [k], b.index(rest!, [j])), b.setcol(Wr!, k, nr), b.setcol(Wi!, k, ni), b.setindex(ks!, [k], b.itof(i))] };
    },
  );
  return [sorted.outs[1]!, sorted.outs[2]!, sorted.outs[3]!, sorted.outs[4]!, sweeps.iterations, sweeps.converged, residual];
}

// ---- svd ------------------------------------------------------------------------------------------------

/** The norm below which a column of W counts as zero: max(m, n)·eps·‖A‖_F (Hestenes leaves such
 *  columns alone, and their singular vectors are completed instead). */
function zeroColumn(b: Builder, a: Node): Node {
  const [rows, cols] = shapeOf(a) as [Dim, Dim];
  return b.mul(b.mul(b.itof(b.dim(Dim.max(rows, cols))), b.eps()), b.norm(a));
}

/** One-sided Jacobi on the columns of A (rows × cols): W = A V with orthogonal columns. */
function hestenes(b: Builder, a: Node, label: string, maxSweeps: number): { W: Node; V: Node; iterations: Node; converged: Node; residual: Node } {
  const [rows, cols] = shapeOf(a) as [Dim, Dim];
  const tol = b.mul(b.itof(b.dim(rows)), b.eps());
  const z = zeroColumn(b, a);
  const z2 = b.mul(z, z);
  const sweeps = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.iconst(maxSweeps), inits: [a, b.eye(cols), b.const(0)], names: ['W', 'V', 'worst'], until: true, label, origin: 'svd' },
    (_sw, [W0, V0]) => {
      const [W1, V1, rotated, worst] = pairLoops(b, cols, [W0!, V0!, b.const(0), b.const(0)], ['W', 'V', 'rotated', 'worst'], label, (p, q, [W, V, any, worst0]) => {
        const wp = b.getcol(W!, p);
        const wq = b.getcol(W!, q);
        const alpha = b.dot(wp, wp);
        const beta = b.dot(wq, wq);
        const gamma = b.dot(wp, wq);
        // both columns above the zero threshold (a zero column has nothing to orthogonalize)
        const big = b.binary('gt', b.binary('minimum', alpha, beta), z2);
        const ab = b.unary('sqrt', b.mul(alpha, beta));
        const ratio = b.mul(big, b.div(b.unary('abs', gamma), b.select(big, ab, one(b))));
        const go = b.mul(big, b.binary('gt', ratio, tol));
        const { c, s } = rotation(b, b.sub(beta, alpha), gamma, go);
        return [rotateCols(b, W!, p, q, c, s), rotateCols(b, V!, p, q, c, s), b.binary('maximum', any!, go), b.binary('maximum', worst0!, ratio)];
      });
      return { next: [W1!, V1!, worst!], done: b.binary('eq', rotated!, b.const(0)) };
    },
  );
  return { W: sweeps.outs[0]!, V: sweeps.outs[1]!, iterations: sweeps.iterations, converged: sweeps.converged, residual: sweeps.outs[2]! };
}

/** σ sorted descending (k of them), the unit columns u_j = w_j/σ_j (numerically zero ones
 *  completed to an orthonormal set), and the matching columns of V. */
function svdFactors(b: Builder, W: Node, V: Node, k: Dim, label: string): { U: Node; s: Node; V: Node } {
  const [rows, cols] = shapeOf(W) as [Dim, Dim];
  const sig = b.unary('sqrt', b.sum(b.mul(W, W), 0));
  // the zero threshold of hestenes (‖W‖_F = ‖A‖_F: rotations keep it)
  const delta = zeroColumn(b, W);
  const sorted = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.dim(k), inits: [sig, b.zeros([k]), b.zeros([rows, k]), b.zeros([cols, k])], names: ['rest', 's', 'U', 'V'], label: `${label}/sort`, origin: 'svd' },
    (kk, [rest, s, U, Vo]) => {
      const j = b.maxloc(rest!);
      const sj = b.index(rest!, [j]);
      const keep = b.binary('gt', sj, delta);
      const u = b.mul(b.mul(keep, b.div(one(b), b.select(keep, sj, one(b)))), b.getcol(W, j));
      return { next: [b.setindex(rest!, [j], b.const(-1)), b.setindex(s!, [kk], sj), b.setcol(U!, kk, u), b.setcol(Vo!, kk, b.getcol(V, j))] };
    },
  );
  const [, s, U0, Vk] = sorted.outs as [Node, Node, Node, Node];
  // orthonormal completion of the columns whose σ is numerically zero (they are 0 so far)
  const completed = buildLoop(b, { lo: b.iconst(0), hi: b.dim(k), inits: [U0], names: ['U'], label: `${label}/complete`, origin: 'svd' }, (kk, [U]) => {
    const bad = b.binary('le', b.index(s, [kk]), delta);
    const Uo = b.setcol(U!, kk, b.zeros([rows]));
    const i = b.minloc(b.sum(b.mul(Uo, Uo), 1));
    const e = b.oneHot(rows, i);
    const r1 = b.sub(e, b.matvec(Uo, b.getrow(Uo, i)));
    const r2 = b.sub(r1, b.matvec(Uo, b.vecmat(r1, Uo)));
    const u = b.div(r2, b.norm(r2));
    return { next: [b.setcol(U!, kk, b.select(bad, u, b.getcol(U!, kk)))] };
  });
  return { U: completed.outs[0]!, s, V: Vk };
}

/** Each pair (u_j, v_j) flipped so that v_j's entry of largest magnitude is positive. */
function orientPairs(b: Builder, U: Node, V: Node, k: Dim, label: string): [Node, Node] {
  const l = buildLoop(b, { lo: b.iconst(0), hi: b.dim(k), inits: [U, V], names: ['U', 'V'], label: `${label}/orient`, origin: 'svd' }, (j, [Uc, Vc]) => {
    const v = b.getcol(Vc!, j);
    const sg = orientSign(b, v);
    return { next: [b.setcol(Uc!, j, b.mul(sg, b.getcol(Uc!, j))), b.setcol(Vc!, j, b.mul(sg, v))] };
  });
  return [l.outs[0]!, l.outs[1]!];
}

export function lowerSvd(b: Builder, a: Node, label: string, maxSweeps = MAX_SWEEPS): Node[] {
  const [m, n] = shapeOf(a) as [Dim, Dim];
  const k = Dim.min(m, n);
  const wide = n.sub(m).constValue();
  if (wide !== undefined && wide > 0) {
    // Aᵀ = V Σ Uᵀ: rotate the m columns of Aᵀ
    const h = hestenes(b, b.transpose(a), label, maxSweeps);
    const f = svdFactors(b, h.W, h.V, k, label);
    // the rotated side (f.U, n×k) is A's V; the rotation matrix's side (f.V, m×k) is A's U
    const [U, V] = orientPairs(b, f.V, f.U, k, label);
    return [U, f.s, V, h.iterations, h.converged, h.residual];
  }
  const h = hestenes(b, a, label, maxSweeps);
  const f = svdFactors(b, h.W, h.V, k, label);
  const [U, V] = orientPairs(b, f.U, f.V, k, label);
  return [U, f.s, V, h.iterations, h.converged, h.residual];
}

// ---- expm -------------------------------------------------------------------------------------------------

export function lowerExpm(b: Builder, a: Node): Node {
  const n = shapeOf(a)[0]!;
  const norm1 = b.rmax(b.sum(b.unary('abs', a), 0));
  // s = max(0, ⌈log₂(‖A‖₁/θ₁₃)⌉) (⌈x⌉ = −⌊−x⌋; ‖A‖₁ = 0 gives −∞ and s = 0)
  const lg = b.div(b.unary('log', b.div(norm1, b.const(THETA13))), b.const(Math.LN2));
  const s = b.ibin('imin', b.ibin('imax', b.iconst(0), b.ibin('isub', b.iconst(0), b.ftoi(b.neg(lg)))), b.iconst(1100));
  const X = b.mul(b.binary('pow', b.const(2), b.neg(b.itof(s))), a);
  const I = b.eye(n);
  const X2 = b.matmul(X, X);
  const X4 = b.matmul(X2, X2);
  const X6 = b.matmul(X4, X2);
  const c = PADE13;
  const lin = (terms: [number, Node][]): Node => terms.reduce<Node | undefined>((acc, [k, M]) => (acc ? b.add(acc, b.scale(k, M)) : b.scale(k, M)), undefined)!;
  const U = b.matmul(X, b.add(b.matmul(X6, lin([[c[13]!, X6], [c[11]!, X4], [c[9]!, X2]])), lin([[c[7]!, X6], [c[5]!, X4], [c[3]!, X2], [c[1]!, I]])));
  const V = b.add(b.matmul(X6, lin([[c[12]!, X6], [c[10]!, X4], [c[8]!, X2]])), lin([[c[6]!, X6], [c[4]!, X4], [c[2]!, X2], [c[0]!, I]]));
  const R = b.solve(b.sub(V, U), b.add(V, U))[0];
  const sq = buildLoop(b, { lo: b.iconst(0), hi: s, inits: [R], names: ['R'], label: 'expm/squaring', origin: 'expm' }, (_i, [Rc]) => ({ next: [b.matmul(Rc!, Rc!)] }));
  return sq.outs[0]!;
}

// ---- symmetric functions and polar ---------------------------------------------------------------------------

export function lowerSymfun(b: Builder, a: Node, fn: string, maxSweeps?: number): Node {
  const { lam, V } = eighOf(b, a, undefined, maxSweeps);
  const r = b.unary('sqrt', b.binary('maximum', lam, b.const(0)));
  const f = fn === 'sqrt' ? r : b.div(one(b), b.unary('sqrt', lam));
  const n = shapeOf(a)[0]!;
  const F = b.matmul(b.mul(V, b.outer(b.fill([n], 1), f)), b.transpose(V));
  return b.scale(0.5, b.add(F, b.transpose(F)));
}

export function lowerPolar(b: Builder, a: Node, maxSweeps?: number): Node {
  const { U, V } = svdOf(b, a, undefined, maxSweeps);
  return b.matmul(U, b.transpose(V));
}

// ---- Householder QR --------------------------------------------------------------------------------

/** householder(A) → [Q, R]: the unblocked Householder QR that the standard library's `householder`
 *  (stdlib/qr.mat) writes in the language, node for node, for real A (m × n, k = min(m, n)):
 *
 *    for j in 0..k:  y = R[:, j] .* (iota(m) ≥ j),  s = phase(y_j) (+1 at 0),
 *                    u = y + s‖y‖ e_j,  v = u/‖u‖ (0 when u = 0: nothing to eliminate),
 *                    R ← R − 2 v (vᵀR),  V[:, j] = v
 *    Q = H_0 ⋯ H_{k−1} I[:, 0:k]  (a reverse loop, Q ← Q − 2 v (vᵀQ))
 *    d = phase(diag R[0:k, 0:k]);  Q ← Q diag(d),  R ← triu(diag(d) R[0:k, :])  (diag(R) ≥ 0)
 *
 *  Every back end runs these loops except the grid model, which keeps the node and runs the
 *  blocked routine (compiler/codegen/wgsl/grid.ts emitGridHouseholder). */
export function lowerHouseholder(b: Builder, a: Node, label: string): Node[] {
  const [m, n] = shapeOf(a) as [Dim, Dim];
  const k = Dim.min(m, n);
  const zero = b.const(0);
  const two = b.const(2);
  const phase = (x: Node) => b.sub(b.mul(two, b.binary('ge', x, zero)), b.const(1));
  const im = b.iota(m);
  const fact = buildLoop(b, { lo: b.iconst(0), hi: b.dim(k), inits: [a, b.zeros([m, k])], names: ['R', 'V'], label, origin: 'householder' }, (j, [R, V]) => {
    const jf = b.itof(j);
    const y = b.mul(b.getcol(R!, j), b.binary('ge', im, jf));
    const u = b.add(y, b.mul(b.mul(phase(b.index(y, [j])), b.unary('sqrt', b.dot(y, y))), b.binary('eq', im, jf)));
    const nu = b.unary('sqrt', b.dot(u, u));
    const v = b.select(b.binary('gt', nu, zero), b.div(u, nu), b.zeros([m]));
    return { next: [b.sub(R!, b.outer(b.mul(two, v), b.matvec(b.transpose(R!), v))), b.setcol(V!, j, v)] };
  });
  const [Rf, Vs] = fact.outs as [Node, Node];
  const acc = buildLoop(b, { lo: b.iconst(0), hi: b.dim(k), inits: [b.eye(m, k)], names: ['Q'], reverse: true, label: `${label}/accumulate_q`, origin: 'householder' }, (j, [Q]) => {
    const v = b.getcol(Vs, j);
    return { next: [b.sub(Q!, b.outer(b.mul(two, v), b.matvec(b.transpose(Q!), v)))] };
  });
  const d = phase(b.diagvec(b.slice(Rf, [Dim.const(0), Dim.const(0)], [k, k])));
  const Q = b.mul(acc.outs[0]!, b.outer(b.fill([m], 1), d));
  const R = b.triu(b.mul(b.slice(Rf, [Dim.const(0), Dim.const(0)], [k, n]), b.outer(d, b.fill([n], 1))));
  return [Q, R];
}

// ---- the range of the input ----------------------------------------------------------------------------------

/** The elements of a spectral node's value that scale with its input (the others — vectors,
 *  counts, flags, relative residuals — do not): eigenvalues, singular values, R. */
const SCALED_ELEMENT: Partial<Record<string, number>> = { eigh: 0, heigh: 0, svd: 1, householder: 1 };

/** A spectral node's outputs computed from its input divided by inputScale (see there). */
function scaled(b: Builder, n: Node, lower: (args: Node[]) => Node[]): Node[] {
  const at = SCALED_ELEMENT[n.op];
  if (at === undefined) return lower([...n.args]);
  const parts = n.op === 'heigh' ? n.args.slice(0, 2) : n.args.slice(0, 1);
  const s = inputScale(b, parts);
  const out = lower(n.args.map((a, i) => (i < parts.length ? b.div(a, s) : a)));
  return out.map((x, i) => (i === at ? b.mul(x, s) : x));
}

/** A householder node kept for a back end's routine (the CPU programs', the grid's), made to run
 *  on its scaled input as the lowering does: householder(A/s) with R·s. The new node is marked
 *  `scaled` so the expand loop leaves it. */
export function scaledKept(b: Builder, f: Func, roots: readonly Node[], n: Node): Func {
  const repl = b.at(n.span, () => scaled(b, n, (args) => {
    const node = b.raw(n.op, args, { ...n.attrs, scaled: true });
    return [b.proj(node, 0), b.proj(node, 1)];
  }));
  const mapping = new Map<Node, Node>();
  for (const x of reachable(roots)) if (x.op === 'proj' && x.args[0] === n) mapping.set(x, repl[x.attrs.index as number]!);
  const map = substitute(b.g, roots, mapping);
  return mapFuncRoots(f, (x) => map.get(x) ?? x);
}

/** The replacement of one spectral node: its tuple's elements (eigh, svd) or its value. */
export function lowerSpectral(b: Builder, n: Node): Node[] {
  const a = n.args[0]!;
  const label = String(n.attrs.label ?? n.op);
  const sweeps = typeof n.attrs.max_sweeps === 'number' ? n.attrs.max_sweeps : undefined;
  switch (n.op) {
    case 'eigh':
      return scaled(b, n, ([x]) => lowerEigh(b, x!, label, sweeps));
    case 'svd':
      return scaled(b, n, ([x]) => lowerSvd(b, x!, label, sweeps));
    case 'expm':
      return [lowerExpm(b, a)];
    case 'symfun':
      return [lowerSymfun(b, a, String(n.attrs.fn), sweeps)];
    case 'polar':
      return [lowerPolar(b, a, sweeps)];
    case 'heigh':
      return scaled(b, n, ([re, im]) => lowerHeigh(b, re!, im!, label, sweeps));
    case 'householder':
      return n.attrs.scaled ? lowerHouseholder(b, a, label) : scaled(b, n, ([x]) => lowerHouseholder(b, x!, label));
    default:
      throw new Error(`lowerSpectral: ${n.op} is not a spectral op`);
  }
}

/** Expands one spectral node of `f` (reachable as `all` from `roots`): its uses, the status
 *  entries included, read the lowered loops. */
export function expandSpectralNode(b: Builder, f: Func, roots: readonly Node[], n: Node): Func {
  const repl = b.at(n.span, () => lowerSpectral(b, n));
  const mapping = new Map<Node, Node>();
  if (n.type.kind === 'tuple') {
    for (const x of reachable(roots)) if (x.op === 'proj' && x.args[0] === n) mapping.set(x, repl[x.attrs.index as number]!);
  } else mapping.set(n, repl[0]!);
  const map = substitute(b.g, roots, mapping);
  return mapFuncRoots(f, (x) => map.get(x) ?? x);
}
