// What a derivation (reverse or forward mode) is asked to produce, beyond the function itself.

/** The execution model the derived form is for. The math is the same; what differs is a choice
 *  the implicit backward makes for cost (compiler/diff/implicit.ts, `backward: auto`). */
export type DeriveTarget = 'cpu' | 'gpu';

export interface DeriveOptions {
  /** solver option overrides (`--set`), for the options the derivative rules read */
  overrides?: Record<string, number>;
  /** 'cpu' unless said: the CPU program and the printed reference IR */
  target?: DeriveTarget;
  /** false: differentiate functions and declarative nodes that have a `grad` rule as if they had
   *  none (to check a rule against matc's own derivation); default true */
  gradRules?: boolean;
  /** filled by the rules: set when the derived form depends on the target, so a caller asking
   *  for another target must derive again (otherwise it may reuse this form) */
  targetDependent?: { value: boolean };
}
