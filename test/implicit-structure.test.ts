// Structure of the derived (IFT) backward of the declarative layers: it must never materialise
// the big objects of the naive DDN route (seeds-math §1.3, §1.6; DESIGN §3 "IFT, generically and
// structurally"):
//   - IED: B = ∂²f/∂X∂u is m×m² per eigenvector (PMaF's DDN-J: 20,520 MB at m = 1024, b = 5); the
//     structured backward needs O(m²).
//   - LESS: B_A is n×mn and the Jacobian Dy is n×(mn + m); the structured backward needs
//     O(mn + n²): one dense (n+1)×(n+1) KKT solve plus rank-1 products.
// Checked two ways: on the instance kernel that runs the VJP (every per-instance scratch slot,
// evaluated at the sizes of PMaF's experiments, and how each slot grows with m and n), and on
// the VJP IR itself (`stage('diff')`): the ops and every value's size.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProgram, type Program } from '../compiler/compile.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import { kernelArgs } from '../core/instance-layout.js';
import { parseDim } from '../core/dims.js';
import { stdlibSource } from './util/layers.js';
import { cotangentName } from '../core/derivative-names.js';
import { printFunc } from '../compiler/ir/printer.js';
import { simplifyFunc } from '../compiler/opt/simplify.js';

const programs = new Map<string, Program>();
function program(name: 'less' | 'ied'): Program {
  let p = programs.get(name);
  if (!p) programs.set(name, (p = compileProgram(stdlibSource(name), { path: `stdlib/${name}.mat` })));
  return p;
}

function evalDim(text: string, dims: Record<string, number>): number {
  const v = parseDim(text).eval(new Map(Object.entries(dims)));
  if (!Number.isFinite(v)) throw new Error(`cannot evaluate ${text} at ${JSON.stringify(dims)}`);
  return v;
}

/** Slot sizes (f32 elements) of the kernel running `fn`'s VJP, and the per-instance scratch. */
function vjpSlots(name: 'less' | 'ied', fn: string, dims: Record<string, number>): { texts: string[]; sizes: number[]; scratch: number } {
  const spec = genInstanceKernel(program(name).vjp(fn, 'gpu'));
  const sizes = spec.slots.map((s) => evalDim(s, dims));
  const args = kernelArgs(spec, new Map(Object.entries(dims)), { count: 1, base: 0, batched: spec.inputs.map(() => true) });
  return { texts: spec.slots, sizes, scratch: args.scratchPerInstance };
}

// ---- the text of stage('diff') ------------------------------------------------------------------------

interface IrLine {
  id: string;
  types: string[];
  op: string;
  operands: string[];
  depth: number;
}

/** Parses the printer's `%id: type = op %a %b {attrs}` lines (regions are indented deeper). */
function parseIr(text: string): IrLine[] {
  const out: IrLine[] = [];
  for (const raw of text.split('\n')) {
    const m = /^(\s*)(%[\w.]+): (.*?) = (\w+)(.*)$/.exec(raw);
    if (!m) continue;
    const rest = m[5]!.replace(/\{.*\}\s*$/, '');
    out.push({
      id: m[2]!,
      types: [...m[3]!.matchAll(/f\[([^\]]*)\]/g)].map((x) => x[1]!),
      op: m[4]!,
      operands: [...rest.matchAll(/%[\w.]+/g)].map((x) => x[0]),
      depth: m[1]!.length,
    });
  }
  return out;
}

/** Top-level lines that depend (transitively, through operands) on one of `seeds`. */
function dependents(lines: IrLine[], seeds: string[]): IrLine[] {
  const dep = new Set(seeds);
  const top = Math.min(...lines.map((l) => l.depth));
  const out: IrLine[] = [];
  for (const l of lines) {
    if (l.depth !== top) continue;
    if (l.operands.some((o) => dep.has(o))) {
      dep.add(l.id);
      out.push(l);
    }
  }
  return out;
}

/** The number of elements of the largest value in the IR, at the given sizes. */
function largestValue(lines: IrLine[], dims: Record<string, number>): { size: number; type: string; op: string } {
  let best = { size: 0, type: '', op: '' };
  for (const l of lines)
    for (const t of l.types) {
      const size = t.trim() === '' ? 1 : t.split(',').reduce((acc, d) => acc * evalDim(d.trim(), dims), 1);
      if (size > best.size) best = { size, type: `f[${t}]`, op: `${l.id} = ${l.op}` };
    }
  return best;
}

// ---- IED ------------------------------------------------------------------------------------------------

const IED_MS = [32, 64, 128, 256, 512, 1024];

test('IED backward: every scratch slot is O(m²) (≤ (m+1)² floats at m = 1024), nothing of order m³', (t) => {
  for (const m of IED_MS) {
    const { texts, sizes, scratch } = vjpSlots('ied', 'ied', { m });
    const twice = vjpSlots('ied', 'ied', { m: 2 * m }).sizes;
    const max = Math.max(...sizes);
    assert.ok(max <= (m + 1) ** 2, `m = ${m}: largest slot ${max} > (m+1)² = ${(m + 1) ** 2}`);
    // growth: a slot of order m³ would grow 8× when m doubles
    sizes.forEach((s, i) => assert.ok(twice[i]! <= 4.1 * s, `slot ${i} (${texts[i]}) grows ${twice[i]! / s}× when m doubles`));
    assert.ok(scratch <= 4 * (m + 1) ** 2, `m = ${m}: scratch ${scratch} floats`);
    t.diagnostic(`m = ${m}: ${sizes.length} slots, largest ${max} floats (${[...new Set(texts)].join(' | ')}), scratch ${scratch} floats = ${((scratch * 4) / 2 ** 20).toFixed(3)} MiB per instance`);
  }
});

/** The backward's dense form (stage 'diff' of the WebGPU target, where `backward: auto` is the
 *  dense solve; on the CPU the same solve sits in auto's fallback loop beside MINRES). */
function denseDiff(name: 'less' | 'ied', fn: string): string {
  const p = program(name);
  return printFunc(simplifyFunc(p.b, p.vjpRaw(fn, 'gpu')));
}

test("IED backward IR (stage 'diff'): one (m+1)² bordered KKT solve, a rank-2 symmetric update, no einsum, no value above (m+1)²", () => {
  const text = denseDiff('ied', 'ied');
  const cpu = program('ied').stage('ied', 'diff');
  assert.equal((cpu.match(/= solve /g) ?? []).length, 1, 'the CPU form: the same single solve, in the dense fallback');
  assert.ok(/minres/.test(cpu), 'the CPU form: MINRES');
  const lines = parseIr(text);
  assert.ok(lines.length > 10, 'parsed the IR');
  assert.ok(!/\beinsum\b/.test(text), 'no einsum');
  const back = dependents(lines, [`%${cotangentName('u')}`]);
  assert.deepEqual(
    back.filter((l) => l.op === 'solve').map((l) => l.types[0]),
    ['m + 1'],
    'exactly one solve in the backward, of size m + 1',
  );
  assert.equal(back.filter((l) => l.op === 'outer').length, 2, 'grad_X = sym(w uᵀ) as two outer products');
  const big = largestValue(lines, { m: 1024 });
  assert.ok(big.size <= 1025 ** 2, `largest value ${big.type} (${big.op}) has ${big.size} elements`);
});

// ---- LESS -----------------------------------------------------------------------------------------------

test('LESS backward: no scratch slot of order m·n² (every slot ≤ max(m·n, (n+1)²) at m = 1024, n = 256)', (t) => {
  for (const fn of ['less', 'less_bls']) {
    const at = (m: number, n: number) => vjpSlots('less', fn, { m, n });
    const base = at(1024, 256);
    const bound = Math.max(1024 * 256, 257 ** 2);
    const max = Math.max(...base.sizes);
    assert.ok(max <= bound, `${fn}: largest slot ${max} > ${bound}`);
    const dm = at(2048, 256).sizes;
    const dn = at(1024, 512).sizes;
    base.sizes.forEach((s, i) => {
      // O(mn + n²): doubling m at most doubles a slot, doubling n at most quadruples it, and no slot
      // grows with both m and n² (m·n² would grow 2× in m and 4× in n)
      assert.ok(dm[i]! <= 2.01 * s, `${fn} slot ${i} (${base.texts[i]}) grows ${dm[i]! / s}× with m`);
      assert.ok(dn[i]! <= 4.1 * s, `${fn} slot ${i} (${base.texts[i]}) grows ${dn[i]! / s}× with n`);
      assert.ok(!(dm[i]! > 1.01 * s && dn[i]! > 2.01 * s), `${fn} slot ${i} (${base.texts[i]}) is of order m·n²`);
    });
    t.diagnostic(`${fn} VJP at m = 1024, n = 256: ${base.sizes.length} slots, largest ${max} floats, scratch ${base.scratch} floats = ${((base.scratch * 4) / 2 ** 20).toFixed(2)} MiB per instance (${[...new Set(base.texts)].join(' | ')})`);
  }
});

test("LESS backward IR (stage 'diff'): rank-1 outer products, exactly one dense solve, no einsum, no Jacobian w.r.t. A", () => {
  for (const fn of ['less', 'less_bls']) {
    const text = denseDiff('less', fn);
    const lines = parseIr(text);
    assert.ok(!/\beinsum\b/.test(text), `${fn}: no einsum`);
    const back = dependents(lines, [`%${cotangentName('x')}`]);
    const solves = back.filter((l) => l.op === 'solve');
    assert.equal(solves.length, 1, `${fn}: solves in the backward: ${solves.map((l) => l.id).join(', ')}`);
    assert.equal(solves[0]!.types[0], 'n + 1', `${fn}: the backward solve is the (n+1)-bordered KKT system`);
    const outers = back.filter((l) => l.op === 'outer');
    assert.ok(outers.length >= 2 && outers.every((l) => l.types[0] === 'm, n'), `${fn}: grad_A = −(r wᵀ + A w xᵀ) as m×n outer products`);
    // nothing of B_A's (n × mn) or Dy's (n × (mn + m)) size anywhere in the VJP
    const big = largestValue(lines, { m: 1024, n: 256 });
    assert.ok(big.size <= Math.max(1024 * 256, 257 ** 2), `${fn}: largest value ${big.type} (${big.op}) has ${big.size} elements`);
    for (const l of lines) for (const ty of l.types) assert.ok(!/m\s*\*\s*n|n\s*\*\s*m/.test(ty) || ty.split(',').length === 1, `${fn}: ${l.id} has type f[${ty}]`);
  }
});

test('IED backward scratch vs PMaF (computed sizes at b = 5, not measurements)', (t) => {
  // PMaF's peak GPU memory of the backward, b = 5, float32 (seeds-math §1.7)
  const pmaf: Record<number, { ddnJ: number; ddnE: number; iftE: number }> = {
    32: { ddnJ: 0.6743, ddnE: 0.0674, iftE: 0.123 },
    64: { ddnJ: 5.1694, ddnE: 0.2534, iftE: 0.4868 },
    128: { ddnJ: 40.644, ddnE: 1.0044, iftE: 1.9409 },
    256: { ddnJ: 322.5327, ddnE: 4.0068, iftE: 7.7559 },
    512: { ddnJ: 2570.062, ddnE: 16.0117, iftE: 31.0107 },
    1024: { ddnJ: 20520.1206, ddnE: 64.0215, iftE: 124.0205 },
  };
  t.diagnostic('m      matc VJP scratch/instance   ×5 (MB)   PMaF DDN-J   PMaF DDN-E   PMaF IFT-E  (MB, b = 5)');
  for (const m of IED_MS) {
    const { scratch } = vjpSlots('ied', 'ied', { m });
    const mb5 = (5 * 4 * scratch) / 1e6;
    const p = pmaf[m]!;
    // far below the explicit-B route at every size; the same order as PMaF's structured routes
    assert.ok(mb5 < p.ddnJ / 4 || m < 64, `m = ${m}: ${mb5} MB`);
    assert.ok(mb5 < 4 * p.iftE, `m = ${m}: ${mb5} MB vs PMaF IFT-E ${p.iftE} MB`);
    t.diagnostic(`${String(m).padEnd(6)} ${`${scratch * 4} B`.padStart(26)} ${mb5.toFixed(3).padStart(9)} ${p.ddnJ.toFixed(1).padStart(12)} ${p.ddnE.toFixed(1).padStart(12)} ${p.iftE.toFixed(1).padStart(12)}`);
  }
});

// ---- the KKT build --------------------------------------------------------------------------------------

/** The lines of the body of the loop labelled `.../<suffix>` (the dense Jacobian/KKT build). */
function loopBody(text: string, suffix: string): IrLine[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => / = loop /.test(l) && l.includes(`/${suffix}"`));
  assert.ok(start >= 0, `a loop labelled …/${suffix}`);
  const depth = /^\s*/.exec(lines[start]!)![0].length;
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^\s*/.exec(l)![0].length <= depth) break;
    body.push(l);
  }
  return parseIr(body.join('\n'));
}

test("structured KKT build (stage 'diff'): each column of IED's and LESS's bordered KKT matrix is written from column reads of the symbolic Hessian, no Hessian–vector product", () => {
  // IED: K = [−2X − 2νI, −2u; 2uᵀ, 0] column by column; column j reads X[:, j] (getcol), u[j],
  // and scales u: O(m) per column, O(m²) in all — not one matvec (O(m²)) per column
  const ied = loopBody(program('ied').stage('ied', 'diff'), 'kkt');
  assert.ok(ied.some((l) => l.op === 'getcol'), 'IED: a column read of X');
  assert.ok(ied.some((l) => l.op === 'setcol'), 'IED: the column written into K');
  for (const l of ied) assert.ok(!['matvec', 'matmul', 'dot', 'einsum', 'outer'].includes(l.op), `IED: ${l.id} = ${l.op} in the KKT build`);
  for (const l of ied) for (const ty of l.types) assert.ok(ty.split(',').length === 1 || l.op === 'setcol' || l.op === 'loop', `IED: ${l.id} = ${l.op} builds a matrix f[${ty}] per column`);
  // LESS: the Hessian is 2AᵀA − 2νI: column j is Aᵀ(A e_j) = Aᵀ A[:, j], one matvec of size m×n
  // per column (AᵀA is never formed), the rest O(n)
  for (const fn of ['less', 'less_bls']) {
    const less = loopBody(program('less').stage(fn, 'diff'), 'kkt');
    assert.ok(less.some((l) => l.op === 'getcol'), `${fn}: A e_j read as a column`);
    assert.ok(less.filter((l) => l.op === 'matvec').length <= 1, `${fn}: at most one matvec (Aᵀ a_j) per column`);
    assert.ok(!less.some((l) => ['matmul', 'einsum', 'dot'].includes(l.op)), `${fn}: no matmul, einsum or dot per column`);
  }
});
