// Elaboration of the declarative and iterative constructs: argmin/argmax nodes, `solve ... such
// that` root nodes and `iterate` loops. Each becomes one IR node with regions (objective,
// constraints, equations, orientation, grad rule, loop body); their solver semantics are
// expanded later (compiler/solvers), their derivatives by compiler/diff/implicit.ts.

import type * as A from '../../grammar/ast.js';
import { closest } from '../diagnostics.js';
import { shapeEquals, shapeToString } from '../../core/dims.js';
import { shapeOf } from '../ir/builder.js';
import { freeParams, type Node } from '../ir/node.js';
import { type IrType, type Struct, intT, scalarT, tupleT } from '../ir/types.js';
import { lineCol, type Span } from '../source.js';
import type { Elab } from './elaborate.js';
import type { Scope } from './scope.js';
import { readSolverOptions, solverSpecs, type OptValue } from './solver-specs.js';
import { builtins } from './builtins.js';
import { resolveType } from './type-ast.js';
import { type Val, arr, poison, shapeLabel } from './values.js';
import { complexForReal, mk } from './complex.js';

interface VarInfo {
  name: string;
  type: IrType;
  struct: Struct;
  span: Span;
}

function resolveVars(el: Elab, vars: A.VarDecl[]): VarInfo[] | null {
  const out: VarInfo[] = [];
  for (const v of vars) {
    const t = resolveType(v.type, (n) => el.dims.get(n), el.diag);
    if (!t) return null;
    if (t.isInt) {
      el.diag.error('MAT0208', 'declarative variables are real scalars, vectors or matrices, not int', v.type.span);
      return null;
    }
    if (t.complex) {
      // complex unknowns of argmin/solve/root (issue 13, refused): the solvers, the structured
      // unknowns (stiefel, triu, …) and the implicit derivation are real; a complex unknown is two
      // real ones, or a function whose grad rule is written for complex arguments (stdlib cqr)
      el.diag.error('MAT0294', `a declarative node cannot have a complex unknown ('${v.name.name}: ${v.type.name.name}'): its solvers and its implicit derivative work on real unknowns`, v.type.span, {
        notes: [{ message: 'for a factorization computed by an algorithm, write a function with a grad rule instead: rules may take and return complex values (stdlib/qr.mat cqr)' }],
        suggestion: `declare the real and imaginary parts as two real unknowns (e.g. ${v.name.name}_re, ${v.name.name}_im) and combine them with complex(${v.name.name}_re, ${v.name.name}_im)`,
      });
      return null;
    }
    out.push({ name: v.name.name, type: t.ir, struct: t.struct, span: v.name.span });
  }
  return out;
}

/** Fresh region parameters for the variables, bound in a child scope. */
function varRegion(el: Elab, vars: VarInfo[], env: Scope): { params: Node[]; scope: Scope } {
  const scope = env.child();
  const params = vars.map((v) => el.b.regionParam(v.name, v.type));
  vars.forEach((v, i) => scope.define(v.name, { val: arr(params[i]!, v.struct), span: v.span, what: 'variable' }));
  return { params, scope };
}

function label(el: Elab, kind: string, span: Span): string {
  const { line, col } = lineCol(span.file, span.start);
  return `${el.statusPrefix}${kind}@${line}:${col}`;
}

/** `lhs == rhs` → the residual lhs − rhs. */
function equation(el: Elab, e: A.Expr, scope: Scope, what: string): Node | null {
  if (e.kind !== 'binary' || e.op !== '==') {
    if (e.kind !== 'error') {
      el.diag.error('MAT0402', `${what} must be an equation lhs == rhs`, e.span, {
        suggestion: e.kind === 'binary' && ['<=', '>=', '<', '>'].includes(e.op) ? 'inequality constraints are not supported yet; write an equality or a penalty' : undefined,
      });
    }
    return null;
  }
  const l = el.expr(e.left, scope);
  const r = el.expr(e.right, scope);
  if (l.k === 'error' || r.k === 'error') return null;
  const a = el.toArr(l, e.left.span);
  const b = el.toArr(r, e.right.span);
  if (a.k !== 'arr' || b.k !== 'arr') return null;
  const sa = shapeOf(a.node);
  const sb = shapeOf(b.node);
  if (sa.length && sb.length && !shapeEquals(sa, sb)) {
    el.diag.error('MAT0204', `the two sides of ${what} have different shapes`, e.span, { label: `${shapeLabel(a)} == ${shapeLabel(b)}` });
    return null;
  }
  return el.b.at(e.span, () => el.b.sub(el.b.broadcastTo(a.node, sa.length ? sa : sb), el.b.broadcastTo(b.node, sa.length ? sa : sb)));
}

/** The residuals lhs − rhs of a list of equations over a variable region; an equation that is
 *  malformed or does not involve the variables is an error (MAT0402, with `independent`). */
function residualsOf(el: Elab, eqs: A.Expr[], region: { params: Node[]; scope: Scope }, what: string, independent: string): { residuals: Node[]; ok: boolean } {
  const residuals: Node[] = [];
  let ok = true;
  for (const q of eqs) {
    const r = equation(el, q, region.scope, what);
    if (!r) {
      ok = false;
      continue;
    }
    if (!dependsOn(r, region.params)) {
      el.diag.error('MAT0402', independent, q.span);
      ok = false;
      continue;
    }
    residuals.push(r);
  }
  return { residuals, ok };
}

function dependsOn(n: Node, params: Node[]): boolean {
  const f = freeParams(n);
  return params.some((p) => f.has(p));
}

/** Init or `by`-value: a value (or tuple) matching the variables, in the outer scope. */
function matchVars(el: Elab, v: Val, vars: VarInfo[], span: Span, what: string): Node[] | null {
  if (v.k === 'error') return null;
  const elems = vars.length === 1 ? [v] : v.k === 'tuple' ? v.elems : null;
  if (!elems || elems.length !== vars.length) {
    el.diag.error('MAT0405', `${what} must give ${vars.length} value${vars.length > 1 ? 's' : ''} (one per variable)`, span);
    return null;
  }
  const out: Node[] = [];
  for (let i = 0; i < vars.length; i++) {
    const want = vars[i]!.type;
    const x = el.checkAgainst(elems[i]!, { shape: want.kind === 'tensor' ? want.shape : null }, span, `${what} for ${vars[i]!.name}`);
    if (x.k !== 'arr') return null;
    out.push(x.node);
  }
  return out;
}

interface Common {
  initArgs: Node[];
  byArgs: Node[];
  solver: { name: string; options: Record<string, OptValue> } | null;
  orientRegion: { params: Node[]; results: Node[] } | null;
  grad: { region: { params: Node[]; results: Node[] }; targets: string[]; targetNodes: Node[] } | null;
}

function clauses(el: Elab, kind: 'argmin' | 'argmax' | 'solve', c: A.DeclClauses, vars: VarInfo[], env: Scope, span: Span): Common | null {
  let ok = true;
  const out: Common = { initArgs: [], byArgs: [], solver: null, orientRegion: null, grad: null };
  if (c.init) {
    const v = el.expr(c.init, env);
    const nodes = matchVars(el, v, vars, c.init.span, 'init');
    if (nodes) out.initArgs = nodes;
    else ok = false;
  }
  if (c.by) {
    const name = c.by.name.name;
    const spec = solverSpecs[name];
    const call = c.by.call;
    // `by EXPR` with any expression other than a builtin solver gives the solution directly
    const isValue = !spec && (el.ctx.items.has(name) || (call.kind === 'call' && !!builtins[name]) || (call.kind !== 'call' && call.kind !== 'name') || (call.kind === 'name' && !!env.lookup(name)));
    if (isValue) {
      const v = el.expr(call, env);
      const nodes = matchVars(el, v, vars, call.span, 'the solution given by `by`');
      if (nodes) out.byArgs = nodes;
      else ok = false;
    } else if (spec) {
      if (!spec.for.includes(kind)) {
        el.diag.error('MAT0409', `solver ${name} does not apply to ${kind} nodes`, c.by.name.span, {
          suggestion: `solvers for ${kind}: ${Object.entries(solverSpecs).filter(([, s]) => s.for.includes(kind)).map(([n]) => n).join(', ')}`,
        });
        ok = false;
      }
      out.solver = { name, options: readSolverOptions(spec, name, c.by.args, el.diag) };
    } else if (name !== '<error>') {
      const sug = closest(name, [...Object.keys(solverSpecs), ...el.ctx.items.keys()]);
      el.diag.error('MAT0403', `unknown solver '${name}'`, c.by.name.span, {
        label: 'not a builtin solver or a function',
        suggestion: sug ? `did you mean '${sug}'?` : `builtin solvers: ${Object.keys(solverSpecs).join(', ')}`,
      });
      ok = false;
    }
  }
  if (c.orient) {
    const { params, scope } = varRegion(el, vars, env);
    const s = el.expr(c.orient, scope);
    // `orient e >= 0`: flip the sign of the solution where e < 0.
    const cond = c.orient;
    const target = cond.kind === 'binary' && cond.op === '>=' ? cond : null;
    if (!target) {
      el.diag.error('MAT0407', 'orient takes a condition of the form expr >= 0', c.orient.span, { suggestion: 'e.g. orient sum(u) >= 0' });
      ok = false;
    } else {
      const rhs = target.right;
      if (!(rhs.kind === 'num' && rhs.value === 0)) {
        el.diag.error('MAT0407', 'orient compares with 0: orient expr >= 0', rhs.span);
        ok = false;
      } else {
        const lhs = el.expr(target.left, scope);
        const a = el.toArr(lhs, target.left.span, 'the orientation');
        if (a.k === 'arr') {
          const sh = shapeOf(a.node);
          const v0 = vars[0]!;
          const v0s = v0.type.kind === 'tensor' ? v0.type.shape : [];
          const cols = v0s.length === 2 ? v0s[1] : undefined;
          if (!(sh.length === 0 || (cols && sh.length === 1 && sh[0]!.equals(cols)))) {
            el.diag.error('MAT0407', 'orient orients the first variable: give a scalar (or one value per column of a matrix variable)', target.left.span, {
              label: `this is ${shapeLabel(a)}`,
            });
            ok = false;
          } else out.orientRegion = { params, results: [a.node] };
        } else ok = false;
      }
    }
    void s;
  }
  if (c.grad) {
    const g = c.grad;
    if (g.cotangents.length !== vars.length) {
      el.diag.error('MAT0406', `the grad rule names ${g.cotangents.length} cotangent${g.cotangents.length === 1 ? '' : 's'} but the node has ${vars.length} output${vars.length === 1 ? '' : 's'}`, g.span);
      ok = false;
    } else {
      // The rule sees the solution under the variables' names and the cotangents.
      const { params, scope } = varRegion(el, vars, env);
      const cots = vars.map((v, i) => el.b.regionParam(g.cotangents[i]!.name, v.type));
      vars.forEach((v, i) => scope.define(g.cotangents[i]!.name, { val: arr(cots[i]!), span: g.cotangents[i]!.span, what: 'cotangent' }));
      const results: Node[] = [];
      const targets: string[] = [];
      const targetNodes: Node[] = [];
      for (const t of g.targets) {
        const tb = env.lookup(t.target.name);
        if (!tb || tb.val.k !== 'arr') {
          el.diag.error('MAT0406', `grad rule target '${t.target.name}' must be an array value in scope (usually a parameter)`, t.target.span);
          ok = false;
          continue;
        }
        const val = el.expr(t.value, scope);
        const chk = el.checkAgainst(val, { shape: shapeOf(tb.val.node) }, t.value.span, `the cotangent of ${t.target.name}`, tb.span);
        if (chk.k !== 'arr') {
          ok = false;
          continue;
        }
        targets.push(t.target.name);
        targetNodes.push(tb.val.node);
        results.push(chk.node);
      }
      if (ok) out.grad = { region: { params: [...params, ...cots], results }, targets, targetNodes };
    }
  }
  void span;
  return ok ? out : null;
}

function resultType(vars: VarInfo[]): IrType {
  return tupleT([...vars.map((v) => v.type), intT, scalarT, scalarT]);
}

function outputs(el: Elab, node: Node, vars: VarInfo[], kind: string, span: Span): Val {
  const n = vars.length;
  el.statuses.push({
    name: label(el, kind, span),
    kind: 'solver',
    iterations: el.b.proj(node, n),
    converged: el.b.proj(node, n + 1),
    residual: el.b.proj(node, n + 2),
    span,
  });
  const vals = vars.map((v, i) => arr(el.b.proj(node, i), v.struct));
  return vals.length === 1 ? vals[0]! : { k: 'tuple', elems: vals };
}

export function elaborateArgopt(el: Elab, e: Extract<A.Expr, { kind: 'argopt' }>, env: Scope): Val {
  const vars = resolveVars(el, e.vars);
  if (!vars) return poison;
  const kind = e.sense === 'min' ? 'argmin' : 'argmax';
  const obj = varRegion(el, vars, env);
  const f = el.expr(e.objective, obj.scope);
  const fnode = el.toScalar(f, e.objective.span, 'the objective');
  let ok = !!fnode;
  if (fnode && !dependsOn(fnode, obj.params)) {
    el.diag.error('MAT0401', `the objective does not depend on ${vars.map((v) => v.name).join(', ')}: the ${kind} is ill-posed`, e.objective.span, {
      label: 'constant in the variables',
    });
    ok = false;
  }
  const con = varRegion(el, vars, env);
  const cons = residualsOf(el, e.clauses.constraints, con, 'a constraint', 'this constraint does not depend on the variables');
  const residuals = cons.residuals;
  ok &&= cons.ok;
  for (const v of vars) {
    if ((v.struct === 'sphere' || v.struct === 'stiefel' || v.struct === 'orth') && residuals.length > 0) {
      el.diag.error('MAT0402', `constraints together with a ${v.struct} domain are not supported yet`, e.clauses.constraints[0]!.span, {
        suggestion: `declare ${v.name} as a plain vec/mat and write the manifold condition as a constraint`,
      });
      ok = false;
    }
  }
  const c = clauses(el, kind, e.clauses, vars, env, e.span);
  if (!ok || !c) return poison;
  const regions = [
    { params: obj.params, results: [fnode!] },
    { params: con.params, results: residuals },
    ...(c.orientRegion ? [c.orientRegion] : []),
    ...(c.grad ? [c.grad.region] : []),
  ];
  const node = el.b.at(e.span, () =>
    el.b.raw('opt', [...c.initArgs, ...c.byArgs, ...(c.grad?.targetNodes ?? [])], {
      sense: e.sense,
      vars: vars.map((v) => ({ name: v.name, domain: v.struct })),
      solver: c.solver ? { name: c.solver.name, options: c.solver.options as Record<string, never> } : null,
      nInit: c.initArgs.length,
      nBy: c.byArgs.length,
      orient: !!c.orientRegion,
      grad: c.grad ? c.grad.targets : null,
      label: label(el, kind, e.span),
      resultType: resultType(vars),
    }, regions),
  );
  return outputs(el, node, vars, kind, e.span);
}

export function elaborateSolve(el: Elab, e: Extract<A.Expr, { kind: 'solve' }>, env: Scope): Val {
  const vars = resolveVars(el, e.vars);
  if (!vars) return poison;
  if (e.clauses.constraints.length) {
    el.diag.error('MAT0402', "'subject to' belongs to argmin/argmax; list all equations after 'such that'", e.clauses.constraints[0]!.span);
    return poison;
  }
  const eqs = varRegion(el, vars, env);
  const { residuals, ok } = residualsOf(el, e.equations, eqs, 'an equation', 'this equation does not depend on the unknowns');
  const c = clauses(el, 'solve', e.clauses, vars, env, e.span);
  if (!ok || !c) return poison;
  if (!c.solver && c.byArgs.length === 0 && c.initArgs.length === 0) {
    // default: Newton from zeros needs an init for most problems; accept and let it report.
  }
  const regions = [
    { params: eqs.params, results: residuals },
    ...(c.orientRegion ? [c.orientRegion] : []),
    ...(c.grad ? [c.grad.region] : []),
  ];
  const node = el.b.at(e.span, () =>
    el.b.raw('root', [...c.initArgs, ...c.byArgs, ...(c.grad?.targetNodes ?? [])], {
      vars: vars.map((v) => ({ name: v.name, domain: v.struct })),
      solver: c.solver ? { name: c.solver.name, options: c.solver.options as Record<string, never> } : null,
      nInit: c.initArgs.length,
      nBy: c.byArgs.length,
      orient: !!c.orientRegion,
      grad: c.grad ? c.grad.targets : null,
      label: label(el, 'solve', e.span),
      resultType: resultType(vars),
    }, regions),
  );
  return outputs(el, node, vars, 'solve', e.span);
}

/** Descends the lets of a loop body and elaborates its tail and `until` in the inner scope. */
function bodyTail(el: Elab, body: A.Expr, env: Scope, until: A.Expr | null): { val: Val; done: Node | null; doneOk: boolean } {
  if (body.kind === 'let') {
    let scope = env;
    for (const bd of body.bindings) {
      const v = el.expr(bd.value, scope);
      scope = scope.nextLet(env, bd.names);
      el.bindPattern(bd, v, scope, 'let');
    }
    return bodyTail(el, body.body, scope, until);
  }
  const val = el.expr(body, env);
  if (!until) return { val, done: null, doneOk: true };
  const d = el.toScalar(el.expr(until, env), until.span, 'the until condition');
  return { val, done: d, doneOk: !!d };
}

export function elaborateIterate(el: Elab, e: Extract<A.Expr, { kind: 'iterate' }>, env: Scope): Val {
  const lo = el.toInt(el.expr(e.lo, env), e.lo.span, 'the loop start');
  const hi = el.toInt(el.expr(e.hi, env), e.hi.span, 'the loop end');
  // a carry: its initial parts (im null: real so far) — complex carries are two IR carries
  const inits: { re: Node; im: Node | null; struct: Struct; row: boolean; decl?: Span }[] = [];
  let ok = lo.k === 'int' && hi.k === 'int';
  for (const c of e.carries) {
    let v = el.expr(c.init, env);
    let declaredComplex = false;
    if (c.type) {
      const t = resolveType(c.type, (n) => el.dims.get(n), el.diag);
      if (!t) {
        ok = false;
        continue;
      }
      declaredComplex = !!t.complex;
      v = el.checkAgainst(v, { shape: t.ir.kind === 'tensor' ? t.ir.shape : null }, c.init.span, `the initial value of ${c.name.name}`, c.type.span);
      if (v.k === 'cx' && !t.complex) v = complexForReal(el, v, c.init.span, `the initial value of ${c.name.name}`, c.type.span);
    }
    if (v.k === 'cx') {
      inits.push({ re: v.re, im: v.im, struct: v.struct, row: v.row, decl: c.span });
      continue;
    }
    const a = el.toArr(v, c.init.span, `the initial value of ${c.name.name}`);
    if (a.k !== 'arr') {
      ok = false;
      continue;
    }
    inits.push({ re: a.node, im: declaredComplex ? el.b.zeros(shapeOf(a.node)) : null, struct: a.struct, row: a.row, decl: c.span });
  }
  if (!ok || lo.k !== 'int' || hi.k !== 'int') return poison;
  // A carry that starts real but that the body makes complex (Q ← H Q with a complex reflector)
  // is complex from the start: the body is elaborated again with it complex (imaginary part 0
  // initially), until no real carry turns complex (at most once per carry). The attempts that
  // are dropped leave unreachable IR and take back their diagnostics and status entries.
  for (;;) {
    const diagMark = el.diag.items.length;
    const stMark = el.statuses.length;
    const asMark = el.assertions.length;
    const r = iterateOnce(el, e, env, lo.node, hi.node, inits);
    if (r.turned.length === 0) return r.val;
    el.diag.items.length = diagMark;
    el.statuses.length = stMark;
    el.assertions.length = asMark;
    for (const i of r.turned) inits[i]!.im = el.b.zeros(shapeOf(inits[i]!.re));
  }
}

function iterateOnce(
  el: Elab,
  e: Extract<A.Expr, { kind: 'iterate' }>,
  env: Scope,
  lo: Node,
  hi: Node,
  inits: { re: Node; im: Node | null; struct: Struct; row: boolean; decl?: Span }[],
): { val: Val; turned: number[] } {
  const fail = { val: poison, turned: [] };
  const scope = env.child();
  const idx = el.b.regionParam(e.index.name, intT);
  scope.define(e.index.name, { val: { k: 'int', node: idx }, span: e.index.span, what: 'loop index' });
  const names = e.carries.map((c) => c.name.name);
  // IR carries: the real part of every carry, then the imaginary part of each complex one
  const irNames: string[] = [...names];
  const irInits: Node[] = inits.map((x) => x.re);
  inits.forEach((x, i) => {
    if (x.im) {
      irNames.push(`${names[i]}.im`);
      irInits.push(x.im);
    }
  });
  const params = irInits.map((x, i) => el.b.regionParam(irNames[i]!, x.type));
  let k = inits.length;
  inits.forEach((x, i) => {
    const re = params[i]!;
    const val: Val = x.im ? { k: 'cx', re, im: params[k++]!, struct: x.struct, row: x.row } : arr(re, x.struct, x.row);
    scope.define(names[i]!, { val, span: e.carries[i]!.name.span, what: 'loop carry' });
  });
  const { val, done, doneOk } = bodyTail(el, e.body, scope, e.until);
  if (val.k === 'error' || !doneOk) return fail;
  const elems = inits.length === 1 ? [val] : val.k === 'tuple' ? val.elems : null;
  if (!elems || elems.length !== inits.length) {
    el.diag.error('MAT0410', `the loop body must give ${inits.length === 1 ? 'the new value of the carry' : `a tuple of ${inits.length} new values, one per carry`}`, e.body.span);
    return fail;
  }
  const nextRe: Node[] = [];
  const nextIm: Node[] = [];
  const turned: number[] = [];
  for (let i = 0; i < inits.length; i++) {
    const want = shapeOf(inits[i]!.re);
    const x = elems[i]!;
    if (x.k === 'cx' && !inits[i]!.im) {
      turned.push(i);
      continue;
    }
    const a = x.k === 'cx' ? x : el.toArr(x, e.body.span);
    if (a.k !== 'arr' && a.k !== 'cx') return fail;
    const re = a.k === 'cx' ? a.re : a.node;
    if (!shapeEquals(shapeOf(re), want)) {
      el.diag.error('MAT0410', `the loop updates ${e.carries[i]!.name.name} to ${shapeLabel(a)} but it started as ${shapeToString(want)}`, e.body.span, {
        notes: [{ message: `${e.carries[i]!.name.name} is declared here`, span: e.carries[i]!.span }],
      });
      return fail;
    }
    nextRe.push(re);
    if (inits[i]!.im) nextIm.push(a.k === 'cx' ? a.im : el.b.zeros(want));
  }
  if (turned.length) return { val: poison, turned };
  const doneNode = done ?? el.b.const(0);
  const node = el.b.at(e.span, () =>
    el.b.raw('loop', [lo, hi, ...irInits], {
      reverse: e.reverse,
      hasUntil: !!e.until,
      names: irNames,
      label: label(el, 'iterate', e.span),
    }, [{ params: [idx, ...params], results: [...nextRe, ...nextIm, doneNode] }]),
  );
  const n = irInits.length;
  if (e.until) {
    el.statuses.push({ name: label(el, 'iterate', e.span), kind: 'loop', iterations: el.b.proj(node, n), converged: el.b.proj(node, n + 1), span: e.span });
  }
  let j = inits.length;
  const outs = inits.map((x, i) => (x.im ? mk(el.b, el.b.proj(node, i), el.b.proj(node, j++), x.struct, x.row) : arr(el.b.proj(node, i), x.struct, x.row)));
  return { val: outs.length === 1 ? outs[0]! : { k: 'tuple', elems: outs }, turned: [] };
}
