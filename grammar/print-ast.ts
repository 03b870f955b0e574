// Prints an AST back to .mat source with the fewest parentheses that preserve it, so that
// parse(print(ast)) = ast (a property test) and `matc ir --stage parse` shows what was read.

import type * as A from './ast.js';

const level = (e: A.Expr): number => {
  switch (e.kind) {
    case 'let':
    case 'if':
    case 'argopt':
    case 'solve':
    case 'iterate':
    case 'unroll':
      return 0;
    case 'binary':
      return binLevel[e.op];
    case 'unary':
      return 6;
    case 'transpose':
    case 'index':
      return 8;
    case 'num':
      return e.value < 0 ? 6 : 9;
    default:
      return 9;
  }
};

const binLevel: Record<A.BinaryOp, number> = {
  '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 3, '<=': 3, '>': 3, '>=': 3,
  '+': 4, '-': 4, '*': 5, '/': 5, '.*': 5, './': 5, '^': 7, '.^': 7,
};

function p(e: A.Expr, min: number): string {
  const s = expr(e);
  return level(e) < min ? `(${s})` : s;
}

function dim(d: A.DimAst, min = 0): string {
  switch (d.kind) {
    case 'num':
      return String(d.value);
    case 'name':
      return d.name;
    case 'ellipsis':
      return '...';
    case 'call':
      return `${d.fn}(${d.args.map((a) => dim(a)).join(', ')})`;
    case 'bin': {
      const lv = d.op === '+' || d.op === '-' ? 1 : 2;
      const s = `${dim(d.left, lv)} ${d.op} ${dim(d.right, lv + 1)}`;
      return lv < min ? `(${s})` : s;
    }
    case 'index':
      return `${d.name}[${dim(d.index)}]`;
    case 'reduce':
      return `${d.fn}(${dim(d.body)} ${dimGen(d.gen)})`;
    case 'each':
      return `${dim(d.body)} ${dimGen(d.gen)}`;
  }
}

function dimGen(g: A.DimGen): string {
  return `for ${g.index.name} in ${dim(g.lo)}..${dim(g.hi)}`;
}

export function type(t: A.TypeAst): string {
  if (t.each) return `[${type(t.each.elem)} ${dimGen(t.each.gen)}]`;
  const name = t.static ? `static ${t.name.name}` : t.name.name;
  return t.dims ? `${name}[${t.dims.map((d) => dim(d)).join(', ')}]` : name;
}

/** An element of a comma-separated list: a declarative node's own comma lists (constraints,
 *  equations, grad targets) would swallow the next element, so it is parenthesized. */
function item(e: A.Expr): string {
  return level(e) === 0 ? `(${expr(e)})` : expr(e);
}

function args(as: A.Arg[]): string {
  return as.map((a) => (a.name ? `${a.name.name}: ${item(a.value)}` : item(a.value))).join(', ');
}

function binding(b: A.LetBinding): string {
  const pat = b.tuple || b.names.length > 1 ? `(${b.names.map((n) => n.name).join(', ')})` : b.names[0]!.name;
  return `${pat} = ${item(b.value)}`;
}

function clauses(c: A.DeclClauses): string {
  const out: string[] = [];
  if (c.constraints.length) out.push(`subject to ${c.constraints.map((x) => p(x, 1)).join(', ')}`);
  if (c.init) out.push(`init ${p(c.init, 1)}`);
  if (c.by) out.push(`by ${p(c.by.call, 1)}`);
  if (c.orient) out.push(`orient ${p(c.orient, 1)}`);
  if (c.grad) out.push(gradClause(c.grad));
  return out.map((x) => ' ' + x).join('');
}

function gradClause(g: A.GradRule): string {
  return `grad (${g.cotangents.map((x) => x.name).join(', ')}) => ${g.targets.map((t) => `${t.target.name}: ${p(t.value, 1)}`).join(', ')}`;
}

export function expr(e: A.Expr): string {
  switch (e.kind) {
    case 'num':
      return e.text;
    case 'bool':
      return String(e.value);
    case 'string':
      return `"${e.value}"`;
    case 'name':
      return e.name;
    case 'call':
      return `${e.callee.name}(${args(e.args)})`;
    case 'unary':
      return `${e.op}${p(e.operand, 6)}`;
    case 'binary': {
      const lv = binLevel[e.op];
      if (lv === 7) return `${p(e.left, 8)}${e.op}${p(e.right, 6)}`;
      if (lv === 3) return `${p(e.left, 4)} ${e.op} ${p(e.right, 4)}`;
      // A left-associative chain (a + b - c …) is printed by a loop down its left spine: a chain
      // of thousands of terms nests no deeper than one of two.
      const spine: Extract<A.Expr, { kind: 'binary' }>[] = [];
      let cur: A.Expr = e;
      while (cur.kind === 'binary' && binLevel[cur.op] === lv) {
        spine.push(cur);
        cur = cur.left;
      }
      let s = p(cur, lv);
      for (let i = spine.length - 1; i >= 0; i--) s = `${s} ${spine[i]!.op} ${p(spine[i]!.right, lv + 1)}`;
      return s;
    }
    case 'transpose': {
      // A''' … by a loop: the checker reads chains of any length
      const quotes: string[] = [];
      let cur: A.Expr = e;
      while (cur.kind === 'transpose') {
        quotes.push(cur.plain ? ".'" : "'");
        cur = cur.operand;
      }
      return `${p(cur, 8)}${quotes.reverse().join('')}`;
    }
    case 'index':
      return `${p(e.target, 8)}[${e.indices
        .map((i) => (i.kind === 'all' ? ':' : i.kind === 'at' ? p(i.index, 4) : `${p(i.lo, 4)}:${p(i.hi, 4)}`))
        .join(', ')}]`;
    case 'tuple':
      return `(${e.elems.map(item).join(', ')})`;
    case 'matrix':
      return `[${e.rows.map((r) => r.map(item).join(', ')).join('; ')}]`;
    case 'let':
      return `let ${e.bindings.map(binding).join(', ')} in ${expr(e.body)}`;
    case 'if':
      return `if ${expr(e.cond)} then ${expr(e.then)} else ${expr(e.else)}`;
    case 'argopt':
      return `arg${e.sense} ${e.vars.map((v) => `${v.name.name}: ${type(v.type)}`).join(', ')} of ${p(e.objective, 1)}${clauses(e.clauses)}`;
    case 'solve':
      return `solve ${e.vars.map((v) => `${v.name.name}: ${type(v.type)}`).join(', ')} such that ${e.equations.map((q) => p(q, 1)).join(', ')}${clauses(e.clauses)}`;
    case 'comprehension': {
      const gen = `${item(e.elem)} for ${e.index.name} in ${p(e.lo, 4)}..${p(e.hi, 4)}`;
      return e.bare ? gen : `[${gen}]`;
    }
    case 'iterate':
    case 'unroll': {
      const carries = e.carries.map((c) => `${c.name.name}${c.type ? `: ${type(c.type)}` : ''} = ${item(c.init)}`).join(', ');
      return `${e.kind} (${carries}) for ${e.index.name} in ${e.reverse ? 'reverse ' : ''}${p(e.lo, 4)}..${p(e.hi, 4)} => ${iterBody(e.body, e.until)}`;
    }
    case 'member':
      return `${p(e.target, 8)}.${e.name.name}${e.args ? `(${args(e.args)})` : ''}`;
    case 'error':
      return '<error>';
  }
}

function iterBody(body: A.Expr, until: A.Expr | null): string {
  if (body.kind === 'let') return `let ${body.bindings.map(binding).join(', ')} in ${iterBody(body.body, until)}`;
  // An `if` tail ends in its else branch, which may itself end in a loop body that would take
  // this loop's `until`: parenthesize it when an until follows.
  // A loop or declarative node is a body of its own when no until follows (it takes none).
  const bare = !until && (body.kind === 'if' || body.kind === 'iterate' || body.kind === 'argopt' || body.kind === 'solve');
  const tail = bare ? expr(body) : p(body, 1);
  return until ? `${tail} until ${p(until, 1)}` : tail;
}

function param(x: A.Param): string {
  return `${x.name.name}${x.type ? `: ${type(x.type)}` : ''}${x.default ? ` = ${p(x.default, 1)}` : ''}`;
}

export function printItem(it: A.Item): string {
  switch (it.kind) {
    case 'import':
      return it.names ? `import { ${it.names.map((n) => n.name).join(', ')} } from "${it.path}"` : `import "${it.path}"`;
    case 'fn':
    case 'layer': {
      const res = it.results.map((r) => (r.name ? `${r.name.name}: ${type(r.type)}` : type(r.type))).join(', ');
      const where = it.where.length ? ` where ${it.where.map((w) => `${w.name.name} = ${dim(w.value)}`).join(', ')}` : '';
      // a body ending in a declarative node would take the function's grad clause as its own
      const body = it.grad ? item(it.body) : expr(it.body);
      return `${it.kind} ${it.name.name}(${it.params.map(param).join(', ')}) -> ${it.tupleResults ? `(${res})` : res}${where} =\n  ${body}${it.grad ? `\n  ${gradClause(it.grad)}` : ''}`;
    }
    case 'optimizer': {
      const hyper = it.hyper.length ? `; ${it.hyper.map(param).join(', ')}` : '';
      const where = it.where.length ? ` where ${it.where.map((w) => `${w.name.name} = ${dim(w.value)}`).join(', ')}` : '';
      const state = it.body.state.length ? `\n  state ${it.body.state.map((s) => `${s.name.name}: ${type(s.type)} = ${p(s.init, 1)}`).join(', ')}` : '';
      const lets = it.body.lets.length ? `\n  let ${it.body.lets.map(binding).join(', ')} in` : '';
      const ups = it.body.updates.map((u) => `${u.target.name} <- ${item(u.value)}`).join(', ');
      return `optimizer ${it.name.name}(${it.params.map(param).join(', ')}${hyper})${where} =${state}${lets}\n  ${ups}`;
    }
    case 'structure': {
      const members = it.members.map((m) => `  ${printItem(m).split('\n').join('\n  ')}`);
      return `structure ${it.name.name}(${it.params.map(param).join(', ')}) {\n  storage: ${type(it.storage)}\n${members.join('\n')}\n}`;
    }
    case 'instance':
      return `${it.of} ${it.name.name} = ${it.template.name}[${it.bindings.map((b) => `${b.param.name} = ${b.value.name}`).join(', ')}]`;
  }
}

export function printProgram(p: A.Program): string {
  return p.items.map(printItem).join('\n\n') + '\n';
}
