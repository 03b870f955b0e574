// The routines of CPU programs written in the loop IR, for the WebAssembly target (emit-wasm.ts
// assembles them into every module, where its vectorizer turns their contiguous inner loops into
// f64x2 SIMD). They compute what runtime/cpu/helpers.ts computes for the JavaScript target, with
// the same algorithms and the same pivoting and singularity rules (the tests hold both to the
// reference interpreter). Arrays are absolute element positions in memory (`mem`); results are
// contiguous and written, never accumulated into.

import { QR_BLOCKED_FROM, QR_PANEL, REFLECT_MIN_WIDTH, REFLECT_ROWS } from '../../../core/qr-blocking.js';
import { type Expr, type Stmt, type Ty, F, I, V, cmp, fbin, fun, iadd, imul, isub, load, sel } from './loop-ir.js';

export interface RoutineDef {
  name: string;
  params: { name: string; ty: Ty }[];
  /** the variable holding the result, when the routine returns one */
  result?: { name: string; ty: Ty };
  body: Stmt[];
}

const MEM = { k: 'mem' } as const;
const iv = (n: string): Expr => V(n, 'i');
const fv = (n: string): Expr => V(n, 'f');
const m = (at: Expr): Expr => load(MEM, at);
const st = (at: Expr, value: Expr): Stmt => ({ k: 'store', buf: MEM, at, value });
const decl = (name: string, ty: Ty, init: Expr): Stmt => ({ k: 'decl', name, ty, init });
const set = (name: string, value: Expr): Stmt => ({ k: 'assign', name, value });
const loop = (v: string, lo: Expr, hi: Expr, body: Stmt[]): Stmt => ({ k: 'for', v, lo, hi, body });
const when = (c: Expr, then: Stmt[], els: Stmt[] = []): Stmt => ({ k: 'if', c, then, else: els });
const and = (a: Expr, b: Expr): Expr => ({ k: 'and', a, b });
const imin = (a: Expr, b: Expr): Expr => ({ k: 'ibin', op: 'min', a, b });
const idivc = (a: Expr, b: Expr): Expr => ({ k: 'ibin', op: 'div', a, b });
const add = (a: Expr, b: Expr) => fbin('add', a, b);
const sub = (a: Expr, b: Expr) => fbin('sub', a, b);
const mul = (a: Expr, b: Expr) => fbin('mul', a, b);
const p = (name: string, ty: Ty = 'i') => ({ name, ty });

/** Rows of C computed together, the depth of a k block and the width of a column block (as the
 *  JavaScript gemm of runtime/cpu/helpers.ts). */
const ROWS = 2;
const DEPTH = 4;
const KB = 128;
const ROW_IX = Array.from({ length: ROWS }, (_, i) => i);
const DEPTH_IX = Array.from({ length: DEPTH }, (_, i) => i);
const NB = 512;

/** C[m×n] (contiguous at c) = A[m×k] · B[k×n], A and B strided; `gemmacc` adds the product to C,
 *  whose rows are ldc apart (C += A·B on a block of a matrix: the block reflector's update of the
 *  trailing columns, without a scratch). */
const gemmOf = (name: 'gemm' | 'gemmacc'): RoutineDef => ({
  name,
  // gemmacc's C has rows ldc apart (a block of a larger matrix); gemm's is contiguous
  params: [p('m'), p('n'), p('k'), p('a'), p('ars'), p('acs'), p('b'), p('brs'), p('bcs'), p('c'), ...(name === 'gemmacc' ? [p('ldc')] : [])],
  body: [
    ...(name === 'gemm' ? [decl('ldc', 'i', iv('n')), loop('t', I(0), imul(iv('m'), iv('n')), [st(iadd(iv('c'), iv('t')), F(0))])] : []),
    when(
      and(cmp('eq', 'i', iv('bcs'), I(1)), cmp('gt', 'i', iv('n'), I(1))),
      [
        // C[i, :] += A[i, p] · B[p, :], ROWS rows at a time, blocked over k and n
        loop('jb', I(0), idivc(iadd(iv('n'), I(NB - 1)), I(NB)), [
          decl('j0', 'i', imul(iv('jb'), I(NB))),
          decl('j1', 'i', imin(iv('n'), iadd(iv('j0'), I(NB)))),
          loop('pb', I(0), idivc(iadd(iv('k'), I(KB - 1)), I(KB)), [
            decl('p0', 'i', imul(iv('pb'), I(KB))),
            decl('p1', 'i', imin(iv('k'), iadd(iv('p0'), I(KB)))),
            loop('ib', I(0), idivc(iv('m'), I(ROWS)), [
              decl('c0', 'i', iadd(iv('c'), imul(imul(iv('ib'), I(ROWS)), iv('ldc')))),
              decl('a0', 'i', iadd(iv('a'), imul(imul(iv('ib'), I(ROWS)), iv('ars')))),
              // DEPTH steps of p at once: C's rows are loaded and stored once per DEPTH products
              // (the additions stay in p's order, so the numbers are those of one step at a time)
              decl('pq', 'i', iadd(iv('p0'), imul(idivc(isub(iv('p1'), iv('p0')), I(DEPTH)), I(DEPTH)))),
              loop('pd', I(0), idivc(isub(iv('p1'), iv('p0')), I(DEPTH)), [
                decl('pe', 'i', iadd(iv('p0'), imul(iv('pd'), I(DEPTH)))),
                ...ROW_IX.flatMap((r) =>
                  DEPTH_IX.map((u) => decl(`x${r}${u}`, 'f', m(iadd(iadd(iv('a0'), imul(I(r), iv('ars'))), imul(iadd(iv('pe'), I(u)), iv('acs')))))),
                ),
                ...DEPTH_IX.map((u) => decl(`bq${u}`, 'i', iadd(iv('b'), imul(iadd(iv('pe'), I(u)), iv('brs'))))),
                loop('jd', iv('j0'), iv('j1'), [
                  ...DEPTH_IX.map((u) => decl(`bw${u}`, 'f', m(iadd(iv(`bq${u}`), iv('jd'))))),
                  ...ROW_IX.map((r) => {
                    const at = iadd(iadd(iv('c0'), imul(I(r), iv('ldc'))), iv('jd'));
                    let e = m(at);
                    for (const u of DEPTH_IX) e = add(e, mul(fv(`x${r}${u}`), fv(`bw${u}`)));
                    return st(at, e);
                  }),
                ]),
              ]),
              loop('pp', iv('pq'), iv('p1'), [
                decl('ap', 'i', iadd(iv('a0'), imul(iv('pp'), iv('acs')))),
                ...ROW_IX.map((r) => decl(`x${r}`, 'f', m(iadd(iv('ap'), imul(I(r), iv('ars')))))),
                decl('bp', 'i', iadd(iv('b'), imul(iv('pp'), iv('brs')))),
                loop('j', iv('j0'), iv('j1'), [
                  decl('bv', 'f', m(iadd(iv('bp'), iv('j')))),
                  ...ROW_IX.map((r) => {
                    const at = iadd(iadd(iv('c0'), imul(I(r), iv('ldc'))), iv('j'));
                    return st(at, add(m(at), mul(fv(`x${r}`), fv('bv'))));
                  }),
                ]),
              ]),
            ]),
            loop('i', imul(idivc(iv('m'), I(ROWS)), I(ROWS)), iv('m'), [
              decl('c1', 'i', iadd(iv('c'), imul(iv('i'), iv('ldc')))),
              decl('a1', 'i', iadd(iv('a'), imul(iv('i'), iv('ars')))),
              loop('q', iv('p0'), iv('p1'), [
                decl('y0', 'f', m(iadd(iv('a1'), imul(iv('q'), iv('acs'))))),
                decl('bq', 'i', iadd(iv('b'), imul(iv('q'), iv('brs')))),
                loop('jj', iv('j0'), iv('j1'), [st(iadd(iv('c1'), iv('jj')), add(m(iadd(iv('c1'), iv('jj'))), mul(fv('y0'), m(iadd(iv('bq'), iv('jj'))))))]),
              ]),
            ]),
          ]),
        ]),
      ],
      [
        // C[i, j] = A[i, :] · B[:, j]: contiguous dot products when A's rows and B's columns are
        loop('i2', I(0), iv('m'), [
          decl('a2', 'i', iadd(iv('a'), imul(iv('i2'), iv('ars')))),
          // four columns of B at once, each load of A's row serving four dot products (each sum
          // is formed as the one-column loop below forms it)
          decl('jq', 'i', I(0)),
          when(and(cmp('eq', 'i', iv('acs'), I(1)), cmp('eq', 'i', iv('brs'), I(1))), [
            set('jq', imul(idivc(iv('n'), I(4)), I(4))),
            loop('jb4', I(0), idivc(iv('n'), I(4)), [
              ...[0, 1, 2, 3].map((u) => decl(`bd${u}`, 'i', iadd(iv('b'), imul(iadd(imul(iv('jb4'), I(4)), I(u)), iv('bcs'))))),
              ...[0, 1, 2, 3].map((u) => decl(`sd${u}`, 'f', F(0))),
              loop('p4', I(0), iv('k'), [
                decl('ad', 'f', m(iadd(iv('a2'), iv('p4')))),
                ...[0, 1, 2, 3].map((u) => set(`sd${u}`, add(fv(`sd${u}`), mul(fv('ad'), m(iadd(iv(`bd${u}`), iv('p4'))))))),
              ]),
              ...[0, 1, 2, 3].map((u) => {
                const at = iadd(iadd(iv('c'), imul(iv('i2'), iv('ldc'))), iadd(imul(iv('jb4'), I(4)), I(u)));
                return st(at, name === 'gemm' ? fv(`sd${u}`) : add(m(at), fv(`sd${u}`)));
              }),
            ]),
          ]),
          loop('j2', iv('jq'), iv('n'), [
            decl('b2', 'i', iadd(iv('b'), imul(iv('j2'), iv('bcs')))),
            decl('s', 'f', F(0)),
            when(
              and(cmp('eq', 'i', iv('acs'), I(1)), cmp('eq', 'i', iv('brs'), I(1))),
              [loop('p2', I(0), iv('k'), [set('s', add(fv('s'), mul(m(iadd(iv('a2'), iv('p2'))), m(iadd(iv('b2'), iv('p2'))))))])],
              [loop('p3', I(0), iv('k'), [set('s', add(fv('s'), mul(m(iadd(iv('a2'), imul(iv('p3'), iv('acs')))), m(iadd(iv('b2'), imul(iv('p3'), iv('brs')))))))])],
            ),
            st(iadd(iadd(iv('c'), imul(iv('i2'), iv('ldc'))), iv('j2')), name === 'gemm' ? fv('s') : add(m(iadd(iadd(iv('c'), imul(iv('i2'), iv('ldc'))), iv('j2'))), fv('s'))),
          ]),
        ]),
      ],
    ),
  ],
});

const gemm = gemmOf('gemm');
const gemmacc = gemmOf('gemmacc');

/** y[m] (contiguous at y) = A[m×n] · x. */
const gemv: RoutineDef = {
  name: 'gemv',
  params: [p('m'), p('n'), p('a'), p('ars'), p('acs'), p('x'), p('xs'), p('y')],
  body: [
    when(
      and(cmp('eq', 'i', iv('acs'), I(1)), cmp('eq', 'i', iv('xs'), I(1))),
      [
        loop('i', I(0), iv('m'), [
          decl('a0', 'i', iadd(iv('a'), imul(iv('i'), iv('ars')))),
          decl('s', 'f', F(0)),
          loop('j', I(0), iv('n'), [set('s', add(fv('s'), mul(m(iadd(iv('a0'), iv('j'))), m(iadd(iv('x'), iv('j'))))))]),
          st(iadd(iv('y'), iv('i')), fv('s')),
        ]),
      ],
      [
        when(
          cmp('ne', 'i', iv('ars'), I(1)),
          [
            loop('i1', I(0), iv('m'), [
              decl('a1', 'i', iadd(iv('a'), imul(iv('i1'), iv('ars')))),
              decl('s1', 'f', F(0)),
              loop('j1', I(0), iv('n'), [set('s1', add(fv('s1'), mul(m(iadd(iv('a1'), imul(iv('j1'), iv('acs')))), m(iadd(iv('x'), imul(iv('j1'), iv('xs')))))))]),
              st(iadd(iv('y'), iv('i1')), fv('s1')),
            ]),
          ],
          [
            // A's columns are contiguous: y = Σ_j x_j A[:, j]; zero coefficients skipped
            loop('t', I(0), iv('m'), [st(iadd(iv('y'), iv('t')), F(0))]),
            loop('j2', I(0), iv('n'), [
              decl('xj', 'f', m(iadd(iv('x'), imul(iv('j2'), iv('xs'))))),
              when(cmp('ne', 'f', fv('xj'), F(0)), [
                decl('a2', 'i', iadd(iv('a'), imul(iv('j2'), iv('acs')))),
                loop('i2', I(0), iv('m'), [st(iadd(iv('y'), iv('i2')), add(m(iadd(iv('y'), iv('i2'))), mul(fv('xj'), m(iadd(iv('a2'), iv('i2'))))))]),
              ]),
            ]),
          ],
        ),
      ],
    ),
  ],
};

/** Σ x_i y_i over n strided entries. */
const dot: RoutineDef = {
  name: 'dot',
  params: [p('n'), p('x'), p('xs'), p('y'), p('ys')],
  result: { name: 's', ty: 'f' },
  body: [
    decl('s', 'f', F(0)),
    when(
      and(cmp('eq', 'i', iv('xs'), I(1)), cmp('eq', 'i', iv('ys'), I(1))),
      [loop('i', I(0), iv('n'), [set('s', add(fv('s'), mul(m(iadd(iv('x'), iv('i'))), m(iadd(iv('y'), iv('i'))))))])],
      [loop('j', I(0), iv('n'), [set('s', add(fv('s'), mul(m(iadd(iv('x'), imul(iv('j'), iv('xs')))), m(iadd(iv('y'), imul(iv('j'), iv('ys')))))))])],
    ),
  ],
};

/**
 * Solves A X = B in place by LU with partial pivoting (M n×n at mm, X n×nrhs at xx); returns
 * rcond = min|u_ii| / max|u_ii|, 0 when a pivot was exactly singular (then replaced by a tiny
 * multiple of the largest entry so the result stays finite): the rule of the reference.
 */
const lu: RoutineDef = {
  name: 'lu',
  params: [p('n'), p('nrhs'), p('mm'), p('xx')],
  result: { name: 'rc', ty: 'f' },
  body: [
    decl('maxp', 'f', F(0)),
    decl('minp', 'f', F(Infinity)),
    decl('sing', 'i', I(0)),
    decl('scale', 'f', F(0)),
    loop('t', I(0), imul(iv('n'), iv('n')), [set('scale', fbin('max', fv('scale'), fun('abs', m(iadd(iv('mm'), iv('t'))))))]),
    loop('c', I(0), iv('n'), [
      decl('pv', 'i', iv('c')),
      decl('best', 'f', fun('abs', m(iadd(iv('mm'), iadd(imul(iv('c'), iv('n')), iv('c')))))),
      loop('r', iadd(iv('c'), I(1)), iv('n'), [
        decl('av', 'f', fun('abs', m(iadd(iv('mm'), iadd(imul(iv('r'), iv('n')), iv('c')))))),
        when(cmp('gt', 'f', fv('av'), fv('best')), [set('best', fv('av')), set('pv', iv('r'))]),
      ]),
      when(cmp('ne', 'i', iv('pv'), iv('c')), [
        loop('j', I(0), iv('n'), [
          decl('ta', 'i', iadd(iv('mm'), iadd(imul(iv('c'), iv('n')), iv('j')))),
          decl('tb', 'i', iadd(iv('mm'), iadd(imul(iv('pv'), iv('n')), iv('j')))),
          decl('tv', 'f', m(iv('ta'))),
          st(iv('ta'), m(iv('tb'))),
          st(iv('tb'), fv('tv')),
        ]),
        loop('j1', I(0), iv('nrhs'), [
          decl('xa', 'i', iadd(iv('xx'), iadd(imul(iv('c'), iv('nrhs')), iv('j1')))),
          decl('xb', 'i', iadd(iv('xx'), iadd(imul(iv('pv'), iv('nrhs')), iv('j1')))),
          decl('xv', 'f', m(iv('xa'))),
          st(iv('xa'), m(iv('xb'))),
          st(iv('xb'), fv('xv')),
        ]),
      ]),
      decl('dc', 'i', iadd(iv('mm'), iadd(imul(iv('c'), iv('n')), iv('c')))),
      decl('piv', 'f', m(iv('dc'))),
      // !(|piv| > 1e-300 · max(1, scale)): singular (NaN counts as singular, as in the reference)
      when({ k: 'not', a: cmp('gt', 'f', fun('abs', fv('piv')), mul(F(1e-300), fbin('max', F(1), fv('scale')))) }, [
        set('sing', I(1)),
        set('piv', mul(sel('f', cmp('ne', 'f', fv('scale'), F(0)), fv('scale'), F(1)), F(1e-15))),
        st(iv('dc'), fv('piv')),
      ]),
      set('maxp', fbin('max', fv('maxp'), fun('abs', fv('piv')))),
      set('minp', fbin('min', fv('minp'), fun('abs', fv('piv')))),
      decl('rc0', 'i', iadd(iv('mm'), imul(iv('c'), iv('n')))),
      decl('xc0', 'i', iadd(iv('xx'), imul(iv('c'), iv('nrhs')))),
      loop('r2', iadd(iv('c'), I(1)), iv('n'), [
        decl('rr', 'i', iadd(iv('mm'), imul(iv('r2'), iv('n')))),
        decl('fct', 'f', fbin('div', m(iadd(iv('rr'), iv('c'))), fv('piv'))),
        when(cmp('ne', 'f', fv('fct'), F(0)), [
          st(iadd(iv('rr'), iv('c')), fv('fct')),
          loop('j2', iadd(iv('c'), I(1)), iv('n'), [st(iadd(iv('rr'), iv('j2')), sub(m(iadd(iv('rr'), iv('j2'))), mul(fv('fct'), m(iadd(iv('rc0'), iv('j2'))))))]),
          decl('xr', 'i', iadd(iv('xx'), imul(iv('r2'), iv('nrhs')))),
          loop('j3', I(0), iv('nrhs'), [st(iadd(iv('xr'), iv('j3')), sub(m(iadd(iv('xr'), iv('j3'))), mul(fv('fct'), m(iadd(iv('xc0'), iv('j3'))))))]),
        ]),
      ]),
    ]),
    // back substitution
    loop('cb', I(0), iv('n'), [
      decl('c2', 'i', isub(isub(iv('n'), I(1)), iv('cb'))),
      decl('d', 'f', m(iadd(iv('mm'), iadd(imul(iv('c2'), iv('n')), iv('c2'))))),
      loop('j4', I(0), iv('nrhs'), [
        decl('sx', 'f', m(iadd(iv('xx'), iadd(imul(iv('c2'), iv('nrhs')), iv('j4'))))),
        loop('kk', iadd(iv('c2'), I(1)), iv('n'), [
          set('sx', sub(fv('sx'), mul(m(iadd(iv('mm'), iadd(imul(iv('c2'), iv('n')), iv('kk')))), m(iadd(iv('xx'), iadd(imul(iv('kk'), iv('nrhs')), iv('j4'))))))),
        ]),
        st(iadd(iv('xx'), iadd(imul(iv('c2'), iv('nrhs')), iv('j4'))), fbin('div', fv('sx'), fv('d'))),
      ]),
    ]),
    decl('rc', 'f', sel('f', cmp('eq', 'i', iv('n'), I(0)), F(1), sel('f', cmp('ne', 'i', iv('sing'), I(0)), F(0), fbin('div', fv('minp'), fv('maxp'))))),
  ],
};

/**
 * Triangular solve in place: X (at xx, contiguous; n×nrhs for a left solve, nrhs×n for a right
 * one) holds B and becomes the solution of op(T) X = B (left) or X op(T) = B (right); T at t with
 * strides trs, tcs, read transposed when `trans`; flags are 0/1.
 */
const trisolve: RoutineDef = {
  name: 'trisolve',
  params: [p('n'), p('nrhs'), p('t'), p('trs'), p('tcs'), p('xx'), p('lower'), p('trans'), p('unit'), p('left')],
  body: [
    decl('rs', 'i', sel('i', cmp('ne', 'i', iv('trans'), I(0)), iv('tcs'), iv('trs'))),
    decl('cs', 'i', sel('i', cmp('ne', 'i', iv('trans'), I(0)), iv('trs'), iv('tcs'))),
    decl('lw', 'i', cmp('ne', 'i', iv('lower'), iv('trans'))),
    when(
      cmp('ne', 'i', iv('left'), I(0)),
      [
        loop('s', I(0), iv('n'), [
          decl('i', 'i', sel('i', iv('lw'), iv('s'), isub(isub(iv('n'), I(1)), iv('s')))),
          decl('xi', 'i', iadd(iv('xx'), imul(iv('i'), iv('nrhs')))),
          loop('k', sel('i', iv('lw'), I(0), iadd(iv('i'), I(1))), sel('i', iv('lw'), iv('i'), iv('n')), [
            decl('tk', 'f', m(iadd(iv('t'), iadd(imul(iv('i'), iv('rs')), imul(iv('k'), iv('cs')))))),
            when(cmp('ne', 'f', fv('tk'), F(0)), [
              decl('xk', 'i', iadd(iv('xx'), imul(iv('k'), iv('nrhs')))),
              loop('j', I(0), iv('nrhs'), [st(iadd(iv('xi'), iv('j')), sub(m(iadd(iv('xi'), iv('j'))), mul(fv('tk'), m(iadd(iv('xk'), iv('j'))))))]),
            ]),
          ]),
          when(cmp('eq', 'i', iv('unit'), I(0)), [
            decl('dg', 'f', m(iadd(iv('t'), iadd(imul(iv('i'), iv('rs')), imul(iv('i'), iv('cs')))))),
            loop('j1', I(0), iv('nrhs'), [st(iadd(iv('xi'), iv('j1')), fbin('div', m(iadd(iv('xi'), iv('j1'))), fv('dg')))]),
          ]),
        ]),
      ],
      [
        // X op(T) = B: column j of X after the columns op(T)'s column j mixes in
        loop('s2', I(0), iv('n'), [
          decl('j2', 'i', sel('i', iv('lw'), isub(isub(iv('n'), I(1)), iv('s2')), iv('s2'))),
          loop('k2', sel('i', iv('lw'), iadd(iv('j2'), I(1)), I(0)), sel('i', iv('lw'), iv('n'), iv('j2')), [
            decl('tk2', 'f', m(iadd(iv('t'), iadd(imul(iv('k2'), iv('rs')), imul(iv('j2'), iv('cs')))))),
            when(cmp('ne', 'f', fv('tk2'), F(0)), [
              loop('r', I(0), iv('nrhs'), [
                decl('xa', 'i', iadd(iv('xx'), iadd(imul(iv('r'), iv('n')), iv('j2')))),
                st(iv('xa'), sub(m(iv('xa')), mul(fv('tk2'), m(iadd(iv('xx'), iadd(imul(iv('r'), iv('n')), iv('k2'))))))),
              ]),
            ]),
          ]),
          when(cmp('eq', 'i', iv('unit'), I(0)), [
            decl('dg2', 'f', m(iadd(iv('t'), iadd(imul(iv('j2'), iv('rs')), imul(iv('j2'), iv('cs')))))),
            loop('r2', I(0), iv('nrhs'), [
              decl('xb', 'i', iadd(iv('xx'), iadd(imul(iv('r2'), iv('n')), iv('j2')))),
              st(iv('xb'), fbin('div', m(iv('xb')), fv('dg2'))),
            ]),
          ]),
        ]),
      ],
    ),
  ],
};

// ---- Householder QR --------------------------------------------------------------------------------


const pos = (base: string, row: Expr, ld: Expr, col: Expr): Expr => iadd(iv(base), iadd(imul(row, ld), col));
/** A call of another routine: positions in memory are i32 values like its sizes and strides. */
const ncall = (fn: 'gemm' | 'gemmacc', args: Expr[]): Stmt => ({ k: 'call', fn, args: args.map((e) => ({ k: 'val' as const, e })) });

/**
 * One reflection of rows j … m−1 of X (rows ld apart, at position X), columns j … ce−1, with the
 * unit reflector at vr (entries j … m−1): t = Xᵀv there, then X −= 2 v tᵀ (t at `t`). Both passes
 * take REFLECT_ROWS rows at a time, then the rows left over one by one (the same passes with one
 * row):
 *   t_c ← t_c + (v_i X_ic + v_{i+1} X_{i+1,c} + …),   X_{i+r,c} ← X_{i+r,c} − 2 v_{i+r} t_c.
 * Row by row, each row cost a load and a store of t per multiply–add; grouped, t moves once per
 * group (core/qr-blocking.ts has the measurements).
 */
function reflectRows(x: string, vr: string, X: string, ld: Expr, j: Expr, ce: Expr): Stmt[] {
  const tc = (c: string): Expr => iadd(iv('t'), iv(c));
  const groups = `hg${x}`;
  const rest = `hr${x}`;
  /** Both passes over `count` groups of R rows from row `from` (names tagged by `tag`). */
  const passes = (R: number, from: Expr, count: Expr, tag: string): { a: Stmt; b: Stmt } => {
    const rs = Array.from({ length: R }, (_, r) => r);
    const [g, i, c] = [`${tag}g`, `${tag}i`, `${tag}c`];
    const first = (gv: string) => iadd(from, imul(iv(gv), I(R)));
    const rows = (k: string) => rs.map((r) => decl(`${tag}${k}${r}`, 'i', pos(X, iadd(iv(i), I(r)), ld, I(0))));
    const xAt = (r: number) => iadd(iv(`${tag}x${r}`), iv(c));
    return {
      // t_c += Σ_r v_{i+r} X_{i+r,c}
      a: loop(`${g}a`, I(0), count, [
        decl(i, 'i', first(`${g}a`)),
        ...rs.map((r) => decl(`${tag}v${r}`, 'f', m(iadd(iv(vr), iadd(iv(i), I(r)))))),
        ...rows('x'),
        loop(c, j, ce, [st(tc(c), add(m(tc(c)), rs.map((r) => mul(fv(`${tag}v${r}`), m(xAt(r)))).reduce((p, q) => add(p, q))))]),
      ]),
      // X_{i+r,c} −= 2 v_{i+r} t_c
      b: loop(`${g}b`, I(0), count, [
        decl(i, 'i', first(`${g}b`)),
        ...rs.map((r) => decl(`${tag}f${r}`, 'f', mul(F(2), m(iadd(iv(vr), iadd(iv(i), I(r))))))),
        ...rows('x'),
        loop(c, j, ce, [decl(`${tag}t`, 'f', m(tc(c))), ...rs.map((r) => st(xAt(r), sub(m(xAt(r)), mul(fv(`${tag}f${r}`), fv(`${tag}t`)))))]),
      ]),
    };
  };
  const grouped = passes(REFLECT_ROWS, j, iv(groups), `hq${x}`);
  const single = passes(1, iv(rest), isub(iv('m'), iv(rest)), `hs${x}`);
  return [
    loop(`hz${x}`, j, ce, [st(tc(`hz${x}`), F(0))]),
    // (narrow rows — a panel's last columns — run one by one: the group's vector loop checks its
    // rows against each other before it starts, which a few columns do not repay)
    decl(groups, 'i', sel('i', cmp('ge', 'i', isub(ce, j), I(REFLECT_MIN_WIDTH)), idivc(isub(iv('m'), j), I(REFLECT_ROWS)), I(0))),
    decl(rest, 'i', iadd(j, imul(iv(groups), I(REFLECT_ROWS)))),
    grouped.a,
    single.a,
    grouped.b,
    single.b,
  ];
}

/**
 * T of the panel's reflectors j0 … j1−1 (LAPACK dlarft, forward, columnwise, every τ = 2 or 0):
 * H_j0 ⋯ H_{j1−1} = I − V T Vᵀ with V's columns the unit reflectors (vt's rows) and T upper
 * triangular, QR_PANEL × QR_PANEL at tt (entries past the panel's width unused):
 *   T[a, a] = τ_a,   T[0:a, a] = −τ_a T[0:a, 0:a] (V[:, 0:a]ᵀ v_a).
 * Column a first holds z = V[:, 0:a]ᵀ v_a (over rows ≥ j0 + a, where v_a lives), then T's column
 * in place (row b reads z at rows ≥ b only).
 */
function tFactor(x: string): Stmt[] {
  const P = I(QR_PANEL);
  return [
    decl(`nb${x}`, 'i', isub(iv('j1'), iv('j0'))),
    loop(`a${x}`, I(0), iv(`nb${x}`), [
      decl(`ja${x}`, 'i', iadd(iv('j0'), iv(`a${x}`))),
      decl(`tau${x}`, 'f', sel('f', cmp('ne', 'f', m(pos('vt', iv(`ja${x}`), iv('m'), iv(`ja${x}`))), F(0)), F(2), F(0))),
      loop(`b${x}`, I(0), iv(`a${x}`), [
        decl(`z${x}`, 'f', F(0)),
        decl(`vb${x}`, 'i', pos('vt', iadd(iv('j0'), iv(`b${x}`)), iv('m'), I(0))),
        decl(`va${x}`, 'i', pos('vt', iv(`ja${x}`), iv('m'), I(0))),
        loop(`i${x}`, iv(`ja${x}`), iv('m'), [set(`z${x}`, add(fv(`z${x}`), mul(m(iadd(iv(`vb${x}`), iv(`i${x}`))), m(iadd(iv(`va${x}`), iv(`i${x}`))))))]),
        st(pos('tt', iv(`b${x}`), P, iv(`a${x}`)), fv(`z${x}`)),
      ]),
      loop(`c${x}`, I(0), iv(`a${x}`), [
        decl(`y${x}`, 'f', F(0)),
        loop(`d${x}`, iv(`c${x}`), iv(`a${x}`), [set(`y${x}`, add(fv(`y${x}`), mul(m(pos('tt', iv(`c${x}`), P, iv(`d${x}`))), m(pos('tt', iv(`d${x}`), P, iv(`a${x}`))))))]),
        st(pos('tt', iv(`c${x}`), P, iv(`a${x}`)), mul(fun('neg', fv(`tau${x}`)), fv(`y${x}`))),
      ]),
      st(pos('tt', iv(`a${x}`), P, iv(`a${x}`)), fv(`tau${x}`)),
      loop(`e${x}`, iadd(iv(`a${x}`), I(1)), iv(`nb${x}`), [st(pos('tt', iv(`e${x}`), P, iv(`a${x}`)), F(0))]),
    ]),
  ];
}

/**
 * Y[rows × cols] (row stride ld, at yy) −= V op(T) Vᵀ Y restricted to the panel: the block
 * reflector of tFactor applied with three products (W = Vᵀ Y, W ← −op(T) W, Y += V W, the last in
 * place). V is rows × nb (column b = row j0 + b of vt from position j0); op(T) = Tᵀ when `trans`
 * (the factorization: H_{j1−1} ⋯ H_j0 Y), T otherwise (Q: H_j0 ⋯ H_{j1−1} Y).
 */
function applyBlock(x: string, yy: Expr, ld: Expr, rows: Expr, cols: Expr, trans: boolean): Stmt[] {
  const P = I(QR_PANEL);
  const V0 = pos('vt', iv('j0'), iv('m'), iv('j0'));
  const W2 = iadd(iv('wb'), imul(P, cols));
  return [
    decl(`y0${x}`, 'i', yy),
    ncall('gemm', [iv(`nb${x}`), cols, rows, V0, iv('m'), I(1), iv(`y0${x}`), ld, I(1), iv('wb')]),
    ncall('gemm', [iv(`nb${x}`), cols, iv(`nb${x}`), iv('tt'), trans ? I(1) : P, trans ? P : I(1), iv('wb'), cols, I(1), W2]),
    // Y += V (−W): the negation on the small nb × cols block, the update in place
    decl(`w2${x}`, 'i', W2),
    loop(`s${x}`, I(0), imul(iv(`nb${x}`), cols), [st(iadd(iv(`w2${x}`), iv(`s${x}`)), fun('neg', m(iadd(iv(`w2${x}`), iv(`s${x}`)))))]),
    ncall('gemmacc', [rows, cols, iv(`nb${x}`), V0, I(1), iv('m'), iv(`w2${x}`), cols, I(1), iv(`y0${x}`), ld]),
  ];
}

/**
 * householder(A) → Q, R (compiler/solvers/spectral.ts lowerHouseholder, the same reflections):
 * A m×n is in w (row-major, overwritten); results Q m×k at q and R k×n at r (contiguous),
 * k = min(m, n), diag(R) ≥ 0. Scratch: vt k×m (the unit reflectors as rows), t (n), tt
 * (QR_PANEL²), wb (2·QR_PANEL·n).
 *
 * Reflection j (v = 0 when there is nothing to eliminate): y = W[j:, j], u = y + sgn(y_j)‖y‖e_j,
 * v = u/‖u‖, W ← W − 2 v (vᵀW). Only columns ≥ j change (columns < j are zero in rows ≥ j up to
 * rounding, and their rows ≥ j are not part of R). Below QR_BLOCKED_FROM reflections each one
 * updates every trailing column (LAPACK dgeqr2); from it on, panels of QR_PANEL reflections update
 * their own columns one by one and the columns right of the panel at once, by the block reflector
 * (dgeqrf: (I − V Tᵀ Vᵀ) W[j0:, j1:], three matrix products). Q = H_0 ⋯ H_{k−1} I[:, 0:k] is
 * accumulated from the last reflection (dorg2r / dorgqr: columns < j of the partial product are
 * still e_c, so only Q[j:, j:] changes), then d = sgn(diag W): Q ← Q diag(d), R ← diag(d) triu(W).
 */
const householder: RoutineDef = {
  name: 'householder',
  params: [p('m'), p('n'), p('w'), p('vt'), p('t'), p('q'), p('r'), p('tt'), p('wb')],
  body: [
    decl('k', 'i', imin(iv('m'), iv('n'))),
    decl('blk', 'i', cmp('ge', 'i', iv('k'), I(QR_BLOCKED_FROM))),
    decl('npan', 'i', idivc(iadd(iv('k'), I(QR_PANEL - 1)), I(QR_PANEL))),
    loop('pn', I(0), iv('npan'), [
      decl('j0', 'i', imul(iv('pn'), I(QR_PANEL))),
      decl('j1', 'i', imin(iv('k'), iadd(iv('j0'), I(QR_PANEL)))),
      // the columns each reflection of the panel updates itself
      decl('ce', 'i', sel('i', iv('blk'), iv('j1'), iv('n'))),
      loop('j', iv('j0'), iv('j1'), [
        decl('ss', 'f', F(0)),
        loop('i1', iv('j'), iv('m'), [decl('y1', 'f', m(pos('w', iv('i1'), iv('n'), iv('j')))), set('ss', add(fv('ss'), mul(fv('y1'), fv('y1'))))]),
        decl('yj', 'f', m(pos('w', iv('j'), iv('n'), iv('j')))),
        decl('uj', 'f', add(fv('yj'), mul(sel('f', cmp('ge', 'f', fv('yj'), F(0)), F(1), F(-1)), fun('sqrt', fv('ss'))))),
        decl('nu2', 'f', mul(fv('uj'), fv('uj'))),
        loop('i2', iadd(iv('j'), I(1)), iv('m'), [decl('y2', 'f', m(pos('w', iv('i2'), iv('n'), iv('j')))), set('nu2', add(fv('nu2'), mul(fv('y2'), fv('y2'))))]),
        decl('nu', 'f', fun('sqrt', fv('nu2'))),
        decl('vr', 'i', pos('vt', iv('j'), iv('m'), I(0))),
        loop('i0', I(0), iv('j'), [st(iadd(iv('vr'), iv('i0')), F(0))]),
        when(
          cmp('gt', 'f', fv('nu'), F(0)),
          [
            st(iadd(iv('vr'), iv('j')), fbin('div', fv('uj'), fv('nu'))),
            loop('i3', iadd(iv('j'), I(1)), iv('m'), [st(iadd(iv('vr'), iv('i3')), fbin('div', m(pos('w', iv('i3'), iv('n'), iv('j'))), fv('nu')))]),
            ...reflectRows('f', 'vr', 'w', iv('n'), iv('j'), iv('ce')),
          ],
          [loop('i6', iv('j'), iv('m'), [st(iadd(iv('vr'), iv('i6')), F(0))])],
        ),
      ]),
      // the columns right of the panel: W[j0:, j1:] ← (I − V Tᵀ Vᵀ) W[j0:, j1:]
      when(and(iv('blk'), cmp('lt', 'i', iv('j1'), iv('n'))), [...tFactor('f'), ...applyBlock('f', pos('w', iv('j0'), iv('n'), iv('j1')), iv('n'), isub(iv('m'), iv('j0')), isub(iv('n'), iv('j1')), true)]),
    ]),
    // Q = eye(m, k), then the reflections from the last
    loop('t0', I(0), imul(iv('m'), iv('k')), [st(iadd(iv('q'), iv('t0')), F(0))]),
    loop('t1', I(0), iv('k'), [st(pos('q', iv('t1'), iv('k'), iv('t1')), F(1))]),
    loop('pq', I(0), iv('npan'), [
      decl('j0', 'i', imul(isub(isub(iv('npan'), I(1)), iv('pq')), I(QR_PANEL))),
      decl('j1', 'i', imin(iv('k'), iadd(iv('j0'), I(QR_PANEL)))),
      when(
        iv('blk'),
        [...tFactor('q'), ...applyBlock('q', pos('q', iv('j0'), iv('k'), iv('j0')), iv('k'), isub(iv('m'), iv('j0')), isub(iv('k'), iv('j0')), false)],
        [
          loop('jr', I(0), isub(iv('j1'), iv('j0')), [
            decl('jq', 'i', isub(isub(iv('j1'), I(1)), iv('jr'))),
            decl('vq', 'i', pos('vt', iv('jq'), iv('m'), I(0))),
            when(cmp('ne', 'f', m(iadd(iv('vq'), iv('jq'))), F(0)), [
              ...reflectRows('q', 'vq', 'q', iv('k'), iv('jq'), iv('k')),
            ]),
          ]),
        ],
      ),
    ]),
    // signs: d = sgn(diag W) (+1 at 0), Q ← Q diag(d), R ← diag(d) triu(W[0:k, :])
    loop('c8', I(0), iv('k'), [st(iadd(iv('t'), iv('c8')), sel('f', cmp('ge', 'f', m(pos('w', iv('c8'), iv('n'), iv('c8'))), F(0)), F(1), F(-1)))]),
    loop('i9', I(0), iv('m'), [
      decl('qr9', 'i', pos('q', iv('i9'), iv('k'), I(0))),
      loop('c9', I(0), iv('k'), [st(iadd(iv('qr9'), iv('c9')), mul(m(iadd(iv('qr9'), iv('c9'))), m(iadd(iv('t'), iv('c9')))))]),
    ]),
    loop('ra', I(0), iv('k'), [
      decl('rra', 'i', pos('r', iv('ra'), iv('n'), I(0))),
      decl('wra', 'i', pos('w', iv('ra'), iv('n'), I(0))),
      decl('dra', 'f', m(iadd(iv('t'), iv('ra')))),
      loop('cz', I(0), iv('ra'), [st(iadd(iv('rra'), iv('cz')), F(0))]),
      loop('cr', iv('ra'), iv('n'), [st(iadd(iv('rra'), iv('cr')), mul(fv('dra'), m(iadd(iv('wra'), iv('cr')))))]),
    ]),
  ],
};

export const ROUTINES: readonly RoutineDef[] = [gemm, gemv, dot, lu, trisolve, householder, gemmacc];
