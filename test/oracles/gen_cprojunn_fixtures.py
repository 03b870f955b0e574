#!/usr/bin/env python3
"""External oracles for the complex unitary projUNN of stdlib/projunn.mat (cprojunn_t, cprojunn_d):
writes test/fixtures/cprojunn.json.

    python3 test/oracles/gen_cprojunn_fixtures.py        (from the repository root; NumPy and SciPy)

Nothing here imports or runs matc. For unitary W (N x N) and complex a, b (N x k), complex128,
fixed seeds, the two retractions computed densely, the O(N^3) way:

  T = W expm(1/2 (W^H a b^H - b a^H W))   (scipy.linalg.expm, dense N x N)
  D = polar(W + a b^H)                   (scipy.linalg.polar, side='right', via the SVD)

Cases: random W, a, b (k = 1, 2, 3); Delta = a b^H = 0 (a = 0); [b, W^H a] rank-deficient
(a = c W b with a complex c: T = W expm of a nonzero skew-Hermitian matrix i Im(c) |b|^2-type,
D = polar(W (I + c b b^H))); and k = 2 with repeated eigenvalues of the 2k x 2k matrices (two equal
planes). Each case stores the measured max|T^H T - I|, max|D^H D - I| under "checks".
Format as test/fixtures/complex.json: complex tensors packed (re, im) on a trailing axis of 2,
{"shape", "data"} flat row-major float64.
"""

import json
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np
import scipy
import scipy.linalg as sl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "cprojunn.json"))


def C(x):
    a = np.asarray(x, dtype=np.complex128)
    p = np.stack([a.real, a.imag], axis=-1)
    return {"shape": list(p.shape), "data": [float(v) for v in p.reshape(-1)]}


def crandn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def unitary(rng, n):
    q, r = np.linalg.qr(crandn(rng, n, n))
    d = np.diag(r)
    return q * (d / abs(d))


def case(name, W, a, b):
    H = lambda X: X.conj().T
    X = H(W) @ a @ H(b)
    Tm = W @ sl.expm(0.5 * (X - H(X)))
    Dm, _ = sl.polar(W + a @ H(b), side="right")
    n = W.shape[0]
    return {
        "name": name,
        "inputs": {"W": C(W), "a": C(a), "b": C(b)},
        "outputs": {"T": C(Tm), "D": C(Dm)},
        "checks": {
            "T_unitary": float(np.abs(H(Tm) @ Tm - np.eye(n)).max()),
            "D_unitary": float(np.abs(H(Dm) @ Dm - np.eye(n)).max()),
            "cond_W_plus_abH": float(np.linalg.cond(W + a @ H(b))),
        },
    }


def main():
    rng = np.random.default_rng(20261206)
    cases = []
    for n, k in [(6, 1), (8, 2), (9, 3), (16, 1)]:
        W = unitary(rng, n)
        cases.append(case(f"random_n{n}_k{k}", W, 0.7 * crandn(rng, n, k), 0.7 * crandn(rng, n, k)))
    n = 7
    W = unitary(rng, n)
    cases.append(case("delta_zero", W, np.zeros((n, 1), dtype=np.complex128), crandn(rng, n, 1)))
    W = unitary(rng, n)
    b = crandn(rng, n, 1)
    cases.append(case("rank_deficient_a_eq_cWb", W, (0.5 + 0.3j) * W @ b, b))
    # two equal planes: W^H a = s [e0, e2], b = s [e1, e3] (s complex)
    n = 8
    W = unitary(rng, n)
    E = np.eye(n)
    s = 0.9 * np.exp(0.4j)
    cases.append(case("repeated_eigenvalues_k2", W, s * W @ E[:, [0, 2]], s * E[:, [1, 3]]))
    out = {"generator": "test/oracles/gen_cprojunn_fixtures.py", "numpy": np.__version__, "scipy": scipy.__version__, "cases": cases}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")
    for c in cases:
        print(c["name"], c["checks"])


if __name__ == "__main__":
    main()
