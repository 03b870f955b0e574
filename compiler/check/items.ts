// Program-level elaboration: imports, the item table, and each fn / layer / optimizer turned into
// an IR Func. Dimension names are bound by parameter types (a bare name in a type binds it),
// int parameters and where-clauses; a name that only appears inside a compound dimension
// cannot be inferred from the inputs (MAT0207).

import { dirname, resolve as resolvePath, join, relative, sep } from 'node:path';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as A from '../../grammar/ast.js';
import { parseFile } from '../../grammar/build-ast.js';
import { closest, DiagnosticBag } from '../diagnostics.js';
import { Dim, DimTooLarge, shapeEquals, shapeToString } from '../../core/dims.js';
import { Builder, shapeOf } from '../ir/builder.js';
import { freeParams, type Func, type FuncParam, type FuncResult, type Node, type StatusEntry } from '../ir/node.js';
import { type SourceFile, type Span, sourceFile } from '../source.js';
import { Elab, type ElabContext } from './elaborate.js';
import { Scope } from './scope.js';
import { resolveDim, resolveType, type TypeInfo } from './type-ast.js';
import { type Val, arr, poison, shapeLabel } from './values.js';
import { findRecursion } from './recursion.js';
import { LimitExceeded, budgetDiagnostic, dimDiagnostic, limitNote, limits } from '../limits.js';
import { BudgetExceeded, stageBudget, withBudget } from '../ir/budget.js';

export interface ItemEntry {
  item: A.FnItem | A.OptimizerItem;
  file: SourceFile;
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
      if (it.kind === 'import') continue;
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

  const visible = new Map<SourceFile, Set<string>>();
  const ownNames = new Map<SourceFile, string[]>(files.map(({ file, program }) => [file, program.items.flatMap((it) => (it.kind === 'import' ? [] : [it.name.name]))]));
  const visibleIn = (file: SourceFile): Set<string> => {
    let seen = visible.get(file);
    if (seen) return seen;
    seen = new Set(ownNames.get(file) ?? []);
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
  const budget = stageBudget(opts);
  // Elaborate items of the main file (and imported ones: they are checked too, once).
  for (const [name, entry] of items) {
    ctx.inlined = 0;
    try {
      withBudget(`checking ${name}`, budget, () => {
        if (entry.item.kind === 'optimizer') {
          for (const f of elaborateOptimizer(entry.item, builder, diag, ctx)) funcs.set(f.name, f);
        } else {
          const f = elaborateFn(entry.item, builder, diag, ctx);
          if (f) funcs.set(name, f);
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
  return { files, items, funcs };
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
      intDefaults.set(p.name.name, d && d.kind === 'num' && Number.isInteger(d.value) ? d.value : undefined);
      if (d && !(d.kind === 'num' && Number.isInteger(d.value) && d.value >= 0)) {
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
  if (d.kind === 'num') return d.value;
  if (d.kind === 'unary' && d.op === '-' && d.operand.kind === 'num') return -d.operand.value;
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
    if (ast.default && type.kind === 'tensor' && type.shape.length > 0) {
      el.diag.error('MAT0208', 'only scalar parameters can have defaults', ast.default.span);
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

export function elaborateFn(item: A.FnItem, b: Builder, diag: DiagnosticBag, ctx: ElabContext): Func | null {
  const el = new Elab(b, diag, ctx);
  el.inlineStack = [item.name.name];
  el.statusPrefix = `${item.name.name}/`;
  const intDefaults = new Map<string, number | undefined>();
  const sig = bindSignature(el, item.params, item.where, intDefaults);
  const env = new Scope();
  const params = makeParams(el, sig, env, false);
  const val = el.expr(item.body, env);
  const results = checkResults(el, item, val);
  if (!results) return null;
  return {
    name: item.name.name,
    kind: item.kind,
    params,
    results,
    status: topLevelStatuses(el, params),
    intParams: [...intDefaults].map(([name, d]) => ({ name, ...(d !== undefined ? { default: d } : {}) })),
    derivedDims: derivedDims(item.where, el),
    assertions: el.assertions,
    span: item.name.span,
  };
}

function checkResults(el: Elab, item: A.FnItem, val: Val): FuncResult[] | null {
  if (val.k === 'error') return null;
  const elems = item.results.length === 1 && !item.tupleResults ? [val] : val.k === 'tuple' ? val.elems : [val];
  if (elems.length !== item.results.length) {
    el.diag.error('MAT0209', `${item.name.name} declares ${item.results.length} result${item.results.length === 1 ? '' : 's'} but its body gives ${elems.length}`, item.body.span);
    return null;
  }
  const out: FuncResult[] = [];
  for (let i = 0; i < elems.length; i++) {
    const r = item.results[i]!;
    const info = resolveType(r.type, (n) => el.dims.get(n), el.diag);
    if (!info) return null;
    const name = r.name?.name ?? (item.results.length === 1 ? 'out' : `out${i}`);
    const what = r.name ? `result ${name}` : item.results.length === 1 ? 'the result' : `result ${i + 1}`;
    const want = info.ir.kind === 'tensor' ? info.ir.shape : [];
    if (info.isInt) {
      el.diag.error('MAT0209', 'results are real values, not int', r.type.span);
      return null;
    }
    const a = el.checkAgainst(elems[i]!, { shape: want }, item.body.span, what, r.type.span);
    if (a.k !== 'arr') return null;
    if (a.k === 'arr' && a.row && want.length === 1) {
      // Row orientation is a checker notion; results are plain vectors.
    }
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
  // trailing parameters with defaults may be left out
  let required = item.params.length;
  while (required > 0 && item.params[required - 1]!.default) required--;
  if (args.length < required || args.length > item.params.length) {
    el.diag.error('MAT0303', `${item.name.name} takes ${required === item.params.length ? required : `${required} to ${item.params.length}`} argument${item.params.length === 1 ? '' : 's'}, got ${args.length}`, span, {
      notes: [{ message: `${item.name.name} is defined here`, span: item.name.span }],
    });
    return poison;
  }
  // Bind the callee's dimension names to the caller's dimensions by unifying parameter types:
  // first bare names (not where-dimensions), then where-dimensions, then check every dimension.
  const bind = new Map<string, Dim>();
  const sub = new Elab(el.b, new DiagnosticBag(), el.ctx);
  const env = new Scope();
  const whereNames = new Set(item.where.map((w) => w.name.name));
  const rankOf: Record<string, number> = { real: 0, bool: 0, vec: 1, sphere: 1, mat: 2, sym: 2, spd: 2, orth: 2, stiefel: 2, diag: 2, tril: 2, triu: 2 };
  const checks: { p: A.Param; i: number; av: Val & { k: 'arr' }; dimList: A.DimAst[]; got: readonly Dim[]; argSpan: Span }[] = [];
  for (let i = 0; i < item.params.length; i++) {
    const p = item.params[i]!;
    const argSpan = argSpans[i] ?? span;
    if (i >= args.length) {
      // a defaulted trailing scalar
      const d = p.default;
      if (!d) return poison;
      const v = d.kind === 'num' ? d.value : d.kind === 'unary' && d.operand.kind === 'num' ? -d.operand.value : 0;
      if (p.type?.name.name === 'int') bind.set(p.name.name, Dim.const(v));
      else env.define(p.name.name, { val: arr(el.b.const(v)), what: 'parameter' });
      continue;
    }
    const a = args[i]!;
    if (p.type?.name.name === 'int') {
      // A dimension expression binds the name as a dimension; any other integer (a loop index)
      // is passed as a value, which the callee may use in arithmetic but not in its types.
      const iv = el.toInt(a, argSpan, `argument ${i + 1} of ${item.name.name} (an int parameter)`);
      if (iv.k !== 'int') return poison;
      if (iv.dim) bind.set(p.name.name, iv.dim);
      else env.define(p.name.name, { val: iv, what: 'parameter' });
      continue;
    }
    const av = el.toArr(a, argSpan, `argument ${i + 1} of ${item.name.name}`);
    if (av.k !== 'arr') return poison;
    const got = shapeOf(av.node);
    const dims = p.type?.dims ?? [];
    const tname = p.type?.name.name ?? 'real';
    const want = rankOf[tname] ?? dims.length;
    if (got.length !== want) {
      el.diag.error('MAT0203', `argument ${i + 1} of ${item.name.name} is ${shapeLabel(av)} but the parameter ${p.name.name} is ${tname}${p.type?.dims ? `[${p.type.dims.map(dimText).join(', ')}]` : ''}`, argSpan, {
        notes: [{ message: `${p.name.name} is declared here`, span: p.span }],
      });
      return poison;
    }
    // Square types (sym[n], orth[n], ...) repeat their one dimension.
    const dimList = want === 2 && dims.length === 1 ? [dims[0]!, dims[0]!] : dims;
    if (dimList.length !== got.length) return poison; // the callee's own type is wrong (reported there)
    dimList.forEach((d, j) => {
      if (d.kind === 'name' && !whereNames.has(d.name) && !bind.has(d.name)) bind.set(d.name, got[j]!);
    });
    checks.push({ p, i, av, dimList, got, argSpan });
  }
  for (const w of item.where) bind.set(w.name.name, resolveDim(w.value, (n) => bind.get(n), new DiagnosticBag()));
  for (const { p, i, av, dimList, got, argSpan } of checks) {
    const tname = p.type?.name.name ?? 'real';
    const dims = p.type?.dims ?? [];
    for (let j = 0; j < dimList.length; j++) {
      const d = dimList[j]!;
      const expected = resolveDim(d, (n) => bind.get(n), new DiagnosticBag());
      if (!expected.equals(got[j]!)) {
        el.diag.error('MAT0203', `argument ${i + 1} of ${item.name.name} has shape ${shapeToString(got)}, which does not fit ${p.name.name}: ${tname}[${dims.map(dimText).join(', ')}]`, argSpan, {
          label: `its dimension ${j + 1} is ${got[j]}, but '${dimText(d)}' in the parameter type means ${expected} for this call`,
          notes: [{ message: `${p.name.name} is declared here`, span: p.span }],
        });
        return poison;
      }
    }
    const info = p.type ? resolveType(p.type, (n) => bind.get(n), new DiagnosticBag()) : null;
    env.define(p.name.name, { val: arr(av.node, info?.struct ?? av.struct, av.row), what: 'parameter' });
  }
  sub.dims = bind;
  sub.inlineStack = [...el.inlineStack, item.name.name];
  sub.statusPrefix = `${el.statusPrefix}${item.name.name}/`;
  const val = el.b.at(span, () => el.b.inCall({ span, callee: item.name.name }, () => sub.expr(item.body, env)));
  if (sub.diag.hasErrors && calleeHasOwnErrors(el, entry)) return poison; // reported at the callee
  if (sub.diag.hasErrors) {
    el.diag.error('MAT0308', `${item.name.name} cannot be applied to these arguments`, span, {
      notes: sub.diag.errors.slice(0, 3).map((d) => ({ message: d.message, ...(d.span ? { span: d.span } : {}) })),
    });
    return poison;
  }
  el.statuses.push(...sub.statuses);
  el.assertions.push(...sub.assertions);
  const result: Val = val.k === 'tuple' ? { k: 'tuple', elems: val.elems.map((x) => (x.k === 'arr' ? { ...x, row: false } : x)) } : val.k === 'arr' ? { ...val, row: false } : val;
  if (key !== null) memoOf(el.b).set(key, { val: result, statuses: sub.statuses, assertions: sub.assertions });
  return result;
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
    if (entry.item.kind !== 'optimizer') elaborateFn(entry.item, new Builder(), bag, el.ctx);
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
  }
}

// ---- optimizers --------------------------------------------------------------------------------------

/** An optimizer becomes two functions: `name` (one step: params and state in, updated out) and
 *  `name.init` (the initial state from the parameters). */
export function elaborateOptimizer(item: A.OptimizerItem, b: Builder, diag: DiagnosticBag, ctx: ElabContext): Func[] {
  const el = new Elab(b, diag, ctx);
  el.inlineStack = [item.name.name];
  el.statusPrefix = `${item.name.name}/`;
  const intDefaults = new Map<string, number | undefined>();
  const sig = bindSignature(el, [...item.params, ...item.hyper], item.where, intDefaults);
  const env = new Scope();
  const params = makeParams(el, sig.slice(0, item.params.length), env, false);
  const hyper = makeParams(el, sig.slice(item.params.length), env, true);
  // State: initial values (the init function) and parameters of the step function.
  const stateInit: FuncResult[] = [];
  const stateParams: FuncParam[] = [];
  const stepEnv = env.child();
  const badState = new Set<string>(); // reported: their updates are not reported again
  for (const s of item.body.state) {
    const info = resolveType(s.type, (n) => el.dims.get(n), diag);
    const v = el.expr(s.init, env);
    if (info?.isInt) {
      diag.error('MAT0209', 'state variables are real values, not int', s.type.span);
      stepEnv.define(s.name.name, { val: poison, span: s.name.span, what: 'state' });
      badState.add(s.name.name);
      continue;
    }
    if (!info) continue;
    const shape = info.ir.kind === 'tensor' ? info.ir.shape : [];
    const a = el.checkAgainst(v, { shape }, s.init.span, `the initial value of ${s.name.name}`, s.type.span);
    if (a.k === 'arr') stateInit.push({ name: s.name.name, node: a.node });
    const node = b.g.param(s.name.name, info.ir, s.name.span);
    stateParams.push({ name: s.name.name, node, differentiable: false, span: s.name.span });
    stepEnv.define(s.name.name, { val: arr(node, info.struct), span: s.name.span, what: 'state' });
  }
  let scope = stepEnv;
  for (const bd of item.body.lets) {
    const v = el.expr(bd.value, scope);
    scope = scope.nextLet(stepEnv, bd.names);
    el.bindPattern(bd, v, scope, 'let');
  }
  const updated = new Map<string, Node>();
  const targets = new Map<string, Node>([...params, ...stateParams].map((p) => [p.name, p.node]));
  const tSpans = new Map<string, Span | undefined>([...params, ...stateParams].map((p) => [p.name, p.span]));
  for (const u of item.body.updates) {
    const name = u.target.name;
    if (name === '<error>' || badState.has(name)) continue;
    const target = targets.get(name);
    const v = el.expr(u.value, scope);
    if (!target) {
      const sug = closest(name, targets.keys());
      diag.error('MAT0601', `'${name}' is not a parameter or state of ${item.name.name}`, u.target.span, {
        label: 'only parameters and state can be updated',
        suggestion: sug ? `did you mean '${sug}'?` : undefined,
      });
      continue;
    }
    if (updated.has(name)) {
      diag.error('MAT0603', `'${name}' is updated twice`, u.target.span);
      continue;
    }
    const a = el.checkAgainst(v, { shape: shapeOf(target) }, u.value.span, `the new value of ${name}`, tSpans.get(name));
    if (a.k === 'arr') updated.set(name, a.node);
  }
  if (diag.hasErrors) return [];
  const results: FuncResult[] = [];
  for (const p of params) if (updated.has(p.name)) results.push({ name: p.name, node: updated.get(p.name)! });
  for (const s of stateParams) results.push({ name: s.name, node: updated.get(s.name) ?? s.node });
  const intParams = [...intDefaults].map(([name, d]) => ({ name, ...(d !== undefined ? { default: d } : {}) }));
  const step: Func = {
    name: item.name.name,
    kind: 'optimizer',
    params: [...params, ...stateParams, ...hyper],
    results,
    status: topLevelStatuses(el, [...params, ...stateParams, ...hyper]),
    intParams,
    derivedDims: derivedDims(item.where, el),
    assertions: el.assertions,
    span: item.name.span,
  };
  const init: Func = {
    name: `${item.name.name}.init`,
    kind: 'fn',
    params: [...params, ...hyper],
    results: stateInit,
    status: [],
    intParams,
    derivedDims: derivedDims(item.where, el),
    span: item.name.span,
  };
  return stateInit.length ? [step, init] : [step];
}

export { shapeEquals };
