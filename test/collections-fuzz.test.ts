// Mutants of the collection specs (tokens deleted, duplicated, swapped, names and numbers
// replaced) never crash the compiler: checking ends in diagnostics with codes and spans, and a
// mutant that checks can be specialised and differentiated, or fails with a CompileError or a
// MatcRuntimeError — never another exception (an internal error) or a hang.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompileError, checkSource, compileProgram } from '../compiler/compile.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Rng } from '../runtime/random.js';
import { kronSpec, ttSpec } from './util/collections-specs.js';

const CASES = Number(process.env.MATC_COLLECTIONS_FUZZ ?? 400);

function tokens(src: string): string[] {
  return src.match(/[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:e-?\d+)?|\.\.|->|=>|<-|[^\sA-Za-z0-9_]/g) ?? [];
}

const names = ['i', 'j', 'K', 'N', 'r', 'n', 'd', 'cores', 'xs', 'B', 'm', 'X', 'static', 'unroll', 'for', 'in', 'prod', 'sum', 'len', 'size', 'modeprod', 'unfold', 'tensor', 'int', 'mat'];
const numbers = ['0', '1', '2', '7', '1025', '5000', '2147483648'];
const puncts = ['[', ']', '(', ')', ',', '..', ':', '=', '+', '-', '*'];

function mutate(rng: Rng, toks: string[]): string[] {
  const t = [...toks];
  const k = 1 + Math.floor(rng.next() * 3);
  for (let s = 0; s < k; s++) {
    const at = Math.floor(rng.next() * t.length);
    const r = rng.next();
    if (r < 0.25) t.splice(at, 1);
    else if (r < 0.4) t.splice(at, 0, t[at]!);
    else if (r < 0.55 && at + 1 < t.length) [t[at], t[at + 1]] = [t[at + 1]!, t[at]!];
    else if (/^[A-Za-z_]/.test(t[at]!)) t[at] = names[Math.floor(rng.next() * names.length)]!;
    else if (/^\d/.test(t[at]!)) t[at] = numbers[Math.floor(rng.next() * numbers.length)]!;
    else t[at] = puncts[Math.floor(rng.next() * puncts.length)]!;
  }
  return t;
}

test(`${CASES} mutants of the collection specs end in diagnostics or run, never in an internal error`, () => {
  const rng = new Rng(20261206);
  const bases = [tokens(ttSpec), tokens(kronSpec)];
  let checked = 0;
  let derived = 0;
  for (let c = 0; c < CASES; c++) {
    const src = mutate(rng, bases[c % 2]!).join(' ');
    let ds;
    try {
      ds = checkSource(src, { budgetMs: 4000 });
    } catch (e) {
      assert.fail(`checkSource threw ${(e as Error).stack}\n--- spec:\n${src}`);
    }
    for (const d of ds) {
      assert.match(d.code, /^MAT\d{4}$/, src);
      assert.ok(d.span, `${d.code} has no span\n${src}`);
    }
    if (ds.some((d) => d.severity === 'error')) continue;
    checked++;
    try {
      const p = compileProgram(src, { budgetMs: 4000 });
      for (const g of p.generics) {
        if (g.endsWith('.init')) continue;
        for (const v of [1, 3]) {
          const info = p.genericInfo(g)!;
          const name = p.specialize(g, Object.fromEntries(info.statics.map((s) => [s.name, v])));
          p.forward(name);
          p.vjp(name);
          derived++;
        }
      }
    } catch (e) {
      if (e instanceof CompileError || e instanceof MatcRuntimeError) continue;
      assert.fail(`compiling threw ${(e as Error).stack}\n--- spec:\n${src}`);
    }
  }
  assert.ok(checked > 0 && derived > 0, `only ${checked} mutants checked, ${derived} specialisations derived`);
});
