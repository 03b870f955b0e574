// Binding a call: input tensors (batch dimensions leading) against a function's symbolic
// parameter shapes. Dimension names are solved from shapes, int parameters come from options,
// derived dimensions are evaluated; every mismatch is a MatcRuntimeError that names the
// parameter, the expected shape and what was passed. Inputs are validated (finite values,
// declared structure) before anything runs, and never modified.

import { Dim, shapeToString } from '../core/dims.js';
import type { Func } from '../compiler/ir/node.js';
import { signatureOf, type BoundParam, type Signature } from './signature.js';
import { describeParam, isDerivedName } from '../core/derivative-names.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Tensor } from './tensor.js';

export type InputValue = Tensor | number | readonly number[];

export interface Binding {
  dims: Map<string, number>;
  /** the common batch shape (empty for a single instance) */
  batch: number[];
  batchSize: number;
  /** per parameter: its tensor, its instance shape and whether it is batched */
  inputs: { param: BoundParam; tensor: Tensor; shape: number[]; batched: boolean }[];
}

export interface BindOptions {
  /** values of int parameters and explicitly given dimensions */
  dims?: Record<string, number>;
  /** skip structure checks (sym, sphere, ...) */
  noValidate?: boolean;
}

/** A parameter in the batch-shape message: `'A'`, or `the cotangent of output 'x'`. */
function batchRef(name: string): string {
  return isDerivedName(name) ? describeParam(name) : `'${name}'`;
}

function toTensor(v: InputValue): Tensor {
  if (v instanceof Tensor) return v;
  if (typeof v === 'number') return new Tensor([], [v]);
  return new Tensor([v.length], v);
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
  for (const ip of func.intParams) {
    const v = opts.dims?.[ip.name] ?? ip.default;
    if (v === undefined) throw new MatcRuntimeError('MATR103', `${func.name}: the int parameter ${ip.name} has no default; pass it as a dimension (${ip.name}=...)`);
    if (!Number.isInteger(v) || v < 0) throw new MatcRuntimeError('MATR103', `${func.name}: ${ip.name} must be a non-negative integer, got ${v}`);
    dims.set(ip.name, v);
  }
  for (const [k, v] of Object.entries(opts.dims ?? {})) if (!dims.has(k) && !func.derivedDims.some((d) => d.name === k)) dims.set(k, v);
  const known = new Set(func.params.map((p) => p.name));
  for (const k of Object.keys(given)) {
    if (!known.has(k)) throw new MatcRuntimeError('MATR101', `${func.name} has no parameter '${k}' (parameters: ${[...known].filter((n) => !isDerivedName(n)).join(', ')})`);
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
    const tensor = toTensor(raw);
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
    inputs.push({ param: p, tensor, shape: ishape, batched: bshape.length > 0 });
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
  for (const inp of inputs) {
    const z = inp.shape.indexOf(0);
    if (z >= 0) throw new MatcRuntimeError('MATR106', `${func.name}: ${describeParam(inp.param.name)} has an empty dimension (size 0 at position ${z + 1} of [${inp.shape.join(', ')}]); matc does not run on empty tensors`);
  }
  if ((batch ?? []).includes(0)) throw new MatcRuntimeError('MATR106', `${func.name}: the batch [${batch!.join(', ')}] is empty`);
  for (const a of func.assertions ?? []) {
    const v = a.dim.eval(dims);
    if (!(v >= 0)) throw new MatcRuntimeError('MATR103', `${func.name}: ${a.message}, which fails for ${[...dims].map(([k, x]) => `${k}=${x}`).join(', ')}`);
  }
  const b = batch ?? [];
  const binding: Binding = { dims, batch: b, batchSize: b.reduce((x, y) => x * y, 1), inputs };
  if (!opts.noValidate) for (const inp of inputs) validate(func, inp);
  return binding;
}

/** Finite values and the declared structure, per instance. */
function validate(func: Signature, inp: Binding['inputs'][number]): void {
  const data = inp.tensor.data;
  const bad = inp.tensor.firstNonFinite();
  if (bad >= 0) throw new MatcRuntimeError('MATR104', `${func.name}: ${describeParam(inp.param.name)} has a non-finite value (${data[bad]}) at flat index ${bad}`);
  const st = inp.param.struct;
  if (!st || st === 'general') return;
  const size = inp.shape.reduce((a, b) => a * b, 1);
  const count = size === 0 ? 0 : data.length / size;
  for (let b = 0; b < count; b++) {
    const x = data.subarray(b * size, (b + 1) * size);
    const where = count > 1 ? ` (batch instance ${b})` : '';
    const fail = (what: string) => {
      throw new MatcRuntimeError('MATR105', `${func.name}: ${describeParam(inp.param.name)} is declared ${st} but ${what}${where}`);
    };
    let scale = 0;
    for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]!));
    const tol = 1e-6 * Math.max(1, scale);
    if (st === 'sphere') {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
      if (Math.abs(Math.sqrt(s) - 1) > 1e-5) fail(`its norm is ${Math.sqrt(s)}`);
      continue;
    }
    const [m, n] = inp.shape as [number, number];
    if (st === 'sym' || st === 'spd') {
      for (let i = 0; i < m; i++) for (let j = i + 1; j < n; j++) if (Math.abs(x[i * n + j]! - x[j * n + i]!) > tol) fail(`X[${i},${j}] = ${x[i * n + j]} differs from X[${j},${i}] = ${x[j * n + i]}`);
    } else if (st === 'tril' || st === 'triu' || st === 'diag') {
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          const off = (st === 'tril' && j > i) || (st === 'triu' && j < i) || (st === 'diag' && i !== j);
          if (off && x[i * n + j] !== 0) fail(`entry [${i},${j}] = ${x[i * n + j]} is not zero`);
        }
    } else if (st === 'orth' || st === 'stiefel') {
      let worst = 0;
      for (let a = 0; a < n; a++)
        for (let c = a; c < n; c++) {
          let s = 0;
          for (let i = 0; i < m; i++) s += x[i * n + a]! * x[i * n + c]!;
          worst = Math.max(worst, Math.abs(s - (a === c ? 1 : 0)));
        }
      if (worst > 1e-4) fail(`its columns are not orthonormal (max |XᵀX − I| = ${worst.toExponential(2)})`);
    }
  }
}

export { Dim };
