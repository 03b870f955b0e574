// Type annotations and dimension expressions of the AST → IR types and symbolic dims, with
// diagnostics for unknown type names (MAT0201), wrong dimension counts (MAT0202) and unknown
// dimension names (MAT0206).

import type * as A from '../../grammar/ast.js';
import { closest, type DiagnosticBag } from '../diagnostics.js';
import { Dim } from '../../core/dims.js';
import { type IrType, type Struct, tensorT, scalarT, intT } from '../ir/types.js';
import { checkCount, familyMember } from './statics.js';
import { tickBudget } from '../ir/budget.js';

export interface TypeInfo {
  ir: IrType;
  struct: Struct;
  /** true for `int` (a dimension-like integer) */
  isInt: boolean;
  /** a complex type (`complex`, `cvec`, `cmat`, `ctensor`, `herm`, `hpd`, `unitary`, `cstiefel`):
   *  `ir` is then the type of each part (real and imaginary), the structure read in the complex
   *  sense (sym = Hermitian, orth = unitary); a parameter of it is one IR tensor with a trailing
   *  axis of 2 (compiler/check/complex.ts) */
  complex?: boolean;
}

const typeArity: Record<string, { min: number; max: number; struct: Struct; rank: (d: Dim[]) => Dim[] }> = {
  real: { min: 0, max: 0, struct: 'general', rank: () => [] },
  bool: { min: 0, max: 0, struct: 'general', rank: () => [] },
  vec: { min: 1, max: 1, struct: 'general', rank: (d) => d },
  mat: { min: 2, max: 2, struct: 'general', rank: (d) => d },
  tensor: { min: 1, max: 8, struct: 'general', rank: (d) => d },
  sym: { min: 1, max: 1, struct: 'sym', rank: (d) => [d[0]!, d[0]!] },
  spd: { min: 1, max: 1, struct: 'spd', rank: (d) => [d[0]!, d[0]!] },
  diag: { min: 1, max: 2, struct: 'diag', rank: (d) => (d.length === 1 ? [d[0]!, d[0]!] : d) },
  tril: { min: 1, max: 2, struct: 'tril', rank: (d) => (d.length === 1 ? [d[0]!, d[0]!] : d) },
  triu: { min: 1, max: 2, struct: 'triu', rank: (d) => (d.length === 1 ? [d[0]!, d[0]!] : d) },
  orth: { min: 1, max: 1, struct: 'orth', rank: (d) => [d[0]!, d[0]!] },
  stiefel: { min: 2, max: 2, struct: 'stiefel', rank: (d) => d },
  sphere: { min: 1, max: 1, struct: 'sphere', rank: (d) => d },
};

/** The complex types (docs/language.md, complex numbers): the same shapes, structure in the
 *  complex sense (herm = Hermitian, unitary = Uᴴ U = I). */
const complexArity: Record<string, { min: number; max: number; struct: Struct; rank: (d: Dim[]) => Dim[] }> = {
  complex: typeArity.real!,
  cvec: typeArity.vec!,
  cmat: typeArity.mat!,
  ctensor: typeArity.tensor!,
  herm: typeArity.sym!,
  hpd: typeArity.spd!,
  unitary: typeArity.orth!,
  cstiefel: typeArity.stiefel!,
};

export function isComplexTypeName(name: string): boolean {
  return name in complexArity;
}

export const typeNames = [...Object.keys(typeArity), ...Object.keys(complexArity), 'int'];

/** Resolves a dimension expression; `lookup` maps names to dims (returns undefined if unknown). */
export function resolveDim(d: A.DimAst, lookup: (name: string) => Dim | undefined, diag: DiagnosticBag): Dim {
  switch (d.kind) {
    case 'num':
      if (!Number.isInteger(d.value)) diag.error('MAT0202', 'dimensions are integers', d.span);
      return Dim.const(d.value);
    case 'name': {
      const v = lookup(d.name);
      if (v) return v;
      diag.error('MAT0206', `unknown dimension '${d.name}'`, d.span, {
        label: 'not bound by a parameter type, a where clause or an int parameter',
      });
      return Dim.var(d.name);
    }
    case 'bin': {
      const l = resolveDim(d.left, lookup, diag);
      const r = resolveDim(d.right, lookup, diag);
      if (d.op === '+') return l.add(r);
      if (d.op === '-') return l.sub(r);
      if (d.op === '*') return l.mul(r);
      if (r.constValue() === 0) {
        diag.error('MAT0202', 'dimension division by zero', d.span);
        return l;
      }
      return l.div(r);
    }
    case 'call': {
      if (d.args.length !== 2) {
        diag.error('MAT0202', `${d.fn} of dimensions takes two arguments`, d.span);
        return d.args[0] ? resolveDim(d.args[0], lookup, diag) : Dim.const(0);
      }
      const a = resolveDim(d.args[0]!, lookup, diag);
      const b = resolveDim(d.args[1]!, lookup, diag);
      if (d.fn === 'div') {
        // floor division (docs/language.md, dimensions): ⌊a / b⌋, an integer for every value of the names
        if (b.constValue() === 0) {
          diag.error('MAT0202', 'dimension division by zero', d.span);
          return a;
        }
        return Dim.floorDiv(a, b);
      }
      return d.fn === 'min' ? Dim.min(a, b) : Dim.max(a, b);
    }
    case 'ellipsis':
      diag.error('MAT0202', 'variadic dimensions (...) are not supported; write the tensor rank out', d.span);
      return Dim.const(1);
    // compile-time collections (statics.ts): members of dimension families and reductions, with
    // static indices and bounds (a static int is a constant dimension)
    case 'index': {
      const j = resolveDim(d.index, lookup, diag).constValue();
      if (j === undefined || !Number.isInteger(j)) {
        diag.error('MAT0241', `the index of dimension family ${d.name} must be static`, d.index.span, { label: 'not known when the function is compiled' });
        return Dim.var(familyMember(d.name, 0));
      }
      const v = lookup(familyMember(d.name, j));
      if (v) return v;
      diag.error(j < 0 ? 'MAT0243' : 'MAT0206', `unknown dimension '${familyMember(d.name, j)}'`, d.span, {
        label: 'not bound by a parameter type, a where clause or an int parameter',
      });
      return Dim.var(familyMember(d.name, j));
    }
    case 'reduce': {
      const lo = resolveDim(d.gen.lo, lookup, diag).constValue();
      const hi = resolveDim(d.gen.hi, lookup, diag).constValue();
      if (lo === undefined || hi === undefined) {
        diag.error('MAT0241', `the bounds of ${d.fn}(…) must be static`, d.gen.span, { label: 'not known when the function is compiled' });
        return Dim.const(d.fn === 'prod' ? 1 : 0);
      }
      if (!checkCount(lo, hi, d.gen.span, diag, `${d.fn}(…)`)) return Dim.const(d.fn === 'prod' ? 1 : 0);
      let acc = Dim.const(d.fn === 'prod' ? 1 : 0);
      for (let j = lo; j < hi; j++) {
        tickBudget();
        const t = resolveDim(d.body, (n) => (n === d.gen.index.name ? Dim.const(j) : lookup(n)), diag);
        acc = d.fn === 'prod' ? acc.mul(t) : acc.add(t);
      }
      return acc;
    }
    case 'each':
      diag.error('MAT0242', '`d for i in lo..hi` gives several dimensions; it can only be an entry of a type’s dimension list', d.span);
      return Dim.const(1);
  }
}

/** A type's dimension list with `d[i] for i in lo..hi` entries expanded (static bounds). */
function resolveDims(ds: readonly A.DimAst[], lookup: (name: string) => Dim | undefined, diag: DiagnosticBag): Dim[] {
  const out: Dim[] = [];
  for (const d of ds) {
    if (d.kind !== 'each') {
      out.push(resolveDim(d, lookup, diag));
      continue;
    }
    const lo = resolveDim(d.gen.lo, lookup, diag).constValue();
    const hi = resolveDim(d.gen.hi, lookup, diag).constValue();
    if (lo === undefined || hi === undefined) {
      diag.error('MAT0241', 'the bounds of a dimension list entry `d for i in lo..hi` must be static', d.gen.span, { label: 'not known when the function is compiled' });
      continue;
    }
    if (!checkCount(lo, hi, d.gen.span, diag, 'a dimension list')) continue;
    for (let j = lo; j < hi; j++) {
      tickBudget();
      out.push(resolveDim(d.body, (n) => (n === d.gen.index.name ? Dim.const(j) : lookup(n)), diag));
    }
  }
  return out;
}

/** Resolves a type annotation. `bindDims` decides how free names in dims are treated. */
export function resolveType(t: A.TypeAst, lookup: (name: string) => Dim | undefined, diag: DiagnosticBag): TypeInfo | null {
  const name = t.name.name;
  if (name === '<error>') return null;
  if (t.each) {
    diag.error('MAT0242', 'a collection type can only declare a parameter, a result or optimizer state', t.span, {
      suggestion: 'loop carries, argmin variables and solve unknowns are single tensors',
    });
    return null;
  }
  if (t.static) {
    diag.error('MAT0240', "'static' applies to int parameters only", t.span, { suggestion: "drop 'static'" });
    return null;
  }
  if (name === 'int') {
    if (t.dims) diag.error('MAT0202', "'int' takes no dimensions", t.span);
    return { ir: intT, struct: 'general', isInt: true };
  }
  const complex = isComplexTypeName(name);
  const spec = complex ? complexArity[name] : typeArity[name];
  if (!spec) {
    const sug = closest(name, typeNames);
    diag.error('MAT0201', `unknown type '${name}'`, t.name.span, {
      label: 'not a type',
      suggestion: sug ? `did you mean '${sug}'?` : `types are ${typeNames.join(', ')}`,
    });
    return null;
  }
  const dims = resolveDims(t.dims ?? [], lookup, diag);
  if (dims.length < spec.min || dims.length > spec.max) {
    const want = spec.min === spec.max ? `${spec.min}` : `${spec.min} to ${spec.max}`;
    diag.error('MAT0202', `'${name}' takes ${want} dimension${spec.max === 1 ? '' : 's'}, got ${dims.length}`, t.span, {
      suggestion: name === 'mat' && dims.length === 1 ? `write mat[${t.dims![0] ? dims[0] : 'n'}, ${t.dims![0] ? dims[0] : 'n'}] or sym[n]` : undefined,
    });
    return null;
  }
  const shape = spec.rank(dims);
  return { ir: shape.length === 0 ? scalarT : tensorT(shape, 'f', complex ? undefined : spec.struct), struct: spec.struct, isInt: false, ...(complex ? { complex: true } : {}) };
}

/** Collects dimension names that appear as a whole dimension in a type (these are bound by it). */
export function bindableDimNames(t: A.TypeAst): A.Ident[] {
  const out: A.Ident[] = [];
  for (const d of t.dims ?? []) if (d.kind === 'name') out.push({ name: d.name, span: d.span });
  return out;
}
