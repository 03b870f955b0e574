#!/usr/bin/env python3
"""PyTorch complex128 autograd oracles for the complex QR (stdlib/qr.mat `cqr`) and the complex
unitary projUNN retractions (stdlib/projunn.mat `cprojunn_t`, `cprojunn_d`): writes
test/fixtures/cqr.json.

    /usr/bin/python3 test/oracles/gen_cqr_fixtures.py     (from the repository root; Debian's torch)

Nothing here imports matc. Gradients are torch's z.grad for the real loss
L = sum over results o of Re sum(conj(g_o) * o) (grad_output g_o): the conjugate Wirtinger
convention matc uses (docs/language.md, complex numbers).

  cqr:  torch.linalg.qr(A) (reduced), its phases moved so that diag(R) is real >= 0
        (Q diag(s), diag(s)^-1 R with s = sign of the real diagonal LAPACK's zgeqrf leaves);
        tall 5x3, square 4x4, wide 3x5.
  cprojunn_t: the dense formula W matrix_exp(1/2 (W^H a b^H - b a^H W)), differentiated by torch
        (its derivative is the formula's for every W, as matc's rule).
  cprojunn_d: the dense polar factor W~ (W~^H W~)^(-1/2) of W~ = W + a b^H, the inverse square
        root by torch.linalg.eigh (Debian's torch returns NaN gradients through a complex
        torch.linalg.svd, so the SVD route is not used). matc's rule is the
        derivative of W~ (W~^H W~ + I - W^H W)^(-1/2), which equals polar's along the unitary group:
        the fixture stores the gradients of a and b, and the W gradient's tangent part
        W skewH(W^H grad W) (skewH(X) = (X - X^H)/2), which are what must agree.
Complex tensors are stored packed (re, im) on a trailing axis, as test/fixtures/complex.json.
"""

import json
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np
import torch

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "cqr.json"))
gen = torch.Generator().manual_seed(13013)


def crand(*shape):
    return torch.complex(torch.randn(*shape, generator=gen, dtype=torch.float64), torch.randn(*shape, generator=gen, dtype=torch.float64)) / np.sqrt(2)


def P(t):
    t = t.detach()
    p = torch.stack([t.real, t.imag], dim=-1)
    return {"shape": list(p.shape), "data": [float(v) for v in p.reshape(-1).tolist()]}


def H(X):
    return X.conj().transpose(-2, -1)


def loss(outs, cts):
    return sum((torch.conj(g) * o).real.sum() for o, g in zip(outs, cts))


def qr_pos(A):
    Q, R = torch.linalg.qr(A, mode="reduced")
    d = torch.diagonal(R).real
    s = torch.where(d >= 0, 1.0, -1.0).to(torch.float64).detach()
    return Q * s, s[:, None] * R


def qr_case(name, m, n):
    A = crand(m, n).requires_grad_(True)
    Q, R = qr_pos(A)
    cts = [crand(*Q.shape), crand(*R.shape)]
    loss([Q, R], cts).backward()
    # cross-check: a central difference along a random complex direction
    E = crand(m, n)
    h = 1e-6
    with torch.no_grad():
        fd = (loss(qr_pos(A + h * E), cts) - loss(qr_pos(A - h * E), cts)) / (2 * h)
    an = (torch.conj(A.grad) * E).real.sum()
    assert abs(fd - an) < 1e-7 * max(1.0, abs(an)), (name, float(fd), float(an))
    return {"name": name, "fn": "cqr", "inputs": {"A": P(A)}, "outputs": {"Q": P(Q), "R": P(R)},
            "cotangents": {"Q": P(cts[0]), "R": P(cts[1])}, "gradients": {"A": P(A.grad)}}


def unitary(n):
    Q, R = qr_pos(crand(n, n))
    return Q.detach()


def proj_case(name, n, k):
    W = unitary(n).requires_grad_(True)
    a = (0.7 * crand(n, k)).requires_grad_(True)
    b = (0.7 * crand(n, k)).requires_grad_(True)
    out = []
    # T
    X = H(W) @ a @ H(b)
    Tm = W @ torch.linalg.matrix_exp(0.5 * (X - H(X)))
    g = crand(n, n)
    loss([Tm], [g]).backward()
    out.append({"name": f"{name}_t", "fn": "cprojunn_t", "inputs": {"W": P(W), "a": P(a), "b": P(b)}, "outputs": {"out": P(Tm)},
                "cotangents": {"out": P(g)}, "gradients": {"W": P(W.grad), "a": P(a.grad), "b": P(b.grad)}})
    for t in (W, a, b):
        t.grad = None
    # D
    def polar(W, a, b):
        Wt = W + a @ H(b)
        lam, V = torch.linalg.eigh(H(Wt) @ Wt)
        return Wt @ (V * lam.rsqrt().to(V.dtype)) @ H(V)

    Dm = polar(W, a, b)
    g = crand(n, n)
    loss([Dm], [g]).backward()
    # cross-check along a random direction of a and b
    Ea, Eb = crand(n, k), crand(n, k)
    h = 1e-6
    with torch.no_grad():
        fd = (loss([polar(W, a + h * Ea, b + h * Eb)], [g]) - loss([polar(W, a - h * Ea, b - h * Eb)], [g])) / (2 * h)
    an = (torch.conj(a.grad) * Ea).real.sum() + (torch.conj(b.grad) * Eb).real.sum()
    assert abs(fd - an) < 1e-7 * max(1.0, abs(an)), (name, float(fd), float(an))
    Wd = W.detach()
    M = H(Wd) @ W.grad
    tang = Wd @ (0.5 * (M - H(M)))
    out.append({"name": f"{name}_d", "fn": "cprojunn_d", "inputs": {"W": P(W), "a": P(a), "b": P(b)}, "outputs": {"out": P(Dm)},
                "cotangents": {"out": P(g)}, "gradients": {"a": P(a.grad), "b": P(b.grad)}, "tangent_gradients": {"W": P(tang)}})
    return out


def main():
    cases = [qr_case("tall_5x3", 5, 3), qr_case("square_4x4", 4, 4), qr_case("wide_3x5", 3, 5)]
    cases += proj_case("random_n6_k1", 6, 1) + proj_case("random_n8_k2", 8, 2)
    out = {"generator": "test/oracles/gen_cqr_fixtures.py", "torch": torch.__version__, "numpy": np.__version__, "cases": cases}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
