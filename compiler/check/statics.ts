// Compile-time collections, part 1: static values and the expansion of signatures.
//
// A parameter `K: static int` has a value known when the function is compiled: the function is a
// *generic* item, elaborated once per set of static values (a *specialisation*, named
// `tt[K=4]`). Collections are lists of tensors whose shapes may differ, typed by a comprehension
// over static bounds: `cores: [tensor[r[i], n[i], r[i + 1]] for i in 0..K]`. `r[i]` names a member
// of a *dimension family*: with i static it is the ordinary dimension named `r[3]` (brackets are in
// no identifier of the language, so `r[3]` never collides with a user's name).
//
// At the function boundary a collection is flattened into ordinary parameters `cores[0]`,
// `cores[1]`, …, so that signatures, binding, executables and the AOT machinery downstream see
// plain tensors. This file does that on the AST: given the static values, `expandSignature`
// rewrites the parameter, result, state and where declarations of an item into flattened,
// collection-free declarations — static names replaced by their numbers, family members `r[i + 1]`
// by names `r[4]`, reductions `prod(n[i] for i in 0..K)` by products — which the existing
// elaboration (items.ts: binding dimensions from bare names, unifying call arguments) then reads
// unchanged. The elaborator's side (list values, indexing, comprehensions, `unroll`) is in
// collections.ts.

import type * as A from '../../grammar/ast.js';
import type { DiagnosticBag } from '../diagnostics.js';
import type { Span } from '../source.js';
import { limitNote, limits } from '../limits.js';
import { tickBudget } from '../ir/budget.js';

/** Terms of static reductions evaluated by one call of staticDim at most (outside a stage's budget). */
const STATIC_WORK = 1_000_000;
const staticWork = { steps: 0 };

/** The most elements a collection, comprehension or unrolled loop may have, and the largest
 *  static value: each element is elaborated (and its IR built) once. */
export const MAX_STATIC = limits.maxStatic;

/** Static values in scope: static parameters and the variables of type-level generators. */
export type StaticEnv = ReadonlyMap<string, number>;

/** The name of member j of dimension family `name`: `r[3]`. */
export function familyMember(name: string, j: number): string {
  return `${name}[${j}]`;
}

/** The name of element k of collection `name` (a flattened parameter or result): `cores[2]`. */
export function elementName(name: string, k: number): string {
  return `${name}[${k}]`;
}

/** Reads a flattened element name `cores[2]` back: the collection and the position, or null. */
export function parseElementName(name: string): { base: string; index: number } | null {
  const m = /^(.+)\[(\d+)\]$/.exec(name);
  return m ? { base: m[1]!, index: Number(m[2]) } : null;
}

/** The name of a specialisation: `tt[K=4]`, `f[K=4,M=2]` (static parameters in declaration
 *  order); an optimizer's init function is `NAME[K=4].init`. */
export function specName(name: string, statics: readonly (readonly [string, number])[]): string {
  return `${name}[${statics.map(([k, v]) => `${k}=${v}`).join(',')}]`;
}

/** Reads `tt[K=4,M=2]` (or `opt[K=4].init`) back, or null. */
export function parseSpecName(s: string): { base: string; statics: Map<string, number>; suffix: string } | null {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)\[([^\]]*)\](\.init)?$/.exec(s);
  if (!m) return null;
  const statics = new Map<string, number>();
  for (const part of m[2]!.split(',')) {
    const kv = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\d+)\s*$/.exec(part);
    if (!kv) return null;
    statics.set(kv[1]!, Number(kv[2]));
  }
  return { base: m[1]!, statics, suffix: m[3] ?? '' };
}

// ---- static evaluation of dimension expressions ------------------------------------------------------

/** The value of a dimension expression when it is static (numbers, static names, generator
 *  variables, + − * / min max, reductions of static terms), else null. Reports nothing. */
export function staticDim(d: A.DimAst, env: StaticEnv, top = true): number | null {
  if (top) staticWork.steps = 0;
  switch (d.kind) {
    case 'num':
      return Number.isInteger(d.value) ? d.value : null;
    case 'name':
      return env.get(d.name) ?? null;
    case 'bin': {
      const l = staticDim(d.left, env, false);
      const r = staticDim(d.right, env, false);
      if (l === null || r === null) return null;
      if (d.op === '+') return l + r;
      if (d.op === '-') return l - r;
      if (d.op === '*') return l * r;
      return r !== 0 && l % r === 0 ? l / r : null;
    }
    case 'call': {
      const xs = d.args.map((a) => staticDim(a, env, false));
      if (xs.length !== 2 || xs.some((x) => x === null)) return null;
      if (d.fn === 'div') return xs[1]! > 0 ? Math.floor(xs[0]! / xs[1]!) : null;
      return d.fn === 'min' ? Math.min(xs[0]!, xs[1]!) : Math.max(xs[0]!, xs[1]!);
    }
    case 'reduce': {
      const lo = staticDim(d.gen.lo, env, false);
      const hi = staticDim(d.gen.hi, env, false);
      if (lo === null || hi === null || hi - lo > MAX_STATIC) return null;
      let acc = d.fn === 'prod' ? 1 : 0;
      for (let j = lo; j < hi; j++) {
        // nested reductions multiply their ranges: every term is charged (MAT0703), and outside a
        // stage (the JIT reading a bound) the work is capped
        tickBudget();
        if (++staticWork.steps > STATIC_WORK) return null;
        const x = staticDim(d.body, new Map([...env, [d.gen.index.name, j]]), false);
        if (x === null) return null;
        acc = d.fn === 'prod' ? acc * x : acc + x;
      }
      return acc;
    }
    case 'index':
    case 'each':
    case 'ellipsis':
      return null;
  }
}

/** Static bounds of a generator, reported (MAT0241 / MAT0243 / MAT0244) when they are not. */
export function staticRange(gen: A.DimGen, env: StaticEnv, diag: DiagnosticBag, what: string): { lo: number; hi: number } | null {
  const lo = staticDim(gen.lo, env);
  const hi = staticDim(gen.hi, env);
  for (const [v, d] of [
    [lo, gen.lo],
    [hi, gen.hi],
  ] as const) {
    if (v === null) {
      diag.error('MAT0241', `the bounds of ${what} must be static`, d.span, {
        label: 'not known when the function is compiled',
        notes: [{ message: 'static values are integer literals, static int parameters, indices of unroll loops and comprehensions, and arithmetic on them' }],
        suggestion: 'declare the bound as a parameter K: static int (its value is then given per call, and the function compiled per value)',
      });
      return null;
    }
  }
  return checkCount(lo!, hi!, gen.span, diag, what) ? { lo: lo!, hi: hi! } : null;
}

/** Checks that lo..hi is a range of at most MAX_STATIC elements. */
export function checkCount(lo: number, hi: number, span: Span, diag: DiagnosticBag, what: string): boolean {
  if (hi < lo) {
    diag.error('MAT0243', `${what} runs over ${lo}..${hi}, which is reversed`, span, {
      notes: [{ message: 'a range lo..hi has hi − lo elements, so hi must be at least lo' }],
    });
    return false;
  }
  if (hi - lo > MAX_STATIC) {
    diag.error('MAT0244', `${what} has ${hi - lo} elements, more than matc unrolls`, span, {
      notes: [{ message: limitNote('elements of a compile-time collection or iterations of an unrolled loop', MAX_STATIC) }],
      suggestion: 'use iterate for long loops over values of one shape',
    });
    return false;
  }
  return true;
}

// ---- substitution ---------------------------------------------------------------------------------------

/** Replaces static names and generator variables by numbers, family members by their names (`r[4]`),
 *  and static reductions by their products and sums (non-static ones by chains of + and *). */
export function substDim(d: A.DimAst, env: StaticEnv, diag: DiagnosticBag): A.DimAst {
  switch (d.kind) {
    case 'num':
    case 'ellipsis':
      return d;
    case 'name': {
      const v = env.get(d.name);
      return v === undefined ? d : { kind: 'num', value: v, span: d.span };
    }
    case 'bin':
      return { ...d, left: substDim(d.left, env, diag), right: substDim(d.right, env, diag) };
    case 'call':
      return { ...d, args: d.args.map((a) => substDim(a, env, diag)) };
    case 'index': {
      const j = staticDim(d.index, env);
      if (j === null) {
        diag.error('MAT0241', `the index of dimension family ${d.name} must be static`, d.index.span, {
          label: 'not known when the function is compiled',
          suggestion: `index ${d.name} by a static int parameter, a literal, or the variable of a comprehension or unroll`,
        });
        return { kind: 'name', name: familyMember(d.name, 0), span: d.span };
      }
      if (j < 0) {
        diag.error('MAT0243', `dimension family ${d.name} has no member ${j}`, d.index.span, { notes: [{ message: 'members of dimension families are numbered from 0' }] });
        return { kind: 'name', name: familyMember(d.name, 0), span: d.span };
      }
      return { kind: 'name', name: familyMember(d.name, j), span: d.span };
    }
    case 'reduce': {
      const r = staticRange(d.gen, env, diag, `${d.fn}(…)`);
      if (!r) return { kind: 'num', value: d.fn === 'prod' ? 1 : 0, span: d.span };
      let acc: A.DimAst | null = null;
      for (let j = r.lo; j < r.hi; j++) {
        tickBudget();
        const t = substDim(d.body, new Map([...env, [d.gen.index.name, j]]), diag);
        acc = acc ? { kind: 'bin', op: d.fn === 'prod' ? '*' : '+', left: acc, right: t, span: d.span } : t;
      }
      return acc ?? { kind: 'num', value: d.fn === 'prod' ? 1 : 0, span: d.span };
    }
    case 'each':
      diag.error('MAT0242', '`d for i in lo..hi` gives several dimensions; it can only be an entry of a type’s dimension list', d.span, {
        suggestion: 'write tensor[d[i] for i in 0..N], or a reduction prod(d[i] for i in 0..N) for one dimension',
      });
      return { kind: 'num', value: 1, span: d.span };
  }
}

/** A type's dimension list with `d[i] for i in lo..hi` entries expanded. */
export function substDims(ds: readonly A.DimAst[], env: StaticEnv, diag: DiagnosticBag): A.DimAst[] {
  const out: A.DimAst[] = [];
  for (const d of ds) {
    if (d.kind !== 'each') {
      out.push(substDim(d, env, diag));
      continue;
    }
    const r = staticRange(d.gen, env, diag, 'a dimension list');
    if (!r) continue;
    for (let j = r.lo; j < r.hi; j++) {
      tickBudget();
      out.push(substDim(d.body, new Map([...env, [d.gen.index.name, j]]), diag));
    }
  }
  return out;
}

/** A non-collection type with its dimensions substituted. */
export function substType(t: A.TypeAst, env: StaticEnv, diag: DiagnosticBag): A.TypeAst {
  if (!t.dims) return t;
  return { ...t, dims: substDims(t.dims, env, diag) };
}

// ---- signatures -----------------------------------------------------------------------------------------

/** Whether a parameter is `static int`. */
export function isStaticParam(p: A.Param): boolean {
  return !!p.type?.static;
}

/** The static parameters of an item (functions: params; optimizers: params and hyper). */
export function staticParams(item: A.FnItem | A.OptimizerItem): A.Param[] {
  const all = item.kind === 'optimizer' ? [...item.params, ...item.hyper] : item.params;
  return all.filter(isStaticParam);
}

/** The default value of a static parameter (a non-negative integer literal), if any. */
export function staticDefault(p: A.Param): number | undefined {
  const d = p.default;
  return d && d.kind === 'num' && !d.imag && Number.isInteger(d.value) && d.value >= 0 ? d.value : undefined;
}

/** Reports misuse of `static` in a parameter list (MAT0240): only `static int` parameters, with
 *  non-negative integer literal defaults. Returns whether the declarations are sound. */
export function checkStaticDecls(params: readonly A.Param[], diag: DiagnosticBag): boolean {
  let ok = true;
  for (const p of params) {
    const t = p.type;
    if (!t) continue;
    if (t.static && (t.name.name !== 'int' || t.dims)) {
      diag.error('MAT0240', `'static' applies to int parameters only; ${p.name.name} is ${t.name.name}`, t.span, {
        notes: [{ message: 'a static int is a number known when the function is compiled: a count of cores, factors or modes' }],
        suggestion: `declare ${p.name.name}: static int, or drop 'static'`,
      });
      ok = false;
    }
    if (t.static && p.default && staticDefault(p) === undefined) {
      diag.error('MAT0240', `the default of static parameter ${p.name.name} must be a non-negative integer literal`, p.default.span);
      ok = false;
    }
    for (let e = t.each; e; e = e.elem.each) {
      if (e.elem.static) {
        diag.error('MAT0240', `'static' applies to int parameters, not to the elements of a collection`, e.elem.span);
        ok = false;
      }
      if (e.elem.each) {
        diag.error('MAT0242', 'collections of collections are not supported', e.elem.span, { suggestion: 'flatten them into one collection, indexing a dimension family by a combined index' });
        ok = false;
        break;
      }
      // `n: [int for i in 0..K]` is a family of int parameters: each element `n[j]` is a
      // dimension given by the caller, named like the family member it is (`n[j]`), so types may
      // use `n[i]` inside compound dimensions (`mat[R[i] * n[i] - R[i + 1], R[i + 1]]`).
    }
  }
  return ok;
}

export interface ExpandedSignature {
  /** parameters, flattened: collections become their elements, static parameters are dropped */
  params: A.Param[];
  /** optimizer hyper-parameters, flattened the same way */
  hyper: A.Param[];
  /** one entry per declared result: its name and, flattened, its declarations (one per element
   *  of a collection; null when a declaration could not be expanded) */
  results: { name: string; collection: boolean; decls: A.Result[] } []| null;
  where: A.WhereDim[];
  /** one entry per optimizer state declaration, flattened the same way */
  state: { decl: A.StateDecl; collection: boolean; elems: { name: string; type: A.TypeAst }[] }[] | null;
  /** collection name → the names of its elements (params, hyper, results, state) */
  groups: Map<string, string[]>;
}

/** Expands the declarations of an item for the given static values (every static parameter has
 *  one). Diagnostics at the declarations; the caller adds which specialisation they belong to. */
export function expandSignature(item: A.FnItem | A.OptimizerItem, statics: StaticEnv, diag: DiagnosticBag): ExpandedSignature {
  const groups = new Map<string, string[]>();
  const expandDecl = <T>(name: A.Ident, type: A.TypeAst, make: (name: A.Ident, type: A.TypeAst) => T): T[] => {
    if (!type.each) return [make(name, substType(type, statics, diag))];
    const r = staticRange(type.each.gen, statics, diag, `collection ${name.name}`);
    const names: string[] = [];
    groups.set(name.name, names);
    if (!r) return [];
    const out: T[] = [];
    for (let j = r.lo; j < r.hi; j++) {
      const k = j - r.lo;
      const el = substType(type.each.elem, new Map([...statics, [type.each.gen.index.name, j]]), diag);
      names.push(elementName(name.name, k));
      out.push(make({ name: elementName(name.name, k), span: name.span }, el));
    }
    return out;
  };
  const params = (ps: readonly A.Param[]): A.Param[] =>
    ps.flatMap((p) => {
      if (isStaticParam(p)) return [];
      if (!p.type) return [p];
      if (p.type.each && p.default) diag.error('MAT0242', 'a collection parameter cannot have a default', p.default.span);
      return expandDecl(p.name, p.type, (name, type) => ({ ...p, name, type, ...(p.type!.each ? { default: null } : {}) }));
    });
  const out: ExpandedSignature = {
    params: params(item.params),
    hyper: item.kind === 'optimizer' ? params(item.hyper) : [],
    results: null,
    where: item.where.map((w) => ({ ...w, value: substDim(w.value, statics, diag) })),
    state: null,
    groups,
  };
  if (item.kind !== 'optimizer') {
    const single = item.results.length === 1 && !item.tupleResults;
    const results: NonNullable<ExpandedSignature['results']> = [];
    let ok = true;
    item.results.forEach((r, i) => {
      const base = r.name ?? { name: single ? 'out' : `out${i}`, span: r.type.span };
      if (r.type.static) {
        diag.error('MAT0240', "results are values; 'static' applies to int parameters", r.type.span);
        ok = false;
        return;
      }
      if (r.type.each) results.push({ name: base.name, collection: true, decls: expandDecl(base, r.type, (name, type) => ({ name, type, span: r.span })) });
      else results.push({ name: base.name, collection: false, decls: [{ ...r, type: substType(r.type, statics, diag) }] });
    });
    if (ok) out.results = results;
  } else {
    const state: NonNullable<ExpandedSignature['state']> = [];
    let ok = true;
    for (const s of item.body.state) {
      if (s.type.static) {
        diag.error('MAT0240', "state variables are values; 'static' applies to int parameters", s.type.span);
        ok = false;
        continue;
      }
      state.push({ decl: s, collection: !!s.type.each, elems: expandDecl(s.name, s.type, (name, type) => ({ type, name: name.name })) });
    }
    if (ok) out.state = state;
  }
  return out;
}

/** How a static parameter can be inferred from a collection argument: the collection parameters
 *  whose bound is `lo..K` with K that parameter alone and lo static without it. */
export function inferenceSources(item: A.FnItem | A.OptimizerItem): Map<string, { param: string; position: number; lo: A.DimAst }[]> {
  const out = new Map<string, { param: string; position: number; lo: A.DimAst }[]>();
  const all = item.kind === 'optimizer' ? [...item.params, ...item.hyper] : item.params;
  const stateTypes = item.kind === 'optimizer' ? item.body.state.map((s) => ({ name: s.name, type: s.type })) : [];
  const entries = [...all.map((p) => ({ name: p.name, type: p.type })), ...stateTypes];
  entries.forEach((p, position) => {
    const g = p.type?.each?.gen;
    if (!g || g.hi.kind !== 'name') return;
    const list = out.get(g.hi.name) ?? [];
    list.push({ param: p.name.name, position, lo: g.lo });
    out.set(g.hi.name, list);
  });
  return out;
}

/** What a caller outside the language (the JIT, the CLI) needs to specialise a generic item:
 *  its static parameters in order, and how each may be read off the length of a collection
 *  input (`lo` is the collection's static start, evaluated with the statics known so far). */
export interface GenericInfo {
  name: string;
  statics: { name: string; default?: number }[];
  sources: Map<string, { param: string; lo: (known: StaticEnv) => number | null }[]>;
  /** the collection parameters (and optimizer state), which a specialisation may flatten into no
   *  elements at all: a caller may still pass them as an empty array */
  collections: string[];
}

export function genericInfo(item: A.FnItem | A.OptimizerItem): GenericInfo {
  const sources = new Map<string, { param: string; lo: (known: StaticEnv) => number | null }[]>();
  for (const [k, list] of inferenceSources(item)) sources.set(k, list.map((s) => ({ param: s.param, lo: (known: StaticEnv) => staticDim(s.lo, known) })));
  return {
    name: item.name.name,
    statics: staticParams(item).map((p) => {
      const d = staticDefault(p);
      return { name: p.name.name, ...(d !== undefined ? { default: d } : {}) };
    }),
    sources,
    collections: [
      ...(item.kind === 'optimizer' ? [...item.params, ...item.hyper] : item.params).filter((p) => p.type?.each).map((p) => p.name.name),
      ...(item.kind === 'optimizer' ? item.body.state.filter((s) => s.type.each).map((s) => s.name.name) : []),
    ],
  };
}
