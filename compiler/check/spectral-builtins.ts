// The spectral builtins: eigh, svd, expm, sqrtm, invsqrtm, polar, householder_qr. Each elaborates to one spectral
// IR op (compiler/ir/ops.ts) — differentiated by its own rules (compiler/diff/spectral-rules.ts)
// and lowered to Jacobi / Padé loops by the expand stage (compiler/solvers/spectral.ts) — and
// reports in the call's status: the Jacobi sweeps of eigh and svd (and of the matrix functions
// built on them) as kind 'solver', and for sqrtm, invsqrtm and polar whether the input lies in the
// function's domain (kind 'domain').

import type * as A from '../../grammar/ast.js';
import { Dim } from '../../core/dims.js';
import { shapeOf } from '../ir/builder.js';
import type { Node } from '../ir/node.js';
import { lineCol } from '../source.js';
import { eighOf, svdOf } from '../diff/spectral-rules.js';
import type { Builtin } from './builtins.js';
import { args, square } from './builtins.js';
import type { Elab } from './elaborate.js';
import { type Val, arr, poison, shapeLabel } from './values.js';
import { MAX_SWEEPS } from '../solvers/spectral.js';

type Call = Extract<A.Expr, { kind: 'call' }>;

function labelOf(el: Elab, e: Call): string {
  const { line, col } = lineCol(e.span.file, e.span.start);
  return `${el.statusPrefix}${e.callee.name}@${line}:${col}`;
}

/** The Jacobi sweeps of an eigh or svd node: iterations, converged, relative residual. */
function sweepStatus(el: Elab, e: Call, label: string, node: Node, first: number): void {
  el.statuses.push({ name: label, kind: 'solver', iterations: el.b.proj(node, first), converged: el.b.proj(node, first + 1), residual: el.b.proj(node, first + 2), span: e.span });
}

function domainStatus(el: Elab, e: Call, label: string, ok: Node, value: Node): void {
  el.statuses.push({ name: `${label}/domain`, kind: 'domain', iterations: el.b.iconst(0), converged: ok, residual: value, span: e.span });
}

type Env = Parameters<Builtin['elaborate']>[2];

/** The Jacobi sweep limit: `max_sweeps: N`, a positive integer literal (MAT0220 otherwise). */
const SWEEP_LIMIT = 10000;

/** The positional arguments (one matrix) and the named option `max_sweeps` of the functions
 *  built on Jacobi sweeps; null after a diagnostic. */
function spectralArgs(el: Elab, e: Call, env: Env, sweeps: boolean): { a: Val & { k: 'arr' }; maxSweeps: number } | null {
  const maxSweeps = sweepOption(el, e, sweeps);
  const positional = e.args.filter((x) => !x.name);
  const v = args(el, { ...e, args: positional }, env, 1);
  if (!v || maxSweeps === null) return null;
  const a = el.toArr(v[0]!, positional[0]!.value.span, `argument 1 of ${e.callee.name}`);
  if (a.k !== 'arr') return null;
  if (shapeOf(a.node).length !== 2) {
    el.diag.error('MAT0208', `argument 1 of ${e.callee.name} must be a matrix, but it is ${shapeLabel(a)}`, positional[0]!.value.span);
    return null;
  }
  return { a, maxSweeps };
}

/** The named option `max_sweeps` (the only one, for the functions built on Jacobi sweeps):
 *  its value, the default, or null after a diagnostic (MAT0220). */
export function sweepOption(el: Elab, e: Call, sweeps: boolean): number | null {
  let maxSweeps = MAX_SWEEPS;
  let bad = false;
  for (const x of e.args) {
    if (!x.name) continue;
    if (!sweeps || x.name.name !== 'max_sweeps') {
      el.diag.error('MAT0220', sweeps ? `${e.callee.name} takes one option, max_sweeps; '${x.name.name}' is not one` : `${e.callee.name} takes no options`, x.name.span, sweeps ? { suggestion: `${e.callee.name}(A, max_sweeps: 50)` } : {});
      bad = true;
      continue;
    }
    const v = x.value;
    if (v.kind !== 'num' || v.imag || !Number.isInteger(v.value) || v.value < 1 || v.value > SWEEP_LIMIT) {
      el.diag.error('MAT0220', `max_sweeps must be an integer literal from 1 to ${SWEEP_LIMIT}`, v.span, { label: 'the limit on Jacobi sweeps' });
      bad = true;
      continue;
    }
    maxSweeps = v.value;
  }
  return bad ? null : maxSweeps;
}

/** One square matrix argument (MAT0303 for another count, MAT0208 for a non-matrix or a
 *  non-square one). */
function squareArg(el: Elab, e: Call, env: Env, sweeps: boolean): { a: Node; maxSweeps: number } | null {
  const r = spectralArgs(el, e, env, sweeps);
  if (!r || !square(el, e, r.a, 0)) return null;
  return { a: r.a.node, maxSweeps: r.maxSweeps };
}

/** sqrtm / invsqrtm: f(S) of the symmetric part through its eigendecomposition. */
function symfun(fn: 'sqrt' | 'invsqrt', sig: string): Builtin {
  return {
    sig,
    elaborate(el, e, env) {
      const r = squareArg(el, e, env, true);
      if (!r) return poison;
      const { a, maxSweeps } = r;
      const b = el.b;
      const label = labelOf(el, e);
      const { lam, node } = eighOf(b, a, undefined, maxSweeps);
      sweepStatus(el, e, label, node, 2);
      // the least eigenvalue against n·eps·max|λ|: sqrtm needs none below −that, invsqrtm all above
      const n = shapeOf(a)[0]!;
      const lmin = b.rmin(lam);
      const scale = b.mul(b.mul(b.itof(b.dim(n)), b.eps()), b.rmax(b.unary('abs', lam)));
      domainStatus(el, e, label, fn === 'sqrt' ? b.binary('ge', lmin, b.neg(scale)) : b.binary('gt', lmin, scale), lmin);
      return arr(b.raw('symfun', [a], { fn, max_sweeps: maxSweeps }), 'sym');
    },
  };
}

export const spectralBuiltins: Record<string, Builtin> = {
  eigh: {
    sig: 'eigh(A[, max_sweeps: 30]) -> (values: vec[n] ascending, vectors: mat[n, n]) of the symmetric part (A + A\')/2; each vector\'s largest-magnitude entry is positive',
    elaborate(el, e, env) {
      const r = squareArg(el, e, env, true);
      if (!r) return poison;
      const label = labelOf(el, e);
      const { lam, V, node } = eighOf(el.b, r.a, label, r.maxSweeps);
      sweepStatus(el, e, label, node, 2);
      return { k: 'tuple', elems: [arr(lam), arr(V)] };
    },
  },
  svd: {
    sig: 'svd(A[, max_sweeps: 30]) -> (U: mat[m, k], s: vec[k] descending, V: mat[n, k]), k = min(m, n), A = U diag(s) V\'; each v_j\'s largest-magnitude entry is positive',
    elaborate(el, e, env) {
      const r = spectralArgs(el, e, env, true);
      if (!r) return poison;
      const label = labelOf(el, e);
      const { U, s, V, node } = svdOf(el.b, r.a.node, label, r.maxSweeps);
      sweepStatus(el, e, label, node, 3);
      return { k: 'tuple', elems: [arr(U), arr(s), arr(V)] };
    },
  },
  householder_qr: {
    sig: 'householder_qr(A) -> (Q: mat[m, k], R: triu[k, n]), k = min(m, n): the reduced QR factorization A = Q R by Householder reflections, QᵀQ = I, diag(R) ≥ 0 (real A)',
    elaborate(el, e, env) {
      const r = spectralArgs(el, e, env, false);
      if (!r) return poison;
      const node = el.b.raw('householder', [r.a.node], { label: labelOf(el, e) });
      return { k: 'tuple', elems: [arr(el.b.proj(node, 0)), arr(el.b.proj(node, 1), 'triu')] };
    },
  },
  expm: {
    sig: 'expm(A): the matrix exponential of a square matrix (scaling and squaring, Padé 13)',
    elaborate(el, e, env) {
      const r = squareArg(el, e, env, false);
      return r ? arr(el.b.raw('expm', [r.a])) : poison;
    },
  },
  sqrtm: symfun('sqrt', "sqrtm(S): the symmetric square root of the symmetric part of S (positive semidefinite)"),
  invsqrtm: symfun('invsqrt', "invsqrtm(S): the inverse symmetric square root of the symmetric part of S (positive definite)"),
  polar: {
    sig: "polar(A): the orthogonal polar factor U V' of A = U diag(s) V' (A of full rank; = A (A'A)^(-1/2) when tall)",
    elaborate(el, e, env) {
      const r = spectralArgs(el, e, env, true);
      if (!r) return poison;
      const { a, maxSweeps } = r;
      const b = el.b;
      const label = labelOf(el, e);
      const { s, node } = svdOf(b, a.node, undefined, maxSweeps);
      sweepStatus(el, e, label, node, 3);
      const [m, n] = shapeOf(a.node) as [Dim, Dim];
      const smax = b.rmax(s);
      const smin = b.rmin(s);
      const pos = b.binary('gt', smax, b.const(0));
      const rel = b.select(pos, b.div(smin, b.select(pos, smax, b.const(1))), b.const(0));
      domainStatus(el, e, label, b.binary('gt', rel, b.mul(b.itof(b.dim(Dim.max(m, n))), b.eps())), rel);
      return arr(b.raw('polar', [a.node], { max_sweeps: maxSweeps }));
    },
  },
};
