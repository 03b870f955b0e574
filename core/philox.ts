// Seeded random numbers: the counter-based generator Philox4x32-10 (Salmon, Moraes, Dror, Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC11; Random123) and the transforms of the
// language's rand and randn. One definition for the reference interpreter and the compiled CPU
// program (runtime/cpu); the WGSL instance kernel spells the same steps in u32 arithmetic
// (compiler/codegen/wgsl/ops.ts, RANDOM_WGSL), and test/branches-random.test.ts checks both against
// the Random123 known-answer vectors and against each other.
//
// Element e (row-major flat index) of rand(key, …) / randn(key, …) with stream s:
//
//   (x0, x1, x2, x3) = Philox4x32-10(counter = (e, s, kind, 0), key = (key, 0))
//                       kind = 0 for rand, 1 for randn; key and s as u32 (two's complement)
//
//   rand   f64: u = (x0 · 2²¹ + ⌊x1 / 2¹¹⌋) · 2⁻⁵³          53 bits, in [0, 1)
//          f32: u = ⌊x0 / 2⁸⌋ · 2⁻²⁴                         the top 24 bits of the same u, in [0, 1)
//               (functions that run in f32 — WebGPU, f32 storage, the interpreter's f32 rounding —
//               take this one, so a rounding to f32 can never give 1)
//   randn  z = √(−2 ln u₁) · cos(2π u₂),  u₁ = (x0 + 1) · 2⁻³² ∈ (0, 1],  u₂ = x1 · 2⁻³² ∈ [0, 1)
//               (Box–Muller, its cosine half; |z| ≤ √(64 ln 2) ≈ 6.66). The cosine is taken after
//               an exact reduction in turns (x1 = q·2³⁰ + r, |r| ≤ 2²⁹), and in f32 −ln u₁ is
//               summed as a series in v = 1 − u₁ = (2³² − 1 − x0)·2⁻³² for v ≤ 1/4, where forming
//               u₁ in f32 would lose v; so both precisions compute the same real number, to their
//               own rounding (and the accuracy of the platform's f32 log, cos, sin and sqrt).
//
// The u32 stream is bit-identical on every backend; rand's f32 value is the f64 value truncated
// to 24 bits. A batched call gives every instance the same numbers unless the key or stream
// differs per instance (an int state, a loop index): the instance index is not mixed in.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High and low 32 bits of the 64-bit product of two u32 (exact: 16-bit halves). */
function mulhilo(a: number, b: number): [number, number] {
  const lo = Math.imul(a, b) >>> 0;
  const aH = a >>> 16;
  const aL = a & 0xffff;
  const bH = b >>> 16;
  const bL = b & 0xffff;
  // a·b = aH·bH·2³² + (aH·bL + aL·bH)·2¹⁶ + aL·bL; every partial product < 2³², sums < 2⁵³
  const mid = aH * bL + aL * bH;
  const low = aL * bL;
  const carry = Math.floor((low + (mid % 65536) * 65536) / 4294967296);
  const hi = (aH * bH + Math.floor(mid / 65536) + carry) >>> 0;
  return [hi, lo];
}

/** Philox4x32 with `rounds` rounds (10 is Philox4x32-10): four u32 from a 128-bit counter and a
 *  64-bit key. */
export function philox4x32(ctr: readonly [number, number, number, number], key: readonly [number, number], rounds = 10): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((x) => x >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo(M0, c0);
    const [hi1, lo1] = mulhilo(M1, c2);
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

export type RandomKind = 'uniform' | 'normal';

/** The u32 words of element `e` of a rand (kind 0) or randn (kind 1) stream. */
export function randomWords(kind: RandomKind, key: number, stream: number, e: number): [number, number, number, number] {
  return philox4x32([e >>> 0, stream >>> 0, kind === 'uniform' ? 0 : 1, 0], [key >>> 0, 0]);
}

const TWO_PI = 2 * Math.PI;

/** cos(2π·x/2³²) for a u32 x, by an exact reduction in quarter turns: x = q·2³⁰ + r, |r| ≤ 2²⁹. */
export function cosTurns(x: number): number {
  const q = ((x + 0x20000000) >>> 30) & 3;
  const r = (x - q * 0x40000000) | 0; // in [−2²⁹, 2²⁹)
  const t = TWO_PI * r * 2 ** -32;
  return q === 0 ? Math.cos(t) : q === 1 ? -Math.sin(t) : q === 2 ? -Math.cos(t) : Math.sin(t);
}

/** Element `e` of rand (uniform [0, 1)) or randn (standard normal) with this key and stream, in
 *  f64 (`f32`: the value a function running in f32 computes, see above). */
export function randomValue(kind: RandomKind, key: number, stream: number, e: number, f32 = false): number {
  const [x0, x1] = randomWords(kind, key, stream, e);
  if (kind === 'uniform') return f32 ? (x0 >>> 8) * 2 ** -24 : (x0 * 2 ** 21 + (x1 >>> 11)) * 2 ** -53;
  const u1 = (x0 + 1) * 2 ** -32;
  const r = Math.sqrt(-2 * Math.log(u1));
  const z = r * cosTurns(x1);
  return f32 ? Math.fround(z) : z;
}
