// The CPU thread pool (runtime/cpu/threads.ts, issue 11's scaling work): a batch cut into
// chunks that the main thread and the workers claim from a shared counter. What must hold:
// the numbers are the single thread's, bit for bit, whatever chunk ran where (uneven batches,
// more threads than cores, both engines); the reused shared staging arrays never mix two calls
// (calls in flight at once); an error in a worker's chunk surfaces with its code and the pool
// keeps working; the Householder reflection skips the rows above its reflector (skipZeroUpdates)
// and still agrees with the reference interpreter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withEnv } from './util/env.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { bindInputs } from '../runtime/bind.js';
import { runExecutableCpu } from '../runtime/cpu/backend.js';
import { runProgram } from '../runtime/cpu/program.js';
import { ThreadPool } from '../runtime/cpu/threads.js';
import { Rng, randomInstance } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';
import { MatcRuntimeError } from '../core/errors.js';
import type { Executable } from '../runtime/executable.js';
import { repoRoot } from './gen/paths.js';

function inputsFor(exe: Executable, dims: Record<string, number>, batch: number, rng: Rng): Record<string, Tensor> {
  const d = new Map(Object.entries(dims));
  const out: Record<string, Tensor> = {};
  for (const p of exe.signature.params) {
    const shape = p.shape.map((x) => x.eval(d));
    const one = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(one * batch);
    for (let b = 0; b < batch; b++) data.set(randomInstance(rng, shape, p.struct as never), b * one);
    out[p.name] = new Tensor([batch, ...shape], data);
  }
  return out;
}

const qr = () => {
  const path = join(repoRoot, 'stdlib', 'qr.mat');
  return compile(readFileSync(path, 'utf8'), { path });
};

function sameBits(a: { outputs: Record<string, Tensor>; nodes: unknown }, b: { outputs: Record<string, Tensor>; nodes: unknown }, what: string): void {
  for (const [k, t] of Object.entries(a.outputs)) {
    const x = t.data;
    const y = b.outputs[k]!.data;
    assert.equal(y.length, x.length, `${what}: length of ${k}`);
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) assert.fail(`${what}: ${k}[${i}] is ${y[i]} threaded, ${x[i]} in one thread`);
  }
  assert.deepEqual(b.nodes, a.nodes, `${what}: statuses`);
}

test('chunked batches: uneven batch sizes and more threads than cores give the single thread’s numbers bit for bit', async () => {
  const exe = qr().executable('qr', 'vjp');
  for (const [engine, batch, threads] of [['wasm', 397, 2], ['wasm', 230, 3], ['js', 151, 2]] as const) {
    // 40 × 24 instances: the batch takes well over the pool's 4 ms split threshold even on a fast
    // quiet machine (at 20 × 12 it sat near it, and a split was left to timing noise)
    const bind = bindInputs(exe.signature, inputsFor(exe, { m: 40, n: 24 }, batch, new Rng(batch)), { noValidate: true });
    const one = runProgram(exe.cpu()!, exe.signature, bind, 'f64', engine);
    const pool = new ThreadPool(threads);
    try {
      // twice: the second call reuses the pool's staging arrays
      for (let rep = 0; rep < 2; rep++) sameBits(one, await pool.run(exe.cpu()!, exe.signature, bind, 'f64', engine), `${engine}, batch ${batch}, ${threads} threads, call ${rep + 1}`);
      assert.equal(pool.workerCount, threads - 1, 'the batch was split over the workers');
    } finally {
      pool.dispose();
    }
  }
});

test('calls in flight at once on one pool keep their own inputs and results', async () => {
  const exe = qr().executable('qr', 'forward');
  // 24² × 600 (~25 ms in one thread): well past the 4 ms the pool needs to split, on a fast or a
  // loaded machine (16² × 300 sat near it and stayed single-threaded on a quick run)
  const binds = [1, 2, 3].map((s) => bindInputs(exe.signature, inputsFor(exe, { m: 24, n: 24 }, 600, new Rng(100 + s)), { noValidate: true }));
  const ones = binds.map((b) => runProgram(exe.cpu()!, exe.signature, b, 'f64'));
  const pool = new ThreadPool(2);
  try {
    const all = await Promise.all(binds.map((b) => pool.run(exe.cpu()!, exe.signature, b, 'f64')));
    all.forEach((r, i) => sameBits(ones[i]!, r, `call ${i + 1} of 3 in flight`));
    assert.ok(pool.workerCount > 0);
  } finally {
    pool.dispose();
  }
});

test('an out-of-range index in a chunk (the main thread’s or a worker’s) raises MATR107 from the threaded call, and the pool runs on', async () => {
  // instance b scales AᵀA (enough work per instance for the pool to split) by A[0, floor(s_b)]
  const src = 'fn f(A: mat[m, n], s: real) -> mat[n, n] = (A\' * A) * A[0, floor(s)]';
  const m = compile(src, { path: 'oob-threads.mat' });
  const exe = m.executable('f', 'forward');
  const B = 3000;
  const A = new Float64Array(B * 64 * 8).map((_, i) => (i % 7) - 3);
  const inRange = new Float64Array(B).map((_, b) => b % 8);
  const pool = new ThreadPool(2);
  try {
    for (const engine of ['wasm', 'js'] as const) {
      // out of range in the last chunk only, then in every instance after the two the pool times
      for (const bad of [(b: number) => b >= B - 3, (b: number) => b >= 2]) {
        const s = inRange.map((x, b) => (bad(b) ? 8 : x));
        const bind = bindInputs(exe.signature, { A: new Tensor([B, 64, 8], A), s: new Tensor([B], s) }, { noValidate: true });
        await assert.rejects(pool.run(exe.cpu()!, exe.signature, bind, 'f64', engine), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR107' && /out of range/.test(e.message), engine);
      }
      const fine = bindInputs(exe.signature, { A: new Tensor([B, 64, 8], A), s: new Tensor([B], inRange) }, { noValidate: true });
      sameBits(runProgram(exe.cpu()!, exe.signature, fine, 'f64', engine), await pool.run(exe.cpu()!, exe.signature, fine, 'f64', engine), `${engine}: after the errors`);
    }
    assert.ok(pool.workerCount > 0, 'the batch was split over a worker');
  } finally {
    pool.dispose();
  }
});

test('Householder reflections skip the rows above the reflector and still agree with the reference interpreter', async () => {
  // the language's reflection loops: the CPU programs run `householder_qr` as a routine of their
  // own (test/cpu-householder.test.ts) unless MATC_CPU_QR=0, which compiles these loops
  await withEnv('MATC_CPU_QR', '0', async () => guardedReflections());
});

function guardedReflections(): void {
  const m = qr();
  for (const mode of ['forward', 'vjp'] as const) {
    const exe = m.executable('qr', mode);
    // the rank-1 updates of R and of Q's accumulation run only where 2·v_i ≠ 0
    const guarded = exe.cpu()!.js.match(/if \(\(h\d+ !== 0\)\) \{/g) ?? [];
    assert.ok(guarded.length >= 2, `${mode}: ${guarded.length} guarded reflection loops`);
    for (const [dims, batch] of [[{ m: 9, n: 6 }, 3], [{ m: 5, n: 8 }, 2], [{ m: 7, n: 7 }, 2]] as const) {
      const bind = bindInputs(exe.signature, inputsFor(exe, dims, batch, new Rng(dims.m * 10 + dims.n)), { noValidate: true });
      const ref = runExecutableCpu(exe, bind, { reference: true });
      const got = runProgram(exe.cpu()!, exe.signature, bind, 'f64', 'wasm');
      for (const [k, a] of Object.entries(ref.outputs)) {
        let scale = 1;
        for (const x of a.data) scale = Math.max(scale, Math.abs(x));
        a.data.forEach((x, i) => assert.ok(Math.abs(x - got.outputs[k]!.data[i]!) <= 1e-12 * scale, `${mode} ${JSON.stringify(dims)}: ${k}[${i}]`));
      }
    }
  }
}

test('MATC_CPU=reference runs the interpreter for runs that name no engine, and only for those', async () => {
  const m = qr();
  const exe = m.executable('qr', 'forward');
  const bind = bindInputs(exe.signature, inputsFor(exe, { m: 6, n: 4 }, 3, new Rng(5)), { noValidate: true });
  // an executable whose compiled program cannot be taken: only the interpreter can run it
  const noProgram = new Proxy(exe, {
    get(t, k) {
      if (k === 'cpu')
        return () => {
          throw new Error('compiled program requested');
        };
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  const { CpuBackend } = await import('../runtime/cpu/cpu-backend.js');
  const prev = process.env.MATC_CPU;
  try {
    process.env.MATC_CPU = 'reference';
    const ref = runExecutableCpu(exe, bind, { reference: true });
    const viaEnv = runExecutableCpu(noProgram, bind);
    for (const [k, t] of Object.entries(ref.outputs)) assert.deepEqual(Array.from(viaEnv.outputs[k]!.data), Array.from(t.data), k);
    const backend = new CpuBackend({ threads: 2 });
    try {
      await backend.run(noProgram, bind);
    } finally {
      backend.dispose();
    }
    // a run that names its engine still takes the compiled program
    assert.throws(() => runExecutableCpu(noProgram, bind, { engine: 'wasm' }), /compiled program requested/);
    delete process.env.MATC_CPU;
    assert.throws(() => runExecutableCpu(noProgram, bind), /compiled program requested/);
  } finally {
    if (prev === undefined) delete process.env.MATC_CPU;
    else process.env.MATC_CPU = prev;
  }
});
