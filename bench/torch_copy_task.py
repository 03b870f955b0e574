#!/usr/bin/env python3
"""The copy task in PyTorch with the projUNN reference algorithm, written here for comparison with
examples/copy-task (matc): the same model (h_{t+1} = relu(W h_t + U e_{x_t}), z_t = V h_{t+1} + c,
cross-entropy averaged over the batch and the T = L + 20 steps), data (copy_task.py's Generate_Data:
K = 10 input symbols, 9 classes), initialisation (henaff W, xavier-uniform U, kaiming-normal V,
c = 0) and optimizer: torch's RMSprop (lr, alpha 0.99, eps 1e-8) on U, V, c; on W the same
statistics on the raw gradient, the step -lr g / (sqrt(sq) + eps) divided by lr_divider, its LSI
rank-k approximation a b^T (random orthonormal R, B = sqrt(N/k) R^T D, B B^T = v e v^T,
V = B^T v / (sqrt(e) + 1e-6), a = D V, b = V) and the projUNN-T retraction through the 2k basis
(Q = qr([b, W^T a]), S = (a_o b_o^T - b_o a_o^T) / 2, W + (W Q)(expm(S) - I) Q^T), as
projunn/utils.py and projunn/optimizers.py do (seeds-math section 4.2). Data and random numbers come
from torch's generator, so the curves match matc's in distribution, not sample by sample.

Usage: python3 bench/torch_copy_task.py --L 20 --N 64 --steps 3000 --json OUT.json [--cuda]
Writes the curve in examples/copy-task/trainer.ts's JSON format (read back by its --with option)
and the mean wall time of a training step (forward, BPTT, update; CUDA-synchronised).
"""
import argparse
import json
import math
import time

import torch


def henaff(n, gen, dtype, device):
    th = (torch.rand(n // 2, generator=gen, dtype=dtype) * 2 - 1) * math.pi
    W = torch.zeros(n, n, dtype=dtype)
    for i in range(n // 2):
        c, s = math.cos(th[i]), math.sin(th[i])
        W[2 * i, 2 * i], W[2 * i, 2 * i + 1], W[2 * i + 1, 2 * i], W[2 * i + 1, 2 * i + 1] = c, s, -s, c
    return W.to(device)


def lsi(D, k, gen):
    n = D.shape[0]
    R, _ = torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=D.dtype).to(D.device))
    B = math.sqrt(n / k) * (R.T @ D)
    e, v = torch.linalg.eigh(B @ B.T)
    V = B.T @ (v / (torch.sqrt(torch.clamp(e, min=0)) + 1e-6))
    return D @ V, V


def projunn_t(W, a, b):
    ah = W.T @ a
    Q, _ = torch.linalg.qr(torch.cat([b, ah], dim=1))
    ao, bo = Q.T @ ah, Q.T @ b
    S = 0.5 * (ao @ bo.T - bo @ ao.T)
    I2 = torch.eye(S.shape[0], dtype=W.dtype, device=W.device)
    return W + (W @ Q) @ (torch.linalg.matrix_exp(S) - I2) @ Q.T


def batch(L, B, gen, device):
    s = torch.randint(1, 9, (B, 10), generator=gen)
    x = torch.cat([s, torch.zeros(B, L, dtype=torch.long), torch.full((B, 1), 9), torch.zeros(B, 9, dtype=torch.long)], 1)
    y = torch.cat([torch.zeros(B, L + 10, dtype=torch.long), s], 1)
    return x.to(device), y.to(device)


def run(L, B, W, U, V, c, x, y):
    """Mean cross-entropy over the batch and the steps; predictions of the last 10 steps."""
    T = x.shape[1]
    h = torch.zeros(x.shape[0], W.shape[0], dtype=W.dtype, device=W.device)
    loss = 0.0
    preds = []
    for t in range(T):
        h = torch.relu(h @ W.T + U.T[x[:, t]])
        z = h @ V.T + c
        loss = loss + torch.nn.functional.cross_entropy(z, y[:, t], reduction="sum")
        if t >= T - 10:
            preds.append(z.argmax(1))
    return loss / (x.shape[0] * T), torch.stack(preds, 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--L", type=int, default=1000)
    p.add_argument("--N", type=int, default=190)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--lr", type=float, default=7e-4)
    p.add_argument("--lr-divider", type=float, default=32)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--epoch-steps", type=int, default=4000)
    p.add_argument("--decay", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=5544)
    p.add_argument("--test-size", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--f64", action="store_true", help="float64 (default float32, as the reference)")
    p.add_argument("--cuda", action="store_true")
    p.add_argument("--json", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    dev = torch.device("cuda" if a.cuda else "cpu")
    dt = torch.float64 if a.f64 else torch.float32
    gen = torch.Generator().manual_seed(a.seed)
    K, C, N = 10, 9, a.N
    W = henaff(N, gen, dt, dev)
    ua = math.sqrt(6 / (K + N))
    U = ((torch.rand(N, K, generator=gen, dtype=dt) * 2 - 1) * ua).to(dev).requires_grad_()
    V = (torch.randn(C, N, generator=gen, dtype=dt) * math.sqrt(2 / N)).to(dev).requires_grad_()
    c = torch.zeros(C, dtype=dt, device=dev).requires_grad_()
    W.requires_grad_()
    opt = torch.optim.RMSprop([U, V, c], lr=a.lr, alpha=0.99, eps=1e-8)
    sq = torch.zeros_like(W)
    xt, yt = batch(a.L, a.test_size, torch.Generator().manual_seed(a.seed + 1), dev)

    def evaluate():
        with torch.no_grad():
            l, pr = run(a.L, a.test_size, W, U, V, c, xt, yt)
            return l.item(), (pr == yt[:, -10:]).double().mean().item()

    curve = []
    l0, acc0 = evaluate()
    curve.append({"step": 0, "train": None, "test": l0, "acc": acc0})
    total, count, step_time = 0.0, 0, 0.0
    for step in range(1, a.steps + 1):
        lr = a.lr * a.decay ** ((step - 1) // a.epoch_steps)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(a.L, a.batch, gen, dev)
        if a.cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad()
        W.grad = None
        loss, _ = run(a.L, a.batch, W, U, V, c, x, y)
        loss.backward()
        with torch.no_grad():
            g = W.grad
            sq.mul_(0.99).add_(0.01 * g * g)
            D = (-lr * g / (torch.sqrt(sq) + 1e-8)) / a.lr_divider
            aa, bb = lsi(D, a.k, gen)
            W.copy_(projunn_t(W, aa, bb))
        opt.step()
        if a.cuda:
            torch.cuda.synchronize()
        step_time += time.perf_counter() - t0
        total += loss.item()
        count += 1
        if step % a.eval_every == 0 or step == a.steps:
            lt, acc = evaluate()
            curve.append({"step": step, "train": total / count, "test": lt, "acc": acc})
            total, count = 0.0, 0
            print(f"step {step}: train {curve[-1]['train']:.4f} test {lt:.4f} acc {acc:.3f}", flush=True)
    with torch.no_grad():
        orth = (W.T @ W - torch.eye(N, dtype=dt, device=dev)).abs().max().item()
    out = {
        "options": vars(a),
        "implementation": "pytorch " + torch.__version__,
        "device": torch.cuda.get_device_name() if a.cuda else "cpu (1 thread)",
        "precision": "f64" if a.f64 else "f32",
        "baseline": 10 * math.log(8) / (a.L + 20),
        "step_ms": 1000 * step_time / a.steps,
        "orthError": orth,
        "curve": curve,
    }
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    print(f"held-out loss {curve[-1]['test']:.4f} (baseline {out['baseline']:.4f}), acc {curve[-1]['acc']:.3f}, step {out['step_ms']:.2f} ms, max|W^T W - I| {orth:.2e}")


if __name__ == "__main__":
    main()
