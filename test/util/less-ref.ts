// References for LESS, min ½‖Ax − b‖² s.t. ‖x‖ = 1 (seeds-math §1.2–1.3), computed in float64
// independently of matc:
//   - the objective, the multiplier ν = ½ xᵀAᵀ(Ax − b) (L = f − ν(xᵀx − 1)) and the KKT residual;
//   - the closed-form VJP of §1.3 at a KKT point x:
//       H = AᵀA − 2νI,  z = H⁻¹v,  s = H⁻¹x,  w = z − s (xᵀz)/(xᵀs),
//       grad_b = A w,   grad_A = −(r wᵀ + (A w) xᵀ),   r = Ax − b;
//   - a line-by-line port of PMaF's forward solvers (`iter_projection` in zwxu064/PMaF
//     LESS/test_least_squares_sphere.py @1297e99) and its table statistics.

import { dot, gram, luSolve, matTvec, matvec, norm, symEig, type Vec } from './dense.js';

export interface LessProblem {
  A: Float64Array;
  b: Float64Array;
  m: number;
  n: number;
}

export function lessF(p: LessProblem, x: ArrayLike<number>): number {
  const r = matvec(p.A, p.m, p.n, x);
  let f = 0;
  for (let i = 0; i < p.m; i++) f += (r[i]! - p.b[i]!) ** 2;
  return 0.5 * f;
}

export function lessResidual(p: LessProblem, x: ArrayLike<number>): Vec {
  const r = matvec(p.A, p.m, p.n, x);
  for (let i = 0; i < p.m; i++) r[i]! -= p.b[i]!;
  return r;
}

/** ν = ½ xᵀAᵀ(Ax − b). */
export function lessNu(p: LessProblem, x: ArrayLike<number>): number {
  return 0.5 * dot(x, matTvec(p.A, p.m, p.n, lessResidual(p, x)));
}

/** ‖Aᵀ(Ax − b) − 2νx‖ with ν from x, relative to ‖A‖_F² + ‖A‖_F‖b‖; and |‖x‖ − 1|. */
export function lessKkt(p: LessProblem, x: ArrayLike<number>): { residual: number; relative: number; sphere: number } {
  const g = matTvec(p.A, p.m, p.n, lessResidual(p, x));
  const nu = 0.5 * dot(x, g);
  let res = 0;
  for (let i = 0; i < p.n; i++) res += (g[i]! - 2 * nu * x[i]!) ** 2;
  res = Math.sqrt(res);
  const fa = norm(p.A);
  const scale = fa * fa + fa * norm(p.b);
  return { residual: res, relative: res / scale, sphere: Math.abs(norm(x) - 1) };
}

/** The closed-form VJP of seeds-math §1.3 at the KKT point x for the cotangent v on x. */
export function lessClosedFormVjp(p: LessProblem, x: ArrayLike<number>, v: ArrayLike<number>): { gradA: Vec; gradB: Vec; nu: number; lambdaMinH: number } {
  const { A, m, n } = p;
  const r = lessResidual(p, x);
  const nu = 0.5 * dot(x, matTvec(A, m, n, r));
  const H = gram(A, m, n);
  for (let i = 0; i < n; i++) H[i * n + i]! -= 2 * nu;
  const z = luSolve(H, n, v);
  const s = luSolve(H, n, x);
  const c = dot(x, z) / dot(x, s);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = z[i]! - c * s[i]!;
  const Aw = matvec(A, m, n, w);
  const gradA = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) gradA[i * n + j] = -(r[i]! * w[j]! + Aw[i]! * x[j]!);
  return { gradA, gradB: Aw, nu, lambdaMinH: symEig(H, n).values[0]! };
}

/** normalize(A⁺ b) for full-column-rank A (normal equations), PMaF's starting point. */
export function lessInit(p: LessProblem): Vec {
  const x = luSolve(gram(p.A, p.m, p.n), p.n, matTvec(p.A, p.m, p.n, p.b));
  const s = norm(x);
  return x.map((v) => v / s);
}

/** ‖A⁺b‖ for full-column-rank A: PMaF's "centre inside / outside the unit circle". */
export function centreDistance(p: LessProblem): number {
  return norm(luSolve(gram(p.A, p.m, p.n), p.n, matTvec(p.A, p.m, p.n, p.b)));
}

// ---- PMaF's forward solvers ---------------------------------------------------------------------

export interface PmafMethod {
  /** 'rieman' token: Riemannian gradient and exact step along it (else PGD: Euclidean) */
  rieman: boolean;
  /** 'backtrack' (BLS), with 'etaone' (BLSOne) starting from η = 1 */
  backtrack?: 'exact' | 'one';
  /** 'tandecay' (TWD), β = 0.9 */
  tandecay?: boolean;
  /** 'dirweight' (DW). 'pmaf': w = 1 − cos(x, ∓g) with the sign fixed by ‖A⁺b‖ ≥ 1, as PMaF's
   *  code does; 'abs': w = 1 − |cos(x, g)|, the rule matc implements (compiler/solvers/
   *  riemannian.ts). The two agree whenever sign(xᵀg) matches PMaF's choice. */
  dirweight?: 'pmaf' | 'abs';
}

export interface PmafRun {
  x: Vec;
  /** PMaF's `count`: iterations run; count ≥ numIters is a "failure" */
  count: number;
  loss: number;
}

/** PMaF `iter_projection(A, x, b, num_iters, tolerance, method)` in float64. */
export function pmafIterProjection(p: LessProblem, method: PmafMethod, numIters = 100, tolerance = 1e-7): PmafRun {
  const { A, m, n } = p;
  const loss = (x: ArrayLike<number>): number => lessF(p, x);
  const xGrad = (x: ArrayLike<number>): Vec => matTvec(A, m, n, lessResidual(p, x));
  const project = (x: Vec, g: Vec): Vec => {
    const xn = norm(x);
    const c = dot(x, g) / (xn * xn);
    return g.map((gi, i) => gi - c * x[i]!);
  };
  const riemGrad = (x: Vec): Vec => project(x, xGrad(x));
  const normalize = (x: Vec): Vec => {
    const s = norm(x);
    return x.map((v) => v / s);
  };
  const step = (x: Vec, w: number, eta: number, d: Vec): Vec => x.map((xi, i) => xi + w * eta * d[i]!);
  const centre = centreDistance(p);
  let x = lessInit(p);
  let count = 0;
  for (let t = 0; t < numIters; t++) {
    count++;
    const xHist = x;
    const g = xGrad(x);
    let eta: number;
    let grads: Vec;
    if (method.rieman) {
      const pg = project(x, g);
      eta = dot(g, pg) / (norm(matvec(A, m, n, pg)) ** 2 + 1e-8);
      grads = pg;
    } else {
      eta = dot(g, g) / (norm(matvec(A, m, n, g)) ** 2 + 1e-8);
      grads = g;
    }
    const d = grads.map((v) => -v);
    let w = 1;
    if (method.dirweight === 'pmaf') {
      const xdir = centre >= 1 ? g.map((v) => -v) : g;
      w = 1 - dot(x, xdir) / Math.max(norm(x) * norm(xdir), 1e-8);
    } else if (method.dirweight === 'abs') {
      w = 1 - Math.abs(dot(x, g)) / (norm(x) * norm(g) + 1e-30);
    }
    let divergence = 1;
    if (method.backtrack) {
      if (method.rieman && method.backtrack === 'one') eta = 1;
      const lx = loss(x);
      const slope = dot(grads, d);
      for (let k = 0; k < 10000 && loss(step(x, w, eta, d)) > lx + 0.5 * w * eta * slope; k++) eta *= 0.8;
    } else if (method.tandecay) {
      const yHist = grads;
      divergence = dot(yHist, riemGrad(normalize(step(x, w, eta, d))));
      for (let k = 0; k < 10000 && divergence < 0; k++) {
        if (Math.abs(divergence) <= 1e-5) break;
        eta *= 0.9;
        divergence = dot(yHist, riemGrad(normalize(step(x, w, eta, d))));
      }
    }
    x = normalize(step(x, w, eta, d));
    if (method.tandecay && !method.backtrack && Math.abs(divergence) <= 1e-5) break;
    if (Math.abs(loss(x) - loss(xHist)) < tolerance) break;
  }
  return { x, count, loss: loss(x) };
}

/** PMaF's "bett" test: v1 counts as better-or-equal than the reference v2 when it is lower, or
 *  equal to 6 significant digits of v2 (gap ε = 10^−(6 − ⌊log10 v2 + 1⌋)). */
export function betterOrEqual(v1: number, v2: number, digits = 6): boolean {
  const numDecimal = digits - Math.floor(Math.log10(v2) + 1);
  const eps = 10 ** -numDecimal;
  return Math.abs(v1 - v2) >= eps ? v1 < v2 : true;
}
