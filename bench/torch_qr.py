"""PyTorch side of the QR benchmarks (bench/qr.ts): torch.linalg.qr (reduced) in f32 on CUDA,
forward and forward+backward through autograd with random cotangents for Q and R, timed with CUDA
events (median after warm-up). Prints one JSON object; --json FILE writes it too."""
import argparse, json, sys, time
import torch

def timeit(fn, reps, warm_ms=250):
    torch.cuda.synchronize()
    t0 = time.time()
    while (time.time() - t0) * 1000 < warm_ms:
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        out.append(s.elapsed_time(e))
    out.sort()
    return out[len(out) // 2]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--json'); ap.add_argument('--quick', action='store_true'); ap.add_argument('--reps', type=int, default=10)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = 'cuda'
    cases = [(64, 8, 8, True), (16, 16, 8, True), (1, 64, 64, False)] if a.quick else \
        [(16384, 32, 32, True), (16384, 64, 32, True), (1024, 128, 128, True), (1, 256, 256, False), (1, 1024, 1024, False), (1, 4096, 4096, False)]
    rows = []
    for (b, m, n, bwd) in cases:
        g = torch.Generator(device=dev).manual_seed(1)
        A = torch.randn(b, m, n, device=dev, generator=g, dtype=torch.float32)
        k = min(m, n)
        dQ = torch.randn(b, m, k, device=dev, generator=g); dR = torch.randn(b, k, n, device=dev, generator=g)
        fwd = lambda: torch.linalg.qr(A, mode='reduced')
        reps = 3 if m >= 1024 else a.reps
        row = {'name': f'qr {b} × {m}×{n}', 'batch': b, 'm': m, 'n': n, 'forwardMs': timeit(fwd, reps, 0 if m >= 1024 else 250)}
        if bwd:
            Ag = A.clone().requires_grad_(True)
            def fb():
                Q, R = torch.linalg.qr(Ag, mode='reduced')
                ((Q * dQ).sum() + (R * dR).sum()).backward()
            row['fwdBwdMs'] = timeit(fb, reps)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    out = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(0), 'rows': rows}
    if a.json:
        open(a.json, 'w').write(json.dumps(out, indent=1))
    print(json.dumps(out))

if __name__ == '__main__':
    main()
