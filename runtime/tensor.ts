// The small host-side tensor the API exchanges with callers: a shape, a dtype and row-major data.
// Batch dimensions lead. A complex tensor (`complex`: true) holds its entries interleaved, (re, im)
// per entry — numpy's complex128 layout — so `data` has 2·size numbers; `re`/`im` copy the parts. `dispose()` releases the data explicitly (and, for tensors a GPU backend
// keeps resident, the device buffer); using a disposed tensor is an error, not a silent zero.

import { MatcRuntimeError } from '../core/errors.js';
import { describeValue } from '../core/describe-value.js';

export type DType = 'f64' | 'f32';
export type TensorData = Float64Array | Float32Array;

/** Marks tensors of every copy of matc loaded in a process (a bundle and the unbundled runtime of
 *  a compiled module): `instanceof Tensor` holds across copies. */
const TENSOR = Symbol.for('matc.Tensor');

/** Set while `Tensor.elsewhere` builds a tensor without host data. */
let elsewhere: string | null = null;

/** A shape is an array (its entries are checked where the size is formed). */
function checkShapeArray(shape: unknown): void {
  if (!Array.isArray(shape)) throw new MatcRuntimeError('MATR001', `invalid tensor shape: an array of dimensions was expected, got ${describeValue(shape)}`);
}

/** Data given as a typed array or an array of numbers (a string, or an array holding one, would
 *  be read as NaN or as digits). */
function checkNumbers(code: string, what: string, v: unknown): void {
  if (v instanceof Float64Array || v instanceof Float32Array) return;
  if (!Array.isArray(v)) throw new MatcRuntimeError(code, `${what} must be a Float64Array, a Float32Array or an array of numbers, got ${describeValue(v)}`);
  const bad = v.findIndex((x) => typeof x !== 'number');
  if (bad >= 0) throw new MatcRuntimeError(code, `${what} has ${describeValue(v[bad])} at [${bad}]; numbers were expected`);
}

export class Tensor {
  static [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as { [TENSOR]?: boolean })[TENSOR] === true;
  }

  readonly [TENSOR] = true;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** complex entries, (re, im) interleaved in `data` */
  readonly complex: boolean;
  #data: TensorData | null;
  /** why a tensor made by `elsewhere` has no host data (the MATR212 message) */
  #elsewhere: string | null = null;

  constructor(shape: readonly number[], data: TensorData | readonly number[], dtype?: DType, complex = false) {
    if (elsewhere !== null) {
      this.shape = Object.freeze([...shape]);
      this.dtype = 'f32';
      this.complex = false;
      this.#data = null;
      this.#elsewhere = elsewhere;
      return;
    }
    checkShapeArray(shape);
    const size = shape.reduce((a, b) => a * b, 1) * (complex ? 2 : 1);
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new MatcRuntimeError('MATR001', `invalid tensor shape [${shape.join(', ')}]`);
    }
    let arr: TensorData;
    if (data instanceof Float64Array || data instanceof Float32Array) arr = data;
    else {
      checkNumbers('MATR001', 'tensor data', data);
      arr = (dtype ?? 'f64') === 'f32' ? Float32Array.from(data) : Float64Array.from(data);
    }
    if (arr.length !== size) {
      throw new MatcRuntimeError('MATR001', `tensor data has ${arr.length} elements but ${complex ? 'complex ' : ''}shape [${shape.join(', ')}] needs ${size}${complex ? ' (re, im interleaved)' : ''}`);
    }
    this.shape = Object.freeze([...shape]);
    this.dtype = arr instanceof Float32Array ? 'f32' : 'f64';
    this.complex = complex;
    this.#data = arr;
  }

  /** A complex tensor from its real and imaginary parts (row-major, `im` zeros when left out). */
  static complex(shape: readonly number[], re: ArrayLike<number>, im?: ArrayLike<number>, dtype: DType = 'f64'): Tensor {
    checkNumbers('MATR191', 'the real part of a complex tensor', re);
    if (im !== undefined) checkNumbers('MATR191', 'the imaginary part of a complex tensor', im);
    checkShapeArray(shape);
    const n = shape.reduce((a, b) => a * b, 1);
    if (re.length !== n || (im && im.length !== n)) {
      throw new MatcRuntimeError('MATR191', `complex tensor parts have ${re.length}${im ? ` and ${im.length}` : ''} elements but shape [${shape.join(', ')}] needs ${n} each`);
    }
    const d = dtype === 'f32' ? new Float32Array(2 * n) : new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      d[2 * i] = re[i]!;
      d[2 * i + 1] = im ? im[i]! : 0;
    }
    return new Tensor(shape, d, dtype, true);
  }

  /** The real parts (a copy; the tensor itself for a real tensor's data). */
  get re(): TensorData {
    const d = this.data;
    if (!this.complex) return d;
    const out = d instanceof Float32Array ? new Float32Array(d.length / 2) : new Float64Array(d.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = d[2 * i]!;
    return out;
  }

  /** The imaginary parts (a copy; zeros for a real tensor). */
  get im(): TensorData {
    const d = this.data;
    const out = d instanceof Float32Array ? new Float32Array(this.size) : new Float64Array(this.size);
    if (this.complex) for (let i = 0; i < out.length; i++) out[i] = d[2 * i + 1]!;
    return out;
  }

  static zeros(shape: readonly number[], dtype: DType = 'f64', complex = false): Tensor {
    const n = shape.reduce((a, b) => a * b, 1) * (complex ? 2 : 1);
    return new Tensor(shape, dtype === 'f32' ? new Float32Array(n) : new Float64Array(n), dtype, complex);
  }

  /** @internal A tensor of this shape whose values are not on the host (a GpuTensor bound to a
   *  call): reading its data is MATR212 with `why`. */
  static elsewhere(shape: readonly number[], why: string): Tensor {
    elsewhere = why;
    try {
      return new Tensor(shape, []);
    } finally {
      elsewhere = null;
    }
  }

  get data(): TensorData {
    if (this.#elsewhere !== null) throw new MatcRuntimeError('MATR212', this.#elsewhere);
    if (this.#data === null) throw new MatcRuntimeError('MATR002', 'tensor used after dispose()');
    return this.#data;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get disposed(): boolean {
    return this.#data === null && this.#elsewhere === null;
  }

  dispose(): void {
    this.#data = null;
  }

  /** Index of the first NaN or ±Inf, or −1. (x · 0 is ±0 for finite x and NaN otherwise, so one
   *  pass of products finds out whether a search is needed at all; 1.5× faster than x − x, which
   *  V8 does not fold, on the development machine: 1.1 against 1.7 ms per 24 MB.) */
  firstNonFinite(): number {
    const d = this.data;
    // one loop per array type: a loop that sees both stays polymorphic and runs several times
    // slower than a copy of the same bytes (bench/host-path.ts)
    return d instanceof Float32Array ? firstNonFinite32(d) : firstNonFinite64(d);
  }

  /** The number of NaN and ±Inf values (one pass; none found by the fast scan: no second). */
  countNonFinite(): number {
    const d = this.data;
    return d instanceof Float32Array ? countNonFinite32(d) : countNonFinite64(d);
  }

  toJSON(): { shape: number[]; data: number[] } | { shape: number[]; re: number[]; im: number[] } {
    if (this.complex) return { shape: [...this.shape], re: Array.from(this.re), im: Array.from(this.im) };
    return { shape: [...this.shape], data: Array.from(this.data) };
  }
}

function firstNonFinite64(d: Float64Array): number {
  // four independent sums: one chain of dependent additions ran at a third of the speed (this
  // runs on every input of every call)
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n = d.length;
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    a0 += d[i]! * 0;
    a1 += d[i + 1]! * 0;
    a2 += d[i + 2]! * 0;
    a3 += d[i + 3]! * 0;
  }
  for (let i = n4; i < n; i++) a0 += d[i]! * 0;
  if (a0 + a1 + a2 + a3 === 0) return -1;
  for (let k = 0; k < n; k++) if (!Number.isFinite(d[k]!)) return k;
  return -1;
}

function firstNonFinite32(d: Float32Array): number {
  // four independent sums: one chain of dependent additions ran at a third of the speed (this
  // runs on every input of every call)
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n = d.length;
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    a0 += d[i]! * 0;
    a1 += d[i + 1]! * 0;
    a2 += d[i + 2]! * 0;
    a3 += d[i + 3]! * 0;
  }
  for (let i = n4; i < n; i++) a0 += d[i]! * 0;
  if (a0 + a1 + a2 + a3 === 0) return -1;
  for (let k = 0; k < n; k++) if (!Number.isFinite(d[k]!)) return k;
  return -1;
}

function countNonFinite64(d: Float64Array): number {
  const first = firstNonFinite64(d);
  if (first < 0) return 0;
  let c = 0;
  for (let k = first; k < d.length; k++) if (!Number.isFinite(d[k]!)) c++;
  return c;
}

function countNonFinite32(d: Float32Array): number {
  const first = firstNonFinite32(d);
  if (first < 0) return 0;
  let c = 0;
  for (let k = first; k < d.length; k++) if (!Number.isFinite(d[k]!)) c++;
  return c;
}
