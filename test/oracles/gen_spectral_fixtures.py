#!/usr/bin/env python3
"""External oracles for matc's spectral builtins: writes test/fixtures/spectral.json.

    python3 test/oracles/gen_spectral_fixtures.py        (from the repository root; NumPy and SciPy)

Nothing here imports or runs matc. Every forward value comes from LAPACK through NumPy/SciPy
(numpy.linalg.eigh, numpy.linalg.svd, scipy.linalg.expm, scipy.linalg.sqrtm, scipy.linalg.polar),
in float64 from fixed seeds, with matc's documented conventions applied on top:

  eigh(A)      the eigendecomposition of the symmetric part (A + A')/2, values ascending, each
               eigenvector oriented so that its entry of largest magnitude is positive (the first
               such entry on ties);
  svd(A)       thin, singular values descending, each pair (u_j, v_j) oriented so that the entry of
               largest magnitude of v_j is positive;
  expm(A)      the matrix exponential;
  sqrtm(A)     the symmetric square root of (A + A')/2; invsqrtm its inverse;
  polar(A)     the orthogonal polar factor U V' of A = U S V' (scipy.linalg.polar, side='right').

Gradients are VJPs of the loss sum_outputs <cotangent, output> with respect to the whole input
matrix (for eigh/sqrtm/invsqrtm, whose argument is read through its symmetric part, the gradient is
symmetric). They come from routes independent of matc's rules:

  expm      scipy.linalg.expm_frechet (Al-Mohy & Higham 2009): grad = L(A', G);
  sqrtm     the Sylvester equation S X + X S = E of the derivative of S = sqrtm (solve_sylvester),
            applied to every basis direction (a dense Jacobian), then contracted with the cotangent;
  invsqrtm  d(S^-1) = -S^-1 dS S^-1 on top of that;
  polar     Q = A P^-1 with P = sqrtm(A'A): dQ = dA P^-1 - Q dP P^-1, P dP + dP P = dA'A + A'dA
            (Sylvester), for tall and square A; wide A through the transpose;
  eigh, svd the classical perturbation formulas written out in NumPy (first-order perturbation of a
            simple spectrum), used only on inputs with well separated spectra.

Each gradient is cross-checked by central finite differences of the NumPy/SciPy forward map (the
script aborts with CHECK FAILED if they disagree by more than 1e-6 relative), and the measured
numbers are stored in each case under "checks". Cases whose spectrum has a repeated eigenvalue or
singular value carry "degenerate": true: their eigenvectors / singular vectors are not unique, so
tests compare invariants there (values, reconstructions, projectors), and only the functions that
are smooth there (expm, sqrtm, invsqrtm, polar) have gradients.

Format: as test/oracles/gen_fixtures.py ({"generator", "numpy", "scipy", "notes", "cases": [{"name",
"op", "inputs", "outputs", "cotangents", "gradients", "checks", "degenerate"}]}); tensors are
{"shape", "data"} with flat row-major float64 data written with Python's repr.
"""

import json
import os
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np
import scipy
import scipy.linalg as sl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "spectral.json"))


def T(x):
    a = np.asarray(x, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def check(cond, msg):
    if not cond:
        sys.exit("CHECK FAILED: " + msg)


def sym(A):
    return 0.5 * (A + A.T)


def orient_cols(V):
    """Flip each column so that its entry of largest magnitude is positive (first on ties)."""
    V = V.copy()
    s = np.ones(V.shape[1])
    for j in range(V.shape[1]):
        i = int(np.argmax(np.abs(V[:, j])))
        if V[i, j] < 0:
            V[:, j] = -V[:, j]
            s[j] = -1
    return V, s


# ---- forward maps with matc's conventions ------------------------------------------------------

def f_eigh(A):
    w, V = np.linalg.eigh(sym(A))
    V, _ = orient_cols(V)
    return {"values": w, "vectors": V}


def f_svd(A):
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    V, sg = orient_cols(Vt.T)
    return {"U": U * sg, "s": s, "V": V}


def f_expm(A):
    return {"out": sl.expm(A)}


def sqrtm_spd(S):
    X = sl.sqrtm(S)
    check(np.max(np.abs(np.imag(X))) == 0 if np.iscomplexobj(X) else True, "sqrtm is real")
    return np.real(X)


def f_sqrtm(A):
    return {"out": sqrtm_spd(sym(A))}


def f_invsqrtm(A):
    return {"out": np.linalg.inv(sqrtm_spd(sym(A)))}


def f_polar(A):
    Q, _ = sl.polar(A, side="right")
    return {"out": Q}


FWD = {"eigh": f_eigh, "svd": f_svd, "expm": f_expm, "sqrtm": f_sqrtm, "invsqrtm": f_invsqrtm, "polar": f_polar}


def loss(op, A, cots):
    out = FWD[op](A)
    return sum(float(np.sum(cots[k] * out[k])) for k in cots)


# ---- independent derivatives -------------------------------------------------------------------

def jacobian_vjp(lin, G, shape):
    """VJP of a linear map E -> lin(E) (matrix to matrix) by its dense Jacobian: grad_ij = <G, lin(E_ij)>."""
    m, n = shape
    g = np.zeros(shape)
    for i in range(m):
        for j in range(n):
            E = np.zeros(shape)
            E[i, j] = 1.0
            g[i, j] = np.sum(G * lin(E))
    return g


def d_sqrtm(S, E):
    """Derivative of sqrtm at the spd S along the symmetric E: R X + X R = E, R = sqrtm(S)."""
    R = sqrtm_spd(S)
    return sl.solve_sylvester(R, R, E)


def grad_sqrtm(A, G):
    S = sym(A)
    return jacobian_vjp(lambda E: d_sqrtm(S, sym(E)), G, A.shape)


def grad_invsqrtm(A, G):
    S = sym(A)
    Ri = np.linalg.inv(sqrtm_spd(S))
    return jacobian_vjp(lambda E: -Ri @ d_sqrtm(S, sym(E)) @ Ri, G, A.shape)


def grad_expm(A, G):
    # <G, L(A, E)> = <L(A', G), E>
    return sl.expm_frechet(A.T, G, compute_expm=False)


def d_polar_tall(A, E):
    """Q = A P^-1, P = sqrtm(A'A) (m >= n, full rank)."""
    P = sqrtm_spd(A.T @ A)
    dP = sl.solve_sylvester(P, P, E.T @ A + A.T @ E)
    Pi = np.linalg.inv(P)
    return E @ Pi - A @ Pi @ dP @ Pi


def grad_polar(A, G):
    m, n = A.shape
    if m >= n:
        return jacobian_vjp(lambda E: d_polar_tall(A, E), G, A.shape)
    return jacobian_vjp(lambda E: d_polar_tall(A.T, E.T).T, G, A.shape)


def grad_eigh(A, cots):
    """First-order perturbation of a simple spectrum (Magnus 1985): dλ_i = v_i' dS v_i,
    dv_j = sum_{i != j} v_i (v_i' dS v_j) / (λ_j - λ_i)."""
    out = f_eigh(A)
    w, V = out["values"], out["vectors"]
    n = len(w)

    def lin(E):
        P = V.T @ sym(E) @ V
        F = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                if i != j:
                    F[i, j] = 1.0 / (w[j] - w[i])
        return {"values": np.diag(P).copy(), "vectors": V @ (F * P)}

    g = np.zeros(A.shape)
    for i in range(n):
        for j in range(n):
            E = np.zeros(A.shape)
            E[i, j] = 1.0
            d = lin(E)
            g[i, j] = sum(np.sum(cots[k] * d[k]) for k in cots)
    return g


def grad_svd(A, cots):
    """First-order perturbation of a thin SVD with distinct nonzero singular values: with
    dP = U' dA V, ds = diag(dP); the in-span rotations solve the 2x2 systems
    (s_j^2 - s_i^2) (U'dU)_ij = dP_ij s_j + s_i dP_ji, (s_j^2 - s_i^2) (V'dV)_ij = s_i dP_ij + dP_ji s_j,
    plus dU += (I - UU') dA V S^-1 and dV += (I - VV') dA' U S^-1."""
    out = f_svd(A)
    U, s, V = out["U"], out["s"], out["V"]
    m, n = A.shape
    k = len(s)

    def lin(E):
        dP = U.T @ E @ V
        Wu = np.zeros((k, k))
        Wv = np.zeros((k, k))
        for i in range(k):
            for j in range(k):
                if i != j:
                    den = s[j] ** 2 - s[i] ** 2
                    Wu[i, j] = (dP[i, j] * s[j] + s[i] * dP[j, i]) / den
                    Wv[i, j] = (s[i] * dP[i, j] + dP[j, i] * s[j]) / den
        dU = U @ Wu + (np.eye(m) - U @ U.T) @ E @ V / s
        dV = V @ Wv + (np.eye(n) - V @ V.T) @ E.T @ U / s
        return {"U": dU, "s": np.diag(dP).copy(), "V": dV}

    g = np.zeros(A.shape)
    for i in range(m):
        for j in range(n):
            E = np.zeros(A.shape)
            E[i, j] = 1.0
            d = lin(E)
            g[i, j] = sum(np.sum(cots[kk] * d[kk]) for kk in cots)
    return g


def fd_check(op, A, cots, grad, g, ndir=6, h=1e-6):
    worst = 0.0
    for _ in range(ndir):
        E = g.standard_normal(A.shape)
        fd = (loss(op, A + h * E, cots) - loss(op, A - h * E, cots)) / (2 * h)
        an = float(np.sum(grad * E))
        worst = max(worst, abs(fd - an) / max(1.0, abs(an)))
    return worst


# ---- cases ----------------------------------------------------------------------------------------

def rand_orth(g, n):
    Q, R = np.linalg.qr(g.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def case(name, op, A, g, degenerate=False, grad=True):
    out = FWD[op](A)
    checks = {}
    # forward invariants (the conventions above hold on the stored values)
    if op == "eigh":
        w, V = out["values"], out["vectors"]
        checks["reconstruction"] = float(np.max(np.abs(V @ np.diag(w) @ V.T - sym(A))))
        checks["orthonormality"] = float(np.max(np.abs(V.T @ V - np.eye(len(w)))))
        check(np.all(np.diff(w) >= 0), f"{name}: ascending")
        if len(w) > 1:
            checks["min_gap"] = float(np.min(np.diff(w)))
    elif op == "svd":
        U, s, V = out["U"], out["s"], out["V"]
        checks["reconstruction"] = float(np.max(np.abs(U @ np.diag(s) @ V.T - A)))
        check(np.all(np.diff(s) <= 0), f"{name}: descending")
        if len(s) > 1:
            checks["min_gap"] = float(np.min(-np.diff(s)))
    elif op == "polar":
        Q = out["out"]
        checks["orthonormality"] = float(np.max(np.abs(Q.T @ Q - np.eye(Q.shape[1])) if Q.shape[0] >= Q.shape[1] else np.abs(Q @ Q.T - np.eye(Q.shape[0]))))
    elif op in ("sqrtm", "invsqrtm"):
        X = out["out"]
        R = X if op == "sqrtm" else np.linalg.inv(X)
        checks["square"] = float(np.max(np.abs(R @ R - sym(A))))
    for key in ("reconstruction", "orthonormality", "square"):
        if key in checks:
            check(checks[key] < 1e-12 * max(1.0, float(np.max(np.abs(A)))), f"{name}: {key} {checks[key]}")
    c = {"name": name, "op": op, "degenerate": degenerate, "inputs": {"A": T(A)}, "outputs": {k: T(v) for k, v in out.items()}}
    if grad:
        cots = {k: g.standard_normal(np.shape(v)) for k, v in out.items()}
        if op == "eigh":
            G = grad_eigh(A, cots)
        elif op == "svd":
            G = grad_svd(A, cots)
        elif op == "expm":
            G = grad_expm(A, cots["out"])
        elif op == "sqrtm":
            G = grad_sqrtm(A, cots["out"])
        elif op == "invsqrtm":
            G = grad_invsqrtm(A, cots["out"])
        else:
            G = grad_polar(A, cots["out"])
        err = fd_check(op, A, cots, G, g)
        checks["fd_vs_gradient"] = err
        check(err < 1e-6, f"{name}: gradient vs finite differences {err}")
        c["cotangents"] = {k: T(v) for k, v in cots.items()}
        c["gradients"] = {"A": T(G)}
    else:
        c["cotangents"] = {}
        c["gradients"] = {}
    c["checks"] = checks
    return c


def main():
    g = np.random.default_rng(20261210)
    cases = []
    # eigh
    B = g.standard_normal((4, 4))
    cases.append(case("eigh_4", "eigh", B + B.T, g))
    B = g.standard_normal((6, 6))
    cases.append(case("eigh_6_nonsym_input", "eigh", B, g))
    Q = rand_orth(g, 5)
    cases.append(case("eigh_5_repeated", "eigh", Q @ np.diag([1.0, 1.0, 2.0, 3.0, 3.0]) @ Q.T, g, degenerate=True, grad=False))
    cases.append(case("eigh_1", "eigh", np.array([[2.5]]), g))
    # svd
    cases.append(case("svd_5x3", "svd", g.standard_normal((5, 3)), g))
    cases.append(case("svd_3x5", "svd", g.standard_normal((3, 5)), g))
    cases.append(case("svd_4x4", "svd", g.standard_normal((4, 4)), g))
    U = rand_orth(g, 5)[:, :3]
    V = rand_orth(g, 3)
    cases.append(case("svd_5x3_repeated", "svd", U @ np.diag([2.0, 2.0, 1.0]) @ V.T, g, degenerate=True, grad=False))
    # expm
    cases.append(case("expm_4", "expm", 0.5 * g.standard_normal((4, 4)), g))
    cases.append(case("expm_5_large_norm", "expm", 4.0 * g.standard_normal((5, 5)), g))
    P = g.standard_normal((3, 3)) + 3 * np.eye(3)
    cases.append(case("expm_3_repeated", "expm", P @ np.diag([0.5, 0.5, -1.0]) @ np.linalg.inv(P), g, degenerate=True))
    cases.append(case("expm_3_jordan", "expm", np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]), g, degenerate=True))
    cases.append(case("expm_3_zero", "expm", np.zeros((3, 3)), g, degenerate=True))
    # sqrtm / invsqrtm
    B = g.standard_normal((4, 4))
    S = B @ B.T + 0.5 * np.eye(4)
    cases.append(case("sqrtm_4", "sqrtm", S, g))
    cases.append(case("invsqrtm_4", "invsqrtm", S, g))
    Q = rand_orth(g, 4)
    S = Q @ np.diag([2.0, 2.0, 5.0, 5.0]) @ Q.T
    cases.append(case("sqrtm_4_repeated", "sqrtm", S, g, degenerate=True))
    cases.append(case("invsqrtm_4_repeated", "invsqrtm", S, g, degenerate=True))
    cases.append(case("sqrtm_3_identity", "sqrtm", np.eye(3), g, degenerate=True))
    # polar
    cases.append(case("polar_4", "polar", g.standard_normal((4, 4)), g))
    cases.append(case("polar_5x3", "polar", g.standard_normal((5, 3)), g))
    cases.append(case("polar_3x5", "polar", g.standard_normal((3, 5)), g))
    cases.append(case("polar_4_orthogonal", "polar", rand_orth(g, 4), g, degenerate=True))
    doc = {
        "generator": "test/oracles/gen_spectral_fixtures.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "notes": __doc__.split("\n\n")[1].strip(),
        "cases": cases,
    }
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    with open(OUT, "w") as f:
        f.write(text + "\n")
    print(f"wrote {OUT}: {len(cases)} cases, {len(text) / 1024:.1f} KiB")
    for c in cases:
        print(f"  {c['name']:24s} {json.dumps(c['checks'])}")


if __name__ == "__main__":
    main()
