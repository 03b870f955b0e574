// The compile-time budget: every stage (checking an item, differentiating, expanding solvers,
// simplifying) runs under a deadline, and the work that grows with the program — building an IR
// node (graph.node), visiting one in a traversal (reachable, freeParams), elaborating an
// expression — charges it. A stage that passes its deadline
// throws BudgetExceeded, which the driver reports as MAT0703 with the stage and the function, so a
// pathological spec ends in a diagnostic instead of a hang (issue 12). Passes that are not
// near-linear in the size of their input are the usual cause; they are bounded where they are
// (compiler/opt/chain.ts), and this is the net under all of them.

/** Milliseconds one stage may take unless CompileOptions.budgetMs or MATC_COMPILE_BUDGET_MS say
 *  otherwise: 8 s, so that a stage that runs out ends, clock checks included, within 10 s. The
 *  standard library's slowest stage takes well under a second. */
export const DEFAULT_STAGE_BUDGET_MS = 8_000;

/** Steps of work (IR nodes built or visited, expressions checked) one stage may take unless
 *  CompileOptions.budgetSteps says otherwise. Unlike time, steps do not depend on the machine, so
 *  a spec that compiles on one computer compiles on every other. */
export const DEFAULT_STAGE_BUDGET_STEPS = 2_000_000;

export interface Budget {
  ms: number;
  steps: number;
}

export class BudgetExceeded extends Error {
  constructor(
    readonly stage: string,
    readonly kind: 'time' | 'steps',
    readonly limit: number,
  ) {
    super(kind === 'time' ? `${stage} took longer than its budget of ${limit} ms` : `${stage} needs more than its budget of ${limit} steps`);
    this.name = 'BudgetExceeded';
  }
}

interface Frame {
  stage: string;
  deadline: number;
  ms: number;
  /** the step count at which the stage (or an enclosing one) runs out */
  stepEnd: number;
  steps: number;
  /** whether the enclosing stage runs out of steps first */
  outerSteps: boolean;
  outerTime: boolean;
}

let current: Frame | null = null;
let steps = 0;

/** The budget from CompileOptions, then the environment (MATC_COMPILE_BUDGET_MS), then the
 *  defaults. */
export function stageBudget(opts: { budgetMs?: number; budgetSteps?: number } = {}): Budget {
  const env = typeof process !== 'undefined' ? process.env.MATC_COMPILE_BUDGET_MS : undefined;
  const v = env === undefined ? NaN : Number(env);
  return {
    ms: opts.budgetMs ?? (Number.isFinite(v) && v > 0 ? v : DEFAULT_STAGE_BUDGET_MS),
    steps: opts.budgetSteps ?? DEFAULT_STAGE_BUDGET_STEPS,
  };
}

/** Runs `fn` as stage `stage` within `budget`; a nested stage keeps the enclosing limits when
 *  they come first. */
export function withBudget<T>(stage: string, budget: Budget, fn: () => T): T {
  const prev = current;
  const deadline = performance.now() + budget.ms;
  const stepEnd = steps + budget.steps;
  const outerTime = !!prev && prev.deadline <= deadline;
  const outerSteps = !!prev && prev.stepEnd <= stepEnd;
  current = {
    stage,
    deadline: outerTime ? prev!.deadline : deadline,
    ms: outerTime ? prev!.ms : budget.ms,
    stepEnd: outerSteps ? prev!.stepEnd : stepEnd,
    steps: outerSteps ? prev!.steps : budget.steps,
    outerSteps,
    outerTime,
  };
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/** Charges one step of work; every 256 steps the clock is read. */
export function tickBudget(): void {
  if (current === null) return;
  if (++steps > current.stepEnd) throw new BudgetExceeded(current.stage, 'steps', current.steps);
  if ((steps & 255) === 0 && performance.now() > current.deadline) throw new BudgetExceeded(current.stage, 'time', current.ms);
}

/** Steps charged so far in this process (for tests that check a pass's growth). */
export function stepCount(): number {
  return steps;
}
