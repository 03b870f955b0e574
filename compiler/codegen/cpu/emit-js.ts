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

import type { Arg, Buf, Expr, LoopProgram, Stmt } from './loop-ir.js';

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

/** The JavaScript body of a loop program. */
export function emitJs(p: LoopProgram): string {
  const out = [
    '"use strict";',
    'const sgn = H.sgn, sigm = H.sigm, rf16 = H.rf16, rbf16 = H.rbf16;',
    ...p.dims.map((_, i) => `const d${i} = D[${i}];`),
    // the machine epsilon of the storage precision, after the dimensions
    `const eps = D[${p.dims.length}];`,
    ...Array.from({ length: p.params }, (_, i) => `const IN${i} = IN[${i}], IS${i} = INS[${i}];`),
    ...p.results.map((_, i) => `const OUT${i} = OUT[${i}];`),
    ...Array.from({ length: p.status }, (_, i) => `const ST${i} = ST[${i}];`),
    ...p.buffers.map((_, i) => `let w${i} = W[${i}];`),
    'for (let inst = base; inst < base + count; inst++) {',
    ...Array.from({ length: p.params }, (_, i) => `  const io${i} = inst * IS${i};`),
  ];
  stmts(p.body, '  ', out);
  out.push('}');
  return out.join('\n');
}
