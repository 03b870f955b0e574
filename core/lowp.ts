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
