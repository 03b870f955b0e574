// Compile-time collections from the command line and in compiled modules: `matc run` takes the
// static value in --dims (or reads it off the length of a collection in an --inputs file), fills a
// dimension family from one value (--dims n=2), prints and checks gradients per element; `matc ir`
// shows one specialisation by name; `matc compile --static K=4,5` embeds named specialisations
// whose functions take collections as arrays and give the JIT's numbers bit for bit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compileToDir, parseStatics } from '../cli/aot.js';
import { compile } from '../api/module.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { MatcRuntimeError } from '../core/errors.js';
import { withSpec } from './util/spec-file.js';
import { kronSpec, ttSpec } from './util/collections-specs.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib', 'less.mat')))!;
const matcJs = join(root, 'dist', 'cli', 'matc.js');

function matc(args: string[], timeout = 120_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [matcJs, ...args], { cwd: root, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('matc run: K from --dims, dimension families from one value, a gradient per core, a passing gradient check', () => {
  withSpec(ttSpec, (p) => {
    for (const K of [4, 5]) {
      const r = matc(['run', p, '--fn', 'tt_frame', '--random', '--dims', `K=${K},n=2,r=3,r[0]=1`, '--check-grad', '--grad', '--backend', 'cpu', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { fn: string; dims: Record<string, number>; gradients: Record<string, { shape: number[] }>; gradCheck: { ok: boolean } };
      assert.equal(out.fn, `tt_frame[K=${K}]`);
      assert.equal(out.dims['r[0]'], 1);
      assert.equal(out.dims[`n[${K - 1}]`], 2);
      assert.deepEqual(Object.keys(out.gradients), Array.from({ length: K }, (_, k) => `cores[${k}]`));
      assert.deepEqual(out.gradients['cores[0]']!.shape, [1, 2, 3]);
      assert.equal(out.gradCheck.ok, true);
    }
  });
});

test('matc run --inputs: a collection given as an array in the file sets K; a missing K is MATR160', () => {
  withSpec(ttSpec, (p) => {
    const dir = dirname(p);
    const rng = new Rng(2);
    const shapes = [[1, 2, 2], [2, 3, 2], [2, 2, 1]];
    const file = join(dir, 'in.json');
    writeFileSync(file, JSON.stringify({ cores: shapes.map((s) => ({ shape: s, data: Array.from(rng.normals(s[0]! * s[1]! * s[2]!)) })) }));
    const r = matc(['run', p, '--fn', 'tt_frame', '--inputs', file, '--backend', 'cpu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { fn: string; outputs: { frame: { shape: number[] } } };
    assert.equal(out.fn, 'tt_frame[K=3]');
    assert.deepEqual(out.outputs.frame.shape, [12, 1]);
    const bad = matc(['run', p, '--fn', 'tt_frame', '--random', '--backend', 'cpu']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error\[MATR160\].*static parameter K/);
  });
});

test('matc ir shows one specialisation by name; matc check reports an error at the defaults with the static value', () => {
  withSpec(ttSpec, (p) => {
    const r = matc(['ir', p, '--fn', 'tt_frame[K=4]', '--stage', 'check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /fn tt_frame\[K=4\]/);
    assert.match(r.stdout, /in {2}cores\[3\]: tensor\[r\[3\], n\[3\], r\[4\]\]/);
  });
  withSpec('fn last(xs: [vec[n] for i in 0..K], K: static int = 2) -> vec[n] =\n  xs[K]\n', (p) => {
    const r = matc(['check', p]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[MAT0243\]: index 2 is out of range for a collection of 2 elements/);
    assert.match(r.stderr, /in last\[K=2\]: last is checked at the defaults of its static parameters \(K = 2\)/);
  });
});

test('--static parses lists and combinations', () => {
  assert.deepEqual(parseStatics('K=4,5'), { K: [4, 5] });
  assert.deepEqual(parseStatics('K=4,5,N=2'), { K: [4, 5], N: [2] });
  assert.throws(() => parseStatics('4,5'), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR112');
  assert.throws(() => parseStatics('K=-1'), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR112');
});

test('matc compile --static K=4,5: named specialisations that take arrays and give the JIT numbers bit for bit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'matc-coll-aot-'));
  try {
    const file = join(dir, 'tt.mat');
    writeFileSync(file, ttSpec + kronSpec);
    const r = compileToDir(file, dir, { runtime: join(root, 'dist'), statics: { K: [4, 5], N: [3] } });
    assert.deepEqual(r.functions.sort(), ['kron_factors[N=2]', 'kron_factors[N=2].init', 'kron_factors[N=3]', 'kron_factors[N=3].init', 'tt_apply[K=4]', 'tt_apply[K=5]', 'tt_frame[K=4]', 'tt_frame[K=5]'].sort());
    const ns = (await import(pathToFileURL(r.js).href)) as { functions: Record<string, { forward: Function; vjp: Function }>; tt_frame_K_4_: unknown };
    assert.equal(ns.tt_frame_K_4_, ns.functions['tt_frame[K=4]'], 'exported under an identifier as well');
    const jit = compile(ttSpec);
    const rng = new Rng(8);
    for (const K of [4, 5]) {
      const ranks = [1, ...Array.from({ length: K - 1 }, () => 2), 3];
      const cores = Array.from({ length: K }, (_, k) => new Tensor([ranks[k]!, 2, ranks[k + 1]!], rng.normals(ranks[k]! * 2 * ranks[k + 1]!)));
      const aot = ns.functions[`tt_frame[K=${K}]`]!;
      const a = (await aot.forward({ cores })) as { outputs: { frame: Tensor } };
      const j = await jit.fn('tt_frame').forward({ cores });
      assert.deepEqual(Array.from(a.outputs.frame.data), Array.from(j.outputs.frame!.data));
      // the module's reference-interpreter path reads its embedded IR, whose collection parameters
      // are printed cores_0_, … (the signature says cores[0], …): it ran into an internal error
      const ar = (await aot.forward({ cores }, { backend: new CpuBackend({ reference: true }) })) as { outputs: { frame: Tensor } };
      const jr = await jit.fn('tt_frame').forward({ cores }, { backend: new CpuBackend({ reference: true }) });
      assert.deepEqual(Array.from(ar.outputs.frame.data), Array.from(jr.outputs.frame!.data), 'the interpreter on the embedded IR');
      const cot = { frame: new Tensor(j.outputs.frame!.shape, rng.normals(j.outputs.frame!.size)) };
      const ag = (await aot.vjp({ cores }, cot)) as { gradientLists: Record<string, Tensor[]> };
      const jg = await jit.fn('tt_frame').vjp({ cores }, cot);
      for (let k = 0; k < K; k++) assert.deepEqual(Array.from(ag.gradientLists.cores![k]!.data), Array.from(jg.gradientLists.cores![k]!.data));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
