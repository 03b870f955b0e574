// Derivatives of the spectral ops (eigh, svd, expm, symfun = sqrtm/invsqrtm, polar) and of householder (QR) at the matrix
// level. Each rule builds ordinary IR over the op's own outputs (the forward's eigendecomposition or
// SVD is shared with the backward by hash-consing) and, for expm, over a new expm of a block
// matrix; the expand stage lowers every spectral node to loops afterwards (solvers/spectral.ts), so
// the backward runs on every backend like any other IR.
//
// Notation: S = (A + Aᵀ)/2 (eigh and the symmetric functions read the symmetric part of their
// argument, so their gradient is symmetric), ∘ the elementwise product, Ḡ a cotangent, Ȧ a tangent.
//
//   eigh    S = V Λ Vᵀ, Λ = diag(λ) ascending                         (Magnus 1985; Giles 2008 §3.1)
//           JVP  P = Vᵀ Ṡ V,  λ̇ = diag(P),  V̇ = V (F ∘ P)
//           VJP  Ā = V sym(diag(λ̄) + F ∘ (Vᵀ V̄)) Vᵀ
//           F_ij = 1/(λ_j − λ_i) for i ≠ j, 0 on the diagonal. Pairs with |λ_j − λ_i| ≤ √eps·max|λ|
//           are left out (F_ij = 0). Their term would be (X_ij − X_ji)/(λ_j − λ_i), X = Vᵀ V̄ (JVP:
//           P_ij/(λ_j − λ_i)): where that numerator is not numerically zero the derivative has no
//           value, and a status entry of kind 'degenerate' (`LABEL/backward`, `LABEL/tangent`, the
//           least relative gap as its residual) says so — a (nearly) repeated eigenvalue never
//           gives a silent huge or NaN eigenvector derivative. A cotangent that does not couple the
//           pair (eigenvalue cotangents alone, a zero or symmetric X there) is resolved exactly by
//           leaving the term out, and is not flagged.
//   symfun  f(S) = V f(Λ) Vᵀ: the Daleckii–Krein theorem (Higham, Functions of Matrices, Thm 3.11)
//           d f(S) = V (D ∘ (Vᵀ Ṡ V)) Vᵀ, D_ij = f[λ_i, λ_j], the first divided difference, which is
//           f'(λ_i) when λ_i = λ_j. The map is self-adjoint (D symmetric), so the VJP is the same
//           formula with Ḡ for Ṡ. The divided differences are written in closed forms that have no
//           cancellation and no case split, so they are exact at repeated eigenvalues:
//             sqrt:     (√a − √b)/(a − b) = 1/(√a + √b)
//             invsqrt:  (1/√a − 1/√b)/(a − b) = −1/(√a √b (√a + √b))
//           (sqrtm of I: D = 1/2 everywhere; the derivative is finite wherever f is smooth).
//   polar   Q = U Vᵀ for A = U Σ Vᵀ (thin SVD, k = min(m, n)); with M = Uᵀ Ȧ V,
//             Q̇ = U ((M − Mᵀ) ∘ C) Vᵀ + (I − UUᵀ) Ȧ V Σ⁻¹ Vᵀ + U Σ⁻¹ Uᵀ Ȧ (I − VVᵀ),  C_ij = 1/(σ_i + σ_j)
//           (the in-span part follows from the SVD's JVP below: UᵀU̇ − VᵀV̇ = (M − Mᵀ) ∘ C since
//           (σ_j − σ_i)/(σ_j² − σ_i²) = 1/(σ_i + σ_j); the second term vanishes when m = k, the
//           third when n = k). Its adjoint is the same map (self-adjoint), with X = Uᵀ Ḡ V:
//             Ā = U ((X − Xᵀ) ∘ C) Vᵀ + (Ḡ V − U X) Σ⁻¹ Vᵀ + U Σ⁻¹ (Uᵀ Ḡ − X Vᵀ).
//           C is finite for every full-rank A, so the derivative stays finite at repeated singular
//           values (the polar factor of an orthogonal matrix, where every σ is 1).
//   svd     A = U diag(s) Vᵀ, thin (Townsend 2016, "Differentiating the singular value
//           decomposition"), F_ij = 1/(s_j² − s_i²) (i ≠ j), dP = Uᵀ Ȧ V:
//           JVP  ṡ = diag(dP)
//                U̇ = U (F ∘ (dP S + S dPᵀ)) + (I − UUᵀ) Ȧ V S⁻¹
//                V̇ = V (F ∘ (S dP + dPᵀ S)) + (I − VVᵀ) Ȧᵀ U S⁻¹
//           VJP  J = Uᵀ Ū, K = Vᵀ V̄,
//                Ā = U ((F ∘ (J − Jᵀ)) S + diag(s̄) + S (F ∘ (K − Kᵀ))) Vᵀ
//                    + (Ū − U J) S⁻¹ Vᵀ + U S⁻¹ (V̄ − V K)ᵀ
//           (the last two terms are the extra terms of a non-square matrix; they are left out
//           when the shapes say m = k or n = k). Near-repeated singular values (gap of the squares
//           ≤ √eps·s_max²) are left out of F and, where a (I − UUᵀ) or (I − VVᵀ) term is present, a
//           numerically zero singular value (≤ √eps·s_max) of S⁻¹; both are reported as for eigh
//           when the cotangent (tangent) meets them.
//   heigh   the eigendecomposition of the Hermitian part S = (A + Aᴴ)/2 of a complex matrix, S = V Λ Vᴴ,
//           V unitary, each column oriented so that its entry of largest magnitude (row k_j) is
//           real and positive — a gauge: v_j is defined up to a phase e^{iφ}, and the orientation
//           fixes it, so V is a function of A. Over the real parts (Re, Im) of every complex value
//           (compiler/check/complex.ts), with ⟨X, Y⟩ = Re tr(Xᴴ Y):
//           JVP  M = Vᴴ Ṡ V (Hermitian), λ̇ = Re diag(M), U = V (F ∘ M) (the derivative with
//                v_jᴴ v̇_j = 0), then the gauge: v̇_j = u_j + i θ̇_j v_j with θ̇_j = −Im(u_{k_j j})/v_{k_j j},
//                which keeps v_{k_j j} real.
//           VJP  the gauge term is Σ_j g_j θ̇_j, g_j = Im(v_jᴴ v̄_j), = ⟨W, U⟩ with
//                W = −i Σ_j (g_j / v_{k_j j}) e_{k_j} e_jᵀ; so with V̄' = V̄ + W,
//                Ā = V herm(diag(λ̄) + F ∘ (Vᴴ V̄')) Vᴴ.
//           F as for eigh (unresolved pairs left out and reported the same way). For a loss that
//           does not depend on the phases (g = 0, which torch.linalg.eigh requires of the losses it
//           differentiates) this is torch's formula, V (diag(λ̄) + F ∘ skew(Vᴴ V̄)) Vᴴ — herm(F ∘ X)
//           = F ∘ (X − Xᴴ)/2 since F is real and antisymmetric. Cotangents and tangents of a
//           complex value are pairs (∂/∂Re, ∂/∂Im): torch's convention for real losses.
//   expm    the Fréchet derivative L(A, E) from the block identity
//             expm([[A, E], [0, A]]) = [[e^A, L(A, E)], [0, e^A]]     (Higham, Functions of
//           Matrices, (3.16); Mathias 1996): JVP L(A, Ȧ), VJP L(Aᵀ, Ḡ) (⟨Ḡ, L(A, E)⟩ =
//           ⟨L(Aᵀ, Ḡ), E⟩). E is scaled to ‖E‖₁ = max(‖A‖₁, 1) first (L is linear in E), so the block's
//           norm, and with it the number of squarings, is set by A. Finite at repeated eigenvalues:
//           the block matrix is just another matrix whose exponential is taken.

import { Dim } from '../../core/dims.js';
import { type Builder, shapeOf } from '../ir/builder.js';
import { type Attrs, freeParams, type Node, type StatusEntry } from '../ir/node.js';
import type { SpectralKind } from '../ir/ops.js';
import type { Contrib, Cot, VjpCtx } from './vjp-rules.js';
import type { JvpCtx, Tan } from './jvp-rules.js';

// ---- helpers ------------------------------------------------------------------------------------

const sym = (b: Builder, x: Node): Node => b.scale(0.5, b.add(x, b.transpose(x)));

/** M[i, j] = v[j] (v along every row). */
const rowsOf = (b: Builder, v: Node, m: Dim): Node => b.outer(b.fill([m], 1), v);
/** M[i, j] = v[i] (v along every column). */
const colsOf = (b: Builder, v: Node, n: Dim): Node => b.outer(v, b.fill([n], 1));

/** X diag(v) and diag(v) X without forming diag(v) (elementwise column / row scaling). */
const scaleCols = (b: Builder, x: Node, v: Node): Node => b.mul(x, rowsOf(b, v, shapeOf(x)[0]!));
const scaleRows = (b: Builder, v: Node, x: Node): Node => b.mul(colsOf(b, v, shapeOf(x)[1]!), x);

const mm = (b: Builder, ...xs: Node[]): Node => xs.reduce((acc, x) => b.matmul(acc, x));

/** Does a node depend on a region parameter (a value inside a loop body or an objective)? Status
 *  entries are per call: a rule inside a region reports nothing (as solves in loop bodies). */
function inRegion(n: Node): boolean {
  for (const p of freeParams(n)) if (p.attrs.region === true) return true;
  return false;
}

function note(notes: StatusEntry[] | undefined, b: Builder, name: string, ok: Node, gap: Node): void {
  if (!notes || inRegion(ok) || inRegion(gap)) return;
  notes.push({ name, kind: 'degenerate', iterations: b.iconst(0), converged: ok, residual: gap });
}

/**
 * The masked reciprocal gaps F_ij = 1/(w_j − w_i) (i ≠ j; 0 on the diagonal and where
 * |w_j − w_i| ≤ tol: the unresolved pairs, `drop` = 1 there off the diagonal), and the least
 * relative gap min_{i≠j} |w_j − w_i| / scale (0 when scale is 0).
 */
function reciprocalGaps(b: Builder, w: Node, tol: Node, scale: Node): { F: Node; drop: Node; gap: Node } {
  const n = shapeOf(w)[0]!;
  const D = b.sub(rowsOf(b, w, n), colsOf(b, w, n)); // D_ij = w_j − w_i
  const absD = b.unary('abs', D);
  const keep = b.binary('gt', absD, tol);
  const F = b.mul(keep, b.div(b.const(1), b.select(keep, D, b.fill([n, n], 1))));
  const drop = b.mul(b.sub(b.const(1), keep), b.sub(b.const(1), b.eye(n)));
  const least = b.rmin(b.select(b.eye(n), b.fill([n, n], Infinity), absD));
  const pos = b.binary('gt', scale, b.const(0));
  const gap = b.select(pos, b.div(least, b.select(pos, scale, b.const(1))), b.const(0));
  return { F, drop, gap };
}

/**
 * Whether the terms left out are zero: `weight` (≥ 0, the size of what an unresolved pair or a
 * dropped 1/σ would multiply) is numerically zero wherever `mask` is 1 — below n·eps times the
 * largest weight. So a cotangent (tangent) that does not couple the vectors of a repeated value —
 * eigenvalue cotangents only, or a zero cotangent of the vectors — is not flagged, and one that
 * does, whose derivative has no value there, is.
 */
function resolved(b: Builder, weight: Node, mask: Node): Node {
  const n = shapeOf(weight)[0]!;
  const tol = b.mul(b.mul(b.itof(b.dim(n)), b.eps()), b.rmax(weight));
  return b.binary('le', b.rmax(b.mul(weight, mask)), tol);
}

const sqrtEps = (b: Builder): Node => b.unary('sqrt', b.eps());

/** 1/v where v > tol, else 0 (the pseudo-inverse of a diagonal). */
function guardedInverse(b: Builder, v: Node, tol: Node): Node {
  const keep = b.binary('gt', v, tol);
  return b.mul(keep, b.div(b.const(1), b.select(keep, v, b.fill(shapeOf(v), 1))));
}

function cots(g: Cot): (Node | undefined)[] {
  return Array.isArray(g) ? g : [g];
}

function labelOf(n: Node): string {
  return String(n.attrs.label ?? n.op);
}

/** The Jacobi sweep limit a node was given (`max_sweeps`), passed on to the eigh/svd it uses. */
function sweepsOf(n: Node): number | undefined {
  return typeof n.attrs.max_sweeps === 'number' ? n.attrs.max_sweeps : undefined;
}

const sweepAttrs = (label: string | undefined, maxSweeps: number | undefined): Attrs => ({
  ...(label === undefined ? {} : { label }),
  ...(maxSweeps === undefined ? {} : { max_sweeps: maxSweeps }),
});

/** The eigendecomposition / SVD a rule works with: the same node the forward lowers (hash-consed:
 *  the same operand, label and sweep limit). A user's `eigh`/`svd` call is labelled (its
 *  backward's status entry is named after it); the decompositions under `sqrtm`, `invsqrtm` and
 *  `polar` are not, so that those of one matrix are one node (sqrtm(S) and invsqrtm(S) run one
 *  Jacobi iteration) — their derivatives never reach the eigh/svd rules' notes. */
export function eighOf(b: Builder, a: Node, label: string | undefined, maxSweeps?: number): { lam: Node; V: Node; node: Node } {
  const node = b.raw('eigh', [a], sweepAttrs(label, maxSweeps));
  return { lam: b.proj(node, 0), V: b.proj(node, 1), node };
}

export function svdOf(b: Builder, a: Node, label: string | undefined, maxSweeps?: number): { U: Node; s: Node; V: Node; node: Node } {
  const node = b.raw('svd', [a], sweepAttrs(label, maxSweeps));
  return { U: b.proj(node, 0), s: b.proj(node, 1), V: b.proj(node, 2), node };
}

// ---- eigh -----------------------------------------------------------------------------------------

function eighGaps(b: Builder, lam: Node): { F: Node; drop: Node; gap: Node } {
  const scale = b.rmax(b.unary('abs', lam));
  return reciprocalGaps(b, lam, b.mul(sqrtEps(b), scale), scale);
}

function eighVjp(cx: VjpCtx, n: Node, g: Cot): Contrib[] {
  const b = cx.b;
  const [gl, gV] = cots(g);
  if (!gl && !gV) return [];
  const lam = b.proj(n, 0);
  const V = b.proj(n, 1);
  let inner: Node | undefined = gl ? b.diag(gl) : undefined;
  if (gV) {
    const { F, drop, gap } = eighGaps(b, lam);
    const X = b.matmul(b.transpose(V), gV);
    const t = b.mul(F, X);
    inner = inner ? b.add(inner, t) : t;
    // an unresolved pair contributes (X_ij − X_ji)/(λ_j − λ_i): left out, flagged unless it is 0
    note(cx.notes, b, `${labelOf(n)}/backward`, resolved(b, b.unary('abs', b.sub(X, b.transpose(X))), drop), gap);
  }
  return [[n.args[0]!, mm(b, V, sym(b, inner!), b.transpose(V))]];
}

function eighJvp(cx: JvpCtx, n: Node, [da]: (Node | undefined)[]): Tan {
  if (!da) return undefined;
  const b = cx.b;
  const lam = b.proj(n, 0);
  const V = b.proj(n, 1);
  const P = mm(b, b.transpose(V), sym(b, da), V);
  const { F, drop, gap } = eighGaps(b, lam);
  note(cx.notes, b, `${labelOf(n)}/tangent`, resolved(b, b.unary('abs', P), drop), gap);
  return [b.diagvec(P), b.matmul(V, b.mul(F, P)), undefined, undefined, undefined];
}

// ---- heigh (complex Hermitian) ----------------------------------------------------------------------

/** The complex eigendecomposition node of (Re A, Im A): the one the forward lowers (hash-consed). */
export function eighComplexOf(b: Builder, re: Node, im: Node, label: string | undefined, maxSweeps?: number): { lam: Node; Vr: Node; Vi: Node; node: Node } {
  const node = b.raw('heigh', [re, im], sweepAttrs(label, maxSweeps));
  return { lam: b.proj(node, 0), Vr: b.proj(node, 1), Vi: b.proj(node, 2), node };
}

/** Complex matrix products on (re, im) pairs. */
type C = { r: Node; i: Node };
const cmm = (b: Builder, x: C, y: C): C => ({ r: b.sub(b.matmul(x.r, y.r), b.matmul(x.i, y.i)), i: b.add(b.matmul(x.r, y.i), b.matmul(x.i, y.r)) });
const cH = (b: Builder, x: C): C => ({ r: b.transpose(x.r), i: b.neg(b.transpose(x.i)) });
/** herm(X) = (X + Xᴴ)/2 of a pair. */
const cherm = (b: Builder, x: C): C => ({ r: sym(b, x.r), i: b.scale(0.5, b.sub(x.i, b.transpose(x.i))) });

/** E_ij = 1 where i = k_j (the oriented entry of column j). */
function gaugeMask(b: Builder, k: Node): Node {
  const n = shapeOf(k)[0]!;
  return b.binary('eq', colsOf(b, b.iota(n), n), rowsOf(b, k, n));
}

function heighVjp(cx: VjpCtx, n: Node, g: Cot): Contrib[] {
  const b = cx.b;
  const [gl, gVr, gVi] = cots(g);
  if (!gl && !gVr && !gVi) return [];
  const lam = b.proj(n, 0);
  const V: C = { r: b.proj(n, 1), i: b.proj(n, 2) };
  const nn = shapeOf(lam)[0]!;
  const z = b.zeros([nn, nn]);
  let inner: C = { r: gl ? b.diag(gl) : z, i: z };
  if (gVr || gVi) {
    const Gr = gVr ?? z;
    let Gi = gVi ?? z;
    // the gauge: g_j = Im(v_jᴴ v̄_j) = Σ_i (Re v Im v̄ − Im v Re v̄), W = −i E diag(g / v_k)
    const E = gaugeMask(b, b.proj(n, 3));
    const gj = b.sum(b.sub(b.mul(V.r, Gi), b.mul(V.i, Gr)), 0);
    const vk = b.sum(b.mul(E, V.r), 0);
    Gi = b.sub(Gi, b.mul(E, rowsOf(b, b.div(gj, vk), nn)));
    const X = cmm(b, cH(b, V), { r: Gr, i: Gi });
    const { F, drop, gap } = eighGaps(b, lam);
    inner = { r: b.add(inner.r, b.mul(F, X.r)), i: b.mul(F, X.i) };
    // an unresolved pair contributes (X − Xᴴ)_ij/(λ_j − λ_i): left out, flagged unless it is 0
    const anti = b.binary('hypot', b.sub(X.r, b.transpose(X.r)), b.add(X.i, b.transpose(X.i)));
    note(cx.notes, b, `${labelOf(n)}/backward`, resolved(b, anti, drop), gap);
  }
  const A = cmm(b, cmm(b, V, cherm(b, inner)), cH(b, V));
  return [[n.args[0]!, A.r], [n.args[1]!, A.i]];
}

function heighJvp(cx: JvpCtx, n: Node, [dr, di]: (Node | undefined)[]): Tan {
  if (!dr && !di) return undefined;
  const b = cx.b;
  const lam = b.proj(n, 0);
  const V: C = { r: b.proj(n, 1), i: b.proj(n, 2) };
  const nn = shapeOf(lam)[0]!;
  const z = b.zeros([nn, nn]);
  const dS = cherm(b, { r: dr ?? z, i: di ?? z });
  const M = cmm(b, cmm(b, cH(b, V), dS), V);
  const { F, drop, gap } = eighGaps(b, lam);
  note(cx.notes, b, `${labelOf(n)}/tangent`, resolved(b, b.binary('hypot', M.r, M.i), drop), gap);
  const U = cmm(b, V, { r: b.mul(F, M.r), i: b.mul(F, M.i) });
  // the gauge: θ̇_j = −Im(u_{k_j j}) / v_{k_j j}; v̇ = u + i θ̇ v
  const E = gaugeMask(b, b.proj(n, 3));
  const theta = b.neg(b.div(b.sum(b.mul(E, U.i), 0), b.sum(b.mul(E, V.r), 0)));
  const th = rowsOf(b, theta, nn);
  return [b.diagvec(M.r), b.sub(U.r, b.mul(V.i, th)), b.add(U.i, b.mul(V.r, th)), undefined, undefined, undefined, undefined];
}

// ---- symmetric matrix functions (Daleckii–Krein) ---------------------------------------------------

/** D_ij = f[λ_i, λ_j], the first divided differences, in cancellation-free closed forms. */
function dividedDifferences(b: Builder, fn: string, lam: Node): Node {
  const n = shapeOf(lam)[0]!;
  const r = b.unary('sqrt', b.binary('maximum', lam, b.const(0)));
  const ri = colsOf(b, r, n);
  const rj = rowsOf(b, r, n);
  const sum = b.add(ri, rj);
  switch (fn) {
    case 'sqrt':
      return b.div(b.const(1), sum);
    case 'invsqrt':
      return b.neg(b.div(b.const(1), b.mul(b.mul(ri, rj), sum)));
    default:
      throw new Error(`symfun: no divided differences for ${fn}`);
  }
}

/** X ↦ V (D ∘ (Vᵀ sym(X) V)) Vᵀ: the derivative of f at S along X, and its adjoint. */
function symfunLinear(b: Builder, n: Node, x: Node): Node {
  const { lam, V } = eighOf(b, n.args[0]!, undefined, sweepsOf(n));
  const D = dividedDifferences(b, String(n.attrs.fn), lam);
  return mm(b, V, b.mul(D, mm(b, b.transpose(V), sym(b, x), V)), b.transpose(V));
}

// ---- polar ------------------------------------------------------------------------------------------

/** C_ij = 1/(σ_i + σ_j) (0 where both are 0), and Σ⁻¹ guarded. */
function polarParts(b: Builder, s: Node): { C: Node; sinv: Node } {
  const k = shapeOf(s)[0]!;
  const sum = b.add(colsOf(b, s, k), rowsOf(b, s, k));
  return { C: guardedInverse(b, sum, b.const(0)), sinv: guardedInverse(b, s, b.const(0)) };
}

/** X ↦ Q̇ along X: U ((M − Mᵀ) ∘ C) Vᵀ with M = Uᵀ X V, plus the parts off the thin SVD's span
 *  when A is not square. The map is self-adjoint in the Frobenius product (Q is the gradient of
 *  the nuclear norm, so Q̇ is its Hessian), so it is its own VJP (as symfunLinear). */
function polarLinear(b: Builder, n: Node, x: Node): Node {
  const a = n.args[0]!;
  const [m, nn] = shapeOf(a);
  const { U, s, V } = svdOf(b, a, undefined, sweepsOf(n));
  const k = shapeOf(s)[0]!;
  const { C, sinv } = polarParts(b, s);
  const Ut = b.transpose(U);
  const Vt = b.transpose(V);
  const M = mm(b, Ut, x, V);
  let out = mm(b, U, b.mul(b.sub(M, b.transpose(M)), C), Vt);
  if (!m!.equals(k)) out = b.add(out, b.matmul(scaleCols(b, b.sub(b.matmul(x, V), b.matmul(U, M)), sinv), Vt));
  if (!nn!.equals(k)) out = b.add(out, b.matmul(U, scaleRows(b, sinv, b.sub(b.matmul(Ut, x), b.matmul(M, Vt)))));
  return out;
}

function polarVjp(cx: VjpCtx, n: Node, g: Cot): Contrib[] {
  const [G] = cots(g);
  return G ? [[n.args[0]!, polarLinear(cx.b, n, G)]] : [];
}

function polarJvp(cx: JvpCtx, n: Node, [da]: (Node | undefined)[]): Tan {
  return da ? polarLinear(cx.b, n, da) : undefined;
}

// ---- svd --------------------------------------------------------------------------------------------

interface SvdParts {
  U: Node;
  s: Node;
  V: Node;
  F: Node;
  /** unresolved pairs (1 off the diagonal where s_i² ≈ s_j²) */
  drop: Node;
  sinv: Node;
  /** singular values left out of S⁻¹ (numerically zero) */
  zero: Node;
  /** the non-square extra terms are present */
  tallTerm: boolean;
  wideTerm: boolean;
  gap: Node;
}

function svdParts(b: Builder, n: Node): SvdParts {
  const a = n.args[0]!;
  const [m, nn] = shapeOf(a);
  const U = b.proj(n, 0);
  const s = b.proj(n, 1);
  const V = b.proj(n, 2);
  const k = shapeOf(s)[0]!;
  const smax = b.rmax(s);
  const s2 = b.mul(s, s);
  const scale2 = b.mul(smax, smax);
  const { F, drop, gap } = reciprocalGaps(b, s2, b.mul(sqrtEps(b), scale2), scale2);
  const tiny = b.mul(sqrtEps(b), smax);
  const sinv = guardedInverse(b, s, tiny);
  const zero = b.binary('le', s, tiny);
  return { U, s, V, F, drop, sinv, zero, tallTerm: !m!.equals(k), wideTerm: !nn!.equals(k), gap };
}

/** Resolved: no unresolved pair meets a nonzero antisymmetric weight, and no dropped 1/σ_j a
 *  nonzero column of what it scales. */
function svdResolved(b: Builder, p: SvdParts, pairWeight: Node | undefined, cols: Node[]): Node {
  let ok: Node = b.const(1);
  if (pairWeight) ok = b.mul(ok, resolved(b, pairWeight, p.drop));
  for (const c of cols) {
    const norms = b.unary('sqrt', b.sum(b.mul(c, c), 0));
    ok = b.mul(ok, resolved(b, norms, p.zero));
  }
  return ok;
}

function svdVjp(cx: VjpCtx, n: Node, g: Cot): Contrib[] {
  const b = cx.b;
  const [gU, gs, gV] = cots(g);
  if (!gU && !gs && !gV) return [];
  const a = n.args[0]!;
  const U = b.proj(n, 0);
  const s = b.proj(n, 1);
  const V = b.proj(n, 2);
  const Vt = b.transpose(V);
  if (!gU && !gV) return [[a, mm(b, scaleCols(b, U, gs!), Vt)]];
  const p = svdParts(b, n);
  const k = shapeOf(s)[0]!;
  const terms: Node[] = [];
  if (gs) terms.push(b.diag(gs));
  let J: Node | undefined;
  let K: Node | undefined;
  let weight: Node | undefined;
  const cols: Node[] = [];
  const anti = (X: Node) => b.unary('abs', b.sub(X, b.transpose(X)));
  if (gU) {
    J = b.matmul(b.transpose(U), gU);
    terms.push(scaleCols(b, b.mul(p.F, b.sub(J, b.transpose(J))), s));
    weight = anti(J);
  }
  if (gV) {
    K = b.matmul(Vt, gV);
    terms.push(scaleRows(b, s, b.mul(p.F, b.sub(K, b.transpose(K)))));
    weight = weight ? b.add(weight, anti(K)) : anti(K);
  }
  let out = mm(b, U, b.sumOf(terms, [k, k]), Vt);
  if (gU && p.tallTerm) {
    const R = b.sub(gU, b.matmul(U, J!));
    cols.push(R);
    out = b.add(out, b.matmul(scaleCols(b, R, p.sinv), Vt));
  }
  if (gV && p.wideTerm) {
    const R = b.sub(gV, b.matmul(V, K!));
    cols.push(R);
    out = b.add(out, b.matmul(U, scaleRows(b, p.sinv, b.transpose(R))));
  }
  note(cx.notes, b, `${labelOf(n)}/backward`, svdResolved(b, p, weight, cols), p.gap);
  return [[a, out]];
}

function svdJvp(cx: JvpCtx, n: Node, [da]: (Node | undefined)[]): Tan {
  if (!da) return undefined;
  const b = cx.b;
  const p = svdParts(b, n);
  const { U, s, V, F, sinv } = p;
  const dP = mm(b, b.transpose(U), da, V);
  const dPt = b.transpose(dP);
  const dPS = scaleCols(b, dP, s);
  const SdP = scaleRows(b, s, dP);
  const dPtS = scaleCols(b, dPt, s);
  const SdPt = scaleRows(b, s, dPt);
  const Xu = b.add(dPS, SdPt);
  const Xv = b.add(SdP, dPtS);
  let dU = b.matmul(U, b.mul(F, Xu));
  let dV = b.matmul(V, b.mul(F, Xv));
  const cols: Node[] = [];
  if (p.tallTerm) {
    const R = b.sub(b.matmul(da, V), b.matmul(U, dP));
    cols.push(R);
    dU = b.add(dU, scaleCols(b, R, sinv));
  }
  if (p.wideTerm) {
    const R = b.sub(b.matmul(b.transpose(da), U), b.matmul(V, dPt));
    cols.push(R);
    dV = b.add(dV, scaleCols(b, R, sinv));
  }
  note(cx.notes, b, `${labelOf(n)}/tangent`, svdResolved(b, p, b.add(b.unary('abs', Xu), b.unary('abs', Xv)), cols), p.gap);
  return [dU, b.diagvec(dP), dV, undefined, undefined, undefined];
}

// ---- expm -------------------------------------------------------------------------------------------

const norm1 = (b: Builder, x: Node): Node => b.rmax(b.sum(b.unary('abs', x), 0));

/** L(A, E), the Fréchet derivative of expm at A along E, by the block-triangular identity. */
export function expmFrechet(b: Builder, a: Node, e: Node): Node {
  const n = shapeOf(a)[0]!;
  const ne = norm1(b, e);
  const pos = b.binary('gt', ne, b.const(0));
  // c E with ‖c E‖₁ = max(‖A‖₁, 1): L is linear in E, and the block's norm stays that of A
  const c = b.select(pos, b.div(b.binary('maximum', norm1(b, a), b.const(1)), b.select(pos, ne, b.const(1))), b.const(1));
  const z = b.zeros([n, n]);
  const M = b.concat([b.concat([a, b.mul(c, e)], 1), b.concat([z, a], 1)], 0);
  const X = b.raw('expm', [M]);
  return b.div(b.slice(X, [Dim.const(0), n], [n, n]), c);
}

// ---- householder (QR) ---------------------------------------------------------------------------------
//
// A = Q R, m × n, k = min(m, n), Q m × k with QᵀQ = I, R = [U | V] with U k × k upper triangular,
// diag(U) ≥ 0; X = A[:, 0:k] = Q U and Y = A[:, k:n] = Q V (empty unless A is wide). Both rules
// need U invertible (the first k columns of A independent); a note reports rcond(U) =
// min|u_ii| / max|u_ii| against max(1e-10, eps), the singular threshold of `solve`.
//
// VJP (Roberts & Roberts 2020, arXiv 2009.10071, the stdlib's qr_backward):
//   G = Q̄ + Y V̄ᵀ,  M = U Ūᵀ − Gᵀ Q,  X̄ = (G + Q copyltu(M)) U⁻ᵀ,  Ȳ = Q V̄,  Ā = [X̄, Ȳ],
//   copyltu(M) = tril(M) + tril(M, −1)ᵀ.
// JVP: differentiating X = Q U with Ω = QᵀQ̇ skew and U̇ U⁻¹ upper triangular,
//   B = Ẋ U⁻¹,  C = Qᵀ B = Ω + U̇ U⁻¹  ⇒  Ω = tril(C, −1) − tril(C, −1)ᵀ,  W = C − Ω (upper),
//   U̇ = W U,  Q̇ = B − Q W  (= (I − QQᵀ) Ẋ U⁻¹ + Q Ω),  V̇ = Qᵀ (Ẏ − Q̇ V)   (from Y = Q V).

interface QrParts {
  A: Node;
  Q: Node;
  R: Node;
  U: Node;
  m: Dim;
  n: Dim;
  k: Dim;
}

function qrParts(b: Builder, node: Node): QrParts {
  const A = node.args[0]!;
  const [m, n] = shapeOf(A) as [Dim, Dim];
  const k = Dim.min(m, n);
  const R = b.proj(node, 1);
  return { A, Q: b.proj(node, 0), R, U: b.slice(R, [Dim.const(0), Dim.const(0)], [k, k]), m, n, k };
}

function qrNote(notes: StatusEntry[] | undefined, b: Builder, node: Node, U: Node, what: string): void {
  const d = b.unary('abs', b.diagvec(U));
  const hi = b.rmax(d);
  const rc = b.select(b.binary('gt', hi, b.const(0)), b.div(b.rmin(d), b.select(b.binary('gt', hi, b.const(0)), hi, b.const(1))), b.const(0));
  const any = b.binary('ge', b.itof(b.dim(shapeOf(U)[0]!)), b.const(1));
  note(notes, b, `${labelOf(node)}/${what}`, b.select(any, b.binary('gt', rc, b.binary('maximum', b.const(1e-10), b.eps())), b.const(1)), b.select(any, rc, b.const(1)));
}

function householderVjp(cx: VjpCtx, node: Node, g: Cot): Contrib[] {
  const [gQ, gR] = cots(g);
  if (!gQ && !gR) return [];
  const b = cx.b;
  const { A, Q, U, m, n, k } = qrParts(b, node);
  const z = Dim.const(0);
  const r = n.sub(k);
  const dQ = gQ ?? b.zeros([m, k]);
  const dR = gR ?? b.zeros([k, n]);
  const Y = b.slice(A, [z, k], [m, r]);
  const dU = b.slice(dR, [z, z], [k, k]);
  const dV = b.slice(dR, [z, k], [k, r]);
  const G = b.add(dQ, b.matmul(Y, b.transpose(dV)));
  const M = b.sub(b.matmul(U, b.transpose(dU)), b.matmul(b.transpose(G), Q));
  const C = b.add(b.tril(M), b.transpose(b.tril(M, -1)));
  const X = b.transpose(b.trisolve(U, b.transpose(b.add(G, b.matmul(Q, C))), { lower: false }));
  qrNote(cx.notes, b, node, U, 'backward');
  return [[A, b.concat([X, b.matmul(Q, dV)], 1)]];
}

function householderJvp(cx: JvpCtx, node: Node, [da]: (Node | undefined)[]): Tan {
  if (!da) return undefined;
  const b = cx.b;
  const { Q, R, U, m, n, k } = qrParts(b, node);
  const z = Dim.const(0);
  const r = n.sub(k);
  const dX = b.slice(da, [z, z], [m, k]);
  const dY = b.slice(da, [z, k], [m, r]);
  const B = b.transpose(b.trisolve(U, b.transpose(dX), { lower: false, trans: true }));
  const C = b.matmul(b.transpose(Q), B);
  const L = b.tril(C, -1);
  const W = b.sub(C, b.sub(L, b.transpose(L)));
  const dQ = b.sub(B, b.matmul(Q, W));
  const dV = b.matmul(b.transpose(Q), b.sub(dY, b.matmul(dQ, b.slice(R, [z, k], [k, r]))));
  qrNote(cx.notes, b, node, U, 'tangent');
  return [dQ, b.triu(b.concat([b.matmul(W, U), dV], 1))];
}

// ---- the tables ---------------------------------------------------------------------------------------

type VRule = (cx: VjpCtx, n: Node, g: Cot) => Contrib[];
type JRule = (cx: JvpCtx, n: Node, d: (Node | undefined)[]) => Tan;

export const spectralVjpRules: Record<SpectralKind, VRule> = {
  eigh: eighVjp,
  svd: svdVjp,
  expm: (cx, n, g) => {
    const [G] = cots(g);
    if (!G) return [];
    const a = n.args[0]!;
    return [[a, expmFrechet(cx.b, cx.b.transpose(a), G)]];
  },
  symfun: (cx, n, g) => {
    const [G] = cots(g);
    return G ? [[n.args[0]!, symfunLinear(cx.b, n, G)]] : [];
  },
  polar: polarVjp,
  heigh: heighVjp,
  householder: householderVjp,
};

export const spectralJvpRules: Record<SpectralKind, JRule> = {
  eigh: eighJvp,
  svd: svdJvp,
  expm: (cx, n, [da]) => (da ? expmFrechet(cx.b, n.args[0]!, da) : undefined),
  symfun: (cx, n, [da]) => (da ? symfunLinear(cx.b, n, da) : undefined),
  polar: polarJvp,
  heigh: heighJvp,
  householder: householderJvp,
};
