// f64 kernels of the CPU reference backend, one per IR op. Values are row-major Float64Arrays
// with concrete shapes; integers are plain numbers; tuples are arrays. These kernels are the
// oracle the WebGPU backend is compared against, so they favour clarity over speed.

import { roundBF16, roundF16 } from '../../core/lowp.js';
import type { Node } from '../../compiler/ir/node.js';
import type { OpKind } from '../../compiler/ir/ops.js';
import { parseEinsum } from '../../compiler/ir/ops.js';
import type { Dim } from '../../core/dims.js';
import { InternalError } from '../../core/errors.js';
import { emptyArgCheck, runCheckError } from '../../core/run-checks.js';
import { ftoi, oob } from './helpers.js';
import { intAdd, intDiv, intMod, intMul, intSub } from '../../core/intops.js';
import { randomValue, type RandomKind } from '../../core/philox.js';

export interface T {
  shape: number[];
  data: Float64Array;
}

export type V = T | number | V[];

export interface KernelCtx {
  dim(d: Dim): number;
  /** the machine epsilon of the arithmetic (2⁻⁵², or 2⁻²³ when rounding to f32) */
  eps: number;
}

export function t(shape: number[], data?: Float64Array): T {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: data ?? new Float64Array(n) };
}

export function scalar(x: number): T {
  return { shape: [], data: Float64Array.of(x) };
}

function asT(v: V, what: string): T {
  if (typeof v === 'number' || Array.isArray(v)) throw new InternalError(`CPU kernel ${what}: expected a tensor`);
  return v;
}

function asI(v: V, what: string): number {
  if (typeof v !== 'number') throw new InternalError(`CPU kernel ${what}: expected an int`);
  return v;
}

function map1(a: T, f: (x: number) => number): T {
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(a.data[i]!);
  return { shape: a.shape, data: out };
}

function map2(a: T, b: T, f: (x: number, y: number) => number): T {
  if (a.shape.length === 0 && b.shape.length > 0) {
    const x = a.data[0]!;
    return map1(b, (y) => f(x, y));
  }
  if (b.shape.length === 0) {
    const y = b.data[0]!;
    return map1(a, (x) => f(x, y));
  }
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(a.data[i]!, b.data[i]!);
  return { shape: a.shape, data: out };
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

function unaryK(f: (x: number) => number) {
  return (_n: Node, [a]: V[]): V => map1(asT(a!, 'unary'), f);
}

function binaryK(f: (x: number, y: number) => number) {
  return (_n: Node, [a, b]: V[]): V => map2(asT(a!, 'binary'), asT(b!, 'binary'), f);
}

function intK(f: (x: number, y: number) => number) {
  return (_n: Node, [a, b]: V[]): V => f(asI(a!, 'int'), asI(b!, 'int'));
}

function matmul(a: T, b: T): T {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  const out = new Float64Array(m * n);
  const A = a.data;
  const B = b.data;
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = A[i * k + p]!;
      if (aip === 0) continue;
      const bo = p * n;
      const oo = i * n;
      for (let j = 0; j < n; j++) out[oo + j]! += aip * B[bo + j]!;
    }
  }
  return { shape: [m, n], data: out };
}

function reduceAxis(a: T, axis: number, init: number, f: (acc: number, x: number) => number): T {
  if (axis < 0) {
    let acc = init;
    for (let i = 0; i < a.data.length; i++) acc = f(acc, a.data[i]!);
    return scalar(acc);
  }
  const shape = a.shape.filter((_, i) => i !== axis);
  const outer = a.shape.slice(0, axis).reduce((x, y) => x * y, 1);
  const len = a.shape[axis]!;
  const inner = a.shape.slice(axis + 1).reduce((x, y) => x * y, 1);
  const out = new Float64Array(outer * inner).fill(init);
  for (let o = 0; o < outer; o++)
    for (let l = 0; l < len; l++)
      for (let i = 0; i < inner; i++) out[o * inner + i] = f(out[o * inner + i]!, a.data[(o * len + l) * inner + i]!);
  return { shape, data: out };
}

function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Copies a box of `src` (start/size) into a box of `dst` (start), both row-major. */
function copyBox(src: T, srcStart: number[], dst: T, dstStart: number[], size: number[]): void {
  const ss = strides(src.shape);
  const ds = strides(dst.shape);
  const r = size.length;
  if (size.some((x) => x === 0)) return;
  const idx = new Array<number>(r).fill(0);
  for (;;) {
    let so = 0;
    let dof = 0;
    for (let i = 0; i < r; i++) {
      so += (srcStart[i]! + idx[i]!) * ss[i]!;
      dof += (dstStart[i]! + idx[i]!) * ds[i]!;
    }
    dst.data[dof] = src.data[so]!;
    let i = r - 1;
    while (i >= 0) {
      idx[i]!++;
      if (idx[i]! < size[i]!) break;
      idx[i] = 0;
      i--;
    }
    if (i < 0) break;
  }
  if (r === 0) dst.data[0] = src.data[0]!;
}

/** LU with partial pivoting; solves A X = B. Exactly singular pivots are replaced by a tiny
 *  multiple of the largest pivot so the result stays finite, and rcond reports 0. */
export function luSolve(a: T, b: T): [T, number] {
  const n = a.shape[0]!;
  const nrhs = b.shape.length === 1 ? 1 : b.shape[1]!;
  const M = Float64Array.from(a.data);
  const X = Float64Array.from(b.data);
  let maxPiv = 0;
  let minPiv = Infinity;
  let singular = false;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(M[i]!));
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]!) > Math.abs(M[p * n + c]!)) p = r;
    if (p !== c) {
      for (let j = 0; j < n; j++) [M[c * n + j], M[p * n + j]] = [M[p * n + j]!, M[c * n + j]!];
      for (let j = 0; j < nrhs; j++) [X[c * nrhs + j], X[p * nrhs + j]] = [X[p * nrhs + j]!, X[c * nrhs + j]!];
    }
    let piv = M[c * n + c]!;
    if (!(Math.abs(piv) > 1e-300 * Math.max(1, scale))) {
      singular = true;
      piv = (scale || 1) * 1e-15;
      M[c * n + c] = piv;
    }
    maxPiv = Math.max(maxPiv, Math.abs(piv));
    minPiv = Math.min(minPiv, Math.abs(piv));
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c]! / piv;
      if (f === 0) continue;
      M[r * n + c] = f;
      for (let j = c + 1; j < n; j++) M[r * n + j]! -= f * M[c * n + j]!;
      for (let j = 0; j < nrhs; j++) X[r * nrhs + j]! -= f * X[c * nrhs + j]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    for (let j = 0; j < nrhs; j++) {
      let s = X[c * nrhs + j]!;
      for (let k = c + 1; k < n; k++) s -= M[c * n + k]! * X[k * nrhs + j]!;
      X[c * nrhs + j] = s / M[c * n + c]!;
    }
  }
  const rcond = singular || n === 0 ? (n === 0 ? 1 : 0) : minPiv / maxPiv;
  return [{ shape: b.shape, data: X }, rcond];
}

/** Triangular solve: op(T) X = B (left) or X op(T) = B (right). */
export function triSolve(tm: T, b: T, lower: boolean, trans: boolean, unit: boolean, left: boolean): T {
  const n = tm.shape[0]!;
  const get = (i: number, j: number) => (trans ? tm.data[j * n + i]! : tm.data[i * n + j]!);
  const isLower = lower !== trans;
  if (!left) {
    // X op(T) = B  ⇔  op(T)ᵀ Xᵀ = Bᵀ
    const [m] = b.shape as [number, number];
    const bt = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) bt[j * m + i] = b.data[i * n + j]!;
    const xt = triSolve(tm, { shape: [n, m], data: bt }, lower, !trans, unit, true);
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = xt.data[j * m + i]!;
    return { shape: b.shape, data: out };
  }
  const nrhs = b.shape.length === 1 ? 1 : b.shape[1]!;
  const X = Float64Array.from(b.data);
  const order = isLower ? [...Array(n).keys()] : [...Array(n).keys()].reverse();
  for (const i of order) {
    for (let j = 0; j < nrhs; j++) {
      let s = X[i * nrhs + j]!;
      if (isLower) for (let k = 0; k < i; k++) s -= get(i, k) * X[k * nrhs + j]!;
      else for (let k = i + 1; k < n; k++) s -= get(i, k) * X[k * nrhs + j]!;
      X[i * nrhs + j] = unit ? s : s / get(i, i);
    }
  }
  return { shape: b.shape, data: X };
}

function einsum(spec: string, ops: T[]): T {
  const { inputs, output } = parseEinsum(spec);
  const size = new Map<string, number>();
  inputs.forEach((ix, i) => [...ix].forEach((c, j) => size.set(c, ops[i]!.shape[j]!)));
  const all = [...new Set([...output, ...inputs.join('')])];
  const outShape = [...output].map((c) => size.get(c)!);
  const out = t(outShape);
  const pos = new Map(all.map((c, i) => [c, i]));
  const idx = new Array<number>(all.length).fill(0);
  const dims = all.map((c) => size.get(c)!);
  if (dims.some((d) => d === 0)) return out;
  const ost = strides(outShape);
  const ist = ops.map((o) => strides(o.shape));
  for (;;) {
    let prod = 1;
    for (let i = 0; i < ops.length && prod !== 0; i++) {
      let off = 0;
      const ix = inputs[i]!;
      for (let j = 0; j < ix.length; j++) off += idx[pos.get(ix[j]!)!]! * ist[i]![j]!;
      prod *= ops[i]!.data[off]!;
    }
    let oo = 0;
    for (let j = 0; j < output.length; j++) oo += idx[pos.get(output[j]!)!]! * ost[j]!;
    out.data[oo]! += prod;
    let k = all.length - 1;
    while (k >= 0) {
      idx[k]!++;
      if (idx[k]! < dims[k]!) break;
      idx[k] = 0;
      k--;
    }
    if (k < 0) break;
  }
  return out;
}

const unsupported = (what: string) => (): V => {
  throw new InternalError(`CPU backend: ${what} must be expanded before evaluation`);
};

export const cpuKernels: Record<OpKind, (n: Node, args: V[], cx: KernelCtx) => V> = {
  param: unsupported('param'),
  const: (n) => scalar(n.attrs.value as number),
  eps: (_n, _a, cx) => scalar(cx.eps),
  iconst: (n) => n.attrs.value as number,
  fill: (n, _a, cx) => {
    const shape = (n.attrs.shape as Dim[]).map((d) => cx.dim(d));
    return t(shape, new Float64Array(shape.reduce((a, b) => a * b, 1)).fill(n.attrs.value as number));
  },
  eye: (n, _a, cx) => {
    const [r, c] = (n.attrs.shape as Dim[]).map((d) => cx.dim(d)) as [number, number];
    const out = t([r, c]);
    for (let i = 0; i < Math.min(r, c); i++) out.data[i * c + i] = 1;
    return out;
  },
  iota: (n, _a, cx) => {
    const len = cx.dim(n.attrs.n as Dim);
    const out = t([len]);
    for (let i = 0; i < len; i++) out.data[i] = i;
    return out;
  },
  dim: (n, _a, cx) => cx.dim(n.attrs.dim as Dim),
  iadd: intK(intAdd),
  isub: intK(intSub),
  imul: intK(intMul),
  imin: intK(Math.min),
  imax: intK(Math.max),
  idiv: intK(intDiv),
  imod: intK(intMod),
  itof: (_n, [a]) => scalar(asI(a!, 'itof')),
  ftoi: (_n, [a]) => ftoi(asT(a!, 'ftoi').data[0]!),
  neg: unaryK((x) => -x),
  exp: unaryK(Math.exp),
  log: unaryK(Math.log),
  sqrt: unaryK(Math.sqrt),
  abs: unaryK(Math.abs),
  sign: unaryK((x) => (x > 0 ? 1 : x < 0 ? -1 : 0)),
  sin: unaryK(Math.sin),
  cos: unaryK(Math.cos),
  tanh: unaryK(Math.tanh),
  sigmoid: unaryK(sigmoid),
  half: unaryK(roundF16),
  bfloat: unaryK(roundBF16),
  not: unaryK((x) => (x === 0 ? 1 : 0)),
  add: binaryK((a, b) => a + b),
  sub: binaryK((a, b) => a - b),
  mul: binaryK((a, b) => a * b),
  div: binaryK((a, b) => a / b),
  pow: binaryK(Math.pow),
  maximum: binaryK(Math.max),
  minimum: binaryK(Math.min),
  atan2: binaryK(Math.atan2),
  hypot: binaryK(Math.hypot),
  lt: binaryK((a, b) => +(a < b)),
  le: binaryK((a, b) => +(a <= b)),
  gt: binaryK((a, b) => +(a > b)),
  ge: binaryK((a, b) => +(a >= b)),
  eq: binaryK((a, b) => +(a === b)),
  ne: binaryK((a, b) => +(a !== b)),
  and: binaryK((a, b) => +(a !== 0 && b !== 0)),
  or: binaryK((a, b) => +(a !== 0 || b !== 0)),
  select: (_n, [c, a, b]) => {
    const C = asT(c!, 'select');
    const A = asT(a!, 'select');
    const B = asT(b!, 'select');
    const shape = [C, A, B].find((x) => x.shape.length > 0)?.shape ?? [];
    const len = shape.reduce((x, y) => x * y, 1);
    const out = new Float64Array(len);
    const at = (x: T, i: number) => (x.shape.length === 0 ? x.data[0]! : x.data[i]!);
    for (let i = 0; i < len; i++) out[i] = at(C, i) !== 0 ? at(A, i) : at(B, i);
    return { shape, data: out };
  },
  matmul: (_n, [a, b]) => matmul(asT(a!, 'matmul'), asT(b!, 'matmul')),
  matvec: (_n, [a, x]) => {
    const A = asT(a!, 'matvec');
    const X = asT(x!, 'matvec');
    const [m, n] = A.shape as [number, number];
    const out = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += A.data[i * n + j]! * X.data[j]!;
      out[i] = s;
    }
    return { shape: [m], data: out };
  },
  dot: (_n, [x, y]) => {
    const X = asT(x!, 'dot').data;
    const Y = asT(y!, 'dot').data;
    let s = 0;
    for (let i = 0; i < X.length; i++) s += X[i]! * Y[i]!;
    return scalar(s);
  },
  outer: (_n, [x, y]) => {
    const X = asT(x!, 'outer').data;
    const Y = asT(y!, 'outer').data;
    const out = new Float64Array(X.length * Y.length);
    for (let i = 0; i < X.length; i++) for (let j = 0; j < Y.length; j++) out[i * Y.length + j] = X[i]! * Y[j]!;
    return { shape: [X.length, Y.length], data: out };
  },
  transpose: (_n, [a]) => {
    const A = asT(a!, 'transpose');
    const [m, n] = A.shape as [number, number];
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = A.data[i * n + j]!;
    return { shape: [n, m], data: out };
  },
  einsum: (n, args) => einsum(String(n.attrs.spec), args.map((a) => asT(a, 'einsum'))),
  sum: (n, [a]) => reduceAxis(asT(a!, 'sum'), n.attrs.axis as number, 0, (x, y) => x + y),
  rmax: (n, [a]) => reduceAxis(asT(a!, 'rmax'), n.attrs.axis as number, -Infinity, Math.max),
  rmin: (n, [a]) => reduceAxis(asT(a!, 'rmin'), n.attrs.axis as number, Infinity, Math.min),
  maxloc: (_n, [a]) => {
    const d = asT(a!, 'maxloc').data;
    if (d.length === 0) throw runCheckError(emptyArgCheck('maxloc'), 0, 0);
    let best = 0;
    for (let i = 1; i < d.length; i++) if (d[i]! > d[best]!) best = i;
    return best;
  },
  minloc: (_n, [a]) => {
    const d = asT(a!, 'minloc').data;
    if (d.length === 0) throw runCheckError(emptyArgCheck('minloc'), 0, 0);
    let best = 0;
    for (let i = 1; i < d.length; i++) if (d[i]! < d[best]!) best = i;
    return best;
  },
  diag: (_n, [v]) => {
    const V = asT(v!, 'diag').data;
    const k = V.length;
    const out = t([k, k]);
    for (let i = 0; i < k; i++) out.data[i * k + i] = V[i]!;
    return out;
  },
  diagvec: (_n, [a]) => {
    const A = asT(a!, 'diagvec');
    const [m, n] = A.shape as [number, number];
    const k = Math.min(m, n);
    const out = t([k]);
    for (let i = 0; i < k; i++) out.data[i] = A.data[i * n + i]!;
    return out;
  },
  tril: (n, [a]) => {
    const A = asT(a!, 'tril');
    const k = n.attrs.k as number;
    const [r, c] = A.shape as [number, number];
    const out = t([r, c]);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) if (j - i <= k) out.data[i * c + j] = A.data[i * c + j]!;
    return out;
  },
  triu: (n, [a]) => {
    const A = asT(a!, 'triu');
    const k = n.attrs.k as number;
    const [r, c] = A.shape as [number, number];
    const out = t([r, c]);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) if (j - i >= k) out.data[i * c + j] = A.data[i * c + j]!;
    return out;
  },
  reshape: (n, [a], cx) => ({ shape: (n.attrs.shape as Dim[]).map((d) => cx.dim(d)), data: asT(a!, 'reshape').data }),
  slice: (n, [a], cx) => {
    const A = asT(a!, 'slice');
    const start = (n.attrs.start as Dim[]).map((d) => cx.dim(d));
    const size = (n.attrs.size as Dim[]).map((d) => cx.dim(d));
    const out = t(size);
    copyBox(A, start, out, size.map(() => 0), size);
    return out;
  },
  pad: (n, [a], cx) => {
    const A = asT(a!, 'pad');
    const start = (n.attrs.start as Dim[]).map((d) => cx.dim(d));
    const shape = (n.attrs.shape as Dim[]).map((d) => cx.dim(d));
    const out = t(shape);
    copyBox(A, A.shape.map(() => 0), out, start, A.shape);
    return out;
  },
  concat: (n, args) => {
    const ts = args.map((a) => asT(a, 'concat'));
    const axis = n.attrs.axis as number;
    const shape = [...ts[0]!.shape];
    shape[axis] = ts.reduce((s, x) => s + x.shape[axis]!, 0);
    const out = t(shape);
    let off = 0;
    for (const x of ts) {
      const st = x.shape.map((_, i) => (i === axis ? off : 0));
      copyBox(x, x.shape.map(() => 0), out, st, x.shape);
      off += x.shape[axis]!;
    }
    return out;
  },
  index: (_n, [a, ...ix]) => {
    const A = asT(a!, 'index');
    const st = strides(A.shape);
    let off = 0;
    ix.forEach((i, k) => {
      const v = asI(i, 'index');
      if (!(v >= 0 && v < A.shape[k]!)) oob('an index', v, A.shape[k]!);
      off += v * st[k]!;
    });
    return scalar(A.data[off]!);
  },
  setindex: (_n, args) => {
    const A = asT(args[0]!, 'setindex');
    const v = asT(args[args.length - 1]!, 'setindex').data[0]!;
    const st = strides(A.shape);
    let off = 0;
    args.slice(1, -1).forEach((i, k) => {
      const x = asI(i, 'setindex');
      if (!(x >= 0 && x < A.shape[k]!)) oob('set', x, A.shape[k]!);
      off += x * st[k]!;
    });
    const out = Float64Array.from(A.data);
    out[off] = v;
    return { shape: A.shape, data: out };
  },
  getcol: (_n, [a, j]) => {
    const A = asT(a!, 'getcol');
    const [m, n] = A.shape as [number, number];
    const c = asI(j!, 'getcol');
    if (!(c >= 0 && c < n)) oob('a column index', c, n);
    const out = t([m]);
    for (let i = 0; i < m; i++) out.data[i] = A.data[i * n + c]!;
    return out;
  },
  getrow: (_n, [a, i]) => {
    const A = asT(a!, 'getrow');
    const [m, n] = A.shape as [number, number];
    const r = asI(i!, 'getrow');
    if (!(r >= 0 && r < m)) oob('a row index', r, m);
    return { shape: [n], data: A.data.slice(r * n, r * n + n) };
  },
  setcol: (_n, [a, j, v]) => {
    const A = asT(a!, 'setcol');
    const [m, n] = A.shape as [number, number];
    const c = asI(j!, 'setcol');
    if (!(c >= 0 && c < n)) oob('setcol', c, n);
    const out = Float64Array.from(A.data);
    const V = asT(v!, 'setcol').data;
    for (let i = 0; i < m; i++) out[i * n + c] = V[i]!;
    return { shape: A.shape, data: out };
  },
  setrow: (_n, [a, i, v]) => {
    const A = asT(a!, 'setrow');
    const [m, n] = A.shape as [number, number];
    const r = asI(i!, 'setrow');
    if (!(r >= 0 && r < m)) oob('setrow', r, m);
    const out = Float64Array.from(A.data);
    out.set(asT(v!, 'setrow').data, r * n);
    return { shape: A.shape, data: out };
  },
  solve: (_n, [a, b]) => {
    const [x, rc] = luSolve(asT(a!, 'solve'), asT(b!, 'solve'));
    return [x, scalar(rc)];
  },
  trisolve: (n, [tm, b]) =>
    triSolve(asT(tm!, 'trisolve'), asT(b!, 'trisolve'), n.attrs.lower as boolean, n.attrs.trans as boolean, n.attrs.unit as boolean, n.attrs.left !== false),
  loop: unsupported('loop (handled by the evaluator)'),
  cond: unsupported('cond (handled by the evaluator)'),
  opt: unsupported('a declarative argmin/argmax node'),
  root: unsupported('a declarative solve node'),
  custom: unsupported('a call with a grad rule (inlined by the expand pass)'),
  // spectral ops are lowered to IR loops by the expand stage (compiler/solvers/spectral.ts)
  eigh: unsupported('eigh (lowered by the expand stage)'),
  svd: unsupported('svd (lowered by the expand stage)'),
  expm: unsupported('expm (lowered by the expand stage)'),
  symfun: unsupported('a symmetric matrix function (lowered by the expand stage)'),
  polar: unsupported('polar (lowered by the expand stage)'),
  heigh: unsupported('complex eigh (lowered by the expand stage)'),
  householder: unsupported('householder (lowered by the expand stage)'),
  proj: (n, [tup]) => {
    if (!Array.isArray(tup)) throw new InternalError('proj of a non-tuple');
    return tup[n.attrs.index as number]!;
  },
  nograd: (_n, [a]) => a!,
  // element e: Philox4x32-10 at counter (e, stream, kind, 0), key (key, 0) (core/philox.ts); the f32
  // form when the function runs in f32 (cx.eps = 2⁻²³: the interpreter's f32 rounding)
  rand: (n, [k, s], cx) => {
    const shape = (n.attrs.shape as Dim[]).map((d) => cx.dim(d));
    const out = t(shape);
    const dist = n.attrs.dist as RandomKind;
    const key = asI(k!, 'rand key');
    const stream = asI(s!, 'rand stream');
    const f32 = cx.eps > 2 ** -40;
    for (let e = 0; e < out.data.length; e++) out.data[e] = randomValue(dist, key, stream, e, f32);
    return out;
  },
};
