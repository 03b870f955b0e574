// Integer arithmetic of the language, the one definition every backend follows (the reference
// interpreter and constant folding call these; the JavaScript and WebAssembly code generators and
// the WGSL helpers spell the same rules, and test/branches-int.test.ts checks them against each
// other). Ints are 32-bit two's complement:
//
//   a + b, a − b, a · b   wrap modulo 2³² (WebAssembly's i32 and WGSL's i32 do; JavaScript needs
//                         `| 0` and Math.imul)
//   div(a, b) = ⌊a / b⌋   floor division (rounds towards −∞: div(−7, 2) = −4)
//   mod(a, b) = a − b·div(a, b)
//                         the floored remainder: it has the sign of b, so for b > 0 it lies in
//                         [0, b) (mod(−7, 2) = 1), the convention of Python and of ⌊·⌋
//   div(a, 0) = 0, mod(a, 0) = a
//                         defined, never a trap or a NaN: a = b·div + mod still holds
//   div(−2³¹, −1) = −2³¹, mod(−2³¹, −1) = 0
//                         the one overflowing quotient wraps (WebAssembly's i32.div_s would trap)
//   floor(x)              ⌊x⌋ saturated to [−2³¹, 2³¹ − 1]; NaN gives 0 (runtime/cpu/helpers ftoi)

export const INT_MIN = -2147483648;

/** ⌊a / b⌋ with div(a, 0) = 0 and div(−2³¹, −1) = −2³¹. For |a|, |b| < 2³¹ the double quotient's
 *  rounding error (≤ |a/b|·2⁻⁵³ < 2⁻²²/|b|) is below the distance 1/|b| from a non-integer quotient
 *  to the next integer, so Math.floor of it is exact. */
export function intDiv(a: number, b: number): number {
  if (b === 0) return 0;
  return Math.floor(a / b) | 0;
}

/** a − b·⌊a / b⌋ (the sign of b), with mod(a, 0) = a. */
export function intMod(a: number, b: number): number {
  if (b === 0) return a;
  return (((a % b) + b) % b) | 0;
}

export const intAdd = (a: number, b: number): number => (a + b) | 0;
export const intSub = (a: number, b: number): number => (a - b) | 0;
export const intMul = (a: number, b: number): number => Math.imul(a, b);
