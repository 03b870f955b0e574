// The WGSL rule table: for every IR op, how the instance-kernel generator treats it — an element
// expression fused into its consumers ("view"), a private scalar, a contraction or reduction that
// writes a scratch slot, or a construct with its own emitter. A new op does not compile until it
// has an entry here.

import { LOWP_WGSL, STORAGE_WGSL } from '../../../core/lowp.js';
import type { OpKind } from '../../ir/ops.js';

export type WgslClass =
  /** element expression, fused into consumers (materialized only when shared or heavy) */
  | 'view'
  /** pure index remapping of one operand: always cheap to recompute */
  | 'remap'
  /** computed per output element with an inner loop (matmul, matvec, einsum, axis reductions) */
  | 'contraction'
  /** whole-tensor reduction to a scalar through workgroup memory */
  | 'reduction'
  /** integer scalar arithmetic (private, uniform) */
  | 'int'
  /** special emitter (loops, solves, concat, tuples, leaves) */
  | 'special';

export const wgslClass: Record<OpKind, WgslClass> = {
  param: 'special', const: 'view', eps: 'view', iconst: 'int', fill: 'remap', eye: 'remap', iota: 'remap', dim: 'int',
  iadd: 'int', isub: 'int', imul: 'int', imin: 'int', imax: 'int', idiv: 'int', imod: 'int',
  itof: 'view', ftoi: 'int',
  neg: 'view', exp: 'view', log: 'view', sqrt: 'view', abs: 'view', sign: 'view', sin: 'view', cos: 'view',
  tanh: 'view', sigmoid: 'view', not: 'view', half: 'view', bfloat: 'view',
  add: 'view', sub: 'view', mul: 'view', div: 'view', pow: 'view', maximum: 'view', minimum: 'view', atan2: 'view', hypot: 'view',
  lt: 'view', le: 'view', gt: 'view', ge: 'view', eq: 'view', ne: 'view', and: 'view', or: 'view',
  select: 'view',
  matmul: 'contraction', matvec: 'contraction', dot: 'reduction', outer: 'view', transpose: 'remap',
  einsum: 'contraction',
  sum: 'reduction', rmax: 'reduction', rmin: 'reduction', maxloc: 'int', minloc: 'int',
  diag: 'remap', diagvec: 'remap', tril: 'remap', triu: 'remap',
  reshape: 'remap', slice: 'remap', pad: 'remap', concat: 'special',
  index: 'view', setindex: 'view', getcol: 'remap', setcol: 'view', getrow: 'remap', setrow: 'view',
  solve: 'special', trisolve: 'special',
  // spectral ops are lowered to loops by the expand stage; the code generator refuses them
  eigh: 'special', svd: 'special', expm: 'special', symfun: 'special', polar: 'special', heigh: 'special', householder: 'special',
  loop: 'special', opt: 'special', root: 'special', custom: 'special', proj: 'special', nograd: 'remap',
  // an element expression of its flat index (Philox per element: heavy, so shared uses materialize)
  rand: 'view',
  // a real branch: if/else on a workgroup-uniform flag
  cond: 'special',
};

/** WGSL for an elementwise op on already-formatted operand expressions. */
export function elementwise(op: OpKind, a: string[]): string {
  const [x, y, z] = a;
  switch (op) {
    case 'neg': return `(-${x})`;
    case 'exp': return `exp(${x})`;
    case 'log': return `log(${x})`;
    case 'sqrt': return `sqrt(${x})`;
    case 'abs': return `abs(${x})`;
    case 'sign': return `sign(${x})`;
    case 'sin': return `sin(${x})`;
    case 'cos': return `cos(${x})`;
    // tanh(x) for |x| > 15 is ±1 in f32; clamping avoids exp overflow inside some tanh lowerings
    case 'tanh': return `tanh(clamp(${x}, -15.0, 15.0))`;
    case 'sigmoid': return `sigm(${x})`;
    case 'half': return `rf16(${x})`;
    case 'bfloat': return `rbf16(${x})`;
    case 'not': return `select(0.0, 1.0, ${x} == 0.0)`;
    case 'add': return `(${x} + ${y})`;
    case 'sub': return `(${x} - ${y})`;
    case 'mul': return `(${x} * ${y})`;
    case 'div': return `(${x} / ${y})`;
    case 'pow': return `powf(${x}, ${y})`;
    case 'maximum': return `max(${x}, ${y})`;
    case 'minimum': return `min(${x}, ${y})`;
    case 'atan2': return `atan2f(${x}, ${y})`;
    case 'hypot': return `hypotf(${x}, ${y})`;
    case 'lt': return `select(0.0, 1.0, ${x} < ${y})`;
    case 'le': return `select(0.0, 1.0, ${x} <= ${y})`;
    case 'gt': return `select(0.0, 1.0, ${x} > ${y})`;
    case 'ge': return `select(0.0, 1.0, ${x} >= ${y})`;
    case 'eq': return `select(0.0, 1.0, ${x} == ${y})`;
    case 'ne': return `select(0.0, 1.0, ${x} != ${y})`;
    case 'and': return `select(0.0, 1.0, ${x} != 0.0 && ${y} != 0.0)`;
    case 'or': return `select(0.0, 1.0, ${x} != 0.0 || ${y} != 0.0)`;
    case 'select': return `select(${z}, ${y}, ${x} != 0.0)`;
    default: throw new Error(`not an elementwise op: ${op}`);
  }
}

export function intOp(op: OpKind, x: string, y: string): string {
  switch (op) {
    case 'iadd': return `(${x} + ${y})`;
    case 'isub': return `(${x} - ${y})`;
    case 'imul': return `(${x} * ${y})`;
    case 'imin': return `min(${x}, ${y})`;
    case 'imax': return `max(${x}, ${y})`;
    case 'idiv': return `idivf(${x}, ${y})`;
    case 'imod': return `imodf(${x}, ${y})`;
    default: throw new Error(`not an int op: ${op}`);
  }
}

/** A WGSL f32 literal. */
export function f32lit(v: number): string {
  // WGSL rejects non-finite constant expressions, so these are built at run time (ui(3) is 0)
  if (Number.isNaN(v)) return 'fnan()';
  if (v === Infinity) return 'finf()';
  if (v === -Infinity) return '(-finf())';
  // finite constants beyond f32's range saturate (1e300 * 0 must stay 0, as in f64)
  if (v > 3.4028234e38) return '3.4028234e38';
  if (v < -3.4028234e38) return '-3.4028234e38';
  if (v !== 0 && Math.abs(v) < 1.1754944e-38) return '0.0';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return `${v}.0`;
  const s = v.toExponential(8);
  return s.includes('e') ? s.replace('e+', 'e') : s;
}

/** Workgroup reductions with subgroup operations: one subgroup reduction, one value per subgroup
 *  in workgroup memory, two barriers (instead of log₂(WG) + 2 for the tree). Subgroups of a 1-D
 *  workgroup are taken to be runs of consecutive invocations, as Vulkan drivers lay them out;
 *  the backend parity tests check it on every adapter CI and benchmarks run on. */
export function subgroupReductions(): string {
  const red = (name: string, sg: string, comb: (a: string, b: string) => string, init: string) => `
fn ${name}(v: f32, lid: u32) -> f32 {
  let s = ${sg}(v);
  if (sg_lane == 0u) { red[lid / sg_size] = s; }
  workgroupBarrier();
  var r: f32 = ${init};
  let parts = (WG + sg_size - 1u) / sg_size;
  for (var i = 0u; i < parts; i = i + 1u) { r = ${comb('r', 'red[i]')}; }
  workgroupBarrier();
  return r;
}`;
  const argmax = `
fn wg_argmax(v: f32, i: i32, lid: u32) -> i32 {
  let m = subgroupMax(v);
  let c = subgroupMin(select(2147483647, i, v == m));
  if (sg_lane == 0u) { red[lid / sg_size] = m; redi[lid / sg_size] = c; }
  workgroupBarrier();
  var bv: f32 = red[0];
  var bi: i32 = redi[0];
  let parts = (WG + sg_size - 1u) / sg_size;
  for (var k = 1u; k < parts; k = k + 1u) {
    if (red[k] > bv || (red[k] == bv && redi[k] < bi)) { bv = red[k]; bi = redi[k]; }
  }
  workgroupBarrier();
  return bi;
}`;
  return [
    argmax,
    red('wg_sum', 'subgroupAdd', (a, b) => `${a} + ${b}`, '0.0'),
    red('wg_max', 'subgroupMax', (a, b) => `max(${a}, ${b})`, '-finf()'),
    red('wg_min', 'subgroupMin', (a, b) => `min(${a}, ${b})`, 'finf()'),
  ].join('\n');
}

const TREE_REDUCTIONS = `
// index of the largest value (ties: the smaller index)
fn wg_argmax(v: f32, i: i32, lid: u32) -> i32 {
  red[lid] = v;
  redi[lid] = i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      let a = red[lid];
      let b = red[lid + s];
      if (b > a || (b == a && redi[lid + s] < redi[lid])) { red[lid] = b; redi[lid] = redi[lid + s]; }
    }
    workgroupBarrier();
  }
  let r = redi[0];
  workgroupBarrier();
  return r;
}
fn wg_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wg_max(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wg_min(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = min(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;

export function reductionHelpers(subgroups: boolean): string {
  return subgroups ? subgroupReductions() : TREE_REDUCTIONS;
}

/** Seeded random numbers (core/philox.ts, the same steps in u32 arithmetic): Philox4x32-10 and the
 *  transforms of rand (f32: the top 24 bits of x0) and randn (Box–Muller's cosine half; −ln u₁ as
 *  a series in v = 1 − u₁ for v ≤ 1/4, where u₁ itself would round v away in f32; the cosine after
 *  an exact reduction of x1 in quarter turns). Included in kernels that use rand. */
export const RANDOM_WGSL = `
// (hi, lo) of the 64-bit product of two u32, by 16-bit halves
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let aL = a & 0xffffu; let aH = a >> 16u; let bL = b & 0xffffu; let bH = b >> 16u;
  let lh = aL * bH; let hl = aH * bL;
  let mid = ((aL * bL) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2<u32>(aH * bH + (lh >> 16u) + (hl >> 16u) + (mid >> 16u), a * b);
}
// Philox4x32-10 (Salmon et al., SC11; Random123)
fn philox10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var r = 0; r < 10; r = r + 1) {
    if (r > 0) { k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u); }
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}
// element e of rand (kind 0u) or randn (kind 1u)
fn matc_rand(kind: u32, key: i32, stream: i32, e: i32) -> f32 {
  let x = philox10(vec4<u32>(u32(e), u32(stream), kind, 0u), vec2<u32>(u32(key), 0u));
  if (kind == 0u) { return f32(x.x >> 8u) * 5.9604644775390625e-8; }
  let w = ~x.x;
  var nl: f32;
  if (w <= 0x40000000u) {
    let v = f32(w) * 2.3283064365386963e-10;
    var s: f32 = 1.0 / 12.0;
    for (var k = 11; k >= 1; k = k - 1) { s = 1.0 / f32(k) + v * s; }
    nl = v * s;
  } else {
    nl = -log((f32(x.x) + 1.0) * 2.3283064365386963e-10);
  }
  let q = ((x.y + 0x20000000u) >> 30u) & 3u;
  let t = 6.283185307179586 * (f32(bitcast<i32>(x.y - q * 0x40000000u)) * 2.3283064365386963e-10);
  var c: f32;
  switch q {
    case 0u: { c = cos(t); }
    case 1u: { c = -sin(t); }
    case 2u: { c = -cos(t); }
    default: { c = sin(t); }
  }
  return sqrt(2.0 * nl) * c;
}
`;

export const WGSL_HELPERS = `
fn ui(k: i32) -> i32 { return U.v[k / 4][k % 4]; }
fn finf() -> f32 { return bitcast<f32>(0x7f800000u | u32(ui(3))); }
fn fnan() -> f32 { return bitcast<f32>(0x7fc00000u | u32(ui(3))); }
// atan2 with 0 at the origin (WGSL leaves atan2(0, 0) undefined); hypot scaled by the
// larger magnitude so that squares of f32 values cannot overflow
fn atan2f(y: f32, x: f32) -> f32 { if (x == 0.0 && y == 0.0) { return 0.0; } return atan2(y, x); }
fn hypotf(a: f32, b: f32) -> f32 { let m = max(abs(a), abs(b)); if (m == 0.0 || m > 3.0e38) { return m; } let x = a / m; let y = b / m; return m * sqrt(x * x + y * y); }
${LOWP_WGSL.trim()}
fn sigm(x: f32) -> f32 { return select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0); }
fn powf(a: f32, b: f32) -> f32 {
  if (b == 2.0) { return a * a; }
  if (b == 1.0) { return a; }
  if (b == 0.0) { return 1.0; }
  if (a >= 0.0) { return pow(a, b); }
  // negative base: defined for integer exponents only (IEEE pow semantics)
  if (floor(b) != b) { return fnan(); }
  let m = pow(-a, b);
  return select(m, -m, (i32(b) & 1) == 1);
}
// floor division and the floored remainder (core/intops.ts): div(a, 0) = 0, mod(a, 0) = a; WGSL's
// own a / 0 = a, a % 0 = 0 and −2³¹ / −1 = −2³¹ are overridden or kept accordingly
fn idivf(a: i32, b: i32) -> i32 { let q = a / b; return select(select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0))), 0, b == 0); }
fn imodf(a: i32, b: i32) -> i32 { let r = a % b; return select(select(r, r + b, r != 0 && ((r < 0) != (b < 0))), a, b == 0); }
fn ftoi(x: f32) -> i32 { if (x != x) { return 0; } return i32(clamp(floor(x), -2147483648.0, 2147483520.0)); }
// every invocation holds the same int; make it provably uniform (loop bounds from data)
fn uniform_int(v: i32, lid: u32) -> i32 {
  if (lid == 0u) { wint = v; }
  return workgroupUniformLoad(&wint);
}
// all threads hold the same flag; make it provably uniform for the loop exit
fn uniform_flag(v: f32, lid: u32) -> i32 {
  if (lid == 0u) { wflag = select(0, 1, v != 0.0); }
  return workgroupUniformLoad(&wflag);
}
`;

/** Reading and writing 16-bit inputs and results (KernelIO.half): the formats' codecs and the
 *  16 bits of value e of an input run starting at word `base` (two values a word, low half first). */
export const HALF_IO_WGSL = `${STORAGE_WGSL.trim()}
fn in_half(base: i32, e: i32) -> u32 {
  let w = bitcast<u32>(IN[base + (e >> 1u)]);
  return (w >> (u32(e & 1) * 16u)) & 0xffffu;
}
`;
