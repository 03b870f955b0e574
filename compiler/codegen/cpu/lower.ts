// Lowering for the CPU: an optimized IR function becomes a loop program (loop-ir.ts) that runs
// one batch instance, which emit-js.ts prints as JavaScript and emit-wasm.ts assembles into
// WebAssembly. The model is the instance kernel's (compiler/codegen/wgsl/instance.ts) on one
// thread: integers and real scalars are locals; a tensor is either an element expression fused
// into its consumers (a "view") or materialized into a workspace buffer by a loop nest or a
// routine — contractions, axis reductions, shared or heavy views, values a loop reads from
// outside, loop carries. Nothing is allocated per instance. Loop carries are buffers whose
// bindings are swapped when an iteration's new value was computed into a buffer of its own, and
// updated in place when the new value is a column/row/entry update of the carry or an
// elementwise function of the carry at the same element (R ← R − 2 v wᵀ).
//
// Index operations whose bounds the checker could not prove are checked where they run (MATR107).

import { Dim } from '../../../core/dims.js';
import { InternalError } from '../../../core/errors.js';
import { tickBudget } from '../../ir/budget.js';
import { emptyArgCheck } from '../../../core/run-checks.js';
import { type Func, type Node, type Region, freeParams, reachable, scopes, type Scopes } from '../../ir/node.js';
import { isSpectral, parseEinsum } from '../../ir/ops.js';
import { QR_PANEL } from '../../../core/qr-blocking.js';
import { type TensorType, type TupleType, numel } from '../../ir/types.js';
import { jsClass } from './ops.js';
import { forEachIndexCheck, provablyInRange } from '../index-checks.js';
import { capFusionDepth } from '../fusion-depth.js';
import { updateChain } from '../update-chain.js';
import {
  type Arg, type Buf, type Expr, type LoopProgram, type Stmt, type Ty,
  F, I, V, b2f, cmp, fbin, fun, hoistInvariants, skipZeroUpdates, splitInstanceInvariant, iadd, ibin, imul, isub, load, sel,
} from './loop-ir.js';

type Storage =
  | { k: 'buf'; buf: Buf; owner: Node }
  | { k: 'input'; index: number }
  | { k: 'scalar'; v: string }
  | { k: 'int'; v: string }
  | { k: 'view' }
  | { k: 'tuple'; parts: Storage[] };

/** A strided operand: element [i, j] of a matrix is buf[off + i·rs + j·cs]; a vector uses rs. */
interface Addr {
  buf: Buf;
  off: Expr;
  rs: Expr;
  cs: Expr;
}

const isTensor = (n: Node): boolean => n.type.kind === 'tensor' && n.type.shape.length > 0;
const isScalar = (n: Node): boolean => n.type.kind === 'tensor' && n.type.shape.length === 0 && n.type.dtype === 'f';
const isInt = (n: Node): boolean => n.type.kind === 'tensor' && n.type.dtype === 'i';
const shape = (n: Node): readonly Dim[] => (n.type as TensorType).shape;

const ONE = I(1);
const ZERO = I(0);

export function lowerCpu(f: Func): LoopProgram {
  return new Lower(f).run();
}

class Lower {
  private out: Stmt[] = [];
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

  // ---- statements ---------------------------------------------------------------------------------

  private fresh(p: string): string {
    return `${p}${this.counter++}`;
  }

  private emit(s: Stmt): void {
    this.out.push(s);
  }

  /** Runs `body` with statements collected into a new list. */
  private collect(body: () => void): Stmt[] {
    const prev = this.out;
    this.out = [];
    body();
    const got = this.out;
    this.out = prev;
    return got;
  }

  private forLoop(hi: Expr, body: (v: Expr) => void, lo: Expr = ZERO): void {
    const v = this.fresh('i');
    this.emit({ k: 'for', v, lo, hi, body: this.collect(() => body(V(v, 'i'))) });
  }

  private declF(p: string, init: Expr): Expr {
    const name = this.fresh(p);
    this.emit({ k: 'decl', name, ty: 'f', init });
    return V(name, 'f');
  }

  private declI(p: string, init: Expr): Expr {
    const name = this.fresh(p);
    this.emit({ k: 'decl', name, ty: 'i', init });
    return V(name, 'i');
  }

  /** A dimension: a constant, or D[i]. */
  private dim(d: Dim): Expr {
    const c = d.constValue();
    if (c !== undefined && Number.isInteger(c)) return I(c);
    let i = this.dimIdx.get(d.key);
    if (i === undefined) {
      i = this.dimList.length;
      this.dimIdx.set(d.key, i);
      this.dimList.push(d);
    }
    return { k: 'dim', i };
  }

  private newBuffer(size: Dim): Buf {
    this.buffers.push(size);
    return { k: 'w', id: this.buffers.length - 1 };
  }

  // ---- indices ------------------------------------------------------------------------------------

  private flat(ix: readonly Expr[], sh: readonly Dim[]): Expr {
    if (sh.length === 0) return ZERO;
    let s = ix[0]!;
    for (let k = 1; k < sh.length; k++) s = iadd(imul(s, this.dim(sh[k]!)), ix[k]!);
    return s;
  }

  private unflat(e: Expr, sh: readonly Dim[]): Expr[] {
    if (sh.length === 0) return [];
    if (sh.length === 1) return [e];
    const out: Expr[] = [];
    let stride: Expr | null = null;
    for (let k = sh.length - 1; k >= 0; k--) {
      const d = this.dim(sh[k]!);
      const q: Expr = stride ? ibin('div', e, stride) : e;
      out.unshift(k === 0 ? q : ibin('mod', q, d));
      stride = stride ? imul(stride, d) : d;
    }
    return out;
  }

  /** A loop nest over a shape; `body` gets the indices and the row-major flat index (the row's
   *  base plus the innermost index, so that the innermost loop is contiguous). */
  private loopNest(sh: readonly Dim[], body: (ix: Expr[], flat: Expr) => void): void {
    const ix: Expr[] = [];
    const nest = (k: number, base: Expr): void => {
      this.forLoop(this.dim(sh[k]!), (v) => {
        ix.push(v);
        const here = iadd(imul(base, this.dim(sh[k]!)), v);
        if (k === sh.length - 1) body([...ix], here);
        else nest(k + 1, here);
        ix.pop();
      });
    };
    nest(0, ZERO);
  }

  // ---- element expressions --------------------------------------------------------------------------

  /** Element `ix` of n (scalars ignore ix). `flat`, when given, is the row-major flat index of ix
   *  in n's shape, used for contiguous reads of the same shape. */
  private elem(n: Node, ix: readonly Expr[], flat?: Expr): Expr {
    const st = this.store.get(n);
    if (st) {
      switch (st.k) {
        case 'buf':
          return load(st.buf, flat ?? this.flat(ix, shape(n)));
        case 'input':
          return load({ k: 'in', i: st.index }, iadd(V(`io${st.index}`, 'i'), shape(n).length === 0 ? ZERO : (flat ?? this.flat(ix, shape(n)))));
        case 'scalar':
          return V(st.v, 'f');
        case 'int':
          return { k: 'itof', a: V(st.v, 'i') };
        case 'tuple':
          throw new InternalError(`CPU codegen: tuple %${n.id} used as a value`);
        case 'view':
          break;
      }
    }
    const a = n.args;
    const at = (x: Node, i: readonly Expr[], fl?: Expr) => this.elem(x, i, fl);
    const [i, j] = ix;
    switch (n.op) {
      case 'const':
      case 'fill':
        return F(n.attrs.value as number);
      case 'eps':
        // defined by the emitters: 2⁻⁵² in WebAssembly (f64), D[last] in JavaScript (by precision)
        return V('eps', 'f');
      case 'eye':
        return b2f(cmp('eq', 'i', i!, j!));
      case 'iota':
        return { k: 'itof', a: i! };
      case 'itof':
        return { k: 'itof', a: this.int(a[0]!) };
      case 'transpose':
        return at(a[0]!, [j!, i!]);
      case 'reshape': {
        const fl = flat ?? this.flat(ix, shape(n));
        return at(a[0]!, this.unflat(fl, shape(a[0]!)), fl);
      }
      case 'slice': {
        const start = n.attrs.start as Dim[];
        return at(a[0]!, ix.map((x, k) => iadd(x, this.dim(start[k]!))));
      }
      case 'pad': {
        const start = n.attrs.start as Dim[];
        const inner = shape(a[0]!);
        let ok: Expr | null = null;
        ix.forEach((x, k) => {
          const lo = this.dim(start[k]!);
          const c: Expr = { k: 'and', a: cmp('ge', 'i', x, lo), b: cmp('lt', 'i', x, iadd(lo, this.dim(inner[k]!))) };
          ok = ok ? { k: 'and', a: ok, b: c } : c;
        });
        // the read is guarded: out-of-range positions never load (clamped into range)
        const src = ix.map((x, k) => ibin('max', I(0), ibin('min', isub(x, this.dim(start[k]!)), isub(this.dim(inner[k]!), ONE))));
        return ok ? sel('f', ok, at(a[0]!, src), F(0)) : at(a[0]!, src);
      }
      case 'tril':
        return sel('f', cmp('le', 'i', isub(j!, i!), I(n.attrs.k as number)), at(a[0]!, ix, flat), F(0));
      case 'triu':
        return sel('f', cmp('ge', 'i', isub(j!, i!), I(n.attrs.k as number)), at(a[0]!, ix, flat), F(0));
      case 'diag':
        return sel('f', cmp('eq', 'i', i!, j!), at(a[0]!, [i!]), F(0));
      case 'diagvec':
        return at(a[0]!, [i!, i!]);
      case 'outer':
        return fbin('mul', at(a[0]!, [i!]), at(a[1]!, [j!]));
      case 'getcol':
        return at(a[0]!, [i!, this.int(a[1]!)]);
      case 'getrow':
        return at(a[0]!, [this.int(a[1]!), i!]);
      case 'setcol':
        return sel('f', cmp('eq', 'i', j!, this.int(a[1]!)), at(a[2]!, [i!]), at(a[0]!, ix, flat));
      case 'setrow':
        return sel('f', cmp('eq', 'i', i!, this.int(a[1]!)), at(a[2]!, [j!]), at(a[0]!, ix, flat));
      case 'setindex': {
        const idx = a.slice(1, -1).map((x) => this.int(x));
        let c: Expr = cmp('eq', 'i', ix[0]!, idx[0]!);
        for (let k = 1; k < idx.length; k++) c = { k: 'and', a: c, b: cmp('eq', 'i', ix[k]!, idx[k]!) };
        return sel('f', c, at(a[a.length - 1]!, []), at(a[0]!, ix, flat));
      }
      case 'index':
        return at(a[0]!, a.slice(1).map((x) => this.int(x)));
      case 'nograd':
        return at(a[0]!, ix, flat);
      case 'rand':
        // element `flat` of the stream (core/philox.ts)
        return { k: 'rand', normal: n.attrs.dist === 'normal', key: this.int(a[0]!), stream: this.int(a[1]!), e: shape(n).length === 0 ? ZERO : (flat ?? this.flat(ix, shape(n))) };
      default:
        if (jsClass[n.op] === 'view') {
          const sh = shape(n);
          const args = a.map((x) => (shape(x).length === 0 ? this.elem(x, []) : this.elem(x, ix, sh.length > 0 ? flat : undefined)));
          return elementwise(n.op, args);
        }
        throw new InternalError(`CPU codegen: %${n.id} (${n.op}) has no value here (not materialized)`);
    }
  }

  private int(n: Node): Expr {
    const st = this.store.get(n);
    if (st?.k === 'int') return V(st.v, 'i');
    if (n.op === 'iconst') return I(n.attrs.value as number);
    if (n.op === 'dim') return this.dim(n.attrs.dim as Dim);
    throw new InternalError(`CPU codegen: int %${n.id} (${n.op}) is not available`);
  }

  /** The strided address of a tensor, when it is a buffer, an input or an index remapping of one. */
  private addr(n: Node): Addr | null {
    const st = this.store.get(n);
    const sh = shape(n);
    const rowMajor = (buf: Buf, off: Expr): Addr => (sh.length >= 2 ? { buf, off, rs: this.dim(sh[sh.length - 1]!), cs: ONE } : { buf, off, rs: ONE, cs: ONE });
    if (st?.k === 'buf') return rowMajor(st.buf, ZERO);
    if (st?.k === 'input') return rowMajor({ k: 'in', i: st.index }, V(`io${st.index}`, 'i'));
    if (st && st.k !== 'view') return null;
    const a = n.args;
    switch (n.op) {
      case 'transpose': {
        const s = this.addr(a[0]!);
        return s && { buf: s.buf, off: s.off, rs: s.cs, cs: s.rs };
      }
      case 'nograd':
        return this.addr(a[0]!);
      case 'reshape': {
        const s = this.addr(a[0]!);
        const src = shape(a[0]!);
        const contiguous = s && s.cs.k === 'i' && s.cs.v === 1 && (src.length < 2 || sameExpr(s.rs, this.dim(src[src.length - 1]!)));
        return contiguous ? rowMajor(s.buf, s.off) : null;
      }
      case 'slice': {
        const s = this.addr(a[0]!);
        if (!s) return null;
        const start = (n.attrs.start as Dim[]).map((d) => this.dim(d));
        const src = shape(a[0]!);
        if (src.length > 2) return null;
        const off = src.length === 1 ? iadd(s.off, imul(start[0]!, s.rs)) : iadd(iadd(s.off, imul(start[0]!, s.rs)), imul(start[1]!, s.cs));
        return { buf: s.buf, off, rs: s.rs, cs: s.cs };
      }
      case 'getcol': {
        const s = this.addr(a[0]!);
        return s && { buf: s.buf, off: iadd(s.off, imul(this.int(a[1]!), s.cs)), rs: s.rs, cs: s.rs };
      }
      case 'getrow': {
        const s = this.addr(a[0]!);
        return s && { buf: s.buf, off: iadd(s.off, imul(this.int(a[1]!), s.rs)), rs: s.cs, cs: s.cs };
      }
      case 'diagvec': {
        const s = this.addr(a[0]!);
        return s && { buf: s.buf, off: s.off, rs: iadd(s.rs, s.cs), cs: ONE };
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
          // a loop's new carries and a branch's results are written into their owner's storage
          if (n.op === 'loop' || n.op === 'cond') carried.add(x);
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
    // a branch's tensor captures are its regions' parameters: they need storage of their own
    for (const n of all) if (n.op === 'cond') for (const a of n.args.slice(1)) if (isTensor(a) && a.op !== 'param') this.mat.add(a);
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
    // no fused element expression nests deeper than MAX_FUSION_DEPTH or spells more than
    // MAX_FUSION_SIZE operations (elem() and the carry planner recurse per level; issue 12)
    const fusedClass = (n: Node) => jsClass[n.op] === 'view' || jsClass[n.op] === 'remap';
    capFusionDepth(all, (n) => isTensor(n) && n.op !== 'param' && !this.mat.has(n) && fusedClass(n), (n) => this.mat.add(n));
  }

  // ---- emission -----------------------------------------------------------------------------------

  private emitRegion(r: Region | null): void {
    for (const n of this.sc.body.get(r) ?? []) this.emitNode(n);
  }

  /** Writes every element of n into buffer `buf`. */
  private materialize(n: Node, buf: Buf, value: (ix: Expr[], flat: Expr) => Expr): void {
    this.loopNest(shape(n), (ix, flat) => this.emit({ k: 'store', buf, at: flat, value: value(ix, flat) }));
  }

  /** Range checks of the integer operands of index operations (once per evaluation). */
  private checkIndices(n: Node): void {
    forEachIndexCheck(n, (what, i, size) => {
      if (!provablyInRange(i, size)) this.emit({ k: 'check', what, i: this.int(i), n: this.dim(size) });
    });
  }

  private emitNode(n: Node): void {
    if (this.store.has(n)) return;
    tickBudget();
    if (n.op === 'param') return;
    if (n.op === 'opt' || n.op === 'root' || n.op === 'custom') throw new InternalError('CPU codegen: declarative nodes must be expanded before code generation');
    if (n.op === 'householder') return this.emitHouseholder(n);
    if (isSpectral(n.op)) throw new InternalError(`CPU codegen: ${n.op} must be lowered by the expand stage before code generation`);
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
    if (n.op === 'cond') return this.emitCond(n);
    if (n.op === 'solve') return this.emitSolve(n);
    if (n.op === 'trisolve') return this.emitTrisolve(n);
    if (isScalar(n)) return this.emitScalar(n);
    if (n.op === 'concat') return this.emitConcat(n);
    if (!this.mat.has(n)) {
      this.store.set(n, { k: 'view' });
      return;
    }
    const buf = this.newBuffer(numel(n.type as TensorType));
    this.emitInto(n, buf);
    this.store.set(n, { k: 'buf', buf, owner: n });
  }

  private ptr(a: Addr): Arg {
    return { k: 'ptr', buf: a.buf, at: a.off };
  }

  /** Computes a tensor node into buffer `buf`. */
  private emitInto(n: Node, buf: Buf): void {
    const a = n.args;
    const val = (e: Expr): Arg => ({ k: 'val', e });
    if (n.op === 'matmul') {
      const A = this.addr(a[0]!);
      let B = this.addr(a[1]!);
      if (!A || !B) throw new InternalError(`CPU codegen: operands of matmul %${n.id} are not addressable`);
      const [m, k] = shape(a[0]!).map((d) => this.dim(d));
      const nn = this.dim(shape(a[1]!)[1]!);
      // B with strided rows (a transposed operand, A·Xᵀ) would take the GEMM routine's dot-product
      // form, at half the speed of its row form (8.4 against 16.6 GFLOP/s at 512³ on the
      // development machine): copy it into row-major order first, k·n moves against m·n·k
      // products (not for one column of B, where the routine's forms are alike, nor for fewer than
      // 16 rows of A: at 8 × 8 × 8 the copy cost 6 % more than it saved)
      const one = (e: Expr) => e.k === 'i' && e.v === 1;
      const few = (e: Expr) => e.k === 'i' && e.v < 16;
      if (!one(B.cs) && !few(m!) && !one(nn)) {
        const src = B;
        const rowMajor = this.newBuffer(shape(a[1]!)[0]!.mul(shape(a[1]!)[1]!));
        this.forLoop(nn, (j) => this.forLoop(k!, (p) => this.emit({ k: 'store', buf: rowMajor, at: iadd(imul(p, nn), j), value: load(src.buf, iadd(src.off, iadd(imul(p, src.rs), imul(j, src.cs)))) })));
        B = { buf: rowMajor, off: ZERO, rs: nn, cs: ONE };
      }
      this.emit({ k: 'call', fn: 'gemm', args: [val(m!), val(nn), val(k!), this.ptr(A), val(A.rs), val(A.cs), this.ptr(B), val(B.rs), val(B.cs), { k: 'ptr', buf, at: ZERO }] });
      return;
    }
    if (n.op === 'matvec') {
      const A = this.addr(a[0]!);
      const X = this.addr(a[1]!);
      if (!A || !X) throw new InternalError(`CPU codegen: operands of matvec %${n.id} are not addressable`);
      const [m, k] = shape(a[0]!).map((d) => this.dim(d));
      this.emit({ k: 'call', fn: 'gemv', args: [val(m!), val(k!), this.ptr(A), val(A.rs), val(A.cs), this.ptr(X), val(X.rs), { k: 'ptr', buf, at: ZERO }] });
      return;
    }
    const cls = jsClass[n.op];
    if (cls === 'contraction' || cls === 'reduction') {
      this.materialize(n, buf, (ix) => this.contraction(n, ix));
      return;
    }
    this.materialize(n, buf, (ix, flat) => this.elem(n, ix, flat));
  }

  private emitInt(n: Node): void {
    const a = n.args;
    if (n.op === 'maxloc' || n.op === 'minloc') {
      // the first index of the largest (smallest) entry, as the reference
      const src = a[0]!;
      // an empty vector has no index to return: MATR170 (core/run-checks.ts), before element 0 is read
      const len = shape(src)[0]!;
      if (!((len.constValue() ?? 0) > 0)) this.emit({ k: 'check', what: emptyArgCheck(n.op), i: ZERO, n: this.dim(len) });
      const best = this.fresh('n');
      const bv = this.fresh('bv');
      this.emit({ k: 'decl', name: best, ty: 'i', init: ZERO });
      this.emit({ k: 'decl', name: bv, ty: 'f', init: this.elem(src, [ZERO], ZERO) });
      this.forLoop(
        this.dim(shape(src)[0]!),
        (t) => {
          const x = this.declF('x', this.elem(src, [t], t));
          this.emit({
            k: 'if',
            c: cmp(n.op === 'maxloc' ? 'gt' : 'lt', 'f', x, V(bv, 'f')),
            then: [{ k: 'assign', name: bv, value: x }, { k: 'assign', name: best, value: t }],
            else: [],
          });
        },
        ONE,
      );
      this.store.set(n, { k: 'int', v: best });
      return;
    }
    const v: Expr =
      n.op === 'iconst' ? I(n.attrs.value as number) : n.op === 'dim' ? this.dim(n.attrs.dim as Dim) : n.op === 'ftoi' ? { k: 'ftoi', a: this.elem(a[0]!, []) } : ibin(intOp(n.op), this.int(a[0]!), this.int(a[1]!));
    const name = this.fresh('n');
    this.emit({ k: 'decl', name, ty: 'i', init: v });
    this.store.set(n, { k: 'int', v: name });
  }

  /** Element ix of a contraction or axis reduction, its inner loop emitted before the use. */
  private contraction(n: Node, ix: Expr[]): Expr {
    const a = n.args;
    const accName = this.fresh('acc');
    const acc = V(accName, 'f');
    if (n.op === 'sum' || n.op === 'rmax' || n.op === 'rmin') {
      const axis = n.attrs.axis as number;
      const init = n.op === 'sum' ? 0 : n.op === 'rmax' ? -Infinity : Infinity;
      this.emit({ k: 'decl', name: accName, ty: 'f', init: F(init) });
      this.forLoop(this.dim(shape(a[0]!)[axis]!), (t) => {
        const x = this.elem(a[0]!, [...ix.slice(0, axis), t, ...ix.slice(axis)]);
        this.emit({ k: 'assign', name: accName, value: fbin(n.op === 'sum' ? 'add' : n.op === 'rmax' ? 'max' : 'min', acc, x) });
      });
      return acc;
    }
    if (n.op === 'einsum') {
      const { inputs, output } = parseEinsum(String(n.attrs.spec));
      const size = new Map<string, Dim>();
      inputs.forEach((s, k) => [...s].forEach((c, q) => size.set(c, shape(a[k]!)[q]!)));
      const summed = [...size.keys()].filter((c) => !output.includes(c));
      const vars = new Map<string, Expr>();
      [...output].forEach((c, k) => vars.set(c, ix[k]!));
      this.emit({ k: 'decl', name: accName, ty: 'f', init: F(0) });
      const nest = (q: number): void => {
        if (q === summed.length) {
          let prod: Expr = F(1);
          inputs.forEach((s, k) => {
            const x = this.elem(a[k]!, [...s].map((c) => vars.get(c)!));
            prod = k === 0 ? x : fbin('mul', prod, x);
          });
          this.emit({ k: 'assign', name: accName, value: fbin('add', acc, prod) });
          return;
        }
        const c = summed[q]!;
        this.forLoop(this.dim(size.get(c)!), (v) => {
          vars.set(c, v);
          nest(q + 1);
        });
      };
      nest(0);
      return acc;
    }
    if (n.op === 'matvec' || n.op === 'matmul') {
      // a 1×1 product read as a scalar
      this.emit({ k: 'decl', name: accName, ty: 'f', init: F(0) });
      this.forLoop(this.dim(shape(a[0]!)[1]!), (p) => {
        const rhs = n.op === 'matmul' ? this.elem(a[1]!, [p, ix[1] ?? ZERO]) : this.elem(a[1]!, [p]);
        this.emit({ k: 'assign', name: accName, value: fbin('add', acc, fbin('mul', this.elem(a[0]!, [ix[0] ?? ZERO, p]), rhs)) });
      });
      return acc;
    }
    throw new InternalError(`CPU codegen: ${n.op} is not a contraction`);
  }

  private emitScalar(n: Node): void {
    const a = n.args;
    const xa = n.op === 'dot' ? this.addr(a[0]!) : null;
    const ya = n.op === 'dot' ? this.addr(a[1]!) : null;
    const name = this.fresh('s');
    if (xa && ya) {
      // both operands in memory: the routine
      this.emit({ k: 'decl', name, ty: 'f', init: { k: 'call', fn: 'dot', ty: 'f', args: [{ k: 'val', e: this.dim(shape(a[0]!)[0]!) }, this.ptr(xa), { k: 'val', e: xa.rs }, this.ptr(ya), { k: 'val', e: ya.rs }] } });
    } else if (n.op === 'dot' || (n.op === 'sum' && (n.attrs.axis as number) < 0) || n.op === 'rmax' || n.op === 'rmin') {
      const src = a[0]!;
      const kind = n.op === 'rmax' ? 'max' : n.op === 'rmin' ? 'min' : 'add';
      this.emit({ k: 'decl', name, ty: 'f', init: F(kind === 'add' ? 0 : kind === 'max' ? -Infinity : Infinity) });
      const acc = V(name, 'f');
      if (shape(src).length === 0) this.emit({ k: 'assign', name, value: this.elem(src, []) });
      else
        this.loopNest(shape(src), (ix, flat) => {
          const v = n.op === 'dot' ? fbin('mul', this.elem(a[0]!, ix, flat), this.elem(a[1]!, ix, flat)) : this.elem(src, ix, flat);
          this.emit({ k: 'assign', name, value: fbin(kind, acc, v) });
        });
    } else if (n.op === 'sum' || n.op === 'matvec' || n.op === 'einsum' || n.op === 'matmul') {
      this.emit({ k: 'decl', name, ty: 'f', init: this.contraction(n, []) });
    } else {
      this.emit({ k: 'decl', name, ty: 'f', init: this.elem(n, []) });
    }
    this.store.set(n, { k: 'scalar', v: name });
  }

  private emitConcat(n: Node): void {
    const buf = this.newBuffer(numel(n.type as TensorType));
    const axis = n.attrs.axis as number;
    let off = Dim.const(0);
    for (const part of n.args) {
      const o = off;
      this.loopNest(shape(part), (ix) => {
        const dst = ix.map((x, k) => (k === axis ? iadd(x, this.dim(o)) : x));
        this.emit({ k: 'store', buf, at: this.flat(dst, shape(n)), value: this.elem(part, ix) });
      });
      off = off.add(shape(part)[axis]!);
    }
    this.store.set(n, { k: 'buf', buf, owner: n });
  }

  /** Copies a buffer or input of the same shape into `buf`. */
  private copyInto(buf: Buf, src: Node): void {
    const st = this.store.get(src)!;
    const N = this.dim(numel(src.type as TensorType));
    if (st.k === 'buf') this.emit({ k: 'copy', dst: buf, dstAt: ZERO, src: st.buf, srcAt: ZERO, n: N });
    else if (st.k === 'input') this.emit({ k: 'copy', dst: buf, dstAt: ZERO, src: { k: 'in', i: st.index }, srcAt: V(`io${st.index}`, 'i'), n: N });
    else throw new InternalError('CPU codegen: copy of a value without storage');
  }

  /** Writes a tensor's elements into `buf` (a contiguous copy when it has storage). */
  private fill(buf: Buf, x: Node): void {
    const st = this.store.get(x);
    if (st && (st.k === 'buf' || st.k === 'input')) this.copyInto(buf, x);
    else this.materialize(x, buf, (ix, flat) => this.elem(x, ix, flat));
  }

  /** cond c captures… { region 0 } { region 1 } → results…: an if/else whose branches run one
   *  region each (its parameters bound to the captures' storage) and write the region's results
   *  into the cond's storage, declared before the branch (a buffer per tensor, a local per scalar). */
  private emitCond(n: Node): void {
    const elems = (n.type as TupleType).elems as TensorType[];
    const parts: Storage[] = elems.map((t, i) => {
      if (t.shape.length > 0) return { k: 'buf', buf: this.newBuffer(numel(t)), owner: n };
      const name = this.fresh('r');
      this.emit({ k: 'decl', name, ty: t.dtype === 'i' ? 'i' : 'f', init: t.dtype === 'i' ? ZERO : F(0) });
      void i;
      return t.dtype === 'i' ? { k: 'int', v: name } : { k: 'scalar', v: name };
    });
    const c = this.elem(n.args[0]!, []);
    const branch = (r: Region): Stmt[] =>
      this.collect(() => {
        r.params.forEach((p, i) => {
          const st = this.store.get(n.args[i + 1]!);
          if (!st || st.k === 'view' || st.k === 'tuple') throw new InternalError(`CPU codegen: capture %${n.args[i + 1]!.id} of cond %${n.id} has no storage`);
          this.store.set(p, st);
        });
        this.emitRegion(r);
        r.results.forEach((x, i) => {
          const part = parts[i]!;
          if (part.k === 'buf') this.fill(part.buf, x);
          else if (part.k === 'int') this.emit({ k: 'assign', name: part.v, value: this.int(x) });
          else if (part.k === 'scalar') this.emit({ k: 'assign', name: part.v, value: this.elem(x, []) });
        });
      });
    const thenS = branch(n.regions[0]!);
    const elseS = branch(n.regions[1]!);
    // NaN takes region 0, as select does
    this.emit({ k: 'if', c: cmp('ne', 'f', c, F(0)), then: thenS, else: elseS });
    this.store.set(n, { k: 'tuple', parts });
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
        const buf = this.newBuffer(numel(init.type as TensorType));
        this.fill(buf, init);
        carries.push({ k: 'buf', buf, owner: n });
      } else if (isInt(init)) {
        const name = this.fresh('c');
        this.emit({ k: 'decl', name, ty: 'i', init: this.int(init) });
        carries.push({ k: 'int', v: name });
      } else {
        const name = this.fresh('c');
        this.emit({ k: 'decl', name, ty: 'f', init: this.elem(init, []) });
        carries.push({ k: 'scalar', v: name });
      }
    }
    const it = this.fresh('it');
    const cv = this.fresh('cv');
    const hasUntil = n.attrs.hasUntil === true;
    this.emit({ k: 'decl', name: it, ty: 'i', init: ZERO });
    this.emit({ k: 'decl', name: cv, ty: 'f', init: F(hasUntil ? 0 : 1) });
    r.params.slice(1).forEach((p, c) => this.store.set(p, carries[c]!));
    this.forLoop(isub(hi, lo), (s) => {
      const li = this.declI('li', n.attrs.reverse === true ? isub(isub(hi, ONE), s) : iadd(lo, s));
      this.store.set(r.params[0]!, { k: 'int', v: (li as { name: string }).name });
      this.emitRegion(r);
      const done = this.declF('done', this.elem(r.results[k]!, []));
      this.updateCarries(r, carries, r.results.slice(0, k));
      this.emit({ k: 'assign', name: it, value: iadd(V(it, 'i'), ONE) });
      if (hasUntil) this.emit({ k: 'if', c: cmp('ne', 'f', done, F(0)), then: [{ k: 'assign', name: cv, value: F(1) }, { k: 'break' }], else: [] });
    });
    this.store.set(n, { k: 'tuple', parts: [...carries, { k: 'int', v: it }, { k: 'scalar', v: cv }] });
  }

  /**
   * The carries take the iteration's new values, all of which were computed from the old ones:
   *  1. new values that read carries through views are evaluated into temporaries;
   *  2. column/row/entry updates of a carry and elementwise functions of a carry at the same
   *     element are written into the carry's buffer in place;
   *  3. a new value computed into a buffer of this iteration's own swaps bindings with the carry
   *     (the next iteration overwrites the old carry's buffer); anything else is copied.
   *  A chain of column/row/entry updates of the carry (setrow(setcol(setcol(C, p, u), q, v), …),
   *  a Jacobi rotation's two columns and two rows) is written in place link by link, innermost
   *  first, after every written value that reads a carry has been evaluated into a line-sized
   *  temporary: O(lines) per iteration instead of a copy of the whole matrix.
   */
  private updateCarries(r: Region, carries: Storage[], next: readonly Node[]): void {
    const carryParams = new Set(r.params.slice(1));
    const bufId = (s: Storage | undefined): number | null => (s?.k === 'buf' && s.buf.k === 'w' ? s.buf.id : null);
    const carryBufs = new Set(carries.map(bufId).filter((x): x is number => x !== null));
    const settled = (x: Node): boolean => {
      const st = this.store.get(x);
      if (st && st.k !== 'view' && !carryParams.has(x)) return !carryBufs.has(bufId(st) ?? -1);
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
    type Step = { c: number; kind: 'skip' | 'inplace' | 'chain' | 'elementwise' | 'copy' | 'swap'; src?: Node; buf?: number; links?: Node[] };
    const plan: Step[] = [];
    const swapped = new Set<number>();
    // written values of update chains that read carries, evaluated before any carry is written
    const temps = new Map<Node, { k: 'buf'; buf: Buf } | { k: 'scalar'; e: Expr }>();
    next.forEach((x, c) => {
      const carry = carries[c]!;
      const param = r.params[c + 1]!;
      if (x === param) return plan.push({ c, kind: 'skip' });
      if (carry.k !== 'buf') return plan.push({ c, kind: 'copy', src: x });
      if ((x.op === 'setcol' || x.op === 'setrow' || x.op === 'setindex') && x.args[0] === param && !this.mat.has(x) && settled(x.args[x.args.length - 1]!)) {
        return plan.push({ c, kind: 'inplace', src: x });
      }
      const links = this.updateChain(x, param);
      if (links && links.every((l) => l.args.slice(1, -1).every(settled))) {
        for (const l of links) {
          const v = l.args[l.args.length - 1]!;
          if (settled(v) || temps.has(v)) continue;
          if (shape(v).length === 0) temps.set(v, { k: 'scalar', e: this.declF('tv', this.elem(v, [])) });
          else {
            const tmp = this.newBuffer(numel(v.type as TensorType));
            this.materialize(v, tmp, (ix, flat) => this.elem(v, ix, flat));
            temps.set(v, { k: 'buf', buf: tmp });
          }
        }
        return plan.push({ c, kind: 'chain', links });
      }
      const xs = this.store.get(x);
      if ((!xs || xs.k === 'view') && !this.mat.has(x) && sameIndex(x, param)) return plan.push({ c, kind: 'elementwise', src: x });
      const xb = bufId(xs);
      if (xs?.k === 'buf' && xb !== null && !carryBufs.has(xb)) {
        // a buffer this iteration computed (its owner lives in the loop body) is swapped in once
        if (this.sc.home.get(xs.owner) === r && !swapped.has(xb)) {
          swapped.add(xb);
          return plan.push({ c, kind: 'swap', buf: xb });
        }
        return plan.push({ c, kind: 'copy', src: x });
      }
      if (xs && xs.k === 'input') return plan.push({ c, kind: 'copy', src: x });
      // a view of the carries (or a carry's buffer): evaluate into a temporary first
      const tmp = this.newBuffer(numel(x.type as TensorType));
      this.materialize(x, tmp, (ix, flat) => this.elem(x, ix, flat));
      return plan.push({ c, kind: 'swap', buf: (tmp as { id: number }).id });
    });
    // scalar and int carries: all new values before any assignment
    const newNames = next.map((x, c) => {
      const carry = carries[c]!;
      if (carry.k === 'buf' || x === r.params[c + 1]) return null;
      return carry.k === 'int' ? this.declI('nx', this.int(x)) : this.declF('nx', this.elem(x, []));
    });
    const order = { skip: 0, inplace: 0, chain: 0, elementwise: 0, copy: 1, swap: 2 } as const;
    plan.sort((p, q) => order[p.kind] - order[q.kind]);
    for (const p of plan) {
      const carry = carries[p.c]!;
      if (carry.k !== 'buf') {
        const nx = newNames[p.c];
        if (nx) this.emit({ k: 'assign', name: (carry as { v: string }).v, value: nx });
        continue;
      }
      const x = p.src;
      switch (p.kind) {
        case 'skip':
          break;
        case 'elementwise':
          // the carry's own buffer is x's only reader of the carry, at the same element
          this.store.set(x!, { k: 'view' });
          this.materialize(x!, carry.buf, (ix, flat) => this.elem(x!, ix, flat));
          break;
        case 'inplace': {
          const sh = shape(x!);
          const v = x!.args[x!.args.length - 1]!;
          if (x!.op === 'setindex') {
            const idx = x!.args.slice(1, -1).map((q) => this.int(q));
            this.emit({ k: 'store', buf: carry.buf, at: this.flat(idx, sh), value: this.elem(v, []) });
          } else {
            const len = x!.op === 'setcol' ? sh[0]! : sh[1]!;
            const pos = this.int(x!.args[1]!);
            this.forLoop(this.dim(len), (t) => {
              const ix = x!.op === 'setcol' ? [t, pos] : [pos, t];
              this.emit({ k: 'store', buf: carry.buf, at: this.flat(ix, sh), value: this.elem(v, [t], t) });
            });
          }
          break;
        }
        case 'chain':
          // innermost link first: a later link overwrites what an earlier one wrote
          for (const l of p.links!) {
            const sh = shape(l);
            const v = l.args[l.args.length - 1]!;
            const tv = temps.get(v);
            const at = (t: Expr): Expr => (tv?.k === 'buf' ? { k: 'load', buf: tv.buf, at: t } : this.elem(v, [t], t));
            if (l.op === 'setindex') {
              const idx = l.args.slice(1, -1).map((q) => this.int(q));
              this.emit({ k: 'store', buf: carry.buf, at: this.flat(idx, sh), value: tv?.k === 'scalar' ? tv.e : this.elem(v, []) });
            } else {
              const len = l.op === 'setcol' ? sh[0]! : sh[1]!;
              const pos = this.int(l.args[1]!);
              this.forLoop(this.dim(len), (t) => {
                const ix = l.op === 'setcol' ? [t, pos] : [pos, t];
                this.emit({ k: 'store', buf: carry.buf, at: this.flat(ix, sh), value: at(t) });
              });
            }
          }
          break;
        case 'copy':
          this.fill(carry.buf, x!);
          break;
        case 'swap':
          this.emit({ k: 'swap', a: (carry.buf as { id: number }).id, b: p.buf! });
          break;
      }
    }
  }

  /** The update chain from x down to the carry param (codegen/update-chain.ts): links neither
   *  materialized nor stored other than as a view. */
  private updateChain(x: Node, param: Node): Node[] | null {
    return updateChain(x, param, (l) => {
      const st = this.store.get(l);
      return !this.mat.has(l) && (!st || st.k === 'view');
    });
  }

  /** X = A⁻¹B by LU with partial pivoting; rcond = min|uᵢᵢ| / max|uᵢᵢ| (0 if singular). */
  private emitSolve(n: Node): void {
    const [A, B] = n.args as [Node, Node];
    const nn = shape(A)[0]!;
    const nrhs = shape(B).length === 1 ? Dim.const(1) : shape(B)[1]!;
    const M = this.newBuffer(nn.mul(nn));
    const X = this.newBuffer(nn.mul(nrhs));
    this.fill(M, A);
    this.fill(X, B);
    const rc = this.fresh('rc');
    this.emit({ k: 'decl', name: rc, ty: 'f', init: { k: 'call', fn: 'lu', ty: 'f', args: [{ k: 'val', e: this.dim(nn) }, { k: 'val', e: this.dim(nrhs) }, { k: 'ptr', buf: M, at: ZERO }, { k: 'ptr', buf: X, at: ZERO }] } });
    this.store.set(n, { k: 'tuple', parts: [{ k: 'buf', buf: X, owner: n }, { k: 'scalar', v: rc }] });
  }

  /** householder(A) → (Q, R) by the routine of routines.ts (blocked from QR_BLOCKED_FROM
   *  reflections on), on a copy of A; the CPU form of a function keeps the node
   *  (Program.cpuForm), where the reference interpreter runs the unblocked loops. */
  private emitHouseholder(n: Node): void {
    const A = n.args[0]!;
    const [m, nn] = shape(A) as [Dim, Dim];
    const k = Dim.min(m, nn);
    const P = Dim.const(QR_PANEL);
    const W = this.newBuffer(m.mul(nn));
    this.fill(W, A);
    const Q = this.newBuffer(m.mul(k));
    const R = this.newBuffer(k.mul(nn));
    const scratch = [k.mul(m), nn, P.mul(P), P.mul(nn).mul(Dim.const(2))].map((d) => this.newBuffer(d));
    const ptr = (buf: Buf): Arg => ({ k: 'ptr', buf, at: ZERO });
    const [Vt, t, TT, WB] = scratch as [Buf, Buf, Buf, Buf];
    this.emit({ k: 'call', fn: 'householder', args: [{ k: 'val', e: this.dim(m) }, { k: 'val', e: this.dim(nn) }, ptr(W), ptr(Vt), ptr(t), ptr(Q), ptr(R), ptr(TT), ptr(WB)] });
    this.store.set(n, { k: 'tuple', parts: [{ k: 'buf', buf: Q, owner: n }, { k: 'buf', buf: R, owner: n }] });
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
    const nrhs = left ? (bsh.length === 1 ? ONE : this.dim(bsh[1]!)) : this.dim(bsh[0]!);
    const flag = (b: boolean): Arg => ({ k: 'val', e: I(b ? 1 : 0) });
    this.emit({ k: 'call', fn: 'trisolve', args: [{ k: 'val', e: this.dim(nn) }, { k: 'val', e: nrhs }, this.ptr(t), { k: 'val', e: t.rs }, { k: 'val', e: t.cs }, { k: 'ptr', buf: X, at: ZERO }, flag(lower), flag(trans), flag(unit), flag(left)] });
    this.store.set(n, { k: 'buf', buf: X, owner: n });
  }

  // ---- the program ----------------------------------------------------------------------------------

  run(): LoopProgram {
    const f = this.f;
    const statusNodes = f.status.map((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])]);
    this.roots = [...f.results.map((r) => r.node), ...statusNodes.flat()];
    this.sc = scopes(this.roots);
    this.analyze();
    f.params.forEach((p, i) => {
      this.store.set(p.node, { k: 'input', index: i });
      // an int parameter (int state) arrives as the f64 of an integer (checked when bound)
      if (isInt(p.node)) this.store.set(p.node, { k: 'int', v: (this.declI('p', { k: 'ftoi', a: load({ k: 'in', i }, V(`io${i}`, 'i')) }) as { name: string }).name });
    });
    this.emitRegion(null);
    const inst = V('inst', 'i');
    const results: { size: Expr }[] = [];
    f.results.forEach((r, i) => {
      const t = r.node.type as TensorType;
      const out: Buf = { k: 'out', i };
      const N = t.shape.length === 0 ? ONE : this.dim(numel(t));
      results.push({ size: N });
      if (t.shape.length === 0) {
        this.emit({ k: 'store', buf: out, at: inst, value: isInt(r.node) ? { k: 'itof', a: this.int(r.node) } : this.elem(r.node, []) });
        return;
      }
      const base = this.declI('o', imul(inst, N));
      const st = this.store.get(r.node);
      if (st?.k === 'buf') this.emit({ k: 'copy', dst: out, dstAt: base, src: st.buf, srcAt: ZERO, n: N });
      else this.loopNest(t.shape, (ix, flat) => this.emit({ k: 'store', buf: out, at: iadd(base, flat), value: this.elem(r.node, ix, flat) }));
    });
    statusNodes.forEach((nodes, k) => {
      nodes.forEach((x, q) => this.emit({ k: 'store', buf: { k: 'st', i: k }, at: iadd(imul(inst, I(3)), I(q)), value: isInt(x) ? { k: 'itof', a: this.int(x) } : this.elem(x, []) }));
    });
    let h = 0;
    const { prologue, body } = splitInstanceInvariant(skipZeroUpdates(hoistInvariants(this.out, () => `h${h++}`)));
    return {
      prologue,
      body,
      dims: this.dimList.map((d) => d.toString()),
      buffers: this.buffers.map((d) => d.toString()),
      params: f.params.length,
      results,
      status: f.status.length,
      ints: {
        params: f.params.flatMap((p, i) => (isInt(p.node) ? [i] : [])),
        results: f.results.flatMap((r, i) => (isInt(r.node) ? [i] : [])),
      },
    };
  }
}

function sameExpr(a: Expr, b: Expr): boolean {
  if (a.k !== b.k) return false;
  if (a.k === 'i') return a.v === (b as { v: number }).v;
  if (a.k === 'dim') return a.i === (b as { i: number }).i;
  return false;
}

function intOp(op: string): 'add' | 'sub' | 'mul' | 'min' | 'max' | 'div' | 'mod' {
  switch (op) {
    case 'iadd': return 'add';
    case 'isub': return 'sub';
    case 'imul': return 'mul';
    case 'imin': return 'min';
    case 'imax': return 'max';
    case 'idiv': return 'div';
    case 'imod': return 'mod';
    default: throw new InternalError(`CPU codegen: ${op} is not an int op`);
  }
}

/** An elementwise op of the language on lowered operands (the reference's semantics). */
function elementwise(op: string, a: Expr[]): Expr {
  const [x, y, z] = a as [Expr, Expr, Expr];
  switch (op) {
    case 'neg': return fun('neg', x);
    case 'exp': return fun('exp', x);
    case 'log': return fun('log', x);
    case 'sqrt': return fun('sqrt', x);
    case 'abs': return fun('abs', x);
    case 'sign': return fun('sgn', x);
    case 'sin': return fun('sin', x);
    case 'cos': return fun('cos', x);
    case 'tanh': return fun('tanh', x);
    case 'sigmoid': return fun('sigm', x);
    case 'half': return fun('rf16', x);
    case 'bfloat': return fun('rbf16', x);
    case 'not': return b2f(cmp('eq', 'f', x, F(0)));
    case 'add': return fbin('add', x, y);
    case 'sub': return fbin('sub', x, y);
    case 'mul': return fbin('mul', x, y);
    case 'div': return fbin('div', x, y);
    case 'pow': return fbin('pow', x, y);
    case 'maximum': return fbin('max', x, y);
    case 'minimum': return fbin('min', x, y);
    case 'atan2': return fbin('atan2', x, y);
    case 'hypot': return fbin('hypot', x, y);
    case 'lt': return b2f(cmp('lt', 'f', x, y));
    case 'le': return b2f(cmp('le', 'f', x, y));
    case 'gt': return b2f(cmp('gt', 'f', x, y));
    case 'ge': return b2f(cmp('ge', 'f', x, y));
    case 'eq': return b2f(cmp('eq', 'f', x, y));
    case 'ne': return b2f(cmp('ne', 'f', x, y));
    case 'and': return b2f({ k: 'and', a: cmp('ne', 'f', x, F(0)), b: cmp('ne', 'f', y, F(0)) });
    case 'or': return b2f({ k: 'or', a: cmp('ne', 'f', x, F(0)), b: cmp('ne', 'f', y, F(0)) });
    case 'select': return sel('f', cmp('ne', 'f', x, F(0)), y, z);
    default: throw new InternalError(`CPU codegen: ${op} is not elementwise`);
  }
}

export type { Ty };
