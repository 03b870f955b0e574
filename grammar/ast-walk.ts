// The direct sub-expressions of every AST node, in one place, so that analyses over whole items
// (the call graph that finds recursion, compiler/check/recursion.ts) can walk them with an
// explicit stack instead of recursing once per construct: expressions nest as deep as the parser
// allows and chains of operators as long as the file.

import type * as A from './ast.js';

function clauseExprs(c: A.DeclClauses): A.Expr[] {
  const out: A.Expr[] = [...c.constraints];
  if (c.init) out.push(c.init);
  if (c.by) out.push(c.by.call);
  if (c.orient) out.push(c.orient);
  if (c.grad) for (const t of c.grad.targets) out.push(t.value);
  return out;
}

/** The expressions directly inside `e`. */
export function exprChildren(e: A.Expr): A.Expr[] {
  switch (e.kind) {
    case 'num':
    case 'bool':
    case 'string':
    case 'name':
    case 'error':
      return [];
    case 'call':
      return e.args.map((a) => a.value);
    case 'unary':
    case 'transpose':
      return [e.operand];
    case 'binary':
      return [e.left, e.right];
    case 'index':
      return [e.target, ...e.indices.flatMap((i) => (i.kind === 'all' ? [] : i.kind === 'at' ? [i.index] : [i.lo, i.hi]))];
    case 'tuple':
      return e.elems;
    case 'matrix':
      return e.rows.flat();
    case 'let':
      return [...e.bindings.map((b) => b.value), e.body];
    case 'if':
      return [e.cond, e.then, e.else];
    case 'argopt':
      return [e.objective, ...clauseExprs(e.clauses)];
    case 'solve':
      return [...e.equations, ...clauseExprs(e.clauses)];
    case 'iterate':
    case 'unroll':
      return [...e.carries.map((c) => c.init), e.lo, e.hi, e.body, ...(e.until ? [e.until] : [])];
    case 'comprehension':
      return [e.elem, e.lo, e.hi];
    case 'member':
      return [e.target, ...(e.args ?? []).map((a) => a.value)];
  }
}

/** The top-level expressions of an item (parameter defaults, body, optimizer state and updates). */
export function itemExprs(it: A.FnItem | A.OptimizerItem): A.Expr[] {
  const defaults = [...it.params, ...(it.kind === 'optimizer' ? it.hyper : [])].flatMap((p) => (p.default ? [p.default] : []));
  if (it.kind !== 'optimizer') return [...defaults, it.body];
  const b = it.body;
  return [...defaults, ...b.state.map((s) => s.init), ...b.lets.map((l) => l.value), ...b.updates.map((u) => u.value)];
}

/** Every expression of an item, each once, visited with an explicit stack. */
export function* walkItem(it: A.FnItem | A.OptimizerItem): Generator<A.Expr> {
  const stack = itemExprs(it).reverse();
  while (stack.length) {
    const e = stack.pop()!;
    yield e;
    const kids = exprChildren(e);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
}

/** Every dimension expression of an item: in parameter, result, state, variable and carry types,
 *  and in where clauses. */
export function* itemDims(it: A.FnItem | A.OptimizerItem): Generator<A.DimAst> {
  const types: (A.TypeAst | null)[] = [...it.params, ...(it.kind === 'optimizer' ? it.hyper : [])].map((p) => p.type);
  if (it.kind !== 'optimizer') types.push(...it.results.map((r) => r.type));
  else types.push(...it.body.state.map((s) => s.type));
  for (const e of walkItem(it)) {
    if (e.kind === 'argopt' || e.kind === 'solve') types.push(...e.vars.map((v) => v.type));
    else if (e.kind === 'iterate' || e.kind === 'unroll') types.push(...e.carries.map((c) => c.type));
  }
  for (let t of types) {
    // a collection type's dimensions: its bounds and its element's
    while (t?.each) {
      yield t.each.gen.lo;
      yield t.each.gen.hi;
      t = t.each.elem;
    }
    for (const d of t?.dims ?? []) yield d;
  }
  for (const w of it.where) yield w.value;
}

/** How deep a dimension expression nests (a chain n + n + … nests as long as it is). */
export function dimDepth(d: A.DimAst): number {
  let max = 0;
  const stack: [A.DimAst, number][] = [[d, 1]];
  while (stack.length) {
    const [x, depth] = stack.pop()!;
    max = Math.max(max, depth);
    if (x.kind === 'bin') stack.push([x.left, depth + 1], [x.right, depth + 1]);
    else if (x.kind === 'call') for (const a of x.args) stack.push([a, depth + 1]);
    else if (x.kind === 'index') stack.push([x.index, depth + 1]);
    else if (x.kind === 'reduce' || x.kind === 'each') stack.push([x.body, depth + 1], [x.gen.lo, depth + 1], [x.gen.hi, depth + 1]);
  }
  return max;
}

/** A copy of e with its expression children mapped (and types inside it: loop carries, argmin
 *  variables) — the rebuilding twin of exprChildren, kept beside it so a new expression kind
 *  updates both (used by the structure instantiation pass, compiler/check/structures.ts). */
export function mapChildren(e: A.Expr, f: (c: A.Expr) => A.Expr, ty: (t: A.TypeAst) => A.TypeAst): A.Expr {
  const args = (as: A.Arg[]): A.Arg[] => as.map((a) => ({ ...a, value: f(a.value) }));
  const clauses = (c: A.DeclClauses): A.DeclClauses => ({
    constraints: c.constraints.map(f),
    init: c.init ? f(c.init) : null,
    by: c.by ? { ...c.by, args: args(c.by.args), call: f(c.by.call) } : null,
    grad: c.grad ? { ...c.grad, targets: c.grad.targets.map((t) => ({ ...t, value: f(t.value) })) } : null,
    orient: c.orient ? f(c.orient) : null,
  });
  switch (e.kind) {
    case 'num':
    case 'bool':
    case 'string':
    case 'name':
    case 'error':
      return e;
    case 'call':
      return { ...e, args: args(e.args) };
    case 'member':
      return { ...e, target: f(e.target), args: e.args ? args(e.args) : null };
    case 'unary':
      return { ...e, operand: f(e.operand) };
    case 'binary':
      return { ...e, left: f(e.left), right: f(e.right) };
    case 'transpose':
      return { ...e, operand: f(e.operand) };
    case 'index':
      return {
        ...e,
        target: f(e.target),
        indices: e.indices.map((i) => (i.kind === 'at' ? { ...i, index: f(i.index) } : i.kind === 'range' ? { ...i, lo: f(i.lo), hi: f(i.hi) } : i)),
      };
    case 'tuple':
      return { ...e, elems: e.elems.map(f) };
    case 'matrix':
      return { ...e, rows: e.rows.map((r) => r.map(f)) };
    case 'let':
      return { ...e, bindings: e.bindings.map((b) => ({ ...b, value: f(b.value) })), body: f(e.body) };
    case 'if':
      return { ...e, cond: f(e.cond), then: f(e.then), else: f(e.else) };
    case 'argopt':
      return { ...e, vars: e.vars.map((v) => ({ ...v, type: ty(v.type) })), objective: f(e.objective), clauses: clauses(e.clauses) };
    case 'solve':
      return { ...e, vars: e.vars.map((v) => ({ ...v, type: ty(v.type) })), equations: e.equations.map(f), clauses: clauses(e.clauses) };
    case 'comprehension':
      return { ...e, elem: f(e.elem), lo: f(e.lo), hi: f(e.hi) };
    case 'iterate':
    case 'unroll':
      return {
        ...e,
        carries: e.carries.map((c) => ({ ...c, type: c.type ? ty(c.type) : null, init: f(c.init) })),
        lo: f(e.lo),
        hi: f(e.hi),
        body: f(e.body),
        until: e.until ? f(e.until) : null,
      };
  }
}
