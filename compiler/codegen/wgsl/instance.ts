// Instance kernels: one WGSL compute kernel runs a whole IR function for one problem instance
// per workgroup (batch = grid), the forward solver's loop and convergence test included, so a
// layer call is one dispatch with no host round-trip (DESIGN §3 "Batch-first kernels").
//
// Values: integers and real scalars are private per thread (every thread computes the same
// value); tensors are either fused element expressions ("views", recomputed where used) or
// materialized into a per-instance scratch slot by a cooperative loop over elements followed by
// a barrier. Reductions go through workgroup memory; loop exits go through workgroupUniformLoad
// so WGSL's uniformity analysis accepts the barriers inside loops. Dimensions, slot offsets and
// input/output placement come from a uniform table computed by the host (layout.ts), so one
// kernel serves every size.

import { Dim, shapeEquals } from '../../../core/dims.js';
import { InternalError } from '../../../core/errors.js';
import { emptyArgCheck } from '../../../core/run-checks.js';
import { type Func, type Node, type Region, freeParams, reachable, scopes, type Scopes } from '../../ir/node.js';
import { isSpectral, parseEinsum } from '../../ir/ops.js';
import { type TensorType, type TupleType, numel } from '../../ir/types.js';
import { type InstanceKernelSpec, type KernelIO, uniformIndex } from '../../../core/instance-layout.js';
import { packSlots, renameSlots } from './slot-pack.js';
import { HALF_IO_WGSL, RANDOM_WGSL, WGSL_HELPERS, elementwise, f32lit, intOp, reductionHelpers, wgslClass } from './ops.js';
import { capFusionDepth } from '../fusion-depth.js';
import { storageOf } from '../../opt/lowp-storage.js';
import type { StorageFormat } from '../../../core/lowp.js';
import { updateChain } from '../update-chain.js';
import { forEachIndexCheck, provablyInRange } from '../index-checks.js';

type Storage =
  | { k: 'slot'; slot: number }
  | { k: 'input'; index: number }
  | { k: 'scalar'; name: string }
  | { k: 'int'; name: string }
  | { k: 'view' }
  | { k: 'tuple'; parts: Storage[] };

const isTensor = (n: Node): boolean => n.type.kind === 'tensor' && n.type.shape.length > 0;
const isScalar = (n: Node): boolean => n.type.kind === 'tensor' && n.type.shape.length === 0 && n.type.dtype === 'f';
const isInt = (n: Node): boolean => n.type.kind === 'tensor' && n.type.dtype === 'i';
const shape = (n: Node): readonly Dim[] => (n.type as TensorType).shape;

export interface InstanceOptions {
  workgroupSize?: number;
  /** use subgroup operations for reductions (the device must have the 'subgroups' feature) */
  subgroups?: boolean;
  /** filled with what each scratch slot holds, slot by slot (`matc ir --stage schedule`) */
  slotNotes?: SlotNote[];
  /** share scratch slots between values whose lifetimes do not overlap (slot-pack.ts; default
   *  true, or false when the environment has MATC_PACK_SCRATCH=0) */
  packScratch?: boolean;
}

/** What a scratch slot holds: the IR value it was made for and its role there. */
export interface SlotNote {
  node: Node;
  role: 'value' | 'loop carry' | 'step temporary' | 'LU factors' | 'solution' | 'QR workspace';
  /** the values that share the slot after this one (liveness planning, slot-pack.ts) */
  also?: SlotNote[];
}

/** An int computed from data (each invocation holds the same value, but WGSL cannot prove it).
 *  A branch's int results and its int captures inside the regions count as such (conservatively:
 *  they are assigned in branches or may come from data). */
function dataInt(n: Node): boolean {
  if (n.op === 'ftoi' || n.op === 'maxloc' || n.op === 'minloc') return true;
  if (n.op === 'proj' && n.args[0]!.op === 'cond') return true;
  if (n.op === 'param' && n.attrs.region === true && condParams.has(n)) return true;
  if (n.op === 'iadd' || n.op === 'isub' || n.op === 'imul' || n.op === 'imin' || n.op === 'imax' || n.op === 'idiv' || n.op === 'imod') return n.args.some(dataInt);
  return false;
}

/** A WGSL i32 literal: −2³¹ is not one (the literal 2147483648 is out of range before the minus). */
function i32lit(v: number): string {
  return v === -2147483648 ? '(-2147483647 - 1)' : `${v}`;
}

/** Region parameters of cond nodes (set while a kernel is generated; dataInt reads it). */
const condParams = new WeakSet<Node>();

export function genInstanceKernel(f: Func, opts: InstanceOptions = {}): InstanceKernelSpec {
  const gen = new InstanceGen(f, opts.workgroupSize ?? 128, opts.subgroups ?? false, opts.slotNotes);
  gen.packScratch = opts.packScratch ?? !packingDisabled();
  return gen.run();
}

export function packingDisabled(): boolean {
  return envOff('MATC_PACK_SCRATCH');
}

/** An A/B switch of the code generator set to 0 in the environment (where there is one). */
export function envOff(name: string): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.[name] === '0';
}

export class InstanceGen {
  protected out: string[] = [];
  protected ind = '  ';
  protected dimIdx = new Map<string, number>();
  protected dimList: Dim[] = [];
  protected slots: Dim[] = [];
  protected store = new Map<Node, Storage>();
  protected uses = new Map<Node, number>();
  protected mat = new Set<Node>();
  protected sc!: Scopes;
  protected roots: Node[] = [];
  protected inputs: KernelIO[] = [];
  protected outputs: KernelIO[] = [];
  protected counter = 0;
  /** what each run-time index check tests (KernelIO kind 'check'), by check id − 1 */
  protected checks: string[] = [];
  /** a rand/randn element was emitted: the kernel includes the Philox helpers */
  protected usesRandom = false;
  /** share slots between values of disjoint lifetimes when the kernel is assembled */
  packScratch = false;

  constructor(
    protected f: Func,
    protected wg: number,
    protected subgroups: boolean,
    protected notes: SlotNote[] | undefined,
  ) {}

  // ---- naming ------------------------------------------------------------------------------------

  protected fresh(p: string): string {
    return `${p}_${this.counter++}`; // never a WGSL type name such as i32 or f16
  }

  protected line(s: string): void {
    this.out.push(this.ind + s);
  }

  protected block(head: string, body: () => void): void {
    this.line(`${head} {`);
    const prev = this.ind;
    this.ind += '  ';
    body();
    this.ind = prev;
    this.line('}');
  }

  /** WGSL i32 expression for a dimension. */
  protected dim(d: Dim): string {
    const c = d.constValue();
    if (c !== undefined && Number.isInteger(c)) return `${c}`;
    let i = this.dimIdx.get(d.key);
    if (i === undefined) {
      i = this.dimList.length;
      this.dimIdx.set(d.key, i);
      this.dimList.push(d);
    }
    return `D${i}`;
  }

  protected newSlot(size: Dim, node: Node, role: SlotNote['role']): number {
    this.slots.push(size);
    this.notes?.push({ node, role });
    return this.slots.length - 1;
  }

  protected slotAt(slot: number, flat: string): string {
    return `S[b0 + SO${slot} + ${flat}]`;
  }

  protected barrier(): void {
    this.line('storageBarrier();');
    this.line('workgroupBarrier();');
  }

  // ---- index helpers -------------------------------------------------------------------------------

  protected flat(ix: string[], sh: readonly Dim[]): string {
    if (sh.length === 0) return '0';
    let s = ix[0]!;
    for (let k = 1; k < sh.length; k++) s = `(${s}) * ${this.dim(sh[k]!)} + ${ix[k]}`;
    return s;
  }

  protected unflat(e: string, sh: readonly Dim[]): string[] {
    if (sh.length === 0) return [];
    if (sh.length === 1) return [e];
    const out: string[] = [];
    let stride = '';
    for (let k = sh.length - 1; k >= 0; k--) {
      const d = this.dim(sh[k]!);
      const q = stride ? `(${e} / (${stride}))` : e;
      out.unshift(k === 0 ? q : `(${q} % ${d})`);
      stride = stride ? `${stride} * ${d}` : d;
    }
    return out;
  }

  // ---- element expressions -------------------------------------------------------------------------

  /** WGSL f32 expression for element `ix` of node n (scalars ignore ix). */
  protected elem(n: Node, ix: string[]): string {
    const st = this.store.get(n);
    if (st) {
      switch (st.k) {
        case 'slot':
          return this.slotAt(st.slot, this.flat(ix, shape(n)));
        case 'input':
          return this.inputAt(st.index, this.flat(ix, shape(n)));
        case 'scalar':
          return st.name;
        case 'int':
          return `f32(${st.name})`;
        case 'tuple':
          throw new InternalError(`WGSL: tuple %${n.id} used as a value`);
        case 'view':
          break;
      }
    }
    const a = n.args;
    const at = (x: Node, i: string[]) => this.elem(x, i);
    const [i, j] = ix;
    switch (n.op) {
      case 'const':
        return f32lit(n.attrs.value as number);
      case 'eps':
        return f32lit(2 ** -23);
      case 'fill':
        return f32lit(n.attrs.value as number);
      case 'eye':
        return `select(0.0, 1.0, ${i} == ${j})`;
      case 'iota':
        return `f32(${i})`;
      case 'itof':
        return `f32(${this.int(a[0]!)})`;
      case 'transpose':
        return at(a[0]!, [j!, i!]);
      case 'reshape':
        return at(a[0]!, this.unflat(`(${this.flat(ix, shape(n))})`, shape(a[0]!)));
      case 'slice': {
        const start = n.attrs.start as Dim[];
        return at(a[0]!, ix.map((x, k) => (start[k]!.constValue() === 0 ? x : `(${x} + ${this.dim(start[k]!)})`)));
      }
      case 'pad': {
        const start = n.attrs.start as Dim[];
        const inner = shape(a[0]!);
        const conds = ix.map((x, k) => `(${x} >= ${this.dim(start[k]!)} && ${x} < ${this.dim(start[k]!)} + ${this.dim(inner[k]!)})`).join(' && ');
        const src = ix.map((x, k) => `clamp(${x} - ${this.dim(start[k]!)}, 0, max(${this.dim(inner[k]!)} - 1, 0))`);
        return `select(0.0, ${at(a[0]!, src)}, ${conds || 'true'})`;
      }
      case 'tril':
        return `select(0.0, ${at(a[0]!, ix)}, (${j} - ${i}) <= ${n.attrs.k as number})`;
      case 'triu':
        return `select(0.0, ${at(a[0]!, ix)}, (${j} - ${i}) >= ${n.attrs.k as number})`;
      case 'diag':
        return `select(0.0, ${at(a[0]!, [i!])}, ${i} == ${j})`;
      case 'diagvec':
        return at(a[0]!, [i!, i!]);
      case 'outer':
        return `(${at(a[0]!, [i!])} * ${at(a[1]!, [j!])})`;
      case 'getcol':
        return at(a[0]!, [i!, this.int(a[1]!)]);
      case 'getrow':
        return at(a[0]!, [this.int(a[1]!), i!]);
      case 'setcol':
        return `select(${at(a[0]!, ix)}, ${at(a[2]!, [i!])}, ${j} == ${this.int(a[1]!)})`;
      case 'setrow':
        return `select(${at(a[0]!, ix)}, ${at(a[2]!, [j!])}, ${i} == ${this.int(a[1]!)})`;
      case 'setindex': {
        const idx = a.slice(1, -1).map((x) => this.int(x));
        const cond = idx.map((x, k) => `${ix[k]} == ${x}`).join(' && ');
        return `select(${at(a[0]!, ix)}, ${at(a[a.length - 1]!, [])}, ${cond})`;
      }
      case 'index':
        return at(a[0]!, a.slice(1).map((x) => this.int(x)));
      case 'nograd':
        return at(a[0]!, ix);
      case 'rand':
        this.usesRandom = true;
        // element `flat` of the stream (core/philox.ts; RANDOM_WGSL in ops.ts)
        return `matc_rand(${n.attrs.dist === 'normal' ? '1u' : '0u'}, ${this.int(a[0]!)}, ${this.int(a[1]!)}, ${shape(n).length === 0 ? '0' : this.flat(ix, shape(n))})`;
      default:
        if (wgslClass[n.op] === 'view') {
          const args = a.map((x) => (shape(x).length === 0 ? this.elem(x, []) : this.elem(x, ix)));
          return elementwise(n.op, args);
        }
        throw new InternalError(`WGSL: %${n.id} (${n.op}) has no value here (not materialized)`);
    }
  }

  protected int(n: Node): string {
    const st = this.store.get(n);
    if (st?.k === 'int') return st.name;
    if (n.op === 'iconst') return i32lit(n.attrs.value as number);
    if (n.op === 'dim') return this.dim(n.attrs.dim as Dim);
    throw new InternalError(`WGSL: int %${n.id} (${n.op}) is not available`);
  }

  // ---- analysis -----------------------------------------------------------------------------------

  /** Tensors that need a slot: contractions, shared or heavy views, values read from loops. */
  protected analyze(): void {
    const all = reachable(this.roots);
    // values a loop carries to its next iteration: the loop emitter writes them (in place for
    // column/row/entry updates of the carry itself), so they are not "shared" views
    const carried = new Set<Node>();
    for (const n of all) {
      for (const a of n.args) this.uses.set(a, (this.uses.get(a) ?? 0) + 1);
      for (const r of n.regions) for (const x of r.results) {
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
    // a view used inside a deeper region than its home would be recomputed per iteration
    const deepUse = new Set<Node>();
    for (const n of all) {
      const hn = depth(this.sc.home.get(n) ?? null);
      for (const a of n.args) if (depth(this.sc.home.get(a) ?? null) < hn) deepUse.add(a);
      for (const r of n.regions) for (const x of r.results) if (depth(this.sc.home.get(x) ?? null) < depth(r)) deepUse.add(x);
    }
    for (const n of all) {
      if (!isTensor(n) || n.op === 'param') continue;
      const cls = wgslClass[n.op];
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
    for (const n of all) {
      if (n.op !== 'cond') continue;
      for (const a of n.args.slice(1)) if (isTensor(a) && a.op !== 'param') this.mat.add(a);
      for (const r of n.regions) for (const p of r.params) condParams.add(p);
    }
    // Operands of contractions are read many times per output element: keep them cheap.
    for (const n of all) {
      if (wgslClass[n.op] !== 'contraction' && n.op !== 'solve' && n.op !== 'trisolve') continue;
      for (const a of n.args) if (isTensor(a) && wgslClass[a.op] === 'view' && a.op !== 'outer') this.mat.add(a);
    }
    // no fused element expression nests deeper than MAX_FUSION_DEPTH (elem() recurses per level)
    const fusedClass = (n: Node) => wgslClass[n.op] === 'view' || wgslClass[n.op] === 'remap';
    capFusionDepth(all, (n) => isTensor(n) && n.op !== 'param' && !this.mat.has(n) && fusedClass(n), (n) => this.mat.add(n));
  }

  // ---- emission -----------------------------------------------------------------------------------

  protected emitRegion(r: Region | null): void {
    for (const n of this.sc.body.get(r) ?? []) this.emitNode(n);
  }

  protected materialize(n: Node, slot: number, value: (ix: string[]) => string): void {
    const e = this.fresh('e');
    const N = this.dim(numel(n.type as TensorType));
    this.block(`for (var ${e}: i32 = lid; ${e} < ${N}; ${e} = ${e} + WGI)`, () => {
      const ix = this.unflat(e, shape(n));
      this.line(`${this.slotAt(slot, e)} = ${value(ix)};`);
    });
  }

  /** Range checks of the integer operands of index operations, once per evaluation where the
   *  operation lives (the CPU program's checks, compiler/codegen/js): the first failure of an
   *  instance is recorded (which check, the index, the size) and written to the kernel's check
   *  output, which the runtime turns into MATR107. Every thread computes the same integers, so
   *  every thread records the same failure. An index the checker could not prove in range never
   *  reads a neighbouring value with ok: true (issue 12). */
  protected checkIndices(n: Node): void {
    forEachIndexCheck(n, (what, i, size) => {
      if (provablyInRange(i, size)) return;
      this.checks.push(what);
      const x = this.int(i);
      const d = this.dim(size);
      this.line(`if (oob_id == 0 && !(${x} >= 0 && ${x} < ${d})) { oob_id = ${this.checks.length}; oob_i = ${x}; oob_n = ${d}; }`);
    });
  }

  protected emitNode(n: Node): void {
    if (this.store.has(n)) return;
    if (this.roundedStoredInput(n)) return;
    if (n.op === 'param') return; // function params are bound up front; region params by their owner
    if (n.op === 'opt' || n.op === 'root' || n.op === 'custom') throw new InternalError('WGSL: declarative nodes must be expanded before code generation');
    if (isSpectral(n.op)) throw new InternalError(`WGSL: ${n.op} must be lowered by the expand stage before code generation`);
    this.checkIndices(n);
    if (isInt(n)) {
      if (n.op === 'proj') {
        this.store.set(n, (this.store.get(n.args[0]!) as { parts: Storage[] }).parts[n.attrs.index as number]!);
        return;
      }
      const name = this.fresh('i');
      const a = n.args;
      if (n.op === 'maxloc' || n.op === 'minloc') {
        // workgroup argmax (of −x for minloc); ties resolve to the smallest index
        const src = a[0]!;
        // an empty vector has no index to return: MATR170 through the check output (core/run-checks.ts)
        const len = shape(src)[0]!;
        if (!((len.constValue() ?? 0) > 0)) {
          this.checks.push(emptyArgCheck(n.op));
          const d = this.dim(len);
          this.line(`if (oob_id == 0 && !(0 < ${d})) { oob_id = ${this.checks.length}; oob_i = 0; oob_n = ${d}; }`);
        }
        const bv = this.fresh('bv');
        const bi = this.fresh('bi');
        const e = this.fresh('e');
        const sg = n.op === 'minloc' ? '-' : '';
        this.line(`var ${bv}: f32 = ${f32lit(-Infinity)};`);
        this.line(`var ${bi}: i32 = 0;`);
        this.line(`for (var ${e}: i32 = lid; ${e} < ${this.dim(shape(src)[0]!)}; ${e} = ${e} + WGI) { let v = ${sg}(${this.elem(src, [e])}); if (v > ${bv}) { ${bv} = v; ${bi} = ${e}; } }`);
        this.line(`let ${name}: i32 = wg_argmax(${bv}, ${bi}, lidu);`);
        this.store.set(n, { k: 'int', name });
        return;
      }
      const v =
        n.op === 'iconst' ? i32lit(n.attrs.value as number) : n.op === 'dim' ? this.dim(n.attrs.dim as Dim) : n.op === 'ftoi' ? `ftoi(${this.elem(a[0]!, [])})` : intOp(n.op, this.int(a[0]!), this.int(a[1]!));
      this.line(`let ${name}: i32 = ${v};`);
      this.store.set(n, { k: 'int', name });
      return;
    }
    if (n.op === 'proj') {
      const t = this.store.get(n.args[0]!);
      if (!t || t.k !== 'tuple') throw new InternalError(`WGSL: proj of %${n.args[0]!.id} before its tuple`);
      this.store.set(n, t.parts[n.attrs.index as number]!);
      return;
    }
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
    // tensors
    if (n.op === 'concat') return this.emitConcat(n);
    if (!this.mat.has(n)) {
      this.store.set(n, { k: 'view' });
      return;
    }
    const slot = this.newSlot(numel(n.type as TensorType), n, 'value');
    const cls = wgslClass[n.op];
    if (cls === 'contraction' || cls === 'reduction') this.materialize(n, slot, (ix) => this.contraction(n, ix));
    else this.materialize(n, slot, (ix) => this.elem(n, ix));
    this.barrier();
    this.store.set(n, { k: 'slot', slot });
  }

  /** Element ix of a contraction, with its inner loop emitted inline. */
  protected contraction(n: Node, ix: string[]): string {
    const acc = this.fresh('acc');
    const a = n.args;
    if (n.op === 'matmul' || n.op === 'matvec') {
      const K = this.dim(shape(a[0]!)[1]!);
      const p = this.fresh('p');
      this.line(`var ${acc}: f32 = 0.0;`);
      const rhs = n.op === 'matmul' ? this.elem(a[1]!, [p, ix[1]!]) : this.elem(a[1]!, [p]);
      this.line(`for (var ${p}: i32 = 0; ${p} < ${K}; ${p} = ${p} + 1) { ${acc} = ${acc} + ${this.elem(a[0]!, [ix[0]!, p])} * ${rhs}; }`);
      return acc;
    }
    if (n.op === 'sum' || n.op === 'rmax' || n.op === 'rmin') {
      const axis = n.attrs.axis as number;
      const len = this.dim(shape(a[0]!)[axis]!);
      const t = this.fresh('t');
      const src = [...ix.slice(0, axis), t, ...ix.slice(axis)];
      const init = n.op === 'sum' ? '0.0' : n.op === 'rmax' ? f32lit(-Infinity) : f32lit(Infinity);
      const upd = n.op === 'sum' ? `${acc} + ${this.elem(a[0]!, src)}` : `${n.op === 'rmax' ? 'max' : 'min'}(${acc}, ${this.elem(a[0]!, src)})`;
      this.line(`var ${acc}: f32 = ${init};`);
      this.line(`for (var ${t}: i32 = 0; ${t} < ${len}; ${t} = ${t} + 1) { ${acc} = ${upd}; }`);
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
      this.line(`var ${acc}: f32 = 0.0;`);
      const prod = inputs.map((s, k) => this.elem(a[k]!, [...s].map((c) => vars.get(c)!))).join(' * ') || '1.0';
      let body = `${acc} = ${acc} + ${prod};`;
      for (const c of [...summed].reverse()) {
        const v = vars.get(c)!;
        body = `for (var ${v}: i32 = 0; ${v} < ${this.dim(size.get(c)!)}; ${v} = ${v} + 1) { ${body} }`;
      }
      this.line(body);
      return acc;
    }
    throw new InternalError(`WGSL: ${n.op} is not a contraction`);
  }

  protected emitScalar(n: Node): void {
    const name = this.fresh('s');
    const a = n.args;
    if (n.op === 'dot' || (n.op === 'sum' && (n.attrs.axis as number) < 0) || n.op === 'rmax' || n.op === 'rmin') {
      const src = a[0]!;
      const N = this.dim(numel(src.type as TensorType));
      const part = this.fresh('part');
      const e = this.fresh('e');
      const kind = n.op === 'rmax' ? 'max' : n.op === 'rmin' ? 'min' : 'sum';
      const init = kind === 'sum' ? '0.0' : kind === 'max' ? f32lit(-Infinity) : f32lit(Infinity);
      this.line(`var ${part}: f32 = ${init};`);
      this.block(`for (var ${e}: i32 = lid; ${e} < ${N}; ${e} = ${e} + WGI)`, () => {
        const ix = this.unflat(e, shape(src));
        const v = n.op === 'dot' ? `${this.elem(a[0]!, ix)} * ${this.elem(a[1]!, ix)}` : this.elem(src, ix);
        this.line(kind === 'sum' ? `${part} = ${part} + ${v};` : `${part} = ${kind}(${part}, ${v});`);
      });
      this.line(`let ${name}: f32 = wg_${kind}(${part}, lidu);`);
    } else if (n.op === 'sum') {
      // axis reduction of a vector to a scalar
      this.line(`let ${name}: f32 = ${this.contraction(n, [])};`);
    } else if (n.op === 'matvec' || n.op === 'einsum' || n.op === 'matmul') {
      this.line(`let ${name}: f32 = ${this.contraction(n, [])};`);
    } else {
      this.line(`let ${name}: f32 = ${this.elem(n, [])};`);
    }
    this.store.set(n, { k: 'scalar', name });
  }

  protected emitConcat(n: Node): void {
    const slot = this.newSlot(numel(n.type as TensorType), n, 'value');
    const axis = n.attrs.axis as number;
    let off = Dim.const(0);
    for (const part of n.args) {
      const e = this.fresh('e');
      const psh = shape(part);
      const o = off;
      this.block(`for (var ${e}: i32 = lid; ${e} < ${this.dim(numel(part.type as TensorType))}; ${e} = ${e} + WGI)`, () => {
        const ix = this.unflat(e, psh);
        const dst = ix.map((x, k) => (k === axis && o.constValue() !== 0 ? `(${x} + ${this.dim(o)})` : x));
        this.line(`${this.slotAt(slot, this.flat(dst, shape(n)))} = ${this.elem(part, ix)};`);
      });
      off = off.add(psh[axis]!);
    }
    this.barrier();
    this.store.set(n, { k: 'slot', slot });
  }

  /** cond c captures… { region 0 } { region 1 } → results…: `if (flag) { … } else { … }` on a
   *  workgroup-uniform flag (every thread holds the same c; uniform_flag broadcasts it through
   *  workgroupUniformLoad, as loop exits do, so the barriers inside either branch pass WGSL's
   *  uniformity analysis). Each branch binds its region's parameters to the captures' storage, runs
   *  the region and writes its results into the cond's storage, declared before the branch (a slot
   *  per tensor, a `var` per scalar or int); a barrier follows. */
  protected emitCond(n: Node): void {
    const elems = (n.type as TupleType).elems as TensorType[];
    const parts: Storage[] = elems.map((t, i) => {
      if (t.shape.length > 0) return { k: 'slot', slot: this.newSlot(numel(t), n.regions[0]!.results[i]!, 'value') };
      const name = this.fresh(t.dtype === 'i' ? 'ri' : 'rs');
      this.line(t.dtype === 'i' ? `var ${name}: i32 = 0;` : `var ${name}: f32 = 0.0;`);
      return t.dtype === 'i' ? { k: 'int', name } : { k: 'scalar', name };
    });
    const flag = this.fresh('take');
    this.line(`let ${flag}: i32 = uniform_flag(${this.elem(n.args[0]!, [])}, lidu);`);
    const branch = (r: Region): void => {
      const prev = this.ind;
      this.ind += '  ';
      r.params.forEach((p, i) => {
        const st = this.store.get(n.args[i + 1]!);
        if (!st || st.k === 'view' || st.k === 'tuple') throw new InternalError(`WGSL: capture %${n.args[i + 1]!.id} of cond %${n.id} has no storage`);
        this.store.set(p, st);
      });
      this.emitRegion(r);
      r.results.forEach((x, i) => {
        const part = parts[i]!;
        if (part.k === 'slot') this.materialize(x, part.slot, (ix) => this.elem(x, ix));
        else if (part.k === 'int') this.line(`${part.name} = ${this.int(x)};`);
        else if (part.k === 'scalar') this.line(`${part.name} = ${this.elem(x, [])};`);
      });
      this.ind = prev;
    };
    this.line(`if (${flag} != 0) {`);
    branch(n.regions[0]!);
    this.line('} else {');
    branch(n.regions[1]!);
    this.line('}');
    if (parts.some((p) => p.k === 'slot')) this.barrier();
    this.store.set(n, { k: 'tuple', parts });
  }

  /** loop lo hi inits… { (i, c…) → (c'…, done) } → (c…, iterations, converged) */
  protected emitLoop(n: Node): void {
    const r = n.regions[0]!;
    const k = n.args.length - 2;
    // bounds computed from data (ftoi, maxloc) are uniform only once broadcast through workgroup
    // memory, which the barriers inside the loop need
    const bound = (x: Node): string => {
      const v = this.int(x);
      if (!dataInt(x)) return v;
      const u = this.fresh('ub');
      this.line(`let ${u}: i32 = uniform_int(${v}, lidu);`);
      return u;
    };
    const lo = bound(n.args[0]!);
    const hi = bound(n.args[1]!);
    const carries: Storage[] = [];
    for (let c = 0; c < k; c++) {
      const init = n.args[c + 2]!;
      if (isTensor(init)) {
        const slot = this.newSlot(numel(init.type as TensorType), r.params[c + 1]!, 'loop carry');
        this.materialize(init, slot, (ix) => this.elem(init, ix));
        carries.push({ k: 'slot', slot });
      } else if (isInt(init)) {
        const name = this.fresh('ci');
        this.line(`var ${name}: i32 = ${this.int(init)};`);
        carries.push({ k: 'int', name });
      } else {
        const name = this.fresh('cs');
        this.line(`var ${name}: f32 = ${this.elem(init, [])};`);
        carries.push({ k: 'scalar', name });
      }
    }
    if (carries.some((c) => c.k === 'slot')) this.barrier();
    const it = this.fresh('it');
    const cv = this.fresh('cv');
    const hasUntil = n.attrs.hasUntil === true;
    this.line(`var ${it}: i32 = 0;`);
    this.line(`var ${cv}: f32 = ${hasUntil ? '0.0' : '1.0'};`);
    const s = this.fresh('step');
    r.params.slice(1).forEach((p, c) => this.store.set(p, carries[c]!));
    this.block(`for (var ${s}: i32 = 0; ${s} < ${hi} - ${lo}; ${s} = ${s} + 1)`, () => {
      const iname = this.fresh('i');
      this.line(`let ${iname}: i32 = ${n.attrs.reverse === true ? `${hi} - 1 - ${s}` : `${lo} + ${s}`};`);
      this.store.set(r.params[0]!, { k: 'int', name: iname });
      this.emitRegion(r);
      const next = r.results.slice(0, k);
      const done = r.results[k]!;
      const doneExpr = this.elem(done, []);
      const doneName = this.fresh('done');
      this.line(`let ${doneName}: f32 = ${doneExpr};`);
      // Phase A: new tensor values that are views of the carries are written to temporaries,
      // except in-place column/row/entry updates of the carry itself.
      const plan: { c: number; kind: 'skip' | 'inplace' | 'chain' | 'elementwise' | 'copy'; src?: Storage; node: Node; links?: Node[] }[] = [];
      let tempWritten = false;
      // written values of update chains that read carries, evaluated before any carry is written
      const temps = new Map<Node, { k: 'slot'; slot: number } | { k: 'scalar'; name: string }>();
      const carryParams = new Set(r.params.slice(1));
      const { settled, sameIndex } = this.carryReads(carryParams);
      next.forEach((x, c) => {
        const carry = carries[c]!;
        const param = r.params[c + 1]!;
        if (x === param) return plan.push({ c, kind: 'skip', node: x });
        if (carry.k !== 'slot') return plan.push({ c, kind: 'copy', node: x });
        if ((x.op === 'setcol' || x.op === 'setrow' || x.op === 'setindex') && x.args[0] === param && !this.mat.has(x)) {
          const v = x.args[x.args.length - 1]!;
          if (settled(v)) return plan.push({ c, kind: 'inplace', node: x });
        }
        // a chain of column/row/entry updates of the carry (a Jacobi rotation's two columns and two
        // rows): written in place link by link after the values that read carries are in
        // line-sized temporaries, instead of a whole-matrix temporary and copy
        const links = this.updateChain(x, param);
        if (links && links.every((l) => l.args.slice(1, -1).every(settled))) {
          for (const l of links) {
            const v = l.args[l.args.length - 1]!;
            if (settled(v) || temps.has(v)) continue;
            if (shape(v).length === 0) {
              const nm = this.fresh('tv');
              this.line(`let ${nm}: f32 = ${this.elem(v, [])};`);
              temps.set(v, { k: 'scalar', name: nm });
            } else {
              const tmp = this.newSlot(numel(v.type as TensorType), n, 'step temporary');
              this.materialize(v, tmp, (ix) => this.elem(v, ix));
              tempWritten = true;
              temps.set(v, { k: 'slot', slot: tmp });
            }
          }
          return plan.push({ c, kind: 'chain', node: x, links });
        }
        // an elementwise update of the carry by itself (R ← R − 2 v wᵀ): written in place
        const xs = this.store.get(x);
        if ((!xs || xs.k === 'view') && !this.mat.has(x) && sameIndex(x, param)) return plan.push({ c, kind: 'elementwise', node: x });
        const st = this.store.get(x);
        const readsCarry = r.params.slice(1).some((p) => p !== x && freeParams(x).has(p));
        if (st && st.k === 'slot' && !carries.some((cc) => cc === st)) return plan.push({ c, kind: 'copy', src: st, node: x });
        if (st && st.k === 'input') return plan.push({ c, kind: 'copy', src: st, node: x });
        // a view (or a carry slot): evaluate into a temporary first
        const tmp = this.newSlot(numel(x.type as TensorType), n, 'step temporary');
        this.materialize(x, tmp, (ix) => this.elem(x, ix));
        tempWritten = true;
        void readsCarry;
        return plan.push({ c, kind: 'copy', src: { k: 'slot', slot: tmp }, node: x });
      });
      if (tempWritten) this.barrier();
      // scalar and int carries: compute all new values before assigning any
      const newNames: (string | null)[] = next.map((x, c) => {
        const carry = carries[c]!;
        if (carry.k === 'slot' || x === r.params[c + 1]) return null;
        const nm = this.fresh('nx');
        this.line(carry.k === 'int' ? `let ${nm}: i32 = ${this.int(x)};` : `let ${nm}: f32 = ${this.elem(x, [])};`);
        return nm;
      });
      let wrote = false;
      // in-place updates read the old values of other carries: run them before any copy
      // overwrites a carry, with a barrier between the two groups
      const early = (k: string) => (k === 'inplace' || k === 'chain' || k === 'elementwise' ? 0 : 1);
      plan.sort((a, b) => early(a.kind) - early(b.kind));
      const firstCopy = plan.findIndex((p) => p.kind === 'copy' && carries[p.c]!.k === 'slot');
      const anyInplace = plan.some((p) => p.kind === 'inplace' || p.kind === 'chain' || p.kind === 'elementwise');
      for (const [pi, p] of plan.entries()) {
        if (pi === firstCopy && anyInplace) this.barrier();
        const carry = carries[p.c]!;
        if (carry.k !== 'slot') {
          if (newNames[p.c]) this.line(`${(carry as { name: string }).name} = ${newNames[p.c]};`);
          continue;
        }
        if (p.kind === 'skip') continue;
        wrote = true;
        const x = p.node;
        if (p.kind === 'elementwise') {
          // the carry's own slot is x's only reader of the carry, at the same element
          this.store.set(x, { k: 'view' });
          this.materialize(x, carry.slot, (ix) => this.elem(x, ix));
          continue;
        }
        if (p.kind === 'chain') {
          // Every entry is written once, by the last link that covers it (an earlier link skips
          // the entries a later one overwrites), so the links need no barriers between them: the
          // invocations writing a column and a row that cross are different ones.
          const links = p.links!;
          const sh = shape(x);
          const pos = links.map((l) => (l.op === 'setindex' ? l.args.slice(1, -1).map((q) => this.int(q)) : [this.int(l.args[1]!)]));
          const laterCovers = (li: number, r: string, c: string): string => {
            const conds: string[] = [];
            for (let j = li + 1; j < links.length; j++) {
              const l = links[j]!;
              if (l.op === 'setcol') conds.push(`${c} == ${pos[j]![0]}`);
              else if (l.op === 'setrow') conds.push(`${r} == ${pos[j]![0]}`);
              else conds.push(sh.length === 2 ? `(${r} == ${pos[j]![0]} && ${c} == ${pos[j]![1]})` : `${r} == ${pos[j]![0]}`);
            }
            return conds.length ? `!(${conds.join(' || ')})` : 'true';
          };
          links.forEach((l, li) => {
            const v = l.args[l.args.length - 1]!;
            const tv = temps.get(v);
            if (l.op === 'setindex') {
              const idx = pos[li]!;
              const keep = laterCovers(li, idx[0]!, idx[1] ?? '0');
              this.line(`if (lid == 0 && ${keep}) { ${this.slotAt(carry.slot, this.flat(idx, sh))} = ${tv?.k === 'scalar' ? tv.name : this.elem(v, [])}; }`);
              return;
            }
            const t = this.fresh('t');
            const len = l.op === 'setcol' ? sh[0]! : sh[1]!;
            const at = pos[li]![0]!;
            const [r, c] = l.op === 'setcol' ? [t, at] : [at, t];
            const val = tv?.k === 'slot' ? this.slotAt(tv.slot, t) : this.elem(v, [t]);
            const keep = laterCovers(li, r, c);
            this.line(`for (var ${t}: i32 = lid; ${t} < ${this.dim(len)}; ${t} = ${t} + WGI) { if (${keep}) { ${this.slotAt(carry.slot, this.flat([r, c], sh))} = ${val}; } }`);
          });
          continue;
        }
        if (p.kind === 'inplace') {
          const sh = shape(x);
          const v = x.args[x.args.length - 1]!;
          if (x.op === 'setindex') {
            const idx = x.args.slice(1, -1).map((q) => this.int(q));
            this.line(`if (lid == 0) { ${this.slotAt(carry.slot, this.flat(idx, sh))} = ${this.elem(v, [])}; }`);
          } else {
            const t = this.fresh('t');
            const len = x.op === 'setcol' ? sh[0]! : sh[1]!;
            const pos = this.int(x.args[1]!);
            const ix = x.op === 'setcol' ? [t, pos] : [pos, t];
            this.line(`for (var ${t}: i32 = lid; ${t} < ${this.dim(len)}; ${t} = ${t} + WGI) { ${this.slotAt(carry.slot, this.flat(ix, sh))} = ${this.elem(v, [t])}; }`);
          }
          continue;
        }
        const e = this.fresh('e');
        const src = p.src!;
        const N = this.dim(numel(x.type as TensorType));
        const read = src.k === 'slot' ? this.slotAt(src.slot, e) : this.inputAt((src as { index: number }).index, e);
        this.line(`for (var ${e}: i32 = lid; ${e} < ${N}; ${e} = ${e} + WGI) { ${this.slotAt(carry.slot, e)} = ${read}; }`);
      }
      if (wrote) this.barrier();
      this.line(`${it} = ${it} + 1;`);
      if (hasUntil) {
        this.line(`if (uniform_flag(${doneName}, lidu) != 0) { ${cv} = 1.0; break; }`);
      }
    });
    this.store.set(n, { k: 'tuple', parts: [...carries, { k: 'int', name: it }, { k: 'scalar', name: cv }] });
  }

  /** What a loop step may read while its carries are overwritten (shared by the grid model's
   *  host loops): `settled(x)` — x was computed this iteration (a slot, a private) or is free of
   *  every carry, so it can be read at any index; `sameIndex(x, param)` — x reads `param` only at
   *  the element it writes and nothing else being overwritten. */
  protected carryReads(carryParams: ReadonlySet<Node>): { settled: (x: Node) => boolean; sameIndex: (x: Node, param: Node) => boolean } {
    const settled = (x: Node): boolean => {
      if (this.storedOnce(x) && !carryParams.has(x)) return true;
      for (const p of freeParams(x)) if (carryParams.has(p)) return false;
      return this.settledWithoutCarries(x);
    };
    const sameIndex = (x: Node, param: Node): boolean => {
      if (x === param) return true;
      if (settled(x)) return true;
      if (this.store.has(x) && this.store.get(x)!.k !== 'view') return false;
      if (wgslClass[x.op] === 'view' && !['index', 'setcol', 'setrow', 'setindex'].includes(x.op)) return x.args.every((a) => sameIndex(a, param));
      if (x.op === 'tril' || x.op === 'triu' || x.op === 'nograd') return sameIndex(x.args[0]!, param);
      if (x.op === 'setcol' || x.op === 'setrow' || x.op === 'setindex') return sameIndex(x.args[0]!, param) && x.args.slice(1).every(settled);
      return false;
    };
    return { settled, sameIndex };
  }

  /** x holds a value computed once (a slot, a private), not an element expression */
  protected storedOnce(x: Node): boolean {
    const st = this.store.get(x);
    return !!st && st.k !== 'view';
  }

  /** whether a node free of every carry (and not stored) may be read while carries change */
  protected settledWithoutCarries(_x: Node): boolean {
    return true;
  }

  /** The update chain from x down to the carry param (codegen/update-chain.ts): links neither
   *  materialized nor stored other than as a view. */
  protected updateChain(x: Node, param: Node): Node[] | null {
    return updateChain(x, param, (l) => {
      const st = this.store.get(l);
      return !this.mat.has(l) && (!st || st.k === 'view');
    });
  }

  /** X = A⁻¹B by LU with partial pivoting in scratch; rcond = min|uᵢᵢ| / max|uᵢᵢ| (0 if singular). */
  protected emitSolve(n: Node): void {
    const [A, B] = n.args as [Node, Node];
    const nn = shape(A)[0]!;
    const nrhs = shape(B).length === 1 ? Dim.const(1) : shape(B)[1]!;
    const N = this.dim(nn);
    const R = this.dim(nrhs);
    const M = this.newSlot(nn.mul(nn), n, 'LU factors');
    const X = this.newSlot(nn.mul(nrhs), n, 'solution');
    this.materialize(A, M, (ix) => this.elem(A, ix));
    const bsh = shape(B);
    const e0 = this.fresh('e');
    this.block(`for (var ${e0}: i32 = lid; ${e0} < ${N} * ${R}; ${e0} = ${e0} + WGI)`, () => {
      const ix = bsh.length === 1 ? [e0] : this.unflat(e0, bsh);
      this.line(`${this.slotAt(X, e0)} = ${this.elem(B, ix)};`);
    });
    this.barrier();
    const m = (r: string, c: string) => this.slotAt(M, `(${r}) * ${N} + ${c}`);
    const x = (r: string, c: string) => this.slotAt(X, `(${r}) * ${R} + ${c}`);
    const scale = this.fresh('scale');
    const part = this.fresh('part');
    const e = this.fresh('e');
    this.line(`var ${part}: f32 = 0.0;`);
    this.line(`for (var ${e}: i32 = lid; ${e} < ${N} * ${N}; ${e} = ${e} + WGI) { ${part} = max(${part}, abs(${this.slotAt(M, e)})); }`);
    this.line(`let ${scale}: f32 = max(wg_max(${part}, lidu), 1e-30);`);
    const mx = this.fresh('mx');
    const mn = this.fresh('mn');
    const sg = this.fresh('sg');
    this.line(`var ${mx}: f32 = 0.0;`);
    this.line(`var ${mn}: f32 = ${f32lit(Infinity)};`);
    this.line(`var ${sg}: bool = false;`);
    const c = this.fresh('c');
    this.block(`for (var ${c}: i32 = 0; ${c} < ${N}; ${c} = ${c} + 1)`, () => {
      const bv = this.fresh('bv');
      const bi = this.fresh('bi');
      const r = this.fresh('r');
      this.line(`var ${bv}: f32 = -1.0;`);
      this.line(`var ${bi}: i32 = ${c};`);
      this.line(`for (var ${r}: i32 = ${c} + lid; ${r} < ${N}; ${r} = ${r} + WGI) { let v = abs(${m(r, c)}); if (v > ${bv}) { ${bv} = v; ${bi} = ${r}; } }`);
      const p = this.fresh('piv');
      this.line(`let ${p}: i32 = wg_argmax(${bv}, ${bi}, lidu);`);
      const j = this.fresh('j');
      this.block(`if (${p} != ${c})`, () => {
        this.line(`for (var ${j}: i32 = lid; ${j} < ${N}; ${j} = ${j} + WGI) { let t = ${m(c, j)}; ${m(c, j)} = ${m(p, j)}; ${m(p, j)} = t; }`);
        this.line(`for (var ${j}: i32 = lid; ${j} < ${R}; ${j} = ${j} + WGI) { let t = ${x(c, j)}; ${x(c, j)} = ${x(p, j)}; ${x(p, j)} = t; }`);
      });
      this.barrier();
      const pv = this.fresh('pv');
      this.line(`var ${pv}: f32 = ${m(c, c)};`);
      this.line(`if (!(abs(${pv}) > 1e-30 * ${scale})) { ${pv} = ${scale} * 1e-7; ${sg} = true; }`);
      this.line(`${mx} = max(${mx}, abs(${pv}));`);
      this.line(`${mn} = min(${mn}, abs(${pv}));`);
      this.barrier();
      this.line(`if (lid == 0) { ${m(c, c)} = ${pv}; }`);
      const rr = this.fresh('r');
      this.line(`for (var ${rr}: i32 = ${c} + 1 + lid; ${rr} < ${N}; ${rr} = ${rr} + WGI) { ${m(rr, c)} = ${m(rr, c)} / ${pv}; }`);
      this.barrier();
      const w = this.fresh('w');
      const t = this.fresh('t');
      this.line(`let ${w}: i32 = ${N} - ${c} - 1;`);
      this.line(`for (var ${t}: i32 = lid; ${t} < ${w} * ${w}; ${t} = ${t} + WGI) { let rr = ${c} + 1 + ${t} / ${w}; let jj = ${c} + 1 + ${t} % ${w}; ${m('rr', 'jj')} = ${m('rr', 'jj')} - ${m('rr', c)} * ${m(c, 'jj')}; }`);
      this.line(`for (var ${t}: i32 = lid; ${t} < ${w} * ${R}; ${t} = ${t} + WGI) { let rr = ${c} + 1 + ${t} / ${R}; let jj = ${t} % ${R}; ${x('rr', 'jj')} = ${x('rr', 'jj')} - ${m('rr', c)} * ${x(c, 'jj')}; }`);
      this.barrier();
    });
    // back substitution, column-oriented
    const cb = this.fresh('c');
    this.block(`for (var ${cb}: i32 = ${N} - 1; ${cb} >= 0; ${cb} = ${cb} - 1)`, () => {
      const j = this.fresh('j');
      this.line(`for (var ${j}: i32 = lid; ${j} < ${R}; ${j} = ${j} + WGI) { ${x(cb, j)} = ${x(cb, j)} / ${m(cb, cb)}; }`);
      this.barrier();
      const t = this.fresh('t');
      this.line(`for (var ${t}: i32 = lid; ${t} < ${cb} * ${R}; ${t} = ${t} + WGI) { let rr = ${t} / ${R}; let jj = ${t} % ${R}; ${x('rr', 'jj')} = ${x('rr', 'jj')} - ${m('rr', cb)} * ${x(cb, 'jj')}; }`);
      this.barrier();
    });
    const rc = this.fresh('rc');
    // a 0×0 system has rcond 1, as on the CPU (min and max over no pivots are +∞ and 0)
    this.line(`let ${rc}: f32 = select(select(${mn} / max(${mx}, 1e-30), 0.0, ${sg}), 1.0, ${N} == 0);`);
    this.store.set(n, { k: 'tuple', parts: [{ k: 'slot', slot: X }, { k: 'scalar', name: rc }] });
  }

  /** Triangular solve by column-oriented substitution in a scratch copy of B. */
  protected emitTrisolve(n: Node): void {
    const [T, B] = n.args as [Node, Node];
    const { lower, trans, unit } = n.attrs as { lower: boolean; trans: boolean; unit: boolean };
    const left = n.attrs.left !== false;
    const nn = shape(T)[0]!;
    const bsh = shape(B);
    const X = this.newSlot(numel(B.type as TensorType), n, 'solution');
    this.materialize(B, X, (ix) => this.elem(B, ix));
    this.barrier();
    const N = this.dim(nn);
    // op(T)[i, j]
    const t = (i: string, j: string) => (trans ? this.elem(T, [j, i]) : this.elem(T, [i, j]));
    const effLower = lower !== trans;
    if (left) {
      // op(T) X = B: rows of X, columns = right-hand sides
      const R = bsh.length === 1 ? '1' : this.dim(bsh[1]!);
      const x = (r: string, c: string) => this.slotAt(X, bsh.length === 1 ? r : `(${r}) * ${R} + ${c}`);
      const c = this.fresh('c');
      const head = effLower ? `for (var ${c}: i32 = 0; ${c} < ${N}; ${c} = ${c} + 1)` : `for (var ${c}: i32 = ${N} - 1; ${c} >= 0; ${c} = ${c} - 1)`;
      this.block(head, () => {
        const j = this.fresh('j');
        if (!unit) {
          this.line(`for (var ${j}: i32 = lid; ${j} < ${R}; ${j} = ${j} + WGI) { ${x(c, j)} = ${x(c, j)} / ${t(c, c)}; }`);
          this.barrier();
        }
        const q = this.fresh('q');
        const rows = effLower ? `(${N} - ${c} - 1)` : c;
        const row = effLower ? `${c} + 1 + ${q} / ${R}` : `${q} / ${R}`;
        this.line(`for (var ${q}: i32 = lid; ${q} < ${rows} * ${R}; ${q} = ${q} + WGI) { let rr = ${row}; let jj = ${q} % ${R}; ${x('rr', 'jj')} = ${x('rr', 'jj')} - ${t('rr', c)} * ${x(c, 'jj')}; }`);
        this.barrier();
      });
    } else {
      // X op(T) = B: columns of X; column c depends on earlier columns when op(T) is upper
      const Mr = this.dim(bsh[0]!);
      const x = (r: string, c: string) => this.slotAt(X, `(${r}) * ${N} + ${c}`);
      const forward = !effLower;
      const c = this.fresh('c');
      const head = forward ? `for (var ${c}: i32 = 0; ${c} < ${N}; ${c} = ${c} + 1)` : `for (var ${c}: i32 = ${N} - 1; ${c} >= 0; ${c} = ${c} - 1)`;
      this.block(head, () => {
        const i = this.fresh('i');
        if (!unit) {
          this.line(`for (var ${i}: i32 = lid; ${i} < ${Mr}; ${i} = ${i} + WGI) { ${x(i, c)} = ${x(i, c)} / ${t(c, c)}; }`);
          this.barrier();
        }
        const q = this.fresh('q');
        const cols = forward ? `(${N} - ${c} - 1)` : c;
        const col = forward ? `${c} + 1 + ${q} % (${N} - ${c} - 1)` : `${q} % max(${c}, 1)`;
        const rowOf = forward ? `${q} / (${N} - ${c} - 1)` : `${q} / max(${c}, 1)`;
        this.line(`for (var ${q}: i32 = lid; ${q} < ${cols} * ${Mr}; ${q} = ${q} + WGI) { let ii = ${rowOf}; let jj = ${col}; ${x('ii', 'jj')} = ${x('ii', 'jj')} - ${x('ii', c)} * ${t(c, 'jj')}; }`);
        this.barrier();
      });
    }
    this.store.set(n, { k: 'slot', slot: X });
  }

  // ---- the kernel ------------------------------------------------------------------------------------

  /** The status fields a kernel writes (per entry: iterations, converged, the residual if any);
   *  sets the roots and scopes of the function and analyzes it. */
  protected prepare(): { name: string; status: number; field: 'iterations' | 'converged' | 'residual'; node: Node }[] {
    const f = this.f;
    const statusNodes = f.status.flatMap((s, status) => [
      { name: s.name, status, field: 'iterations' as const, node: s.iterations },
      { name: s.name, status, field: 'converged' as const, node: s.converged },
      ...(s.residual ? [{ name: s.name, status, field: 'residual' as const, node: s.residual }] : []),
    ]);
    this.roots = [...f.results.map((r) => r.node), ...statusNodes.map((s) => s.node)];
    this.sc = scopes(this.roots);
    this.analyze();
    return statusNodes;
  }

  run(): InstanceKernelSpec {
    const f = this.f;
    const statusNodes = this.prepare();
    const body = this.out;
    const storage = this.storage();
    f.params.forEach((p, i) => {
      const t = p.node.type as TensorType;
      this.inputs.push({ name: p.name, size: numel(t).toString(), kind: 'result', shape: t.shape.map((d) => d.toString()), ...(t.dtype === 'i' ? { int: true } : {}), ...(storage.params[i] ? { half: storage.params[i] } : {}) });
      this.store.set(p.node, { k: 'input', index: i });
      if (t.dtype === 'i') {
        // an int parameter (int state): its i32 bits, packed by the host (KernelIO.int)
        const name = this.fresh('p');
        this.line(`let ${name}: i32 = bitcast<i32>(IN[IO${i} + inst * IS${i}]);`);
        this.store.set(p.node, { k: 'int', name });
      }
    });
    this.emitRegion(null);
    // outputs
    const outLines: string[] = [];
    this.out = outLines;
    f.results.forEach((r, i) => {
      const t = r.node.type as TensorType;
      this.outputs.push({ name: r.name, size: numel(t).toString(), kind: 'result', shape: t.shape.map((d) => d.toString()), ...(t.dtype === 'i' ? { int: true } : {}), ...(storage.results[i] ? { half: storage.results[i] } : {}) });
      const N = this.dim(numel(t));
      const e = this.fresh('e');
      const half = storage.results[i];
      // a 16-bit result: one invocation a word, two values to it
      if (half) {
        const w = this.fresh('w');
        this.block(`for (var ${w}: i32 = lid; ${w} < (${N} + 1) / 2; ${w} = ${w} + WGI)`, () => this.packedWord(i, half, N, w, (x) => this.valueOf(r.node, t.shape.length ? this.unflat(x, t.shape) : [])));
      }
      // an int result (int state): its i32 bits, unpacked by the host (KernelIO.int)
      else if (t.dtype === 'i') this.line(`if (lid == 0) { OUT[OO${i} + inst] = bitcast<f32>(${this.int(r.node)}); }`);
      else if (t.shape.length === 0) this.line(`if (lid == 0) { OUT[OO${i} + inst] = ${this.valueOf(r.node, [])}; }`);
      else this.line(`for (var ${e}: i32 = lid; ${e} < ${N}; ${e} = ${e} + WGI) { OUT[OO${i} + inst * ${N} + ${e}] = ${this.valueOf(r.node, this.unflat(e, t.shape))}; }`);
    });
    statusNodes.forEach((s, k) => {
      const i = f.results.length + k;
      this.outputs.push({ name: s.name, size: '1', kind: 'status', status: s.status, field: s.field });
      this.line(`if (lid == 0) { OUT[OO${i} + inst] = ${this.valueOf(s.node, [])}; }`);
    });
    if (this.checks.length) {
      const i = this.outputs.length;
      this.outputs.push({ name: 'index checks', size: '3', kind: 'check' });
      this.line(`if (lid == 0) { OUT[OO${i} + inst * 3] = f32(oob_id); OUT[OO${i} + inst * 3 + 1] = f32(oob_i); OUT[OO${i} + inst * 3 + 2] = f32(oob_n); }`);
    }
    this.out = body;
    return this.assemble(outLines);
  }

  /** The 16-bit storage of the function's inputs and results (compiler/opt/lowp-storage.ts), or
   *  none when MATC_HALF_STORAGE=0 (A/B runs, the tests' f32 comparison). */
  protected storage(): { params: (StorageFormat | undefined)[]; results: (StorageFormat | undefined)[] } {
    if (process.env.MATC_HALF_STORAGE === '0') return { params: [], results: [] };
    return storageOf(this.f);
  }

  /** A rounding of an input held in that format is the input itself (the rounding is the
   *  identity on its values): read from the input, never materialized. */
  protected roundedStoredInput(n: Node): boolean {
    if (n.op !== 'half' && n.op !== 'bfloat') return false;
    const st = this.store.get(n.args[0]!);
    if (st?.k !== 'input' || this.inputs[st.index]?.half !== (n.op === 'half' ? 'f16' : 'bf16')) return false;
    this.store.set(n, st);
    return true;
  }

  /** Element `e` (a flat i32 index) of input i: its f32 word, or its 16-bit value decoded. */
  protected inputAt(i: number, e: string): string {
    const io = this.inputs[i]!;
    const base = `IO${i} + inst * IS${i}`;
    if (!io.half) return `IN[${base} + ${e}]`;
    return `${io.half === 'f16' ? 'h16' : 'b16'}_dec(in_half(${base}, ${e}))`;
  }

  /** The body writing word `w` of 16-bit result i (n values an instance, `value(x)` the value of
   *  flat element x): elements 2w and 2w + 1 (the high half zero past the end). */
  protected packedWord(i: number, fmt: StorageFormat, n: string, w: string, value: (x: string) => string): void {
    const [e0, e1] = [this.fresh('e'), this.fresh('e')];
    const enc = fmt === 'f16' ? 'h16_enc' : 'b16_enc';
    this.line(`let ${e0}: i32 = 2 * ${w};`);
    this.line(`let ${e1}: i32 = min(${e0} + 1, ${n} - 1);`);
    this.line(`let ${e0}v: f32 = ${value(e0)};`);
    this.line(`let ${e1}v: f32 = ${value(e1)};`);
    this.line(`OUT[OO${i} + inst * ((${n} + 1) / 2) + ${w}] = bitcast<f32>(${enc}(${e0}v) | select(${enc}(${e1}v) << 16u, 0u, ${e0} + 1 >= ${n}));`);
  }

  protected valueOf(n: Node, ix: string[]): string {
    if (isInt(n)) return `f32(${this.int(n)})`;
    return this.elem(n, ix);
  }

  /** The uniform-table reads every kernel of this function starts with (dimensions, slot
   *  offsets, input and output placement). */
  protected prelude(): string[] {
    const spec = { dims: this.dimList, slots: this.slots, inputs: this.inputs };
    const { dimBase, slotBase, inBase, outBase } = uniformIndex(spec);
    const pre: string[] = [];
    this.dimList.forEach((_, i) => pre.push(`  let D${i}: i32 = ui(${dimBase + i});`));
    this.slots.forEach((_, i) => pre.push(`  let SO${i}: i32 = ui(${slotBase + i});`));
    this.inputs.forEach((_, i) => pre.push(`  let IO${i}: i32 = ui(${inBase + 2 * i});`, `  let IS${i}: i32 = ui(${inBase + 2 * i + 1});`));
    this.outputs.forEach((_, i) => pre.push(`  let OO${i}: i32 = ui(${outBase + i});`));
    return pre;
  }

  /** The module header every kernel of this function shares: the uniform table, the four
   *  bindings, workgroup memory for reductions and the helpers. */
  protected moduleHeader(title: string): string {
    const spec = { dims: this.dimList, slots: this.slots, inputs: this.inputs };
    const { outBase } = uniformIndex(spec);
    const nUni = outBase + this.outputs.length;
    const nVec = Math.ceil(nUni / 4) + 1;
    const wg = this.wg;
    const sg = this.subgroups;
    return `${sg ? 'enable subgroups;\n' : ''}// ${title}
struct Uni { v: array<vec4<i32>, ${nVec}>, }
@group(0) @binding(0) var<uniform> U: Uni;
@group(0) @binding(1) var<storage, read_write> S: array<f32>;
@group(0) @binding(2) var<storage, read> IN: array<f32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
const WG: u32 = ${wg}u;
const WGI: i32 = ${wg};
var<workgroup> red: array<f32, ${wg}>;
var<workgroup> redi: array<i32, ${wg}>;
var<workgroup> wflag: i32;
var<workgroup> wint: i32;
${sg ? 'var<private> sg_lane: u32;\nvar<private> sg_size: u32;' : ''}
${WGSL_HELPERS}
${this.usesHalf() ? HALF_IO_WGSL : ''}${this.usesRandom ? RANDOM_WGSL : ''}
${reductionHelpers(sg)}`;
  }

  /** Some input or output travels in 16 bits (KernelIO.half). */
  protected usesHalf(): boolean {
    return [...this.inputs, ...this.outputs].some((x) => x.half);
  }

  /** The entry point's parameters (workgroup id, grid size, local index, subgroup lane). */
  protected entryParams(): string {
    return `@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidu: u32${this.subgroups ? ', @builtin(subgroup_invocation_id) sgl: u32, @builtin(subgroup_size) sgs: u32' : ''}`;
  }

  protected specFields(wgsl: string): InstanceKernelSpec {
    return {
      wgsl,
      entryPoint: 'main',
      workgroupSize: this.wg,
      ...(this.subgroups ? { features: ['subgroups'] } : {}),
      dims: this.dimList.map((d) => d.toString()),
      slots: this.slots.map((d) => d.toString()),
      inputs: this.inputs,
      outputs: this.outputs,
      ...(this.checks.length ? { checks: this.checks } : {}),
    };
  }

  /** Liveness planning of the scratch (slot-pack.ts): slots renamed in the body, the slot table
   *  and the slot notes replaced by the packed ones. */
  protected packSlotsOf(outLines: string[]): string[] {
    const packing = packSlots([...this.out, ...outLines], this.slots);
    this.out = renameSlots(this.out, packing.map);
    if (this.notes) {
      const old = [...this.notes];
      this.notes.length = 0;
      for (const ms of packing.members) {
        const head = old[ms[0]!];
        if (head) this.notes.push(ms.length > 1 ? { ...head, also: ms.slice(1).flatMap((m) => (old[m] ? [old[m]!] : [])) } : head);
      }
    }
    this.slots = packing.sizes;
    return renameSlots(outLines, packing.map);
  }

  protected assemble(outLines: string[]): InstanceKernelSpec {
    if (this.packScratch) outLines = this.packSlotsOf(outLines);
    const pre = this.prelude();
    const wg = this.wg;
    const sg = this.subgroups;
    const wgsl = `${this.moduleHeader(`matc instance kernel for ${this.f.name}: one workgroup per problem instance`)}
@compute @workgroup_size(${wg})
fn main(${this.entryParams()}) {
${sg ? '  sg_lane = sgl;\n  sg_size = sgs;\n' : ''}  let inst: i32 = i32(wid.x + wid.y * nwg.x);
  if (inst >= ui(0)) { return; }
  let lid: i32 = i32(lidu);
  let b0: i32 = inst * ui(1);
${pre.join('\n')}
${this.checks.length ? '  var oob_id: i32 = 0;\n  var oob_i: i32 = 0;\n  var oob_n: i32 = 0;\n' : ''}${this.out.join('\n')}
${outLines.join('\n')}
}
`;
    return this.specFields(wgsl);
  }
}

export { shapeEquals };
