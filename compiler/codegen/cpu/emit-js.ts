// The JavaScript form of a loop program (loop-ir.ts): the body of
//
//   function (H, D, IN, INS, OUT, ST, W, base, count)
//     H    routines (runtime/cpu/helpers.ts): products over strided operands, LU, triangular solves
//     D    the dimensions the program lists, evaluated by the host
//     IN   one array per parameter (batch-major); INS[i] its per-instance stride (0 = shared)
//     OUT  one array per result (batch-major); ST one array per status entry, 3 values per
//          instance (iterations, converged, residual)
//     W    workspace buffers, reused by every instance the call runs
//
// run for instances base … base+count−1. Buffers are typed arrays (Float64Array, or Float32Array
// for f32 storage); workspace bindings are `let` locals so that loop carries can swap them.

import { tickBudget } from '../../ir/budget.js';
import { type Arg, type Buf, type Expr, type LoopProgram, type Stmt, declaredNames, mentionsVars, readsVars } from './loop-ir.js';

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  const s = String(v);
  return v < 0 ? `(${s})` : s;
}

const bufName = (b: Buf): string => (b.k === 'w' ? `w${b.id}` : b.k === 'in' ? `IN${b.i}` : b.k === 'out' ? `OUT${b.i}` : b.k === 'st' ? `ST${b.i}` : 'MEM');

/** A positive constant divisor: the quotient and remainder need no guard. (A dimension may be 0
 *  — an int parameter — so it takes the guarded helpers too.) */
function positiveDivisor(e: Expr): boolean {
  return e.k === 'i' && e.v > 0;
}

function expr(e: Expr): string {
  switch (e.k) {
    case 'f':
      return num(e.v);
    case 'i':
      return e.v < 0 ? `(${e.v})` : `${e.v}`;
    case 'var':
      return e.name;
    case 'dim':
      return `d${e.i}`;
    case 'load':
      return `${bufName(e.buf)}[${expr(e.at)}]`;
    case 'fun': {
      const a = expr(e.a);
      switch (e.op) {
        case 'neg': return `(-${a})`;
        case 'abs': return `Math.abs(${a})`;
        case 'sqrt': return `Math.sqrt(${a})`;
        case 'exp': return `Math.exp(${a})`;
        case 'log': return `Math.log(${a})`;
        case 'sin': return `Math.sin(${a})`;
        case 'cos': return `Math.cos(${a})`;
        case 'tanh': return `Math.tanh(${a})`;
        case 'sigm': return `sigm(${a})`;
        case 'sgn': return `sgn(${a})`;
        case 'rf16': return `rf16(${a})`;
        case 'rbf16': return `rbf16(${a})`;
      }
      break;
    }
    case 'fbin': {
      const a = expr(e.a);
      const b = expr(e.b);
      switch (e.op) {
        case 'add': return `(${a} + ${b})`;
        case 'sub': return `(${a} - ${b})`;
        case 'mul': return `(${a} * ${b})`;
        case 'div': return `(${a} / ${b})`;
        case 'pow': return `Math.pow(${a}, ${b})`;
        case 'atan2': return `Math.atan2(${a}, ${b})`;
        case 'hypot': return `Math.hypot(${a}, ${b})`;
        case 'max': return `Math.max(${a}, ${b})`;
        case 'min': return `Math.min(${a}, ${b})`;
      }
      break;
    }
    case 'ibin': {
      const a = expr(e.a);
      const b = expr(e.b);
      switch (e.op) {
        // i32 semantics (core/intops.ts): sums and products wrap; floor division and the
        // floored remainder, with div(a, 0) = 0 and mod(a, 0) = a — inline where the divisor is a
        // positive constant, H.idiv / H.imod otherwise
        case 'add': return `((${a} + ${b}) | 0)`;
        case 'sub': return `((${a} - ${b}) | 0)`;
        case 'mul': return `Math.imul(${a}, ${b})`;
        case 'min': return `Math.min(${a}, ${b})`;
        case 'max': return `Math.max(${a}, ${b})`;
        case 'div': return positiveDivisor(e.b) ? `Math.floor(${a} / ${b})` : `H.idiv(${a}, ${b})`;
        case 'mod': return positiveDivisor(e.b) ? `(((${a} % ${b}) + ${b}) % ${b})` : `H.imod(${a}, ${b})`;
      }
      break;
    }
    case 'cmp': {
      const op = { lt: '<', le: '<=', gt: '>', ge: '>=', eq: '===', ne: '!==' }[e.op];
      return `(${expr(e.a)} ${op} ${expr(e.b)})`;
    }
    case 'and':
      return `(${expr(e.a)} && ${expr(e.b)})`;
    case 'or':
      return `(${expr(e.a)} || ${expr(e.b)})`;
    case 'not':
      return `(!${expr(e.a)})`;
    case 'sel':
      return `(${expr(e.c)} ? ${expr(e.a)} : ${expr(e.b)})`;
    case 'itof':
      return expr(e.a);
    case 'ftoi':
      return `H.ftoi(${expr(e.a)})`;
    case 'call':
      return `H.${e.fn}(${e.args.map(arg).join(', ')})`;
    case 'rand':
      // `eps` is the precision's (D[last]): an f32-storage program takes rand's f32 form
      return `H.rand(${e.normal ? 1 : 0}, ${expr(e.key)}, ${expr(e.stream)}, ${expr(e.e)}, eps)`;
  }
  throw new Error(`emit-js: ${(e as Expr).k}`);
}

function arg(a: Arg): string {
  return a.k === 'val' ? expr(a.e) : `${bufName(a.buf)}, ${expr(a.at)}`;
}

function stmts(body: readonly Stmt[], ind: string, out: string[]): void {
  for (const s of body) {
    tickBudget();
    switch (s.k) {
      case 'decl':
        out.push(`${ind}let ${s.name} = ${expr(s.init)};`);
        break;
      case 'assign':
        out.push(`${ind}${s.name} = ${expr(s.value)};`);
        break;
      case 'store':
        out.push(`${ind}${bufName(s.buf)}[${expr(s.at)}] = ${expr(s.value)};`);
        break;
      case 'for':
        out.push(`${ind}for (let ${s.v} = ${expr(s.lo)}; ${s.v} < ${expr(s.hi)}; ${s.v}++) {`);
        stmts(s.body, ind + '  ', out);
        out.push(`${ind}}`);
        break;
      case 'if':
        out.push(`${ind}if (${expr(s.c)}) {`);
        stmts(s.then, ind + '  ', out);
        if (s.else.length) {
          out.push(`${ind}} else {`);
          stmts(s.else, ind + '  ', out);
        }
        out.push(`${ind}}`);
        break;
      case 'break':
        out.push(`${ind}break;`);
        break;
      case 'call':
        out.push(`${ind}H.${s.fn}(${s.args.map(arg).join(', ')});`);
        break;
      case 'swap': {
        out.push(`${ind}{ const t = w${s.a}; w${s.a} = w${s.b}; w${s.b} = t; }`);
        break;
      }
      case 'copy': {
        const src = expr(s.srcAt);
        out.push(`${ind}${bufName(s.dst)}.set(${bufName(s.src)}.subarray(${src}, ${src === '0' ? '' : `${src} + `}${expr(s.n)}), ${expr(s.dstAt)});`);
        break;
      }
      case 'check': {
        const i = expr(s.i);
        const n = expr(s.n);
        out.push(`${ind}if (!(${i} >= 0 && ${i} < ${n})) H.oob(${JSON.stringify(s.what)}, ${i}, ${n});`);
        break;
      }
      default:
        s satisfies never;
    }
  }
}

// ---- programs split into functions ---------------------------------------------------------------
//
// Engines optimize a function as a whole, and one of megabytes stays unoptimized (or takes
// seconds and gigabytes to optimize: issue 11, 12). A large program is therefore printed as
// functions of about `chunk` characters each, all declared once in the body and called in order:
// every variable is declared at the top (its `let` hoisted; the lowering names each variable once),
// so the functions read and write them through their closure, except that a variable only one
// function mentions is its own local. A run of statements is moved into a function unless it
// contains a `break` of a loop outside it.

/** A run of statements whose `break`s leave loops inside it only. */
function breakFree(body: readonly Stmt[]): boolean {
  return body.every((s) => (s.k === 'break' ? false : s.k === 'if' ? breakFree(s.then) && breakFree(s.else) : true));
}

interface Chunk {
  name: string;
  lines: string[];
  /** the variables its own statements mention (not those of the functions it calls) */
  vars: Set<string>;
}

class Chunker {
  readonly chunks: Chunk[] = [];
  /** the variables the statements left in the main body mention */
  readonly main = new Set<string>();
  constructor(private readonly chunk: number) {}

  /** The statements with declarations as assignments (names hoisted), runs of about `chunk`
   *  characters moved into functions; `vars` collects the variables of the statements printed
   *  here. */
  list(body: readonly Stmt[], ind: string, out: string[], vars: Set<string>): void {
    let run: Stmt[] = [];
    let runChars = 0;
    const flush = () => {
      if (!run.length) return;
      if (runChars < this.chunk / 8 || !breakFree(run)) {
        for (const s of run) this.one(s, ind, out, vars);
      } else {
        // (`$` keeps the names apart from the lowering's variables, letters and digits)
        const c: Chunk = { name: `part$${this.chunks.length}`, lines: [], vars: new Set() };
        this.chunks.push(c);
        for (const s of run) this.one(s, '  ', c.lines, c.vars);
        out.push(`${ind}${c.name}();`);
      }
      run = [];
      runChars = 0;
    };
    for (const s of body) {
      const size = printedSize(s);
      if (size > this.chunk && (s.k === 'for' || s.k === 'if')) {
        flush();
        this.one(s, ind, out, vars);
        continue;
      }
      if (runChars + size > this.chunk) flush();
      run.push(s);
      runChars += size;
    }
    flush();
  }

  private one(s: Stmt, ind: string, out: string[], vars: Set<string>): void {
    switch (s.k) {
      case 'decl':
        mentionsVars(s, vars);
        out.push(`${ind}${s.name} = ${expr(s.init)};`);
        return;
      case 'for':
        vars.add(s.v);
        readsVars(s.lo, vars);
        readsVars(s.hi, vars);
        out.push(`${ind}for (${s.v} = ${expr(s.lo)}; ${s.v} < ${expr(s.hi)}; ${s.v}++) {`);
        this.list(s.body, ind + '  ', out, vars);
        out.push(`${ind}}`);
        return;
      case 'if':
        readsVars(s.c, vars);
        out.push(`${ind}if (${expr(s.c)}) {`);
        this.list(s.then, ind + '  ', out, vars);
        if (s.else.length) {
          out.push(`${ind}} else {`);
          this.list(s.else, ind + '  ', out, vars);
        }
        out.push(`${ind}}`);
        return;
      default:
        mentionsVars(s, vars);
        stmts([s], ind, out);
    }
  }
}

const sizes = new WeakMap<Stmt, number>();

/** Characters of a statement as printed (nested statements included). */
function printedSize(s: Stmt): number {
  let n = sizes.get(s);
  if (n === undefined) {
    if (s.k === 'for') n = 40 + s.body.reduce((a, x) => a + printedSize(x), 0);
    else if (s.k === 'if') n = 40 + [...s.then, ...s.else].reduce((a, x) => a + printedSize(x), 0);
    else {
      const o: string[] = [];
      stmts([s], '', o);
      n = o.reduce((a, l) => a + l.length + 1, 0);
    }
    sizes.set(s, n);
  }
  return n;
}

function emitChunked(p: LoopProgram, chunk: number): string {
  const names: string[] = [];
  declaredNames(p.body, names);
  if (new Set(names).size !== names.length) throw new Error('emit-js: a variable declared twice cannot be hoisted');
  const c = new Chunker(chunk);
  const body: string[] = [];
  c.list(p.body, '  ', body, c.main);
  // a variable that only one function mentions is its own local (kept in registers when the
  // function is optimized); the others are shared through the closure
  const owners = new Map<string, number>();
  for (const ch of c.chunks) for (const v of ch.vars) owners.set(v, (owners.get(v) ?? 0) + 1);
  const local = (v: string, ch: Chunk) => ch.vars.has(v) && owners.get(v) === 1 && !c.main.has(v);
  const ios = Array.from({ length: p.params }, (_, i) => `io${i}`);
  const declared = new Set(names);
  const shared = ['inst', ...ios, ...names.filter((v) => !c.chunks.some((ch) => local(v, ch)))];
  const letLines = (vs: string[], ind: string) => {
    const out: string[] = [];
    for (let i = 0; i < vs.length; i += 16) out.push(`${ind}let ${vs.slice(i, i + 16).join(', ')};`);
    return out;
  };
  const funcs = c.chunks.map((ch) => [`function ${ch.name}() {`, ...letLines([...ch.vars].filter((v) => declared.has(v) && local(v, ch)), '  '), ...ch.lines, '}'].join('\n'));
  return [
    ...header(p),
    ...letLines(shared, ''),
    ...funcs,
    'for (inst = base; inst < base + count; inst++) {',
    ...ios.map((v, i) => `  ${v} = inst * IS${i};`),
    ...body,
    '}',
  ].join('\n');
}

/** The declarations before the instance loop: helpers, dimensions, eps, buffers. */
function header(p: LoopProgram): string[] {
  return [
    '"use strict";',
    'const sgn = H.sgn, sigm = H.sigm, rf16 = H.rf16, rbf16 = H.rbf16;',
    ...p.dims.map((_, i) => `const d${i} = D[${i}];`),
    // the machine epsilon of the storage precision, after the dimensions
    `const eps = D[${p.dims.length}];`,
    ...Array.from({ length: p.params }, (_, i) => `const IN${i} = IN[${i}], IS${i} = INS[${i}];`),
    ...p.results.map((_, i) => `const OUT${i} = OUT[${i}];`),
    ...Array.from({ length: p.status }, (_, i) => `const ST${i} = ST[${i}];`),
    ...p.buffers.map((_, i) => `let w${i} = W[${i}];`),
  ];
}

/** The JavaScript body of a loop program; `chunk` (characters) splits it into functions of about
 *  that size (see above). */
export function emitJs(p: LoopProgram, chunk?: number): string {
  // the split form runs the prologue with every instance (its names are shared by the functions)
  if (chunk !== undefined) return emitChunked({ ...p, prologue: [], body: [...p.prologue, ...p.body] }, chunk);
  const out = [...header(p)];
  // what every instance would compute alike, once (splitInstanceInvariant)
  stmts(p.prologue, '', out);
  out.push(
    'for (let inst = base; inst < base + count; inst++) {',
    ...Array.from({ length: p.params }, (_, i) => `  const io${i} = inst * IS${i};`),
  );
  stmts(p.body, '  ', out);
  out.push('}');
  return out.join('\n');
}
