#!/usr/bin/python3
"""Writes test/fixtures/complex.json: forward values and gradients of complex functions from
PyTorch (complex128 autograd), the external oracle for test/complex.test.ts.

Every case pairs a matc function (its source is in the test) with the same function written in
torch. Complex tensors are stored packed, (re, im) along a trailing axis (torch.view_as_real),
which is the layout of a complex parameter in matc. Gradients are torch's z.grad for the real loss
L = Re <g, f(inputs)> = sum(Re g Re f + Im g Im f) (g: the stored cotangent, real for a real f):
torch's convention, dL/dRe z + i dL/dIm z (twice the conjugate Wirtinger derivative).

Run from the repository root with Debian's interpreter: /usr/bin/python3 test/oracles/gen_complex_fixtures.py
Nothing here imports matc.
"""
import json
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20261206)


def crand(*shape, scale=1.0, shift=0.0):
    re = torch.rand(*shape, generator=gen) - 0.5
    im = torch.rand(*shape, generator=gen) - 0.5
    return (scale * torch.complex(re, im) + shift).to(torch.complex128)


def rrand(*shape, scale=1.0, shift=0.0):
    return scale * (torch.rand(*shape, generator=gen) - 0.5) + shift


def packed(t):
    t = t.detach()
    if t.is_complex():
        t = torch.view_as_real(t.resolve_conj())
    return {"shape": list(t.shape), "data": [float(x) for x in t.reshape(-1).tolist()]}


def herm(A):
    return (A + A.mH) / 2


N = 3
# NB: Debian's torch 1.13.0a0 returns 0 for complex 1-D @ 1-D products and torch.vdot (its
# zdotc binding), so inner products below are written as sums of elementwise products.
I3 = torch.eye(N, dtype=torch.complex128)

# name -> (inputs, torch function returning a dict of outputs)
CASES = {
    # products, conjugate transpose, dot (conjugates its first argument), outer, abs
    "products": (
        {"A": crand(N, N), "z": crand(N), "w": crand(N)},
        lambda A, z, w: {
            "r": (A @ z).abs().pow(2).sum() + (z.conj() * (A.mH @ w)).sum().real + torch.outer(z, w.conj()).imag.sum(),
            "B": A.mH @ A + A.conj() * A - A.T @ torch.outer(z, w.conj()),
        },
    ),
    # elementwise functions (principal branches, away from the cuts)
    "elementwise": (
        {"z": crand(N, shift=1.5), "w": crand(N)},
        lambda z, w: {
            "r": (torch.exp(w) * torch.log(z)).real.sum() + torch.sqrt(z).imag.sum() + (torch.sin(w) / z).abs().sum()
            + (torch.cos(w) + torch.tanh(w)).real.sum() + torch.angle(z + w).sum() + (z ** 3).imag.sum()
            + (z ** 0.7).real.sum() + (w / torch.abs(w)).imag.sum(),
            "y": torch.exp(w) * torch.log(z) + torch.sqrt(z) * 2j - w.conj() / z,
        },
    ),
    # linear solves
    "solve": (
        {"A": crand(N, N) + 2 * I3, "b": crand(N), "B": crand(N, 2)},
        lambda A, b, B: {
            "r": torch.linalg.solve(A, b).abs().pow(2).sum() + torch.trace(torch.linalg.inv(A)).real
            + torch.linalg.solve(A, B).imag.sum(),
            "X": torch.linalg.solve(A, B),
            "Ainv": torch.linalg.inv(A),
        },
    ),
    # matrix exponential and powers
    "expm": (
        {"A": crand(N, N)},
        lambda A: {
            "r": torch.trace(torch.linalg.matrix_exp(A) @ A.conj()).real + torch.linalg.matrix_power(A, 3).abs().sum(),
            "E": torch.linalg.matrix_exp(A),
        },
    ),
    # the Hermitian eigendecomposition of herm(A): values, and gauge-invariant functions of the
    # vectors (|V_ij| and projectors), as torch.linalg.eigh requires of differentiated losses
    "eigh": (
        {"A": crand(N, N) + torch.diag(torch.tensor([0.0, 1.0, 2.0], dtype=torch.complex128))},
        lambda A: (lambda lv: {
            "r": (lv[0] ** 3).sum() + (lv[1].abs()[:, 0] * lv[0]).sum() + (lv[1][:, 2:3] @ lv[1][:, 2:3].mH).real.sum(),
            "values": lv[0],
            "absV": lv[1].abs(),
        })(torch.linalg.eigh(herm(A))),
    ),
}


def run_case(name, inputs, f):
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    outs = f(**leaves)
    cot = {}
    loss = 0.0
    for k, o in outs.items():
        if o.is_complex():
            g = crand(*o.shape)
            loss = loss + (g.conj() * o).real.sum()
        elif o.dim() == 0:
            g = torch.tensor(1.0)
            loss = loss + g * o
        else:
            g = rrand(*o.shape)
            loss = loss + (g * o).sum()
        cot[k] = g
    loss.backward()
    # cross-check: the directional derivative of the loss along a random complex direction by
    # central differences, against <grad, direction> over the real parts
    dirs = {k: crand(*v.shape) if v.is_complex() else rrand(*v.shape) for k, v in inputs.items()}

    def loss_at(s):
        with torch.no_grad():
            o = f(**{k: v + s * dirs[k] for k, v in inputs.items()})
            return sum(float((cot[k].conj() * o[k]).real.sum()) if o[k].is_complex() else float((cot[k] * o[k]).sum()) for k in o)

    h = 1e-6
    fd = (loss_at(h) - loss_at(-h)) / (2 * h)
    an = sum(float((torch.view_as_real(leaves[k].grad) * torch.view_as_real(dirs[k])).sum()) if dirs[k].is_complex() else float((leaves[k].grad * dirs[k]).sum()) for k in dirs)
    return {
        "name": name,
        "inputs": {k: packed(v) for k, v in inputs.items()},
        "outputs": {k: packed(o) for k, o in outs.items()},
        "cotangents": {k: packed(g) for k, g in cot.items()},
        "gradients": {k: packed(v.grad) for k, v in leaves.items()},
        "checks": {"fd_directional_abs_err": abs(fd - an), "directional_derivative": an},
    }


def main():
    cases = [run_case(n, inp, f) for n, (inp, f) in CASES.items()]
    out = {
        "generator": "test/oracles/gen_complex_fixtures.py",
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "convention": "complex values packed (re, im) on a trailing axis; gradients are torch's z.grad of L = sum Re(conj(g) f)",
        "cases": cases,
    }
    path = "test/fixtures/complex.json"
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    print(f"wrote {path}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
