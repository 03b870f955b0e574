// Typed loader for the external-oracle fixtures in test/fixtures/*.json (written by
// test/oracles/gen_fixtures.py from PyTorch / SciPy / NumPy; see test/oracles/README.md).
// Works both from the compiled tree (dist/test/oracles/) and from the sources (test/oracles/).

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A tensor: row-major flat data, batch dimensions leading; a scalar has shape [] and one datum. */
export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export type TensorMap = Record<string, FixtureTensor>;

export interface FixtureCase {
  name: string;
  inputs: TensorMap;
  outputs: TensorMap;
  cotangents: TensorMap;
  gradients: TensorMap;
  /** Numbers measured by the generator's own cross-checks (FD errors, agreements, gaps). */
  checks: Record<string, number>;
}

/** qr.json: outputs Q, R; cotangents Q, R (R's upper triangular); gradients A, A_dQ_only, A_dR_only. */
export type QrCase = FixtureCase;
/** lq.json: outputs L, Q; cotangents L (lower triangular), Q; gradients A, A_dL_only, A_dQ_only. */
export type LqCase = FixtureCase;
/** qr_pivoted.json: as qr.json plus perm (0-based) with A[:, perm] = Q R. */
export interface QrPivotedCase extends FixtureCase {
  perm: number[];
}
/** ied.json: inputs X [b,m,m]; outputs u [b,m,k], lambda [b,k]; cotangents u; gradients X. */
export interface IedCase extends FixtureCase {
  k: number;
  /** 'wigner': X = (N + Nᵀ)/2, eigenvalues of both signs and a small top gap; PMaF's data otherwise */
  data?: 'wigner';
  gradients_closed_form: TensorMap;
}
/** less.json: inputs A [m,n], b [m]; outputs x [n], f [], nu []; cotangents x; gradients A, b. */
export interface LessCase extends FixtureCase {
  hardCase: boolean;
  unique: boolean;
  gradients_fd: TensorMap;
  fd_step?: number;
}

/** sttp.json (gen_sttp_fixtures.py): frames, geqrf, qr_eye_randn, SVDP/STTP weights (with the
 *  reference's tensorisation and DOF) and the TT operator test; collections under element names. */
export interface SttpCase extends FixtureCase {
  modes?: number[];
  kout?: number;
  ranks?: number[];
  dof?: number;
  numel?: number;
  spectrum?: 'learned' | 'identity';
}

export interface FixtureFile<C extends FixtureCase> {
  generator: string;
  torch: string;
  numpy: string;
  scipy: string;
  notes: string;
  cases: C[];
}

export interface FixtureKinds {
  qr: QrCase;
  lq: LqCase;
  qr_pivoted: QrPivotedCase;
  ied: IedCase;
  less: LessCase;
  sttp: SttpCase;
}

/** Absolute path of test/fixtures/<file>, from either the source or the compiled location. */
export function fixturePath(file: string): string {
  const candidates = [
    new URL(`../fixtures/${file}`, import.meta.url), // test/oracles/fixtures.ts
    new URL(`../../../test/fixtures/${file}`, import.meta.url), // dist/test/oracles/fixtures.js
  ];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`fixture ${file} not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

export function loadFixture<K extends keyof FixtureKinds>(kind: K): FixtureFile<FixtureKinds[K]> {
  return JSON.parse(readFileSync(fixturePath(`${kind}.json`), 'utf8')) as FixtureFile<FixtureKinds[K]>;
}

/** The data of a fixture tensor as a Float64Array. */
export function f64(t: FixtureTensor): Float64Array {
  return Float64Array.from(t.data);
}
