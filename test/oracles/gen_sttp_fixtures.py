#!/usr/bin/python3
"""External oracles for stdlib/sttp.mat: writes test/fixtures/sttp.json.

    /usr/bin/python3 test/oracles/gen_sttp_fixtures.py      (from the repository root; Debian's torch + NumPy)

Nothing here imports or runs matc. Every value is float64 from fixed seeds, computed by PyTorch's
LAPACK-backed routines (torch.linalg.householder_product = orgqr, torch.geqrf, torch.linalg.qr,
autograd) and NumPy, following the reference implementation (toshas/sttp @44e13f5:
src/utils/stiefel_parameterization.py, spectral_tensors_factory.py, tensor_contraction.py,
tt_utils.py) as transcribed in seeds-math §3 — not matc's spec:

* frames: Q = householder_product(H, τ = 2/‖h‖²) for the full (H = tril(P, −1) + I) and reduced
  (H = [I_r; P]) parameterisations, and the gradient of ⟨G, Q⟩ with respect to P by autograd
  (torch differentiates orgqr itself, with its own formula); cross-checked against central finite
  differences of the forward (the script aborts on a relative error above 1e-6);
* geqrf: torch.geqrf's Householder vectors (unit lower trapezoidal) and the diagonal of R, with the
  check τ = 2/‖v‖² (so the frame convention is LAPACK's);
* qr_eye_randn: the reference's init from a given noise matrix N (numpy RandomState(2020)):
  Q = qr(I + std·clip(N, −1, 1)), P = geqrf(Q); the full frame of P reproduces Q (checked here);
  the reference's reduced init geqrf(Q)[r:, :] is recorded too;
* SVDP / STTP weights from given parameters, built the reference's way: one frame per core with its
  is_canonical rule, cores reshaped to (R_k, n_k, R_{k+1}) (right cores transposed), Σ = S/max|S|
  folded into the columns of core Kout−1, and ONE einsum over all cores (tensor_contraction.py's
  equation); their gradients by autograd for a random cotangent; the reference's DOF count
  (n_param_compressed) for each;
* the TT operator test of test_tt_modules.py (c_in = 256, c_out = 512, k = 3, r = 32 and c_in = 128,
  c_out = 256, k = 1, r = 32; the operator's modes are prime_factors(c_out) and
  prime_factors(c_in·k²)) with random cores: Y = A x by the reference's operator equation
  (get_spectral_tt_operator_equation, contracted by np.einsum with optimize="optimal" is replaced by
  the dense A = contraction of the cores, then A @ x; both routes are compared here) for a few
  columns of x.

File format: as test/oracles/gen_fixtures.py ({"cases": [{"name", "inputs", "outputs",
"cotangents", "gradients", "checks", …}]}); tensors are {"shape", "data"} flat row-major; collections
under their element names (PL[0], cores[3], …).
"""

import json
import os
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def t(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().numpy()
    x = np.asarray(x, dtype=np.float64)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1)]}


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-300, np.max(np.abs(b)))) if a.size else 0.0


def check(cond, what):
    if not cond:
        sys.exit(f"CHECK FAILED: {what}")


# ---- reference pieces (tt_utils.py, stiefel_parameterization.py) ---------------------------------

def prime_factors(num):
    factors = []
    i = 2
    while i * i <= num:
        while num % i == 0:
            factors.append(i)
            num //= i
        i += 1
    if num > 1:
        factors.append(num)
    return factors


def get_ranks_tt(shape, max_rank):
    left = [1] + np.cumprod(list(shape)).tolist()
    right = list(reversed([1] + np.cumprod(list(reversed(shape))).tolist()))
    return [int(min(a, b, max_rank)) for a, b in zip(left, right)]


def dof_full(rank, n):
    return rank * n - rank * (rank + 1) // 2


def dof_canonical(rank, n):
    return rank * (n - rank)


def frame_full(P):
    d, r = P.shape
    H = torch.tril(P, -1) + torch.eye(d, r)
    return torch.linalg.householder_product(H, 2 / (H * H).sum(dim=0))


def frame_reduced(P, r):
    H = torch.cat((torch.eye(r), P), dim=0)
    return torch.linalg.householder_product(H, 2 / (H * H).sum(dim=0))


def fd_check(f, x, G, h=1e-6):
    """max relative error of the autograd gradient of ⟨G, f(x)⟩ against central differences."""
    x = x.detach().clone().requires_grad_(True)
    (f(x) * G).sum().backward()
    g = x.grad.detach().numpy().copy()
    fd = np.zeros_like(g)
    base = x.detach().numpy().copy()
    flat = base.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = float((f(torch.from_numpy(base)) * G).sum())
        flat[i] = old - h
        fm = float((f(torch.from_numpy(base)) * G).sum())
        flat[i] = old
        fd.reshape(-1)[i] = (fp - fm) / (2 * h)
    return g, rel(g, fd)


# ---- frames ---------------------------------------------------------------------------------------

def frame_cases():
    out = []
    rng = np.random.RandomState(14)
    for (d, r) in [(6, 3), (5, 5), (12, 4), (9, 1)]:
        P = torch.from_numpy(rng.randn(d, r))
        G = torch.from_numpy(rng.randn(d, r))
        Q = frame_full(P)
        check(rel(Q.T @ Q, torch.eye(r)) < 1e-13, "full frame orthonormal")
        g, e = fd_check(frame_full, P, G)
        check(e < 1e-6, f"full frame gradient vs FD {e}")
        out.append({"name": f"frame_full_{d}x{r}", "inputs": {"P": t(P)}, "outputs": {"Q": t(Q)},
                    "cotangents": {"Q": t(G)}, "gradients": {"P": t(g)}, "checks": {"fd_rel": e}})
    for (d, r) in [(6, 3), (5, 5), (12, 4), (9, 1)]:
        P = torch.from_numpy(rng.randn(d - r, r))
        G = torch.from_numpy(rng.randn(d, r))
        Q = frame_reduced(P, r)
        check(rel(Q.T @ Q, torch.eye(r)) < 1e-13, "reduced frame orthonormal")
        check(float(torch.tril(Q[:r, :], -1).abs().max()) < 1e-13 if r > 1 else True, "reduced frame: upper triangular leading block")
        g, e = fd_check(lambda p: frame_reduced(p, r), P, G) if d > r else (np.zeros((0, r)), 0.0)
        check(e < 1e-6, f"reduced frame gradient vs FD {e}")
        out.append({"name": f"frame_reduced_{d}x{r}", "inputs": {"P": t(P)}, "outputs": {"Q": t(Q)},
                    "cotangents": {"Q": t(G)}, "gradients": {"P": t(g)}, "checks": {"fd_rel": e}})
    return out


# ---- geqrf and the init ---------------------------------------------------------------------------

def geqrf_vectors(A):
    a, tau = torch.geqrf(A)
    d, r = A.shape
    V = torch.tril(a, -1) + torch.eye(d, r)
    beta = torch.diagonal(a)
    for j in range(r):
        if float(tau[j]) != 0:
            check(abs(float(tau[j]) - 2 / float((V[:, j] ** 2).sum())) < 1e-13, "geqrf: tau = 2/|v|^2")
    return V, beta, tau


def init_cases():
    out = []
    rng = np.random.RandomState(2020)
    for (d, r) in [(7, 3), (6, 6), (10, 4)]:
        A = torch.from_numpy(rng.randn(d, r))
        V, beta, tau = geqrf_vectors(A)
        out.append({"name": f"geqrf_{d}x{r}", "inputs": {"A": t(A)}, "outputs": {"V": t(V), "beta": t(beta), "tau": t(tau)},
                    "cotangents": {}, "gradients": {}, "checks": {}})
    std = 1e-4
    for (d, r) in [(8, 3), (5, 5), (12, 4), (16, 8)]:
        N = torch.from_numpy(rng.randn(d, r))
        tmp = torch.eye(d, r) + std * N.clamp(min=-1, max=1)
        q, _ = torch.linalg.qr(tmp)
        hh = torch.geqrf(q)[0]
        P_full = torch.tril(hh, -1)
        Qf = frame_full(hh)
        # frame(geqrf(Q)) = Q diag(s): s_j = sign(beta_j) where geqrf reflected (tau_j = 2/|v|^2) and
        # -sign(beta_j) where it did not (tau_j = 0: the last column of a square Q), since the frame
        # convention always reflects; for QR(I + small noise) s = 1 except that last column
        tau = torch.geqrf(q)[1]
        s = torch.sign(torch.diagonal(hh)) * torch.where(tau == 0, -1.0, 1.0)
        e_full = rel(Qf, q * s)
        check(e_full < 1e-12, f"qr_eye_randn: the full frame of geqrf(Q) reproduces Q diag(s) ({e_full})")
        check(d == r or bool((s == 1).all()), "qr_eye_randn: a non-square frame reproduces Q exactly")
        P_ref_reduced = hh[r:, :]
        Qr = frame_reduced(P_ref_reduced, r)
        out.append({"name": f"qr_eye_randn_{d}x{r}", "inputs": {"N": t(N), "std": t(np.array(std))},
                    "outputs": {"Q": t(q), "P_full": t(P_full), "Q_frame": t(Qf), "signs": t(s), "P_reduced_reference": t(P_ref_reduced),
                                "Q_reduced_reference": t(Qr)},
                    "cotangents": {}, "gradients": {},
                    "checks": {"full_reproduces_Q": e_full, "reference_reduced_vs_Q": rel(Qr, q)}})
    # qr_randn: the full frame reproduces Q up to the signs of geqrf(Q)'s diagonal
    for (d, r) in [(9, 4)]:
        A = torch.from_numpy(rng.randn(d, r))
        q, _ = torch.linalg.qr(A)
        hh = torch.geqrf(q)[0]
        signs = torch.sign(torch.diagonal(hh)) * torch.where(torch.geqrf(q)[1] == 0, -1.0, 1.0)
        e = rel(frame_full(hh), q * signs)
        check(e < 1e-12, f"qr_randn: frame = Q diag(sign beta) ({e})")
        out.append({"name": f"qr_randn_{d}x{r}", "inputs": {"A": t(A)},
                    "outputs": {"Q": t(q), "P_full": t(torch.tril(hh, -1)), "signs": t(signs)},
                    "cotangents": {}, "gradients": {}, "checks": {"frame_vs_Q_signs": e}})
    return out


# ---- SVDP / STTP weights (spectral_tensors_factory.py) --------------------------------------------

def sttp_layout(shape, max_rank, spectrum_eye):
    modes = prime_factors(shape[0])
    sid = len(modes)
    modes = modes + prime_factors(shape[1])
    if len(shape) > 2:
        modes.append(int(np.prod(shape[2:])))
    ranks = get_ranks_tt(modes, max_rank)
    cores = []
    dof = 0 if spectrum_eye else ranks[sid]
    for i, m in enumerate(modes):
        rl, rr = ranks[i], ranks[i + 1]
        left = i < sid
        if i < sid - 1:
            canonical = True
        elif i == sid - 1:
            canonical = spectrum_eye
        elif i == sid:
            canonical = False
        else:
            canonical = True
        rank, n = (rr, rl * m) if left else (rl, m * rr)
        dof += dof_canonical(rank, n) if canonical else dof_full(rank, n)
        cores.append({"rl": rl, "m": m, "rr": rr, "left": left, "canonical": canonical, "rank": rank, "n": n})
    return modes, sid, ranks, cores, dof


def tt_contract(cores):
    """tensor_contraction.py: one einsum over all cores (first/last rank squeezed)."""
    K = len(cores)
    ins = []
    for i in range(K):
        ins.append(("" if i == 0 else LETTERS[K + i - 1]) + LETTERS[i] + ("" if i == K - 1 else LETTERS[K + i]))
    ops = [c for c in cores]
    ops[0] = ops[0][0]
    ops[-1] = ops[-1][..., 0]
    return torch.einsum(",".join(ins) + "->" + LETTERS[:K], *ops)


def sttp_weight(params, layout, S):
    modes, sid, ranks, cores_desc, _ = layout
    cores = []
    for P, c in zip(params, cores_desc):
        Q = frame_reduced(P, c["rank"]) if c["canonical"] else frame_full(P)
        if not c["left"]:
            Q = Q.T
        cores.append(Q.reshape(c["rl"], c["m"], c["rr"]))
    if S is not None:
        sv = S / S.abs().max().clamp(min=1e-8)
        k = cores[sid - 1]
        cores[sid - 1] = (k.reshape(-1, k.shape[-1]) * sv.reshape(1, -1)).reshape(k.shape)
    W = tt_contract(cores)
    d_out = int(np.prod(modes[:sid]))
    return W.reshape(d_out, -1)


def weight_cases():
    out = []
    rng = np.random.RandomState(7)
    for shape, r, eye in [((8, 12), 4, False), ((8, 12), 4, True), ((6, 4, 3, 3), 5, False), ((6, 4, 3, 3), 5, True),
                          ((16, 16), 3, False), ((12, 30), 64, False)]:
        layout = sttp_layout(shape, r, eye)
        modes, sid, ranks, cores_desc, dof = layout
        params = []
        for c in cores_desc:
            rows = c["n"] - c["rank"] if c["canonical"] else c["n"]
            params.append(torch.from_numpy(rng.randn(rows, c["rank"])).requires_grad_(True))
        S = None if eye else torch.from_numpy(rng.randn(ranks[sid])).requires_grad_(True)
        W = sttp_weight(params, layout, S)
        svals = torch.linalg.svdvals(W.detach())
        if S is None:
            check(rel(svals[: ranks[sid]], torch.ones(ranks[sid])) < 1e-12 and float(svals[ranks[sid]:].abs().max(initial=0) if False else (svals[ranks[sid]:].abs().max() if svals.numel() > ranks[sid] else 0)) < 1e-12, "STTP-C: singular values 1 (r of them), then 0")
        else:
            want = torch.sort((S / S.abs().max()).abs().detach(), descending=True)[0]
            check(rel(svals[: ranks[sid]], want) < 1e-12, "STTP-L: singular values |S|/max|S|")
        G = torch.from_numpy(rng.randn(*W.shape))
        (W * G).sum().backward()
        inputs = {}
        grads = {}
        # matc's grouping: PL (reduced left 0 … sid−2), Pm (core sid−1), Pv (core sid), PR (cores sid+1 …)
        for i, (P, c) in enumerate(zip(params, cores_desc)):
            if i < sid - 1:
                key = f"PL[{i}]"
            elif i == sid - 1:
                key = "Pm"
            elif i == sid:
                key = "Pv"
            else:
                key = f"PR[{i - sid - 1}]"
            inputs[key] = t(P)
            grads[key] = t(P.grad)
        if S is not None:
            inputs["S"] = t(S)
            grads["S"] = t(S.grad)
        numel = int(np.prod(shape))
        out.append({"name": f"sttp_{'C' if eye else 'L'}_{'x'.join(map(str, shape))}_r{r}", "inputs": inputs,
                    "outputs": {"W": t(W)}, "cotangents": {"W": t(G)}, "gradients": grads,
                    "modes": modes, "kout": sid, "ranks": ranks, "dof": dof, "numel": numel, "spectrum": "identity" if eye else "learned",
                    "checks": {"svals_max": float(svals.max()) if svals.numel() else 0.0}})
    # SVDP (the factory's SVDP: U reduced with the identity spectrum, V full)
    for (m, n, r, eye) in [(7, 10, 3, False), (7, 10, 3, True), (12, 5, 5, False)]:
        rk = min(m, n, r)
        PU = torch.from_numpy(rng.randn(m - rk if eye else m, rk)).requires_grad_(True)
        PV = torch.from_numpy(rng.randn(n, rk)).requires_grad_(True)
        S = None if eye else torch.from_numpy(rng.randn(rk)).requires_grad_(True)
        U = frame_reduced(PU, rk) if eye else frame_full(PU)
        V = frame_full(PV)
        W = U @ V.T if eye else U @ torch.diag(S / S.abs().max().clamp(min=1e-8)) @ V.T
        G = torch.from_numpy(rng.randn(m, n))
        (W * G).sum().backward()
        dof = (0 if eye else rk) + (dof_canonical(rk, m) if eye else dof_full(rk, m)) + dof_full(rk, n)
        inputs = {"PU": t(PU), "PV": t(PV)}
        grads = {"PU": t(PU.grad), "PV": t(PV.grad)}
        if S is not None:
            inputs["S"] = t(S)
            grads["S"] = t(S.grad)
        out.append({"name": f"svdp_{'C' if eye else 'L'}_{m}x{n}_r{r}", "inputs": inputs, "outputs": {"W": t(W)},
                    "cotangents": {"W": t(G)}, "gradients": grads, "dof": dof, "numel": m * n,
                    "spectrum": "identity" if eye else "learned", "checks": {}})
    return out


# ---- the TT operator test (test_tt_modules.py: _test_ttconv) --------------------------------------

def operator_cases():
    out = []
    rng = np.random.RandomState(2020)
    for (c_in, c_out, k, rank, cols) in [(256, 512, 3, 32, 3), (128, 256, 1, 32, 3)]:
        A_shape = (c_out, c_in * k * k)
        out_modes = prime_factors(A_shape[0])
        in_modes = prime_factors(A_shape[1])
        modes = out_modes + in_modes
        ranks = get_ranks_tt(modes, rank)
        # inputs rounded to 3 decimals (exact in the JSON, a third of the size); all arithmetic in float64
        cores = [np.round(rng.randn(ranks[i], modes[i], ranks[i + 1]), 3) for i in range(len(modes))]
        x = np.round(rng.randn(A_shape[1], cols), 3)
        # dense A: the cores multiplied out one at a time (numpy matmuls), then A @ x
        F = np.ones((1, 1))
        for c in cores:
            F = (F @ c.reshape(c.shape[0], -1)).reshape(-1, c.shape[2])
        A = F.reshape(A_shape)
        y = A @ x
        # the reference's operator route: one einsum over the cores and x (its equation)
        K = len(cores)
        Kout = len(out_modes)
        ins = []
        xs = ""
        outs = ""
        for i in range(K):
            ins.append(("" if i == 0 else LETTERS[K + i - 1]) + LETTERS[i] + ("" if i == K - 1 else LETTERS[K + i]))
            if i >= Kout:
                xs += LETTERS[i]
            else:
                outs += LETTERS[i]
        ops = list(cores)
        ops[0] = ops[0][0]
        ops[-1] = ops[-1][..., 0]
        zc = LETTERS[2 * K - 1]
        eq = ",".join(ins) + "," + xs + zc + "->" + outs + zc
        y2 = np.einsum(eq, *ops, x.reshape(in_modes + [cols]), optimize="greedy").reshape(c_out, cols)
        e = rel(y2, y)
        check(e < 1e-12, f"operator: einsum route vs dense ({e})")
        inputs = {f"cores[{i}]": t(c) for i, c in enumerate(cores)}
        inputs["X"] = t(x)
        out.append({"name": f"tt_operator_cin{c_in}_cout{c_out}_k{k}_r{rank}", "inputs": inputs, "outputs": {"Y": t(y)},
                    "cotangents": {}, "gradients": {}, "modes": modes, "kout": Kout, "ranks": ranks,
                    "checks": {"einsum_vs_dense": e}})
    return out


def main():
    cases = frame_cases() + init_cases() + weight_cases() + operator_cases()
    outp = {
        "generator": "test/oracles/gen_sttp_fixtures.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": "",
        "notes": "Householder frames (LAPACK orgqr, tau = 2/|h|^2), geqrf, the qr_eye_randn init, SVDP/STTP weights "
                 "and the TT operator, following toshas/sttp; float64, fixed seeds.",
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "sttp.json")
    with open(path, "w") as f:
        json.dump(outp, f, indent=None, separators=(",", ":"))
    print(f"wrote {path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
