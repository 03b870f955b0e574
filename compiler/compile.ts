// THE pass list. Reading top to bottom gives matc's pipeline:
//
//   parse            grammar/ (chevrotain CST → AST with spans)
//   elaborate        compiler/check/ (scopes, shapes, structures → typed IR; check = lower)
//   differentiate    compiler/diff/ (VJP and JVP rule tables; implicit.ts = IFT for
//                    declarative nodes)
//   expand           compiler/solvers/ (declarative nodes → solver loops)
//   optimize         compiler/opt/ (simplify, rank-1 structure, matrix-chain order)
//   verify           compiler/ir/verifier.ts (after every pass in tests)
//   schedule, wgsl   compiler/schedule, compiler/codegen (GPU kernels; see issue 4)
//
// Every pass is a function Func → Func over the shared hash-consed graph; `stage` dumps any of
// them for `matc ir --stage`.

import type * as A from '../grammar/ast.js';
import { type Diagnostic, DiagnosticBag, type Note, UserErrors, renderAll } from './diagnostics.js';
import { Builder } from './ir/builder.js';
import { Graph, type Func, funcRoots, reachable } from './ir/node.js';
import { printFunc } from './ir/printer.js';
import { parseFunc } from './ir/parser.js';
import { verifyFunc } from './ir/verifier.js';
import { sourceFile, type SourceFile, type Span } from './source.js';
import { elaborateProgram, fsLoader, type ProgramOut, type SourceLoader } from './check/items.js';
import { BudgetExceeded, stageBudget, withBudget } from './ir/budget.js';
import { LimitExceeded, budgetDiagnostic, dimDiagnostic } from './limits.js';
import { DimTooLarge } from '../core/dims.js';
import { solverOverrideProblem } from './check/solver-specs.js';
import { InternalError, MatcRuntimeError } from '../core/errors.js';
import { checkOptions, isBool, isPositive, isRecord, type OptionSpec } from '../core/option-check.js';
import { describeValue } from '../core/describe-value.js';
import { vjpFunc } from './diff/vjp.js';
import { jvpFunc } from './diff/jvp.js';
import { DiffError } from './diff/vjp-rules.js';
import { implicitHooks } from './diff/implicit.js';
import type { DeriveOptions, DeriveTarget } from './diff/options.js';
import { expandFunc, type ExpandOptions } from './solvers/expand.js';
import { gridKeptOps, lowerKeptInSegments } from './schedule/grid.js';
import { cpuKeptOps } from './codegen/cpu/program.js';
import { simplifyFunc } from './opt/simplify.js';
import { fuseEinsumChains } from './opt/einsum.js';
import { structuredGradients } from './diff/structure.js';
import { printProgram } from '../grammar/print-ast.js';
import { MAX_STATIC, type GenericInfo, genericInfo, parseSpecName, specName } from './check/statics.js';
import { specializeItem } from './check/items.js';

export interface CompileOptions {
  /** file name for diagnostics and relative imports */
  path?: string;
  loader?: SourceLoader;
  /** run the IR verifier after every pass (tests do) */
  verify?: boolean;
  /** solver option overrides (`--set tol=1e-9`) */
  solverOptions?: Record<string, number>;
  /** what each stage (checking an item, differentiating, expanding, simplifying) may take
   *  before it fails with MAT0703: milliseconds (default MATC_COMPILE_BUDGET_MS or 8,000) and
   *  steps of work, IR nodes built or visited and expressions checked (default 2,000,000) */
  budgetMs?: number;
  budgetSteps?: number;
  /** false: derive the VJP of functions and declarative nodes that have a `grad` rule from their
   *  definitions instead (to check a rule against matc's own derivative); default true */
  gradRules?: boolean;
}

export class CompileError extends UserErrors {
  constructor(diagnostics: Diagnostic[]) {
    super(diagnostics);
    this.name = 'CompileError';
    this.message = renderAll(diagnostics);
  }
}

export type Stage = 'parse' | 'check' | 'lower' | 'diff' | 'jvp' | 'expand' | 'opt';
export const stages: Stage[] = ['parse', 'check', 'lower', 'diff', 'jvp', 'expand', 'opt'];

/** The compiled program: the elaborated functions and the passes that derive the rest. */
export class Program {
  private cache = new Map<string, Func>();
  private failures = new Map<string, CompileError>();

  constructor(
    readonly out: ProgramOut,
    readonly b: Builder,
    readonly main: SourceFile,
    readonly warnings: Diagnostic[],
    readonly options: CompileOptions,
  ) {}

  get names(): string[] {
    return [...this.out.funcs.keys()];
  }

  // ---- generic functions (static parameters; compiler/check/statics.ts) ----

  /** Names of the generic items (fn, layer, optimizer; an optimizer's init is `NAME.init`). */
  get generics(): string[] {
    const out: string[] = [];
    for (const [n, e] of this.out.generics) {
      out.push(n);
      if (e.item.kind === 'optimizer' && e.item.body.state.length) out.push(`${n}.init`);
    }
    return out;
  }

  /** The static parameters of a generic item (or its init), or null for an ordinary function. */
  genericInfo(name: string): GenericInfo | null {
    const base = name.endsWith('.init') ? name.slice(0, -'.init'.length) : name;
    const e = this.out.generics.get(base);
    return e ? genericInfo(e.item) : null;
  }

  /** The name of the specialisation of generic `name` for the given static values (defaults for
   *  the others), elaborated on first use: `tt[K=4]`. An ordinary function's name is returned
   *  as it is, and so is the name of a specialisation (`tt[K=4]`, made if new). Throws
   *  MatcRuntimeError MATR160 for a static value missing or out of range, CompileError when the
   *  specialisation does not check. */
  specialize(name: string, given: Record<string, number> = {}): string {
    if (this.out.funcs.has(name)) return name;
    const parsed = parseSpecName(name);
    if (parsed && this.out.generics.has(parsed.base)) return this.specialize(parsed.base + parsed.suffix, { ...given, ...Object.fromEntries(parsed.statics) });
    const suffix = name.endsWith('.init') ? '.init' : '';
    const base = name.slice(0, name.length - suffix.length);
    const entry = this.out.generics.get(base);
    if (!entry) return name;
    const info = genericInfo(entry.item);
    const statics: [string, number][] = [];
    for (const s of info.statics) {
      const v = given[s.name] ?? s.default;
      if (v === undefined) {
        throw new MatcRuntimeError('MATR160', `${base} is compiled per value of its static parameter ${s.name}: give ${s.name} (dims: { ${s.name}: … }, --dims ${s.name}=…, or the function name ${specName(base, [[s.name, 1]])}), or a collection input whose length it is`);
      }
      if (!Number.isInteger(v) || v < 0 || v > MAX_STATIC) throw new MatcRuntimeError('MATR160', `${base}: static parameter ${s.name} = ${v} must be an integer from 0 to ${MAX_STATIC}`);
      statics.push([s.name, v]);
    }
    const sname = specName(base, statics);
    const key = `spec:${sname}`;
    const failed = this.failures.get(key);
    if (failed) throw failed;
    if (!this.out.funcs.has(sname)) {
      const bag = new DiagnosticBag();
      let made: Func[] = [];
      try {
        made = this.guard(
          () =>
            withBudget(`checking ${sname}`, stageBudget(this.options), () => {
              this.out.ctx.inlined = 0;
              return specializeItem(entry, this.b, bag, this.out.ctx, statics);
            }),
          undefined,
        );
      } catch (e) {
        if (e instanceof CompileError) this.failures.set(key, e);
        throw e;
      }
      if (bag.hasErrors) {
        const err = new CompileError(bag.items);
        this.failures.set(key, err);
        throw err;
      }
      for (const f of made) {
        if (this.options.verify) verifyFunc(f);
        this.out.funcs.set(f.name, f);
      }
    }
    const out = sname + suffix;
    if (!this.out.funcs.has(out)) throw new MatcRuntimeError('MATR100', `${base} has no ${suffix ? 'init function (it has no state)' : 'function'} '${out}'`);
    return out;
  }

  lowered(name: string): Func {
    const f = this.out.funcs.get(name);
    if (!f) throw new Error(`no function '${name}' (have: ${this.names.join(', ')})`);
    return f;
  }

  private memo(key: string, stage: string, make: () => Func): Func {
    const failed = this.failures.get(key);
    if (failed) throw failed;
    let f = this.cache.get(key);
    if (!f) {
      try {
        f = this.guard(() => withBudget(stage, stageBudget(this.options), make), key.split(':')[1]);
      } catch (e) {
        // a form that does not compile fails the same way next time, at once (a stage that ran
        // out of budget is not run again for `matc ir --stage opt` after `forward`)
        if (e instanceof CompileError) this.failures.set(key, e);
        throw e;
      }
      if (this.options.verify) verifyFunc(f);
      this.cache.set(key, f);
    }
    return f;
  }

  /** Turns differentiation and solver errors, limits and budgets into diagnostics. */
  private guard<T>(make: () => T, fn?: string): T {
    try {
      return make();
    } catch (e) {
      if (e instanceof LimitExceeded) throw new CompileError([e.diagnostic]);
      if (e instanceof DimTooLarge) throw new CompileError([dimDiagnostic(e, fn === undefined ? undefined : this.out.funcs.get(fn)?.span)]);
      if (e instanceof BudgetExceeded) throw new CompileError([budgetDiagnostic(e, fn === undefined ? undefined : this.out.funcs.get(fn)?.span)]);
      if (e instanceof DiffError) {
        throw new CompileError([{ code: e.code, severity: 'error', message: e.message, ...(e.node.span ? { span: e.node.span } : {}), ...this.callChain(e.node.span, fn) }]);
      }
      if (e instanceof UserErrors && !(e instanceof CompileError)) throw new CompileError(e.diagnostics);
      throw e;
    }
  }

  /** Notes naming how function `fn` reached a construct inlined from its callees (issue 10: a
   *  MAT0501 inside an imported file named no call chain): `call chain: f → householder →
   *  accumulate_q`, then each call with its span. Hash-consing can share a node with another
   *  function's inlining; a chain that does not start in `fn` is left out. */
  private callChain(span: Span | undefined, fn: string | undefined): { notes?: Note[] } {
    const via = span?.via;
    const item = fn === undefined ? undefined : (this.out.items.get(fn) ?? this.out.items.get(fn.replace(/\.init$/, '')))?.item;
    if (!via?.length || !item) return {};
    const first = via[0]!.span;
    if (first.file !== item.span.file || first.start < item.span.start || first.end > item.span.end) return {};
    const names = [fn!, ...via.map((c) => c.callee)];
    return {
      notes: [
        { message: `call chain: ${names.join(' → ')}` },
        ...via.map((c, i) => ({ message: `${names[i]} calls ${c.callee} here`, span: { file: c.span.file, start: c.span.start, end: c.span.end } })),
      ],
    };
  }

  private expandOpts(): ExpandOptions {
    return { overrides: this.options.solverOptions ?? {} };
  }

  /** The function as the derivative passes see it: the lowered function with its einsum chains
   *  merged into n-ary einsums (compiler/opt/einsum.ts fuseEinsumChains), so that the einsum
   *  rules differentiate through the contraction tree the optimizer chooses. */
  private differentiable(name: string): Func {
    return this.memo(`diffable:${name}`, `preparing ${name} for differentiation (merging einsum chains)`, () => fuseEinsumChains(this.b, this.lowered(name)));
  }

  /** differentiate: the VJP function (before solver expansion). */
  vjpRaw(name: string, target: DeriveTarget = 'cpu'): Func {
    const t = this.targetFor(name, 'vjp', target);
    return this.memo(formKey('vjp-raw', name, t), `differentiating ${name} (reverse mode)`, () => structuredGradients(this.b, vjpFunc({ b: this.b, implicit: implicitHooks.vjp, notes: [], opts: this.deriveOpts(name, 'vjp', t) }, this.differentiable(name))));
  }

  jvpRaw(name: string, target: DeriveTarget = 'cpu'): Func {
    const t = this.targetFor(name, 'jvp', target);
    return this.memo(formKey('jvp-raw', name, t), `differentiating ${name} (forward mode)`, () => jvpFunc(this.b, this.differentiable(name), { implicit: implicitHooks.jvp, notes: [], opts: this.deriveOpts(name, 'jvp', t) }));
  }

  /** The executable forms: expanded and optimized. */
  forward(name: string): Func {
    return this.memo(`fwd:${name}`, `compiling ${name} (solver expansion and simplification)`, () => simplifyFunc(this.b, expandFunc(this.b, this.lowered(name), this.expandOpts())));
  }

  /** The optimized VJP; `target: 'gpu'` is the form the WebGPU kernels are generated from (the
   *  same function unless a rule chose by target: compiler/diff/options.ts). */
  vjp(name: string, target: DeriveTarget = 'cpu'): Func {
    const t = this.targetFor(name, 'vjp', target);
    return this.memo(formKey('vjp', name, t), `compiling the VJP of ${name} (solver expansion and simplification)`, () => simplifyFunc(this.b, expandFunc(this.b, this.vjpRaw(name, t), this.expandOpts())));
  }

  jvp(name: string, target: DeriveTarget = 'cpu'): Func {
    const t = this.targetFor(name, 'jvp', target);
    return this.memo(formKey('jvp', name, t), `compiling the JVP of ${name} (solver expansion and simplification)`, () => simplifyFunc(this.b, expandFunc(this.b, this.jvpRaw(name, t), this.expandOpts())));
  }

  /** The form the grid model's kernels are generated from: the GPU form, except that the
   *  primitives the grid runs as routines of its own (gridKeptOps: blocked Householder QR) are
   *  kept instead of lowered to loops. The same function as the GPU form when it has none. */
  gridForm(name: string, mode: 'forward' | 'vjp' | 'jvp'): Func {
    const gpu = mode === 'forward' ? this.forward(name) : this[mode](name, 'gpu');
    const keep = gridKeptOps();
    if (!keep.size) return gpu;
    const raw = mode === 'forward' ? this.lowered(name) : mode === 'vjp' ? this.vjpRaw(name, this.targetFor(name, 'vjp', 'gpu')) : this.jvpRaw(name, this.targetFor(name, 'jvp', 'gpu'));
    const roots = funcRoots(raw);
    if (!reachable(roots).some((n) => keep.has(n.op))) return gpu;
    const key = mode === 'forward' ? `grid-fwd:${name}` : formKey(`grid-${mode}`, name, this.targetFor(name, mode, 'gpu'));
    return this.memo(key, `compiling ${name} for the grid model (solver expansion and simplification)`, () =>
      simplifyFunc(this.b, lowerKeptInSegments(this.b, simplifyFunc(this.b, expandFunc(this.b, raw, { ...this.expandOpts(), keep })), keep)),
    );
  }

  /** The form the CPU programs are generated from: the CPU form (forward, vjp, jvp), except that
   *  the primitives the CPU programs run as routines of their own (cpuKeptOps: blocked
   *  Householder QR) are kept instead of lowered to loops. The printed IR the reference
   *  interpreter runs stays the lowered form. The same function when it has none. */
  cpuForm(name: string, mode: 'forward' | 'vjp' | 'jvp'): Func {
    const cpu = mode === 'forward' ? this.forward(name) : this[mode](name);
    const keep = cpuKeptOps();
    if (!keep.size) return cpu;
    const raw = mode === 'forward' ? this.lowered(name) : mode === 'vjp' ? this.vjpRaw(name) : this.jvpRaw(name);
    if (!reachable(funcRoots(raw)).some((n) => keep.has(n.op))) return cpu;
    return this.memo(`cpu-${mode}:${name}`, `compiling ${name} for the CPU programs (solver expansion and simplification)`, () => simplifyFunc(this.b, expandFunc(this.b, raw, { ...this.expandOpts(), keep })));
  }

  private targetDependent = new Map<string, { value: boolean }>();

  private deriveOpts(name: string, mode: 'vjp' | 'jvp', target: DeriveTarget): DeriveOptions {
    const opts: DeriveOptions = { overrides: this.options.solverOptions ?? {}, target, ...(this.options.gradRules === false ? { gradRules: false } : {}) };
    if (target === 'cpu') {
      const flag = { value: false };
      this.targetDependent.set(`${mode}:${name}`, flag);
      opts.targetDependent = flag;
    }
    return opts;
  }

  /** The target whose form serves `target`: itself where the CPU derivation (done first) chose
   *  something by target, else the CPU's, so both share one form. */
  private targetFor(name: string, mode: 'vjp' | 'jvp', target: DeriveTarget): DeriveTarget {
    if (target === 'cpu') return 'cpu';
    if (mode === 'vjp') this.vjpRaw(name);
    else this.jvpRaw(name);
    return this.targetDependent.get(`${mode}:${name}`)?.value ? target : 'cpu';
  }

  /** Text of one stage, for `matc ir --stage`. */
  stage(name: string, stage: Stage): string {
    return this.guard(() => withBudget(`stage ${stage} of ${name}`, stageBudget(this.options), () => this.stageText(name, stage)), name);
  }

  private stageText(name: string, stage: Stage): string {
    switch (stage) {
      case 'parse':
        return printProgram(this.out.files.find((f) => f.file === this.main)?.program as A.Program);
      case 'check':
        return signature(this.lowered(name));
      case 'lower':
        return verifiedText(this.lowered(name));
      case 'diff':
        return verifiedText(simplifyFunc(this.b, this.vjpRaw(name)));
      case 'jvp':
        return verifiedText(simplifyFunc(this.b, this.jvpRaw(name)));
      case 'expand':
        return verifiedText(expandFunc(this.b, this.lowered(name), this.expandOpts()));
      case 'opt': {
        // the forward needs no derivative: a function without a reverse rule still prints it,
        // with the reason its VJP is missing (issue 10), as `--stage schedule` does
        const fwd = verifiedText(this.forward(name));
        let vjp: string;
        try {
          vjp = verifiedText(this.vjp(name));
        } catch (e) {
          if (!(e instanceof CompileError)) throw e;
          vjp = `// ${name} (vjp): not compiled: ${e.message.split('\n')[0]}`;
        }
        return fwd + '\n\n' + vjp;
      }
    }
  }
}

/** The printed IR of a stage, checked as `matc compile` checks what it embeds: the function
 *  passes the verifier and its text parses back as itself. `matc ir` printed IR that failed its
 *  own verifier and exited 0 (issue 10); an InternalError here makes it exit 2. */
function verifiedText(f: Func): string {
  verifyFunc(f);
  const text = printFunc(f);
  let again: string;
  try {
    again = printFunc(parseFunc(text, new Graph()));
  } catch (e) {
    throw new InternalError(`${f.name}: the printed IR does not parse back (${(e as Error).message})`, text);
  }
  if (again !== text) throw new InternalError(`${f.name}: the printed IR does not print back identically after parsing`, text);
  return text;
}

function signature(f: Func): string {
  const t = (n: { node: { type: unknown } }) => {
    const ty = n.node.type as { shape: { toString(): string }[]; struct?: string };
    const dims = ty.shape.map((d) => d.toString()).join(', ');
    return ty.shape.length === 0 ? 'real' : `${ty.struct ?? (ty.shape.length === 1 ? 'vec' : ty.shape.length === 2 ? 'mat' : 'tensor')}[${dims}]`;
  };
  const lines = [`${f.kind} ${f.name}`];
  for (const p of f.params) lines.push(`  in  ${p.name}: ${t(p)}${p.default !== undefined ? ` = ${p.default}` : ''}`);
  for (const i of f.intParams) lines.push(`  int ${i.name}${i.default !== undefined ? ` = ${i.default}` : ''}`);
  for (const d of f.derivedDims) lines.push(`  dim ${d.name} = ${d.value}`);
  for (const r of f.results) lines.push(`  out ${r.name}: ${t(r)}`);
  for (const s of f.status) lines.push(`  status ${s.name}`);
  return lines.join('\n');
}

/** Rejects solver option overrides that no solver takes or that no solver could use
 *  (MATR114): `--set maxiter=5` or `max_iter: -5` must not be ignored silently. */
function checkSolverOptions(opts: CompileOptions): void {
  const o = opts.solverOptions;
  if (o === undefined) return;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new MatcRuntimeError('MATR114', 'solverOptions must be an object {option: number}');
  for (const [k, v] of Object.entries(o)) {
    const why = solverOverrideProblem(k, v);
    if (why) throw new MatcRuntimeError('MATR114', why);
  }
}

const COMPILE_OPTIONS: Record<string, OptionSpec> = {
  path: { what: 'a file name (string)', ok: (v) => typeof v === 'string' },
  loader: { what: 'an object with a read(path) method', ok: (v) => isRecord(v) && typeof (v as { read?: unknown }).read === 'function' },
  verify: { what: 'true or false', ok: isBool },
  solverOptions: { what: 'an object {option: number}', ok: isRecord },
  budgetMs: { what: 'a positive number of milliseconds', ok: isPositive },
  budgetSteps: { what: 'a positive number of steps', ok: isPositive },
  gradRules: { what: 'true or false', ok: isBool },
};

/** The arguments of `compile(source, options)` (MATR117): .mat text and an options object. */
function checkCompileArgs(where: string, source: unknown, opts: unknown): void {
  if (typeof source !== 'string') throw new MatcRuntimeError('MATR117', `${where}: the source must be the text of a .mat program (a string), got ${describeValue(source)}`);
  checkOptions('MATR117', where, 'the compile options', opts, COMPILE_OPTIONS);
}

/** Parses and checks a program; throws CompileError with every diagnostic on user errors. */
export function compileProgram(source: string, opts: CompileOptions = {}): Program {
  checkCompileArgs('compile', source, opts);
  checkSolverOptions(opts);
  const diag = new DiagnosticBag();
  const file = sourceFile(opts.path ?? '<input>', source);
  const b = new Builder();
  const out = elaborateProgram(file, diag, opts.loader ?? fsLoader, b, budgetOpts(opts));
  if (diag.hasErrors) throw new CompileError(diag.items);
  if (opts.verify) for (const f of out.funcs.values()) verifyFunc(f);
  return new Program(out, b, file, diag.items, opts);
}

/** Diagnostics only (the `matc check` pass). */
export function checkSource(source: string, opts: CompileOptions = {}): Diagnostic[] {
  checkCompileArgs('checkSource', source, opts);
  const diag = new DiagnosticBag();
  const file = sourceFile(opts.path ?? '<input>', source);
  elaborateProgram(file, diag, opts.loader ?? fsLoader, new Builder(), budgetOpts(opts));
  return diag.items;
}

function budgetOpts(opts: CompileOptions): { budgetMs?: number; budgetSteps?: number } {
  return { ...(opts.budgetMs !== undefined ? { budgetMs: opts.budgetMs } : {}), ...(opts.budgetSteps !== undefined ? { budgetSteps: opts.budgetSteps } : {}) };
}

/** The memo key of a derived form: the CPU's is the plain name (compiler/diff/options.ts). */
function formKey(form: string, name: string, target: DeriveTarget): string {
  return `${form}:${name}${target === 'cpu' ? '' : `:${target}`}`;
}
