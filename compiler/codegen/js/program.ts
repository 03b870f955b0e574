// The CPU code generator: an optimized IR function becomes the body of one JavaScript function
// that runs a range of batch instances over typed arrays (core/executable.ts CpuProgramData),
// compiled once by the runtime (runtime/cpu/program.ts) and called per call or per thread.
//
//   function (H, D, IN, INS, OUT, ST, W, base, count)
//     H    routines (runtime/cpu/helpers.ts): products over strided operands, LU, triangular solves
//     D    the dimensions listed in `dims`, evaluated by the host
//     IN   one array per parameter (batch-major); INS[i] its per-instance stride (0 = shared)
//     OUT  one array per result (batch-major); ST one array per status entry, 3 values per instance
//          (iterations, converged, residual)
//     W    workspace buffers, sized by `buffers`, reused by every instance the call runs
//
// The model is the instance kernel's (compiler/codegen/wgsl/instance.ts) on one thread: integers
// and real scalars are JS locals; a tensor is either an element expression fused into its
// consumers (a "view") or materialized into a workspace buffer by a loop nest or a routine —
// contractions, axis reductions, shared or heavy views, values a loop reads from outside, loop
// carries. Nothing is allocated per instance and no closure runs per element. Loop carries are
// buffers whose references are swapped when an iteration's new value was computed into a buffer
// of its own, and updated in place when the new value is a column/row/entry update of the carry
// or an elementwise function of the carry at the same element (R ← R − 2 v wᵀ).
//
// Index operations whose bounds the checker could not prove are checked where they run (H.oob:
// MATR107), never read out of range.

import { Dim } from '../../../core/dims.js';
import type { CpuProgramData } from '../../../core/executable.js';
import { InternalError } from '../../../core/errors.js';
import { type Func, type Node, type Region, freeParams, reachable, scopes, type Scopes } from '../../ir/node.js';
import { parseEinsum } from '../../ir/ops.js';
import { type TensorType, numel } from '../../ir/types.js';
import { jsClass, jsElementwise, jsIntOp, jsNum } from './ops.js';

type Storage =
  | { k: 'buf'; v: string; owner: Node }
  | { k: 'input'; index: number }
  | { k: 'scalar'; v: string }
  | { k: 'int'; v: string }
  | { k: 'view' }
  | { k: 'tuple'; parts: Storage[] };

/** A strided operand: element [i, j] of a matrix is arr[off + i·rs + j·cs]; a vector uses rs. */
interface Addr {
  arr: string;
  off: string;
  rs: string;
  cs: string;
}

const isTensor = (n: Node): boolean => n.type.kind === 'tensor' && n.type.shape.length > 0;
const isScalar = (n: Node): boolean => n.type.kind === 'tensor' && n.type.shape.length === 0 && n.type.dtype === 'f';
const isInt = (n: Node): boolean => n.type.kind === 'tensor' && n.type.dtype === 'i';
const shape = (n: Node): readonly Dim[] => (n.type as TensorType).shape;

export function genCpuProgram(f: Func): CpuProgramData {
  return new JsGen(f).run();
}

class JsGen {
  private out: string[] = [];
  private ind = '    ';
  private dimIdx = new Map<string, number>();
  private dimList: Dim[] = [];
  private buffers: Dim[] = [];
  private store = new Map<Node, Storage>();
  private uses = new Map<Node, number>();
  private mat = new Set<Node>();
  private sc!: Scopes;
  private roots: Node[] = [];
  private counter = 0;

  constructor(private f: Func) {}

  // ---- text ---------------------------------------------------------------------------------------

  private fresh(p: string): string {
    const name = `${p}${this.counter++}`;
    this.inner?.decls.add(name);
    return name;
  }

  /** While the innermost loop of a nest is being written: names declared inside it (its index,
   *  the running flat index, accumulators) and the invariants hoisted in front of it. */
  private inner: { decls: Set<string>; hoisted: string[] } | null = null;

  /** Loop-invariant code motion inside loop nests: an element expression that reads nothing the
   *  innermost loop declares is computed once per iteration of the loop around it. */
  private hoist(expr: string): string {
    const h = this.inner;
    if (!h || /^[A-Za-z_$][\w$]*$|^[-+(]?[\d.]/.test(expr)) return expr;
    for (const id of expr.match(/[A-Za-z_$][\w$]*/g) ?? []) if (h.decls.has(id)) return expr;
    const name = `h${this.counter++}`;
    h.hoisted.push(`const ${name} = ${expr};`);
    return name;
  }

  private line(s: string): void {
    this.out.push(this.ind + s);
  }

  private block(head: string, body: () => void): void {
    this.line(`${head} {`);
    const prev = this.ind;
    this.ind += '  ';
    body();
    this.ind = prev;
    this.line('}');
  }

  /** JS expression of a dimension: a literal, or a local read from D. */
  private dim(d: Dim): string {
    const c = d.constValue();
    if (c !== undefined && Number.isInteger(c)) return `${c}`;
    let i = this.dimIdx.get(d.key);
    if (i === undefined) {
      i = this.dimList.length;
      this.dimIdx.set(d.key, i);
      this.dimList.push(d);
    }
    return `d${i}`;
  }

  private newBuffer(size: Dim): string {
    this.buffers.push(size);
    return `w${this.buffers.length - 1}`;
  }

  // ---- indices ------------------------------------------------------------------------------------

  private flat(ix: readonly string[], sh: readonly Dim[]): string {
    if (sh.length === 0) return '0';
    let s = ix[0]!;
    for (let k = 1; k < sh.length; k++) s = `(${s}) * ${this.dim(sh[k]!)} + ${ix[k]}`;
    return s;
  }

  private unflat(e: string, sh: readonly Dim[]): string[] {
    if (sh.length === 0) return [];
    if (sh.length === 1) return [e];
    const out: string[] = [];
    let stride = '';
    for (let k = sh.length - 1; k >= 0; k--) {
      const d = this.dim(sh[k]!);
      const q = stride ? `Math.floor(${e} / (${stride}))` : e;
      out.unshift(k === 0 ? q : `(${q} % ${d})`);
      stride = stride ? `${stride} * ${d}` : d;
    }
    return out;
  }

  /** Emits a loop nest over a shape; `body` gets the indices and the row-major flat index.
   *  Invariants of the innermost loop are hoisted in front of it (`hoist`). */
  private loopNest(sh: readonly Dim[], body: (ix: string[], flat: string) => void): void {
    const rank = sh.length;
    const e = rank > 1 ? this.fresh('e') : '';
    if (rank > 1) this.line(`let ${e} = 0;`);
    const ix: string[] = [];
    const nest = (k: number): void => {
      const i = this.fresh('i');
      ix.push(i);
      const head = `for (let ${i} = 0; ${i} < ${this.dim(sh[k]!)}; ${i}++)`;
      if (k < rank - 1) {
        this.block(head, () => nest(k + 1));
        return;
      }
      // the innermost loop, written aside so that its invariants can go in front of it
      const outer = this.inner;
      const mark = this.out.length;
      this.inner = { decls: new Set([i, ...(e ? [e] : [])]), hoisted: [] };
      this.block(head, () => {
        body(ix, rank > 1 ? e : i);
        if (rank > 1) this.line(`${e}++;`);
      });
      const hoisted = this.inner.hoisted;
      this.inner = outer;
      if (hoisted.length && rank > 1) this.out.splice(mark, 0, ...hoisted.map((l) => this.ind + l));
      else if (hoisted.length) {
        // a 1-D nest has no loop around it: its invariants are computed before it
        this.out.splice(mark, 0, ...hoisted.map((l) => this.ind + l));
      }
      if (outer) for (const d of this.inner?.decls ?? []) outer.decls.add(d);
    };
    nest(0);
  }

  // ---- element expressions --------------------------------------------------------------------------

  /** JS expression of element `ix` of n (scalars ignore ix). `flat`, when given, is the row-major
   *  flat index of ix in n's shape, used for contiguous reads of the same shape. */
  private elem(n: Node, ix: readonly string[], flat?: string): string {
    const st = this.store.get(n);
    if (st) {
      switch (st.k) {
        case 'buf':
          return `${st.v}[${flat ?? this.flat(ix, shape(n))}]`;
        case 'input':
          return shape(n).length === 0 ? `IN${st.index}[io${st.index}]` : `IN${st.index}[io${st.index} + ${flat ?? this.flat(ix, shape(n))}]`;
        case 'scalar':
        case 'int':
          return st.v;
        case 'tuple':
          throw new InternalError(`CPU codegen: tuple %${n.id} used as a value`);
        case 'view':
          break;
      }
    }
    const a = n.args;
    const at = (x: Node, i: readonly string[], fl?: string) => this.elem(x, i, fl);
    const [i, j] = ix;
    switch (n.op) {
      case 'const':
      case 'fill':
        return jsNum(n.attrs.value as number);
      case 'eye':
        return `(${i} === ${j} ? 1 : 0)`;
      case 'iota':
        return `${i}`;
      case 'itof':
        return this.int(a[0]!);
      case 'transpose':
        return at(a[0]!, [j!, i!]);
      case 'reshape':
        return at(a[0]!, this.unflat(flat ?? this.flat(ix, shape(n)), shape(a[0]!)), flat ?? this.flat(ix, shape(n)));
      case 'slice': {
        const start = n.attrs.start as Dim[];
        return at(a[0]!, ix.map((x, k) => (start[k]!.constValue() === 0 ? x : `(${x} + ${this.dim(start[k]!)})`)));
      }
      case 'pad': {
        const start = n.attrs.start as Dim[];
        const inner = shape(a[0]!);
        const conds = ix.map((x, k) => `${x} >= ${this.dim(start[k]!)} && ${x} < ${this.dim(start[k]!)} + ${this.dim(inner[k]!)}`).join(' && ');
        const src = ix.map((x, k) => `(${x} - ${this.dim(start[k]!)})`);
        return `(${conds || 'true'} ? ${at(a[0]!, src)} : 0)`;
      }
      case 'tril':
        return `(${j} - ${i} <= ${n.attrs.k as number} ? ${at(a[0]!, ix, flat)} : 0)`;
      case 'triu':
        return `(${j} - ${i} >= ${n.attrs.k as number} ? ${at(a[0]!, ix, flat)} : 0)`;
      case 'diag':
        return `(${i} === ${j} ? ${at(a[0]!, [i!])} : 0)`;
      case 'diagvec':
        return at(a[0]!, [i!, i!]);
      case 'outer':
        return `(${this.hoist(at(a[0]!, [i!]))} * ${at(a[1]!, [j!])})`;
      case 'getcol':
        return at(a[0]!, [i!, this.int(a[1]!)]);
      case 'getrow':
        return at(a[0]!, [this.int(a[1]!), i!]);
      case 'setcol':
        return `(${j} === ${this.int(a[1]!)} ? ${at(a[2]!, [i!])} : ${at(a[0]!, ix, flat)})`;
      case 'setrow':
        return `(${i} === ${this.int(a[1]!)} ? ${at(a[2]!, [j!])} : ${at(a[0]!, ix, flat)})`;
      case 'setindex': {
        const idx = a.slice(1, -1).map((x) => this.int(x));
        const cond = idx.map((x, k) => `${ix[k]} === ${x}`).join(' && ');
        return `(${cond} ? ${at(a[a.length - 1]!, [])} : ${at(a[0]!, ix, flat)})`;
      }
      case 'index':
        return at(a[0]!, a.slice(1).map((x) => this.int(x)));
      case 'nograd':
        return at(a[0]!, ix, flat);
      default:
        if (jsClass[n.op] === 'view') {
          const sh = shape(n);
          const args = a.map((x) => (shape(x).length === 0 ? this.elem(x, []) : this.elem(x, ix, sh.length > 0 ? flat : undefined)));
          return this.hoist(jsElementwise(n.op, args));
        }
        throw new InternalError(`CPU codegen: %${n.id} (${n.op}) has no value here (not materialized)`);
    }
  }

  private int(n: Node): string {
    const st = this.store.get(n);
    if (st?.k === 'int') return st.v;
    if (n.op === 'iconst') return `${n.attrs.value as number}`;
    if (n.op === 'dim') return this.dim(n.attrs.dim as Dim);
    throw new InternalError(`CPU codegen: int %${n.id} (${n.op}) is not available`);
  }

  /** The strided address of a tensor, when it is a buffer, an input or an index remapping of one. */
  private addr(n: Node): Addr | null {
    const st = this.store.get(n);
    const sh = shape(n);
    const rowMajor = (arr: string, off: string): Addr => (sh.length >= 2 ? { arr, off, rs: this.dim(sh[sh.length - 1]!), cs: '1' } : { arr, off, rs: '1', cs: '1' });
    if (st?.k === 'buf') return rowMajor(st.v, '0');
    if (st?.k === 'input') return rowMajor(`IN${st.index}`, `io${st.index}`);
    if (st && st.k !== 'view') return null;
    const a = n.args;
    switch (n.op) {
      case 'transpose': {
        const s = this.addr(a[0]!);
        return s && { arr: s.arr, off: s.off, rs: s.cs, cs: s.rs };
      }
      case 'nograd':
        return this.addr(a[0]!);
      case 'reshape': {
        // a reshape of a contiguous operand is the same memory
        const s = this.addr(a[0]!);
        const src = shape(a[0]!);
        const contiguous = s && s.cs === '1' && (src.length < 2 || s.rs === this.dim(src[src.length - 1]!));
        return contiguous ? rowMajor(s.arr, s.off) : null;
      }
      case 'slice': {
        const s = this.addr(a[0]!);
        if (!s) return null;
        const start = (n.attrs.start as Dim[]).map((d) => this.dim(d));
        const src = shape(a[0]!);
        const off = src.length === 1 ? `${s.off} + ${start[0]} * ${s.rs}` : src.length === 2 ? `${s.off} + ${start[0]} * ${s.rs} + ${start[1]} * ${s.cs}` : null;
        return off === null ? null : { arr: s.arr, off, rs: s.rs, cs: s.cs };
      }
      case 'getcol': {
        const s = this.addr(a[0]!);
        return s && { arr: s.arr, off: `${s.off} + ${this.int(a[1]!)} * ${s.cs}`, rs: s.rs, cs: s.rs };
      }
      case 'getrow': {
        const s = this.addr(a[0]!);
        return s && { arr: s.arr, off: `${s.off} + ${this.int(a[1]!)} * ${s.rs}`, rs: s.cs, cs: s.cs };
      }
      case 'diagvec': {
        const s = this.addr(a[0]!);
        return s && { arr: s.arr, off: s.off, rs: `(${s.rs} + ${s.cs})`, cs: '1' };
      }
      default:
        return null;
    }
  }

  /** Can this node be addressed without computing it (in the analysis, before storage exists)? */
  private addressable(n: Node): boolean {
    if (n.op === 'param') return true;
    if (this.mat.has(n) || jsClass[n.op] === 'contraction' || n.op === 'loop' || n.op === 'concat') return true;
    if (n.op === 'proj') return isTensor(n);
    switch (n.op) {
      case 'transpose':
      case 'nograd':
      case 'getcol':
      case 'getrow':
      case 'diagvec':
        return this.addressable(n.args[0]!);
      case 'reshape': {
        // only a contiguous operand: one with storage of its own, or a reshape of one
        const s = n.args[0]!;
        return s.op === 'param' || s.op === 'proj' || s.op === 'loop' || s.op === 'concat' || this.mat.has(s) || jsClass[s.op] === 'contraction' || (s.op === 'reshape' && this.addressable(s));
      }
      case 'slice':
        return shape(n).length <= 2 && this.addressable(n.args[0]!);
      default:
        return false;
    }
  }

  // ---- analysis -----------------------------------------------------------------------------------

  /** Tensors that need a buffer: contractions, shared or heavy views, values read in deeper
   *  regions than their own, operands of routines that cannot be addressed in place. */
  private analyze(): void {
    const all = reachable(this.roots);
    const carried = new Set<Node>();
    for (const n of all) {
      for (const a of n.args) this.uses.set(a, (this.uses.get(a) ?? 0) + 1);
      for (const r of n.regions)
        for (const x of r.results) {
          if (n.op === 'loop') carried.add(x);
          else this.uses.set(x, (this.uses.get(x) ?? 0) + 2);
        }
    }
    for (const r of this.roots) this.uses.set(r, (this.uses.get(r) ?? 0) + 1);
    const depth = (r: Region | null): number => {
      let d = 0;
      for (let x = r; x; x = this.sc.parent.get(x) ?? null) d++;
      return d;
    };
    const deepUse = new Set<Node>();
    for (const n of all) {
      const hn = depth(this.sc.home.get(n) ?? null);
      for (const a of n.args) if (depth(this.sc.home.get(a) ?? null) < hn) deepUse.add(a);
      for (const r of n.regions) for (const x of r.results) if (depth(this.sc.home.get(x) ?? null) < depth(r)) deepUse.add(x);
    }
    for (const n of all) {
      if (!isTensor(n) || n.op === 'param') continue;
      const cls = jsClass[n.op];
      if (cls === 'contraction' || cls === 'reduction' || (cls === 'special' && n.op !== 'proj')) {
        this.mat.add(n);
        continue;
      }
      if (cls === 'view' || cls === 'remap') {
        const heavy = cls === 'view' && n.op !== 'outer';
        const shared = (this.uses.get(n) ?? 0) > 1 || (deepUse.has(n) && !carried.has(n));
        if (heavy && shared) this.mat.add(n);
        if (n.op === 'fill' || n.op === 'eye' || n.op === 'iota') this.mat.delete(n);
      }
    }
    // operands of routines must be addressable (strided); views used by contractions are read many
    // times per output element, so they are computed once
    for (const n of all) {
      const strided = n.op === 'matmul' || n.op === 'matvec' ? n.args : n.op === 'trisolve' ? [n.args[0]!] : null;
      if (strided) {
        for (const a of strided) if (isTensor(a) && !this.addressable(a)) this.mat.add(a);
        continue;
      }
      if (jsClass[n.op] !== 'contraction') continue;
      for (const a of n.args) if (isTensor(a) && jsClass[a.op] === 'view' && a.op !== 'outer') this.mat.add(a);
    }
  }

  // ---- emission -----------------------------------------------------------------------------------

  private emitRegion(r: Region | null): void {
    for (const n of this.sc.body.get(r) ?? []) this.emitNode(n);
  }

  /** Writes every element of n into buffer v. */
  private materialize(n: Node, v: string, value: (ix: string[], flat: string) => string): void {
    this.loopNest(shape(n), (ix, flat) => this.line(`${v}[${flat}] = ${value(ix, flat)};`));
  }

  /** Range checks of the integer operands of index operations (once per evaluation). */
  private checkIndices(n: Node): void {
    const check = (what: string, i: Node, size: Dim) => {
      if (i.op === 'iconst') {
        const c = size.constValue();
        const v = i.attrs.value as number;
        if (c !== undefined && v >= 0 && v < c) return;
      }
      const x = this.int(i);
      const d = this.dim(size);
      this.line(`if (!(${x} >= 0 && ${x} < ${d})) H.oob(${JSON.stringify(what)}, ${x}, ${d});`);
    };
    const a = n.args;
    switch (n.op) {
      case 'index':
      case 'setindex': {
        const ints = n.op === 'index' ? a.slice(1) : a.slice(1, -1);
        ints.forEach((x, k) => check(n.op === 'index' ? 'an index' : 'set', x, shape(a[0]!)[k]!));
        break;
      }
      case 'getcol':
      case 'setcol':
        check(n.op === 'getcol' ? 'a column index' : 'setcol', a[1]!, shape(a[0]!)[1]!);
        break;
      case 'getrow':
      case 'setrow':
        check(n.op === 'getrow' ? 'a row index' : 'setrow', a[1]!, shape(a[0]!)[0]!);
        break;
      default:
    }
  }

  private emitNode(n: Node): void {
    if (this.store.has(n)) return;
    if (n.op === 'param') return;
    if (n.op === 'opt' || n.op === 'root') throw new InternalError('CPU codegen: declarative nodes must be expanded before code generation');
    this.checkIndices(n);
    if (n.op === 'proj') {
      const t = this.store.get(n.args[0]!);
      if (!t || t.k !== 'tuple') throw new InternalError(`CPU codegen: proj of %${n.args[0]!.id} before its tuple`);
      this.store.set(n, t.parts[n.attrs.index as number]!);
      return;
    }
    if (isInt(n)) return this.emitInt(n);
    if (n.op === 'nograd') {
      const s = this.store.get(n.args[0]!);
      if (s && s.k !== 'view') {
        this.store.set(n, s);
        return;
      }
    }
    if (n.op === 'loop') return this.emitLoop(n);
    if (n.op === 'solve') return this.emitSolve(n);
    if (n.op === 'trisolve') return this.emitTrisolve(n);
    if (isScalar(n)) return this.emitScalar(n);
    if (n.op === 'concat') return this.emitConcat(n);
    if (!this.mat.has(n)) {
      this.store.set(n, { k: 'view' });
      return;
    }
    const v = this.newBuffer(numel(n.type as TensorType));
    this.emitInto(n, v);
    this.store.set(n, { k: 'buf', v, owner: n });
  }

  /** Computes a tensor node into buffer v. */
  private emitInto(n: Node, v: string): void {
    const a = n.args;
    if (n.op === 'matmul') {
      const A = this.addr(a[0]!);
      const B = this.addr(a[1]!);
      if (!A || !B) throw new InternalError(`CPU codegen: operands of matmul %${n.id} are not addressable`);
      const [m, k] = shape(a[0]!).map((d) => this.dim(d));
      const nn = this.dim(shape(a[1]!)[1]!);
      this.line(`H.gemm(${m}, ${nn}, ${k}, ${A.arr}, ${A.off}, ${A.rs}, ${A.cs}, ${B.arr}, ${B.off}, ${B.rs}, ${B.cs}, ${v}, 0);`);
      return;
    }
    if (n.op === 'matvec') {
      const A = this.addr(a[0]!);
      const X = this.addr(a[1]!);
      if (!A || !X) throw new InternalError(`CPU codegen: operands of matvec %${n.id} are not addressable`);
      const [m, k] = shape(a[0]!).map((d) => this.dim(d));
      this.line(`H.gemv(${m}, ${k}, ${A.arr}, ${A.off}, ${A.rs}, ${A.cs}, ${X.arr}, ${X.off}, ${X.rs}, ${v}, 0);`);
      return;
    }
    const cls = jsClass[n.op];
    if (cls === 'contraction' || cls === 'reduction') {
      this.materialize(n, v, (ix) => this.contraction(n, ix));
      return;
    }
    this.materialize(n, v, (ix, flat) => this.elem(n, ix, flat));
  }

  private emitInt(n: Node): void {
    const name = this.fresh('n');
    const a = n.args;
    if (n.op === 'maxloc' || n.op === 'minloc') {
      // the first index of the largest (smallest) entry, as the reference
      const src = a[0]!;
      const bv = this.fresh('bv');
      const t = this.fresh('t');
      const cmp = n.op === 'maxloc' ? '>' : '<';
      this.line(`let ${name} = 0;`);
      this.line(`let ${bv} = ${this.elem(src, ['0'], '0')};`);
      this.block(`for (let ${t} = 1; ${t} < ${this.dim(shape(src)[0]!)}; ${t}++)`, () => {
        const x = this.fresh('x');
        this.line(`const ${x} = ${this.elem(src, [t], t)};`);
        this.line(`if (${x} ${cmp} ${bv}) { ${bv} = ${x}; ${name} = ${t}; }`);
      });
      this.store.set(n, { k: 'int', v: name });
      return;
    }
    const v = n.op === 'iconst' ? `${n.attrs.value as number}` : n.op === 'dim' ? this.dim(n.attrs.dim as Dim) : jsIntOp(n.op, this.int(a[0]!), this.int(a[1]!));
    this.line(`const ${name} = ${v};`);
    this.store.set(n, { k: 'int', v: name });
  }

  /** Element ix of a contraction or axis reduction, its inner loop emitted before the use. */
  private contraction(n: Node, ix: string[]): string {
    const acc = this.fresh('acc');
    const a = n.args;
    if (n.op === 'sum' || n.op === 'rmax' || n.op === 'rmin') {
      const axis = n.attrs.axis as number;
      const len = this.dim(shape(a[0]!)[axis]!);
      const t = this.fresh('t');
      const src = [...ix.slice(0, axis), t, ...ix.slice(axis)];
      const init = n.op === 'sum' ? '0' : n.op === 'rmax' ? '-Infinity' : 'Infinity';
      const x = this.elem(a[0]!, src);
      const upd = n.op === 'sum' ? `${acc} += ${x};` : `${acc} = Math.${n.op === 'rmax' ? 'max' : 'min'}(${acc}, ${x});`;
      this.line(`let ${acc} = ${init};`);
      this.line(`for (let ${t} = 0; ${t} < ${len}; ${t}++) ${upd}`);
      return acc;
    }
    if (n.op === 'einsum') {
      const { inputs, output } = parseEinsum(String(n.attrs.spec));
      const size = new Map<string, Dim>();
      inputs.forEach((s, k) => [...s].forEach((c, q) => size.set(c, shape(a[k]!)[q]!)));
      const summed = [...size.keys()].filter((c) => !output.includes(c));
      const vars = new Map<string, string>();
      [...output].forEach((c, k) => vars.set(c, ix[k]!));
      for (const c of summed) vars.set(c, this.fresh(`s${c}`));
      this.line(`let ${acc} = 0;`);
      const prod = inputs.map((s, k) => this.elem(a[k]!, [...s].map((c) => vars.get(c)!))).join(' * ') || '1';
      let body = `${acc} += ${prod};`;
      for (const c of [...summed].reverse()) {
        const v = vars.get(c)!;
        body = `for (let ${v} = 0; ${v} < ${this.dim(size.get(c)!)}; ${v}++) { ${body} }`;
      }
      this.line(body);
      return acc;
    }
    if (n.op === 'matvec' || n.op === 'matmul') {
      // a 1×1 product read as a scalar
      const K = this.dim(shape(a[0]!)[1]!);
      const p = this.fresh('p');
      const rhs = n.op === 'matmul' ? this.elem(a[1]!, [p, ix[1] ?? '0']) : this.elem(a[1]!, [p]);
      this.line(`let ${acc} = 0;`);
      this.line(`for (let ${p} = 0; ${p} < ${K}; ${p}++) ${acc} += ${this.elem(a[0]!, [ix[0] ?? '0', p])} * ${rhs};`);
      return acc;
    }
    throw new InternalError(`CPU codegen: ${n.op} is not a contraction`);
  }

  private emitScalar(n: Node): void {
    const name = this.fresh('s');
    const a = n.args;
    const xa = n.op === 'dot' ? this.addr(a[0]!) : null;
    const ya = n.op === 'dot' ? this.addr(a[1]!) : null;
    if (xa && ya) {
      // both operands in memory: the routine with four partial sums
      this.line(`const ${name} = H.dot(${this.dim(shape(a[0]!)[0]!)}, ${xa.arr}, ${xa.off}, ${xa.rs}, ${ya.arr}, ${ya.off}, ${ya.rs});`);
    } else if (n.op === 'dot' || (n.op === 'sum' && (n.attrs.axis as number) < 0) || n.op === 'rmax' || n.op === 'rmin') {
      const src = a[0]!;
      const kind = n.op === 'rmax' ? 'max' : n.op === 'rmin' ? 'min' : 'sum';
      const init = kind === 'sum' ? '0' : kind === 'max' ? '-Infinity' : 'Infinity';
      this.line(`let ${name} = ${init};`);
      if (shape(src).length === 0) this.line(`${name} = ${this.elem(src, [])};`);
      else
        this.loopNest(shape(src), (ix, flat) => {
          const v = n.op === 'dot' ? `${this.elem(a[0]!, ix, flat)} * ${this.elem(a[1]!, ix, flat)}` : this.elem(src, ix, flat);
          this.line(kind === 'sum' ? `${name} += ${v};` : `${name} = Math.${kind}(${name}, ${v});`);
        });
    } else if (n.op === 'sum' || n.op === 'matvec' || n.op === 'einsum' || n.op === 'matmul') {
      this.line(`const ${name} = ${this.contraction(n, [])};`);
    } else {
      this.line(`const ${name} = ${this.elem(n, [])};`);
    }
    this.store.set(n, { k: 'scalar', v: name });
  }

  private emitConcat(n: Node): void {
    const v = this.newBuffer(numel(n.type as TensorType));
    const axis = n.attrs.axis as number;
    let off = Dim.const(0);
    for (const part of n.args) {
      const o = off;
      this.loopNest(shape(part), (ix) => {
        const dst = ix.map((x, k) => (k === axis && o.constValue() !== 0 ? `(${x} + ${this.dim(o)})` : x));
        this.line(`${v}[${this.flat(dst, shape(n))}] = ${this.elem(part, ix)};`);
      });
      off = off.add(shape(part)[axis]!);
    }
    this.store.set(n, { k: 'buf', v, owner: n });
  }

  /** loop lo hi inits… { (i, c…) → (c'…, done) } → (c…, iterations, converged) */
  private emitLoop(n: Node): void {
    const r = n.regions[0]!;
    const k = n.args.length - 2;
    const lo = this.int(n.args[0]!);
    const hi = this.int(n.args[1]!);
    const carries: Storage[] = [];
    for (let c = 0; c < k; c++) {
      const init = n.args[c + 2]!;
      if (isTensor(init)) {
        const v = this.newBuffer(numel(init.type as TensorType));
        const src = this.addr(init);
        const st = this.store.get(init);
        if (src && st && (st.k === 'buf' || st.k === 'input')) this.copyInto(v, init);
        else this.materialize(init, v, (ix, flat) => this.elem(init, ix, flat));
        carries.push({ k: 'buf', v, owner: n });
      } else if (isInt(init)) {
        const name = this.fresh('c');
        this.line(`let ${name} = ${this.int(init)};`);
        carries.push({ k: 'int', v: name });
      } else {
        const name = this.fresh('c');
        this.line(`let ${name} = ${this.elem(init, [])};`);
        carries.push({ k: 'scalar', v: name });
      }
    }
    const it = this.fresh('it');
    const cv = this.fresh('cv');
    const hasUntil = n.attrs.hasUntil === true;
    this.line(`let ${it} = 0;`);
    this.line(`let ${cv} = ${hasUntil ? '0' : '1'};`);
    const s = this.fresh('step');
    r.params.slice(1).forEach((p, c) => this.store.set(p, carries[c]!));
    this.block(`for (let ${s} = 0; ${s} < ${hi} - ${lo}; ${s}++)`, () => {
      const iname = this.fresh('li');
      this.line(`const ${iname} = ${n.attrs.reverse === true ? `${hi} - 1 - ${s}` : `${lo} + ${s}`};`);
      this.store.set(r.params[0]!, { k: 'int', v: iname });
      this.emitRegion(r);
      const next = r.results.slice(0, k);
      const doneName = this.fresh('done');
      this.line(`const ${doneName} = ${this.elem(r.results[k]!, [])};`);
      this.updateCarries(r, carries, next);
      this.line(`${it}++;`);
      if (hasUntil) this.line(`if (${doneName} !== 0) { ${cv} = 1; break; }`);
    });
    this.store.set(n, { k: 'tuple', parts: [...carries, { k: 'int', v: it }, { k: 'scalar', v: cv }] });
  }

  /** Copies a buffer or input of the same shape into v. */
  private copyInto(v: string, src: Node): void {
    const st = this.store.get(src)!;
    const N = this.dim(numel(src.type as TensorType));
    if (st.k === 'buf') this.line(`${v}.set(${st.v}.subarray(0, ${N}));`);
    else if (st.k === 'input') this.line(`${v}.set(IN${st.index}.subarray(io${st.index}, io${st.index} + ${N}));`);
    else throw new InternalError('CPU codegen: copy of a value without storage');
  }

  /**
   * The carries take the iteration's new values, all of which were computed from the old ones:
   *  1. new values that read carries through views are evaluated into temporaries;
   *  2. column/row/entry updates of a carry and elementwise functions of a carry at the same
   *     element are written into the carry's buffer in place;
   *  3. a new value computed into a buffer of this iteration's own swaps buffers with the carry
   *     (the next iteration overwrites the old carry's buffer); anything else is copied.
   */
  private updateCarries(r: Region, carries: Storage[], next: readonly Node[]): void {
    const carryParams = new Set(r.params.slice(1));
    const carryBufs = new Set(carries.filter((c) => c.k === 'buf').map((c) => (c as { v: string }).v));
    const settled = (x: Node): boolean => {
      const st = this.store.get(x);
      if (st && st.k !== 'view' && !carryParams.has(x)) return !(st.k === 'buf' && carryBufs.has(st.v));
      for (const p of freeParams(x)) if (carryParams.has(p)) return false;
      return true;
    };
    const sameIndex = (x: Node, param: Node): boolean => {
      if (x === param) return true;
      if (settled(x)) return true;
      if (this.store.has(x) && this.store.get(x)!.k !== 'view') return false;
      if (jsClass[x.op] === 'view' && !['index', 'setcol', 'setrow', 'setindex'].includes(x.op)) return x.args.every((a) => sameIndex(a, param));
      if (x.op === 'tril' || x.op === 'triu' || x.op === 'nograd') return sameIndex(x.args[0]!, param);
      if (x.op === 'setcol' || x.op === 'setrow' || x.op === 'setindex') return sameIndex(x.args[0]!, param) && x.args.slice(1).every(settled);
      return false;
    };
    type Step = { c: number; kind: 'skip' | 'inplace' | 'elementwise' | 'copy' | 'swap'; src?: Node; buf?: string };
    const plan: Step[] = [];
    const swapped = new Set<string>();
    next.forEach((x, c) => {
      const carry = carries[c]!;
      const param = r.params[c + 1]!;
      if (x === param) return plan.push({ c, kind: 'skip' });
      if (carry.k !== 'buf') return plan.push({ c, kind: 'copy', src: x });
      if ((x.op === 'setcol' || x.op === 'setrow' || x.op === 'setindex') && x.args[0] === param && !this.mat.has(x) && settled(x.args[x.args.length - 1]!)) {
        return plan.push({ c, kind: 'inplace', src: x });
      }
      const xs = this.store.get(x);
      if ((!xs || xs.k === 'view') && !this.mat.has(x) && sameIndex(x, param)) return plan.push({ c, kind: 'elementwise', src: x });
      if (xs && xs.k === 'buf' && !carryBufs.has(xs.v)) {
        // a buffer this iteration computed (its owner lives in the loop body) is swapped in once
        const own = this.sc.home.get(xs.owner) === r && !swapped.has(xs.v);
        if (own) {
          swapped.add(xs.v);
          return plan.push({ c, kind: 'swap', buf: xs.v });
        }
        return plan.push({ c, kind: 'copy', src: x });
      }
      if (xs && xs.k === 'input') return plan.push({ c, kind: 'copy', src: x });
      // a view of the carries (or a carry's buffer): evaluate into a temporary first
      const tmp = this.newBuffer(numel(x.type as TensorType));
      this.materialize(x, tmp, (ix, flat) => this.elem(x, ix, flat));
      return plan.push({ c, kind: 'swap', buf: tmp });
    });
    // scalar and int carries: all new values before any assignment
    const newNames = next.map((x, c) => {
      const carry = carries[c]!;
      if (carry.k === 'buf' || x === r.params[c + 1]) return null;
      const nm = this.fresh('nx');
      this.line(`const ${nm} = ${carry.k === 'int' ? this.int(x) : this.elem(x, [])};`);
      return nm;
    });
    const order = { skip: 0, inplace: 0, elementwise: 0, copy: 1, swap: 2 } as const;
    plan.sort((p, q) => order[p.kind] - order[q.kind]);
    for (const p of plan) {
      const carry = carries[p.c]!;
      if (carry.k !== 'buf') {
        if (newNames[p.c]) this.line(`${(carry as { v: string }).v} = ${newNames[p.c]};`);
        continue;
      }
      const x = p.src;
      switch (p.kind) {
        case 'skip':
          break;
        case 'elementwise':
          // the carry's own buffer is x's only reader of the carry, at the same element
          this.store.set(x!, { k: 'view' });
          this.materialize(x!, carry.v, (ix, flat) => this.elem(x!, ix, flat));
          break;
        case 'inplace': {
          const sh = shape(x!);
          const v = x!.args[x!.args.length - 1]!;
          if (x!.op === 'setindex') {
            const idx = x!.args.slice(1, -1).map((q) => this.int(q));
            this.line(`${carry.v}[${this.flat(idx, sh)}] = ${this.elem(v, [])};`);
          } else {
            const t = this.fresh('t');
            const len = x!.op === 'setcol' ? sh[0]! : sh[1]!;
            const pos = this.int(x!.args[1]!);
            const ix = x!.op === 'setcol' ? [t, pos] : [pos, t];
            this.line(`for (let ${t} = 0; ${t} < ${this.dim(len)}; ${t}++) ${carry.v}[${this.flat(ix, sh)}] = ${this.elem(v, [t], t)};`);
          }
          break;
        }
        case 'copy':
          if (this.store.get(x!)?.k === 'buf' || this.store.get(x!)?.k === 'input') this.copyInto(carry.v, x!);
          else this.materialize(x!, carry.v, (ix, flat) => this.elem(x!, ix, flat));
          break;
        case 'swap': {
          const t = this.fresh('sw');
          this.line(`const ${t} = ${carry.v}; ${carry.v} = ${p.buf}; ${p.buf} = ${t};`);
          break;
        }
      }
    }
  }

  /** X = A⁻¹B by LU with partial pivoting (H.lu); rcond = min|uᵢᵢ| / max|uᵢᵢ| (0 if singular). */
  private emitSolve(n: Node): void {
    const [A, B] = n.args as [Node, Node];
    const nn = shape(A)[0]!;
    const nrhs = shape(B).length === 1 ? Dim.const(1) : shape(B)[1]!;
    const M = this.newBuffer(nn.mul(nn));
    const X = this.newBuffer(nn.mul(nrhs));
    this.fill(M, A);
    this.fill(X, B);
    const rc = this.fresh('rc');
    this.line(`const ${rc} = H.lu(${this.dim(nn)}, ${this.dim(nrhs)}, ${M}, ${X});`);
    this.store.set(n, { k: 'tuple', parts: [{ k: 'buf', v: X, owner: n }, { k: 'scalar', v: rc }] });
  }

  /** Writes a tensor's elements into buffer v (a contiguous copy when it has storage). */
  private fill(v: string, x: Node): void {
    const st = this.store.get(x);
    if (st && (st.k === 'buf' || st.k === 'input')) this.copyInto(v, x);
    else this.materialize(x, v, (ix, flat) => this.elem(x, ix, flat));
  }

  private emitTrisolve(n: Node): void {
    const [T, B] = n.args as [Node, Node];
    const { lower, trans, unit } = n.attrs as { lower: boolean; trans: boolean; unit: boolean };
    const left = n.attrs.left !== false;
    const nn = shape(T)[0]!;
    const bsh = shape(B);
    const X = this.newBuffer(numel(B.type as TensorType));
    this.fill(X, B);
    const t = this.addr(T);
    if (!t) throw new InternalError(`CPU codegen: the matrix of trisolve %${n.id} is not addressable`);
    const nrhs = left ? (bsh.length === 1 ? '1' : this.dim(bsh[1]!)) : this.dim(bsh[0]!);
    this.line(`H.trisolve(${this.dim(nn)}, ${nrhs}, ${t.arr}, ${t.off}, ${t.rs}, ${t.cs}, ${X}, ${lower}, ${trans}, ${unit}, ${left});`);
    this.store.set(n, { k: 'buf', v: X, owner: n });
  }

  // ---- the program ----------------------------------------------------------------------------------

  run(): CpuProgramData {
    const f = this.f;
    const statusNodes = f.status.map((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])]);
    this.roots = [...f.results.map((r) => r.node), ...statusNodes.flat()];
    this.sc = scopes(this.roots);
    this.analyze();
    f.params.forEach((p, i) => this.store.set(p.node, { k: 'input', index: i }));
    this.emitRegion(null);
    f.results.forEach((r, i) => {
      const t = r.node.type as TensorType;
      if (t.shape.length === 0) {
        this.line(`OUT${i}[inst] = ${this.elem(r.node, [])};`);
        return;
      }
      const N = this.dim(numel(t));
      const st = this.store.get(r.node);
      if (st?.k === 'buf') this.line(`OUT${i}.set(${st.v}.subarray(0, ${N}), inst * ${N});`);
      else {
        const o = this.fresh('o');
        this.line(`const ${o} = inst * ${N};`);
        this.loopNest(t.shape, (ix, flat) => this.line(`OUT${i}[${o} + ${flat}] = ${this.elem(r.node, ix, flat)};`));
      }
    });
    statusNodes.forEach((nodes, k) => {
      nodes.forEach((x, q) => this.line(`ST${k}[inst * 3 + ${q}] = ${isInt(x) ? this.int(x) : this.elem(x, [])};`));
    });
    const body = this.out;
    const pre = [
      '"use strict";',
      'const sgn = H.sgn, sigm = H.sigm;',
      ...this.dimList.map((_, i) => `const d${i} = D[${i}];`),
      ...f.params.map((_, i) => `const IN${i} = IN[${i}], IS${i} = INS[${i}];`),
      ...f.results.map((_, i) => `const OUT${i} = OUT[${i}];`),
      ...f.status.map((_, i) => `const ST${i} = ST[${i}];`),
      ...this.buffers.map((_, i) => `let w${i} = W[${i}];`),
      'for (let inst = base; inst < base + count; inst++) {',
      ...f.params.map((_, i) => `  const io${i} = inst * IS${i};`),
    ];
    const js = [...pre, ...body, '}'].join('\n');
    return { js, dims: this.dimList.map((d) => d.toString()), buffers: this.buffers.map((d) => d.toString()) };
  }
}
