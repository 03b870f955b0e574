#!/usr/bin/env python3
"""PyTorch and numpy on the CPU for bench/cpu.ts's cases, on the same inputs (the raw f64 files it
wrote), f64, one thread: what a user without a GPU would pick instead of matc.

QR    torch.linalg.qr (+ autograd through (Q·dQ + R·dR).sum() for fwd+bwd), the sign convention
      diag(R) >= 0 applied as matc does; numpy.linalg.qr (stacked) for the forward
IED   power iteration with matc's start vector (1 + 0.05 sin(1.618 i), normalized) and matc's
      largest iteration count for the case, then the closed-form backward
      sym((lam I - X)^+ du u'); torch.linalg.eigh + autograd
LESS  Riemannian descent with the exact step from normalize(lstsq(A, b)), batched with masks,
      |f_t - f_t-1| < 1e-7 or 100 iterations, then the closed-form backward (seeds-math 1.3)

Each variant's results are compared with matc's (max |diff| / max |x| per output). Timing: wall
time (perf_counter), one warm-up call, median of up to --reps calls within --budget-ms.

  python3 bench/torch_cpu.py MATC_JSON [--json out.json] [--reps N] [--budget-ms N]
"""
import argparse
import json
import os
import statistics
import sys
import time

# one thread on the BLAS side too: torch.set_num_threads does not reach OpenBLAS's own pool, whose
# spinning threads otherwise contend with everything else on the machine (set before loading it)
for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[k] = '1'

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)


def load(f):
    return np.fromfile(f["path"], dtype=np.float64).reshape(f["shape"])


def timed(fn, reps, budget_ms):
    fn()
    t = time.perf_counter()
    out = fn()
    first = (time.perf_counter() - t) * 1e3
    n = max(1, min(reps, int(budget_ms / max(first, 1e-3))))
    ms = [first]
    for _ in range(n - 1):
        t = time.perf_counter()
        out = fn()
        ms.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ms), min(ms), len(ms), out


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(a.shape)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def sym(G):
    return 0.5 * (G + G.transpose(-1, -2))


# ---- QR ----------------------------------------------------------------------------------------------

def qr_signed(A):
    Q, R = torch.linalg.qr(A)
    d = torch.where(torch.diagonal(R, dim1=-2, dim2=-1) >= 0, 1.0, -1.0)
    return Q * d.unsqueeze(-2), R * d.unsqueeze(-1)


def bench_qr(c, files, matc, a):
    A = torch.from_numpy(load(files["A"]))
    out = {}
    if c["phase"] == "fwd":
        def tf():
            with torch.no_grad():
                return qr_signed(A)
        m, mn, n, (Q, R) = timed(tf, a.reps, a.budget_ms)
        out["torch.linalg.qr"] = {"ms": m, "msMin": mn, "samples": n, "relDiff": max(rel(Q, matc["out.Q"]), rel(R, matc["out.R"]))}
        An = A.numpy()

        def nf():
            Q, R = np.linalg.qr(An)
            d = np.where(np.diagonal(R, axis1=-2, axis2=-1) >= 0, 1.0, -1.0)
            return Q * d[..., None, :], R * d[..., :, None]
        m, mn, n, (Q, R) = timed(nf, a.reps, a.budget_ms)
        out["numpy.linalg.qr"] = {"ms": m, "msMin": mn, "samples": n, "relDiff": max(rel(Q, matc["out.Q"]), rel(R, matc["out.R"]))}
        return out
    dQ = torch.from_numpy(load(files["ct.Q"]))
    dR = torch.from_numpy(load(files["ct.R"]))

    def fb():
        Ar = A.clone().requires_grad_(True)
        Q, R = qr_signed(Ar)
        ((Q * dQ).sum() + (R * dR).sum()).backward()
        return Q.detach(), R.detach(), Ar.grad
    m, mn, n, (Q, R, G) = timed(fb, a.reps, a.budget_ms)
    out["torch.linalg.qr + autograd"] = {"ms": m, "msMin": mn, "samples": n, "relDiff": max(rel(Q, matc["out.Q"]), rel(R, matc["out.R"]), rel(G, matc["grad.A"]))}
    return out


# ---- IED ---------------------------------------------------------------------------------------------

def orient(u):
    return u * torch.where(u.sum(dim=1, keepdim=True) >= 0, 1.0, -1.0)


def matc_start(B, m):
    i = torch.arange(m, dtype=torch.float64)
    v = 1.0 + 0.05 * torch.sin(1.618 * i)
    v = v / v.norm()
    return v.view(1, m, 1).expand(B, m, 1).contiguous()


def power_iteration(X, u0, iters):
    u = u0
    for _ in range(iters):
        u = torch.bmm(X, u)
        u = u / u.norm(dim=1, keepdim=True)
    lam = (u * torch.bmm(X, u)).sum(dim=1, keepdim=True)
    return orient(u), lam


def ied_closed_form(X, u, lam, du):
    m = X.shape[-1]
    pdu = du - u * (u * du).sum(dim=1, keepdim=True)
    M = X - lam * torch.eye(m) + torch.bmm(u, u.transpose(1, 2))
    y = torch.linalg.solve(M, pdu)
    return -sym(torch.bmm(y, u.transpose(1, 2)))


def bench_ied(c, files, matc, a, iters):
    X = torch.from_numpy(load(files["X"]))
    if X.dim() == 2:
        X = X.unsqueeze(0)
    du = torch.from_numpy(load(files["ct.u"])).reshape(X.shape[0], X.shape[1], 1)
    B, m = X.shape[0], X.shape[1]
    start = matc_start(B, m)
    out = {}

    def pi():
        u, lam = power_iteration(X, start, iters)
        return u, ied_closed_form(X, u, lam, du)
    ms, mn, n, (u, G) = timed(pi, a.reps, a.budget_ms)
    out[f"power iteration ({iters} it.) + closed form"] = {"ms": ms, "msMin": mn, "samples": n, "relDiff": max(rel(u.squeeze(-1), matc["out.u"]), rel(sym(G), sym(torch.from_numpy(matc["grad.X"]).reshape(G.shape))))}

    def eh():
        Xr = X.clone().requires_grad_(True)
        _, V = torch.linalg.eigh(Xr)
        u = orient(V[..., -1:])
        u.backward(du)
        return u.detach(), Xr.grad
    ms, mn, n, (u, G) = timed(eh, a.reps, a.budget_ms)
    out["torch.linalg.eigh + autograd"] = {"ms": ms, "msMin": mn, "samples": n, "relDiff": max(rel(u.squeeze(-1), matc["out.u"]), rel(sym(G), sym(torch.from_numpy(matc["grad.X"]).reshape(G.shape))))}
    return out


# ---- LESS --------------------------------------------------------------------------------------------

def less_rgd(A, b, max_iter=100, tol=1e-7):
    B = A.shape[0]
    At = A.transpose(1, 2)
    b3 = b.unsqueeze(-1)
    AtA = torch.bmm(At, A)
    x = torch.linalg.solve(AtA, torch.bmm(At, b3))
    x = x / x.norm(dim=1, keepdim=True)
    r = torch.bmm(A, x) - b3
    f = 0.5 * (r * r).sum(dim=1, keepdim=True)
    active = torch.ones(B, 1, 1, dtype=torch.bool)
    for _ in range(max_iter):
        gr = torch.bmm(At, r)
        d = (x * gr).sum(dim=1, keepdim=True) * x - gr
        Ad = torch.bmm(A, d)
        eta = (d * d).sum(dim=1, keepdim=True) / ((Ad * Ad).sum(dim=1, keepdim=True) + 1e-8)
        xn = x + eta * d
        xn = xn / xn.norm(dim=1, keepdim=True)
        rn = torch.bmm(A, xn) - b3
        fn = 0.5 * (rn * rn).sum(dim=1, keepdim=True)
        conv = (fn - f).abs() < tol
        x = torch.where(active, xn, x)
        r = torch.where(active, rn, r)
        f = torch.where(active, fn, f)
        active = active & ~conv
        if not bool(active.any()):
            break
    return x, AtA


def less_closed_form(A, b, x, AtA, v):
    n = A.shape[-1]
    r = torch.bmm(A, x) - b.unsqueeze(-1)
    g = torch.bmm(A.transpose(1, 2), r)
    nu = 0.5 * (x * g).sum(dim=1, keepdim=True)
    H = AtA - 2 * nu * torch.eye(n)
    Z = torch.linalg.solve(H, torch.cat([v, x], dim=-1))
    z, s = Z[..., 0:1], Z[..., 1:2]
    w = z - s * (x * z).sum(dim=1, keepdim=True) / (x * s).sum(dim=1, keepdim=True)
    Aw = torch.bmm(A, w)
    gA = -(torch.bmm(r, w.transpose(1, 2)) + torch.bmm(Aw, x.transpose(1, 2)))
    return gA, Aw.squeeze(-1)


def bench_less(c, files, matc, a):
    A = torch.from_numpy(load(files["A"]))
    b = torch.from_numpy(load(files["b"]))
    v = torch.from_numpy(load(files["ct.x"])).unsqueeze(-1)

    def run():
        x, AtA = less_rgd(A, b)
        gA, gb = less_closed_form(A, b, x, AtA, v)
        return x, gA, gb
    ms, mn, n, (x, gA, gb) = timed(run, a.reps, a.budget_ms)
    # less_pmaf: the same algorithm from the same start, agreement up to each side's stopping point;
    # less (matc's default, CG + polish) is another algorithm: the values are not expected to agree
    name = "PMaF RM descent + closed form" if c["fn"] == "less_pmaf" else "PMaF RM descent + closed form (another algorithm)"
    return {name: {"ms": ms, "msMin": mn, "samples": n, "relDiff": max(rel(x.squeeze(-1), matc["out.x"]), rel(gA, matc["grad.A"]), rel(gb, matc["grad.b"]))}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("matc_json")
    p.add_argument("--json")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--budget-ms", type=float, default=6000)
    a = p.parse_args()
    data = json.load(open(a.matc_json))
    rows = []
    for r in data["results"]:
        c = r["case"]
        files = r["files"]
        matc = {k: load(f) for k, f in files.items() if k.startswith("out.") or k.startswith("grad.")}
        try:
            if c["fn"] == "qr":
                v = bench_qr(c, files, matc, a)
            elif c["fn"] == "ied":
                its = [x.get("iterations") for x in r["variants"].values() if x.get("iterations")]
                v = bench_ied(c, files, matc, a, its[0][1] if its else 100)
            elif c["fn"] in ("less", "less_pmaf"):
                v = bench_less(c, files, matc, a)
            else:
                continue
        except Exception as e:  # noqa: BLE001 - recorded, the run goes on
            v = {"error": f"{type(e).__name__}: {e}"}
        for k, x in v.items():
            if isinstance(x, dict):
                sys.stderr.write(f"  {c['name']}: {k} {x['ms']:.2f} ms (rel. diff. to matc {x['relDiff']:.1e})\n")
        rows.append({"name": c["name"], "variants": v})
    cfg = torch.__config__.show()
    out = {"torch": torch.__version__, "numpy": np.__version__, "threads": torch.get_num_threads(),
           "openblasCoretype": os.environ.get("OPENBLAS_CORETYPE", "(as detected)"), "blas": [l.strip() for l in cfg.splitlines() if "BLAS" in l or "LAPACK" in l][:4],
           "blasLoaded": sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() or "lapack" in l.lower()}), "rows": rows}
    s = json.dumps(out, indent=1)
    if a.json:
        open(a.json, "w").write(s)
    else:
        print(s)


if __name__ == "__main__":
    main()
