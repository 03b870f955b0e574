// Rounding to the low-precision formats of the language's `f16(x)` and `bf16(x)` (IEEE 754
// binary16, and bfloat16 = binary32's exponent with 8 significand bits), the value kept in the
// working precision (f64 on the CPU reference, f32 in WebGPU kernels): low-precision storage is
// modelled exactly, the arithmetic between two roundings is not (it happens in the working
// precision, as a GPU's half-precision products accumulate in f32).
//
// A format with p significand bits (the implicit one included), smallest normal exponent emin
// and largest emax has, for |x| in [2^e, 2^(e+1)), the spacing q = 2^(max(e, emin) − (p − 1))
// (below 2^emin the subnormals share the spacing of the smallest binade). The rounded value is
// q · rne(|x| / q), rne rounding to nearest with ties to the even integer; |x| / q and the product
// are exact (scaling by a power of two, far from f64's range limits). IEEE overflow: a rounded
// magnitude ≥ 2^(emax+1) becomes ∞ (the midpoint above the largest finite value rounds up, its
// significand being odd). NaN, ±∞ and ±0 are returned as they are (the sign of zero kept).

export interface LowpFormat {
  readonly name: string;
  /** significand bits, the implicit leading one included */
  readonly p: number;
  readonly emin: number;
  readonly emax: number;
}

export const BINARY16: LowpFormat = { name: 'f16', p: 11, emin: -14, emax: 15 };
export const BFLOAT16: LowpFormat = { name: 'bf16', p: 8, emin: -126, emax: 127 };

/** Round half to even of a non-negative number below 2^52 (exact in f64). */
function rne(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function roundTo(fmt: LowpFormat, x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  // Math.log2 may be one off near powers of two: fix e so that 2^e ≤ a < 2^(e+1)
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const q = 2 ** (Math.max(e, fmt.emin) - (fmt.p - 1));
  const r = rne(a / q) * q;
  const m = r >= 2 ** (fmt.emax + 1) ? Infinity : r;
  return x < 0 ? -m : m;
}

export const roundF16 = (x: number): number => roundTo(BINARY16, x);
export const roundBF16 = (x: number): number => roundTo(BFLOAT16, x);

/** The same roundings in WGSL on f32 values (compiler/codegen/wgsl/ops.ts adds them to every
 *  kernel). binary16: the spacing q from the f32 exponent field, |x|·q⁻¹ (exact), WGSL's `round` (ties to even per
 *  the WGSL spec), ∞ from `finf()` above 65 504 + half a spacing. bfloat16: binary32 rounded to
 *  its upper 16 bits, ties to even, a carry into the exponent giving ∞ by itself. */
export const LOWP_WGSL = `
fn rf16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let ex = i32((b >> 23u) & 0xffu);
  if (ex == 255 || (b & 0x7fffffffu) == 0u) { return x; }
  let a = abs(x);
  if (a >= 65520.0) { return select(finf(), -finf(), x < 0.0); }
  let e = max(ex - 127, -14);
  // q = 2^(e − 10) and its inverse: products by powers of two are exact (WGSL's division is not)
  let q = bitcast<f32>(u32(e - 10 + 127) << 23u);
  let qi = bitcast<f32>(u32(10 - e + 127) << 23u);
  let r = round(a * qi) * q;
  return select(r, -r, x < 0.0);
}
fn rbf16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7f800000u) == 0x7f800000u) { return x; }
  let r = (b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u;
  return bitcast<f32>(r);
}
`;

// ---- 16-bit storage (compiler/opt/lowp-storage.ts) ----------------------------------------------
// A value the program only reads through a rounding, or only produces as one, travels in 16 bits:
// two values to a 32-bit word, the first in the low half. Encoding rounds (the identity on the
// values the analysis proves), decoding is exact.

/** A 16-bit storage format of a kernel input or output. */
export type StorageFormat = 'f16' | 'bf16';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** The 16 bits of x rounded to the format (ties to even; ±∞ past the range; NaN a quiet NaN). */
export function encodeHalf(fmt: StorageFormat, x: number): number {
  if (fmt === 'bf16') {
    if (Number.isNaN(x)) return 0x7fc0;
    f32buf[0] = roundTo(BFLOAT16, x); // exact in f32: 8 significand bits, f32's exponent range
    return u32buf[0]! >>> 16;
  }
  if (Number.isNaN(x)) return 0x7e00;
  const r = roundTo(BINARY16, x);
  const s = r < 0 || Object.is(r, -0) ? 0x8000 : 0;
  const a = Math.abs(r);
  if (a === Infinity) return s | 0x7c00;
  if (a < 2 ** -14) return s | (a * 2 ** 24); // subnormal (or zero): a multiple of 2⁻²⁴
  const e = Math.floor(Math.log2(a));
  const ex = 2 ** e > a ? e - 1 : 2 ** (e + 1) <= a ? e + 1 : e;
  return s | ((ex + 15) << 10) | ((a / 2 ** ex - 1) * 1024);
}

/** The value of 16 bits in the format. */
export function decodeHalf(fmt: StorageFormat, h: number): number {
  if (fmt === 'bf16') {
    u32buf[0] = (h & 0xffff) << 16;
    return f32buf[0]!;
  }
  const s = h & 0x8000 ? -1 : 1;
  const ex = (h >> 10) & 31;
  const m = h & 1023;
  if (ex === 0) return s * m * 2 ** -24;
  if (ex === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (ex - 15);
}

/** n values of src from `from`, rounded to a 16-bit format and paired into words[at …] (the first
 *  of a pair in the low half; a last odd value's pair is zero). */
export function encodeHalfRun(fmt: StorageFormat, src: ArrayLike<number>, from: number, n: number, words: Uint32Array, at: number): void {
  for (let k = 0; k + 1 < n; k += 2) words[at + (k >> 1)] = (encodeHalf(fmt, src[from + k]!) | (encodeHalf(fmt, src[from + k + 1]!) << 16)) >>> 0;
  if (n % 2) words[at + (n >> 1)] = encodeHalf(fmt, src[from + n - 1]!);
}

/** B instances of n 16-bit values each (an instance's run padded to a word) as f32 values. */
export function decodeHalfRun(fmt: StorageFormat, data: Float32Array, n: number, B: number): Float32Array {
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const W = Math.ceil(n / 2);
  const out = new Float32Array(n * B);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < n; k++) {
      const w = words[b * W + (k >> 1)]!;
      out[b * n + k] = decodeHalf(fmt, k & 1 ? w >>> 16 : w & 0xffff);
    }
  }
  return out;
}

/** WGSL of the 16-bit storage formats: decoding is exact; encoding rounds first (rf16 / rbf16
 *  above), then takes the bits. A binary16 subnormal (below 2⁻¹⁴) is an f32 normal number, a
 *  multiple of 2⁻²⁴: its bits are that multiple. */
export const STORAGE_WGSL = `
fn h16_dec(h: u32) -> f32 {
  let e = (h >> 10u) & 31u;
  let m = h & 1023u;
  var v = bitcast<f32>(((e + 112u) << 23u) | (m << 13u));
  if (e == 0u) { v = f32(m) * 5.9604644775390625e-8; }
  if (e == 31u) { v = bitcast<f32>(0x7f800000u | (m << 13u)); }
  return select(v, -v, (h & 0x8000u) != 0u);
}
fn h16_enc(x: f32) -> u32 {
  let b = bitcast<u32>(rf16(x));
  let s = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return s | 0x7e00u; }
  if (a == 0x7f800000u) { return s | 0x7c00u; }
  if (a < 0x38800000u) { return s | u32(bitcast<f32>(a) * 16777216.0); }
  return s | ((((a >> 23u) - 112u) << 10u) | ((a >> 13u) & 1023u));
}
fn b16_dec(h: u32) -> f32 { return bitcast<f32>(h << 16u); }
fn b16_enc(x: f32) -> u32 { return bitcast<u32>(rbf16(x)) >> 16u; }
`;
