// Explicit bounds on how deep the front end nests, how far it inlines and how long a stage may
// run, so that hostile or runaway input gets a diagnostic with a code and a span instead of a
// stack overflow or a hang (issue 12). Every recursive walk over source-shaped data (the parser,
// the checker across inlined calls) counts its depth against one of these limits; passes over the
// IR are iterative and bounded by the stage budget (compiler/budget.ts).
//
// The depths leave about half of V8's default stack unused in the worst cases measured — cold
// code (whose frames are the largest), chevrotain's error recovery walking the grammar at the
// deepest point, builtin and user calls inlined at every level — and hold in a worker thread with
// 0.7 MB of stack (test/hardening.test.ts runs those cases in one with 0.8 MB). They are far above
// what a person writes: the standard library's deepest expression opens 68 parser rules.

import type { Diagnostic } from './diagnostics.js';
import type { Span } from './source.js';
import type { BudgetExceeded } from './ir/budget.js';
import { DIM_LIMITS, type DimTooLarge } from '../core/dims.js';

export const limits = {
  /** parser rules open at once; a level of parentheses costs 10, a call 11, a prefix operator 1,
   *  a `let … in` or `if … else` level 2 (grammar/parser.ts) */
  parseDepth: 250,
  /** expressions the checker has open at once, counted across inlined calls
   *  (compiler/check/elaborate.ts); chains of binary operators count as one level */
  checkDepth: 300,
  /** levels of a dimension expression (a chain m + m + … counts one per term): they are walked
   *  recursively (grammar/build-ast.ts) */
  dimDepth: 200,
  /** user-function calls inlined inside one another (compiler/check/items.ts) */
  inlineDepth: 64,
  /** user-function bodies inlined while checking one item, repeated calls included: bounds the
   *  work of call trees that double at every level (f calls g twice, g calls h twice, …) */
  inlineCount: 20000,
  /** the largest integer literal usable as an index, a dimension or a trip count (WGSL's i32) */
  maxInt: 2147483647,
  /** elements of a compile-time collection, iterations of an unrolled loop and the largest
   *  static value: each element is elaborated, and its IR built, once (compiler/check/statics.ts) */
  maxStatic: 1024,
};

/** A rendered description of a limit for notes: "the limit is 500 parser rules". */
export function limitNote(what: string, value: number): string {
  return `matc stops at ${value.toLocaleString('en-US')} ${what} (compiler/limits.ts) rather than overflow the stack or run without end`;
}

/** Thrown (never returned) when a limit is passed: it unwinds the item being checked or the
 *  stage being run, whose caller reports `diagnostic` (compiler/check/items.ts, compile.ts). */
export class LimitExceeded extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
    this.name = 'LimitExceeded';
  }
}

/** MAT0703 for a stage that ran out of its budget, at the function it was working on. */
export function budgetDiagnostic(e: BudgetExceeded, span: Span | undefined): Diagnostic {
  const amount = e.kind === 'time' ? `took longer than its budget of ${e.limit.toLocaleString('en-US')} ms` : `needs more than its budget of ${e.limit.toLocaleString('en-US')} steps`;
  return {
    code: 'MAT0703',
    severity: 'error',
    message: `${e.stage} ${amount}`,
    ...(span ? { span } : {}),
    notes: [
      {
        message:
          'every compile stage has a budget of steps (IR nodes built or visited, expressions checked; CompileOptions.budgetSteps) and of time (CompileOptions.budgetMs, MATC_COMPILE_BUDGET_MS), so that a pathological spec ends in a diagnostic instead of a hang',
      },
    ],
    suggestion: 'split the function into smaller ones or call functions on shared values once (bind results with let); a larger budget may also do',
  };
}

/** MAT0701 for a dimension polynomial past core/dims.ts DIM_LIMITS, at `span`. */
export function dimDiagnostic(e: DimTooLarge, span: Span | undefined): Diagnostic {
  return {
    code: 'MAT0701',
    severity: 'error',
    message: `dimension expression too large: ${e.message}`,
    ...(span ? { span } : {}),
    notes: [{ message: `dimensions are polynomials in the size names; a term may have degree ${DIM_LIMITS.degree} and a dimension ${DIM_LIMITS.terms} terms` }],
    suggestion: 'compute large integers at run time from smaller dimensions, or pass them as int parameters',
  };
}
