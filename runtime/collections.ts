// Compile-time collections at the call boundary. A collection parameter `cores` of a function is
// flattened by the compiler into ordinary parameters `cores[0]`, `cores[1]`, … (brackets are in no
// identifier of the language, so these names are the compiler's own); results, gradients and
// tangents of collections are flattened the same way. Callers pass a collection as an array
// (`{ cores: [c0, c1, c2, c3] }`) or by its element names, and get the elements of collection
// results, gradients and tangents back as arrays as well (CompiledFn's `outputLists`,
// `gradientLists`, `tangentLists`).

import { MatcRuntimeError } from '../core/errors.js';
import type { Tensor } from './tensor.js';
import type { InputValue } from './bind.js';

/** An input of a call: a value, or a collection of values (an array of them). */
export type CallInput = InputValue | readonly InputValue[];

/** `cores[2]` → { base: 'cores', index: 2 }; null for a name that is not an element. */
export function elementOf(name: string): { base: string; index: number } | null {
  const m = /^(.+)\[(\d+)\]$/.exec(name);
  return m ? { base: m[1]!, index: Number(m[2]) } : null;
}

/** The collections among `names` (flattened element names) with their lengths. */
export function collectionsOf(names: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of names) {
    const e = elementOf(n);
    if (e) out.set(e.base, Math.max(out.get(e.base) ?? 0, e.index + 1));
  }
  return out;
}

/** Values keyed by a collection's name whose value is an array (of tensors, nested arrays, …)
 *  become entries `name[0]`, `name[1]`, … . `names` are the flattened names the function takes;
 *  `what` words errors ("input", "cotangent"). A collection given with the wrong length is
 *  MATR161; other keys pass through (binding reports unknown names). */
export function flattenCollections(values: Record<string, CallInput>, names: readonly string[], what: string, fn: string, declared: readonly string[] = []): Record<string, InputValue> {
  const cols = collectionsOf(names);
  // a declared collection that this specialisation flattens into no elements (`xs: [T for i in
  // 0..K - 1]` at K = 1) is known by name only: an empty array (or undefined) for it is accepted
  for (const k of declared) if (!cols.has(k) && !names.includes(k)) cols.set(k, 0);
  if (cols.size === 0 || values === null || typeof values !== 'object') return values as Record<string, InputValue>;
  const out: Record<string, InputValue> = {};
  for (const [k, v] of Object.entries(values)) {
    const n = cols.get(k);
    if (n === 0 && (v === undefined || Array.isArray(v))) {
      if (v !== undefined && v.length !== 0) throw new MatcRuntimeError('MATR161', `${fn}: ${what} '${k}' is a collection of no elements here, but ${v.length} were given`);
      continue;
    }
    if (n === undefined || !Array.isArray(v)) {
      out[k] = v as InputValue;
      continue;
    }
    if (v.length !== n) {
      throw new MatcRuntimeError('MATR161', `${fn}: ${what} '${k}' is a collection of ${n} element${n === 1 ? '' : 's'} (${k}[0] … ${k}[${n - 1}]), but ${v.length} were given`);
    }
    v.forEach((x, i) => {
      const key = `${k}[${i}]`;
      if (key in values) throw new MatcRuntimeError('MATR161', `${fn}: ${what} '${key}' is given twice: as ${key} and in the array ${k}`);
      out[key] = x as InputValue;
    });
  }
  return out;
}

/** The length of the collection `name` in `values`: an array, or elements given by name. */
export function collectionLength(values: Record<string, unknown>, name: string): number | null {
  const v = values[name];
  if (Array.isArray(v)) return v.length;
  let n = 0;
  while (`${name}[${n}]` in values) n++;
  return n > 0 ? n : null;
}

/** Groups flattened entries `name[k]` into arrays per collection. */
export function groupCollections<T = Tensor>(values: Record<string, T>): Record<string, T[]> {
  const out: Record<string, T[]> = {};
  for (const [k, t] of Object.entries(values)) {
    const e = elementOf(k);
    if (!e) continue;
    (out[e.base] ??= [])[e.index] = t;
  }
  return out;
}
