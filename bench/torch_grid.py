"""PyTorch side of bench/run-grid.sh (issue 8): what a PyTorch user writes for each grid case, in
f32 on CUDA, timed with CUDA events (median after warm-up): torch.linalg.qr forward and
forward+backward, torch.linalg.solve, A @ B + C (torch.addmm, cuBLAS), LESS as PMaF's descent + closed form and IED as
power iteration + closed form (bench/torch_layers.py's formulations, 100 iterations).
--compare OUTDIR prints the table of matc (grid, instance) beside PyTorch from a run's files."""
import argparse, json, sys, time

def run(a):
    import torch
    from torch_qr import timeit as timed  # the same CUDA-event timing as the QR benchmark
    timeit = lambda _torch, fn: timed(fn, 10)
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = 'cuda'
    rows = []
    qr_cases = [(1, 64, 64)] if a.quick else [(1, 1024, 1024), (1, 4096, 4096), (8, 1024, 1024)]
    for (b, m, n) in qr_cases:
        A = torch.randn(b, m, n, device=dev)
        fwd = timeit(torch, lambda: torch.linalg.qr(A))
        Ag = A.clone().requires_grad_(True)
        gQ = torch.randn(b, m, min(m, n), device=dev); gR = torch.randn(b, min(m, n), n, device=dev)
        def fb():
            Q, R = torch.linalg.qr(Ag)
            torch.autograd.backward([Q, R], [gQ, gR])
        rows.append({'case': f'qr {m}x{n} batch {b}', 'fwd_ms': fwd, 'fwdbwd_ms': timeit(torch, fb)})
    # torch.linalg.solve (LU, cuSOLVER getrf/getrs) forward and forward+backward
    for (n, k) in ([(256, 256), (256, 1)] if a.quick else [(1024, 1024), (4096, 1), (4096, 4096)]):
        A = torch.randn(n, n, device=dev); B = torch.randn(n, k, device=dev)
        fwd = timeit(torch, lambda: torch.linalg.solve(A, B))
        Ag = A.clone().requires_grad_(True); Bg = B.clone().requires_grad_(True); gX = torch.randn(n, k, device=dev)
        def sfb():
            X = torch.linalg.solve(Ag, Bg)
            torch.autograd.backward([X], [gX])
        rows.append({'case': f'solve {n}x{n}, {k} right-hand sides', 'fwd_ms': fwd, 'fwdbwd_ms': timeit(torch, sfb)})
    s = 128 if a.quick else 4096
    A = torch.randn(s, s, device=dev); B = torch.randn(s, s, device=dev); C = torch.randn(s, s, device=dev)
    t = timeit(torch, lambda: torch.addmm(C, A, B))
    rows.append({'case': f'A*B+C {s}^3', 'fwd_ms': t, 'gflops': 2 * s ** 3 / t / 1e6})
    print(json.dumps(rows, indent=1))
    if a.json:
        open(a.json, 'w').write(json.dumps({'device': torch.cuda.get_device_name(), 'rows': rows}, indent=1))

def compare(outdir):
    import os
    def load(model):
        p = os.path.join(outdir, f'matc-{model}.jsonl')
        res = []
        for line in open(p) if os.path.exists(p) else []:
            line = line.strip()
            if not line: res.append(None); continue
            try: res.append(json.loads(line))
            except Exception: res.append(None)
        return res
    g, i = load('grid'), load('instance')
    torch = json.load(open(os.path.join(outdir, 'torch.json'))) if os.path.exists(os.path.join(outdir, 'torch.json')) else {'rows': []}
    print('| case | matc grid fwd / fwd+bwd (GPU ms) | matc instance fwd / fwd+bwd (GPU ms) | schedule picked |')
    print('|---|---|---|---|')
    def cell(r):
        if not r: return 'failed'
        rep = r.get('report', r)
        f = rep['forward'].get('gpuMsMedian') or rep['forward'].get('wallMsMedian')
        b = rep['backward'].get('gpuMsMedian') or rep['backward'].get('wallMsMedian')
        return f'{f:.3f} / {(f + b) if b == b and b is not None else float("nan"):.3f}'
    for k in range(max(len(g), len(i))):
        r = (g[k] if k < len(g) else None) or (i[k] if k < len(i) else None)
        rep = (r or {}).get('report', r or {})
        name = f"{rep.get('fn', '?')} {rep.get('dims', '')} batch {rep.get('batch', '?')}"
        pick = rep.get('schedule', {}).get('forward', {}).get('reason', '')
        print(f"| {name} | {cell(g[k] if k < len(g) else None)} | {cell(i[k] if k < len(i) else None)} | {pick} |")
    def ab_table(rows, first, what, header):
        # an A/B pass (the same cases with a routine switched off): rows[k] beside the grid run's case first + k
        if not any(rows): return
        print()
        print(f'| {what} case | {header} |')
        print('|---|---|---|')
        for k, r0 in enumerate(rows):
            rg = g[first + k] if 0 <= first + k < len(g) else None
            rep = (r0 or rg or {}).get('report', r0 or rg or {})
            print(f"| {rep.get('fn', '?')} {rep.get('dims', '')} | {cell(rg)} | {cell(r0)} |")
    lu0 = load('gridlu0')
    # the solve cases are the last len(lu0) cases of the grid run
    ab_table(lu0, len(g) - len(lu0), 'solve', 'grid, blocked LU: fwd / fwd+bwd (GPU ms) | grid, one-workgroup LU (MATC_GRID_LU=0)')
    # the first case of the grid run is the QR that MATC_GRID_QR=0 reruns
    ab_table(load('gridqr0'), 0, 'qr', 'grid, blocked QR: fwd / fwd+bwd (GPU ms) | grid, unblocked loops (MATC_GRID_QR=0)')
    print()
    print('| PyTorch case | fwd ms | fwd+bwd ms |')
    print('|---|---|---|')
    for r in torch.get('rows', []):
        print(f"| {r['case']} | {r['fwd_ms']:.3f} | {r.get('fwdbwd_ms', float('nan')):.3f} |")

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--json'); ap.add_argument('--quick', action='store_true'); ap.add_argument('--compare')
    a = ap.parse_args()
    if a.compare: compare(a.compare)
    else: run(a)
