// Binding a call: input tensors (batch dimensions leading) against a function's symbolic
// parameter shapes. Dimension names are solved from shapes, int parameters come from options,
// derived dimensions are evaluated; every mismatch is a MatcRuntimeError that names the
// parameter, the expected shape and what was passed. Inputs are validated (finite values,
// declared structure) before anything runs, and never modified.

import { Dim, shapeToString } from '../core/dims.js';
import type { Func } from '../compiler/ir/node.js';
import { signatureOf, type BoundParam, type Signature } from './signature.js';
import { describeParam, gradientOf, isDerivedName, tangentOf } from '../core/derivative-names.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Tensor } from './tensor.js';
import { GpuTensor } from './gpu-tensor.js';
import { describeValue } from '../core/describe-value.js';
import { closest } from '../core/names.js';

/** Numbers nested in arrays, row-major: [[1, 2], [3, 4]] is a 2 × 2 matrix. */
export type NestedNumbers = readonly (number | NestedNumbers)[];

/** What a caller may pass for an input, cotangent or tangent: a Tensor, a number, an array of
 *  numbers (nested arrays give the shape), a Float64Array or Float32Array (a vector), or the JSON
 *  form {shape, data} with flat row-major data. Anything else is MATR001, naming the parameter. */
export type InputValue = Tensor | GpuTensor | number | readonly number[] | NestedNumbers | Float64Array | Float32Array | { shape: readonly number[]; data: ArrayLike<number> };

/** The largest tensor matc allocates, in elements (WGSL indexes with i32; a Float64Array of
 *  2³¹ elements is 16 GiB). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export interface Binding {
  dims: Map<string, number>;
  /** the common batch shape (empty for a single instance) */
  batch: number[];
  batchSize: number;
  /** per parameter: its tensor, its instance shape and whether it is batched; for a GpuTensor
   *  (runtime/gpu-tensor.ts) `resident` is it and `tensor` has its shape but no host data */
  inputs: { param: BoundParam; tensor: Tensor; shape: number[]; batched: boolean; resident?: GpuTensor }[];
  /** per result: an array the caller gave to hold it (CallOptions.into), which a backend may
   *  write the result into instead of allocating one (the CPU programs do, when its element type
   *  is the one they would allocate); the API copies into it otherwise */
  into?: readonly (Float64Array | Float32Array | undefined)[];
}

export interface BindOptions {
  /** values of int parameters and explicitly given dimensions */
  dims?: Record<string, number>;
  /** skip structure checks (sym, sphere, ...) */
  noValidate?: boolean;
  /** refuse `dims` that name no dimension of the function (the API and AOT modules: a typo
   *  must not leave an int parameter at its default silently); tests that pass one map of
   *  dimensions to many functions leave it off */
  strictDims?: boolean;
}

/** A parameter in the batch-shape message: `'A'`, or `the cotangent of output 'x'`. */
function batchRef(name: string): string {
  return isDerivedName(name) ? describeParam(name) : `'${name}'`;
}

const EXPECTED = 'expected a number, an array of numbers (nested for a matrix), {shape, data} or a Tensor';


/** The shape and row-major data of nested arrays of numbers, or what is wrong with them. Both
 *  walks use explicit stacks: input nested deep or long cannot overflow. */
function readNested(v: readonly unknown[]): { shape: number[]; data: number[] } | string {
  const shape: number[] = [];
  for (let x: unknown = v; Array.isArray(x); x = x[0]) {
    if (shape.length >= 16) return 'is nested more than 16 deep';
    shape.push(x.length);
    if (x.length === 0) break;
  }
  const stack: { a: readonly unknown[]; path: number[] }[] = [{ a: v, path: [] }];
  while (stack.length) {
    const { a, path } = stack.pop()!;
    const d = path.length;
    if (a.length !== shape[d]) return `is a ragged array: [${path.join('][')}] has ${a.length} entries where [${path.map(() => '0').join('][')}] has ${shape[d]}`;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      const at = `[${[...path, i].join('][')}]`;
      if (d + 1 < shape.length) {
        if (!Array.isArray(x)) return `has ${describeValue(x)} at ${at} where an array of ${shape[d + 1]} was expected`;
        stack.push({ a: x, path: [...path, i] });
      } else if (typeof x !== 'number') return `has ${describeValue(x)} at ${at} where a number was expected`;
    }
  }
  const data: number[] = [];
  const walk: { a: readonly unknown[]; d: number; i: number }[] = [{ a: v, d: 1, i: 0 }];
  while (walk.length) {
    const top = walk[walk.length - 1]!;
    if (top.i >= top.a.length) {
      walk.pop();
      continue;
    }
    const x = top.a[top.i++];
    if (top.d < shape.length) walk.push({ a: x as readonly unknown[], d: top.d + 1, i: 0 });
    else data.push(x as number);
  }
  return { shape, data };
}

/** An input value as a tensor; `what` names it in errors ("f: input 'b'"). */
export function toTensor(v: unknown, what: string): Tensor {
  const bad = (why: string): never => {
    throw new MatcRuntimeError('MATR001', `${what} ${why}; ${EXPECTED}`);
  };
  if (v instanceof Tensor) {
    if (v.disposed) throw new MatcRuntimeError('MATR002', `${what} is a tensor that was disposed`);
    // a complex tensor is bound as its packed real view (…, 2): (re, im) interleaved is exactly the
    // layout of a complex parameter (compiler/check/complex.ts), so no copy is made
    if (v.complex) return new Tensor([...v.shape, 2], v.data);
    return v;
  }
  if (typeof v === 'number') return new Tensor([], [v]);
  if (v instanceof Float64Array || v instanceof Float32Array) return new Tensor([v.length], v);
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'number')) return new Tensor([v.length], v as number[]);
    const r = readNested(v);
    if (typeof r === 'string') return bad(r);
    return new Tensor(r.shape, r.data);
  }
  if (v !== null && typeof v === 'object' && ('shape' in v || 'data' in v)) {
    const o = v as { shape?: unknown; data?: unknown };
    if (!Array.isArray(o.shape)) return bad(`has no "shape" array (got ${describeValue(o.shape)})`);
    const bi = o.shape.findIndex((d) => !(typeof d === 'number' && Number.isInteger(d) && d >= 0));
    if (bi >= 0) return bad(`has a bad shape [${o.shape.map((d) => JSON.stringify(d)).join(', ')}]: entry ${bi} is not a non-negative integer`);
    const shape = o.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size > MAX_ELEMENTS) return bad(`has shape [${shape.join(', ')}], ${size.toExponential(2)} elements (at most ${MAX_ELEMENTS})`);
    const data = o.data;
    const flat = data instanceof Float64Array || data instanceof Float32Array ? data : Array.isArray(data) ? data : null;
    if (flat === null) return bad(`has no "data" array (got ${describeValue(data)})`);
    if (Array.isArray(flat)) {
      const ni = flat.findIndex((x) => typeof x !== 'number');
      if (ni >= 0) return bad(`has ${describeValue(flat[ni])} at data[${ni}] where a number was expected`);
    }
    if (flat.length !== size) return bad(`has ${flat.length} data values but shape [${shape.join(', ')}] needs ${size}`);
    return new Tensor(shape, flat as number[] | Float64Array | Float32Array);
  }
  return bad(`is ${describeValue(v)}`);
}

/** The parameter as the second mention in a message: its name, or `it` for a derived one
 *  (a cotangent or tangent, which the caller passed under the user's name). */
function paramRef(p: BoundParam): string {
  return isDerivedName(p.name) ? 'it' : p.name;
}

function paramTypeText(p: BoundParam): string {
  return `${p.struct ?? (p.shape.length === 0 ? 'real' : p.shape.length === 1 ? 'vec' : 'mat')}${shapeToString(p.shape)}`;
}

const isFunc = (t: Signature | Func): t is Func => t.results.some((r) => 'node' in r);

/** Binds inputs against a signature (an executable's, or an IR function's). */
export function bindInputs(target: Signature | Func, given: Record<string, InputValue>, opts: BindOptions = {}): Binding {
  const func: Signature = isFunc(target) ? signatureOf(target) : target;
  const dims = new Map<string, number>();
  // dimensions the call may name: int parameters and the names in parameter types
  const dimNames = new Set<string>(func.intParams.map((p) => p.name));
  for (const p of func.params) for (const d of p.shape) for (const v of d.vars()) dimNames.add(v);
  for (const [k, v] of Object.entries(opts.dims ?? {})) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new MatcRuntimeError('MATR103', `${func.name}: dimension ${k} must be a non-negative integer, got ${typeof v === 'number' ? v : describeValue(v)}`);
    if (opts.strictDims && func.derivedDims.some((d) => d.name === k)) throw new MatcRuntimeError('MATR103', `${func.name}: ${k} is defined by a where clause (${k} = ${func.derivedDims.find((d) => d.name === k)!.value}); it cannot be given`);
    if (opts.strictDims && !dimNames.has(k)) {
      const sug = closest(k, [...dimNames]);
      throw new MatcRuntimeError('MATR103', `${func.name} has no dimension '${k}' (${dimNames.size ? `dimensions: ${[...dimNames].join(', ')}` : 'it has none'})${sug ? `; did you mean '${sug}'?` : ''}`);
    }
  }
  for (const ip of func.intParams) {
    const v = opts.dims?.[ip.name] ?? ip.default;
    if (v === undefined) throw new MatcRuntimeError('MATR103', `${func.name}: the int parameter ${ip.name} has no default; pass it as a dimension (${ip.name}=...)`);
    if (!Number.isInteger(v) || v < 0) throw new MatcRuntimeError('MATR103', `${func.name}: ${ip.name} must be a non-negative integer, got ${v}`);
    dims.set(ip.name, v);
  }
  for (const [k, v] of Object.entries(opts.dims ?? {})) if (!dims.has(k)) dims.set(k, v);
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new MatcRuntimeError('MATR101', `${func.name}: the inputs must be an object {name: value} (got ${describeValue(given)})`);
  }
  const known = new Set(func.params.map((p) => p.name));
  for (const k of Object.keys(given)) {
    if (!known.has(k)) {
      const sug = closest(k, [...known].filter((n) => !isDerivedName(n)));
      throw new MatcRuntimeError('MATR101', `${func.name} has no parameter '${k}' (parameters: ${[...known].filter((n) => !isDerivedName(n)).join(', ')})${sug ? `; did you mean '${sug}'?` : ''}`);
    }
  }
  const inputs: Binding['inputs'] = [];
  let batch: number[] | null = null;
  let batchFrom = '';
  // Two passes: bare dimension names bind first, compound dimensions are checked after.
  const pending: { p: BoundParam; shape: number[] }[] = [];
  for (const p of func.params) {
    let raw = given[p.name];
    if (raw === undefined) {
      if (p.default !== undefined) raw = p.default;
      else throw new MatcRuntimeError('MATR101', `${func.name}: missing ${describeParam(p.name)} (${paramTypeText(p)})`);
    }
    const what = `${func.name}: ${describeParam(p.name)}`;
    const resident = raw instanceof GpuTensor ? raw : undefined;
    if (resident) {
      if (resident.disposed) throw new MatcRuntimeError('MATR210', `${what} is a GPU tensor that was disposed`);
      if ((resident.dtype === 'i32') !== !!p.int) throw new MatcRuntimeError('MATR213', `${what} is ${p.int ? 'an int' : 'a real'}, but the GPU tensor given holds ${resident.dtype === 'i32' ? 'ints (i32)' : `reals (${resident.dtype})`}`);
    }
    const tensor = resident ? Tensor.elsewhere(resident.shape, `${what} is a GPU tensor: its values are on the device (await tensor.read() for host data; only a WebGPU backend takes GPU tensors)`) : toTensor(raw, what);
    const t = p;
    const r = t.shape.length;
    if (tensor.shape.length < r) {
      throw new MatcRuntimeError('MATR102', `${func.name}: ${describeParam(p.name)} has shape [${tensor.shape.join(', ')}] but ${paramRef(p)} is ${paramTypeText(p)} (rank ${r})`);
    }
    const bshape = tensor.shape.slice(0, tensor.shape.length - r);
    const ishape = tensor.shape.slice(tensor.shape.length - r);
    if (bshape.length > 0) {
      if (batch === null) {
        batch = bshape;
        batchFrom = p.name;
      } else if (batch.length !== bshape.length || batch.some((d, i) => d !== bshape[i])) {
        throw new MatcRuntimeError('MATR102', `${func.name}: batch shape [${bshape.join(', ')}] of ${batchRef(p.name)} differs from [${batch.join(', ')}] of ${batchRef(batchFrom)}`);
      }
    }
    inputs.push({ param: p, tensor, shape: ishape, batched: bshape.length > 0, ...(resident ? { resident } : {}) });
    t.shape.forEach((d, i) => {
      const atoms = d.terms.length === 1 && d.terms[0]!.atoms.length === 1 && d.terms[0]!.coef[0] === 1 && d.terms[0]!.coef[1] === 1 ? d.terms[0]!.atoms[0]! : null;
      if (atoms && atoms.k === 'var' && !dims.has(atoms.name)) dims.set(atoms.name, ishape[i]!);
    });
    pending.push({ p, shape: ishape });
  }
  for (const dd of func.derivedDims) dims.set(dd.name, dd.value.eval(dims));
  for (const { p, shape } of pending) {
    p.shape.forEach((d, i) => {
      const want = d.eval(dims);
      if (want !== shape[i]) {
        const detail = Number.isFinite(want) ? `dimension ${i + 1} must be ${d} = ${want}` : `dimension ${d} cannot be determined`;
        throw new MatcRuntimeError(
          'MATR102',
          `${func.name}: ${describeParam(p.name)} has shape [${shape.join(', ')}] but ${paramRef(p)} is ${paramTypeText(p)}: ${detail} (${[...dims].map(([k, v]) => `${k}=${v}`).join(', ')})`,
        );
      }
    });
  }
  for (const [k, v] of dims) if (!Number.isInteger(v) || v < 0) throw new MatcRuntimeError('MATR103', `${func.name}: dimension ${k} = ${v} is not a non-negative integer`);
  if ((batch ?? []).includes(0)) throw new MatcRuntimeError('MATR106', `${func.name}: the batch [${batch!.join(', ')}] is empty`);
  // results: empty dimensions are legal (issue 10: every op is defined on them), negative ones
  // are not, and nothing larger than can be allocated
  const batchSize = (batch ?? []).reduce((x, y) => x * y, 1);
  for (const r of func.results) {
    const shape = r.shape.map((d) => d.eval(dims));
    if (shape.some((d) => !Number.isFinite(d))) continue; // reported by the assertions below, or not evaluable here
    const where = `${[...dims].map(([k, x]) => `${k}=${x}`).join(', ')}`;
    if (shape.some((d) => d < 0)) {
      throw new MatcRuntimeError('MATR103', `${func.name}: ${describeResult(r.name)} would have a negative dimension (shape [${shape.join(', ')}] for ${where})`);
    }
    const size = shape.reduce((x, y) => x * y, 1) * batchSize;
    if (size > MAX_ELEMENTS) {
      throw new MatcRuntimeError('MATR109', `${func.name}: ${describeResult(r.name)} would have ${size.toExponential(2)} elements (shape [${shape.join(', ')}]${batchSize > 1 ? ` × a batch of ${batchSize}` : ''} for ${where}); matc allocates at most ${MAX_ELEMENTS} elements per tensor`);
    }
  }
  for (const a of func.assertions ?? []) {
    const v = a.dim.eval(dims);
    if (!(v >= 0)) throw new MatcRuntimeError(a.code ?? 'MATR103', `${func.name}: ${a.message}, which fails for ${[...dims].map(([k, x]) => `${k}=${x}`).join(', ')}`);
  }
  // int values (an optimizer's int state) are integers of the i32 range, whatever else is skipped:
  // backends read them as ints (a fraction would be floored silently, NaN read as 0)
  for (const inp of inputs) {
    if (!inp.param.int || inp.resident) continue;
    const d = inp.tensor.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
        throw new MatcRuntimeError('MATR150', `${func.name}: ${describeParam(inp.param.name)} is an int${d.length > 1 ? ` (batch instance ${i})` : ''}, but it was given ${v}; ints are integers from -2147483648 to 2147483647`);
      }
    }
  }
  const b = batch ?? [];
  const binding: Binding = { dims, batch: b, batchSize: b.reduce((x, y) => x * y, 1), inputs };
  // GPU tensors are checked on the device, for finite values only (runtime/webgpu/resident.ts)
  if (!opts.noValidate) for (const inp of inputs) if (!inp.resident) validate(func, inp);
  return binding;
}

/** How a message names a result of a function or of its VJP/JVP. */
function describeResult(name: string): string {
  const g = gradientOf(name);
  if (g !== null) return `the gradient of input '${g}'`;
  const t = tangentOf(name);
  if (t !== null) return `the tangent of output '${t}'`;
  return `output '${name}'`;
}

/** Finite values and the declared structure, per instance. */
function validate(func: Signature, inp: Binding['inputs'][number]): void {
  const data = inp.tensor.data;
  const nonFinite = (): void => {
    const bad = inp.tensor.firstNonFinite();
    if (bad >= 0) throw new MatcRuntimeError('MATR104', `${func.name}: ${describeParam(inp.param.name)} has a non-finite value (${data[bad]}) at flat index ${bad}`);
  };
  const st = inp.param.struct;
  const complex = inp.param.complex && inp.param.complex !== 'general';
  const size = inp.shape.reduce((a, b) => a * b, 1);
  const count = size === 0 ? 0 : data.length / size;
  // one pass per instance over the data in place (no per-instance views, strings or closures:
  // this runs on every call, before the batch is split over threads)
  const fail = (b: number, what: string): never => {
    throw new MatcRuntimeError('MATR105', `${func.name}: ${describeParam(inp.param.name)} is declared ${st} but ${what}${count > 1 ? ` (batch instance ${b})` : ''}`);
  };
  if (!complex && (st === 'sym' || st === 'spd')) {
    // finiteness and symmetry in one pass (symScan); a non-finite value anywhere is reported
    // before an asymmetric instance, as when the two were separate passes
    const [m, n] = inp.shape as [number, number];
    const b = symScan(data, count, m, n);
    if (b !== -1) nonFinite();
    if (b >= 0) {
      const x = data.subarray(b * size, (b + 1) * size);
      const tol = symTolerance(x, 0, size);
      for (let i = 0; i < m; i++) for (let j = i + 1; j < n; j++) if (Math.abs(x[i * n + j]! - x[j * n + i]!) > tol) fail(b, `X[${i},${j}] = ${x[i * n + j]} differs from X[${j},${i}] = ${x[j * n + i]}`);
    }
    return;
  }
  nonFinite();
  if (complex) return validateComplex(func, inp, inp.param.complex!);
  if (!st || st === 'general') return;
  for (let b = 0; b < count; b++) {
    const x = data.subarray(b * size, (b + 1) * size);
    if (st === 'sphere') {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
      if (Math.abs(Math.sqrt(s) - 1) > 1e-5) fail(b, `its norm is ${Math.sqrt(s)}`);
      continue;
    }
    const [m, n] = inp.shape as [number, number];
    if (st === 'tril' || st === 'triu' || st === 'diag') {
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          const off = (st === 'tril' && j > i) || (st === 'triu' && j < i) || (st === 'diag' && i !== j);
          if (off && x[i * n + j] !== 0) fail(b, `entry [${i},${j}] = ${x[i * n + j]} is not zero`);
        }
    } else if (st === 'orth' || st === 'stiefel') {
      let worst = 0;
      for (let a = 0; a < n; a++)
        for (let c = a; c < n; c++) {
          let s = 0;
          for (let i = 0; i < m; i++) s += x[i * n + a]! * x[i * n + c]!;
          worst = Math.max(worst, Math.abs(s - (a === c ? 1 : 0)));
        }
      if (worst > 1e-4) fail(b, `its columns are not orthonormal (max |XᵀX − I| = ${worst.toExponential(2)})`);
    }
  }
}

/** The complex structures (compiler/check/complex.ts), on the packed (…, m, n, 2) data: herm and hpd
 *  Hermitian (|X_ij − conj(X_ji)| within the real symmetry tolerance, so a real diagonal), unitary
 *  and cstiefel orthonormal columns in the complex sense (max |XᴴX − I| ≤ 1e-4, as orth). hpd is,
 *  as spd, checked Hermitian only (definiteness is the consumer's: a Cholesky or eigh status).
 *  O(m n²) per instance, once per call. */
function validateComplex(func: Signature, inp: Binding['inputs'][number], st: string): void {
  const data = inp.tensor.data;
  const shape = inp.shape;
  if (shape.length !== 3) return;
  const [m, n] = shape as [number, number, number];
  const size = m * n * 2;
  const count = size === 0 ? 0 : data.length / size;
  const name = st === 'orth' ? 'unitary' : st === 'stiefel' ? 'cstiefel' : st === 'sym' ? 'herm' : st === 'spd' ? 'hpd' : st;
  const fail = (b: number, what: string): never => {
    throw new MatcRuntimeError('MATR105', `${func.name}: ${describeParam(inp.param.name)} is declared ${name} but ${what}${count > 1 ? ` (batch instance ${b})` : ''}`);
  };
  for (let b = 0; b < count; b++) {
    const x = data.subarray(b * size, (b + 1) * size);
    if (st === 'sym' || st === 'spd') {
      const tol = symTolerance(x, 0, size);
      for (let i = 0; i < m; i++)
        for (let j = i; j < n; j++) {
          const dr = x[2 * (i * n + j)]! - x[2 * (j * n + i)]!;
          const di = x[2 * (i * n + j) + 1]! + x[2 * (j * n + i) + 1]!;
          if (Math.abs(dr) > tol || Math.abs(di) > tol) {
            fail(b, i === j ? `X[${i},${i}] has the imaginary part ${x[2 * (i * n + i) + 1]} (a Hermitian diagonal is real)` : `X[${i},${j}] = ${x[2 * (i * n + j)]}${fmtIm(x[2 * (i * n + j) + 1]!)} is not the conjugate of X[${j},${i}] = ${x[2 * (j * n + i)]}${fmtIm(x[2 * (j * n + i) + 1]!)}`);
          }
        }
    } else if (st === 'orth' || st === 'stiefel') {
      let worst = 0;
      for (let a = 0; a < n; a++)
        for (let c = a; c < n; c++) {
          // (XᴴX)_ac = Σ_i conj(x_ia) x_ic
          let re = 0;
          let im = 0;
          for (let i = 0; i < m; i++) {
            const ar = x[2 * (i * n + a)]!;
            const ai = x[2 * (i * n + a) + 1]!;
            const cr = x[2 * (i * n + c)]!;
            const ci = x[2 * (i * n + c) + 1]!;
            re += ar * cr + ai * ci;
            im += ar * ci - ai * cr;
          }
          worst = Math.max(worst, Math.hypot(re - (a === c ? 1 : 0), im));
        }
      if (worst > 1e-4) fail(b, `its columns are not orthonormal (max |XᴴX − I| = ${worst.toExponential(2)})`);
    }
  }
}

function fmtIm(v: number): string {
  return v < 0 ? ` − ${-v}i` : ` + ${v}i`;
}

/** The symmetry tolerance of one instance: 1e-6 · max(1, max |x|). */
function symTolerance(x: Float64Array | Float32Array, o: number, size: number): number {
  let scale = 0;
  for (let i = o; i < o + size; i++) {
    const a = Math.abs(x[i]!);
    if (a > scale) scale = a;
  }
  return 1e-6 * Math.max(1, scale);
}

/** One pass over a batch of n×n matrices for `sym`/`spd` inputs: −1 when every entry is finite and
 *  every instance symmetric within its tolerance (symTolerance); else ≥ 0, the first instance that
 *  is not symmetric, or −2 where a value is not finite (Tensor.firstNonFinite then finds the
 *  first). It replaces a finiteness scan followed by a symmetry scan (the serial part of a
 *  threaded IED call: 1.3 + 3.7 ms of 1024 × 32², f64): each pair x_ij, x_ji (j > i) is read
 *  once, two rows at a time; |x_ij − x_ji| is NaN or ∞ exactly when one of them is not finite
 *  (and the diagonal is tested by x − x), so no separate sum is needed. The tolerance is at
 *  least 1e-6, so an instance's scale is looked at only when some pair differs by more. */
function symScan(x: Float64Array | Float32Array, count: number, m: number, n: number): number {
  const size = m * n;
  for (let b = 0, o = 0; b < count; b++, o += size) {
    let worst = 0;
    for (let i = 0; i < m; i++) {
      const d = x[o + i * n + i]!;
      if (d - d !== 0) return -2;
    }
    let i = 0;
    for (; i + 1 < m; i += 2) {
      // rows i and i + 1 against columns i and i + 1
      const r0 = o + i * n;
      const r1 = r0 + n;
      const a = Math.abs(x[r0 + i + 1]! - x[r1 + i]!);
      if (!(a <= worst)) {
        if (a !== a) return -2;
        worst = a;
      }
      for (let j = i + 2, c = o + (i + 2) * n + i; j < n; j++, c += n) {
        const a0 = Math.abs(x[r0 + j]! - x[c]!);
        const a1 = Math.abs(x[r1 + j]! - x[c + 1]!);
        // (each compared itself: a max of the two would drop a NaN)
        if (!(a0 <= worst && a1 <= worst)) {
          if (a0 !== a0 || a1 !== a1) return -2;
          worst = a0 > a1 ? a0 : a1;
        }
      }
    }
    // (an odd m leaves the last row, which has no pair right of the diagonal; an ∞ paired with a
    // finite value made worst ∞)
    if (worst === Infinity) return -2;
    if (worst > 1e-6 && worst > symTolerance(x, o, size)) return b;
  }
  return -1;
}

export { Dim };
