// Program-level elaboration: imports, the item table, and each fn / layer / optimizer turned into
// an IR Func. Dimension names are bound by parameter types (a bare name in a type binds it),
// int parameters and where-clauses; a name that only appears inside a compound dimension
// cannot be inferred from the inputs (MAT0207).

import { dirname, resolve as resolvePath, join, relative, sep } from 'node:path';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as A from '../../grammar/ast.js';
import { parseFile } from '../../grammar/build-ast.js';
import { closest, DiagnosticBag, type Note } from '../diagnostics.js';
import { Dim, DimTooLarge, shapeEquals, shapeToString } from '../../core/dims.js';
import { Builder, shapeOf } from '../ir/builder.js';
import { freeParams, type Func, type FuncParam, type FuncResult, type Node, type StatusEntry } from '../ir/node.js';
import { intT, type Struct, type TensorType } from '../ir/types.js';
import { type SourceFile, type Span, sourceFile } from '../source.js';
import { Elab, type ElabContext } from './elaborate.js';
import { roundStatesOnEntry } from '../opt/lowp-storage.js';
import { Scope } from './scope.js';
import { resolveDim, resolveType, type TypeInfo } from './type-ast.js';
import { type Val, arr, describeVal, poison, shapeLabel } from './values.js';
import { findRecursion } from './recursion.js';
import { type BoundParam, elaborateWithRule } from './custom.js';
import { MAX_STATIC, type ExpandedSignature, type StaticEnv, checkStaticDecls, expandSignature, inferenceSources, isStaticParam, specName, staticDefault, staticDim, staticParams } from './statics.js';
import { requireStatic } from './collections.js';
import { expandStructures } from './structures.js';
import { LimitExceeded, budgetDiagnostic, dimDiagnostic, limitNote, limits } from '../limits.js';
import { complexForReal, pack, packedType, unpack } from './complex.js';
import { BudgetExceeded, stageBudget, stepCount, withBudget } from '../ir/budget.js';

export interface ItemEntry {
  item: A.FnItem | A.OptimizerItem;
  file: SourceFile;
  /** an instance of an item generic over structures (structures.ts): the note its diagnostics get */
  instance?: Note;
  /** static int parameters an instance item binds (`optimizer ingd_f16 = ingd[lowp = 1]`): when
   *  they are all of the item's static parameters, the item is elaborated at them under its own
   *  plain name, not as a specialisation `ingd_f16[lowp=1]` */
  fixed?: [string, number][];
}

export interface SourceLoader {
  /** Returns the text of a file, or undefined if it does not exist. */
  read(path: string): string | undefined;
}

export const fsLoader: SourceLoader = {
  read(path) {
    try {
      return statSync(path).isFile() ? readFileSync(path, 'utf8') : undefined;
    } catch {
      return undefined;
    }
  },
};

/** The directory holding the standard library (.mat files shipped with matc). */
export function stdlibDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // compiled: dist/compiler/check → ../../../stdlib ; sources: compiler/check → ../../stdlib
  for (const up of ['../../../stdlib', '../../stdlib']) {
    const p = resolvePath(here, up);
    if (existsSync(p)) return p;
  }
  return resolvePath(here, '../../../stdlib');
}

export interface ProgramOut {
  files: { file: SourceFile; program: A.Program }[];
  items: Map<string, ItemEntry>;
  funcs: Map<string, Func>;
  /** items with static parameters, by name: compiled per set of static values (specialize) */
  generics: Map<string, ItemEntry>;
  /** what elaborating a specialisation later needs */
  ctx: ElabContext;
}

export interface ElaborateOptions {
  /** what each item's check may take (compiler/ir/budget.ts) */
  budgetMs?: number;
  budgetSteps?: number;
}

/** Parses the main file and its imports, then elaborates every item. */
export function elaborateProgram(main: SourceFile, diag: DiagnosticBag, loader: SourceLoader = fsLoader, builder = new Builder(), opts: ElaborateOptions = {}): ProgramOut {
  const files: { file: SourceFile; program: A.Program }[] = [];
  const items = new Map<string, ItemEntry>();
  const loaded = new Set<string>();
  const visiting: string[] = [];

  // Per-file visibility (issue 10: `import { reflect } from "qr.mat"` also made `householder`
  // callable). Item names form one table (a name is defined once in a program), but each file
  // sees only its own items and what its imports give it: `import "g.mat"` everything g.mat
  // sees (its items and its imports'), `import { a, b } from "g.mat"` only a and b. Items of g
  // still call what g sees, since a call is resolved in the file that holds it.
  const byKey = new Map<string, SourceFile>();
  const edges = new Map<SourceFile, { target: SourceFile; it: Extract<A.Item, { kind: 'import' }> }[]>();
  const load = (file: SourceFile): void => {
    const key = resolvePath(file.path);
    loaded.add(key);
    byKey.set(key, file);
    edges.set(file, []);
    visiting.push(key);
    const program = parseFile(file, diag);
    files.push({ file, program });
    for (const it of program.items) {
      if (it.kind === 'import') {
        if (!it.path) continue;
        const candidates = [resolvePath(dirname(file.path), it.path), join(stdlibDir(), it.path)];
        const found = candidates.find((p) => loader.read(p) !== undefined);
        if (!found) {
          diag.error('MAT0306', `cannot find "${it.path}"`, it.span, {
            notes: [{ message: `looked in ${candidates.join(' and ')}` }],
          });
          continue;
        }
        if (visiting.includes(found)) {
          const chain = [...visiting.slice(visiting.indexOf(found)), found].map((p) => p.split('/').pop());
          diag.error('MAT0306', found === key ? `a file cannot import itself` : `import cycle: ${chain.join(' → ')}`, it.span);
          continue;
        }
        if (!loaded.has(found)) load(sourceFile(found, loader.read(found)!));
        const target = byKey.get(found);
        if (target) edges.get(file)!.push({ target, it });
      }
    }
    for (const it of program.items) {
      // structures and instances are registered by expandStructures (structures.ts)
      if (it.kind === 'import' || it.kind === 'structure' || it.kind === 'instance') continue;
      const prev = items.get(it.name.name);
      if (prev) {
        diag.error('MAT0305', `'${it.name.name}' is defined twice`, it.name.span, {
          notes: [{ message: 'first defined here', span: prev.item.name.span }],
        });
        continue;
      }
      if (it.name.name !== '<error>') items.set(it.name.name, { item: it, file });
    }
    visiting.pop();
  };
  load(main);
  // structured matrix classes: templates monomorphised, members and instances added as items
  const structured = expandStructures(files, items, diag);

  const visible = new Map<SourceFile, Set<string>>();
  const ownNames = new Map<SourceFile, string[]>(files.map(({ file, program }) => [file, program.items.flatMap((it) => (it.kind === 'import' ? [] : [it.name.name]))]));
  const visibleIn = (file: SourceFile): Set<string> => {
    let seen = visible.get(file);
    if (seen) return seen;
    seen = new Set([...(ownNames.get(file) ?? []), ...structured.global]);
    visible.set(file, seen); // before the imports: a cycle (MAT0306, reported) ends here
    for (const { target, it } of edges.get(file) ?? []) {
      const there = visibleIn(target);
      if (!it.names) for (const n of there) seen.add(n);
      else for (const n of it.names) if (there.has(n.name)) seen.add(n.name);
    }
    return seen;
  };
  for (const { file } of files) {
    for (const { target, it } of edges.get(file) ?? []) {
      const there = visibleIn(target);
      for (const n of it.names ?? []) {
        if (!there.has(n.name)) {
          const sug = closest(n.name, there);
          diag.error('MAT0306', `"${it.path}" has no function '${n.name}'`, n.span, { suggestion: sug ? `did you mean '${sug}'?` : undefined });
        }
      }
    }
  }
  const where = new Map<string, SourceFile>();
  for (const { file } of files) for (const n of ownNames.get(file) ?? []) if (!where.has(n)) where.set(n, file);

  const ctx: ElabContext = {
    visibleIn: (file) => visibleIn(file),
    importPath: (from, name) => {
      const home = items.get(name)?.file ?? where.get(name);
      if (!home) return undefined;
      // as an import in `from` would spell it: relative to it, or a bare stdlib name
      const abs = resolvePath(home.path);
      if (abs.startsWith(stdlibDir() + '/')) return abs.slice(stdlibDir().length + 1);
      const rel = relative(dirname(resolvePath(from.path)), abs);
      return rel.split(sep).join('/');
    },
    items,
    inline: (el, entry, args, span, argSpans) => inlineCall(el, entry, args, span, argSpans),
    recursive: findRecursion(items, diag, (file, name) => visibleIn(file).has(name)),
    depth: 0,
    inlined: 0,
  };
  const funcs = new Map<string, Func>();
  const generics = new Map<string, ItemEntry>();
  const budget = stageBudget(opts);
  // The whole program's check has a budget too (issue 12: many items, each within its own
  // budget, added up past 10 s under load): the items' time budget once, their steps
  // PROGRAM_STEPS times. Items check under whichever limit comes first; once the program's is
  // spent, the rest are not checked and one MAT0703 says so.
  const program = { ms: budget.ms, steps: budget.steps * PROGRAM_STEPS };
  const programEnd = { at: performance.now() + program.ms, steps: stepCount() + program.steps };
  const spent = () => performance.now() > programEnd.at || stepCount() > programEnd.steps;
  withBudget('checking the program', program, () => checkItems());
  return { files, items, funcs, generics, ctx };

  function checkItems(): void {
  // Elaborate items of the main file (and imported ones: they are checked too, once).
  for (const [name, entry] of items) {
    ctx.inlined = 0;
    if (spent()) {
      const left = [...items.keys()].slice([...items.keys()].indexOf(name));
      diag.report(budgetDiagnostic(new BudgetExceeded(`checking the program (${items.size} items; ${left.length} not checked: ${left.slice(0, 3).join(', ')}${left.length > 3 ? ', …' : ''})`, performance.now() > programEnd.at ? 'time' : 'steps', performance.now() > programEnd.at ? program.ms : program.steps), entry.item.name.span));
      return;
    }
    try {
      withBudget(`checking ${name}`, budget, () => {
        const sps = staticParams(entry.item);
        const fixed = entry.fixed ? new Map(entry.fixed) : undefined;
        if (sps.length && fixed && sps.every((p) => fixed.has(p.name.name))) {
          // an instance item at every static parameter: one specialisation, named plainly
          const statics = sps.map((p) => [p.name.name, fixed.get(p.name.name)!] as [string, number]);
          for (const f of specializeItem(entry, builder, diag, ctx, statics, false, name)) funcs.set(f.name, f);
          return;
        }
        if (sps.length) {
          // A generic item (static parameters) is checked at each specialisation, and once on
          // its own at the defaults of its static parameters when every one has a default.
          generics.set(name, entry);
          const all = entry.item.kind === 'optimizer' ? [...entry.item.params, ...entry.item.hyper] : entry.item.params;
          if (!checkStaticDecls(all, diag)) return;
          const defaults = defaultStatics(entry.item);
          if (defaults) for (const f of specializeItem(entry, builder, diag, ctx, defaults, true)) funcs.set(f.name, f);
          return;
        }
        // an instance's diagnostics point into its template: a note names the instance
        const bag = entry.instance ? new DiagnosticBag() : diag;
        try {
          if (entry.item.kind === 'optimizer') {
            for (const f of elaborateOptimizer(entry.item, builder, bag, ctx)) funcs.set(f.name, f);
          } else {
            const f = elaborateFn(entry.item, builder, bag, ctx);
            if (f) funcs.set(name, f);
          }
        } finally {
          if (bag !== diag) for (const d of bag.items) diag.report({ ...d, notes: [...(d.notes ?? []), entry.instance!] });
        }
      });
    } catch (e) {
      // A limit unwinds the whole item: its own diagnostic is the one to show.
      if (e instanceof LimitExceeded) diag.report(e.diagnostic);
      else if (e instanceof BudgetExceeded) diag.report(budgetDiagnostic(e, entry.item.name.span));
      else if (e instanceof DimTooLarge) diag.report(dimDiagnostic(e, entry.item.name.span));
      else throw e;
    }
  }
  }
}

/** The whole program's check may take this many times one item's budget of steps. */
export const PROGRAM_STEPS = 10;

// ---- specialisations (compile-time collections: statics.ts) --------------------------------------------

/** The static parameters of an item with their defaults, in declaration order, or null when one
 *  has no default. */
export function defaultStatics(item: A.FnItem | A.OptimizerItem): [string, number][] | null {
  const out: [string, number][] = [];
  for (const p of staticParams(item)) {
    const d = staticDefault(p);
    if (d === undefined) return null;
    out.push([p.name.name, d]);
  }
  return out;
}

/** Elaborates one specialisation of a generic item (a value for every static parameter, in
 *  declaration order): the function (or an optimizer's step and init), named `tt[K=4]`. Its
 *  diagnostics are reported with a note naming the static values. */
export function specializeItem(entry: ItemEntry, b: Builder, diag: DiagnosticBag, ctx: ElabContext, statics: readonly [string, number][], atDefaults = false, plainName?: string): Func[] {
  const item = entry.item;
  const name = plainName ?? specName(item.name.name, statics);
  const bag = new DiagnosticBag();
  const env = new Map(statics);
  let out: Func[] = [];
  try {
    if (item.kind === 'optimizer') out = elaborateOptimizer(item, b, bag, ctx, env, name);
    else {
      const f = elaborateFn(item, b, bag, ctx, env, name);
      if (f) out = [f];
    }
  } finally {
    const values = statics.map(([k, v]) => `${k} = ${v}`).join(', ');
    const note = {
      message: atDefaults ? `in ${name}: ${item.name.name} is checked at the defaults of its static parameters (${values})` : plainName ? `in the instance ${name} (${values})` : `in the specialisation ${name} (${values})`,
      span: item.name.span,
    };
    for (const d of bag.items) diag.report({ ...d, notes: [...(d.notes ?? []), note] });
  }
  return bag.hasErrors ? [] : out;
}

// ---- dimension binding ---------------------------------------------------------------------------

interface SigParam {
  ast: A.Param;
  info: TypeInfo | null;
}

/** Binds dims from parameter types; returns per-param type info. */
function bindSignature(el: Elab, params: A.Param[], where: A.WhereDim[], intDefaults: Map<string, number | undefined>): SigParam[] {
  // Bare names in parameter types bind dimensions; int parameters are dimensions too.
  for (const p of params) {
    if (p.type?.name.name === 'int') {
      el.dims.set(p.name.name, Dim.var(p.name.name));
      const d = p.default;
      intDefaults.set(p.name.name, d && d.kind === 'num' && !d.imag && Number.isInteger(d.value) ? d.value : undefined);
      if (d && !(d.kind === 'num' && !d.imag && Number.isInteger(d.value) && d.value >= 0)) {
        el.diag.error('MAT0211', 'the default of an int parameter must be a non-negative integer literal', d.span);
      }
    }
  }
  // where-dimensions are defined by their clause even when a parameter type mentions them
  const whereNames = new Set(where.map((w) => w.name.name));
  const bare = new Set<string>();
  for (const p of params) for (const d of p.type?.dims ?? []) if (d.kind === 'name' && !whereNames.has(d.name)) bare.add(d.name);
  for (const n of bare) if (!el.dims.has(n)) el.dims.set(n, Dim.var(n));
  // A name that appears only inside compound dimensions (vec[n + 1]) cannot be read off shapes.
  const visit = (d: A.DimAst, inCompound: boolean): void => {
    if (d.kind === 'name' && inCompound && !el.dims.has(d.name) && !whereNames.has(d.name)) {
      el.diag.error('MAT0207', `dimension '${d.name}' cannot be inferred from the inputs`, d.span, {
        label: `${d.name} only appears inside a compound dimension`,
        suggestion: `give some parameter a type with ${d.name} alone (e.g. x: vec[${d.name}]), or declare ${d.name}: int`,
      });
      el.dims.set(d.name, Dim.var(d.name));
    } else if (d.kind === 'bin') {
      visit(d.left, true);
      visit(d.right, true);
    } else if (d.kind === 'call') d.args.forEach((x) => visit(x, true));
  };
  for (const p of params) for (const d of p.type?.dims ?? []) visit(d, false);
  for (const w of where) {
    const v = resolveDim(w.value, (n) => el.dims.get(n), el.diag);
    if (el.dims.has(w.name.name)) {
      el.diag.error('MAT0305', `dimension '${w.name.name}' is already bound by a parameter`, w.name.span);
      continue;
    }
    el.dims.set(w.name.name, v);
  }
  return params.map((p) => {
    if (!p.type) return { ast: p, info: null };
    const lookup = (n: string): Dim | undefined => el.dims.get(n);
    const info = resolveType(p.type, lookup, el.diag);
    return { ast: p, info };
  });
}

function scalarDefault(el: Elab, p: A.Param): number | undefined {
  const d = p.default;
  if (!d) return undefined;
  if (d.kind === 'num' && !d.imag) return d.value;
  if (d.kind === 'unary' && d.op === '-' && d.operand.kind === 'num' && !d.operand.imag) return -d.operand.value;
  el.diag.error('MAT0208', 'parameter defaults must be numeric literals', d.span);
  return undefined;
}

function makeParams(el: Elab, sig: SigParam[], env: Scope, hyper: boolean): FuncParam[] {
  const out: FuncParam[] = [];
  for (const { ast, info } of sig) {
    const name = ast.name.name;
    if (name === '<error>') continue; // a syntax error, already reported
    if (!ast.type && !hyper) {
      el.diag.error('MAT0201', `parameter '${name}' needs a type`, ast.name.span, { suggestion: `e.g. ${name}: mat[m, n]` });
      env.define(name, { val: poison, span: ast.name.span, what: 'parameter' });
      continue;
    }
    if (info?.isInt) continue; // dimension-like: resolved through el.dims
    const type = info?.ir ?? { kind: 'tensor' as const, dtype: 'f' as const, shape: [] };
    if (!info && ast.type) {
      env.define(name, { val: poison, span: ast.name.span, what: 'parameter' });
      continue;
    }
    if (ast.default && type.kind === 'tensor' && (type.shape.length > 0 || info?.complex)) {
      el.diag.error('MAT0208', info?.complex ? 'complex parameters cannot have defaults' : 'only scalar parameters can have defaults', ast.default.span);
    }
    if (info?.complex) {
      // one IR tensor with a trailing axis (re, im): compiler/check/complex.ts
      const node = el.b.g.param(name, packedType(type as TensorType), ast.name.span);
      out.push({ name, node, differentiable: true, span: ast.name.span, complex: info.struct });
      env.define(name, { val: unpack(el.b, node, info.struct), span: ast.name.span, what: 'parameter' });
      continue;
    }
    const node = el.b.g.param(name, type, ast.name.span);
    const dflt = scalarDefault(el, ast);
    out.push({ name, node, differentiable: true, ...(dflt !== undefined ? { default: dflt } : {}), span: ast.name.span });
    env.define(name, { val: arr(node, info?.struct ?? 'general'), span: ast.name.span, what: 'parameter' });
  }
  return out;
}

function derivedDims(where: A.WhereDim[], el: Elab): { name: string; value: Dim }[] {
  return where.map((w) => ({ name: w.name.name, value: el.dims.get(w.name.name) ?? Dim.const(0) }));
}

/** Defines each collection of `groups` in `env` as the list of its elements' values. */
function defineGroups(groups: Map<string, string[]>, env: Scope, spans: Map<string, Span>, ints?: { b: Builder; dims: ReadonlyMap<string, Dim> }): void {
  for (const [name, elems] of groups) {
    // an element that is a dimension (of a family of int parameters `n: [int for i in 0..K]`)
    // is the int value of that dimension, as a family member `n[i]` is
    const vals = elems.map((e) => {
      const v = env.lookup(e)?.val;
      if (v) return v;
      const d = ints?.dims.get(e);
      return d ? ({ k: 'int', node: ints!.b.dim(d), dim: d } as Val) : poison;
    });
    env.define(name, { val: vals.some((v) => v.k === 'error') ? poison : { k: 'list', elems: vals }, span: spans.get(name), what: 'collection' });
  }
}

export function elaborateFn(item: A.FnItem, b: Builder, diag: DiagnosticBag, ctx: ElabContext, statics: StaticEnv = new Map(), name = item.name.name): Func | null {
  const el = new Elab(b, diag, ctx);
  el.inlineStack = [item.name.name];
  el.statusPrefix = `${item.name.name}/`;
  if (!checkStaticDecls(item.params, diag)) return null;
  // collections flattened into their elements, static names replaced by their values (statics.ts)
  const ex = expandSignature(item, statics, diag);
  for (const [k, v] of statics) el.dims.set(k, Dim.const(v));
  const intDefaults = new Map<string, number | undefined>();
  const sig = bindSignature(el, ex.params, ex.where, intDefaults);
  const env = new Scope();
  const params = makeParams(el, sig, env, false);
  defineGroups(ex.groups, env, new Map(item.params.map((p) => [p.name.name, p.name.span])), { b: el.b, dims: el.dims });
  const val = item.grad ? ruleCall(el, item, env, item.name.span) : el.expr(item.body, env);
  if (!ex.results) return null;
  const results = checkResults(el, item, ex.results, val);
  if (!results) return null;
  return {
    name,
    kind: item.kind,
    params,
    results,
    status: topLevelStatuses(el, params),
    intParams: [...intDefaults].map(([name, d]) => ({ name, ...(d !== undefined ? { default: d } : {}) })),
    derivedDims: derivedDims(ex.where, el),
    assertions: el.assertions,
    span: item.name.span,
  };
}

function checkResults(el: Elab, item: A.FnItem, declared: NonNullable<ExpandedSignature['results']>, val: Val): FuncResult[] | null {
  if (val.k === 'error') return null;
  const top = item.results.length === 1 && !item.tupleResults ? [val] : val.k === 'tuple' ? val.elems : [val];
  if (top.length !== item.results.length) {
    el.diag.error('MAT0209', `${item.name.name} declares ${item.results.length} result${item.results.length === 1 ? '' : 's'} but its body gives ${top.length}`, item.body.span);
    return null;
  }
  // a collection result is given by a collection of its length: flattened into its elements
  const elems: Val[] = [];
  const decls: { r: A.Result; name: string; what: string }[] = [];
  for (let i = 0; i < top.length; i++) {
    const d = declared[i]!;
    const v = top[i]!;
    if (!d.collection) {
      const r = d.decls[0]!;
      elems.push(v);
      decls.push({ r, name: d.name, what: r.name ? `result ${d.name}` : item.results.length === 1 ? 'the result' : `result ${i + 1}` });
      continue;
    }
    if (v.k !== 'list' && v.k !== 'tuple') {
      if (v.k !== 'error') {
        el.diag.error('MAT0246', `result ${d.name} is a collection of ${d.decls.length} elements, but the body gives ${describeVal(v)}`, item.body.span, {
          notes: [{ message: `${d.name} is declared here`, span: item.results[i]!.span }],
        });
      }
      return null;
    }
    if (v.elems.length !== d.decls.length) {
      el.diag.error('MAT0246', `result ${d.name} is a collection of ${d.decls.length} elements, but the body gives ${v.elems.length}`, item.body.span, {
        notes: [{ message: `${d.name} is declared here`, span: item.results[i]!.span }],
      });
      return null;
    }
    v.elems.forEach((x, k) => {
      elems.push(x);
      decls.push({ r: d.decls[k]!, name: d.decls[k]!.name!.name, what: `element ${k} of result ${d.name}` });
    });
  }
  const out: FuncResult[] = [];
  for (let i = 0; i < elems.length; i++) {
    const { r, name, what } = decls[i]!;
    const info = resolveType(r.type, (n) => el.dims.get(n), el.diag);
    if (!info) return null;
    const want = info.ir.kind === 'tensor' ? info.ir.shape : [];
    if (info.isInt) {
      el.diag.error('MAT0209', 'results are real values, not int', r.type.span);
      return null;
    }
    const a = el.checkAgainst(elems[i]!, { shape: want }, item.body.span, what, r.type.span);
    if (a.k === 'cx' && !info.complex) {
      complexForReal(el, a, item.body.span, what, r.type.span);
      return null;
    }
    if (info.complex) {
      // a complex result is (re, im) along a trailing axis; a real value has imaginary part 0
      if (a.k === 'cx') out.push({ name, node: pack(el.b, a.re, a.im), complex: true });
      else if (a.k === 'arr') out.push({ name, node: pack(el.b, el.b.broadcastTo(a.node, want), null), complex: true });
      else return null;
      continue;
    }
    if (a.k !== 'arr') return null;
    out.push({ name, node: a.node });
  }
  return out;
}

// ---- inlining user calls ---------------------------------------------------------------------------

interface Inlined {
  val: Val;
  statuses: StatusEntry[];
  assertions: { dim: Dim; message: string; code?: string }[];
}

/** Inlined calls per graph (node ids in the keys belong to one builder). */
const inlinedCalls = new WeakMap<Builder, Map<string, Inlined>>();

function memoOf(b: Builder): Map<string, Inlined> {
  let m = inlinedCalls.get(b);
  if (!m) inlinedCalls.set(b, (m = new Map()));
  return m;
}

/** A memo key for a call: the callee, where its statuses go and what it is applied to; null
 *  when an argument is not a plain value. */
function callKey(el: Elab, name: string, args: Val[]): string | null {
  const parts = [name, el.statusPrefix];
  for (const a of args) {
    if (a.k === 'arr') parts.push(`a${a.node.id}:${a.struct}:${a.row ? 1 : 0}`);
    else if (a.k === 'cx') parts.push(`c${a.re.id}/${a.im.id}:${a.struct}:${a.row ? 1 : 0}`);
    else if (a.k === 'int') parts.push(`i${a.node.id}:${a.dim?.key ?? ''}`);
    else if (a.k === 'lit') parts.push(`l${a.value}:${a.isInt ? 1 : 0}`);
    else return null;
  }
  return parts.join('|');
}

function inlineCall(el: Elab, entry: ItemEntry, args: Val[], span: Span, argSpans: Span[]): Val {
  const item = entry.item;
  if (item.kind === 'optimizer') {
    el.diag.error('MAT0302', `'${item.name.name}' is an optimizer; optimizers are run, not called`, span);
    return poison;
  }
  // Inlining is pure in the callee and its arguments (the IR is hash-consed), so a call that was
  // inlined before with the same arguments gives the same value: a call tree that doubles at
  // every level (f(x) + f(x) down n levels) costs n inlinings, not 2ⁿ.
  const key = callKey(el, item.name.name, args);
  const hit = key === null ? undefined : memoOf(el.b).get(key);
  if (hit) {
    el.statuses.push(...hit.statuses);
    el.assertions.push(...hit.assertions);
    return hit.val;
  }
  if (el.inlineStack.length >= limits.inlineDepth) {
    throw new LimitExceeded({
      code: 'MAT0702',
      severity: 'error',
      message: `calls nested too deeply to inline '${item.name.name}'`,
      span,
      notes: [{ message: limitNote('calls inlined inside one another', limits.inlineDepth) }, { message: `call chain: ${[...el.inlineStack, item.name.name].join(' → ')}` }],
      suggestion: 'flatten the chain of calls, or write the repetition with iterate',
    });
  }
  if (++el.ctx.inlined > limits.inlineCount) {
    throw new LimitExceeded({
      code: 'MAT0702',
      severity: 'error',
      message: `too many calls to inline: '${el.inlineStack[0]}' expands to more than ${limits.inlineCount.toLocaleString('en-US')} inlined function bodies`,
      span,
      notes: [{ message: limitNote('inlined function bodies per function', limits.inlineCount) }, { message: `this call: ${[...el.inlineStack, item.name.name].join(' → ')}` }],
      suggestion: 'call functions on shared values once (bind the result with let), or write the repetition with iterate',
    });
  }
  // Compile-time collections (statics.ts): the callee's static parameters take the static values
  // of their arguments, else the length of a collection argument (`tt(cores)` with
  // `cores: [… for i in 0..K]`), else their defaults; collection arguments are flattened into
  // the callee's element parameters `cores[0]`, `cores[1]`, … and unified like any others.
  const inferable = inferenceSources(item);
  // trailing parameters with defaults (and static ones read off a collection) may be left out
  let required = item.params.length;
  while (required > 0) {
    const p = item.params[required - 1]!;
    if (p.default || (isStaticParam(p) && inferable.has(p.name.name))) required--;
    else break;
  }
  if (args.length < required || args.length > item.params.length) {
    el.diag.error('MAT0303', `${item.name.name} takes ${required === item.params.length ? required : `${required} to ${item.params.length}`} argument${item.params.length === 1 ? '' : 's'}, got ${args.length}`, span, {
      notes: [{ message: `${item.name.name} is defined here`, span: item.name.span }],
    });
    return poison;
  }
  const statics = callStatics(el, item, args, argSpans, span, inferable);
  if (!statics) return poison;
  const exBag = new DiagnosticBag();
  const ex = expandSignature(item, new Map(statics), exBag);
  if (exBag.hasErrors) {
    if (staticParams(item).length === 0 && calleeHasOwnErrors(el, entry)) return poison;
    el.diag.error('MAT0308', `${item.name.name} cannot be applied to these arguments`, span, {
      notes: [...exBag.errors.slice(0, 3).map((d) => ({ message: d.message, ...(d.span ? { span: d.span } : {}) })), ...staticsNote(item.name.name, statics)],
    });
    return poison;
  }
  // (parameter, argument) pairs with collections flattened
  const flat: { p: A.Param; a: Val | undefined; i: number; argSpan: Span; elem?: { group: string; k: number } }[] = [];
  {
    let q = 0;
    for (let i = 0; i < item.params.length; i++) {
      const p = item.params[i]!;
      if (isStaticParam(p)) continue;
      const argSpan = argSpans[i] ?? span;
      if (!p.type?.each) {
        flat.push({ p: ex.params[q++]!, a: args[i], i, argSpan });
        continue;
      }
      const names = ex.groups.get(p.name.name) ?? [];
      const a = args[i];
      if (!a || (a.k !== 'list' && a.k !== 'tuple') || a.elems.length !== names.length) {
        if (a && a.k !== 'error') {
          el.diag.error('MAT0246', `argument ${i + 1} of ${item.name.name} is ${a.k === 'list' || a.k === 'tuple' ? `a collection of ${a.elems.length} element${a.elems.length === 1 ? '' : 's'}` : describeVal(a)}, but ${p.name.name} is a collection of ${names.length}`, argSpan, {
            notes: [{ message: `${p.name.name} is declared here`, span: p.span }, ...staticsNote(item.name.name, statics)],
          });
        }
        return poison;
      }
      names.forEach((_, k) => flat.push({ p: ex.params[q++]!, a: a.elems[k], i, argSpan, elem: { group: p.name.name, k } }));
    }
  }
  // Bind the callee's dimension names to the caller's dimensions by unifying parameter types:
  // first bare names (not where-dimensions), then where-dimensions, then check every dimension.
  const bind = new Map<string, Dim>(statics.map(([k, v]) => [k, Dim.const(v)]));
  const boundBy = new Map<string, string>();
  const sub = new Elab(el.b, new DiagnosticBag(), el.ctx);
  const env = new Scope();
  const whereNames = new Set(ex.where.map((w) => w.name.name));
  const rankOf: Record<string, number> = {
    real: 0, bool: 0, vec: 1, sphere: 1, mat: 2, sym: 2, spd: 2, orth: 2, stiefel: 2, diag: 2, tril: 2, triu: 2,
    complex: 0, cvec: 1, cmat: 2, herm: 2, hpd: 2, unitary: 2, cstiefel: 2,
  };
  const checks: { p: A.Param; i: number; av: Val & { k: 'arr' | 'cx' }; dimList: A.DimAst[]; got: readonly Dim[]; argSpan: Span; elem?: { group: string; k: number } }[] = [];
  for (const { p, a, i, argSpan, elem } of flat) {
    if (a === undefined) {
      // a defaulted trailing scalar
      const d = p.default;
      if (!d) return poison;
      const v = d.kind === 'num' ? d.value : d.kind === 'unary' && d.operand.kind === 'num' ? -d.operand.value : 0;
      if (p.type?.name.name === 'int') bind.set(p.name.name, Dim.const(v));
      else env.define(p.name.name, { val: arr(el.b.const(v)), what: 'parameter' });
      continue;
    }
    if (p.type?.name.name === 'int') {
      // A dimension expression binds the name as a dimension; any other integer (a loop index)
      // is passed as a value, which the callee may use in arithmetic but not in its types.
      const iv = el.toInt(a, argSpan, `argument ${i + 1} of ${item.name.name} (an int parameter)`);
      if (iv.k !== 'int') return poison;
      if (iv.dim) bind.set(p.name.name, iv.dim);
      else env.define(p.name.name, { val: iv, what: 'parameter' });
      continue;
    }
    // a complex argument is taken by any parameter: a function is generic in the field when it is
    // called (its declared types fix the field only where it is an entry point; complex.ts)
    const av = a.k === 'cx' ? a : el.toArr(a, argSpan, elem ? `element ${elem.k} of argument ${i + 1} of ${item.name.name}` : `argument ${i + 1} of ${item.name.name}`);
    if (av.k !== 'arr' && av.k !== 'cx') return poison;
    const got = shapeOf(av.k === 'cx' ? av.re : av.node);
    const dims = p.type?.dims ?? [];
    const tname = p.type?.name.name ?? 'real';
    const want = rankOf[tname] ?? dims.length;
    if (got.length !== want) {
      const what = elem ? `element ${elem.k} of argument ${i + 1} of ${item.name.name}` : `argument ${i + 1} of ${item.name.name}`;
      el.diag.error(elem ? 'MAT0245' : 'MAT0203', `${what} is ${shapeLabel(av)} but the parameter ${p.name.name} is ${tname}${p.type?.dims ? `[${p.type.dims.map(dimText).join(', ')}]` : ''}`, argSpan, {
        notes: [{ message: `${p.name.name} is declared here`, span: p.span }, ...staticsNote(item.name.name, statics)],
      });
      return poison;
    }
    // Square types (sym[n], orth[n], ...) repeat their one dimension.
    const dimList = want === 2 && dims.length === 1 ? [dims[0]!, dims[0]!] : dims;
    if (dimList.length !== got.length) return poison; // the callee's own type is wrong (reported there)
    dimList.forEach((d, j) => {
      if (d.kind === 'name' && !whereNames.has(d.name) && !bind.has(d.name)) {
        bind.set(d.name, got[j]!);
        boundBy.set(d.name, elem ? `element ${elem.k} of ${elem.group}` : p.name.name);
      }
    });
    checks.push({ p, i, av, dimList, got, argSpan, ...(elem ? { elem } : {}) });
  }
  for (const w of ex.where) bind.set(w.name.name, resolveDim(w.value, (n) => bind.get(n), new DiagnosticBag()));
  for (const { p, i, av, dimList, got, argSpan, elem } of checks) {
    const tname = p.type?.name.name ?? 'real';
    const dims = p.type?.dims ?? [];
    for (let j = 0; j < dimList.length; j++) {
      const d = dimList[j]!;
      const expected = resolveDim(d, (n) => bind.get(n), new DiagnosticBag());
      if (!expected.equals(got[j]!)) {
        if (elem) {
          // elements of one collection disagree on a dimension they share (shape mismatch between elements)
          const from = d.kind === 'name' ? boundBy.get(d.name) : undefined;
          el.diag.error('MAT0245', `element ${elem.k} of the collection passed as ${elem.group} has shape ${shapeToString(got)}, which does not fit ${tname}[${dims.map(dimText).join(', ')}]`, argSpan, {
            label: `its dimension ${j + 1} is ${got[j]}, but '${dimText(d)}' is ${expected}${from ? ` (from ${from})` : ''}`,
            notes: [{ message: `${elem.group} is declared here`, span: p.span }, ...staticsNote(item.name.name, statics)],
          });
          return poison;
        }
        el.diag.error('MAT0203', `argument ${i + 1} of ${item.name.name} has shape ${shapeToString(got)}, which does not fit ${p.name.name}: ${tname}[${dims.map(dimText).join(', ')}]`, argSpan, {
          label: `its dimension ${j + 1} is ${got[j]}, but '${dimText(d)}' in the parameter type means ${expected} for this call`,
          notes: [{ message: `${p.name.name} is declared here`, span: p.span }],
        });
        return poison;
      }
    }
    const info = p.type ? resolveType(p.type, (n) => bind.get(n), new DiagnosticBag()) : null;
    env.define(p.name.name, { val: av.k === 'cx' ? { ...av, struct: info?.struct ?? av.struct } : arr(av.node, info?.struct ?? av.struct, av.row), what: 'parameter' });
  }
  defineGroups(ex.groups, env, new Map(), { b: el.b, dims: bind });
  sub.dims = bind;
  sub.inlineStack = [...el.inlineStack, item.name.name];
  sub.statusPrefix = `${el.statusPrefix}${item.name.name}/`;
  const val = el.b.at(span, () =>
    el.b.inCall({ span, callee: item.name.name }, () => {
      const v = item.grad ? ruleCall(sub, item, env, span) : sub.expr(item.body, env);
      // a generic callee is checked here, at these static values: its results too
      if (statics.length && ex.results && v.k !== 'error') checkResults(sub, item, ex.results, v);
      return v;
    }),
  );
  if (sub.diag.hasErrors && calleeHasOwnErrors(el, entry)) return poison; // reported at the callee
  if (sub.diag.hasErrors) {
    el.diag.error('MAT0308', `${item.name.name} cannot be applied to these arguments`, span, {
      notes: [...sub.diag.errors.slice(0, 3).map((d) => ({ message: d.message, ...(d.span ? { span: d.span } : {}) })), ...staticsNote(item.name.name, statics)],
    });
    return poison;
  }
  el.statuses.push(...sub.statuses);
  el.assertions.push(...sub.assertions);
  const unrow = (x: Val): Val => (x.k === 'arr' || x.k === 'cx' ? { ...x, row: false } : x);
  const result: Val = val.k === 'tuple' ? { k: 'tuple', elems: val.elems.map((x) => (x.k === 'list' ? { k: 'list', elems: x.elems.map(unrow) } : unrow(x))) } : val.k === 'list' ? { k: 'list', elems: val.elems.map(unrow) } : unrow(val);
  if (key !== null) memoOf(el.b).set(key, { val: result, statuses: sub.statuses, assertions: sub.assertions });
  return result;
}

/** A call of `item`'s body with its grad rule (compiler/check/custom.ts), over the parameters
 *  that are values in `env` (arrays and integer values, not dimensions), in declaration order. */
function ruleCall(el: Elab, item: A.FnItem, env: Scope, span: Span): Val {
  const out: BoundParam[] = [];
  for (const p of item.params) {
    const v = env.lookup(p.name.name);
    if (v && (v.val.k === 'list' || v.val.k === 'tuple')) {
      el.diag.error('MAT0312', `${item.name.name} has a grad rule and a collection parameter '${p.name.name}': rules on functions of collections are not supported`, item.grad!.span, {
        notes: [{ message: `${p.name.name} is declared here`, span: p.span }],
        suggestion: 'give the rule to a function of the elements, or let matc derive the VJP (remove the rule)',
      });
      return poison;
    }
    if (v && (v.val.k === 'arr' || v.val.k === 'int' || v.val.k === 'cx')) out.push({ name: p.name.name, val: v.val as BoundParam['val'], span: p.name.span });
  }
  return elaborateWithRule(el, item, out, span);
}

/** A note naming the static values of a call of a generic function. */
function staticsNote(name: string, statics: readonly [string, number][]): Note[] {
  return statics.length ? [{ message: `at ${specName(name, statics)} (${statics.map(([k, v]) => `${k} = ${v}`).join(', ')})` }] : [];
}

/** The static values of a call of `item`, in declaration order: static arguments, collection
 *  lengths, defaults (MAT0241 for an argument that is not static, MAT0248 when none applies). */
function callStatics(el: Elab, item: A.FnItem, args: Val[], argSpans: Span[], span: Span, inferable: ReturnType<typeof inferenceSources>): [string, number][] | null {
  const given = new Map<string, number>();
  const ps = item.params;
  for (let i = 0; i < ps.length && i < args.length; i++) {
    const p = ps[i]!;
    if (!isStaticParam(p)) continue;
    const v = requireStatic(el, args[i]!, argSpans[i] ?? span, `argument ${i + 1} of ${item.name.name} (static parameter ${p.name.name})`);
    if (v === null) return null;
    if (v < 0 || v > MAX_STATIC) {
      el.diag.error('MAT0243', `static parameter ${p.name.name} of ${item.name.name} is given ${v}; static values are 0 to ${MAX_STATIC}`, argSpans[i] ?? span);
      return null;
    }
    given.set(p.name.name, v);
  }
  const out: [string, number][] = [];
  for (const p of ps) {
    if (!isStaticParam(p)) continue;
    let v = given.get(p.name.name);
    if (v === undefined) {
      for (const src of inferable.get(p.name.name) ?? []) {
        const a = args[src.position];
        const lo = staticDim(src.lo, given);
        if (a && (a.k === 'list' || a.k === 'tuple') && lo !== null) {
          v = lo + a.elems.length;
          break;
        }
      }
    }
    v ??= staticDefault(p);
    if (v === undefined) {
      el.diag.error('MAT0248', `cannot tell the static parameter ${p.name.name} of ${item.name.name} from this call`, span, {
        notes: [{ message: `${p.name.name} is declared here`, span: p.span }],
        suggestion: `pass ${p.name.name} as an argument, give it a default, or pass a collection whose length it is`,
      });
      return null;
    }
    given.set(p.name.name, v);
    out.push([p.name.name, v]);
  }
  return out;
}

/** Status entries made inside regions (a solve in a loop body, an objective or a grad rule) have a
 *  value per iteration or per evaluation, not per call: only top-level ones are reported. */
function topLevelStatuses(el: Elab, params: FuncParam[]): StatusEntry[] {
  const allowed = new Set(params.map((p) => p.node));
  const top = (n: Node | undefined) => !n || [...freeParams(n)].every((p) => allowed.has(p));
  return el.statuses.filter((s) => top(s.iterations) && top(s.converged) && top(s.residual));
}

const ownErrors = new WeakMap<ItemEntry, boolean>();

/** Whether a function fails to check on its own (then call sites stay quiet). */
function calleeHasOwnErrors(el: Elab, entry: ItemEntry): boolean {
  let v = ownErrors.get(entry);
  if (v === undefined) {
    // provisionally: a callee whose own check comes back here is on a cycle, an error
    ownErrors.set(entry, true);
    const bag = new DiagnosticBag();
    const generic = staticParams(entry.item).length > 0;
    const defaults = generic ? defaultStatics(entry.item) : [];
    if (entry.item.kind !== 'optimizer' && defaults) elaborateFn(entry.item, new Builder(), bag, el.ctx, new Map(defaults));
    // a generic function without defaults has no check of its own: its callers report
    v = bag.hasErrors;
    ownErrors.set(entry, v);
  }
  return v;
}

function dimText(d: A.DimAst): string {
  switch (d.kind) {
    case 'num':
      return String(d.value);
    case 'name':
      return d.name;
    case 'bin':
      return `${dimText(d.left)} ${d.op} ${dimText(d.right)}`;
    case 'call':
      return `${d.fn}(${d.args.map(dimText).join(', ')})`;
    case 'ellipsis':
      return '...';
    case 'index':
      return `${d.name}[${dimText(d.index)}]`;
    case 'reduce':
      return `${d.fn}(${dimText(d.body)} for ${d.gen.index.name} in ${dimText(d.gen.lo)}..${dimText(d.gen.hi)})`;
    case 'each':
      return `${dimText(d.body)} for ${d.gen.index.name} in ${dimText(d.gen.lo)}..${dimText(d.gen.hi)}`;
  }
}

// ---- optimizers --------------------------------------------------------------------------------------

/** Does a value the checker knows to have structure `got` have the declared structure `want`, as
 *  the binding of the next step checks it (runtime/bind.ts: MATR105)? Triangles and diagonals by
 *  their zero pattern (a diagonal is both triangles), sym by symmetry; spd is checked for symmetry
 *  only at run time, so a symmetric value satisfies it; the manifolds (sphere, orth, stiefel) only
 *  by a value known to lie on them. */
export function satisfiesStruct(want: Struct, got: Struct): boolean {
  if (want === 'general' || want === got) return true;
  if (want === 'tril' || want === 'triu') return got === 'diag';
  if (want === 'sym' || want === 'spd') return got === 'sym' || got === 'spd' || got === 'diag';
  return false;
}

const structFix: Record<Struct, string> = {
  general: '',
  tril: 'wrap it in tril(...) (its lower triangle)',
  triu: 'wrap it in triu(...) (its upper triangle)',
  diag: 'wrap it in diag(diag(...)) (its diagonal)',
  sym: 'wrap it in sym(...) (its symmetric part, (X + Xᵀ)/2)',
  spd: 'wrap it in sym(...) (its symmetric part; positive definiteness is the update rule\'s to keep)',
  sphere: 'wrap it in normalize(...)',
  orth: 'project it onto the orthogonal matrices, e.g. with the Q of a QR factorization (stdlib qr.mat)',
  stiefel: 'project it onto the Stiefel manifold, e.g. with the Q of a thin QR factorization (stdlib qr.mat)',
};

/** MAT0610: an optimizer's structured parameter or state must keep its structure, or the next
 *  step's binding rejects the value it returned (MATR105). */
function checkStructure(el: Elab, v: Val & { k: 'arr' }, want: Struct, span: Span, what: string, declSpan?: Span): void {
  if (satisfiesStruct(want, v.struct)) return;
  // a constant matrix: zeros have every zero pattern and symmetry, any constant is symmetric
  if (v.node.op === 'fill' && (v.node.attrs.value === 0 ? satisfiesStruct(want, 'diag') : satisfiesStruct(want, 'sym'))) return;
  el.diag.error('MAT0610', `${what} is not known to be ${want}, as declared`, span, {
    label: v.struct === 'general' ? 'no structure the checker can prove' : `this is ${v.struct}`,
    notes: [
      ...(declSpan ? [{ message: 'declared here', span: declSpan }] : []),
      { message: `the next step would reject it (MATR105): inputs declared ${want} are checked when a step is called` },
    ],
    suggestion: structFix[want],
  });
}

/** An optimizer becomes two functions: `name` (one step: params and state in, updated out) and
 *  `name.init` (the initial state from the parameters). */
export function elaborateOptimizer(item: A.OptimizerItem, b: Builder, diag: DiagnosticBag, ctx: ElabContext, statics: StaticEnv = new Map(), name = item.name.name): Func[] {
  const el = new Elab(b, diag, ctx);
  el.inlineStack = [item.name.name];
  el.statusPrefix = `${item.name.name}/`;
  if (!checkStaticDecls([...item.params, ...item.hyper], diag)) return [];
  // collections flattened into their elements, static names replaced by their values (statics.ts)
  const ex = expandSignature(item, statics, diag);
  for (const [k, v] of statics) el.dims.set(k, Dim.const(v));
  const intDefaults = new Map<string, number | undefined>();
  const sig = bindSignature(el, [...ex.params, ...ex.hyper], ex.where, intDefaults);
  const env = new Scope();
  const params = makeParams(el, sig.slice(0, ex.params.length), env, false);
  const hyper = makeParams(el, sig.slice(ex.params.length), env, true);
  const declSpans = new Map([...item.params, ...item.hyper, ...item.body.state].map((p) => [p.name.name, p.name.span]));
  const paramGroups = new Map([...ex.groups].filter(([g]) => ![...item.body.state].some((s) => s.name.name === g)));
  defineGroups(paramGroups, env, declSpans);
  // State: initial values (the init function) and parameters of the step function.
  const stateInit: FuncResult[] = [];
  const stateParams: FuncParam[] = [];
  const stepEnv = env.child();
  const badState = new Set<string>(); // reported: their updates are not reported again
  for (const st of ex.state ?? []) {
    const s = st.decl;
    const v = el.expr(s.init, env);
    // a state collection starts from a collection of its length
    let inits: (Val | null)[];
    if (!st.collection) inits = [v];
    else if ((v.k === 'list' || v.k === 'tuple') && v.elems.length === st.elems.length) inits = v.elems;
    else {
      if (v.k !== 'error') {
        diag.error('MAT0246', `state ${s.name.name} is a collection of ${st.elems.length} elements, but its initial value is ${v.k === 'list' || v.k === 'tuple' ? `a collection of ${v.elems.length}` : describeVal(v)}`, s.init.span, {
          notes: [{ message: `${s.name.name} is declared here`, span: s.name.span }],
        });
      }
      inits = st.elems.map(() => null);
    }
    st.elems.forEach((elem, k) => {
      const info = resolveType(elem.type, (n) => el.dims.get(n), diag);
      const init = inits[k];
      if (info?.isInt) {
        if (st.collection) {
          diag.error('MAT0209', 'a state collection holds real values, not int', s.type.span);
          stepEnv.define(elem.name, { val: poison, span: s.name.span, what: 'state' });
          badState.add(elem.name);
          return;
        }
        // an int state (a step counter): an int parameter and result of the step, an int result of
        // the init function; it stays integer on every backend (issue 10)
        const iv = init ? el.toInt(init, s.init.span, `the initial value of ${s.name.name}`) : null;
        if (iv && iv.k === 'int') stateInit.push({ name: elem.name, node: iv.node });
        const node = b.g.param(elem.name, intT, s.name.span);
        stateParams.push({ name: elem.name, node, differentiable: false, span: s.name.span });
        stepEnv.define(elem.name, { val: { k: 'int', node }, span: s.name.span, what: 'state' });
        return;
      }
      if (!info) return;
      const shape = info.ir.kind === 'tensor' ? info.ir.shape : [];
      if (init) {
        const what = st.collection ? `element ${k} of the initial value of ${s.name.name}` : `the initial value of ${s.name.name}`;
        const a = el.checkAgainst(init, { shape }, s.init.span, what, s.type.span);
        if (a.k === 'cx' && !info.complex) complexForReal(el, a, s.init.span, what, s.type.span);
        else if (info.complex && (a.k === 'arr' || a.k === 'cx')) {
          // complex state: (re, im) along a trailing axis (complex.ts)
          stateInit.push({ name: elem.name, node: a.k === 'cx' ? pack(b, a.re, a.im) : pack(b, b.broadcastTo(a.node, shape), null), complex: true });
        } else if (a.k === 'arr') {
          checkStructure(el, a, info.struct, s.init.span, what, s.type.span);
          stateInit.push({ name: elem.name, node: a.node });
        }
      }
      if (info.complex) {
        const node = b.g.param(elem.name, packedType(info.ir as TensorType), s.name.span);
        stateParams.push({ name: elem.name, node, differentiable: false, span: s.name.span, complex: info.struct });
        stepEnv.define(elem.name, { val: unpack(b, node, info.struct), span: s.name.span, what: 'state' });
        return;
      }
      const node = b.g.param(elem.name, info.ir, s.name.span);
      stateParams.push({ name: elem.name, node, differentiable: false, span: s.name.span });
      stepEnv.define(elem.name, { val: arr(node, info.struct), span: s.name.span, what: 'state' });
    });
  }
  defineGroups(new Map([...ex.groups].filter(([g]) => !paramGroups.has(g))), stepEnv, declSpans);
  let scope = stepEnv;
  for (const bd of item.body.lets) {
    const v = el.expr(bd.value, scope);
    scope = scope.nextLet(stepEnv, bd.names);
    el.bindPattern(bd, v, scope, 'let');
  }
  const updated = new Map<string, Node>();
  // complex parameters and state: their parts' shape (the node is packed; complex.ts)
  const complexShape = new Map<string, readonly Dim[]>([...params, ...stateParams].filter((p) => p.complex).map((p) => [p.name, shapeOf(p.node).slice(0, -1)]));
  /** A new value checked against its target: packed for a complex one (MAT0291 for a complex
   *  value of a real one). */
  const newValue = (tname: string, v: Val, t: Node, span: Span, what: string, declSpan: Span | undefined, isInt = false): Node | undefined => {
    const cshape = complexShape.get(tname);
    const a = el.checkAgainst(v, isInt ? { shape: null, isInt: true } : { shape: cshape ?? shapeOf(t) }, span, what, declSpan);
    if (a.k === 'cx' && !cshape) {
      complexForReal(el, a, span, what, declSpan);
      return undefined;
    }
    if (cshape) {
      if (a.k === 'cx') return pack(el.b, a.re, a.im);
      if (a.k === 'arr') return pack(el.b, el.b.broadcastTo(a.node, cshape), null);
      return undefined;
    }
    if (a.k === 'arr') checkStructure(el, a, declaredStruct.get(tname) ?? 'general', span, what, declSpan);
    return a.k === 'arr' || a.k === 'int' ? a.node : undefined;
  };
  // the declared structure of every parameter and state (what the next step's binding checks)
  const declaredStruct = new Map<string, Struct>([...params, ...stateParams].map((p) => [p.name, (p.node.type as TensorType).struct ?? 'general']));
  const targets = new Map<string, Node>([...params, ...stateParams].map((p) => [p.name, p.node]));
  const tSpans = new Map<string, Span | undefined>([...params, ...stateParams].map((p) => [p.name, p.span]));
  const updatedGroups = new Set<string>();
  for (const u of item.body.updates) {
    const tname = u.target.name;
    if (tname === '<error>' || badState.has(tname)) continue;
    const group = ex.groups.get(tname);
    const target = targets.get(tname);
    const v = el.expr(u.value, scope);
    if (!target && !group) {
      const sug = closest(tname, [...targets.keys(), ...ex.groups.keys()].filter((k) => !k.includes('[')));
      diag.error('MAT0601', `'${tname}' is not a parameter or state of ${item.name.name}`, u.target.span, {
        label: 'only parameters and state can be updated',
        suggestion: sug ? `did you mean '${sug}'?` : undefined,
      });
      continue;
    }
    if (updated.has(tname) || updatedGroups.has(tname)) {
      diag.error('MAT0603', `'${tname}' is updated twice`, u.target.span);
      continue;
    }
    if (group) {
      // a collection is updated as a whole, by a collection of its length
      updatedGroups.add(tname);
      if (v.k !== 'list' && v.k !== 'tuple') {
        if (v.k !== 'error') diag.error('MAT0246', `${tname} is a collection of ${group.length} elements, but its new value is ${describeVal(v)}`, u.value.span);
        continue;
      }
      if (v.elems.length !== group.length) {
        diag.error('MAT0246', `${tname} is a collection of ${group.length} elements, but its new value has ${v.elems.length}`, u.value.span);
        continue;
      }
      group.forEach((en, k) => {
        if (badState.has(en)) return;
        const t = targets.get(en);
        if (!t) return;
        const what = `element ${k} of the new value of ${tname}`;
        const nv = newValue(en, v.elems[k]!, t, u.value.span, what, tSpans.get(en));
        if (nv) updated.set(en, nv);
      });
      continue;
    }
    const isInt = target!.type.kind === 'tensor' && target!.type.dtype === 'i';
    const nv = newValue(tname, v, target!, u.value.span, `the new value of ${tname}`, tSpans.get(tname), isInt);
    if (nv) updated.set(tname, nv);
  }
  if (diag.hasErrors) return [];
  const results: FuncResult[] = [];
  for (const p of params) if (updated.has(p.name)) results.push({ name: p.name, node: updated.get(p.name)!, ...(p.complex ? { complex: true } : {}) });
  for (const s of stateParams) results.push({ name: s.name, node: updated.get(s.name) ?? s.node, ...(s.complex ? { complex: true } : {}) });
  const intParams = [...intDefaults].map(([n, d]) => ({ name: n, ...(d !== undefined ? { default: d } : {}) }));
  const step0: Func = {
    name,
    kind: 'optimizer',
    params: [...params, ...stateParams, ...hyper],
    results,
    status: topLevelStatuses(el, [...params, ...stateParams, ...hyper]),
    intParams,
    derivedDims: derivedDims(ex.where, el),
    assertions: el.assertions,
    span: item.name.span,
  };
  // a state whose every update is rounded to binary16 / bfloat16 is read through that rounding:
  // it stays in its storage format by construction (compiler/opt/lowp-storage.ts)
  const step = roundStatesOnEntry(b.g, step0, new Set(stateParams.map((s) => s.name)));
  const init: Func = {
    name: `${name}.init`,
    kind: 'fn',
    params: [...params, ...hyper],
    results: stateInit,
    status: [],
    intParams,
    derivedDims: derivedDims(ex.where, el),
    span: item.name.span,
  };
  return stateInit.length ? [step, init] : [step];
}

export { shapeEquals };
