// Issue 10, bug 3: `import { reflect } from "qr.mat"` also made `householder` callable — every
// item of every loaded file was visible everywhere. Now each file sees its own items and what its
// imports give it: `import "g.mat"` everything g.mat sees, `import { a, b } from "g.mat"` only a
// and b (g's items still call what g sees). A call of an item that exists but is not visible is
// MAT0301 with a note naming the file that defines it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompileError, checkSource, compileProgram } from '../compiler/compile.js';
import { compile } from '../api/module.js';
import { lineCol } from '../compiler/source.js';
import { Tensor } from '../runtime/tensor.js';

function program(files: Record<string, string>, main: string) {
  const loader = { read: (p: string) => files[p] };
  return { diags: checkSource(files[main]!, { path: main, loader }), opts: { path: main, loader } };
}

const G = `fn helper(x: vec[n]) -> vec[n] = 2 * x
fn a(x: vec[n]) -> vec[n] = helper(x) + 1
fn b(x: vec[n]) -> vec[n] = helper(x) - 1
`;

test('the issue: import { reflect } from "qr.mat" does not make householder callable', () => {
  const src = `import { reflect } from "qr.mat"
fn mine(A: mat[m, n]) -> mat[m, n] =
  let (Q, R) = householder(A) in reflect(Q[:, 0], A)
`;
  const diags = checkSource(src, { path: '/virtual/mine.mat' });
  assert.equal(diags.length, 1, diags.map((d) => d.message).join('\n'));
  const d = diags[0]!;
  assert.equal(d.code, 'MAT0301');
  assert.equal(d.message, "unknown name 'householder'");
  assert.deepEqual(lineCol(d.span!.file, d.span!.start), { line: 3, col: 16 });
  assert.equal(d.notes?.[0]?.message, "'householder' is defined in qr.mat but was not imported here");
  assert.match(d.notes![0]!.span!.file.path, /stdlib\/qr\.mat$/);
  assert.match(d.suggestion ?? '', /import \{ householder \} from "qr\.mat"/);
  // the named item works, and what it uses inside qr.mat too (householder calls reflector, reflect, …)
  const ok = `import { reflect, householder } from "qr.mat"
fn mine(A: mat[m, n]) -> mat[m, n] =
  let (Q, R) = householder(A) in reflect(Q[:, 0], A)
`;
  assert.deepEqual(checkSource(ok, { path: '/virtual/mine.mat' }), []);
});

test('selective imports give only the named items; their helpers keep working inside their file', async () => {
  const files = {
    '/v/g.mat': G,
    '/v/main.mat': 'import { a } from "g.mat"\nfn f(x: vec[n]) -> vec[n] = a(x)\nfn h(x: vec[n]) -> vec[n] = b(x) + helper(x)\n',
  };
  const { diags, opts } = program(files, '/v/main.mat');
  assert.deepEqual(
    diags.map((d) => [d.code, d.message, d.notes?.[0]?.message]),
    [
      ['MAT0301', "unknown name 'b'", "'b' is defined in g.mat but was not imported here"],
      ['MAT0301', "unknown name 'helper'", "'helper' is defined in g.mat but was not imported here"],
    ],
  );
  // without h, f runs: a calls helper inside g.mat
  const good = { ...files, '/v/main.mat': 'import { a } from "g.mat"\nfn f(x: vec[n]) -> vec[n] = a(x)\n' };
  const m = compile(good['/v/main.mat'], { path: '/v/main.mat', loader: { read: (p: string) => good[p as keyof typeof good] } });
  const r = await m.fn('f').forward({ x: new Tensor([3], [1, 2, 3]) });
  assert.deepEqual(Array.from(r.outputs.out!.data), [3, 5, 7]);
  void opts;
});

test('a whole-file import gives what that file sees (its own items and its imports)', () => {
  const files = {
    '/v/g.mat': G,
    '/v/mid.mat': 'import "g.mat"\nfn c(x: vec[n]) -> vec[n] = a(x) + b(x)\n',
    '/v/main.mat': 'import "mid.mat"\nfn f(x: vec[n]) -> vec[n] = c(x) + helper(x)\n',
  };
  assert.deepEqual(program(files, '/v/main.mat').diags, []);
  // selective import through a file that re-exports by importing whole
  const sel = { ...files, '/v/main.mat': 'import { a } from "mid.mat"\nfn f(x: vec[n]) -> vec[n] = a(x) + c(x)\n' };
  assert.deepEqual(
    program(sel, '/v/main.mat').diags.map((d) => [d.code, d.message]),
    [['MAT0301', "unknown name 'c'"]],
  );
});

test('two files import different items of one file (loaded once): each sees its own', () => {
  const files = {
    '/v/g.mat': G,
    '/v/p.mat': 'import { a } from "g.mat"\nfn pa(x: vec[n]) -> vec[n] = a(x)\n',
    '/v/q.mat': 'import { b } from "g.mat"\nfn qb(x: vec[n]) -> vec[n] = b(x) + a(x)\n',
    '/v/main.mat': 'import "p.mat"\nimport "q.mat"\nfn f(x: vec[n]) -> vec[n] = pa(x) + qb(x)\n',
  };
  const d = program(files, '/v/main.mat').diags;
  assert.equal(d.length, 1);
  assert.equal(d[0]!.code, 'MAT0301');
  assert.equal(d[0]!.span!.file.path, '/v/q.mat');
  assert.equal(d[0]!.message, "unknown name 'a'");
  // a name the second importer asks for is checked although g.mat was loaded before (it was not)
  const bad = { ...files, '/v/q.mat': 'import { bb } from "g.mat"\nfn qb(x: vec[n]) -> vec[n] = x\n' };
  const d2 = program(bad, '/v/main.mat').diags;
  assert.deepEqual(
    d2.map((x) => [x.code, x.message, x.suggestion]),
    [['MAT0306', '"g.mat" has no function \'bb\'', "did you mean 'b'?"]],
  );
});

test('an imported file does not see the items of the file that imports it', () => {
  const files = {
    '/v/g.mat': 'fn a(x: vec[n]) -> vec[n] = mainfn(x)\n',
    '/v/main.mat': 'import "g.mat"\nfn mainfn(x: vec[n]) -> vec[n] = x\nfn f(x: vec[n]) -> vec[n] = a(x)\n',
  };
  const d = program(files, '/v/main.mat').diags;
  assert.ok(d.length >= 1);
  assert.equal(d[0]!.code, 'MAT0301');
  assert.equal(d[0]!.span!.file.path, '/v/g.mat');
  assert.throws(() => compileProgram(files['/v/main.mat'], { path: '/v/main.mat', loader: { read: (p: string) => files[p as keyof typeof files] } }), CompileError);
});

test('a call of a non-imported function is not a recursion edge', () => {
  // g.f calls main's g (not visible there): MAT0301, not MAT0304 for a cycle f → g → f
  const files = {
    '/v/lib.mat': 'fn f(x: vec[n]) -> vec[n] = g(x)\n',
    '/v/main.mat': 'import { f } from "lib.mat"\nfn g(x: vec[n]) -> vec[n] = f(x)\n',
  };
  const d = program(files, '/v/main.mat').diags;
  assert.deepEqual([...new Set(d.map((x) => x.code))], ['MAT0301']);
});
