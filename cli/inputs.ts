// Reading and generating CLI inputs: the {NAME: {shape, data}} JSON form (data flat, row-major,
// batch dimensions leading) and seeded random inputs that respect declared structure.

import { readFileSync } from 'node:fs';
import type { CompiledFn } from '../api/module.js';
import type { TensorType } from '../compiler/ir/types.js';
import { Tensor } from '../runtime/tensor.js';
import { toTensor } from '../runtime/bind.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Rng, randomComplexInstance, randomInstance } from '../runtime/random.js';

export function readTensorFile(path: string, what: string): Record<string, Tensor> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new MatcRuntimeError('MATR110', `cannot read ${what} file ${path}: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MatcRuntimeError('MATR110', `${what} file ${path} must hold an object {NAME: {"shape": [...], "data": [...]}}`);
  }
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    // a collection: an array of {shape, data}, read as its elements NAME[0], NAME[1], …
    if (Array.isArray(v) && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      v.forEach((x, i) => {
        const o = x as { shape?: unknown; data?: unknown };
        if (!Array.isArray(o.shape) || !Array.isArray(o.data)) throw new MatcRuntimeError('MATR110', `${what} file ${path}: entry '${k}' element ${i} needs "shape" and "data" arrays`);
        out[`${k}[${i}]`] = toTensor(o, `${what} file ${path}: entry '${k}' element ${i}`);
      });
      continue;
    }
    if (typeof v === 'number') {
      out[k] = new Tensor([], [v]);
      continue;
    }
    const o = v as { shape?: unknown; data?: unknown };
    if (!o || typeof o !== 'object' || !Array.isArray(o.shape) || !Array.isArray(o.data)) {
      throw new MatcRuntimeError('MATR110', `${what} file ${path}: entry '${k}' needs "shape" and "data" arrays`);
    }
    // the runtime's reading of {shape, data}: every problem named by file and entry
    out[k] = toTensor(o, `${what} file ${path}: entry '${k}'`);
  }
  return out;
}

/** The most values --random generates for one input (2 GiB of f64). */
export const MAX_RANDOM_ELEMENTS = 2 ** 28;

/** Default size for dimensions the user did not give. */
export const DEFAULT_DIM = 4;

/** Concrete dims for random inputs: given ones, int-parameter defaults, then DEFAULT_DIM. */
export function resolveDims(fn: CompiledFn, given: Record<string, number>): Record<string, number> {
  const f = fn.func;
  const dims: Record<string, number> = { ...given };
  for (const ip of f.intParams) if (dims[ip.name] === undefined && ip.default !== undefined) dims[ip.name] = ip.default;
  for (const p of f.params) {
    for (const d of (p.node.type as TensorType).shape) {
      for (const v of d.vars()) {
        if (dims[v] !== undefined || f.derivedDims.some((x) => x.name === v)) continue;
        // a member of a dimension family (r[3]) takes the family's value when one is given (--dims r=2)
        const fam = /^(.+)\[\d+\]$/.exec(v)?.[1];
        dims[v] = fam !== undefined && given[fam] !== undefined ? given[fam]! : DEFAULT_DIM;
      }
    }
  }
  for (const dd of f.derivedDims) dims[dd.name] = dd.value.eval(dims);
  return dims;
}

/** Seeded random inputs with the declared structure (ints 0, complex parameters drawn in the
 *  complex sense); `draw` may supply one instance of a real parameter instead (`matc bench`: PMaF's
 *  IED data for `sym`). */
export function randomInputs(fn: CompiledFn, dims: Record<string, number>, batch: number[], seed: number, draw?: (t: TensorType, shape: number[], rng: Rng) => Float64Array | undefined): Record<string, Tensor> {
  const rng = new Rng(seed);
  const out: Record<string, Tensor> = {};
  for (const p of fn.func.params) {
    const t = p.node.type as TensorType;
    if (t.shape.length === 0 && p.default !== undefined) {
      out[p.name] = new Tensor([], [p.default]);
      continue;
    }
    const shape = t.shape.map((d) => d.eval(dims));
    const size = shape.reduce((a, b) => a * b, 1);
    const B = batch.reduce((a, b) => a * b, 1);
    const bad = shape.findIndex((d) => !Number.isInteger(d) || d < 0);
    if (bad >= 0) throw new MatcRuntimeError('MATR112', `--dims: input '${p.name}' (${t.shape.map(String).join(', ')}) would have shape [${shape.join(', ')}]; every dimension must be a non-negative integer`);
    if (size * B > MAX_RANDOM_ELEMENTS) {
      throw new MatcRuntimeError('MATR112', `--dims${B > 1 ? '/--batch' : ''}: input '${p.name}' would have ${(size * B).toExponential(2)} elements (shape [${[...batch, ...shape].join(', ')}]); --random generates at most ${MAX_RANDOM_ELEMENTS.toLocaleString('en-US')} per input`);
    }
    const data = new Float64Array(size * B);
    // an int (int state) starts at 0 (`matc run` computes an optimizer's state with NAME.init)
    // a complex parameter (packed (…, 2)) is drawn with its structure in the complex sense
    if (t.dtype !== 'i') for (let b = 0; b < B; b++) data.set(p.complex ? randomComplexInstance(rng, shape.slice(0, -1), p.complex) : (draw?.(t, shape, rng) ?? randomInstance(rng, shape, t.struct)), b * size);
    out[p.name] = new Tensor([...batch, ...shape], data);
  }
  return out;
}

export function randomLike(shapes: Record<string, Tensor>, seed: number): Record<string, Tensor> {
  const rng = new Rng(seed);
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(shapes)) out[k] = new Tensor(t.shape, rng.normals(t.size));
  return out;
}
