#!/usr/bin/env python3
"""External oracles for compile-time collections: writes test/fixtures/collections.json.

    python3 test/oracles/gen_collections.py          (from the repository root; NumPy only)

Nothing here imports or runs matc. Every value is NumPy float64 from fixed seeds, computed by code
written independently of the specs in test/collections.test.ts:

* tensor-train (STTP-style) cores U_k of shape (r_k, n_k, r_{k+1}), K = 4 and 5:
  - the frame U = T(U_1 … U_K), shape (r_0 n_1 ⋯ n_K, r_K), as ONE einsum over all cores at once
    (the spec contracts core by core with reshapes and a carry that grows a mode per core);
    cross-checked entry by entry against the product of the matrices U_k[:, i_k, :];
  - y = Uᵀ x (the contraction applied to a vector without forming U in the spec);
  - the gradients of ⟨C, U⟩ and ⟨c, y⟩ for every core (and x): each as an einsum of the cotangent
    with all the other cores, cross-checked against central finite differences of the forward
    (every entry; the script aborts on a relative error above 1e-7).
* one Kronecker factor per tensor mode (IF-Shampoo's inverse-free update, seeds-math §2.5, written
  for N modes with np.tensordot / np.moveaxis), N = 2 and 3: one step from random factors and
  momenta. For N = 2 the N-mode code is cross-checked against the two-factor formulas of §2.5
  transcribed literally (H₁, H₂ with B̂₂ᵀ G B̂₁, Δ = (B₂B₂ᵀ) G (B₁B₁ᵀ)).
* INGD's update (SINGD's default, seeds-math §2.4) with one factor per mode and per-mode
  statistics S_k, N = 2 and 3; for N = 2 cross-checked against §2.4's K/C formulas as written.

File format: as test/oracles/gen_fixtures.py ({"cases": [{"name", "inputs", "outputs",
"cotangents", "gradients", "checks", …}]}); tensors are {"shape", "data"} flat row-major.
Collections are stored under their element names (cores[0], B[1], …).
"""

import json
import os
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def t(x):
    x = np.asarray(x, dtype=np.float64)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1)]}


# ---- tensor trains -------------------------------------------------------------------------------

def tt_full(cores):
    """U[(a, i_1, …, i_K), b] by one einsum over every core (bond letters then mode letters)."""
    K = len(cores)
    bonds = LETTERS[: K + 1]
    modes = LETTERS[K + 1: 2 * K + 1]
    ins = [bonds[k] + modes[k] + bonds[k + 1] for k in range(K)]
    out = bonds[0] + modes + bonds[K]
    T = np.einsum(",".join(ins) + "->" + out, *cores)
    return T.reshape(-1, T.shape[-1])


def tt_full_entry(cores, row, col):
    """One entry of U as a product of the matrices U_k[:, i_k, :] (an independent route)."""
    dims = [cores[0].shape[0]] + [c.shape[1] for c in cores]
    idx = np.unravel_index(row, dims)
    a, modes = idx[0], idx[1:]
    v = np.eye(cores[0].shape[0])[a][None, :]
    for c, i in zip(cores, modes):
        v = v @ c[:, i, :]
    return v[0, col]


def tt_core_grads(cores, C):
    """∂⟨C, U⟩/∂U_k for every k: the cotangent contracted with all the other cores."""
    K = len(cores)
    bonds = LETTERS[: K + 1]
    modes = LETTERS[K + 1: 2 * K + 1]
    Cfull = C.reshape([cores[0].shape[0]] + [c.shape[1] for c in cores] + [cores[-1].shape[2]])
    cspec = bonds[0] + modes + bonds[K]
    grads = []
    for k in range(K):
        ins = [bonds[j] + modes[j] + bonds[j + 1] for j in range(K) if j != k]
        ops = [cores[j] for j in range(K) if j != k]
        spec = ",".join([cspec] + ins) + "->" + bonds[k] + modes[k] + bonds[k + 1]
        grads.append(np.einsum(spec, Cfull, *ops))
    return grads


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gf = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gf[i] = (fp - fm) / (2 * h)
    return g


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(1e-300, np.max(np.abs(b))))


def tt_case(name, ranks, ns, seed):
    rng = np.random.default_rng(seed)
    K = len(ns)
    cores = [rng.standard_normal((ranks[k], ns[k], ranks[k + 1])) for k in range(K)]
    U = tt_full(cores)
    rows, cols = U.shape
    # entry-by-entry cross-check of the einsum
    worst = 0.0
    for row in range(rows):
        for col in range(cols):
            worst = max(worst, abs(U[row, col] - tt_full_entry(cores, row, col)))
    if worst > 1e-12 * max(1.0, np.max(np.abs(U))):
        sys.exit(f"{name}: einsum and matrix products disagree by {worst}")
    C = rng.standard_normal(U.shape)
    grads = tt_core_grads(cores, C)
    # the frame applied to a vector, and its gradients
    x = rng.standard_normal(rows)
    y = U.T @ x
    c = rng.standard_normal(cols)
    gy = tt_core_grads(cores, np.outer(x, c))
    gx = U @ c
    checks = {"einsum_vs_products": float(worst)}
    fd_worst = 0.0
    for k in range(K):
        fdk = fd_grad(lambda: float(np.sum(C * tt_full(cores))), cores[k])
        fd_worst = max(fd_worst, rel(grads[k], fdk))
        fdy = fd_grad(lambda: float(c @ (tt_full(cores).T @ x)), cores[k])
        fd_worst = max(fd_worst, rel(gy[k], fdy))
    fdx = fd_grad(lambda: float(c @ (tt_full(cores).T @ x)), x)
    fd_worst = max(fd_worst, rel(gx, fdx))
    if fd_worst > 1e-7:
        sys.exit(f"{name}: einsum gradients and finite differences disagree ({fd_worst})")
    checks["gradients_vs_central_differences"] = fd_worst
    inputs = {f"cores[{k}]": t(cores[k]) for k in range(K)}
    inputs["x"] = t(x)
    return {
        "name": name,
        "K": K,
        "ranks": ranks,
        "modes": ns,
        "inputs": inputs,
        "outputs": {"frame": t(U), "y": t(y)},
        "cotangents": {"frame": t(C), "y": t(c)},
        "gradients": {
            "frame": {f"cores[{k}]": t(grads[k]) for k in range(K)},
            "y": {**{f"cores[{k}]": t(gy[k]) for k in range(K)}, "x": t(gx)},
        },
        "checks": checks,
    }


# ---- one Kronecker factor per mode (IF-Shampoo, N modes) -------------------------------------------

def mode_product(T, M, k):
    """T ×_k M: (T ×_k M)[…, a, …] = Σ_b M[a, b] T[…, b, …]."""
    return np.moveaxis(np.tensordot(M, T, axes=([1], [k])), 0, k)


def unfolding(T, k):
    return np.moveaxis(T, k, 0).reshape(T.shape[k], -1)


def kron_step(W, G, B, m, lr, lr_cov, damping, beta2):
    N = W.ndim
    d = W.shape
    Bh = [B[k] / np.sqrt(d[k]) for k in range(N)]
    Gt = G
    for k in range(N):
        Gt = mode_product(Gt, Bh[k].T, k)
    tr = [np.trace(Bh[k].T @ Bh[k]) for k in range(N)]
    m2, B2 = [], []
    for k in range(N):
        others = np.prod([tr[j] for j in range(N) if j != k])
        Uk = unfolding(Gt, k)
        H = (damping * d[k] * others / 2) * (Bh[k].T @ Bh[k]) + (d[k] / 2) * (Uk @ Uk.T) - 0.5 * np.eye(d[k])
        mk = beta2 * m[k] + (1 - beta2) * H
        m2.append(mk)
        B2.append(B[k] - (lr_cov / max(1.0, np.linalg.norm(mk))) * (B[k] @ mk))
    D = G
    for k in range(N):
        D = mode_product(D, B2[k] @ B2[k].T, k)
    return W - lr * D, B2, m2


def kron_step_2d_literal(W, G, B, m, lr, lr_cov, damping, beta2):
    """§2.5 as written, for G of shape d₂×d₁ with B₁ (d₁×d₁, columns) and B₂ (d₂×d₂, rows): mode 0
    of the N-mode code is B₂, mode 1 is B₁."""
    B2_, B1_ = B[0], B[1]
    m2_, m1_ = m[0], m[1]
    d2, d1 = G.shape
    B1h, B2h = B1_ / np.sqrt(d1), B2_ / np.sqrt(d2)
    S = B2h.T @ G @ B1h
    H1 = (damping * d1 * np.trace(B2h.T @ B2h) / 2) * (B1h.T @ B1h) + (d1 / 2) * (S.T @ S) - 0.5 * np.eye(d1)
    H2 = (damping * d2 * np.trace(B1h.T @ B1h) / 2) * (B2h.T @ B2h) + (d2 / 2) * (S @ S.T) - 0.5 * np.eye(d2)
    m1n = beta2 * m1_ + (1 - beta2) * H1
    m2n = beta2 * m2_ + (1 - beta2) * H2
    B1n = B1_ - (lr_cov / max(1.0, np.linalg.norm(m1n))) * (B1_ @ m1n)
    B2n = B2_ - (lr_cov / max(1.0, np.linalg.norm(m2n))) * (B2_ @ m2n)
    D = (B2n @ B2n.T) @ G @ (B1n @ B1n.T)
    return W - lr * D, [B2n, B1n], [m2n, m1n]


def kron_case(name, shape, seed):
    rng = np.random.default_rng(seed)
    N = len(shape)
    W = rng.standard_normal(shape)
    G = rng.standard_normal(shape)
    B = [np.eye(d) + 0.3 * rng.standard_normal((d, d)) for d in shape]
    m = [0.2 * rng.standard_normal((d, d)) for d in shape]
    m = [(x + x.T) / 2 for x in m]
    hyper = {"lr": 0.1, "lr_cov": 0.05, "damping": 0.01, "beta2": 0.5}
    W2, B2, m2 = kron_step(W, G, B, m, **hyper)
    checks = {}
    if N == 2:
        W2l, B2l, m2l = kron_step_2d_literal(W, G, B, m, **hyper)
        worst = max(rel(W2, W2l), *(rel(a, b) for a, b in zip(B2, B2l)), *(rel(a, b) for a, b in zip(m2, m2l)))
        if worst > 1e-13:
            sys.exit(f"{name}: N-mode and literal two-factor updates disagree ({worst})")
        checks["n_mode_vs_literal_2d"] = worst
    inputs = {"W": t(W), "G": t(G)}
    for k in range(N):
        inputs[f"B[{k}]"] = t(B[k])
    for k in range(N):
        inputs[f"m[{k}]"] = t(m[k])
    for k, v in hyper.items():
        inputs[k] = t(np.float64(v))
    outputs = {"W": t(W2)}
    for k in range(N):
        outputs[f"B[{k}]"] = t(B2[k])
    for k in range(N):
        outputs[f"m[{k}]"] = t(m2[k])
    return {"name": name, "N": N, "optimizer": "kron_factors", "inputs": inputs, "outputs": outputs, "checks": checks}


# ---- INGD (SINGD's default update, seeds-math §2.4) with one factor per mode ------------------------------

def ingd_step(W, G, S, K, mK, lr, beta1, alpha1, damping):
    """m_k ← α₁ m_k + ½(Π_{j≠k} avgtr(H_j)·H_k + λ Π_{j≠k} avgtr(K_jᵀK_j)·K_kᵀK_k − I), H_k = K_kᵀ S_k K_k,
    K_k ← K_k − β₁ K_k m_k, W ← W − lr·(G ×_k K_k K_kᵀ for every k)."""
    N = W.ndim
    d = W.shape
    H = [K[k].T @ S[k] @ K[k] for k in range(N)]
    h = [np.trace(H[k]) / d[k] for k in range(N)]
    c = [np.trace(K[k].T @ K[k]) / d[k] for k in range(N)]
    m2, K2 = [], []
    for k in range(N):
        ph = np.prod([h[j] for j in range(N) if j != k])
        pc = np.prod([c[j] for j in range(N) if j != k])
        mk = alpha1 * mK[k] + 0.5 * (ph * H[k] + damping * pc * (K[k].T @ K[k]) - np.eye(d[k]))
        m2.append(mk)
        K2.append(K[k] - beta1 * (K[k] @ mk))
    D = G
    for k in range(N):
        D = mode_product(D, K2[k] @ K2[k].T, k)
    return W - lr * D, K2, m2


def ingd_step_2d_literal(W, G, S, K, mK, lr, beta1, alpha1, damping):
    """§2.4 as written: ∇W is d×p, C (d×d) preconditions its rows (mode 0), K (p×p) its columns
    (mode 1); H_K = Kᵀ U K with U the column statistic, H_C = Cᵀ Gs C with Gs the row statistic."""
    C, Kf = K[0], K[1]
    mC, mKf = mK[0], mK[1]
    Gs, U = S[0], S[1]
    d, p = G.shape
    avgtr = lambda X: np.trace(X) / X.shape[0]
    HK = Kf.T @ U @ Kf
    HC = C.T @ Gs @ C
    mK_new = alpha1 * mKf + 0.5 * (avgtr(HC) * HK + damping * avgtr(C.T @ C) * (Kf.T @ Kf) - np.eye(p))
    mC_new = alpha1 * mC + 0.5 * (avgtr(HK) * HC + damping * avgtr(Kf.T @ Kf) * (C.T @ C) - np.eye(d))
    K_new = Kf - beta1 * Kf @ mK_new
    C_new = C - beta1 * C @ mC_new
    Delta = C_new @ C_new.T @ G @ K_new @ K_new.T
    return W - lr * Delta, [C_new, K_new], [mC_new, mK_new]


def ingd_case(name, shape, seed):
    rng = np.random.default_rng(seed)
    N = len(shape)
    W = rng.standard_normal(shape)
    G = rng.standard_normal(shape)
    S = []
    for dk in shape:
        A = rng.standard_normal((dk, dk + 2))
        S.append(A @ A.T / (dk + 2))
    K = [np.eye(dk) + 0.2 * rng.standard_normal((dk, dk)) for dk in shape]
    mK = [0.1 * rng.standard_normal((dk, dk)) for dk in shape]
    hyper = {"lr": 0.05, "beta1": 0.02, "alpha1": 0.5, "damping": 0.01}
    W2, K2, m2 = ingd_step(W, G, S, K, mK, **hyper)
    checks = {}
    if N == 2:
        W2l, K2l, m2l = ingd_step_2d_literal(W, G, S, K, mK, **hyper)
        worst = max(rel(W2, W2l), *(rel(a, b) for a, b in zip(K2, K2l)), *(rel(a, b) for a, b in zip(m2, m2l)))
        if worst > 1e-12:
            sys.exit(f"{name}: N-mode and literal two-factor INGD updates disagree ({worst})")
        checks["n_mode_vs_literal_2d"] = worst
    inputs = {"W": t(W), "G": t(G)}
    for k in range(N):
        inputs[f"S[{k}]"] = t(S[k])
    for k in range(N):
        inputs[f"K[{k}]"] = t(K[k])
    for k in range(N):
        inputs[f"mK[{k}]"] = t(mK[k])
    for k, v in hyper.items():
        inputs[k] = t(np.float64(v))
    outputs = {"W": t(W2)}
    for k in range(N):
        outputs[f"K[{k}]"] = t(K2[k])
    for k in range(N):
        outputs[f"mK[{k}]"] = t(m2[k])
    return {"name": name, "N": N, "optimizer": "ingd", "inputs": inputs, "outputs": outputs, "checks": checks}


def main():
    cases = [
        tt_case("tt4", [1, 2, 3, 2, 2], [2, 3, 2, 2], 1001),
        tt_case("tt5", [1, 2, 3, 3, 2, 2], [2, 2, 3, 2, 2], 1002),
        kron_case("kron2", [3, 4], 2001),
        kron_case("kron3", [2, 3, 4], 2002),
        ingd_case("ingd2", [3, 4], 3001),
        ingd_case("ingd3", [3, 2, 4], 3002),
    ]
    out = {
        "generator": "test/oracles/gen_collections.py",
        "numpy": np.__version__,
        "notes": "tensor-train frames and applications (K = 4, 5) with gradients; one IF-Shampoo step and one INGD step with a Kronecker factor per mode (N = 2, 3)",
        "cases": cases,
    }
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "test", "fixtures", "collections.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(c["name"], {k: float(v) for k, v in c["checks"].items()})


if __name__ == "__main__":
    main()
