#!/usr/bin/env python3
"""PyTorch/CUDA baselines for bench/layers.ts: the same layer cases, timed the same way.

IED (principal eigenvector of X = |N(0,1)| + transpose, PMaF's data; cotangent N(0,1)):
  eigh + autograd        torch.linalg.eigh, top eigenvector, sign fix (1'u >= 0), autograd backward
  PI100 + closed form    power iteration, 100 iterations of batched bmm from u0 ~ N(0,1) (PMaF's
                         "PI"), then the structured backward sym((lam I - X)^+ du u') computed as
                         -sym(y u') with y = solve(X - lam I + u u', (I - u u') du)
  PI<k> + closed form    the same with k = matc's iteration count for the case (from --matc-json)
                         and matc's start vector (1 + 0.05 sin(1.618 i), normalized): the same
                         algorithm as matc's kernel, written in PyTorch
LESS (A, b ~ N(0,1); cotangent N(0,1)):
  RGD + closed form      Riemannian descent with the exact step from normalize(lstsq(A, b)),
                         batched with per-instance masks, stop when |f_t - f_t-1| < 1e-7 or 100
                         iterations (all-converged test every 5 iterations: one host sync each),
                         then the closed-form backward of seeds-math 1.3 (one batched solve)
  RGD unrolled autograd  the same loop under autograd, backward through the iterations

Timing: CUDA events around each call on device-resident tensors (probe run, warm-up of >= 250 ms,
median of up to --reps within a per-case budget), and wall time host to host (inputs copied from
CPU tensors, results copied back). f32 throughout, TF32 off. Each case and variant is guarded: a
failure is recorded in the JSON and the run goes on.

  python3 bench/torch_layers.py [--quick] [--json out.json] [--matc-json matc.json] [--reps N]
                                [--budget-ms N] [--only ied,less]
"""
import argparse
import json
import math
import statistics
import sys
import time
import traceback

import torch

DEV = torch.device("cuda")


def sync():
    torch.cuda.synchronize()


def time_gpu(fn, reps, budget_ms, warmup_ms=250.0):
    """Median-ready list of per-call GPU ms (CUDA events), after a probe and a warm-up."""
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    fn()
    e.record()
    sync()
    t1 = max(s.elapsed_time(e), 1e-3)
    slow = 2 * t1 > budget_ms
    if not slow:
        t0 = time.perf_counter()
        n = 0
        while n < 1 or (time.perf_counter() - t0) * 1e3 < warmup_ms:
            fn()
            n += 1
            if n % 8 == 0:
                sync()
        sync()
    n = max(1, min(reps, int(budget_ms / t1)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        starts[i].record()
        fn()
        ends[i].record()
    sync()
    return [a.elapsed_time(b) for a, b in zip(starts, ends)]


def time_wall(fn, reps, budget_ms):
    """Per-call wall ms of a host-to-host call (fn copies inputs up and results back)."""
    t = time.perf_counter()
    fn()
    sync()
    t1 = max((time.perf_counter() - t) * 1e3, 1e-3)
    if 2 * t1 > budget_ms:
        return [t1]
    n = max(1, min(reps, int(budget_ms / t1)))
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def summary(gpu=None, wall=None):
    r = {}
    if gpu is not None:
        r.update({"gpuMs": statistics.median(gpu), "gpuMsMin": min(gpu), "gpuSamples": len(gpu)})
    if wall is not None:
        r.update({"wallMs": statistics.median(wall), "wallMsMin": min(wall), "wallSamples": len(wall)})
    return r


def rel(a, b):
    a = a.double()
    b = b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def sym(G):
    return 0.5 * (G + G.transpose(-1, -2))


# ---- IED ---------------------------------------------------------------------------------------------

def pmaf_sym(B, m, g):
    X = torch.randn(B, m, m, device=DEV, generator=g).abs()
    return X + X.transpose(1, 2)


def orient(u):
    # 1'u >= 0 (PMaF's 'positive' rule); u is [B, m, 1]
    s = torch.where(u.sum(dim=1, keepdim=True) >= 0, 1.0, -1.0)
    return u * s


def eigh_top(X):
    _, V = torch.linalg.eigh(X)
    return orient(V[..., -1:])


def power_iteration(X, u0, iters):
    u = u0
    for _ in range(iters):
        u = torch.bmm(X, u)
        u = u / u.norm(dim=1, keepdim=True)
    Xu = torch.bmm(X, u)
    lam = (u * Xu).sum(dim=1, keepdim=True)
    return orient(u), lam


def ied_closed_form(X, u, lam, du):
    # dL/dX = sym((lam I - X)^+ du u'), (lam I - X)^+ du = -(X - lam I + u u')^{-1} (I - u u') du
    m = X.shape[-1]
    eye = torch.eye(m, device=X.device, dtype=X.dtype)
    pdu = du - u * (u * du).sum(dim=1, keepdim=True)
    M = X - lam * eye + torch.bmm(u, u.transpose(1, 2))
    y = torch.linalg.solve(M, pdu)
    return -sym(torch.bmm(y, u.transpose(1, 2)))


def matc_start(B, m, device):
    i = torch.arange(m, device=device, dtype=torch.float32)
    v = 1.0 + 0.05 * torch.sin(1.618 * i)
    v = v / v.norm()
    return v.view(1, m, 1).expand(B, m, 1).contiguous()


def bench_ied(name, m, B, a, g, matc_iters, budget_ms):
    row = {"name": name, "variants": {}, "checks": {}}
    X = pmaf_sym(B, m, g)
    du = torch.randn(B, m, 1, device=DEV, generator=g)
    u0 = torch.randn(B, m, 1, device=DEV, generator=g)
    Xc, duc = X.cpu(), du.cpu()
    nchk = min(B, 4)
    # f64 reference on the first instances: eigh in f64 and the closed form
    Xd = X[:nchk].double()
    ur = eigh_top(Xd)
    lr = (ur * torch.bmm(Xd, ur)).sum(dim=1, keepdim=True)
    Gr = ied_closed_form(Xd, ur, lr, du[:nchk].double())

    def guard(vn, f):
        try:
            f()
        except Exception as ex:  # noqa: BLE001 - recorded, the run goes on
            row["variants"].setdefault(vn, {})["error"] = f"{type(ex).__name__}: {ex}"
            traceback.print_exc()

    def eigh_variant():
        def fwd():
            with torch.no_grad():
                return eigh_top(X)

        def fwdbwd(Xin=None, dui=None):
            Xr = (X if Xin is None else Xin).detach().requires_grad_(True)
            u = eigh_top(Xr)
            u.backward(du if dui is None else dui)
            return u, Xr.grad

        def host():
            u, G = fwdbwd(Xc.to(DEV), duc.to(DEV))
            return u.detach().cpu(), G.cpu()

        v = {"fwd": summary(gpu=time_gpu(fwd, a.reps, budget_ms)),
             "fwdbwd": summary(gpu=time_gpu(fwdbwd, a.reps, budget_ms), wall=time_wall(host, a.reps, budget_ms))}
        u, G = fwdbwd()
        row["checks"]["eigh u relErr"] = rel(u[:nchk].detach(), ur)
        row["checks"]["eigh grad relErr (sym)"] = rel(sym(G[:nchk]), Gr)
        row["variants"]["eigh + autograd"] = v

    def pi_variant(vn, start, iters):
        def fwd():
            return power_iteration(X, start, iters)

        def bwd_only(state=[None]):
            if state[0] is None:
                state[0] = fwd()
            u, lam = state[0]
            return ied_closed_form(X, u, lam, du)

        def fwdbwd(Xin=None, dui=None, s0=None):
            Xi = X if Xin is None else Xin
            u, lam = power_iteration(Xi, start if s0 is None else s0, iters)
            return u, ied_closed_form(Xi, u, lam, du if dui is None else dui)

        def host():
            u, G = fwdbwd(Xc.to(DEV), duc.to(DEV), start)
            return u.cpu(), G.cpu()

        v = {"fwd": summary(gpu=time_gpu(fwd, a.reps, budget_ms)),
             "bwd": summary(gpu=time_gpu(bwd_only, a.reps, budget_ms)),
             "fwdbwd": summary(gpu=time_gpu(fwdbwd, a.reps, budget_ms), wall=time_wall(host, a.reps, budget_ms)),
             "iterations": iters}
        u, G = fwdbwd()
        row["checks"][f"{vn} u relErr"] = rel(u[:nchk], ur)
        row["checks"][f"{vn} grad relErr"] = rel(G[:nchk], Gr)
        row["variants"][vn] = v

    guard("eigh + autograd", eigh_variant)
    guard("PI100 + closed form", lambda: pi_variant("PI100 + closed form", u0, 100))
    if matc_iters:
        vn = f"PI{matc_iters} (matc's start and iterations) + closed form"
        guard(vn, lambda: pi_variant(vn, matc_start(B, m, DEV), matc_iters))
    return row


# ---- LESS --------------------------------------------------------------------------------------------

def less_rgd(A, b, max_iter=100, tol=1e-7, check_every=5):
    """Batched Riemannian descent with the exact step (seeds-math 1.2 'proj-rieman'); x is [B, n, 1]."""
    B = A.shape[0]
    At = A.transpose(1, 2)
    b3 = b.unsqueeze(-1)
    AtA = torch.bmm(At, A)
    x = torch.linalg.solve(AtA, torch.bmm(At, b3))
    x = x / x.norm(dim=1, keepdim=True)
    r = torch.bmm(A, x) - b3
    f = 0.5 * (r * r).sum(dim=1, keepdim=True)
    active = torch.ones(B, 1, 1, dtype=torch.bool, device=A.device)
    iters = torch.zeros(B, dtype=torch.int32, device=A.device)
    for t in range(max_iter):
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
        iters = iters + active.view(-1).to(torch.int32)
        active = active & ~conv
        if (t + 1) % check_every == 0 and not bool(active.any()):
            break
    return x, AtA, iters


def less_closed_form(A, b, x, AtA, v):
    """seeds-math 1.3: H = A'A - 2 nu I, z = H^-1 v, s = H^-1 x, w = z - s (x'z)/(x's);
    grad_b = A w, grad_A = -(r w' + (A w) x')."""
    n = A.shape[-1]
    r = torch.bmm(A, x) - b.unsqueeze(-1)
    g = torch.bmm(A.transpose(1, 2), r)
    nu = 0.5 * (x * g).sum(dim=1, keepdim=True)
    H = AtA - 2 * nu * torch.eye(n, device=A.device, dtype=A.dtype)
    Z = torch.linalg.solve(H, torch.cat([v, x], dim=-1))
    z, s = Z[..., 0:1], Z[..., 1:2]
    w = z - s * (x * z).sum(dim=1, keepdim=True) / (x * s).sum(dim=1, keepdim=True)
    Aw = torch.bmm(A, w)
    gA = -(torch.bmm(r, w.transpose(1, 2)) + torch.bmm(Aw, x.transpose(1, 2)))
    return gA, Aw.squeeze(-1)


def bench_less(name, m, n, B, a, g, budget_ms):
    row = {"name": name, "variants": {}, "checks": {}}
    A = torch.randn(B, m, n, device=DEV, generator=g)
    b = torch.randn(B, m, device=DEV, generator=g)
    v = torch.randn(B, n, 1, device=DEV, generator=g)
    Ac, bc, vc = A.cpu(), b.cpu(), v.cpu()

    def guard(vn, f):
        try:
            f()
        except Exception as ex:  # noqa: BLE001
            row["variants"].setdefault(vn, {})["error"] = f"{type(ex).__name__}: {ex}"
            traceback.print_exc()

    res = {}

    def closed():
        def fwd():
            with torch.no_grad():
                return less_rgd(A, b)

        def bwd_only(state=[None]):
            if state[0] is None:
                state[0] = fwd()
            x, AtA, _ = state[0]
            return less_closed_form(A, b, x, AtA, v)

        def fwdbwd(Ai=None, bi=None, vi=None):
            Ai = A if Ai is None else Ai
            bi = b if bi is None else bi
            x, AtA, it = less_rgd(Ai, bi)
            gA, gb = less_closed_form(Ai, bi, x, AtA, v if vi is None else vi)
            return x, gA, gb, it

        def host():
            x, gA, gb, _ = fwdbwd(Ac.to(DEV), bc.to(DEV), vc.to(DEV))
            return x.cpu(), gA.cpu(), gb.cpu()

        with torch.no_grad():
            var = {"fwd": summary(gpu=time_gpu(fwd, a.reps, budget_ms)),
                   "bwd": summary(gpu=time_gpu(bwd_only, a.reps, budget_ms)),
                   "fwdbwd": summary(gpu=time_gpu(fwdbwd, a.reps, budget_ms), wall=time_wall(host, a.reps, budget_ms))}
            x, gA, gb, it = fwdbwd()
        var["iterations"] = [int(it.min()), int(it.max())]
        res["closed"] = (x, gA, gb)
        row["variants"]["RGD + closed form"] = var
        # KKT residual of the f32 solution
        gr = torch.bmm(A.transpose(1, 2), torch.bmm(A, x) - b.unsqueeze(-1))
        pg = gr - (x * gr).sum(dim=1, keepdim=True) * x
        row["checks"]["RGD kktResidual max"] = float((pg.norm(dim=1) / gr.norm(dim=1)).max())

    def unrolled():
        def fwdbwd(Ai=None, bi=None, vi=None):
            Ar = (A if Ai is None else Ai).detach().requires_grad_(True)
            br = (b if bi is None else bi).detach().requires_grad_(True)
            x, _, _ = less_rgd(Ar, br)
            x.backward(v if vi is None else vi)
            return x, Ar.grad, br.grad

        def host():
            x, gA, gb = fwdbwd(Ac.to(DEV), bc.to(DEV), vc.to(DEV))
            return x.detach().cpu(), gA.cpu(), gb.cpu()

        var = {"fwdbwd": summary(gpu=time_gpu(fwdbwd, a.reps, budget_ms), wall=time_wall(host, a.reps, budget_ms))}
        x, gA, gb = fwdbwd()
        row["variants"]["RGD unrolled autograd"] = var
        if "closed" in res:
            row["checks"]["unrolled vs closed form grad_A relErr"] = rel(gA, res["closed"][1])
            row["checks"]["unrolled vs closed form grad_b relErr"] = rel(gb, res["closed"][2])

    guard("RGD + closed form", closed)
    guard("RGD unrolled autograd", unrolled)
    return row


# ---- main ----------------------------------------------------------------------------------------------

def cases(quick):
    if quick:
        return [("ied", 8, 5), ("ied", 16, 5), ("ied", 32, 5), ("ied", 64, 5), ("ied", 16, 64),
                ("less", (16, 8), 5), ("less", (64, 32), 5), ("less", (64, 32), 16)]
    # same order as bench/layers.ts: the targets first
    return [("ied", 128, 1024), ("less", (64, 32), 16384), ("ied", 32, 16384), ("less", (64, 32), 5),
            ("less", (1024, 256), 5), ("ied", 32, 5), ("ied", 64, 5), ("ied", 128, 5), ("ied", 256, 5),
            ("ied", 512, 5), ("ied", 1024, 5)]


def case_name(kind, size, B):
    return f"ied m={size} b={B}" if kind == "ied" else f"less {size[0]}x{size[1]} b={B}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--matc-json", help="matc's layers.json: PI<k> uses matc's iteration counts")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--budget-ms", type=float, default=1500.0)
    ap.add_argument("--only", default="")
    a = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    g = torch.Generator(device=DEV)
    g.manual_seed(1234)

    matc_iters = {}
    if a.matc_json:
        try:
            with open(a.matc_json) as fh:
                doc = json.load(fh)
            for r in doc.get("rows", []):
                st = (r.get("report") or {}).get("status", {}).get("forward", {})
                for k, s in st.items():
                    if "argm" in k:
                        matc_iters[r["name"]] = int(s["iterations"][1])
        except Exception:  # noqa: BLE001
            traceback.print_exc()

    only = [s for s in a.only.split(",") if s]
    doc = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "allow_tf32": torch.backends.cuda.matmul.allow_tf32, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "reps": a.reps, "budgetMs": a.budget_ms, "complete": False, "rows": []}
    t0 = time.perf_counter()
    for kind, size, B in cases(a.quick):
        name = case_name(kind, size, B)
        if only and not any(name.startswith(o) for o in only):
            continue
        tc = time.perf_counter()
        # eigh of 1024 x 128x128 takes ~2 s a call: a larger budget buys it a median of 2-3
        budget = a.budget_ms * (3 if (kind == "ied" and size >= 128 and B >= 1024) else 1)
        try:
            row = bench_ied(name, size, B, a, g, matc_iters.get(name), budget) if kind == "ied" else \
                bench_less(name, size[0], size[1], B, a, g, budget)
        except Exception as ex:  # noqa: BLE001
            traceback.print_exc()
            row = {"name": name, "variants": {}, "error": f"{type(ex).__name__}: {ex}"}
        row["seconds"] = time.perf_counter() - tc
        doc["rows"].append(row)
        parts = []
        for vn, v in row["variants"].items():
            fb = v.get("fwdbwd", {})
            parts.append(f"{vn}: fwd {v.get('fwd', {}).get('gpuMs', float('nan')):.3f} fwd+bwd {fb.get('gpuMs', float('nan')):.3f} ms gpu, {fb.get('wallMs', float('nan')):.3f} ms wall" + (f" ERROR {v['error']}" if "error" in v else ""))
        print(f"  {name} ({row['seconds']:.1f} s): " + "; ".join(parts), file=sys.stderr, flush=True)
        if row.get("checks"):
            print("     checks: " + ", ".join(f"{k} {v:.1e}" for k, v in row["checks"].items()), file=sys.stderr, flush=True)
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(doc, fh, indent=2)
        torch.cuda.empty_cache()
    doc["complete"] = True
    doc["seconds"] = time.perf_counter() - t0
    text = json.dumps(doc, indent=2)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
