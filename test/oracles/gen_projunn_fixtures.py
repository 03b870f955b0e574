#!/usr/bin/env python3
"""External oracles for stdlib/projunn.mat: writes test/fixtures/projunn.json.

    python3 test/oracles/gen_projunn_fixtures.py        (from the repository root; NumPy and SciPy)

Nothing here imports or runs matc. For orthogonal W (N x N) and a, b (N x k), float64, fixed seeds:

  T = W expm(skew(W' a b'))   with skew(X) = (X - X')/2  (scipy.linalg.expm, dense N x N)
  D = polar(W + a b')         (scipy.linalg.polar, side='right', dense N x N SVD route)

i.e. the two retractions of projUNN (Kiani et al. 2022, code's naming: T = tangent, D = direct)
computed densely, the O(N^3) way, as the identities of issue 13 item 3 ask. Cases: random W, a, b
(k = 1, 2, 3); Delta = a b' = 0 (a = 0); [b, W'a] rank-deficient (a = W b: skew part 0, D = W);
and k = 2 with repeated eigenvalues of the 2k x 2k matrices (two equal rotation planes).
Each case stores the measured ||T'T - I||, ||D'D - I|| under "checks".
Format: {"generator", "numpy", "scipy", "cases": [{"name", "inputs": {W, a, b}, "outputs": {T, D},
"checks"}]}, tensors {"shape", "data"} flat row-major float64 (Python repr).
"""

import json
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np
import scipy
import scipy.linalg as sl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "projunn.json"))


def T(x):
    a = np.asarray(x, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def orth(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def case(name, W, a, b):
    X = W.T @ a @ b.T
    Tm = W @ sl.expm(0.5 * (X - X.T))
    Dm, _ = sl.polar(W + a @ b.T, side="right")
    n = W.shape[0]
    return {
        "name": name,
        "inputs": {"W": T(W), "a": T(a), "b": T(b)},
        "outputs": {"T": T(Tm), "D": T(Dm)},
        "checks": {
            "T_orth": float(np.abs(Tm.T @ Tm - np.eye(n)).max()),
            "D_orth": float(np.abs(Dm.T @ Dm - np.eye(n)).max()),
        },
    }


def main():
    rng = np.random.default_rng(20221)
    cases = []
    for n, k in [(6, 1), (8, 2), (9, 3), (16, 1)]:
        W = orth(rng, n)
        cases.append(case(f"random_n{n}_k{k}", W, 0.7 * rng.standard_normal((n, k)), 0.7 * rng.standard_normal((n, k))))
    n = 7
    W = orth(rng, n)
    cases.append(case("delta_zero", W, np.zeros((n, 1)), rng.standard_normal((n, 1))))
    W = orth(rng, n)
    b = rng.standard_normal((n, 1))
    cases.append(case("rank_deficient_a_eq_Wb", W, 0.5 * W @ b, b))
    # two equal rotation planes: W'a = s [e0, e2], b = s [e1, e3]
    n = 8
    W = orth(rng, n)
    E = np.eye(n)
    s = 0.9
    cases.append(case("repeated_eigenvalues_k2", W, s * W @ E[:, [0, 2]], s * E[:, [1, 3]]))
    out = {"generator": "test/oracles/gen_projunn_fixtures.py", "numpy": np.__version__, "scipy": scipy.__version__, "cases": cases}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
