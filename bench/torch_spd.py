#!/usr/bin/env python3
"""PyTorch side of bench/spd.ts (issue 15's targets): one optimizer step of a d x p layer, written as
the same products as stdlib/spd.mat (and optimizers/local_cov.py, faster=True), on CUDA when present
(CUDA events, TF32 off) or on the CPU (time.perf_counter, --threads, default 1):

  ingd           update step (t = 0 mod T): t1 = a'(aA), t2 = g'(gB), the trace-coupled ng_A, ng_B,
                 momenta, A <- A - lr1 A m_A, the cached A A', B B', then D = B B' G A A'; plain
                 step (other t): D, momentum, W. "The same matmuls" of the issue's baseline.
  kfac           KFAC with inverses (optimizers/kfac.py): EMA of a'a and g'g, (S + lambda I)^-1 by
                 torch.linalg.inv on the update step, D = Q_g G Q_a every step.
  singd_diag     SINGD with diagonal factors (singd's DiagonalMatrix): O(n p) per step.
  singd_block30  SINGD with block-diagonal factors of 30 (singd's Block30DiagonalMatrix), blocks
                 batched as [b, 30, 30] (p padded to 30*ceil(p/30)), products by bmm/einsum.
  ingd f16       (CUDA only) the INGD steps with every tensor in float16.

p = d in --sizes (default 1024,4096; --quick 64,128), a: n x p, g: m x d with n = m = --batch
(default 128; --quick 16), T = 10. Prints one JSON line per case on stderr and the whole object on
stdout; --json FILE writes it too.

  python3 bench/torch_spd.py [--quick] [--sizes 256,1024] [--batch N] [--threads 1] [--cpu]
                             [--f64] [--reps N] [--cases ingd,kfac,...] [--json out.json]
"""
import argparse, json, math, os, resource, sys, time

T0 = time.perf_counter()

ap = argparse.ArgumentParser()
ap.add_argument('--json'); ap.add_argument('--quick', action='store_true')
ap.add_argument('--sizes'); ap.add_argument('--batch', type=int)
ap.add_argument('--threads', type=int, default=1); ap.add_argument('--cpu', action='store_true')
ap.add_argument('--f64', action='store_true'); ap.add_argument('--reps', type=int, default=10)
ap.add_argument('--cases', default='ingd,kfac,singd_diag,singd_block30')
ap.add_argument('--budget-s', type=float, default=20.0)
ap.add_argument('--verify', help="a JSON of bench/spd.ts --dump: run its 4 steps (T = 2) in f64 and compare W with matc's CPU f64 reference")
A = ap.parse_args()
# one BLAS thread (set before torch loads OpenBLAS/OpenMP)
for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(k, str(A.threads))
import torch

T = 10
HYP = dict(lr=1e-3, momentum=0.9, damping=1e-3, beta2=0.5, weight_decay=0.01, lr_cov=1e-2, lr1=2e-4,
           stat_decay=0.95, alpha1=0.5)


def sym(X):
    return (X + X.T) / 2


# ---- INGD (stdlib/spd.mat ingd; local_cov.py faster=True) ------------------------------------------
def ingd_init(p, d, dev, dt):
    I = lambda k: torch.eye(k, device=dev, dtype=dt)
    Z = lambda r, c: torch.zeros(r, c, device=dev, dtype=dt)
    return dict(A=I(p), B=I(d), mA=Z(p, p), mB=Z(d, d), PA=I(p), PB=I(d), buf=Z(d, p), Ip=I(p), Id=I(d))


def ingd_step(W, G, a, g, s, update):
    h = HYP
    if update:
        A, B = s['A'], s['B']
        d, p = W.shape
        t1 = a.T @ (a @ A); t2 = g.T @ (g @ B)
        trBB = (B * B).sum(); trAA = (A * A).sum()
        tva = (A * t1).sum(); tvb = (B * t2).sum()
        ngA = (A.T @ ((h['damping'] * trBB / d) * A + (tvb / d) * t1) - s['Ip']) / 2
        ngB = (B.T @ ((h['damping'] * trAA / p) * B + (tva / p) * t2) - s['Id']) / 2
        mA = h['beta2'] * s['mA'] + sym(ngA); mB = h['beta2'] * s['mB'] + sym(ngB)
        A = A - h['lr1'] * (A @ mA); B = B - h['lr1'] * (B @ mB)
        s = dict(s, A=A, B=B, mA=mA, mB=mB, PA=sym(A @ A.T), PB=sym(B @ B.T))
    D = s['PB'] @ G @ s['PA']
    buf = h['momentum'] * s['buf'] + D  # t < 20 T: no weight decay yet
    s = dict(s, buf=buf)
    return W - h['lr'] * buf, s


# ---- KFAC with inverses (stdlib/spd.mat kfac; optimizers/kfac.py) -----------------------------------
def kfac_init(p, d, dev, dt):
    I = lambda k: torch.eye(k, device=dev, dtype=dt)
    return dict(SA=I(p), SG=I(d), QA=I(p), QG=I(d), buf=torch.zeros(d, p, device=dev, dtype=dt), Ip=I(p), Id=I(d))


def kfac_step(W, G, a, g, s, update):
    h = HYP
    if update:
        rho, lam = h['stat_decay'], h['damping']
        SA = rho * s['SA'] + (1 - rho) * sym(a.T @ a)
        SG = rho * s['SG'] + (1 - rho) * sym(g.T @ g)
        s = dict(s, SA=SA, SG=SG, QA=sym(torch.linalg.inv(SA + lam * s['Ip'])), QG=sym(torch.linalg.inv(SG + lam * s['Id'])))
    D = s['QG'] @ G @ s['QA']
    buf = h['momentum'] * s['buf'] + D
    return W - h['lr'] * buf, dict(s, buf=buf)


# ---- SINGD, diagonal factors ---------------------------------------------------------------------------
def diag_init(p, d, dev, dt):
    return dict(K=torch.ones(p, device=dev, dtype=dt), C=torch.ones(d, device=dev, dtype=dt),
                mK=torch.zeros(p, device=dev, dtype=dt), mC=torch.zeros(d, device=dev, dtype=dt),
                buf=torch.zeros(d, p, device=dev, dtype=dt))


def diag_step(W, G, a, g, s, update):
    h = HYP
    K, C = s['K'], s['C']
    d, p = W.shape
    if update:
        HK = (K * K) * (a * a).sum(0); HC = (C * C) * (g * g).sum(0)
        KK = K * K; CC = C * C
        cK, eK = HC.sum() / d, CC.sum() / d
        cC, eC = HK.sum() / p, KK.sum() / p
        nK = 0.5 * (cK * HK + (h['damping'] * eK) * KK - 1) + h['alpha1'] * s['mK']
        nC = 0.5 * (cC * HC + (h['damping'] * eC) * CC - 1) + h['alpha1'] * s['mC']
        K = K - h['lr_cov'] * (K * nK); C = C - h['lr_cov'] * (C * nC)
        s = dict(s, K=K, C=C, mK=nK, mC=nC)
    D = (C * C)[:, None] * G * (K * K)[None, :]
    buf = h['momentum'] * s['buf'] + (D + h['weight_decay'] * W)
    return W - h['lr'] * buf, dict(s, buf=buf)


# ---- SINGD, block-diagonal factors (blocks of 30, padded) ------------------------------------------------
def blk_init(p, d, dev, dt):
    bp, bd = math.ceil(p / 30), math.ceil(d / 30)
    def I(b, k):  # identity on the k real rows/columns, 0 on the padding (which then stays 0)
        e = torch.eye(30, device=dev, dtype=dt).expand(b, 30, 30).clone()
        e.view(b * 30, 30)[k:] = 0
        return e
    Z = lambda b: torch.zeros(b, 30, 30, device=dev, dtype=dt)
    return dict(K=I(bp, p), C=I(bd, d), mK=Z(bp), mC=Z(bd), buf=torch.zeros(d, p, device=dev, dtype=dt), I30=torch.eye(30, device=dev, dtype=dt))


def pad_cols(X, b):
    k = b * 30 - X.shape[-1]
    return torch.nn.functional.pad(X, (0, k)) if k else X


def blk_step(W, G, a, g, s, update):
    h = HYP
    K, C = s['K'], s['C']
    d, p = W.shape
    bp, bd = K.shape[0], C.shape[0]
    tr = lambda X: torch.diagonal(X, dim1=-2, dim2=-1).sum()
    if update:
        Sa = torch.einsum('nbi,bij->nbj', pad_cols(a, bp).reshape(a.shape[0], bp, 30), K)
        Sg = torch.einsum('nbi,bij->nbj', pad_cols(g, bd).reshape(g.shape[0], bd, 30), C)
        HK = torch.einsum('nbi,nbj->bij', Sa, Sa); HC = torch.einsum('nbi,nbj->bij', Sg, Sg)
        KK = K.transpose(1, 2) @ K; CC = C.transpose(1, 2) @ C
        cK, eK = tr(HC) / d, tr(CC) / d
        cC, eC = tr(HK) / p, tr(KK) / p
        nK = 0.5 * (cK * HK + (h['damping'] * eK) * KK - s['I30']) + h['alpha1'] * s['mK']
        nC = 0.5 * (cC * HC + (h['damping'] * eC) * CC - s['I30']) + h['alpha1'] * s['mC']
        K = K - h['lr_cov'] * (K @ nK); C = C - h['lr_cov'] * (C @ nC)
        s = dict(s, K=K, C=C, mK=nK, mC=nC)
    PK = K @ K.transpose(1, 2); PC = C @ C.transpose(1, 2)
    Gp = torch.nn.functional.pad(G, (0, bp * 30 - p, 0, bd * 30 - d))
    X = torch.einsum('dbi,bij->dbj', Gp.reshape(bd * 30, bp, 30), PK).reshape(bd * 30, bp * 30)
    X = torch.einsum('bij,bjq->biq', PC, X.reshape(bd, 30, bp * 30)).reshape(bd * 30, bp * 30)
    D = X[:d, :p]
    buf = h['momentum'] * s['buf'] + (D + h['weight_decay'] * W)
    return W - h['lr'] * buf, dict(s, buf=buf)


CASES = {'ingd': (ingd_init, ingd_step), 'kfac': (kfac_init, kfac_step), 'singd_diag': (diag_init, diag_step), 'singd_block30': (blk_init, blk_step)}


def timeit(fn, reps, cuda, budget_s):
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    fn(); fn(); sync()  # warm-up
    out = []
    t0 = time.perf_counter()
    while len(out) < reps and (not out or time.perf_counter() - t0 < budget_s):
        if cuda:
            s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); torch.cuda.synchronize()
            out.append(s.elapsed_time(e))
        else:
            t = time.perf_counter(); fn(); out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return out[len(out) // 2], len(out)


def verify(path):
    """matc's check inputs (bench/spd.ts --dump): 4 steps at T = 2 in f64 on the CPU, W against matc's
    CPU f64 reference interpreter: the PyTorch steps compute the same update."""
    global HYP
    base = dict(HYP)
    out = []
    for c in json.load(open(path)):
        name = c['case']
        if name not in CASES:
            continue
        HYP = dict(base, **c['hyper'])
        if name.startswith('ingd'):
            HYP['lr1'] = c['hyper']['lr_cov_init']  # t <= 100
        t = lambda k: torch.tensor(c[k]['data'], dtype=torch.float64).reshape(c[k]['shape'])
        W, G, a, g = t('W'), t('G'), t('a'), t('g')
        W0 = W
        init, step = CASES[name]
        s = init(W.shape[1], W.shape[0], 'cpu', torch.float64)
        for k in range(c['steps']):
            W, s = step(W, G, a, g, s, k % c['T'] == 0)
        ref = torch.tensor(c['W_ref'], dtype=torch.float64).reshape(W.shape)
        err = float(((W - ref).abs() / ref.abs().clamp_min(1)).max())
        # and relative to the change the 4 steps made (W0 - W is not small against its error)
        dref = ref - W0
        derr = float((W - ref).norm() / dref.norm())
        out.append({'case': name, 'p': c['p'], 'n': c['n'], 'maxRelDiffW': err, 'relDiffOfUpdate': derr, 'updateNorm': float(dref.norm())})
        print(json.dumps(out[-1]), file=sys.stderr)
    HYP = base
    return out


def blas_loaded():
    """The BLAS libraries this process mapped (Linux), e.g. netlib's libblas.so.3 or OpenBLAS."""
    try:
        return sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower()})
    except OSError:
        return None


def main():
    if A.verify:
        v = verify(A.verify)
        if A.json:
            open(A.json, 'w').write(json.dumps({'verify': v}, indent=1))
        print(json.dumps({'verify': v}))
        sys.exit(0 if all(x['maxRelDiffW'] < 1e-10 and x['relDiffOfUpdate'] < 1e-8 for x in v) else 1)
    cuda = torch.cuda.is_available() and not A.cpu
    dev = 'cuda' if cuda else 'cpu'
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    else:
        torch.set_num_threads(A.threads)
    sizes = [int(x) for x in (A.sizes or ('64,128' if A.quick else '1024,4096')).split(',')]
    n = A.batch or (16 if A.quick else 128)
    dtypes = [torch.float64 if A.f64 else torch.float32] + ([torch.float16] if cuda and not A.f64 else [])
    rows = []
    for p in sizes:
        d = p
        for dt in dtypes:
            gen = torch.Generator().manual_seed(7)
            mk = lambda *sh, sc: (torch.randn(*sh, generator=gen, dtype=torch.float64) * sc).to(dev, dt)
            W, G, a, g = mk(d, p, sc=1 / math.sqrt(p)), mk(d, p, sc=0.01), mk(n, p, sc=1 / math.sqrt(n)), mk(n, d, sc=0.1)
            for name in A.cases.split(','):
                if dt == torch.float16 and name not in ('ingd', 'singd_diag'):
                    continue  # torch.linalg.inv has no f16; the f16 rows are INGD's (and diag's) products
                init, step = CASES[name]
                st = {'W': W, 's': init(p, d, dev, dt)}

                def run(update):
                    def f():
                        st['W'], st['s'] = step(st['W'], G, a, g, st['s'], update)
                    return f
                row = {'case': name + ('' if dt != torch.float16 else ' f16'), 'p': p, 'd': d, 'n': n, 'dtype': str(dt).replace('torch.', '')}
                try:
                    with torch.no_grad():
                        row['update_ms'], row['update_samples'] = timeit(run(True), A.reps, cuda, A.budget_s)
                        row['plain_ms'], row['plain_samples'] = timeit(run(False), A.reps, cuda, A.budget_s)
                    row['amortized_ms'] = (row['update_ms'] + (T - 1) * row['plain_ms']) / T
                    row['finite'] = bool(torch.isfinite(st['W']).all())
                except Exception as e:  # e.g. out of memory at 4096 f64
                    row['error'] = str(e).split('\n')[0]
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {'cpu_over_wall': (ru.ru_utime + ru.ru_stime) / (time.perf_counter() - T0),  # > 1: more than one thread ran
           'torch': torch.__version__, 'device': torch.cuda.get_device_name(0) if cuda else f'cpu ({A.threads} thread{"s" if A.threads > 1 else ""})',
           'openblas_coretype': os.environ.get('OPENBLAS_CORETYPE'), 'blas': blas_loaded(), 'T': T, 'batch': n, 'sizes': sizes, 'rows': rows}
    if A.json:
        open(A.json, 'w').write(json.dumps(out, indent=1))
    print(json.dumps(out))


main()
