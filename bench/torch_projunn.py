"""PyTorch side of the projUNN benchmarks (bench/projunn.ts): one projUNN-T and one projUNN-D step
(k = 1) written as the reference code does it (facebookresearch/projUNN, projunn/utils.py; seeds-
math §4.2: a_hat = W^T a, Ub = orth([b, a_hat]) by QR, the 2k x 2k matrix diagonalised with
torch.linalg.eig, W + W u diag(f(s)) u^H), the dense baselines torch.linalg.matrix_exp of the
N x N skew matrix (T) and polar via torch.linalg.svd (D), in f32, timed with CUDA events (median
after warm-up) on CUDA, or with time.perf_counter on the CPU (--cpu, one thread).
Prints one JSON object; --json FILE writes it too."""
import argparse, json, sys, time
import torch


def timeit(fn, reps, cuda, warm_ms=250):
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    t0 = time.time()
    while (time.time() - t0) * 1000 < warm_ms:
        fn()
    sync()
    out = []
    for _ in range(reps):
        if cuda:
            s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); torch.cuda.synchronize()
            out.append(s.elapsed_time(e))
        else:
            t = time.perf_counter(); fn(); out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return out[len(out) // 2]


def ref_t(W, a, b):
    """The reference projUNN-T (project_on=False returns the delta; added to W here)."""
    ah = W.T @ a
    Ub, _ = torch.linalg.qr(torch.cat([b, ah], dim=1))
    ao, bo = Ub.T @ ah, Ub.T @ b
    S = 0.5 * (ao @ bo.T - bo @ ao.T)
    s, D = torch.linalg.eig(S.to(torch.complex64))
    u = Ub.to(torch.complex64) @ D
    delta = (W.to(torch.complex64) @ u) @ torch.diag(torch.exp(s) - 1) @ u.conj().T
    return W + delta.real


def ref_d(W, a, b):
    """The reference projUNN-D: polar(W + a b^T) with the 1e-8 stabiliser."""
    ah = W.T @ a
    Ub, _ = torch.linalg.qr(torch.cat([b, ah], dim=1))
    ao, bo = Ub.T @ ah, Ub.T @ b
    S = ao @ bo.T + bo @ ao.T + bo @ (a.T @ a) @ bo.T
    s, D = torch.linalg.eig(S.to(torch.complex64))
    u = Ub.to(torch.complex64) @ D
    Wt = W + a @ b.T
    delta = (Wt.to(torch.complex64) @ u) @ torch.diag(1 / torch.sqrt(s + 1 + 1e-8) - 1) @ u.conj().T
    return Wt + delta.real


def dense_t(W, a, b):
    X = W.T @ a @ b.T
    return W @ torch.linalg.matrix_exp(0.5 * (X - X.T))


def dense_d(W, a, b):
    U, _, Vh = torch.linalg.svd(W + a @ b.T)
    return U @ Vh


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--json'); ap.add_argument('--quick', action='store_true'); ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--cpu', action='store_true')
    a = ap.parse_args()
    cuda = torch.cuda.is_available() and not a.cpu
    dev = 'cuda' if cuda else 'cpu'
    if not cuda:
        torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    sizes = [64, 256] if a.quick else [1024, 4096]
    rows = []
    for n in sizes:
        g = torch.Generator(device=dev).manual_seed(1)
        W, _ = torch.linalg.qr(torch.randn(n, n, device=dev, generator=g))
        av = 0.1 * torch.randn(n, 1, device=dev, generator=g); bv = torch.randn(n, 1, device=dev, generator=g)
        for name, fn in [('projunn_t reference', ref_t), ('projunn_t dense matrix_exp', dense_t), ('projunn_d reference', ref_d), ('projunn_d dense svd', dense_d)]:
            reps = 5 if (n >= 4096 and 'dense' in name) else a.reps
            ms = timeit(lambda: fn(W, av, bv), reps, cuda, 0 if n >= 4096 else 250)
            O = fn(W, av, bv).double()
            row = {'name': f'{name} N={n}', 'n': n, 'k': 1, 'ms': ms, 'orthErr': float((O.T @ O - torch.eye(n, dtype=torch.float64, device=dev)).abs().max())}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    out = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(0) if cuda else 'cpu (1 thread)', 'rows': rows}
    if a.json:
        open(a.json, 'w').write(json.dumps(out, indent=1))
    print(json.dumps(out))


main()
