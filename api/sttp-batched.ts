// An STTP layer (stdlib/sttp.mat) run with its frames batched across cores of one shape, as the
// reference does (one batched Householder product per frame shape; seeds-math §3.3): the frames
// of all cores are computed by one batched `stiefel_reduced` / `stiefel_full` call per distinct
// parameter shape (api/batch-map.ts), then `sttp_apply_frames` contracts them with X. The
// backward runs the same way in reverse: the VJP of sttp_apply_frames gives the cotangents of
// the frames, S and X, and one batched VJP per frame shape (the torch-householder rule) maps the
// frames' cotangents to the parameters'. Values and gradients are those of `sttp_apply` (the same
// functions, composed by the caller instead of inside one call).
//
// Where it pays: `sttp_apply` computes its K frames one after another inside one instance; here
// a frame shape shared by m cores is one call of m instances (m workgroups on WebGPU). For the
// prime-factor tensorisation of a 512 × 2304 weight at r = 32 (19 cores) the frames fall into
// 11 calls (10 reduced shapes, one full), and 8 of its cores share one (the 32 × 32 reduced
// parameters of the middle cores).

import type { CallOptions, Module } from './module.js';
import type { CallStatus } from '../runtime/call.js';
import type { Tensor } from '../runtime/tensor.js';
import { forwardMany, vjpMany } from './batch-map.js';
import type { Spectrum, SttpShape } from './sttp.js';

/** The parameters of sttp_apply (learned spectrum: S given) or sttp_apply_c (identity: no S). */
export interface SttpParams {
  PL: Tensor[];
  Pm: Tensor;
  Pv: Tensor;
  PR: Tensor[];
  S?: Tensor;
}

export interface SttpFrames {
  QL: Tensor[];
  Qm: Tensor;
  Qv: Tensor;
  QR: Tensor[];
}

export interface SttpBatchedForward {
  Y: Tensor;
  frames: SttpFrames;
  /** calls made: frame calls (one per distinct frame shape and kind) + 1 apply */
  calls: number;
  statuses: CallStatus[];
}

export interface SttpBatchedVjp extends SttpBatchedForward {
  grads: { PL: Tensor[]; Pm: Tensor; Pv: Tensor; PR: Tensor[]; S?: Tensor; X: Tensor };
}

const spectrumOf = (p: SttpParams): Spectrum => (p.S ? 'learned' : 'identity');

/** Which parameters take reduced frames and which full ones, in a fixed order. */
function frameCalls(p: SttpParams): { reduced: Tensor[]; full: Tensor[] } {
  const learned = spectrumOf(p) === 'learned';
  return {
    reduced: [...p.PL, ...(learned ? [] : [p.Pm]), ...p.PR],
    full: [...(learned ? [p.Pm] : []), p.Pv],
  };
}

function framesFrom(p: SttpParams, reduced: Tensor[], full: Tensor[]): SttpFrames {
  const learned = spectrumOf(p) === 'learned';
  const L = p.PL.length;
  return {
    QL: reduced.slice(0, L),
    Qm: learned ? full[0]! : reduced[L]!,
    Qv: learned ? full[1]! : full[0]!,
    QR: reduced.slice(learned ? L : L + 1),
  };
}

async function frames(mod: Module, p: SttpParams, opts: CallOptions): Promise<{ f: SttpFrames; calls: number; statuses: CallStatus[] }> {
  const { reduced, full } = frameCalls(p);
  const r = await forwardMany(mod.fn('stiefel_reduced'), reduced.map((P) => ({ P })), opts);
  const u = await forwardMany(mod.fn('stiefel_full'), full.map((P) => ({ P })), opts);
  return {
    f: framesFrom(p, r.outputs.map((o) => o.Q!), u.outputs.map((o) => o.Q!)),
    calls: r.calls + u.calls,
    statuses: [...r.statuses, ...u.statuses],
  };
}

function applyInputs(p: SttpParams, f: SttpFrames, X: Tensor): Record<string, Tensor | Tensor[]> {
  return { QL: f.QL, Qm: f.Qm, Qv: f.Qv, QR: f.QR, ...(p.S ? { S: p.S } : {}), X };
}

const applyName = (p: SttpParams): string => (spectrumOf(p) === 'learned' ? 'sttp_apply_frames' : 'sttp_apply_frames_c');

/** Y = W X of an STTP layer, its frames computed one batched call per shape. `mod` is a module
 *  that imports stdlib sttp.mat; `s` the layer's shape (sttpShape). */
export async function sttpForward(mod: Module, p: SttpParams, X: Tensor, s: SttpShape, opts: CallOptions = {}): Promise<SttpBatchedForward> {
  const fr = await frames(mod, p, opts);
  const r = await mod.fn(applyName(p)).forward(applyInputs(p, fr.f, X), { ...opts, dims: { ...s.dims, ...opts.dims } });
  return { Y: r.outputs.Y!, frames: fr.f, calls: fr.calls + 1, statuses: [...fr.statuses, r.status] };
}

/** Y and the gradients of ⟨dY, Y⟩ for every parameter and X. */
export async function sttpVjp(mod: Module, p: SttpParams, X: Tensor, dY: Tensor, s: SttpShape, opts: CallOptions = {}): Promise<SttpBatchedVjp> {
  const fr = await frames(mod, p, opts);
  const a = await mod.fn(applyName(p)).vjp(applyInputs(p, fr.f, X), { Y: dY }, { ...opts, dims: { ...s.dims, ...opts.dims } });
  const g = a.gradients;
  const gl = a.gradientLists;
  const dF: SttpFrames = { QL: gl.QL ?? [], Qm: g.Qm!, Qv: g.Qv!, QR: gl.QR ?? [] };
  // the frames' cotangents, in the order frameCalls gives the parameters
  const learned = spectrumOf(p) === 'learned';
  const dReduced = [...dF.QL, ...(learned ? [] : [dF.Qm]), ...dF.QR];
  const dFull = [...(learned ? [dF.Qm] : []), dF.Qv];
  const { reduced, full } = frameCalls(p);
  const r = await vjpMany(mod.fn('stiefel_reduced'), reduced.map((P) => ({ P })), dReduced.map((Q) => ({ Q })), opts);
  const u = await vjpMany(mod.fn('stiefel_full'), full.map((P) => ({ P })), dFull.map((Q) => ({ Q })), opts);
  const gp = framesFrom(p, r.gradients.map((x) => x.P!), u.gradients.map((x) => x.P!));
  return {
    Y: a.outputs.Y!,
    frames: fr.f,
    grads: { PL: gp.QL, Pm: gp.Qm, Pv: gp.Qv, PR: gp.QR, ...(p.S ? { S: g.S! } : {}), X: g.X! },
    calls: fr.calls + 1 + r.calls + u.calls,
    statuses: [...fr.statuses, a.status, ...r.statuses, ...u.statuses],
  };
}
