#!/usr/bin/env python3
"""PyTorch baselines of bench/sttp.ts (issue 14 targets), on CUDA when present, else on the CPU:

  householder  torch.linalg.householder_product with autograd, forward + backward, on the same
               parameterisation as stdlib/sttp.mat's stiefel_full: H = tril(P, -1) + I,
               tau_j = 2 / ||h_j||^2; b = 64, 512 x 64 and b = 8, 2048 x 256.
  sttp_apply   materialise-then-matmul: the STTP cores of a 512 x 2304 layer (r = 32) from their
               Householder frames, contracted into W (512 x 2304), Y = W X with c = 256 columns,
               backward through all of it; reports the peak memory beside the weight's size.

  python3 bench/torch_sttp.py [--quick] [--reps N] [--json out.json]
"""
import argparse, json, time
import torch


def frame(H):
    tau = 2.0 / (H * H).sum(-2)
    return torch.linalg.householder_product(H, tau)


def full(P):
    d, r = P.shape[-2:]
    return frame(torch.tril(P, -1) + torch.eye(d, r, dtype=P.dtype, device=P.device))


def reduced(P):
    p, r = P.shape[-2:]
    eye = torch.eye(r, dtype=P.dtype, device=P.device).expand(*P.shape[:-2], r, r)
    return frame(torch.cat([eye, P], -2))


def primes(n):
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p); n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def sttp_shape(d_out, c_in, r, k=None):
    out = primes(d_out) or [1]
    inp = primes(c_in) + ([k * k] if k else [])
    inp = inp or [1]
    n = out + inp
    R = []
    for i in range(len(n) + 1):
        left = 1
        for x in n[:i]: left *= x
        right = 1
        for x in n[i:]: right *= x
        R.append(min(left, right, r))
    return n, R, len(out)


def sttp_params(n, R, Kout, dev, dtype, g):
    K = len(n)
    rnd = lambda *s: (torch.randn(*s, generator=g, dtype=dtype) * 0.3).to(dev).requires_grad_()
    PL = [rnd(R[i] * n[i] - R[i + 1], R[i + 1]) for i in range(Kout - 1)]
    Pm = rnd(R[Kout - 1] * n[Kout - 1], R[Kout])
    Pv = rnd(n[Kout] * R[Kout + 1], R[Kout])
    PR = [rnd(n[i] * R[i + 1] - R[i], R[i]) for i in range(Kout + 1, K)]
    S = rnd(R[Kout])
    return PL, Pm, Pv, PR, S


def sttp_weight(n, R, Kout, PL, Pm, Pv, PR, S):
    K = len(n)
    cores = [reduced(P).reshape(R[i], n[i], R[i + 1]) for i, P in enumerate(PL)]
    cores.append((full(Pm) * (S / S.abs().max().clamp_min(1e-8))).reshape(R[Kout - 1], n[Kout - 1], R[Kout]))
    cores.append(full(Pv).T.reshape(R[Kout], n[Kout], R[Kout + 1]))
    cores += [reduced(P).T.reshape(R[i], n[i], R[i + 1]) for i, P in zip(range(Kout + 1, K), PR)]
    U = cores[0].reshape(n[0], R[1])
    for i in range(1, Kout):
        U = (U @ cores[i].reshape(R[i], n[i] * R[i + 1])).reshape(-1, R[i + 1])
    V = cores[K - 1].reshape(R[K - 1], n[K - 1])
    for i in range(K - 2, Kout - 1, -1):
        V = (cores[i].reshape(R[i] * n[i], R[i + 1]) @ V).reshape(R[i], -1)
    return U @ V


def timed(fn, reps, dev):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        if dev.type == 'cuda':
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if dev.type == 'cuda':
            torch.cuda.synchronize()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return {'median_ms': ts[len(ts) // 2], 'min_ms': ts[0], 'reps': reps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--json')
    ap.add_argument('--layer-only', action='store_true', help='only the STTP layer (skip the Householder cases)')
    ap.add_argument('--threads', type=int, help='torch.set_num_threads (CPU comparisons: 1)')
    ap.add_argument('--f64', action='store_true', help='float64 instead of float32')
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = torch.float64 if a.f64 else torch.float32
    g = torch.Generator().manual_seed(1)
    rows = []
    for b, d, r in ([] if a.layer_only else [(4, 32, 8)] if a.quick else [(64, 512, 64), (8, 2048, 256)]):
        P = torch.randn(b, d, r, generator=g, dtype=dtype).to(dev).requires_grad_()
        G = torch.randn(b, d, r, generator=g, dtype=dtype).to(dev)

        def step():
            P.grad = None
            Q = full(P)
            Q.backward(G)
        rows.append({'name': f'householder b={b} {d}x{r}', **timed(step, a.reps, dev)})
        print(rows[-1], flush=True)
    n, R, Kout = sttp_shape(4, 6, 3) if a.quick else sttp_shape(512, 256, 32, 3)
    c = 2 if a.quick else 256
    params = sttp_params(n, R, Kout, dev, dtype, g)
    flat = [*params[0], params[1], params[2], *params[3], params[4]]
    d_in = 1
    for x in n[Kout:]: d_in *= x
    X = torch.randn(d_in, c, generator=g, dtype=dtype).to(dev)
    Gy = torch.randn(4 if a.quick else 512, c, generator=g, dtype=dtype).to(dev)

    def layer():
        for p in flat:
            p.grad = None
        Y = sttp_weight(n, R, Kout, *params) @ X
        Y.backward(Gy)
    if dev.type == 'cuda':
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    row = {'name': f'sttp_apply materialise-then-matmul c={c}', **timed(layer, a.reps, dev)}
    W = sttp_weight(n, R, Kout, *params)
    row['weight_bytes'] = W.numel() * W.element_size()
    if dev.type == 'cuda':
        row['peak_bytes'] = torch.cuda.max_memory_allocated()
    sv = torch.linalg.svdvals(W.detach().double())
    row['sigma_max'] = float(sv[0])
    rows.append(row)
    print(row, flush=True)
    out = {'device': torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu', 'torch': torch.__version__, 'rows': rows}
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(out, f, indent=1)


if __name__ == '__main__':
    main()
