// The grid model's code generator: one IR function as a sequence of kernels over the same four
// buffers as its instance kernel (uniform table, per-instance scratch, packed inputs, packed
// outputs; core/instance-layout.ts), so that one large problem instance spreads over many
// workgroups instead of running in one.
//
// Every op has a strategy (`gridStrategy`, the per-op table):
//   - 'fuse'      element expressions (elementwise, broadcasts, index remaps, views of carries) are
//                 fused into the kernel that consumes them, as in the instance model;
//   - 'elements'  a materialized tensor is one launch of ⌈N/WG⌉ × B workgroups, one invocation per
//                 element (grid-stride), its inner loop inline for contractions and axis
//                 reductions (matmul, matvec, einsum, sum along an axis);
//   - 'segment'   the op runs as instance-model code (compiler/codegen/wgsl/instance.ts) in a launch
//                 of one workgroup per instance: whole-tensor reductions to a scalar (workgroup
//                 trees), argmax, LU `solve`, triangular solves, branches, loops whose trip count is
//                 known only from data. Its scalar and integer results are spilled to scratch for
//                 the launches that follow;
//   - 'host-loop' an `iterate`/`until` loop whose trip count is a dimension expression becomes a
//                 schedule loop (core/schedule.ts): its body's launches are recorded once per
//                 iteration into the same submission; the iteration counter, the loop index and
//                 the per-instance 'stopped' flag live in scratch, and every launch of an `until`
//                 body returns at once for instances that have stopped;
//   - 'guarded'   a branch (`cond`): its flag is computed once per instance into scratch, then the
//                 launches of both regions are recorded in order, each guarded by the flag (a
//                 launch of the region not taken returns at once for that instance), and each
//                 region ends by writing its results into the branch's slots. A branch with large
//                 products (INGD's T-th-step factor update) runs them as tiled launches, not in one
//                 workgroup per instance; the region not taken costs an empty launch per kernel.
// Values: tensors in slots (per-instance scratch) or inputs, as in the instance model; scalars and
// integers that outlive one launch are spilled to one-element slots (integers as their i32 bits);
// integer arithmetic of dimensions and spilled integers stays an inline expression.
//
// Loop carries: each iteration first evaluates every new carry that is not an in-place update into
// a temporary slot (launches read the old carries), then applies in-place updates (a column, row or
// entry written into the carry; an elementwise update that reads the carry only at the element it
// writes, R ← R − 2 v wᵀ), then copies the temporaries into the carries, then advances the
// counters. WebGPU orders dispatches of one pass (each is its own usage scope), so launch
// boundaries are the model's global barriers.

import { Dim } from '../../../core/dims.js';
import { InternalError } from '../../../core/errors.js';
import { instanceBindings, type InstanceKernelSpec, type KernelIO } from '../../../core/instance-layout.js';
import type { ScheduleStep } from '../../../core/schedule.js';
import type { Func, Node, Region } from '../../ir/node.js';
import type { OpKind } from '../../ir/ops.js';
import { type TensorType, type TupleType, numel } from '../../ir/types.js';
import { InstanceGen, envOff, packingDisabled } from './instance.js';
import { packSlots, renameSlots } from './slot-pack.js';
import { f32lit, intOp, wgslClass } from './ops.js';
import { forEachIndexCheck, provablyInRange } from '../index-checks.js';

/** Tiled products: rows and columns of the output per workgroup, and the K step. */
const TILE = 64;
const TK = 16;

/** Rows or columns per panel of the blocked factorizations and substitutions. */
const NB = 64;

/** Iterations of an `until` loop between two reads of its flags (a readback each). */
export const CHECK_EVERY = 16;

export type GridStrategy = 'fuse' | 'elements' | 'segment' | 'host-loop' | 'guarded' | 'routine' | 'int' | 'special';

/** How the grid model runs each op (see the header). 'int': integer arithmetic, inline;
 *  'special': parameters, projections and tuples, which have no code of their own. */
export const gridStrategy: Record<OpKind, GridStrategy> = {
  param: 'special', const: 'fuse', eps: 'fuse', iconst: 'int', fill: 'fuse', eye: 'fuse', iota: 'fuse', dim: 'int',
  iadd: 'int', isub: 'int', imul: 'int', imin: 'int', imax: 'int', idiv: 'int', imod: 'int',
  itof: 'fuse', ftoi: 'segment',
  neg: 'fuse', exp: 'fuse', log: 'fuse', sqrt: 'fuse', abs: 'fuse', sign: 'fuse', sin: 'fuse', cos: 'fuse',
  tanh: 'fuse', sigmoid: 'fuse', not: 'fuse', half: 'fuse', bfloat: 'fuse',
  add: 'fuse', sub: 'fuse', mul: 'fuse', div: 'fuse', pow: 'fuse', maximum: 'fuse', minimum: 'fuse', atan2: 'fuse', hypot: 'fuse',
  lt: 'fuse', le: 'fuse', gt: 'fuse', ge: 'fuse', eq: 'fuse', ne: 'fuse', and: 'fuse', or: 'fuse',
  select: 'fuse',
  matmul: 'elements', matvec: 'elements', dot: 'segment', outer: 'fuse', transpose: 'fuse',
  einsum: 'elements',
  sum: 'elements', rmax: 'elements', rmin: 'elements', maxloc: 'segment', minloc: 'segment',
  diag: 'fuse', diagvec: 'fuse', tril: 'fuse', triu: 'fuse',
  reshape: 'fuse', slice: 'fuse', pad: 'fuse', concat: 'elements',
  index: 'fuse', setindex: 'fuse', getcol: 'fuse', setcol: 'fuse', getrow: 'fuse', setrow: 'fuse',
  solve: 'routine', trisolve: 'routine',
  eigh: 'special', svd: 'special', expm: 'special', symfun: 'special', polar: 'special', heigh: 'special', householder: 'routine',
  loop: 'host-loop', opt: 'special', root: 'special', custom: 'special', proj: 'special', nograd: 'fuse',
  rand: 'fuse',
  cond: 'guarded',
};

/** One kernel of a grid variant: an entry point of the shared module. `span` says how it is
 *  launched: 'elements' over ⌈elems/WG⌉ × B workgroups, 'instance' one workgroup per instance. */
export interface GridKernel {
  entry: string;
  /** 'once': one workgroup for the whole chunk (a branch's select kernel) */
  span: 'elements' | 'instance' | 'tiles' | 'once';
  elems?: string;
  /** 'tiles': the product's rows and columns (⌈rows/64⌉·⌈cols/64⌉ workgroups per instance) */
  rows?: string;
  cols?: string;
  note: string;
}

export interface GridProgram {
  /** the shared layout (dims, slots, inputs, outputs) and the module with every entry point */
  spec: InstanceKernelSpec;
  kernels: GridKernel[];
  steps: ScheduleStep[];
  /** entries of the indirect buffer (launches inside branch regions, dispatched indirectly) */
  indirect: number;
}

interface OpenKernel {
  k: GridKernel;
  lines: string[];
  /** the launch guard (stopped flags of the enclosing `until` loops) */
  guard: string[];
  hasChecks: boolean;
  /** workgroup counts as WGSL expressions (for the indirect entry a branch's select kernel
   *  writes): x and y; z is 1 */
  geom: [string, string];
  /** inside a branch region: dispatched indirectly */
  inRegion: boolean;
}

/** One `cond` being emitted: the indirect entries of the launches of each region so far. */
interface BranchFrame {
  sides: [number[], number[]];
  side: 0 | 1;
}

/** The grid's cap per dimension in the counts a select kernel writes: WebGPU's default (and
 *  smallest allowed) maxComputeWorkgroupsPerDimension; kernels stride over what it leaves out. */
const MAX_GRID_DIM = 65535;

const staticInts = new WeakMap<Node, Dim | undefined>();

/** An integer known from the dimensions alone (a literal, a dimension, arithmetic of them), as a
 *  dimension expression: a loop whose bounds are runs as a schedule loop on the grid model, any
 *  other loop as instance code in one workgroup (a segment). Nodes are immutable, so the answer
 *  is kept per node. */
export function staticIntDim(n: Node): Dim | undefined {
  if (n.op === 'iconst') return Dim.const(n.attrs.value as number);
  if (n.op === 'dim') return n.attrs.dim as Dim;
  // only integer arithmetic can be static: other ops are not looked into (their argument DAG,
  // e.g. a complex optimizer's VJP, is shared and was walked once per path: exponential time)
  if (n.op !== 'iadd' && n.op !== 'isub' && n.op !== 'imul' && n.op !== 'imin' && n.op !== 'imax') return undefined;
  if (staticInts.has(n)) return staticInts.get(n);
  const [a, b] = n.args.map((x) => staticIntDim(x));
  const v = !a || !b ? undefined : n.op === 'iadd' ? a.add(b) : n.op === 'isub' ? a.sub(b) : n.op === 'imul' ? a.mul(b) : n.op === 'imin' ? Dim.min(a, b) : Dim.max(a, b);
  staticInts.set(n, v);
  return v;
}

function gridLuDisabled(): boolean {
  return envOff('MATC_GRID_LU');
}

export function genGridProgram(f: Func, opts: { workgroupSize?: number; subgroups?: boolean; packScratch?: boolean } = {}): GridProgram {
  const gen = new GridGen(f, opts.workgroupSize ?? 256, opts.subgroups ?? false);
  gen.packScratch = opts.packScratch ?? !packingDisabled();
  return gen.runGrid();
}

class GridGen extends InstanceGen {
  private kernelList: OpenKernel[] = [];
  private branchFrames: BranchFrame[] = [];
  /** indirect entries so far, and the workgroup counts of each */
  private indirectGeom: [string, string][] = [];
  private stepStack: ScheduleStep[][] = [[]];
  private guards: string[] = [];
  /** how many of `guards` (innermost last) are branch guards, not `until` loops' stopped flags */
  private branchGuards: string[] = [];
  private segmentDepth = 0;
  private open: OpenKernel | null = null;
  /** stable names of IR values in kernel notes (node ids depend on what the process compiled before) */
  private refs = new Map<Node, string>();
  private ref(n: Node): string {
    let r = this.refs.get(n);
    if (!r) this.refs.set(n, (r = `v${this.refs.size}:${n.op}`));
    return r;
  }

  /** `until` loops so far (each has a flag in the 'loop flags' output) */
  private untilLoops = 0;
  /** the per-instance slot of the first failed index check (id, index, size), when any */
  private checkSlot = -1;
  /** index checks emitted outside any kernel wait for the next one */
  private inlineInts = new Set<Node>();

  constructor(f: Func, wg: number, subgroups: boolean) {
    super(f, wg, subgroups, undefined);
  }

  // ---- kernels -------------------------------------------------------------------------------------

  private begin(span: GridKernel['span'], note: string, elems?: Dim, tile?: [Dim, Dim]): void {
    if (this.open) throw new InternalError('grid: a kernel begun inside another');
    const k: GridKernel = { entry: `k${this.kernelList.length}`, span, note, ...(elems ? { elems: elems.toString() } : {}), ...(tile ? { rows: tile[0].toString(), cols: tile[1].toString() } : {}) };
    // the counts the runtime would launch (runtime/webgpu/grid.ts), capped at MAX_GRID_DIM
    const cap = (x: string) => `max(1, min(${x}, ${MAX_GRID_DIM}))`;
    const geom: [string, string] =
      span === 'elements' ? [cap(`(${this.dim(elems!)} + WGI - 1) / WGI`), 'ui(0)']
      : span === 'tiles' ? [cap(`((${this.dim(tile![0])} + ${TILE - 1}) / ${TILE}) * ((${this.dim(tile![1])} + ${TILE - 1}) / ${TILE})`), 'ui(0)']
      : span === 'once' ? ['1', '1']
      : [`min(ui(0), ${MAX_GRID_DIM})`, `(ui(0) + min(ui(0), ${MAX_GRID_DIM}) - 1) / min(ui(0), ${MAX_GRID_DIM})`];
    // a select kernel runs once for the chunk, always (it writes the indirect buffer, so it cannot
    // be dispatched from it): no per-instance guard in its head, it tests the guards per instance
    this.open = { k, lines: [], guard: span === 'once' ? [] : [...this.guards], hasChecks: false, geom, inRegion: span !== 'once' && this.branchFrames.length > 0 && this.guards.some((g) => this.branchGuards.includes(g)) };
    this.out = this.open.lines;
    this.ind = '  ';
    this.checksBefore = this.checks.length;
    if (span === 'once') return; // index checks wait for the next per-instance launch
    // index checks of fused ops emitted since the last launch: once per instance, here
    const due = this.dueChecks;
    this.dueChecks = [];
    if (due.length) {
      this.line(`if (${span === 'elements' ? 'gx' : span === 'tiles' ? 'lid == 0 && wid.x' : 'lid'} == 0) {`);
      const prev = this.ind;
      this.ind += '  ';
      for (const n of due) this.checkIndices(n);
      this.ind = prev;
      this.line('}');
    }
  }

  /** fused ops whose index checks wait for the next launch */
  private dueChecks: Node[] = [];

  private checksBefore = 0;

  private end(): void {
    const o = this.open;
    if (!o) throw new InternalError('grid: no kernel to end');
    o.hasChecks = this.checks.length > this.checksBefore;
    this.kernelList.push(o);
    // a launch in a branch region is dispatched by an entry that the branch's select kernel (and
    // those of the branches around it) write: zero workgroups where no instance takes the region
    let indirect: number | undefined;
    if (o.inRegion) {
      indirect = this.indirectGeom.length;
      this.indirectGeom.push(o.geom);
      for (const fr of this.branchFrames) fr.sides[fr.side].push(indirect);
    }
    this.stepStack[this.stepStack.length - 1]!.push({
      k: 'launch',
      kernel: 'grid',
      entry: o.k.entry,
      bindings: o.k.span === 'once' ? [...instanceBindings(), { binding: 4, buffer: 'disp', access: 'read_write' }] : instanceBindings(),
      grid: o.k.span === 'elements' ? [o.k.elems!, 'B', '1'] : o.k.span === 'tiles' ? [o.k.rows!, o.k.cols!, 'B'] : o.k.span === 'once' ? ['1', '1', '1'] : ['B', '1', '1'],
      ...(o.k.span !== 'instance' ? { span: o.k.span } : {}),
      ...(o.k.span === 'tiles' ? { tile: TILE } : {}),
      ...(indirect !== undefined ? { indirect } : {}),
      label: o.k.note,
    });
    this.open = null;
    this.out = [];
  }

  /** A launch of one workgroup per instance whose invocation 0 runs `body`. */
  private single(note: string, body: () => void): void {
    // right after another single launch under the same guards, in the same step list, the body
    // joins that launch: invocation 0 of the same workgroup runs both in order, so what the first
    // wrote to scratch is what the second reads (one dispatch fewer)
    const top = this.stepStack[this.stepStack.length - 1]!;
    const last = top[top.length - 1];
    const prevSingle = this.lastSingle;
    if (
      prevSingle && last && last.k === 'launch' && last.entry === prevSingle.k.entry && !this.dueChecks.length &&
      note !== 'clear index checks' && prevSingle.k.note !== 'clear index checks' &&
      prevSingle.guard.length === this.guards.length && prevSingle.guard.every((g, i) => g === this.guards[i])
    ) {
      this.out = prevSingle.lines;
      this.ind = '  ';
      const before = this.checks.length;
      this.line('if (lid == 0) {');
      this.ind += '  ';
      body();
      this.ind = '  ';
      this.line('}');
      if (this.checks.length > before) prevSingle.hasChecks = true;
      prevSingle.k.note += `; ${note}`;
      last.label = prevSingle.k.note;
      this.out = [];
      return;
    }
    this.begin('instance', note);
    this.line('if (lid == 0) {');
    const prev = this.ind;
    this.ind += '  ';
    body();
    this.ind = prev;
    this.line('}');
    const o = this.open!;
    this.end();
    this.lastSingle = o;
  }

  /** the last launch made by `single` (a later single may join it) */
  private lastSingle: OpenKernel | null = null;

  /** A launch over the elements of a tensor slot, `value` evaluated per element. */
  private elementsKernel(n: Node, slot: number, value: (ix: string[]) => string, note: string): void {
    this.elementsOver((n.type as TensorType).shape, slot, value, note);
  }

  /** A launch over the elements of a slot of this shape, `value` evaluated per element; `pre`
   *  declares what the values read (integers from scratch, made uniform). */
  private elementsOver(shape: readonly Dim[], slot: number, value: (ix: string[]) => string, note: string, pre: string[] = []): void {
    const N = shape.reduce((a, d) => a.mul(d), Dim.const(1));
    this.begin('elements', note, N);
    for (const l of pre) this.line(l);
    const e = this.fresh('e');
    this.block(`for (var ${e}: i32 = gx; ${e} < ${this.dim(N)}; ${e} = ${e} + gs)`, () => {
      const ix = this.unflat(e, shape);
      this.line(`${this.slotAt(slot, e)} = ${value(ix)};`);
    });
    this.end();
  }

  private scalarSlot(node: Node): number {
    return this.newSlot(Dim.const(1), node, 'value');
  }

  private readScalar(slot: number): string {
    return this.slotAt(slot, '0');
  }

  private readInt(slot: number): string {
    return `bitcast<i32>(${this.slotAt(slot, '0')})`;
  }

  // ---- nodes ---------------------------------------------------------------------------------------

  protected override emitNode(n: Node): void {
    if (this.segmentDepth > 0) return super.emitNode(n);
    if (this.store.has(n)) return;
    if (this.roundedStoredInput(n)) return;
    if (n.op === 'param') return;
    const t = n.type;
    if (n.op === 'proj' || (n.op === 'nograd' && this.store.get(n.args[0]!)?.k !== 'view' && this.store.has(n.args[0]!))) return super.emitNode(n);
    if (t.kind === 'tensor' && t.dtype === 'i') return this.emitIntNode(n);
    if (n.op === 'loop' && this.hostLoopable(n)) return this.emitHostLoop(n);
    if (n.op === 'cond') return this.emitGridCond(n);
    // the routine's tiled updates need 16 × 16 invocations (as tiledMatmul)
    // (MATC_GRID_LU=0: the instance model's LU and substitutions in one workgroup, for A/B)
    if (n.op === 'solve' && this.wg === 16 * 16 && !gridLuDisabled()) return this.emitGridSolve(n);
    // (a right-hand triangular solve, X op(T) = B, which no pass produces today, stays a segment)
    if (n.op === 'trisolve' && this.wg === 16 * 16 && !gridLuDisabled() && n.attrs.left !== false) return this.emitGridTrisolve(n);
    // blocked Householder QR (the grid's form keeps the node: compiler/schedule/grid.ts gridKeptOps)
    if (n.op === 'householder') {
      if (this.wg !== 16 * 16) throw new InternalError(`grid: householder needs workgroups of 256 invocations, not ${this.wg}`);
      return this.emitGridHouseholder(n);
    }
    const strat = gridStrategy[n.op];
    // a routine not taken above (workgroups of another size, MATC_GRID_LU=0) runs as a segment
    if (strat === 'segment' || strat === 'routine' || n.op === 'loop') return this.segment(n);
    if (t.kind !== 'tensor') return this.segment(n);
    if (t.shape.length === 0) {
      // a scalar: fused where used, or one value per instance when shared
      if (strat === 'elements') return this.segment(n); // matvec/sum/einsum reduced to a scalar
      if (!this.mat.has(n)) {
        this.pendingChecks(n);
        this.store.set(n, { k: 'view' });
        return;
      }
      const slot = this.scalarSlot(n);
      this.single(`scalar ${this.ref(n)}`, () => {
        this.checkIndices(n);
        this.line(`${this.readScalar(slot)} = ${this.elem(n, [])};`);
      });
      this.store.set(n, { k: 'scalar', name: this.readScalar(slot) });
      return;
    }
    if (n.op === 'concat') return this.emitGridConcat(n);
    if (!this.mat.has(n)) {
      this.pendingChecks(n);
      this.store.set(n, { k: 'view' });
      return;
    }
    const slot = this.newSlot(numel(t), n, 'value');
    const cls = wgslClass[n.op];
    const heavy = cls === 'contraction' || cls === 'reduction';
    const prod = this.tiledProduct(n);
    if (prod) {
      const N = this.dim((n.type as TensorType).shape[1]!);
      this.tiledMatmul(prod, `${this.ref(n)} ${n.op} (tiled product)`, (gi, gj) => `${this.slotAt(slot, `${gi} * ${N} + ${gj}`)} = ${prod === n ? 'cv' : this.elem(n, [gi, gj])};`);
      this.store.set(n, { k: 'slot', slot });
      return;
    }
    this.elementsKernel(n, slot, (ix) => {
      this.checkIndices(n);
      return heavy ? this.contraction(n, ix) : this.elem(n, ix);
    }, `${this.ref(n)} ${n.op}`);
    this.store.set(n, { k: 'slot', slot });
  }

  /** The body of a tiled product launch over `rows` × `cols` outputs: the workgroup strides over
   *  64 × 64 output tiles; `skip` (a uniform condition on r0, c0) leaves a tile out; K runs from
   *  `kLo` to `kHi` in steps of 16 through workgroup memory (tA[k][row], tB[k][col], zero outside
   *  the bounds), each of the 256 invocations accumulating a 4 × 4 block in `acc`; `epilogue`
   *  then writes the block (gi, gj, acc[q]). */
  private tileLoop(o: { rows: string; cols: string; kLo: string; kHi: string; rowHi: string; a: (r: string, k: string) => string; b: (k: string, c: string) => string; skip?: string; epilogue: () => void }): void {
    this.line(`let tilesN: i32 = (${o.cols} + ${TILE - 1}) / ${TILE};`);
    this.line(`let ntiles: i32 = ((${o.rows} + ${TILE - 1}) / ${TILE}) * tilesN;`);
    this.line(`let tr: i32 = lid / 16;`);
    this.line(`let tc: i32 = lid % 16;`);
    this.block(`for (var tile: i32 = i32(wid.x); tile < ntiles; tile = tile + i32(nwg.x))`, () => {
      this.line(`let r0: i32 = (tile / tilesN) * ${TILE};`);
      this.line(`let c0: i32 = (tile % tilesN) * ${TILE};`);
      if (o.skip) this.line(`if (${o.skip}) { continue; }`);
      this.line(`var acc: array<f32, 16>;`);
      this.line(`for (var q: i32 = 0; q < 16; q = q + 1) { acc[q] = 0.0; }`);
      this.block(`for (var kq: i32 = ${o.kLo}; kq < ${o.kHi}; kq = kq + ${TK})`, () => {
        this.block(`for (var q: i32 = lid; q < ${TILE * TK}; q = q + WGI)`, () => {
          this.line(`let ar: i32 = r0 + q / ${TK};`);
          this.line(`let ak: i32 = kq + q % ${TK};`);
          this.line(`var av: f32 = 0.0;`);
          this.line(`if (ar < ${o.rowHi} && ak < ${o.kHi}) { av = ${o.a('ar', 'ak')}; }`);
          this.line(`tA[(q % ${TK}) * ${TILE} + q / ${TK}] = av;`);
          this.line(`let bk: i32 = kq + q / ${TILE};`);
          this.line(`let bc: i32 = c0 + q % ${TILE};`);
          this.line(`var bv: f32 = 0.0;`);
          this.line(`if (bk < ${o.kHi} && bc < ${o.cols}) { bv = ${o.b('bk', 'bc')}; }`);
          this.line(`tB[q] = bv;`);
        });
        this.line('workgroupBarrier();');
        this.block(`for (var t: i32 = 0; t < ${TK}; t = t + 1)`, () => {
          this.line(`let a0 = tA[t * ${TILE} + tr * 4]; let a1 = tA[t * ${TILE} + tr * 4 + 1]; let a2 = tA[t * ${TILE} + tr * 4 + 2]; let a3 = tA[t * ${TILE} + tr * 4 + 3];`);
          this.line(`let bb = vec4<f32>(tB[t * ${TILE} + tc * 4], tB[t * ${TILE} + tc * 4 + 1], tB[t * ${TILE} + tc * 4 + 2], tB[t * ${TILE} + tc * 4 + 3]);`);
          this.line(`acc[0] = acc[0] + a0 * bb.x; acc[1] = acc[1] + a0 * bb.y; acc[2] = acc[2] + a0 * bb.z; acc[3] = acc[3] + a0 * bb.w;`);
          this.line(`acc[4] = acc[4] + a1 * bb.x; acc[5] = acc[5] + a1 * bb.y; acc[6] = acc[6] + a1 * bb.z; acc[7] = acc[7] + a1 * bb.w;`);
          this.line(`acc[8] = acc[8] + a2 * bb.x; acc[9] = acc[9] + a2 * bb.y; acc[10] = acc[10] + a2 * bb.z; acc[11] = acc[11] + a2 * bb.w;`);
          this.line(`acc[12] = acc[12] + a3 * bb.x; acc[13] = acc[13] + a3 * bb.y; acc[14] = acc[14] + a3 * bb.z; acc[15] = acc[15] + a3 * bb.w;`);
        });
        this.line('workgroupBarrier();');
      });
      this.block(`for (var q: i32 = 0; q < 16; q = q + 1)`, () => {
        this.line(`let gi: i32 = r0 + tr * 4 + q / 4;`);
        this.line(`let gj: i32 = c0 + tc * 4 + q % 4;`);
        o.epilogue();
      });
    });
  }

  /** A matrix product C = A B (m×k times k×n) in tiles of 64×64 per workgroup, K in steps of 16
   *  through workgroup memory (tA[k][row], tB[k][col]); each of the 256 invocations accumulates a
   *  4×4 block in registers. Operands are read through their element expressions (inputs, slots,
   *  transposes, slices: any view), so one kernel serves every operand layout; `write(gi, gj)`
   *  stores the value at (gi, gj), reading the accumulator through `elem(c, …)` (the epilogue of a
   *  fused elementwise consumer included). The workgroup grid-strides over the tiles when there are
   *  more than the device's grid allows. */
  private tiledMatmul(c: Node, note: string, write: (gi: string, gj: string) => string): void {
    const [A, B] = c.args as [Node, Node];
    const [M, K] = (A.type as TensorType).shape as [Dim, Dim];
    const N = (B.type as TensorType).shape[1]!;
    this.begin('tiles', note, undefined, [M, N]);
    const [m, n, kk] = [this.dim(M), this.dim(N), this.dim(K)];
    this.tileLoop({
      rows: m, cols: n, kLo: '0', kHi: kk, rowHi: m,
      a: (r, k) => this.elem(A, [r, k]),
      b: (k, j) => this.elem(B, [k, j]),
      epilogue: () =>
        this.block(`if (gi < ${m} && gj < ${n})`, () => {
          this.line(`let cv: f32 = acc[q];`);
          this.tileAcc = c;
          this.line(write('gi', 'gj'));
          this.tileAcc = null;
        }),
    });
    this.end();
  }

  /** while a tiled product's epilogue is written: the product whose value is `cv` */
  private tileAcc: Node | null = null;

  /** The product a tiled launch computes for `n`: n itself (a materialized matmul) or the matmul
   *  fused into n, an elementwise op. */
  private tiledProduct(n: Node): Node | undefined {
    const two = (x: Node) => x.type.kind === 'tensor' && x.type.shape.length === 2;
    if (this.wg !== 16 * 16) return undefined; // the tile's 16 × 16 invocations
    if (n.op === 'matmul' && two(n)) return n;
    if (wgslClass[n.op] !== 'view' || !two(n)) return undefined;
    const c = n.args.find((a) => this.fused.has(a) && a.op === 'matmul');
    return c && two(c) ? c : undefined;
  }

  /** Outside segments an integer stored as an inline expression may read a carry (it is not a
   *  value computed once), and a node with regions is not settled until stored. */
  protected override storedOnce(x: Node): boolean {
    if (this.segmentDepth > 0) return super.storedOnce(x);
    const st = this.store.get(x);
    return !!st && st.k !== 'view' && !(st.k === 'int' && this.inlineInts.has(x));
  }

  protected override settledWithoutCarries(x: Node): boolean {
    return this.segmentDepth > 0 ? super.settledWithoutCarries(x) : !x.regions.length;
  }

  /** Index checks of a fused op run once per instance at the start of the next launch (in the same
   *  loop iteration: every loop body ends with its step launch, the function with its outputs):
   *  the integers they test are per instance, so the check need not be repeated per element. */
  private pendingChecks(n: Node): void {
    let any = false;
    forEachIndexCheck(n, (_what, i, size) => {
      if (!provablyInRange(i, size)) any = true;
    });
    if (any) this.dueChecks.push(n);
  }

  private emitIntNode(n: Node): void {
    const a = n.args;
    if (n.op === 'iconst') {
      const v = n.attrs.value as number;
      this.store.set(n, { k: 'int', name: v === -2147483648 ? '(-2147483647 - 1)' : `${v}` });
      return;
    }
    if (n.op === 'dim') {
      this.store.set(n, { k: 'int', name: this.dim(n.attrs.dim as Dim) });
      return;
    }
    if (['iadd', 'isub', 'imul', 'imin', 'imax', 'idiv', 'imod'].includes(n.op)) {
      for (const x of a) this.emitNode(x);
      // inline: every operand is a literal, a dimension or a spilled integer
      const name = `(${this.intExpr(n)})`;
      this.store.set(n, { k: 'int', name });
      this.inlineInts.add(n);
      return;
    }
    // data integers (ftoi, maxloc, minloc, projections of segments): one launch per instance
    return this.segment(n);
  }

  private intExpr(n: Node): string {
    return intOp(n.op, this.int(n.args[0]!), this.int(n.args[1]!));
  }

  /** Runs `n` as instance-model code in a launch of one workgroup per instance, then spills its
   *  private scalar and integer results to scratch. */
  private segment(n: Node): void {
    this.begin('instance', `${this.ref(n)} ${n.op} (one workgroup per instance)`);
    this.segmentDepth++;
    super.emitNode(n);
    const spill = (st: ReturnType<typeof this.store.get>, node: Node): typeof st => {
      if (!st) return st;
      if (st.k === 'scalar' && !st.name.startsWith('S[')) {
        const slot = this.scalarSlot(node);
        this.line(`if (lid == 0) { ${this.readScalar(slot)} = ${st.name}; }`);
        return { k: 'scalar', name: this.readScalar(slot) };
      }
      if (st.k === 'int' && !st.name.startsWith('bitcast<i32>(S[') && !/^-?\d+$/.test(st.name) && !/^D\d+$/.test(st.name)) {
        const slot = this.scalarSlot(node);
        this.line(`if (lid == 0) { ${this.slotAt(slot, '0')} = bitcast<f32>(${st.name}); }`);
        return { k: 'int', name: this.readInt(slot) };
      }
      if (st.k === 'tuple') return { k: 'tuple', parts: st.parts.map((p) => spill(p, node)!) };
      return st;
    };
    this.store.set(n, spill(this.store.get(n), n)!);
    this.segmentDepth--;
    this.hoistUniformInts(this.open!.lines);
    this.end();
  }

  /** Integers read from scratch (spilled earlier, loop indices of host loops) are per instance,
   *  hence workgroup-uniform, but WGSL's uniformity analysis cannot know it of a read-write
   *  buffer: the instance code's loops and branches on them (with barriers inside) need them
   *  broadcast through workgroupUniformLoad. The segment does not write those slots, so each is read
   *  once at the start of the launch. */
  private hoistUniformInts(lines: string[]): void {
    const re = /bitcast<i32>\(S\[b0 \+ SO(\d+) \+ 0\]\)/g;
    const slots = new Set<string>();
    for (const l of lines) for (const m of l.matchAll(re)) slots.add(m[1]!);
    if (!slots.size) return;
    for (let i = 0; i < lines.length; i++) lines[i] = lines[i]!.replace(re, (_, k: string) => `ui_s${k}`);
    lines.unshift(...[...slots].map((k) => `  let ui_s${k}: i32 = uniform_int(bitcast<i32>(S[b0 + SO${k} + 0]), lidu);`));
  }

  private emitGridConcat(n: Node): void {
    const slot = this.newSlot(numel(n.type as TensorType), n, 'value');
    const axis = n.attrs.axis as number;
    let off = Dim.const(0);
    const sh = (n.type as TensorType).shape;
    for (const part of n.args) {
      this.emitNode(part);
      const psh = (part.type as TensorType).shape;
      const o = off;
      const N = numel(part.type as TensorType);
      this.begin('elements', `${this.ref(n)} concat part`, N);
      const e = this.fresh('e');
      this.block(`for (var ${e}: i32 = gx; ${e} < ${this.dim(N)}; ${e} = ${e} + gs)`, () => {
        const ix = this.unflat(e, psh);
        const dst = ix.map((x, k) => (k === axis && o.constValue() !== 0 ? `(${x} + ${this.dim(o)})` : x));
        this.line(`${this.slotAt(slot, this.flat(dst, sh))} = ${this.elem(part, ix)};`);
      });
      this.end();
      off = off.add(psh[axis]!);
    }
    this.store.set(n, { k: 'slot', slot });
  }

  // ---- branches ------------------------------------------------------------------------------------

  /** cond c captures… { then } { else } → results…, as guarded launches (the 'guarded' strategy):
   *
   *    flag ← (c ≠ 0)                   one launch per instance, into a scalar slot
   *    then-region's launches           each returns at once where flag = 0
   *    then-results → the cond's slots
   *    else-region's launches           each returns at once where flag ≠ 0
   *    else-results → the cond's slots
   *
   *  Each instance runs exactly the launches of its own region, so the cond's slots hold one
   *  region's results, as `if … else` does in the instance model; both regions' index checks fire
   *  only where their region runs (a region's pending checks are flushed by its result launches,
   *  which carry its guard). */
  private emitGridCond(n: Node): void {
    for (const a of n.args) this.emitNode(a);
    const elems = (n.type as TupleType).elems as TensorType[];
    const flagSlot = this.scalarSlot(n);
    this.single(`${this.ref(n)} branch flag`, () => this.line(`${this.readScalar(flagSlot)} = select(0.0, 1.0, ${this.elem(n.args[0]!, [])} != 0.0);`));
    const slots = elems.map((t, i) => (t.shape.length > 0 ? this.newSlot(numel(t), n.regions[0]!.results[i]!, 'value') : this.scalarSlot(n)));
    const flag = this.readScalar(flagSlot);
    // the select kernel: which regions some instance of the chunk takes; its lines are written
    // once the regions' launches (and their indirect entries) are known
    this.begin('once', `${this.ref(n)} branch select (indirect counts of both regions)`);
    const select = this.open!;
    this.end();
    // an instance counts where it reaches the branch: no enclosing region it skips, no enclosing
    // `until` loop it has stopped (each an expression of its scratch at b0)
    const outer = [...this.guards];
    const frame: BranchFrame = { sides: [[], []], side: 0 };
    this.branchFrames.push(frame);
    n.regions.forEach((r, ri) => {
      frame.side = ri as 0 | 1;
      const guard = ri === 0 ? `${flag} == 0.0` : `${flag} != 0.0`;
      this.guards.push(guard);
      this.branchGuards.push(guard);
      r.params.forEach((p, i) => {
        const cap = n.args[i + 1]!;
        const st = this.store.get(cap);
        if (!st || st.k === 'view' || st.k === 'tuple') throw new InternalError(`grid: capture %${cap.id} of cond %${n.id} has no storage`);
        this.store.set(p, st);
        if (this.inlineInts.has(cap)) this.inlineInts.add(p);
      });
      this.emitRegion(r);
      for (const x of r.results) this.emitNode(x);
      const small: number[] = [];
      r.results.forEach((x, i) => {
        const t = elems[i]!;
        if (t.shape.length > 0) this.elementsKernel(x, slots[i]!, (ix) => this.elem(x, ix), `${this.ref(n)} region ${ri} result ${i}`);
        else small.push(i);
      });
      if (small.length) {
        this.single(`${this.ref(n)} region ${ri} scalar results`, () => {
          for (const i of small) {
            const x = r.results[i]!;
            this.line(elems[i]!.dtype === 'i' ? `${this.slotAt(slots[i]!, '0')} = bitcast<f32>(${this.int(x)});` : `${this.readScalar(slots[i]!)} = ${this.elem(x, [])};`);
          }
        });
      }
      this.branchGuards.pop();
      this.guards.pop();
    });
    this.branchFrames.pop();
    const L = select.lines;
    L.push(`  var t0: f32 = 0.0;`, `  var t1: f32 = 0.0;`);
    L.push(`  for (var b: i32 = lid; b < ui(0); b = b + WGI) {`, `    let b0: i32 = b * ui(1);`);
    L.push(`    if (${outer.length ? `!(${outer.join(' || ')})` : 'true'}) { if (${flag} != 0.0) { t0 = 1.0; } else { t1 = 1.0; } }`, `  }`);
    L.push(`  let any0: bool = wg_max(t0, lidu) > 0.0;`, `  let any1: bool = wg_max(t1, lidu) > 0.0;`);
    L.push(`  if (lid == 0) {`);
    frame.sides.forEach((es, side) => {
      for (const e of es) {
        const [x, y] = this.indirectGeom[e]!;
        L.push(`    DISP[${4 * e}] = select(0u, u32(${x}), any${side}); DISP[${4 * e + 1}] = u32(${y}); DISP[${4 * e + 2}] = 1u;`);
      }
    });
    L.push(`  }`);
    this.store.set(n, {
      k: 'tuple',
      parts: elems.map((t, i) => (t.shape.length > 0 ? { k: 'slot' as const, slot: slots[i]! } : t.dtype === 'i' ? { k: 'int' as const, name: this.readInt(slots[i]!) } : { k: 'scalar' as const, name: this.readScalar(slots[i]!) })),
    });
  }

  // ---- routines ------------------------------------------------------------------------------------

  /** A schedule loop of `count` iterations over a counter in scratch (0, 1, …): `body` gets the
   *  counter as an i32 expression; kernels with barriers must read it through uniform_int
   *  (`endUniform`). */
  private counterLoop(owner: Node, count: Dim, note: string, body: (k: string) => void): void {
    const ctr = this.scalarSlot(owner);
    this.single(`${note} start`, () => this.line(`${this.slotAt(ctr, '0')} = bitcast<f32>(0);`));
    const steps: ScheduleStep[] = [];
    this.stepStack[this.stepStack.length - 1]!.push({ k: 'loop', count: count.toString(), body: steps });
    this.stepStack.push(steps);
    body(this.readInt(ctr));
    this.single(`${note} step`, () => this.line(`${this.slotAt(ctr, '0')} = bitcast<f32>(${this.readInt(ctr)} + 1);`));
    this.stepStack.pop();
  }

  /** Ends a kernel whose integers read from scratch must be workgroup-uniform (barriers follow). */
  private endUniform(): void {
    this.hoistUniformInts(this.open!.lines);
    this.end();
  }

  /** C[r, c] −= Σ_{k ∈ [kLo, kHi)} A(r, k) B(k, c) for r ∈ [rowLo, rowHi), c ∈ [colLo, cols): a
   *  launch of 64 × 64 output tiles over rows × cols (tileLoop; the region's tiles work, the others
   *  are skipped). `pre` declares the integers the bounds use (read from scratch, made uniform). */
  private blockUpdate(note: string, rows: Dim, cols: Dim, pre: string[], b: { rowLo: string; rowHi: string; colLo: string; kLo: string; kHi: string; a: (r: string, k: string) => string; b: (k: string, c: string) => string; c: (r: string, c: string) => string }): void {
    this.begin('tiles', note, undefined, [rows, cols]);
    for (const l of pre) this.line(l);
    const nC = this.dim(cols);
    this.tileLoop({
      rows: this.dim(rows), cols: nC, kLo: b.kLo, kHi: b.kHi, rowHi: b.rowHi, a: b.a, b: b.b,
      // a tile outside the region has nothing to do (uniform: wid and uniform integers)
      skip: `r0 + ${TILE} <= ${b.rowLo} || r0 >= ${b.rowHi} || c0 + ${TILE} <= ${b.colLo}`,
      epilogue: () => this.line(`if (gi >= ${b.rowLo} && gi < ${b.rowHi} && gj >= ${b.colLo} && gj < ${nC}) { ${b.c('gi', 'gj')} = ${b.c('gi', 'gj')} - acc[q]; }`),
    });
    this.endUniform();
  }

  /** solve(A, B) → (X, rcond) with X = A⁻¹B, by blocked right-looking LU with partial pivoting
   *  (LAPACK getrf's algorithm; Golub & Van Loan §3.4.8), panels of NB = 64 columns:
   *
   *    for each panel k0 … k1 − 1 (k1 = min(k0 + NB, n)):
   *      1. the panel A[k0:, k0:k1] is factored column by column in one workgroup: the pivot row
   *         p of column c is argmax_{r ≥ c} |a_rc|; rows c and p swap within the panel; the column
   *         below the pivot is divided by it; the rest of the panel gets the rank-1 update;
   *      2. every other column of A and of B applies the panel's swaps in order; columns right of
   *         the panel and of B then solve with the panel's unit lower block: U12 = L11⁻¹ A12,
   *         Y1 = L11⁻¹ B1 (one invocation per column);
   *      3. A22 −= L21 U12 and B2 −= L21 Y1 (tiled products).
   *    Then U X = Y by blocks from the last panel up: X1 = U11⁻¹ Y1 per column, Y0 −= U01 X1.
   *
   *  In exact arithmetic the pivots and factors are those of the unblocked elimination the
   *  instance model runs (the panel sees fully updated columns), and so are the singular-pivot
   *  rule (|pivot| ≤ 1e-30 max|A| → the pivot becomes 1e-7 max|A|, rcond 0) and
   *  rcond = min|uᵢᵢ| / max|uᵢᵢ|. */
  private emitGridSolve(n: Node): void {
    const [A, B] = n.args as [Node, Node];
    this.emitNode(A);
    this.emitNode(B);
    const nn = (A.type as TensorType).shape[0]!;
    const bsh = (B.type as TensorType).shape;
    const nrhs = bsh.length === 1 ? Dim.const(1) : bsh[1]!;
    const r = this.ref(n);
    const M = this.newSlot(nn.mul(nn), n, 'LU factors');
    const X = this.newSlot(nn.mul(nrhs), n, 'solution');
    const piv = this.newSlot(nn, n, 'value');
    const [scl, mxS, mnS, sgS, rcS] = [0, 1, 2, 3, 4].map(() => this.scalarSlot(n)) as [number, number, number, number, number];
    const N = () => this.dim(nn);
    const R = () => this.dim(nrhs);
    const m = (i: string, j: string) => this.slotAt(M, `(${i}) * ${N()} + (${j})`);
    const x = (i: string, j: string) => this.slotAt(X, `(${i}) * ${R()} + (${j})`);
    this.elementsKernel(A, M, (ix) => this.elem(A, ix), `${r} solve: A into the factors`);
    this.elementsKernel(B, X, (ix) => this.elem(B, ix), `${r} solve: B into the solution`);
    this.begin('instance', `${r} solve: scale`);
    this.line(`var part: f32 = 0.0;`);
    this.line(`for (var e: i32 = lid; e < ${N()} * ${N()}; e = e + WGI) { part = max(part, abs(${this.slotAt(M, 'e')})); }`);
    this.line(`let sc: f32 = max(wg_max(part, lidu), 1e-30);`);
    this.line(`if (lid == 0) { ${this.readScalar(scl)} = sc; ${this.readScalar(mxS)} = 0.0; ${this.readScalar(mnS)} = ${f32lit(Infinity)}; ${this.readScalar(sgS)} = 0.0; }`);
    this.end();
    const panels = Dim.floorDiv(nn.add(Dim.const(NB - 1)), Dim.const(NB));
    this.counterLoop(n, panels, `${r} solve: LU panel`, (kp) => {
      const bounds = [`let k0: i32 = ${kp} * ${NB};`, `let k1: i32 = min(k0 + ${NB}, ${N()});`];
      // 1. the panel, in one workgroup
      this.begin('instance', `${r} solve: LU panel factorization (one workgroup)`);
      for (const l of bounds) this.line(l);
      this.line(`let sc: f32 = ${this.readScalar(scl)};`);
      this.line(`var mx: f32 = ${this.readScalar(mxS)};`);
      this.line(`var mn: f32 = ${this.readScalar(mnS)};`);
      this.line(`var sg: f32 = ${this.readScalar(sgS)};`);
      this.block(`for (var c: i32 = k0; c < k1; c = c + 1)`, () => {
        this.line(`var bv: f32 = -1.0;`);
        this.line(`var bi: i32 = c;`);
        this.line(`for (var rr: i32 = c + lid; rr < ${N()}; rr = rr + WGI) { let v = abs(${m('rr', 'c')}); if (v > bv) { bv = v; bi = rr; } }`);
        this.line(`let p: i32 = wg_argmax(bv, bi, lidu);`);
        this.line(`if (p != c) { for (var j: i32 = k0 + lid; j < k1; j = j + WGI) { let t = ${m('c', 'j')}; ${m('c', 'j')} = ${m('p', 'j')}; ${m('p', 'j')} = t; } }`);
        this.line(`if (lid == 0) { ${this.slotAt(piv, 'c')} = bitcast<f32>(p); }`);
        this.barrier();
        this.line(`var pv: f32 = ${m('c', 'c')};`);
        this.line(`if (!(abs(pv) > 1e-30 * sc)) { pv = sc * 1e-7; sg = 1.0; }`);
        this.line(`mx = max(mx, abs(pv));`);
        this.line(`mn = min(mn, abs(pv));`);
        this.barrier();
        this.line(`if (lid == 0) { ${m('c', 'c')} = pv; }`);
        this.line(`for (var rr: i32 = c + 1 + lid; rr < ${N()}; rr = rr + WGI) { ${m('rr', 'c')} = ${m('rr', 'c')} / pv; }`);
        this.barrier();
        this.line(`let w: i32 = k1 - c - 1;`);
        this.line(`for (var t: i32 = lid; t < (${N()} - c - 1) * w; t = t + WGI) { let rr = c + 1 + t / w; let jj = c + 1 + t % w; ${m('rr', 'jj')} = ${m('rr', 'jj')} - ${m('rr', 'c')} * ${m('c', 'jj')}; }`);
        this.barrier();
      });
      this.line(`if (lid == 0) { ${this.readScalar(mxS)} = mx; ${this.readScalar(mnS)} = mn; ${this.readScalar(sgS)} = sg; }`);
      this.endUniform();
      // 2. the swaps for every other column, then the block row (U12 = L11⁻¹ A12, Y1 = L11⁻¹ B1)
      this.begin('elements', `${r} solve: LU row swaps and block row`, nn.add(nrhs));
      for (const l of bounds) this.line(l);
      this.block(`for (var j: i32 = gx; j < ${N()} + ${R()}; j = j + gs)`, () => {
        this.line(`if (j >= k0 && j < k1) { continue; }`);
        this.line(`let jx: i32 = j - ${N()};`);
        const cell = (i: string) => `S[b0 + select(SO${X} + (${i}) * ${R()} + jx, SO${M} + (${i}) * ${N()} + j, j < ${N()})]`;
        this.block(`for (var c: i32 = k0; c < k1; c = c + 1)`, () => {
          this.line(`let p: i32 = bitcast<i32>(${this.slotAt(piv, 'c')});`);
          this.line(`if (p != c) { let t = ${cell('c')}; ${cell('c')} = ${cell('p')}; ${cell('p')} = t; }`);
        });
        this.line(`if (j < k1) { continue; }`);
        this.block(`for (var c: i32 = k0; c < k1; c = c + 1)`, () => {
          this.line(`let v: f32 = ${cell('c')};`);
          this.line(`for (var rr: i32 = c + 1; rr < k1; rr = rr + 1) { ${cell('rr')} = ${cell('rr')} - ${m('rr', 'c')} * v; }`);
        });
      });
      this.end();
      // 3. the trailing update of A and of B
      const pre = bounds;
      this.blockUpdate(`${r} solve: LU trailing update A22 −= L21 U12 (tiled)`, nn, nn, pre, { rowLo: 'k1', rowHi: N(), colLo: 'k1', kLo: 'k0', kHi: 'k1', a: (i, k) => m(i, k), b: (k, j) => m(k, j), c: (i, j) => m(i, j) });
      this.blockUpdate(`${r} solve: LU trailing update B2 −= L21 Y1 (tiled)`, nn, nrhs, pre, { rowLo: 'k1', rowHi: N(), colLo: '0', kLo: 'k0', kHi: 'k1', a: (i, k) => m(i, k), b: (k, j) => x(k, j), c: (i, j) => x(i, j) });
    });
    // U X = Y, by blocks from the last panel up
    this.blockedSubstitution(n, `${r} solve: back substitution`, nn, nrhs, m, x, false, false);
    // a 0×0 system has rcond 1, as on the CPU
    this.single(`${r} solve: rcond`, () => this.line(`${this.readScalar(rcS)} = select(select(${this.readScalar(mnS)} / max(${this.readScalar(mxS)}, 1e-30), 0.0, ${this.readScalar(sgS)} != 0.0), 1.0, ${N()} == 0);`));
    this.store.set(n, { k: 'tuple', parts: [{ k: 'slot', slot: X }, { k: 'scalar', name: this.readScalar(rcS) }] });
  }

  /** X ← op(T)⁻¹ X in place for a triangular op(T) (n × n, read through `t`) and X (n × R, read
   *  and written through `x`), by panels of NB rows in the order the substitution needs:
   *
   *    op(T) lower (`forward`): panels top-down:  X1 ← op(T)11⁻¹ X1 (one invocation per column of
   *                             X, forward substitution); X2 −= op(T)21 X1 (tiled)
   *    op(T) upper:             panels bottom-up: X1 ← op(T)11⁻¹ X1 (backward substitution);
   *                             X0 −= op(T)01 X1 (tiled)
   *
   *  (the instance model's column-oriented substitution inside a panel, right-looking updates
   *  outside it). Triangular solves and LU's back substitution both run through it. */
  private blockedSubstitution(owner: Node, note: string, nn: Dim, R: Dim, t: (i: string, j: string) => string, x: (i: string, j: string) => string, forward: boolean, unit: boolean): void {
    const N = () => this.dim(nn);
    const Rs = () => this.dim(R);
    const panels = Dim.floorDiv(nn.add(Dim.const(NB - 1)), Dim.const(NB));
    this.counterLoop(owner, panels, `${note}: panel`, (kp) => {
      const bounds = [forward ? `let k0: i32 = ${kp} * ${NB};` : `let k0: i32 = (${this.dim(panels)} - 1 - ${kp}) * ${NB};`, `let k1: i32 = min(k0 + ${NB}, ${N()});`];
      this.begin('elements', `${note}: diagonal block (one invocation per column)`, R);
      for (const l of bounds) this.line(l);
      this.block(`for (var j: i32 = gx; j < ${Rs()}; j = j + gs)`, () => {
        this.block(forward ? `for (var c: i32 = k0; c < k1; c = c + 1)` : `for (var c: i32 = k1 - 1; c >= k0; c = c - 1)`, () => {
          this.line(unit ? `let v: f32 = ${x('c', 'j')};` : `let v: f32 = ${x('c', 'j')} / ${t('c', 'c')};`);
          if (!unit) this.line(`${x('c', 'j')} = v;`);
          this.line(forward
            ? `for (var rr: i32 = c + 1; rr < k1; rr = rr + 1) { ${x('rr', 'j')} = ${x('rr', 'j')} - ${t('rr', 'c')} * v; }`
            : `for (var rr: i32 = k0; rr < c; rr = rr + 1) { ${x('rr', 'j')} = ${x('rr', 'j')} - ${t('rr', 'c')} * v; }`);
        });
      });
      this.end();
      this.blockUpdate(`${note}: ${forward ? 'X2 −= op(T)21 X1' : 'X0 −= op(T)01 X1'} (tiled)`, nn, R, bounds, {
        rowLo: forward ? 'k1' : '0', rowHi: forward ? N() : 'k0', colLo: '0', kLo: 'k0', kHi: 'k1',
        a: (i, k) => t(i, k), b: (k, j) => x(k, j), c: (i, j) => x(i, j),
      });
    });
  }

  /** trisolve: op(T) X = B with op(T) = T or Tᵀ triangular, unit or not (blockedSubstitution on a
   *  copy of B). */
  private emitGridTrisolve(n: Node): void {
    const [T, B] = n.args as [Node, Node];
    this.emitNode(T);
    this.emitNode(B);
    const { lower, trans, unit } = n.attrs as { lower: boolean; trans: boolean; unit: boolean };
    const nn = (T.type as TensorType).shape[0]!;
    const bsh = (B.type as TensorType).shape;
    const r = this.ref(n);
    const X = this.newSlot(numel(B.type as TensorType), n, 'solution');
    this.elementsKernel(B, X, (ix) => this.elem(B, ix), `${r} trisolve: B into the solution`);
    const t = (i: string, j: string) => (trans ? this.elem(T, [j, i]) : this.elem(T, [i, j]));
    const forward = lower !== trans; // op(T) lower
    const R = bsh.length === 1 ? Dim.const(1) : bsh[1]!;
    const Rs = () => this.dim(R);
    const x = (i: string, j: string) => this.slotAt(X, `(${i}) * ${Rs()} + (${j})`);
    this.blockedSubstitution(n, `${r} trisolve`, nn, R, t, x, forward, unit);
    this.store.set(n, { k: 'slot', slot: X });
  }

  /** householder(A) → (Q, R), A m × n, k = min(m, n): blocked Householder QR with the compact WY
   *  representation (LAPACK geqrf / orgqr; Schreiber & Van Loan 1989; Golub & Van Loan §5.2.3),
   *  panels of NB = 64 columns. With F = A:
   *
   *    for each panel k0 … k1 − 1 (k1 = min(k0 + NB, k)), in one launch each step:
   *      1. the panel F[k0:, k0:k1] is factored column by column in one workgroup: for column j,
   *         σ = Σ_{r>j} F_rj², α = F_jj, s = phase(α) (+1 at 0), ‖y‖ = √(σ + α²), u = y + s‖y‖ e_j,
   *         ‖u‖ = √(σ + u_j²), v_j = u/‖u‖ (0 when ‖u‖ = 0), F_jj = −s‖y‖ (unchanged when ‖u‖ = 0),
   *         and the panel's later
   *         columns get F ← F − 2 v_j (v_jᵀ F); then the panel's T (nb × nb upper triangular) with
   *         H_k0 ⋯ H_{k1−1} = I − V T Vᵀ: T_ii = 2, T[0:i, i] = −2 T[0:i, 0:i] (V[:, 0:i]ᵀ v_i);
   *      2. W = Vᵀ F[:, k1:] (tiled), W ← Tᵀ W, F[k0:, k1:] −= V W (tiled): the trailing columns
   *         get the panel's reflections as Q_pᵀ F = (I − V Tᵀ Vᵀ) F.
   *    Q = H_0 ⋯ H_{k−1} I[:, 0:k] by panels from the last: Q[k0:, k0:] −= V (T (Vᵀ Q[:, k0:]))
   *    (the columns left of k0 are still e_c there, which the panel leaves alone).
   *    d = phase(diag F), Q ← Q diag(d), R = triu(diag(d) F[0:k, :]).
   *
   *  In exact arithmetic the reflectors, Q and R are those of the unblocked loops the other back
   *  ends run (compiler/solvers/spectral.ts lowerHouseholder). The panel's dot products use the
   *  256 invocations as 64 columns × 4 lanes (tA holds the partial sums, tB the column factors). */
  private emitGridHouseholder(n: Node): void {
    const [A] = n.args as [Node];
    this.emitNode(A);
    const [m, nn] = (A.type as TensorType).shape as [Dim, Dim];
    const kk = Dim.min(m, nn);
    const r = this.ref(n);
    const F = this.newSlot(m.mul(nn), n, 'QR workspace');
    const V = this.newSlot(m.mul(kk), n, 'QR workspace');
    const T = this.newSlot(kk.mul(Dim.const(NB)), n, 'QR workspace');
    const W = this.newSlot(Dim.const(NB).mul(nn), n, 'QR workspace');
    const W2 = this.newSlot(Dim.const(NB).mul(nn), n, 'QR workspace');
    const Q = this.newSlot(m.mul(kk), n, 'value');
    const Ro = this.newSlot(kk.mul(nn), n, 'value');
    const M = () => this.dim(m);
    const N = () => this.dim(nn);
    const K = () => this.dim(kk);
    const f = (i: string, j: string) => this.slotAt(F, `(${i}) * ${N()} + (${j})`);
    const v = (i: string, j: string) => this.slotAt(V, `(${i}) * ${K()} + (${j})`);
    const t = (i: string, j: string) => this.slotAt(T, `(${i}) * ${NB} + (${j})`);
    const w = (i: string, j: string, ld: string) => this.slotAt(W, `(${i}) * ${ld} + (${j})`);
    const w2 = (i: string, j: string, ld: string) => this.slotAt(W2, `(${i}) * ${ld} + (${j})`);
    const q = (i: string, j: string) => this.slotAt(Q, `(${i}) * ${K()} + (${j})`);
    const lanes = 256 / 64;
    this.elementsKernel(A, F, (ix) => this.elem(A, ix), `${r} householder: A into the factors`);
    const panels = Dim.floorDiv(kk.add(Dim.const(NB - 1)), Dim.const(NB));
    this.counterLoop(n, panels, `${r} householder: panel`, (kp) => {
      const bounds = [`let k0: i32 = ${kp} * ${NB};`, `let k1: i32 = min(k0 + ${NB}, ${K()});`, `let nb: i32 = k1 - k0;`];
      // 1. the panel and its T, in one workgroup
      this.begin('instance', `${r} householder: panel factorization and T (one workgroup)`);
      for (const l of bounds) this.line(l);
      this.line(`let cc: i32 = lid % 64;`);
      this.line(`let lane: i32 = lid / 64;`);
      this.block(`for (var j: i32 = k0; j < k1; j = j + 1)`, () => {
        this.line(`var part: f32 = 0.0;`);
        this.line(`for (var rr: i32 = j + 1 + lid; rr < ${M()}; rr = rr + WGI) { let x = ${f('rr', 'j')}; part = part + x * x; }`);
        this.line(`let sigma: f32 = wg_sum(part, lidu);`);
        this.line(`let al: f32 = ${f('j', 'j')};`);
        this.line(`let sg: f32 = select(-1.0, 1.0, al >= 0.0);`);
        this.line(`let nrm: f32 = sqrt(sigma + al * al);`);
        this.line(`let uj: f32 = al + sg * nrm;`);
        this.line(`let nu: f32 = sqrt(sigma + uj * uj);`);
        this.line(`let inv: f32 = select(0.0, 1.0 / nu, nu > 0.0);`);
        this.line(`for (var rr: i32 = lid; rr < ${M()}; rr = rr + WGI) { ${v('rr', 'j')} = select(select(${f('rr', 'j')} * inv, uj * inv, rr == j), 0.0, rr < j); }`);
        this.barrier();
        // (no reflection when u = 0: the entry stays, +0 as on the other back ends)
        this.line(`if (lid == 0) { ${f('j', 'j')} = select(al, -sg * nrm, nu > 0.0); }`);
        // w_c = 2 v_jᵀ F[:, c] for the panel's later columns c, 64 columns × 4 lanes
        this.line(`let wc: i32 = k1 - j - 1;`);
        this.line(`var acc: f32 = 0.0;`);
        this.line(`if (cc < wc) { for (var rr: i32 = j + lane; rr < ${M()}; rr = rr + ${lanes}) { acc = acc + ${v('rr', 'j')} * ${f('rr', 'j + 1 + cc')}; } }`);
        this.line(`tA[lid] = acc;`);
        this.line('workgroupBarrier();');
        this.line(`if (lid < 64) { tB[lid] = 2.0 * (tA[lid] + tA[lid + 64] + tA[lid + 128] + tA[lid + 192]); }`);
        this.line('workgroupBarrier();');
        this.line(`for (var e: i32 = lid; e < (${M()} - j) * wc; e = e + WGI) { let rr = j + e / wc; let c = j + 1 + e % wc; ${f('rr', 'c')} = ${f('rr', 'c')} - ${v('rr', 'j')} * tB[c - j - 1]; }`);
        this.barrier();
      });
      // T: column i from z = V[:, k0:k0+i]ᵀ v_i (rows from k0 + i: v_i is 0 above)
      this.block(`for (var i: i32 = 0; i < nb; i = i + 1)`, () => {
        this.line(`var acc: f32 = 0.0;`);
        this.line(`if (cc < i) { for (var rr: i32 = k0 + i + lane; rr < ${M()}; rr = rr + ${lanes}) { acc = acc + ${v('rr', 'k0 + cc')} * ${v('rr', 'k0 + i')}; } }`);
        this.line(`tA[lid] = acc;`);
        this.line('workgroupBarrier();');
        this.line(`if (lid < 64) { tB[lid] = tA[lid] + tA[lid + 64] + tA[lid + 128] + tA[lid + 192]; }`);
        this.line('workgroupBarrier();');
        this.block(`if (lid < nb)`, () => {
          this.line(`var tv: f32 = 0.0;`);
          this.line(`if (lid < i) { for (var c: i32 = lid; c < i; c = c + 1) { tv = tv + ${t('k0 + lid', 'c')} * tB[c]; } tv = -2.0 * tv; }`);
          this.line(`if (lid == i) { tv = 2.0; }`);
          this.line(`${t('k0 + lid', 'i')} = tv;`);
        });
        this.line('workgroupBarrier();');
      });
      this.endUniform();
      // 2. the trailing columns: W = Vᵀ F[:, k1:], W ← Tᵀ W, F[k0:, k1:] −= V W
      this.applyPanel(`${r} householder: trailing update`, bounds, m, nn, {
        colLo: 'k1', transT: true,
        v: (i, c) => v(i, `k0 + ${c}`), x: f, t, w: (i, j) => w(i, j, N()), w2: (i, j) => w2(i, j, N()),
      });
    });
    // Q = H_0 ⋯ H_{k−1} I[:, 0:k], by panels from the last
    this.elementsOver([m, kk], Q, ([i, j]) => `select(0.0, 1.0, ${i} == ${j})`, `${r} householder: Q from the identity`);
    this.counterLoop(n, panels, `${r} householder: Q panel`, (kp) => {
      const bounds = [`let k0: i32 = (${this.dim(panels)} - 1 - ${kp}) * ${NB};`, `let k1: i32 = min(k0 + ${NB}, ${K()});`, `let nb: i32 = k1 - k0;`];
      this.applyPanel(`${r} householder: Q update`, bounds, m, kk, {
        colLo: 'k0', transT: false,
        v: (i, c) => v(i, `k0 + ${c}`), x: q, t, w: (i, j) => w(i, j, K()), w2: (i, j) => w2(i, j, K()),
      });
    });
    // diag(R) ≥ 0: d = phase(diag F), Q diag(d), triu(diag(d) F[0:k, :])
    const d = (c: string) => `select(-1.0, 1.0, ${f(c, c)} >= 0.0)`;
    this.elementsOver([m, kk], Q, ([i, j]) => `${q(i!, j!)} * ${d(j!)}`, `${r} householder: Q diag(d)`);
    this.elementsOver([kk, nn], Ro, ([i, j]) => `select(0.0, ${d(i!)} * ${f(i!, j!)}, ${j} >= ${i})`, `${r} householder: R = triu(diag(d) F)`);
    this.store.set(n, { k: 'tuple', parts: [{ k: 'slot', slot: Q }, { k: 'slot', slot: Ro }] });
  }

  /** X[k0:, colLo:] ← (I − V op(T) Vᵀ) X[k0:, colLo:] for one panel (V m × nb from row k0, T its
   *  nb × nb upper triangular factor at rows k0…, op(T) = Tᵀ when `transT`): W = Vᵀ X (tiled,
   *  rows k0 … m), W ← op(T) W (one invocation per entry), X −= V W (tiled). `bounds` declares
   *  k0, k1 and nb. */
  private applyPanel(note: string, bounds: string[], rows: Dim, cols: Dim, o: { colLo: string; transT: boolean; v: (i: string, c: string) => string; x: (i: string, j: string) => string; t: (i: string, j: string) => string; w: (i: string, j: string) => string; w2: (i: string, j: string) => string }): void {
    const M = this.dim(rows);
    const C = () => this.dim(cols);
    this.begin('tiles', `${note}: W = Vᵀ X (tiled)`, undefined, [Dim.const(NB), cols]);
    for (const l of bounds) this.line(l);
    this.tileLoop({
      rows: 'nb', cols: C(), kLo: 'k0', kHi: M, rowHi: 'nb',
      a: (i, k) => o.v(k, i),
      b: (k, c) => o.x(k, c),
      skip: `c0 + ${TILE} <= ${o.colLo}`,
      epilogue: () => this.line(`if (gi < nb && gj >= ${o.colLo} && gj < ${C()}) { ${o.w('gi', 'gj')} = acc[q]; }`),
    });
    this.endUniform();
    this.begin('elements', `${note}: W ← ${o.transT ? 'Tᵀ' : 'T'} W`, Dim.const(NB).mul(cols));
    for (const l of bounds) this.line(l);
    this.block(`for (var e: i32 = gx; e < ${NB} * ${C()}; e = e + gs)`, () => {
      this.line(`let i: i32 = e / ${C()};`);
      this.line(`let c: i32 = e % ${C()};`);
      this.line(`if (i >= nb || c < ${o.colLo}) { continue; }`);
      this.line(`var s: f32 = 0.0;`);
      this.line(o.transT
        ? `for (var l: i32 = 0; l <= i; l = l + 1) { s = s + ${o.t('k0 + l', 'i')} * ${o.w('l', 'c')}; }`
        : `for (var l: i32 = i; l < nb; l = l + 1) { s = s + ${o.t('k0 + i', 'l')} * ${o.w('l', 'c')}; }`);
      this.line(`${o.w2('i', 'c')} = s;`);
    });
    this.end();
    this.blockUpdate(`${note}: X −= V W (tiled)`, rows, cols, bounds, {
      rowLo: 'k0', rowHi: M, colLo: o.colLo, kLo: '0', kHi: 'nb',
      a: (i, k) => o.v(i, k), b: (k, c) => o.w2(k, c), c: (i, c) => o.x(i, c),
    });
  }

  // ---- loops on the host -------------------------------------------------------------------------

  private hostLoopable(n: Node): boolean {
    return staticIntDim(n.args[0]!) !== undefined && staticIntDim(n.args[1]!) !== undefined;
  }

  private emitHostLoop(n: Node): void {
    const r = n.regions[0]!;
    const k = n.args.length - 2;
    const lo = staticIntDim(n.args[0]!)!;
    const hi = staticIntDim(n.args[1]!)!;
    const hasUntil = n.attrs.hasUntil === true;
    for (const x of n.args.slice(2)) this.emitNode(x);
    const isTensorT = (x: Node) => x.type.kind === 'tensor' && x.type.shape.length > 0;
    const isIntT = (x: Node) => x.type.kind === 'tensor' && x.type.dtype === 'i';
    // carries
    const carrySlot: number[] = [];
    for (let c = 0; c < k; c++) {
      const init = n.args[c + 2]!;
      const p = r.params[c + 1]!;
      if (isTensorT(init)) {
        const slot = this.newSlot(numel(init.type as TensorType), p, 'loop carry');
        this.elementsKernel(init, slot, (ix) => this.elem(init, ix), `${this.ref(n)} carry ${c} init`);
        carrySlot.push(slot);
        this.store.set(p, { k: 'slot', slot });
      } else {
        const slot = this.scalarSlot(p);
        carrySlot.push(slot);
        this.store.set(p, isIntT(init) ? { k: 'int', name: this.readInt(slot) } : { k: 'scalar', name: this.readScalar(slot) });
      }
    }
    const stepSlot = this.scalarSlot(n);
    const itSlot = this.scalarSlot(n);
    const cvSlot = this.scalarSlot(n);
    const stopSlot = this.scalarSlot(n);
    const doneSlot = this.scalarSlot(n);
    const flag = hasUntil ? this.untilLoops++ : -1;
    if (hasUntil && this.branchGuards.length) {
      // an instance whose branch skips this loop counts as stopped, so that the runtime's flag
      // check can end the loop early once every instance that runs it has stopped
      const skipped = this.branchGuards.join(' || ');
      const saved = this.guards;
      this.guards = saved.filter((g) => !this.branchGuards.includes(g));
      this.single(`${this.ref(n)} loop skipped by its branch`, () => this.line(`if (${skipped}) { OUT[OOFLAGS + inst * NFLAGS + ${flag}] = 1.0; }`));
      this.guards = saved;
    }
    this.single(`${this.ref(n)} loop start`, () => {
      for (let c = 0; c < k; c++) {
        const init = n.args[c + 2]!;
        if (isTensorT(init)) continue;
        this.line(isIntT(init) ? `${this.slotAt(carrySlot[c]!, '0')} = bitcast<f32>(${this.int(init)});` : `${this.readScalar(carrySlot[c]!)} = ${this.elem(init, [])};`);
      }
      this.line(`${this.slotAt(stepSlot, '0')} = bitcast<f32>(0);`);
      this.line(`${this.slotAt(itSlot, '0')} = bitcast<f32>(0);`);
      this.line(`${this.slotAt(stopSlot, '0')} = bitcast<f32>(0);`);
      this.line(`${this.readScalar(cvSlot)} = ${hasUntil ? '0.0' : '1.0'};`);
      if (hasUntil) this.line(`OUT[OOFLAGS + inst * NFLAGS + ${flag}] = 0.0;`);
    });
    const body: ScheduleStep[] = [];
    // an `until` loop's per-instance stopped flag is also written to the 'loop flags' output, which
    // the runtime reads every CHECK_EVERY iterations to skip the rest of the loop once every
    // instance has stopped
    this.stepStack[this.stepStack.length - 1]!.push({
      k: 'loop',
      count: Dim.max(hi.sub(lo), Dim.const(0)).toString(),
      body,
      ...(hasUntil ? { until: { buffer: 'out', index: flag }, check: { every: CHECK_EVERY } } : {}),
    });
    this.stepStack.push(body);
    if (hasUntil) this.guards.push(`${this.readInt(stopSlot)} != 0`);
    const step = this.readInt(stepSlot);
    this.store.set(r.params[0]!, { k: 'int', name: n.attrs.reverse === true ? `(${this.dim(hi)} - 1 - ${step})` : `(${this.dim(lo)} + ${step})` });
    this.emitRegion(r);
    const next = r.results.slice(0, k);
    const done = r.results[k]!;
    this.emitNode(done);
    if (hasUntil) {
      const dn = done;
      this.single(`${this.ref(n)} until`, () => this.line(`${this.readScalar(doneSlot)} = ${this.elem(dn, [])};`));
    }
    // phase 1: new values that are not in-place updates, into temporaries
    const { sameIndex } = this.carryReads(new Set(r.params.slice(1)));
    type Plan = { c: number; kind: 'skip' | 'inplace' | 'copy'; from?: string; slot?: number };
    const plan: Plan[] = [];
    next.forEach((x, c) => {
      const param = r.params[c + 1]!;
      if (x === param) return plan.push({ c, kind: 'skip' });
      if (isTensorT(x)) {
        const st = this.store.get(x);
        const view = !st || st.k === 'view';
        if (view && !this.mat.has(x) && sameIndex(x, param)) return plan.push({ c, kind: 'inplace' });
        if (st && st.k === 'slot' && !carrySlot.includes(st.slot)) return plan.push({ c, kind: 'copy', slot: st.slot });
        const tmp = this.newSlot(numel(x.type as TensorType), n, 'step temporary');
        this.elementsKernel(x, tmp, (ix) => this.elem(x, ix), `${this.ref(n)} carry ${c} next`);
        return plan.push({ c, kind: 'copy', slot: tmp });
      }
      const tmp = this.scalarSlot(n);
      const xi = x;
      this.single(`${this.ref(n)} carry ${c} next`, () =>
        this.line(isIntT(xi) ? `${this.slotAt(tmp, '0')} = bitcast<f32>(${this.int(xi)});` : `${this.readScalar(tmp)} = ${this.elem(xi, [])};`),
      );
      return plan.push({ c, kind: 'copy', slot: tmp });
    });
    // phase 2: in-place updates (each reads its own carry only at the element it writes)
    for (const p of plan) {
      if (p.kind !== 'inplace') continue;
      const x = next[p.c]!;
      const slot = carrySlot[p.c]!;
      const param = r.params[p.c + 1]!;
      if ((x.op === 'setcol' || x.op === 'setrow') && x.args[0] === param) {
        const sh = (x.type as TensorType).shape;
        const len = x.op === 'setcol' ? sh[0]! : sh[1]!;
        this.begin('elements', `${this.ref(n)} carry ${p.c} ${x.op} in place`, len);
        const t = this.fresh('t');
        const pos = this.int(x.args[1]!);
        const ix = x.op === 'setcol' ? [t, pos] : [pos, t];
        this.line(`for (var ${t}: i32 = gx; ${t} < ${this.dim(len)}; ${t} = ${t} + gs) { ${this.slotAt(slot, this.flat(ix, sh))} = ${this.elem(x.args[2]!, [t])}; }`);
        this.end();
        continue;
      }
      this.store.set(x, { k: 'view' });
      this.elementsKernel(x, slot, (ix) => this.elem(x, ix), `${this.ref(n)} carry ${p.c} in place`);
    }
    // phase 3: copies into the carries, then the counters
    for (const p of plan) {
      if (p.kind !== 'copy') continue;
      const x = next[p.c]!;
      const slot = carrySlot[p.c]!;
      if (isTensorT(x)) {
        const N = numel(x.type as TensorType);
        this.begin('elements', `${this.ref(n)} carry ${p.c} copy`, N);
        const e = this.fresh('e');
        this.line(`for (var ${e}: i32 = gx; ${e} < ${this.dim(N)}; ${e} = ${e} + gs) { ${this.slotAt(slot, e)} = ${this.slotAt(p.slot!, e)}; }`);
        this.end();
      }
    }
    this.single(`${this.ref(n)} loop step`, () => {
      for (const p of plan) {
        if (p.kind === 'copy' && !isTensorT(next[p.c]!)) this.line(`${this.slotAt(carrySlot[p.c]!, '0')} = ${this.slotAt(p.slot!, '0')};`);
      }
      this.line(`${this.slotAt(stepSlot, '0')} = bitcast<f32>(${step} + 1);`);
      this.line(`${this.slotAt(itSlot, '0')} = bitcast<f32>(${this.readInt(itSlot)} + 1);`);
      if (hasUntil) {
        this.line(`if (${this.readScalar(doneSlot)} != 0.0) { ${this.slotAt(stopSlot, '0')} = bitcast<f32>(1); ${this.readScalar(cvSlot)} = 1.0; }`);
        this.line(`OUT[OOFLAGS + inst * NFLAGS + ${flag}] = f32(${this.readInt(stopSlot)});`);
      }
    });
    if (hasUntil) this.guards.pop();
    this.stepStack.pop();
    // values of the region are not visible after the loop
    const parts = carrySlot.map((slot, c) => {
      const init = n.args[c + 2]!;
      return isTensorT(init) ? { k: 'slot' as const, slot } : isIntT(init) ? { k: 'int' as const, name: this.readInt(slot) } : { k: 'scalar' as const, name: this.readScalar(slot) };
    });
    this.store.set(n, { k: 'tuple', parts: [...parts, { k: 'int', name: this.readInt(itSlot) }, { k: 'scalar', name: this.readScalar(cvSlot) }] });
  }

  // ---- the program -------------------------------------------------------------------------------

  runGrid(): GridProgram {
    const f = this.f;
    const statusNodes = this.prepare();
    this.analyzeScalars();
    this.fuseEpilogues();
    // the first failed index check of an instance: (id, index, size), 0 while none failed
    this.checkSlot = this.newSlot(Dim.const(3), f.results[0]?.node ?? this.roots[0]!, 'value');
    this.single('clear index checks', () => {
      this.line(`${this.slotAt(this.checkSlot, '0')} = 0.0;`);
    });
    const storage = this.storage();
    f.params.forEach((p, i) => {
      const t = p.node.type as TensorType;
      this.inputs.push({ name: p.name, size: numel(t).toString(), kind: 'result', shape: t.shape.map((d) => d.toString()), ...(t.dtype === 'i' ? { int: true } : {}), ...(storage.params[i] ? { half: storage.params[i] } : {}) });
      this.store.set(p.node, { k: 'input', index: i });
      if (t.dtype === 'i') this.store.set(p.node, { k: 'int', name: `bitcast<i32>(IN[IO${i} + inst * IS${i}])` });
    });
    this.emitRegion(null);
    for (const r of this.roots) this.emitNode(r);
    const outs: KernelIO[] = [];
    f.results.forEach((r, i) => {
      const t = r.node.type as TensorType;
      outs.push({ name: r.name, size: numel(t).toString(), kind: 'result', shape: t.shape.map((d) => d.toString()), ...(t.dtype === 'i' ? { int: true } : {}), ...(storage.results[i] ? { half: storage.results[i] } : {}) });
    });
    statusNodes.forEach((s) => outs.push({ name: s.name, size: '1', kind: 'status', status: s.status, field: s.field }));
    this.outputs.push(...outs);
    f.results.forEach((r, i) => {
      const t = r.node.type as TensorType;
      if (t.dtype === 'i') return this.single(`result ${r.name}`, () => this.line(`OUT[OO${i} + inst] = bitcast<f32>(${this.int(r.node)});`));
      const half = storage.results[i];
      if (half) {
        // a 16-bit result: one invocation a word, two values to it
        const N = numel(t);
        const words = Dim.floorDiv(N.add(Dim.const(1)), Dim.const(2));
        this.begin('elements', `result ${r.name} (16-bit)`, words);
        const w = this.fresh('w');
        this.block(`for (var ${w}: i32 = gx; ${w} < ${this.dim(words)}; ${w} = ${w} + gs)`, () => this.packedWord(i, half, this.dim(N), w, (x) => this.elem(r.node, t.shape.length ? this.unflat(x, t.shape) : [])));
        return this.end();
      }
      if (t.shape.length === 0) return this.single(`result ${r.name}`, () => this.line(`OUT[OO${i} + inst] = ${this.elem(r.node, [])};`));
      const prod = this.store.get(r.node)?.k === 'view' || !this.store.has(r.node) ? this.tiledProduct(r.node) : undefined;
      if (prod && prod !== r.node) {
        const cols = this.dim(t.shape[1]!);
        const NN = this.dim(numel(t));
        return this.tiledMatmul(prod, `result ${r.name} (tiled product)`, (gi, gj) => `OUT[OO${i} + inst * ${NN} + ${gi} * ${cols} + ${gj}] = ${this.elem(r.node, [gi, gj])};`);
      }
      const N = numel(t);
      this.begin('elements', `result ${r.name}`, N);
      const e = this.fresh('e');
      this.block(`for (var ${e}: i32 = gx; ${e} < ${this.dim(N)}; ${e} = ${e} + gs)`, () => {
        this.line(`OUT[OO${i} + inst * ${this.dim(N)} + ${e}] = ${this.elem(r.node, this.unflat(e, t.shape))};`);
      });
      this.end();
    });
    const ci = this.outputs.length;
    if (statusNodes.length || this.checks.length) this.single('statuses and index checks', () => {
      statusNodes.forEach((s, k) => {
        const i = f.results.length + k;
        const v = s.node.type.kind === 'tensor' && s.node.type.dtype === 'i' ? `f32(${this.int(s.node)})` : this.elem(s.node, []);
        this.line(`OUT[OO${i} + inst] = ${v};`);
      });
      if (this.checks.length) {
        for (let q = 0; q < 3; q++) this.line(`OUT[OO${ci} + inst * 3 + ${q}] = ${this.slotAt(this.checkSlot, `${q}`)};`);
      }
    });
    if (this.checks.length) this.outputs.push({ name: 'index checks', size: '3', kind: 'check' });
    if (this.untilLoops) this.outputs.push({ name: 'loop flags', size: `${this.untilLoops}`, kind: 'flags' });
    if (!this.checks.length) {
      // nothing is checked: the launch clearing the check slot goes
      const top = this.stepStack[0]!;
      const i = top.findIndex((st) => st.k === 'launch' && st.label === 'clear index checks');
      if (i >= 0) top.splice(i, 1);
      this.kernelList = this.kernelList.filter((o) => o.k.note !== 'clear index checks');
    }
    if (this.packScratch) this.packGridSlots();
    return this.assembleGrid();
  }

  /** Liveness planning of the program's scratch (slot-pack.ts) over its launch sequence: each
   *  launch is one statement naming every slot its kernel names (body, guard, index-check tail);
   *  a launch boundary is a global barrier (WebGPU orders the dispatches of a pass: each is its
   *  own usage scope), so it stands as `workgroupBarrier();` between statements; each schedule
   *  loop is a block that may run again. Two values share memory when no launch uses both and
   *  their launch intervals, extended over the loops they cross, do not overlap. */
  private packGridSlots(): void {
    const refs = new Map<string, string>();
    const chk = this.checkSlot >= 0 ? this.slotAt(this.checkSlot, '0') : '';
    for (const o of this.kernelList) {
      const text = `${o.lines.join('\n')}\n${o.guard.join(' ')}\n${o.hasChecks ? chk : ''}`;
      refs.set(o.k.entry, [...new Set(text.match(/\bSO\d+\b/g) ?? [])].join(' '));
    }
    const lines: string[] = [];
    const walk = (steps: readonly ScheduleStep[]): void => {
      for (const st of steps) {
        if (st.k === 'launch') {
          lines.push(refs.get(st.entry ?? st.kernel) ?? '');
          lines.push('workgroupBarrier();');
        } else if (st.k === 'loop') {
          lines.push('loop {');
          walk(st.body);
          lines.push('}');
        }
      }
    };
    walk(this.stepStack[0]!);
    const packing = packSlots(lines, this.slots);
    for (const o of this.kernelList) {
      o.lines = renameSlots(o.lines, packing.map);
      o.guard = renameSlots(o.guard, packing.map);
    }
    if (this.checkSlot >= 0) this.checkSlot = packing.map[this.checkSlot]!;
    this.slots = packing.sizes;
  }

  /** Contractions read once, by an elementwise op that its own launch materializes (or a result):
   *  the contraction's inner loop runs inside that launch (a fused epilogue: `A * B + C` is one
   *  kernel), instead of a launch of its own and a round trip through scratch. */
  private fused = new Set<Node>();

  private fuseEpilogues(): void {
    const users = new Map<Node, Node[]>();
    for (const n of this.uses.keys()) for (const a of n.args) (users.get(a) ?? users.set(a, []).get(a)!).push(n);
    const results = new Set(this.f.results.map((r) => r.node));
    for (const c of this.uses.keys()) {
      if (wgslClass[c.op] !== 'contraction' || c.type.kind !== 'tensor' || c.type.shape.length === 0) continue;
      if ((this.uses.get(c) ?? 0) !== 1 || results.has(c)) continue;
      const u = users.get(c);
      if (!u || u.length !== 1) continue;
      const user = u[0]!;
      if (wgslClass[user.op] !== 'view' || user.op === 'outer' || user.type.kind !== 'tensor' || user.type.shape.length === 0) continue;
      if (!(this.mat.has(user) || results.has(user))) continue;
      if ((this.sc.home.get(user) ?? null) !== (this.sc.home.get(c) ?? null)) continue;
      if (!(this.uses.get(user) === 1 || this.mat.has(user))) continue;
      this.mat.delete(c);
      this.fused.add(c);
    }
  }

  protected override elem(n: Node, ix: string[]): string {
    if (n === this.tileAcc) return 'cv';
    if (this.fused.has(n)) return this.contraction(n, ix);
    return super.elem(n, ix);
  }

  /** Scalars used more than once (or inside a deeper region) are computed once per instance. */
  private analyzeScalars(): void {
    const all = [...this.uses.keys()];
    for (const n of all) {
      if (n.type.kind !== 'tensor' || n.type.shape.length > 0 || n.type.dtype === 'i') continue;
      if (n.op === 'param' || n.op === 'const' || n.op === 'eps' || n.op === 'itof' || n.op === 'proj') continue;
      if ((this.uses.get(n) ?? 0) > 1) this.mat.add(n);
    }
    // a branch's captures are its regions' parameters: they need storage of their own
    for (const n of all) {
      if (n.op !== 'cond') continue;
      for (const a of n.args.slice(1)) if (a.type.kind === 'tensor' && a.type.shape.length === 0 && a.type.dtype !== 'i' && a.op !== 'param') this.mat.add(a);
    }
  }

  private assembleGrid(): GridProgram {
    const pre = this.prelude();
    const sg = this.subgroups;
    const chk = this.slotAt(this.checkSlot, '0');
    // each kernel reads only the uniform entries it names (a module of many kernels stays small)
    const used = (lines: string[], o: { lines: string[]; guard: string[]; hasChecks: boolean }): string => {
      const text = `${o.lines.join('\n')}\n${o.guard.join(' ')}\n${o.hasChecks ? chk : ''}`;
      return lines.filter((l) => { const m = /let (\w+):/.exec(l); return !m || new RegExp(`\\b${m[1]}\\b`).test(text); }).join('\n');
    };
    const flagsAt = this.outputs.findIndex((o) => o.kind === 'flags');
    for (const o of this.kernelList) o.lines = o.lines.map((l) => l.replaceAll('OOFLAGS', `OO${flagsAt}`).replaceAll('NFLAGS', `${this.untilLoops}`));
    const entries = this.kernelList.map((o) => {
      const guard = o.guard.length ? o.guard.join(' || ') : '';
      const head =
        o.k.span === 'once'
          ? `  let lid: i32 = i32(lidu);
${used(pre, o)}
`
          : o.k.span === 'tiles'
          ? `  let inst: i32 = i32(wid.y + wid.z * nwg.y);
  if (inst >= ui(0)) { return; }
  let lid: i32 = i32(lidu);
  let b0: i32 = inst * ui(1);
${used(pre, o)}
${guard ? `  if (uniform_flag(select(0.0, 1.0, ${guard}), lidu) != 0) { return; }\n` : ''}`
          : o.k.span === 'elements'
          ? `  let inst: i32 = i32(wid.y + wid.z * nwg.y);
  if (inst >= ui(0)) { return; }
  let lid: i32 = i32(lidu);
  let gx: i32 = i32(wid.x) * WGI + lid;
  let gs: i32 = i32(nwg.x) * WGI;
  let b0: i32 = inst * ui(1);
${used(pre, o)}
${guard ? `  if (${guard}) { return; }\n` : ''}`
          : `  let inst: i32 = i32(wid.x + wid.y * nwg.x);
  if (inst >= ui(0)) { return; }
  let lid: i32 = i32(lidu);
  let b0: i32 = inst * ui(1);
${used(pre, o)}
${guard ? `  if (uniform_flag(select(0.0, 1.0, ${guard}), lidu) != 0) { return; }\n` : ''}`;
      const checks = o.hasChecks
        ? { decl: '  var oob_id: i32 = 0;\n  var oob_i: i32 = 0;\n  var oob_n: i32 = 0;\n', tail: `  if (oob_id != 0 && ${chk} == 0.0) { ${chk} = f32(oob_id); ${this.slotAt(this.checkSlot, '1')} = f32(oob_i); ${this.slotAt(this.checkSlot, '2')} = f32(oob_n); }\n` }
        : { decl: '', tail: '' };
      return `// ${o.k.note}
@compute @workgroup_size(${this.wg})
fn ${o.k.entry}(${this.entryParams()}) {
${sg ? '  sg_lane = sgl;\n  sg_size = sgs;\n' : ''}${head}${checks.decl}${o.lines.join('\n')}
${checks.tail}}`;
    });
    const tiles = this.kernelList.some((o) => o.k.span === 'tiles') ? `var<workgroup> tA: array<f32, ${TILE * TK}>;\nvar<workgroup> tB: array<f32, ${TILE * TK}>;\n` : '';
    const disp = this.indirectGeom.length ? `@group(0) @binding(4) var<storage, read_write> DISP: array<u32>;\n` : '';
    const wgsl = `${this.moduleHeader(`matc grid program for ${this.f.name}: ${this.kernelList.length} kernels over tiles of large operands`)}
${tiles}${disp}${entries.join('\n\n')}
`;
    const spec = { ...this.specFields(wgsl), entryPoint: this.kernelList[0]?.k.entry ?? 'k0' };
    return { spec, kernels: this.kernelList.map((o) => o.k), steps: this.stepStack[0]!, indirect: this.indirectGeom.length };
  }
}

export type { Region };
