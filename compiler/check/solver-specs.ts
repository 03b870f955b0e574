// The builtin solvers a declarative node may name in its `by` clause, with their options,
// defaults and the problems they apply to. Option values are literals (numbers, booleans,
// enum names, or constructor calls such as armijo(0.5, 0.8)), read here without elaboration.

import type * as A from '../../grammar/ast.js';
import { closest, type DiagnosticBag } from '../diagnostics.js';
import { limits } from '../limits.js';

export type OptValue = number | boolean | string | { fn: string; args: number[] };

interface OptionSpec {
  doc: string;
  default: OptValue;
  /** allowed enum names, or constructor names for calls */
  enum?: string[];
  kind: 'number' | 'bool' | 'enum' | 'step';
  /** a count: an integer from this minimum to limits.maxInt (MAT0404, MATR112/MATR114) */
  int?: number;
}

export interface SolverSpec {
  doc: string;
  for: ('argmin' | 'argmax' | 'solve')[];
  options: Record<string, OptionSpec>;
}

const tol: OptionSpec = { doc: 'stop when the change in the objective (or residual) is below tol', default: 1e-7, kind: 'number' };
const maxIter = (n: number): OptionSpec => ({ doc: 'iteration limit; reaching it is reported as not converged', default: n, kind: 'number', int: 1 });

export const solverSpecs: Record<string, SolverSpec> = {
  riemannian_descent: {
    doc: 'descent on the unit sphere with retraction x ← x/‖x‖: safeguarded and polished by default, the LESS paper\'s variants with pmaf: true',
    for: ['argmin', 'argmax'],
    options: {
      direction: { doc: 'cg (Riemannian conjugate gradient, Polak–Ribière⁺ with restarts) or steepest (d = −P∇f, PMaF)', default: 'cg', enum: ['steepest', 'cg'], kind: 'enum' },
      gradient: { doc: 'riemannian (RM, projected onto the tangent space) or euclidean (PGD)', default: 'riemannian', enum: ['riemannian', 'euclidean'], kind: 'enum' },
      step: {
        doc: 'exact (the minimiser of the second-order model on the sphere, its curvature included; PMaF\'s Euclidean formula with pmaf: true), armijo(alpha, beta) backtracking from the exact step (BLS), armijo_one(alpha, beta) backtracking from 1 (BLSOne), or a fixed number',
        default: 'exact',
        enum: ['exact', 'armijo', 'armijo_one'],
        kind: 'step',
      },
      monotone: { doc: 'halve a step that would increase the objective (no accepted step goes uphill)', default: true, kind: 'bool' },
      stop: { doc: 'kkt: the relative KKT residual ‖P∇f‖/(‖∇f‖ + ‖∇²f‖) ≤ tol; delta_f: |Δf| < tol (PMaF)', default: 'kkt', enum: ['kkt', 'delta_f'], kind: 'enum' },
      polish: { doc: 'Newton steps on the KKT system after the descent while the relative residual is above eps^(3/4) (at most this many); 0 = off', default: 3, kind: 'number', int: 0 },
      direction_weight: { doc: 'scale steps by 1 − cos(x, d) (DW)', default: false, kind: 'bool' },
      tangent_decay: { doc: 'shrink the step by this factor while successive Riemannian gradients point against each other (TWD); 0 = off', default: 0, kind: 'number' },
      pmaf: { doc: 'PMaF\'s solver as published: its exact step, no safeguard, |Δf| < tol (1e-7), no polish', default: false, kind: 'bool' },
      tol: { doc: 'the stopping tolerance; 0 = by precision (√eps on the relative KKT residual; 1e-7 on |Δf|)', default: 0, kind: 'number' },
      max_iter: maxIter(100),
    },
  },
  power_iteration: {
    doc: 'x ← retract(∇f(x)) for objectives quadratic in x on the sphere (top eigenvector)',
    for: ['argmax', 'argmin'],
    options: {
      stop: { doc: 'residual: the relative eigen-residual ‖g − (xᵀg)x‖/‖g‖ ≤ tol; delta_x: max |Δx| ≤ tol, up to sign (PMaF)', default: 'residual', enum: ['residual', 'delta_x'], kind: 'enum' },
      tol: { ...tol, doc: 'the stopping tolerance; 0 = by precision (eps^(3/4) on the residual; 1e-7 on |Δx|)', default: 0 },
      polish: { doc: 'Newton steps on the KKT system when max_iter ends short of the tolerance (at most this many); 0 = off (then a short iteration is reported as not converged)', default: 0, kind: 'number', int: 0 },
      max_iter: maxIter(100),
    },
  },
  lanczos: {
    doc: 'restarted Lanczos with full reorthogonalization and Rayleigh–Ritz, for objectives quadratic in x on the sphere (the extreme eigenvector whatever the signs of the spectrum; O(1/√gap) steps where power iteration needs O(1/gap))',
    for: ['argmax', 'argmin'],
    options: {
      krylov: { doc: 'the dimension of the Krylov space built per cycle (at most the variable\'s size, where one cycle is exact); at least 2, since a cycle keeps half of it and grows the rest', default: 16, kind: 'number', int: 2 },
      tol: { ...tol, doc: 'the stopping tolerance on the relative eigen-residual ‖g − (xᵀg)x‖/‖g‖; 0 = by precision (eps^(3/4))', default: 0 },
      max_iter: maxIter(50),
    },
  },
  newton: {
    doc: 'Newton on the optimality (KKT) system or on the equations, with dense linear solves; for small problems',
    for: ['argmin', 'argmax', 'solve'],
    options: {
      tol: {
        ...tol,
        doc: 'the stopping tolerance on the componentwise relative residual maxᵢ |Fᵢ| / (|J| |z| + |F − J z|)ᵢ of the equations (the KKT system for argmin/argmax), each equation against the size of its own terms; 0 = by precision (eps^(3/4))',
        default: 0,
      },
      max_iter: maxIter(50),
      damping: { doc: 'Levenberg damping added to the Jacobian', default: 0, kind: 'number' },
    },
  },
  gauss_newton: {
    doc: 'Gauss–Newton for least-squares objectives 0.5*sumsq(r(x)) without constraints',
    for: ['argmin'],
    options: {
      tol: { ...tol, doc: 'the stopping tolerance on the componentwise relative residual of the normal equations, maxᵢ |Jᵀr|ᵢ / (|JᵀJ| |x| + |Jᵀr − JᵀJ x|)ᵢ; 0 = by precision (eps^(3/4))', default: 0 },
      max_iter: maxIter(50),
      damping: { doc: 'Levenberg–Marquardt damping', default: 0, kind: 'number' },
    },
  },
  gradient_descent: {
    doc: 'plain gradient descent with Armijo backtracking, no constraints',
    for: ['argmin', 'argmax'],
    options: { step: { doc: 'armijo(alpha, beta) or a fixed number', default: { fn: 'armijo', args: [0.5, 0.8] }, enum: ['armijo'], kind: 'step' }, tol: { ...tol, doc: 'stop when ‖∇f‖ < tol: absolute, in the units of ∇f (scale the objective to the data, or use newton, whose test is relative)' }, max_iter: maxIter(1000) },
  },
};

/** Options every solver accepts. */
const common: Record<string, OptionSpec> = {
  check: { doc: 'compute residuals that cost as much as the solution itself exactly (1) instead of estimating them by two probe vectors (0)', default: 0, kind: 'number' },
  refine: { doc: 'Newton steps on the optimality system after the solver (polishes the solution for accurate implicit gradients); 0 = off', default: 0, kind: 'number', int: 0 },
  backward: {
    doc: 'how the implicit backward (and tangent) solves its linear system: dense (LU of the KKT matrix assembled column by column), minres (matrix-free MINRES on Hessian–vector products; argmin/argmax only), auto (minres from 256 unknowns, the dense solve where it does not converge; dense below)',
    default: 'auto',
    enum: ['auto', 'dense', 'minres'],
    kind: 'enum',
  },
  backward_tol: { doc: 'the relative residual at which MINRES stops; 0 = by precision (eps^(3/4)); converged means the true residual is within 10× of it', default: 0, kind: 'number' },
  backward_max_iter: { doc: 'the MINRES iteration limit; 0 = N + 20 for minres, N/4 + 20 for auto (then the dense fallback), N the number of unknowns', default: 0, kind: 'number', int: 0 },
};
for (const s of Object.values(solverSpecs)) Object.assign(s.options, common);

/** Reads `name(opt: value, ...)` as literal options; reports unknown options and bad values. */
export function readSolverOptions(spec: SolverSpec, name: string, args: A.Arg[], diag: DiagnosticBag): Record<string, OptValue> {
  const out: Record<string, OptValue> = {};
  for (const [k, o] of Object.entries(spec.options)) out[k] = o.default;
  for (const a of args) {
    if (!a.name) {
      diag.error('MAT0404', `options of ${name} are named, e.g. ${Object.keys(spec.options)[0]}: ...`, a.value.span, {
        suggestion: `options: ${Object.keys(spec.options).join(', ')}`,
      });
      continue;
    }
    const o = spec.options[a.name.name];
    if (!o) {
      const sug = closest(a.name.name, Object.keys(spec.options));
      diag.error('MAT0404', `unknown option '${a.name.name}' for ${name}`, a.name.span, {
        suggestion: sug ? `did you mean '${sug}'?` : `options: ${Object.keys(spec.options).join(', ')}`,
      });
      continue;
    }
    const v = literal(a.value);
    const bad = (what: string) =>
      diag.error('MAT0404', `option '${a.name!.name}' of ${name} expects ${what}`, a.value.span, { notes: [{ message: o.doc }] });
    if (v === undefined) {
      bad('a literal value');
      continue;
    }
    switch (o.kind) {
      case 'number':
        if (typeof v !== 'number') bad('a number');
        else if (v < 0) bad('a non-negative number');
        else out[a.name.name] = v;
        break;
      case 'bool':
        if (typeof v !== 'boolean') bad('true or false');
        else out[a.name.name] = v;
        break;
      case 'enum':
        if (typeof v !== 'string' || !o.enum!.includes(v)) bad(`one of ${o.enum!.join(', ')}`);
        else out[a.name.name] = v;
        break;
      case 'step':
        if (typeof v === 'number' && v > 0) out[a.name.name] = v;
        else if (typeof v === 'string' && o.enum!.includes(v)) out[a.name.name] = v === 'exact' ? v : { fn: v, args: [0.5, 0.8] };
        else if (typeof v === 'object' && o.enum!.includes(v.fn) && v.args.length <= 2) out[a.name.name] = { fn: v.fn, args: [v.args[0] ?? 0.5, v.args[1] ?? 0.8] };
        else bad(`a positive number or one of ${o.enum!.map((x) => (x === 'exact' ? x : `${x}(alpha, beta)`)).join(', ')}`);
        break;
    }
  }
  for (const [key, o] of Object.entries(spec.options)) {
    const v = out[key];
    if (o.int !== undefined && typeof v === 'number' && !isCount(v, o.int)) {
      diag.error('MAT0404', `${key} of ${name} must be ${countText(o.int)} (at most ${limits.maxInt})`, args.find((a) => a.name?.name === key)?.value.span);
    }
  }
  return out;
}

const isCount = (v: number, min: number): boolean => Number.isInteger(v) && v >= min && v <= limits.maxInt;
const countText = (min: number): string => (min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer of at least ${min}`);

/** Every option name some solver takes, sorted. */
export const solverOptionNames: readonly string[] = [...new Set(Object.values(solverSpecs).flatMap((s) => Object.keys(s.options)))].sort();

/** What is wrong with overriding option `name` by `value` for every node (`--set`,
 *  CompileOptions.solverOptions), or null. Overrides are numbers, so enum and boolean options
 *  cannot be overridden. */
export function solverOverrideProblem(name: string, value: unknown): string | null {
  const specs = Object.values(solverSpecs).flatMap((s) => (s.options[name] ? [s.options[name]!] : []));
  if (specs.length === 0) {
    const sug = closest(name, solverOptionNames);
    return `unknown solver option '${name}'${sug ? `; did you mean '${sug}'?` : ''} (options: ${solverOptionNames.join(', ')})`;
  }
  const o = specs[0]!;
  if (o.kind === 'enum' || o.kind === 'bool') return `solver option '${name}' takes ${o.kind === 'bool' ? 'true or false' : `one of ${o.enum!.join(', ')}`}; set it in the spec's by clause, not as a number`;
  if (typeof value !== 'number' || !Number.isFinite(value)) return `solver option '${name}' must be a finite number, got ${typeof value === 'number' ? value : JSON.stringify(value)}`;
  if (o.int !== undefined) return isCount(value, o.int) ? null : `solver option '${name}' must be ${countText(o.int)} (at most ${limits.maxInt}), got ${value}`;
  if (o.kind === 'step') return value > 0 ? null : `solver option 'step' must be a positive number (a fixed step), got ${value}`;
  return value >= 0 ? null : `solver option '${name}' must be non-negative, got ${value}`;
}

function literal(e: A.Expr): OptValue | undefined {
  switch (e.kind) {
    case 'num':
      return e.imag ? undefined : e.value;
    case 'bool':
      return e.value;
    case 'name':
      return e.name;
    case 'unary':
      if (e.op === '-' && e.operand.kind === 'num' && !e.operand.imag) return -e.operand.value;
      return undefined;
    case 'call': {
      const args: number[] = [];
      for (const a of e.args) {
        const v = literal(a.value);
        if (typeof v !== 'number') return undefined;
        args.push(v);
      }
      return { fn: e.callee.name, args };
    }
    default:
      return undefined;
  }
}
