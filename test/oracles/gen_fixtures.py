#!/usr/bin/env python3
"""External oracles for matc: regenerate the JSON fixtures in test/fixtures/.

Run with Debian's interpreter, which has python3-torch, python3-scipy and python3-numpy:

    /usr/bin/python3 test/oracles/gen_fixtures.py          (from the repository root)

Nothing here imports or runs matc: every value comes from PyTorch (autograd, torch.linalg), SciPy or
NumPy, in float64, from fixed seeds. Each fixture is cross-checked inside this script by an
independent route (central finite differences, or a closed form) and the script aborts if the two
disagree, so a committed fixture is always one that passed those checks. The numbers measured by the
checks are stored in each case under "checks".

File format (all files):
    {"generator": str, "torch": str, "numpy": str, "scipy": str, "notes": str,
     "cases": [{"name": str,
                "inputs":     {NAME: {"shape": [...], "data": [...]}},
                "outputs":    {NAME: tensor},
                "cotangents": {NAME: tensor},     # keyed by the output they are the cotangent of
                "gradients":  {NAME: tensor},     # keyed by the input they are the gradient w.r.t.
                ...extra keys (documented per file)}]}
Tensors are flat row-major with batch dimensions leading; a scalar has shape [] and one datum.
Floats are written with Python's repr (shortest string that round-trips the float64): nothing is
rounded.

See test/oracles/README.md for the conventions (sign fixes, symmetric gradients, pivots, the
multiplier's sign).
"""

import os

# Single-threaded BLAS/LAPACK so that summation order, and hence every bit of the output, does not
# depend on the machine's core count. Must be set before numpy/torch are imported.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import json
import math
import sys

import numpy as np
import scipy
import scipy.linalg
import scipy.optimize
import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures"))
DT = torch.float64


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

def T(x):
    """Tensor/array/scalar -> {"shape", "data"} with flat row-major float64 data."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def write(name, generator, notes, cases):
    doc = {
        "generator": generator,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "notes": notes,
        "cases": cases,
    }
    path = os.path.join(OUT, name)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"wrote {path}: {len(cases)} cases, {len(text) / 1024:.1f} KiB")


def check(cond, msg):
    if not cond:
        sys.exit("CHECK FAILED: " + msg)


def rng(seed):
    return np.random.default_rng(seed)


def randn(g, *shape):
    return g.standard_normal(shape)


def sign_pm(d):
    """sign with sign(0) = +1, detached: the sign fix is piecewise constant, so autograd must treat
    it as a constant factor (its derivative is zero almost everywhere)."""
    return torch.where(d.detach() >= 0, torch.ones_like(d), -torch.ones_like(d))


def fd_directional(fun, x0, grad, g, ndir=4, h=1e-6):
    """Check <grad, E> against the central difference (fun(x0+hE) - fun(x0-hE)) / 2h for random
    directions E. fun maps a float64 ndarray to a float. Returns the largest relative error."""
    worst = 0.0
    for _ in range(ndir):
        E = randn(g, *x0.shape)
        fd = (fun(x0 + h * E) - fun(x0 - h * E)) / (2 * h)
        an = float(np.sum(grad * E))
        worst = max(worst, abs(fd - an) / max(1.0, abs(an)))
    return worst


# --------------------------------------------------------------------------------------------------
# QR (reduced, diag(R) >= 0)
# --------------------------------------------------------------------------------------------------

def qr_fixed(A):
    """Reduced QR with the sign convention diag(R) >= 0.

    LAPACK's Householder QR may return negative R_ii. With D = diag(sign(R_ii)) (sign(0) := +1),
    A = (Q D)(D R) is again a QR factorisation and diag(D R) >= 0; for A whose leading
    min(m,n) columns are independent this is THE unique reduced QR with positive diagonal. The fix is
    applied inside the differentiated function (D is a constant), so autograd differentiates the
    sign-fixed factorisation. Works for batched A (batch dims leading) and for wide A (R is k x n
    upper trapezoidal, k = min(m, n)).
    """
    Q, R = torch.linalg.qr(A, mode="reduced")
    s = sign_pm(torch.diagonal(R, dim1=-2, dim2=-1))  # (..., k)
    return Q * s.unsqueeze(-2), R * s.unsqueeze(-1)


def vjp(fun, A_np, cots):
    """Gradient w.r.t. A of sum_i <cots[i], fun(A)[i]> by torch autograd (cots[i] may be None)."""
    A = torch.tensor(A_np, dtype=DT, requires_grad=True)
    outs = fun(A)
    loss = sum((o * torch.tensor(c, dtype=DT)).sum() for o, c in zip(outs, cots) if c is not None)
    (gA,) = torch.autograd.grad(loss, A)
    return gA.numpy()


# seeds-math §5.2 closed forms (NumPy + scipy.linalg.solve_triangular), used only as a cross-check of
# the torch gradients; the fixtures store torch's values. copyltu(M) = tril(M) + tril(M)^T - diag(M).

def _copyltu(M):
    return np.tril(M) + np.tril(M).T - np.diag(np.diag(M))


def qr_grad_formula(Q, R, dQ, dR):
    m, n = Q.shape[0], R.shape[1]
    if m >= n:  # square / deep: A_bar = (dQ + Q copyltu(M)) R^{-T}, M = R dR^T - dQ^T Q
        M = R @ dR.T - dQ.T @ Q
        X = dQ + Q @ _copyltu(M)
        return scipy.linalg.solve_triangular(R, X.T, lower=False).T
    # wide: A = [X | Y], R = [U | V]; Y_bar = Q dV, X_bar = square(Q, U, dQ + Y dV^T, dU)
    U, dU, dV = R[:, :m], dR[:, :m], dR[:, m:]
    Y = (Q @ R)[:, m:]
    return np.concatenate([qr_grad_formula(Q, U, dQ + Y @ dV.T, dU), Q @ dV], axis=1)


def lq_grad_formula(L, Q, dL, dQ):
    m, n = L.shape[0], Q.shape[1]
    if m <= n:  # square / wide: A_bar = L^{-T} (dQ + copyltu(M) Q), M = L^T dL - dQ Q^T
        M = L.T @ dL - dQ @ Q.T
        return scipy.linalg.solve_triangular(L, dQ + _copyltu(M) @ Q, lower=True, trans="T")
    # deep: A = [X; Y], L = [U; V]; Y_bar = dV Q, X_bar = square(U, Q, dU, dQ + dV^T Y)
    U, dU, dV = L[:n], dL[:n], dL[n:]
    Y = (L @ Q)[n:]
    return np.concatenate([lq_grad_formula(U, Q, dU, dQ + dV.T @ Y), dV @ Q], axis=0)


def batched(f, *args):
    if args[0].ndim == 2:
        return f(*args)
    return np.stack([batched(f, *(a[i] for a in args)) for i in range(args[0].shape[0])])


def gen_qr():
    shapes = [
        ("5x5", (5, 5)),
        ("7x4_deep", (7, 4)),
        ("4x7_wide", (4, 7)),
        ("1x5", (1, 5)),
        ("5x1", (5, 1)),
        ("3x3_batch2", (2, 3, 3)),
        ("16x16", (16, 16)),
    ]
    cases = []
    for i, (name, shape) in enumerate(shapes):
        g = rng(1000 + i)
        A = randn(g, *shape)
        with torch.no_grad():
            Q, R = (t.numpy() for t in qr_fixed(torch.tensor(A)))
        # Cotangents: dQ dense; dR upper triangular (R's strictly lower part is structurally zero,
        # so its cotangent there is meaningless; torch ignores it anyway).
        dQ = randn(g, *Q.shape)
        dR = np.triu(randn(g, *R.shape))
        f = lambda a: qr_fixed(a)
        gA = vjp(f, A, [dQ, dR])
        gQ = vjp(f, A, [dQ, None])
        gR = vjp(f, A, [None, dR])
        # independent checks: reconstruction, orthonormality, sign, linearity, finite differences
        k = min(shape[-2], shape[-1])
        check(np.abs(Q @ R - A).max() < 1e-13, f"qr {name} reconstruction")
        check(np.abs(np.swapaxes(Q, -1, -2) @ Q - np.eye(k)).max() < 1e-13, f"qr {name} orthonormal")
        check((np.diagonal(R, axis1=-2, axis2=-1) >= 0).all(), f"qr {name} sign")
        check(np.abs(gA - gQ - gR).max() < 1e-12 * max(1, np.abs(gA).max()), f"qr {name} linearity")

        def loss(a):
            with torch.no_grad():
                q, r = qr_fixed(torch.tensor(a))
            return float((q.numpy() * dQ).sum() + (r.numpy() * dR).sum())

        fd = fd_directional(loss, A, gA, rng(5000 + i))
        check(fd < 1e-7, f"qr {name} finite differences {fd}")
        formula = float(np.abs(batched(qr_grad_formula, Q, R, dQ, dR) - gA).max())
        check(formula < 1e-10 * max(1, np.abs(gA).max()), f"qr {name} seeds-math formula {formula}")
        cases.append({
            "name": name,
            "inputs": {"A": T(A)},
            "outputs": {"Q": T(Q), "R": T(R)},
            "cotangents": {"Q": T(dQ), "R": T(dR)},
            "gradients": {"A": T(gA), "A_dQ_only": T(gQ), "A_dR_only": T(gR)},
            "checks": {"fd_directional_max_rel_err": fd, "seeds_math_formula_max_abs": formula},
        })
    write("qr.json", "test/oracles/gen_fixtures.py:gen_qr (torch.linalg.qr + autograd)",
          "Reduced QR A = Q R, diag(R) >= 0 (Q <- Q D, R <- D R, D = sign(diag R), inside autograd). "
          "Q: m x k, R: k x n, k = min(m,n). Cotangent R is upper triangular. gradients.A uses both "
          "cotangents, A_dQ_only / A_dR_only use one (the other is zero).", cases)


# --------------------------------------------------------------------------------------------------
# LQ (A = L Q, L lower triangular/trapezoidal with diag >= 0, Q with orthonormal rows)
# --------------------------------------------------------------------------------------------------

def lq_fixed(A):
    """LQ from the QR of A^T: A^T = Q' R' (diag(R') >= 0)  =>  A = R'^T Q'^T = L Q with
    L = R'^T (m x k, lower triangular/trapezoidal, diag >= 0) and Q = Q'^T (k x n, orthonormal rows),
    k = min(m, n). Differentiated by autograd through the transposes and the sign-fixed QR."""
    Qt, Rt = qr_fixed(A.transpose(-2, -1))
    return Rt.transpose(-2, -1), Qt.transpose(-2, -1)


def gen_lq():
    shapes = [("5x5", (5, 5)), ("4x7_wide", (4, 7)), ("7x4_deep", (7, 4)), ("1x5", (1, 5)), ("5x1", (5, 1))]
    cases = []
    for i, (name, shape) in enumerate(shapes):
        g = rng(2000 + i)
        A = randn(g, *shape)
        with torch.no_grad():
            L, Q = (t.numpy() for t in lq_fixed(torch.tensor(A)))
        dL = np.tril(randn(g, *L.shape))  # L's strictly upper part is structurally zero
        dQ = randn(g, *Q.shape)
        f = lambda a: lq_fixed(a)
        gA = vjp(f, A, [dL, dQ])
        gL = vjp(f, A, [dL, None])
        gQ = vjp(f, A, [None, dQ])
        k = min(shape)
        check(np.abs(L @ Q - A).max() < 1e-13, f"lq {name} reconstruction")
        check(np.abs(Q @ Q.T - np.eye(k)).max() < 1e-13, f"lq {name} orthonormal rows")
        check(np.abs(np.triu(L, 1)).max(initial=0) == 0, f"lq {name} lower")
        check((np.diagonal(L) >= 0).all(), f"lq {name} sign")
        check(np.abs(gA - gL - gQ).max() < 1e-12 * max(1, np.abs(gA).max()), f"lq {name} linearity")

        def loss(a):
            with torch.no_grad():
                l, q = lq_fixed(torch.tensor(a))
            return float((l.numpy() * dL).sum() + (q.numpy() * dQ).sum())

        fd = fd_directional(loss, A, gA, rng(6000 + i))
        check(fd < 1e-7, f"lq {name} finite differences {fd}")
        formula = float(np.abs(lq_grad_formula(L, Q, dL, dQ) - gA).max())
        check(formula < 1e-10 * max(1, np.abs(gA).max()), f"lq {name} seeds-math formula {formula}")
        cases.append({
            "name": name,
            "inputs": {"A": T(A)},
            "outputs": {"L": T(L), "Q": T(Q)},
            "cotangents": {"L": T(dL), "Q": T(dQ)},
            "gradients": {"A": T(gA), "A_dL_only": T(gL), "A_dQ_only": T(gQ)},
            "checks": {"fd_directional_max_rel_err": fd, "seeds_math_formula_max_abs": formula},
        })
    write("lq.json", "test/oracles/gen_fixtures.py:gen_lq (torch.linalg.qr of A^T + autograd)",
          "A = L Q, L: m x k lower triangular/trapezoidal with diag(L) >= 0, Q: k x n with orthonormal "
          "rows, k = min(m,n); computed as the sign-fixed QR of A^T (L = R^T, Q = Q_qr^T). Cotangent L "
          "is lower triangular.", cases)


# --------------------------------------------------------------------------------------------------
# Column-pivoted QR  A P = Q R
# --------------------------------------------------------------------------------------------------

def gen_qr_pivoted():
    shapes = [("6x6", (6, 6)), ("8x5_deep", (8, 5)), ("5x8_wide", (5, 8))]
    cases = []
    for i, (name, shape) in enumerate(shapes):
        g = rng(3000 + i)
        A = randn(g, *shape)
        # SciPy/LAPACK geqp3: A[:, perm] = Q R, |R_11| >= |R_22| >= ... (greedy column norms).
        Qs, Rs, perm = scipy.linalg.qr(A, pivoting=True, mode="economic")
        d = np.where(np.diagonal(Rs) >= 0, 1.0, -1.0)
        Qs, Rs = Qs * d[None, :], Rs * d[:, None]
        perm_t = torch.tensor(perm, dtype=torch.long)
        # Gradient with the permutation held fixed (it is piecewise constant in A): autograd of the
        # sign-fixed QR of A[:, perm]; index_select's backward scatters the column gradients back to
        # A's original column positions, i.e. dA = d(AP) P^T.
        f = lambda a: qr_fixed(a[:, perm_t])
        with torch.no_grad():
            Q, R = (t.numpy() for t in f(torch.tensor(A)))
        # SciPy and torch must agree: the positive-diagonal QR of a full-rank A P is unique.
        agree = max(np.abs(Q - Qs).max(), np.abs(R - Rs).max())
        check(agree < 1e-12, f"pivoted {name}: scipy vs torch {agree}")
        dR_diag = np.diagonal(R)
        check((dR_diag >= 0).all() and (np.diff(dR_diag) <= 1e-12).all(), f"pivoted {name} diag order")
        dQ = randn(g, *Q.shape)
        dR = np.triu(randn(g, *R.shape))
        gA = vjp(f, A, [dQ, dR])
        gQ = vjp(f, A, [dQ, None])
        gR = vjp(f, A, [None, dR])
        check(np.abs(A[:, perm] - Q @ R).max() < 1e-13, f"pivoted {name} reconstruction")

        def loss(a):
            with torch.no_grad():
                q, r = qr_fixed(torch.tensor(a[:, perm]))
            return float((q.numpy() * dQ).sum() + (r.numpy() * dR).sum())

        fd = fd_directional(loss, A, gA, rng(7000 + i))
        check(fd < 1e-7, f"pivoted {name} finite differences {fd}")
        # seeds-math §5.2 pivoted rule: QR gradient of A P, columns un-permuted (dA[:, perm] = G).
        gF = np.zeros_like(A)
        gF[:, perm] = qr_grad_formula(Q, R, dQ, dR)
        formula = float(np.abs(gF - gA).max())
        check(formula < 1e-10 * max(1, np.abs(gA).max()), f"pivoted {name} seeds-math formula {formula}")
        # FD with the pivoting re-run at the perturbed points too (the permutation must not change
        # under a 1e-6 perturbation for these well-separated column norms).
        for s in (+1e-6, -1e-6):
            _, _, p2 = scipy.linalg.qr(A + s * randn(rng(8000 + i), *shape), pivoting=True, mode="economic")
            check((p2 == perm).all(), f"pivoted {name}: permutation not locally constant")
        cases.append({
            "name": name,
            "inputs": {"A": T(A)},
            "perm": [int(p) for p in perm],
            "outputs": {"Q": T(Q), "R": T(R)},
            "cotangents": {"Q": T(dQ), "R": T(dR)},
            "gradients": {"A": T(gA), "A_dQ_only": T(gQ), "A_dR_only": T(gR)},
            "checks": {"fd_directional_max_rel_err": fd, "scipy_vs_torch_max_abs": agree,
                       "seeds_math_formula_max_abs": formula},
        })
    write("qr_pivoted.json",
          "test/oracles/gen_fixtures.py:gen_qr_pivoted (scipy.linalg.qr pivoting=True + torch autograd)",
          "A[:, perm] = Q R (0-based perm; P = I[:, perm], A P = Q R), economic, diag(R) >= 0 and "
          "non-increasing. Gradient w.r.t. A with perm held fixed: QR gradient of A P scattered back "
          "to A's columns (dA = d(AP) P^T).", cases)


# --------------------------------------------------------------------------------------------------
# IED: top-k eigenvectors of a symmetric matrix
# --------------------------------------------------------------------------------------------------

def ied_fwd(S, k):
    """u = top-k eigenvectors of sym(S) = (S + S^T)/2, largest eigenvalue first, each column
    sign-fixed so that 1^T u_i >= 0 (PMaF's 'positive' rule). Differentiating through sym(.) makes
    autograd return the symmetric representer of the gradient: for symmetric X the derivative only
    acts on symmetric perturbations, and G_S = sym(G_X)."""
    X = 0.5 * (S + S.transpose(-2, -1))
    lam, V = torch.linalg.eigh(X)  # ascending
    m = X.shape[-1]
    idx = torch.arange(m - 1, m - 1 - k, -1)
    u = V[..., idx]
    s = sign_pm(u.sum(dim=-2, keepdim=True))
    return u * s, lam[..., idx]


def gen_ied():
    # (name, batch, m, k, data): PMaF's data, then Wigner matrices (N + N^T)/2, whose eigenvalues
    # have both signs and whose top gap is small (power iteration stalls; stdlib's ied_eigh)
    specs = [("m4", 1, 4, 1, "pmaf"), ("m8", 1, 8, 1, "pmaf"), ("m16", 1, 16, 1, "pmaf"), ("m8_batch3", 3, 8, 1, "pmaf"),
             ("m8_top2", 1, 8, 2, "pmaf"), ("wigner_m8_batch5", 5, 8, 1, "wigner"), ("wigner_m24_batch4", 4, 24, 1, "wigner")]
    cases = []
    for i, (name, b, m, k, data) in enumerate(specs):
        g = rng(4000 + i)
        if data == "pmaf":
            X = np.abs(randn(g, b, m, m))
            X = X + np.swapaxes(X, -1, -2)  # PMaF data: symmetric, positive entries, Perron gap
        else:
            X = randn(g, b, m, m)
            X = 0.5 * (X + np.swapaxes(X, -1, -2))
        with torch.no_grad():
            u, lam = (t.numpy() for t in ied_fwd(torch.tensor(X), k))
        v = randn(g, b, m, k)
        S = torch.tensor(X, requires_grad=True)
        uu, _ = ied_fwd(S, k)
        (G,) = torch.autograd.grad((uu * torch.tensor(v)).sum(), S)
        G = G.numpy()
        # Closed form, NumPy only: du_i = (lam_i I - X)^+ dX u_i for a simple eigenvalue lam_i, so
        # <v_i, du_i> = <(lam_i I - X)^+ v_i u_i^T, dX>; restricted to symmetric dX the representer
        # is sym(.). pinv cuts the (numerically ~1e-15) null direction u_i with rcond = 1e-10.
        Gc = np.zeros_like(X)
        gaps = []
        for bi in range(b):
            w = np.linalg.eigvalsh(X[bi])[::-1]
            gaps.append(float(min(w[j] - w[j + 1] for j in range(k))))
            for j in range(k):
                P = np.linalg.pinv(lam[bi, j] * np.eye(m) - X[bi], rcond=1e-10, hermitian=True)
                M = P @ np.outer(v[bi, :, j], u[bi, :, j])
                Gc[bi] += 0.5 * (M + M.T)
        diff = float(np.abs(G - Gc).max())
        check(diff < 1e-10, f"ied {name}: autograd vs closed form {diff}")
        check(np.abs(X @ u - u * lam[:, None, :]).max() < 1e-12 * np.abs(lam).max(), f"ied {name} eig")
        check((u.sum(axis=-2) >= 0).all(), f"ied {name} sign")
        check(np.abs(G - np.swapaxes(G, -1, -2)).max() < 1e-14, f"ied {name} symmetric grad")

        def loss(x):
            with torch.no_grad():
                uu, _ = ied_fwd(torch.tensor(x), k)
            return float((uu.numpy() * v).sum())

        # FD along symmetric directions (sym is applied inside ied_fwd anyway)
        fd = fd_directional(loss, X, G, rng(9000 + i))
        check(fd < 1e-7, f"ied {name} finite differences {fd}")
        cases.append({
            "name": name,
            "k": k,
            **({"data": data} if data != "pmaf" else {}),
            "inputs": {"X": T(X)},
            "outputs": {"u": T(u), "lambda": T(lam)},
            "cotangents": {"u": T(v)},
            "gradients": {"X": T(G)},
            "gradients_closed_form": {"X": T(Gc)},
            "checks": {"autograd_vs_closed_form_max_abs": diff, "fd_directional_max_rel_err": fd,
                       "min_eigengap_below_top_k": min(gaps)},
        })
    write("ied.json", "test/oracles/gen_fixtures.py:gen_ied (torch.linalg.eigh + autograd; numpy pinv closed form)",
          "X: [b,m,m] = |N(0,1)| + transpose (data 'wigner': (N + N^T)/2). u: [b,m,k] top-k eigenvectors (largest first), sign-fixed "
          "1^T u_i >= 0; lambda: [b,k]. Cotangent on u only. gradients.X = autograd of "
          "S -> u(eigh((S+S^T)/2)) at S = X (symmetric representer); gradients_closed_form.X = "
          "sum_i sym(pinv(lambda_i I - X) v_i u_i^T).", cases)


# --------------------------------------------------------------------------------------------------
# LESS: min 1/2 ||A x - b||^2  s.t.  ||x|| = 1, exact global solution
# --------------------------------------------------------------------------------------------------

TOL_EIG = 1e-10  # eigenvalues within TOL_EIG * max(mu_max, 1e-300) of mu_1 count as "equal to mu_1"
TOL_C = 1e-10    # a component of V^T A^T b below TOL_C * ||A^T b|| counts as zero (hard-case test)


def less_exact(A, b):
    """Exact global minimiser of f(x) = 1/2 ||Ax - b||^2 on the unit sphere.

    Math. With M = A^T A = V diag(mu) V^T (mu ascending), c = A^T b, c~ = V^T c, the KKT conditions
    (L = f - nu (x^T x - 1)) are (M - theta I) x = c, ||x|| = 1 with theta = 2 nu, and a KKT point is
    a GLOBAL minimiser iff additionally M - theta I is positive semidefinite, i.e. theta <= mu_1
    (the classical trust-region / sphere-constrained QP result; no sign condition on theta because
    the constraint is an equality). Write t = mu_1 - theta >= 0 and d_i = mu_i - mu_1 >= 0. Then
        x(t) = sum_i c~_i / (d_i + t) v_i,    phi(t) = ||x(t)||^2 = sum_i c~_i^2 / (d_i + t)^2 = 1.
    phi decreases strictly from phi(0+) to 0, so:
      * easy case: some c~_i with d_i = 0 is nonzero (phi(0+) = inf), or the eigen-space part is
        zero but phi(0) > 1: a unique root t* > 0 and a unique minimiser x(t*). The root is found on
        psi(t) = 1/sqrt(phi(t)) - 1 (nearly linear in t, increasing; the Reinsch / More-Sorensen
        form) by Brent's method in the bracket [t_lo, t_hi] with
            t_hi = ||c||  (phi(t_hi) <= ||c||^2 / t_hi^2 = 1), and
            t_lo = max(0, max_i(|c~_i| - d_i))  (phi(t_lo) >= c~_i^2 / (d_i + t_lo)^2 >= 1).
      * hard case: c~ vanishes on the mu_1 eigenspace E_1 AND phi_rest(0) = sum_{d_i>0} c~_i^2/d_i^2
        <= 1. Then theta = mu_1 (t = 0), and the minimisers are x = x_p + tau w with
        x_p = sum_{d_i>0} c~_i/d_i v_i, w any unit vector in E_1, tau = sqrt(1 - ||x_p||^2): not unique
        when tau > 0, M - theta I is singular and x is not differentiable. We return w along the
        (tiny) projection of c on E_1 when it is nonzero, which is the limit of the easy case as
        that projection -> 0, else w = v_1. "Zero" and "equal to mu_1" use the tolerances above
        (needed e.g. for wide A, where c lies in range(A^T) and its null-space part is rounding).
    Returns x, f, nu = 1/2 x^T A^T (A x - b), theta, hard_case flag.
    """
    M = A.T @ A
    c = A.T @ b
    mu, V = scipy.linalg.eigh(M)
    ct = V.T @ c
    d = mu - mu[0]
    G1 = d <= TOL_EIG * max(mu[-1], 1e-300)
    rest = ~G1
    cn = np.linalg.norm(c)
    cG1 = np.linalg.norm(ct[G1])
    phi_rest0 = float(np.sum(ct[rest] ** 2 / d[rest] ** 2)) if rest.any() else 0.0
    hard = bool(cG1 <= TOL_C * cn and phi_rest0 <= 1.0)
    if hard:
        xp = V[:, rest] @ (ct[rest] / d[rest]) if rest.any() else np.zeros(A.shape[1])
        tau = math.sqrt(max(0.0, 1.0 - float(xp @ xp)))
        w = V[:, G1] @ (ct[G1] / cG1) if cG1 > 0 else V[:, 0]
        x = xp + tau * w
        t = 0.0
    else:
        nz = ct != 0  # exact zeros contribute nothing (avoids 0/0 at t = 0, d_i = 0)

        def psi(t):
            with np.errstate(divide="ignore"):
                phi = np.sum(ct[nz] ** 2 / (d[nz] + t) ** 2)
            return 1.0 / math.sqrt(phi) - 1.0

        t_hi = cn
        t_lo = max(0.0, float(np.max(np.abs(ct) - d)))
        if psi(t_hi) == 0.0:
            t = t_hi
        elif psi(t_lo) == 0.0:
            t = t_lo
        else:
            t = scipy.optimize.brentq(psi, t_lo, t_hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=1000)
        x = V @ (ct / (d + t))
    x = x / np.linalg.norm(x)
    r = A @ x - b
    f = 0.5 * float(r @ r)
    nu = 0.5 * float(x @ (A.T @ r))
    return x, f, nu, mu[0] - t, hard


def less_grad_closed(A, b, x, nu, v):
    """seeds-math §1.3: H = A^T A - 2 nu I, z = H^-1 v, s = H^-1 x, w = z - s (x^T z)/(x^T s),
    grad_b = A w, grad_A = -(r w^T + (A w) x^T), r = A x - b."""
    n = A.shape[1]
    H = A.T @ A - 2 * nu * np.eye(n)
    z = np.linalg.solve(H, v)
    s = np.linalg.solve(H, x)
    w = z - s * (x @ z) / (x @ s)
    r = A @ x - b
    Aw = A @ w
    return -(np.outer(r, w) + np.outer(Aw, x)), Aw


def less_grad_fd(A, b, v, h):
    """Central finite differences of v . x(A, b) for the exact solver, entry by entry."""
    gA = np.zeros_like(A)
    gb = np.zeros_like(b)
    for idx in np.ndindex(*A.shape):
        Ap, Am = A.copy(), A.copy()
        Ap[idx] += h
        Am[idx] -= h
        gA[idx] = (v @ less_exact(Ap, b)[0] - v @ less_exact(Am, b)[0]) / (2 * h)
    for i in range(b.shape[0]):
        bp, bm = b.copy(), b.copy()
        bp[i] += h
        bm[i] -= h
        gb[i] = (v @ less_exact(A, bp)[0] - v @ less_exact(A, bm)[0]) / (2 * h)
    return gA, gb


def less_brute_2d(A, b):
    """Global minimum of f on the unit circle by dense sampling + golden refinement (n = 2)."""
    th = np.linspace(0, 2 * np.pi, 20001)
    X = np.stack([np.cos(th), np.sin(th)])
    F = 0.5 * np.sum((A @ X - b[:, None]) ** 2, axis=0)
    j = int(np.argmin(F))
    fun = lambda a: 0.5 * float(np.sum((A @ np.array([np.cos(a), np.sin(a)]) - b) ** 2))
    res = scipy.optimize.minimize_scalar(fun, bracket=(th[j] - 1e-3, th[j], th[j] + 1e-3), tol=1e-14)
    return min(res.fun, float(F[j]))


def gen_less():
    cases = []
    specs = []
    # 2x2 problems, A, b ~ N(0,1) (the PMaF setting; seeds named after PMaF's figure seeds but drawn
    # with NumPy's generator, so the data are NOT PMaF's torch draws).
    # Seeds 10, 21 have the unconstrained centre A^-1 b inside the unit circle (||A^-1 b|| < 1: the
    # regime with a positive multiplier and spurious local minima on the circle); the others outside.
    for s in (19, 38, 41, 66, 70, 72, 10, 21):
        g = rng(s)
        specs.append((f"2x2_seed{s}", randn(g, 2, 2), randn(g, 2)))
    # 2x2 hard case: A = U diag(1, 2) W^T, b = U (0, 0.6): c = A^T b = W (0, 1.2) is orthogonal to
    # the mu_1 = 1 eigenvector W e_1 and phi_rest(0) = (1.2 / 3)^2 = 0.16 <= 1, so theta = 1, nu = 1/2,
    # x = W (+-sqrt(0.84), 0.4): two global minimisers.
    g = rng(123)
    U, _ = np.linalg.qr(randn(g, 2, 2))
    W, _ = np.linalg.qr(randn(g, 2, 2))
    specs.append(("2x2_hard_case", U @ np.diag([1.0, 2.0]) @ W.T, U @ np.array([0.0, 0.6])))
    # Near-hard case: the same A with b = U (0.01, 0.6), i.e. c~_1 = 0.01. Unique minimiser with
    # t* = mu_1 - theta ~ 0.011, so H = A^T A - 2 nu I is nearly singular and the gradient is ~1e2.
    specs.append(("2x2_nearly_hard", U @ np.diag([1.0, 2.0]) @ W.T, U @ np.array([0.01, 0.6])))
    for name, (m, n), seed, bscale in [("5x3", (5, 3), 51, 1.0), ("8x4", (8, 4), 52, 1.0),
                                       ("3x5_wide", (3, 5), 53, 3.0), ("64x32", (64, 32), 54, 1.0)]:
        g = rng(seed)
        specs.append((name, randn(g, m, n), bscale * randn(g, m)))
    # wide hard case: ||pinv(A) b|| < 1, so A x = b is solvable on the sphere (f* = 0) by a whole
    # sphere's worth (here a circle) of minimisers in pinv(A) b + null(A).
    g = rng(55)
    specs.append(("3x5_wide_hard_case", randn(g, 3, 5), 0.1 * randn(g, 3)))

    for i, (name, A, b) in enumerate(specs):
        m, n = A.shape
        x, f, nu, theta, hard = less_exact(A, b)
        r = A @ x - b
        kkt = float(np.abs(A.T @ r - 2 * nu * x).max())
        lam_min_H = float(np.linalg.eigvalsh(A.T @ A - 2 * nu * np.eye(n))[0])
        scale = max(1.0, float(np.linalg.norm(A, 2)) ** 2)
        check(kkt < 1e-12 * scale * max(1.0, np.linalg.norm(b)), f"less {name} KKT {kkt}")
        check(abs(2 * nu - theta) < 1e-11 * scale, f"less {name} nu vs theta")
        check(lam_min_H > -1e-10 * scale, f"less {name} second-order {lam_min_H}")
        pinv_norm = float(np.linalg.norm(np.linalg.pinv(A) @ b))
        chk = {"kkt_max_abs": kkt, "lambda_min_H": lam_min_H, "pinv_b_norm": pinv_norm}
        if n == 2:
            fb = less_brute_2d(A, b)
            check(f <= fb + 1e-12 and fb - f < 1e-9, f"less {name}: exact {f} vs brute force {fb}")
            chk["brute_force_f"] = fb
        case = {"name": name, "hardCase": hard, "unique": not hard,
                "inputs": {"A": T(A), "b": T(b)},
                "outputs": {"x": T(x), "f": T(f), "nu": T(nu)}}
        if hard:
            check(name.endswith("hard_case"), f"less {name}: unexpected hard case")
            case["cotangents"] = {}
            case["gradients"] = {}
            case["gradients_fd"] = {}
        else:
            check(not name.endswith("hard_case"), f"less {name}: hard case not detected")
            v = randn(rng(10000 + i), n)
            gA, gb = less_grad_closed(A, b, x, nu, v)
            fA1, fb1 = less_grad_fd(A, b, v, 1e-6)
            fA2, fb2 = less_grad_fd(A, b, v, 1e-5)
            gscale = max(1.0, np.abs(gA).max(), np.abs(gb).max())
            fd_steps = max(np.abs(fA1 - fA2).max(), np.abs(fb1 - fb2).max()) / gscale
            fd_closed = max(np.abs(fA1 - gA).max(), np.abs(fb1 - gb).max()) / gscale
            check(fd_steps < 1e-7, f"less {name}: FD step sizes disagree {fd_steps}")
            check(fd_closed < 1e-7, f"less {name}: FD vs closed form {fd_closed}")
            chk.update({"fd_1e-6_vs_1e-5_max_rel": float(fd_steps), "fd_vs_closed_form_max_rel": float(fd_closed)})
            case["cotangents"] = {"x": T(v)}
            case["gradients"] = {"A": T(gA), "b": T(gb)}
            case["gradients_fd"] = {"A": T(fA1), "b": T(fb1)}
            case["fd_step"] = 1e-6
        case["checks"] = chk
        cases.append(case)
    write("less.json", "test/oracles/gen_fixtures.py:gen_less (scipy.linalg.eigh + secular equation, brentq)",
          "min 1/2||Ax-b||^2 s.t. ||x||=1, exact global minimiser. nu = 1/2 x^T A^T (A x - b) "
          "(L = f - nu (x^T x - 1), KKT A^T(Ax-b) = 2 nu x, A^T A - 2 nu I >= 0). Cotangent v on x; "
          "gradients = seeds-math §1.3 closed form, gradients_fd = central FD (step 1e-6) of the exact "
          "solver. hardCase cases: x is one of several minimisers (unique=false), no gradients.", cases)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    which = sys.argv[1:] or ["qr", "lq", "qr_pivoted", "ied", "less"]
    for w in which:
        {"qr": gen_qr, "lq": gen_lq, "qr_pivoted": gen_qr_pivoted, "ied": gen_ied, "less": gen_less}[w]()
