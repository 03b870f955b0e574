// Shapes, dimensions and parameter counts of the STTP and SVDP layers of stdlib/sttp.mat
// (Obukhov et al., AISTATS 2021; seeds-math §3). The layers take their tensorisation as int
// families `n` (mode sizes) and `R` (TT ranks) and the static counts `K` (modes) and `Kout` (modes
// of d_out); `sttpShape` computes them the reference's way and `dims` is what a call passes:
//
//   const s = sttpShape(64, 128, 8, { kernel: 3 });          // a 64 × 128 × 3 × 3 conv kernel, r = 8
//   mod.fn('sttp_apply').forward({ PL, Pm, Pv, PR, S, X }, { dims: s.dims });
//
// Nothing here runs matc; the counts are the paper's formulas, which the tests hold against the
// parameterisation itself (the rank of the Jacobian of W) and against the paper's Tables 1–3.

/** The prime factors of n in ascending order, with multiplicity (tt_utils.prime_factors); [] for 1. */
export function primeFactors(n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`primeFactors: ${n} is not a positive integer`);
  const out: number[] = [];
  let m = n;
  for (let p = 2; p * p <= m; p++) {
    while (m % p === 0) {
      out.push(p);
      m /= p;
    }
  }
  if (m > 1) out.push(m);
  return out;
}

/** TT ranks R_k = min(∏_{j<k} n_j, ∏_{j≥k} n_j, r), k = 0 … K (tt_utils.get_ranks_tt). */
export function ttRanks(modes: readonly number[], r: number): number[] {
  const out: number[] = [];
  for (let k = 0; k <= modes.length; k++) {
    const left = modes.slice(0, k).reduce((a, b) => a * b, 1);
    const right = modes.slice(k).reduce((a, b) => a * b, 1);
    out.push(Math.min(left, right, r));
  }
  return out;
}

export type Spectrum = 'learned' | 'identity';

export interface SttpShape {
  /** rows and columns of W (a conv kernel's columns are C_in · k · k) */
  dOut: number;
  dIn: number;
  /** the rank cap r */
  rank: number;
  /** mode sizes: primes(d_out) ++ primes(C_in) [++ k·k]; a dimension of 1 is the single mode 1 */
  n: number[];
  /** TT ranks R_0 … R_K (R_0 = R_K = 1) */
  R: number[];
  K: number;
  Kout: number;
  /** the middle rank R_Kout = min(d_out, d_in, r): the number of singular values */
  middleRank: number;
  /** the dimensions and static values a call of an STTP function takes */
  dims: Record<string, number>;
}

/** The members of an int family as call dimensions: familyDims('n', [2, 3]) = { 'n[0]': 2, 'n[1]': 3 }. */
export function familyDims(name: string, values: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  values.forEach((v, i) => (out[`${name}[${i}]`] = v));
  return out;
}

/** The tensorisation of a d_out × d_in weight (opts.kernel = k: a conv kernel C_out × C_in × k × k
 *  with C_in = dIn, whose k·k spatial entries are one more mode, flatten_filter_dimensions). The
 *  reference gives a dimension of 1 no mode at all; here it is the mode 1, which leaves W and the
 *  DOF unchanged and keeps Kout ≥ 1 and K − Kout ≥ 1 (the layers' signatures need both). */
export function sttpShape(dOut: number, dIn: number, rank: number, opts: { kernel?: number } = {}): SttpShape {
  for (const [k, v] of [['dOut', dOut], ['dIn', dIn], ['rank', rank]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`sttpShape: ${k} = ${v} must be a positive integer`);
  }
  const k = opts.kernel;
  const out = dOut === 1 ? [1] : primeFactors(dOut);
  let inp = primeFactors(dIn);
  if (k !== undefined) inp = [...inp, k * k];
  if (inp.length === 0) inp = [1];
  const n = [...out, ...inp];
  const R = ttRanks(n, rank);
  const K = n.length;
  const Kout = out.length;
  const dims: Record<string, number> = { K, Kout, ...familyDims('n', n), ...familyDims('R', R) };
  return { dOut, dIn: dIn * (k === undefined ? 1 : k * k), rank, n, R, K, Kout, middleRank: R[Kout]!, dims };
}

export interface SttpParamShapes {
  /** reduced left cores 0 … Kout−2: (R_i n_i − R_{i+1}) × R_{i+1} */
  PL: number[][];
  /** the last left core: (R n) × R' (learned spectrum: full) or (R n − R') × R' (identity: reduced) */
  Pm: number[];
  /** the first right core (full): (n R') × R */
  Pv: number[];
  /** reduced right cores Kout+1 … K−1: (n_i R_{i+1} − R_i) × R_i */
  PR: number[][];
  /** the spectrum (learned only) */
  S?: number[];
}

/** The shapes of the parameters of sttp_apply (learned) or sttp_apply_c (identity). */
export function sttpParamShapes(s: SttpShape, spectrum: Spectrum = 'learned'): SttpParamShapes {
  const { n, R, K, Kout } = s;
  const PL: number[][] = [];
  for (let i = 0; i < Kout - 1; i++) PL.push([R[i]! * n[i]! - R[i + 1]!, R[i + 1]!]);
  const j = Kout - 1;
  const Pm = spectrum === 'learned' ? [R[j]! * n[j]!, R[Kout]!] : [R[j]! * n[j]! - R[Kout]!, R[Kout]!];
  const Pv = [n[Kout]! * R[Kout + 1]!, R[Kout]!];
  const PR: number[][] = [];
  for (let i = Kout + 1; i < K; i++) PR.push([n[i]! * R[i + 1]! - R[i]!, R[i]!]);
  return { PL, Pm, Pv, PR, ...(spectrum === 'learned' ? { S: [R[Kout]!] } : {}) };
}

/** Degrees of freedom of an STTP weight (paper, Prop. 2): Σ_k R_k n_k R_{k+1} − Σ_{k=1}^{K−1} R_k²
 *  with a learned spectrum, R_m(R_m + 1)/2 less with the identity one (R_m the middle rank). It is
 *  also the number of parameters the layer actually uses: the entries of the reduced frames, the
 *  strictly lower triangles of the two full ones (their other entries are ignored), and S. */
export function sttpDof(s: SttpShape, spectrum: Spectrum = 'learned'): number {
  let d = 0;
  for (let k = 0; k < s.K; k++) d += s.R[k]! * s.n[k]! * s.R[k + 1]!;
  for (let k = 1; k < s.K; k++) d -= s.R[k]! ** 2;
  const m = s.middleRank;
  return spectrum === 'learned' ? d : d - (m * (m + 1)) / 2;
}

/** Degrees of freedom of an SVDP weight (d_out × d_in, rank r' = min(d_out, d_in, r)):
 *  r'(d_out + d_in) − r'² learned, r'(d_out + d_in) − r'(3r' + 1)/2 identity. */
export function svdpDof(dOut: number, dIn: number, rank: number, spectrum: Spectrum = 'learned'): number {
  const r = Math.min(dOut, dIn, rank);
  return spectrum === 'learned' ? r * (dOut + dIn) - r * r : r * (dOut + dIn) - (r * (3 * r + 1)) / 2;
}

/** The entries the parameters of an STTP layer hold (full frames keep their unused upper triangle,
 *  as the reference's StiefelHouseholder does). */
export function sttpParamCount(s: SttpShape, spectrum: Spectrum = 'learned'): number {
  const p = sttpParamShapes(s, spectrum);
  const size = (sh: readonly number[]) => sh.reduce((a, b) => a * b, 1);
  return p.PL.reduce((a, sh) => a + size(sh), 0) + size(p.Pm) + size(p.Pv) + p.PR.reduce((a, sh) => a + size(sh), 0) + (p.S ? size(p.S) : 0);
}

export interface LayerCount {
  name: string;
  /** entries of the original weight */
  numel: number;
  /** degrees of freedom of its parameterisation (numel when it is not reparameterised) */
  dof: number;
  /** parameters that are not reparameterised (biases, normalisation), counted on both sides */
  extra: number;
}

/** The paper's compression Z = 100 · Σ_l (DOF_l + C_l) / Σ_l (numel_l + C_l), in percent. */
export function compression(layers: readonly LayerCount[]): number {
  let num = 0;
  let den = 0;
  for (const l of layers) {
    num += l.dof + l.extra;
    den += l.numel + l.extra;
  }
  return (100 * num) / den;
}
