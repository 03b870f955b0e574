// Independent exact solver for LESS (least squares on the unit sphere), used as a test oracle:
//
//     min_x  f(x) = ½‖A x − b‖²   s.t.   ‖x‖₂ = 1,        A: m×n row-major, b: m.
//
// It shares no code with matc (nor with test/oracles/gen_fixtures.py, which solves the same problem
// in SciPy), so agreement between the three is evidence, not tautology.
//
// Math. Let M = AᵀA = V diag(μ) Vᵀ with μ₁ ≤ … ≤ μₙ, c = Aᵀb, c̃ = Vᵀc. With the Lagrangian
// L = f − ν(xᵀx − 1) the KKT conditions are
//     (M − θI) x = c,  ‖x‖ = 1,  θ = 2ν,   i.e.  ν = ½ xᵀAᵀ(Ax − b),
// and a KKT point is a GLOBAL minimiser iff M − θI ⪰ 0, i.e. θ ≤ μ₁. (For x, y on the sphere and
// (M − θI)x = c one has f(y) − f(x) = ½ (y − x)ᵀ(M − θI)(y − x) exactly, so θ ≤ μ₁ is sufficient;
// necessity is the classical trust-region-subproblem result.) With t = μ₁ − θ ≥ 0, d_i = μ_i − μ₁:
//     x(t) = Σ_i c̃_i/(d_i + t) v_i,     φ(t) = ‖x(t)‖² = Σ_i c̃_i²/(d_i + t)² = 1   (secular equation).
// φ is strictly decreasing on t > 0, so:
//   • easy case (some c̃_i with d_i = 0 is nonzero, or φ(0) > 1): one root t* > 0 and a unique
//     minimiser. We solve ψ(t) = 1/√φ(t) − 1 = 0 (Reinsch / Moré–Sorensen: ψ is increasing, concave
//     and nearly linear, so Newton started left of the root climbs monotonically to it) with Newton
//     safeguarded by the bracket [t_lo, t_hi]:
//         t_hi = ‖c‖                      (φ(t_hi) ≤ ‖c‖²/t_hi² = 1),
//         t_lo = max(0, max_i(|c̃_i| − d_i))  (φ(t_lo) ≥ c̃_i²/(d_i + t_lo)² ≥ 1 for the maximising i).
//   • hard case (c̃ vanishes on the μ₁-eigenspace E₁ and φ_rest(0) = Σ_{d_i>0} c̃_i²/d_i² ≤ 1):
//     θ = μ₁, minimisers x = x_p + τ w, x_p = Σ_{d_i>0} c̃_i/d_i v_i, τ = √(1 − ‖x_p‖²), w ∈ E₁ unit.
//     Not unique when τ > 0, and M − θI is singular (no gradient). We take w along the (rounding-
//     level) projection of c on E₁ when it is nonzero — the limit of the easy case — else w = v₁.
//     "Zero" and "equal to μ₁" use the relative tolerances TOL_C and TOL_EIG below, the same as in
//     gen_fixtures.py; they matter e.g. for wide A, where c ∈ range(Aᵀ) and its null-space part is
//     pure rounding.
//
// Eigen-solver: cyclic Jacobi on M (float64), O(n³) per sweep and ~6–10 sweeps; 256×256 takes well
// under a second or two in Node. Jacobi is slow but simple and accurate (backward stable, eigenvectors
// orthogonal to working precision), which is what an oracle needs.

/** Eigenvalues within TOL_EIG·max(μₙ, tiny) of μ₁ count as equal to μ₁ (hard-case test only). */
export const TOL_EIG = 1e-10;
/** A component of Vᵀc below TOL_C·‖c‖ counts as zero (hard-case test only). */
export const TOL_C = 1e-10;

export interface LessExactResult {
  /** The global minimiser (one of them in the hard case), ‖x‖ = 1. */
  x: Float64Array;
  /** f* = ½‖Ax − b‖². */
  f: number;
  /** Multiplier ν = ½ xᵀAᵀ(Ax − b) for L = f − ν(xᵀx − 1); KKT: Aᵀ(Ax − b) = 2νx. */
  nu: number;
  /** True when c = Aᵀb has no component on the smallest eigenspace of AᵀA and ‖x_p‖ ≤ 1:
   *  θ = μ₁, AᵀA − 2νI singular, minimiser generally not unique. */
  hardCase: boolean;
}

export interface SymEigen {
  /** Ascending eigenvalues. */
  values: Float64Array;
  /** Row-major n×n; ROW j is the unit eigenvector for values[j]. */
  vectorsT: Float64Array;
}

/**
 * Cyclic Jacobi eigen-decomposition of a symmetric n×n matrix (row-major; only its symmetric part is
 * meaningful, the input is not modified). Each rotation J (c, s at (p,q)) zeroes a_pq in JᵀAJ; rows p
 * and q are updated contiguously and mirrored into columns p and q, the 2×2 block uses the
 * Rutishauser forms a_pp −= t·a_pq, a_qq += t·a_pq. Vᵀ is accumulated as Jᵀ Vᵀ (row updates).
 */
export function jacobiEigen(S: Float64Array, n: number): SymEigen {
  const a = Float64Array.from(S);
  const vt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vt[i * n + i] = 1;
  let frob2 = 0;
  for (let i = 0; i < n * n; i++) frob2 += a[i]! * a[i]!;
  const absTiny = 1e-22 * Math.sqrt(frob2); // far below the rounding level eps·‖S‖_F ≈ 2e-16·‖S‖_F
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += Math.abs(a[p * n + q]!);
    if (off === 0) break;
    // Rutishauser's threshold strategy: in the first sweeps rotate only the large elements.
    const thresh = sweep < 3 ? (0.2 * off) / (n * n) : 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const g = 100 * Math.abs(apq);
        // Negligible: below both diagonal entries' ulps (after a few sweeps), or absolutely tiny.
        if ((sweep > 3 && Math.abs(app) + g === Math.abs(app) && Math.abs(aqq) + g === Math.abs(aqq)) ||
            Math.abs(apq) <= absTiny) {
          a[p * n + q] = 0;
          a[q * n + p] = 0;
          continue;
        }
        if (Math.abs(apq) <= thresh) continue;
        // t = tan(angle): the smaller root of t² + 2θt − 1 = 0, θ = (a_qq − a_pp)/(2 a_pq).
        const h = aqq - app;
        let t: number;
        if (Math.abs(h) + g === Math.abs(h)) {
          t = apq / h;
        } else {
          const theta = (0.5 * h) / apq;
          t = 1 / (Math.abs(theta) + Math.sqrt(1 + theta * theta));
          if (theta < 0) t = -t;
        }
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        const tau = s / (1 + c); // c = 1 − s·tau: the update form below loses less to rounding
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        const rp = p * n;
        const rq = q * n;
        for (let k = 0; k < n; k++) {
          if (k === p || k === q) continue;
          const akp = a[rp + k]!;
          const akq = a[rq + k]!;
          const np = akp - s * (akq + tau * akp); // c·akp − s·akq
          const nq = akq + s * (akp - tau * akq); // s·akp + c·akq
          a[rp + k] = np;
          a[k * n + p] = np;
          a[rq + k] = nq;
          a[k * n + q] = nq;
        }
        for (let k = 0; k < n; k++) {
          const vp = vt[rp + k]!;
          const vq = vt[rq + k]!;
          vt[rp + k] = vp - s * (vq + tau * vp);
          vt[rq + k] = vq + s * (vp - tau * vq);
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i]! - a[j * n + j]!);
  const values = new Float64Array(n);
  const vectorsT = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src]!;
    vectorsT.set(vt.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectorsT };
}

/** Exact global minimiser of ½‖Ax − b‖² on the unit sphere; A is m×n row-major. See the header. */
export function lessExact(A: Float64Array, b: Float64Array, m: number, n: number): LessExactResult {
  if (A.length !== m * n || b.length !== m) throw new Error(`lessExact: A must be ${m}×${n} and b ${m}`);
  if (n < 1) throw new Error('lessExact: n must be ≥ 1');
  // M = AᵀA (upper triangle accumulated row by row of A, then mirrored), c = Aᵀb.
  const M = new Float64Array(n * n);
  const c = new Float64Array(n);
  for (let k = 0; k < m; k++) {
    const row = k * n;
    const bk = b[k]!;
    for (let i = 0; i < n; i++) {
      const aki = A[row + i]!;
      if (aki === 0) continue;
      c[i] += aki * bk;
      const Mi = i * n;
      for (let j = i; j < n; j++) M[Mi + j] += aki * A[row + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) M[i * n + j] = M[j * n + i]!;

  const { values: mu, vectorsT: vt } = jacobiEigen(M, n);
  const ct = new Float64Array(n); // c̃ = Vᵀ c
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += vt[j * n + i]! * c[i]!;
    ct[j] = s;
  }
  const d = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = mu[j]! - mu[0]!;
  d[0] = 0;

  let cn = 0;
  for (let i = 0; i < n; i++) cn += c[i]! * c[i]!;
  cn = Math.sqrt(cn);
  const eigTol = TOL_EIG * Math.max(mu[n - 1]!, 1e-300);
  const inG1 = (j: number): boolean => d[j]! <= eigTol;
  let cG1 = 0;
  let phiRest0 = 0;
  for (let j = 0; j < n; j++) {
    if (inG1(j)) cG1 += ct[j]! * ct[j]!;
    else phiRest0 += (ct[j]! / d[j]!) ** 2;
  }
  cG1 = Math.sqrt(cG1);
  const hardCase = cG1 <= TOL_C * cn && phiRest0 <= 1;

  const xt = new Float64Array(n); // x in the eigenbasis
  if (hardCase) {
    let xp2 = 0;
    for (let j = 0; j < n; j++) {
      if (inG1(j)) continue;
      xt[j] = ct[j]! / d[j]!;
      xp2 += xt[j]! * xt[j]!;
    }
    const tau = Math.sqrt(Math.max(0, 1 - xp2));
    if (cG1 > 0) {
      for (let j = 0; j < n; j++) if (inG1(j)) xt[j] = (tau * ct[j]!) / cG1;
    } else {
      xt[0] = tau;
    }
  } else {
    const t = solveSecular(ct, d, cn);
    for (let j = 0; j < n; j++) xt[j] = ct[j]! / (d[j]! + t);
  }

  // x = V x̃, normalised onto the sphere (it is already unit up to the root's rounding).
  const x = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const w = xt[j]!;
    if (w === 0) continue;
    for (let i = 0; i < n; i++) x[i] += vt[j * n + i]! * w;
  }
  let xn = 0;
  for (let i = 0; i < n; i++) xn += x[i]! * x[i]!;
  xn = Math.sqrt(xn);
  for (let i = 0; i < n; i++) x[i] = x[i]! / xn;

  // f and ν from their definitions, with A itself (not M), r = Ax − b.
  let f = 0;
  let nu = 0;
  for (let k = 0; k < m; k++) {
    let r = -b[k]!;
    for (let i = 0; i < n; i++) r += A[k * n + i]! * x[i]!;
    f += r * r;
    for (let i = 0; i < n; i++) nu += A[k * n + i]! * x[i]! * r; // xᵀAᵀr = (Ax)ᵀr
  }
  return { x, f: 0.5 * f, nu: 0.5 * nu, hardCase };
}

/** Root t* > 0 of ψ(t) = 1/√φ(t) − 1, φ(t) = Σ c̃_i²/(d_i + t)², by bracketed Newton (see header). */
function solveSecular(ct: Float64Array, d: Float64Array, cn: number): number {
  const n = ct.length;
  // ψ and ψ' = φ^{-3/2} Σ c̃_i²/(d_i + t)³. Exact zeros of c̃ are skipped (0/0 at t = d_i = 0).
  const evalPsi = (t: number): [number, number] => {
    let phi = 0;
    let s3 = 0;
    for (let i = 0; i < n; i++) {
      const c = ct[i]!;
      if (c === 0) continue;
      const den = d[i]! + t;
      const q = (c * c) / (den * den);
      phi += q;
      s3 += q / den;
    }
    return [1 / Math.sqrt(phi) - 1, s3 / (phi * Math.sqrt(phi))];
  };
  let lo = 0;
  for (let i = 0; i < n; i++) lo = Math.max(lo, Math.abs(ct[i]!) - d[i]!);
  let hi = cn;
  if (!(hi > lo)) return hi; // degenerate bracket (e.g. all d = 0): t_lo = t_hi = ‖c‖ is the root
  let t = lo;
  for (let it = 0; it < 500; it++) {
    const [psi, dpsi] = evalPsi(t);
    if (psi === 0) return t;
    if (psi < 0 || !Number.isFinite(psi)) lo = t;
    else hi = t;
    let tn = Number.isFinite(psi) && dpsi > 0 && Number.isFinite(dpsi) ? t - psi / dpsi : NaN;
    if (!(tn > lo && tn < hi)) tn = lo > 0 && hi / lo > 1e3 ? Math.sqrt(lo * hi) : 0.5 * (lo + hi);
    if (Math.abs(tn - t) <= 2 * Number.EPSILON * tn || hi - lo <= 2 * Number.EPSILON * hi) return tn;
    t = tn;
  }
  return t;
}
