#!/usr/bin/env python3
"""External oracles for the structured SPD optimizers (stdlib/spd.mat): writes test/fixtures/spd.json.

    /usr/bin/python3 test/oracles/gen_spd_fixtures.py        (from the repository root; torch + numpy)

Nothing here imports or runs matc. Everything is torch float64 (single thread, fixed seeds).

The reference test of SINGD (f-dangel/singd @1ac69a3, test/optim/test_lin2023simplifying.py), redone
with the original code transcribed below:

* the network Conv2d(1→3, k5, s2) → ReLU → Flatten → ReLU → Linear(432→50) → ReLU → Linear(50→10),
  cross-entropy, batch 32, initialised by torch.manual_seed(0) in float64;
* data: MNIST is not available offline, so the inputs are the 8×8 digits of examples/data/digits.csv.gz
  (pixels / 16) upsampled ×3 (nearest) and zero-padded by 2 to 28×28 — batch s is rows 32s … 32s+31;
* `LocalOptimizer` (yorkerlin/StructuredNGD-DL @288b20c, optimizers/local_cov.py) and its
  `ComputeCovA`/`ComputeCovG` (utils/kfac_utils.py), transcribed line for line below with
  `device='cuda'` removed and the prints dropped — hooks included (register_forward_pre_hook,
  register_backward_hook), `faster=True`, the §2.7 hyper-parameters (lr 5e-4, damping 1e-4,
  momentum 0.9, weight decay 1e-2, lr_cov 1e-2, T = 1, beta2 0.5), 30 steps;
* `KFACOptimizer` (optimizers/kfac.py, matrix inverses) the same way, 10 steps;
* SINGD (singd/optim/optimizer.py `_update_preconditioner`, `_compute_natural_gradient`, `_step`) with
  its structures (singd/structures/*.py: dense, diagonal, block30diagonal, hierarchical15_15,
  triltoeplitz, triutoeplitz and the four rank-one-plus-diagonal triangular classes), transcribed as
  small torch classes below; each run 6 steps with T = 2 (so both sides of the T-step branch run),
  plain INGD, `kfac_like` (IKFAC) and `normalize_lr_cov`. SINGD's statistics follow its own
  conventions (process_input / process_grad_output: â = [a, 1]/√rows, ĝ = g·√batch).

Cross-checks inside this script (it exits on failure): the backward hooks' grad_output equals the
autograd gradient of each layer's pre-activation; SINGD-dense transcription == LocalOptimizer on the
30 steps (the singd test, here to 1e-10 in float64); every structure's to_dense(from_dense(X)) has
its zero pattern, `@` of two structured matrices equals the dense product, rmatmat/matmul equal the
dense products, and from_inner equals the projection of the dense inner product.

Matrices with more than 100 entries are stored as sketches: M·x and Mᵀ·y for the fixed vectors
`sketch[str(cols)]`, `sketch[str(rows)]` stored in the file, plus trace and Frobenius norm; smaller ones
in full. The final states of layers 1 and 3 and the C factor of layer 2 are also stored in full.
"""

import gzip
import json
import math
import os
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 32


def fail(msg):
    sys.exit("CHECK FAILED: " + msg)


# ---- data -----------------------------------------------------------------------------------------

def load_digits():
    with gzip.open(os.path.join(ROOT, "examples/data/digits.csv.gz"), "rt") as f:
        rows = [list(map(float, line.split(","))) for line in f if line.strip()]
    arr = np.array(rows)
    return arr[:, :64] / 16.0, arr[:, 64].astype(int)


def image28(x64):
    """8×8 → 24×24 (nearest, ×3) → 28×28 (zero padding 2)."""
    img = np.kron(x64.reshape(8, 8), np.ones((3, 3)))
    return np.pad(img, 2)


def batch(s, X, y):
    idx = range(BATCH * s, BATCH * (s + 1))
    imgs = np.stack([image28(X[i]) for i in idx])[:, None, :, :]
    return torch.tensor(imgs), torch.tensor([y[i] for i in idx])


def im2col(x):
    """(B, 1, 28, 28) → (B, 144, 25): P[b, oh*12 + ow, kh*5 + kw] = x[b, 0, 2 oh + kh, 2 ow + kw]."""
    B = x.shape[0]
    P = np.zeros((B, 144, 25))
    xn = x.numpy()
    for oh in range(12):
        for ow in range(12):
            P[:, oh * 12 + ow, :] = xn[:, 0, 2 * oh:2 * oh + 5, 2 * ow:2 * ow + 5].reshape(B, 25)
    return P


def lcg_uniform(seed, n):
    """n numbers in [0, 1) from a 32-bit LCG (exact dyadic values: the TypeScript test makes the same)."""
    out = []
    s = seed & 0xFFFFFFFF
    for _ in range(n):
        s = (1664525 * s + 1013904223) & 0xFFFFFFFF
        out.append((s >> 8) / 16777216.0)
    return out


def init_layer(m, seed):
    """PyTorch's default bounds (±1/√fan_in, weight and bias), drawn from lcg_uniform instead of torch's
    generator so that the test can make the same weights without storing them."""
    w = m.weight.data.reshape(m.weight.shape[0], -1)
    fan_in = w.shape[1]
    bound = 1.0 / math.sqrt(fan_in)
    u = lcg_uniform(seed, w.numel() + m.bias.numel())
    full = torch.tensor([bound * (2.0 * v - 1.0) for v in u]).reshape(w.shape[0], fan_in + 1)
    m.weight.data.copy_(full[:, :fan_in].reshape(m.weight.shape))
    m.bias.data.copy_(full[:, fan_in])


def make_model():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, kernel_size=5, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.ReLU(),
        nn.Linear(432, 50),
        nn.ReLU(),
        nn.Linear(50, 10),
    )
    for k, m in enumerate(layers_of(model)):
        init_layer(m, 1 + k)
    return model


def layers_of(model):
    return [m for m in model.modules() if m.__class__.__name__ in ("Linear", "Conv2d")]


def weight_matrix(m):
    w = m.weight.data.reshape(m.weight.shape[0], -1)
    return torch.cat([w, m.bias.data.reshape(-1, 1)], 1)


def mat_of(m, attr):
    """weight/bias (or their momentum buffers) of a layer as one matrix, bias last."""
    w, b = attr(m.weight), attr(m.bias)
    return torch.cat([w.reshape(w.shape[0], -1), b.reshape(-1, 1)], 1)


# ---- LocalOptimizer and KFACOptimizer, transcribed (StructuredNGD-DL @288b20c) --------------------

def _extract_patches(x, kernel_size, stride, padding, groups, compute_grad=True):
    if padding[0] + padding[1] > 0:
        x = F.pad(x, (padding[1], padding[1], padding[0], padding[0])).data
    x = x.unfold(2, kernel_size[0], stride[0])
    x = x.unfold(3, kernel_size[1], stride[1])
    x = x.transpose_(1, 2).transpose_(2, 3).contiguous()
    return torch.mean(x.reshape((x.size(0), x.size(1), x.size(2), groups, -1, x.size(4), x.size(5))), 3).view(
        x.size(0), x.size(1), x.size(2), -1)


def update_running_stat(aa, m_aa, stat_decay):
    m_aa *= stat_decay / (1 - stat_decay)
    m_aa += aa
    m_aa *= (1 - stat_decay)


class ComputeCovA:
    @classmethod
    def __call__(cls, a, layer):
        if isinstance(layer, nn.Linear):
            return cls.linear(a, layer)
        if isinstance(layer, nn.Conv2d):
            return cls.conv2d(a, layer)
        return None

    @staticmethod
    def conv2d(a, layer):
        batch_size = a.size(0)
        a = _extract_patches(a, layer.kernel_size, layer.stride, layer.padding, layer.groups, compute_grad=False)
        spatial_size = a.size(1) * a.size(2)
        a = a.view(-1, a.size(-1))
        if layer.bias is not None:
            shape = list(a.shape[:-1]) + [1]
            a = torch.cat([a, a.new_ones(shape)], dim=-1)
        a = a / spatial_size
        return a.t() @ (a / batch_size)

    @staticmethod
    def linear(a, layer):
        b = a.reshape(-1, a.size(-1))
        batch_size = a.size(0)
        if layer.bias is not None:
            shape = list(b.shape[:-1]) + [1]
            b = torch.cat([b, b.new_ones(shape)], dim=-1)
        return b.t() @ (b / batch_size)


class ComputeCovG:
    @classmethod
    def __call__(cls, g, layer, batch_averaged):
        if isinstance(layer, nn.Conv2d):
            return cls.conv2d(g, layer, batch_averaged)
        if isinstance(layer, nn.Linear):
            return cls.linear(g, layer, batch_averaged)
        return None

    @staticmethod
    def conv2d(g, layer, batch_averaged):
        spatial_size = g.size(2) * g.size(3)
        batch_size = g.shape[0]
        g = g.transpose(1, 2).transpose(2, 3)
        g = g.contiguous()
        g = g.view(-1, g.size(-1))
        if batch_averaged:
            g = g * batch_size
        g = g * spatial_size
        return g.t() @ (g / g.size(0))

    @staticmethod
    def linear(g, layer, batch_averaged):
        batch_size = g.size(0)
        g = g.reshape(-1, g.size(-1))
        if batch_averaged:
            return g.t() @ (g * batch_size)
        return g.t() @ (g / batch_size)


class LocalOptimizer(torch.optim.Optimizer):
    def __init__(self, model, lr=0.001, momentum=0.9, damping=0.001, beta2=0.5, weight_decay=1e-2,
                 TCov=10, TInv=10, faster=True, lr_cov=1e-2, batch_averaged=True):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.damping = damping
        self.faster = bool(faster)
        if faster:
            assert TCov == TInv
        super(LocalOptimizer, self).__init__(model.parameters(), defaults)
        self.CovAHandler = ComputeCovA()
        self.CovGHandler = ComputeCovG()
        self.batch_averaged = batch_averaged
        self.known_modules = {'Linear', 'Conv2d'}
        self.modules = []
        self.model = model
        self._prepare_model()
        self.steps = 0
        self.beta2 = beta2
        self.lr_cov = lr_cov
        self.aa, self.gg = {}, {}
        self.A, self.B = {}, {}
        self.m_A, self.m_B = {}, {}
        self.TCov = TCov
        self.TInv = TInv
        self.grad_outputs_seen = {}

    def _save_input(self, module, input):
        if torch.is_grad_enabled() and self.steps % self.TCov == 0:
            aa = self.CovAHandler(input[0].data, module)
            if self.steps == 0:
                self.A[module] = torch.diag(aa.new(aa.size(0)).fill_(1))
                self.m_A[module] = torch.zeros_like(self.A[module])
            self.aa[module] = aa

    def _save_grad_output(self, module, grad_input, grad_output):
        self.grad_outputs_seen[module] = grad_output[0].data.clone()
        if self.acc_stats and self.steps % self.TCov == 0:
            gg = self.CovGHandler(grad_output[0].data, module, self.batch_averaged)
            if self.steps == 0:
                self.B[module] = torch.diag(gg.new(gg.size(0)).fill_(1))
                self.m_B[module] = torch.zeros_like(self.B[module])
            self.gg[module] = gg

    def _prepare_model(self):
        for module in self.model.modules():
            if module.__class__.__name__ in self.known_modules:
                self.modules.append(module)
                module.register_forward_pre_hook(self._save_input)
                module.register_backward_hook(self._save_grad_output)

    def _update_local(self, m):
        damping = self.damping
        d = self.gg[m].size(0)
        p = self.aa[m].size(0)
        if self.faster:
            tr_B_tB = torch.sum((self.B[m]) ** 2)
            tr_A_tA = torch.sum((self.A[m]) ** 2)
            t1 = self.aa[m] @ self.A[m]
            t2 = self.gg[m] @ self.B[m]
            tr_v_a = torch.sum(self.A[m] * t1)
            tr_v_b = torch.sum(self.B[m] * t2)
            ng_a = (self.A[m].t() @ ((damping * tr_B_tB / d) * self.A[m] + (tr_v_b / d) * t1) - torch.eye(p)) / 2.0
            ng_b = (self.B[m].t() @ ((damping * tr_A_tA / p) * self.B[m] + (tr_v_a / p) * t2) - torch.eye(d)) / 2.0
        else:
            raise NotImplementedError
        if self.steps <= 100:
            lr1 = 2e-4
        elif self.steps < 500:
            lr1 = 2e-3
        else:
            lr1 = self.lr_cov
        beta2 = self.beta2
        self.m_A[m].mul_(beta2).add_((ng_a + ng_a.t()) / 2.0)
        self.A[m].add_((self.A[m] @ self.m_A[m]), alpha=-lr1)
        self.m_B[m].mul_(beta2).add_((ng_b + ng_b.t()) / 2.0)
        self.B[m].add_((self.B[m] @ self.m_B[m]), alpha=-lr1)
        if self.faster:
            self.aa[m] = self.A[m] @ (self.A[m].t())
            self.gg[m] = self.B[m] @ (self.B[m].t())

    @staticmethod
    def _get_matrix_form_grad(m, classname):
        if classname == 'Conv2d':
            p_grad_mat = m.weight.grad.data.view(m.weight.grad.data.size(0), -1)
        else:
            p_grad_mat = m.weight.grad.data
        if m.bias is not None:
            p_grad_mat = torch.cat([p_grad_mat, m.bias.grad.data.view(-1, 1)], 1)
        return p_grad_mat

    def _update_natural_grad(self, m, p_grad_mat, damping, momentum):
        v = self.gg[m] @ p_grad_mat @ self.aa[m]
        m.weight.grad.data.copy_(v[:, :-1].view(m.weight.grad.data.size()))
        m.bias.grad.data.copy_(v[:, -1:].view(m.bias.grad.data.size()))
        return v

    def _step(self, closure):
        for group in self.param_groups:
            weight_decay = group['weight_decay']
            momentum = group['momentum']
            for p in group['params']:
                if p.grad is None:
                    continue
                d_p = p.grad.data
                if weight_decay != 0 and self.steps >= 20 * self.TCov:
                    d_p.add_(p.data, alpha=weight_decay)
                if momentum != 0:
                    param_state = self.state[p]
                    if 'momentum_buffer' not in param_state:
                        buf = param_state['momentum_buffer'] = torch.zeros_like(p.data)
                    else:
                        buf = param_state['momentum_buffer']
                    buf.mul_(momentum).add_(d_p)
                    d_p = buf
                p.data.add_(d_p, alpha=-group['lr'])

    def step(self, closure=None):
        group = self.param_groups[0]
        momentum = group['momentum']
        damping = self.damping
        for m in self.modules:
            classname = m.__class__.__name__
            if self.steps % self.TInv == 0:
                self._update_local(m)
            p_grad_mat = self._get_matrix_form_grad(m, classname)
            self._update_natural_grad(m, p_grad_mat, damping, momentum)
        self._step(closure)
        self.steps += 1


class KFACOptimizer(torch.optim.Optimizer):
    def __init__(self, model, lr=0.001, momentum=0.9, stat_decay=0.95, damping=0.001, weight_decay=1e-2,
                 TCov=10, TInv=10, batch_averaged=True):
        defaults = dict(lr=lr, momentum=momentum, damping=damping, weight_decay=weight_decay)
        super(KFACOptimizer, self).__init__(model.parameters(), defaults)
        self.CovAHandler = ComputeCovA()
        self.CovGHandler = ComputeCovG()
        self.batch_averaged = batch_averaged
        self.known_modules = {'Linear', 'Conv2d'}
        self.modules = []
        self.model = model
        self._prepare_model()
        self.steps = 0
        self.m_aa, self.m_gg = {}, {}
        self.Q_a, self.Q_g = {}, {}
        self.stat_decay = stat_decay
        self.TCov = TCov
        self.TInv = TInv

    def _save_input(self, module, input):
        if torch.is_grad_enabled() and self.steps % self.TCov == 0:
            aa = self.CovAHandler(input[0].data, module)
            if self.steps == 0:
                self.m_aa[module] = torch.diag(aa.new(aa.size(0)).fill_(1))
            update_running_stat(aa, self.m_aa[module], self.stat_decay)

    def _save_grad_output(self, module, grad_input, grad_output):
        if self.acc_stats and self.steps % self.TCov == 0:
            gg = self.CovGHandler(grad_output[0].data, module, self.batch_averaged)
            if self.steps == 0:
                self.m_gg[module] = torch.diag(gg.new(gg.size(0)).fill_(1))
            update_running_stat(gg, self.m_gg[module], self.stat_decay)

    def _prepare_model(self):
        for module in self.model.modules():
            if module.__class__.__name__ in self.known_modules:
                self.modules.append(module)
                module.register_forward_pre_hook(self._save_input)
                module.register_backward_hook(self._save_grad_output)

    def _inv_covs(self, m, damping):
        eps = damping
        diag_aat = self.m_aa[m].new(self.m_aa[m].shape[0]).fill_(eps)
        diag_ggt = self.m_gg[m].new(self.m_gg[m].shape[0]).fill_(eps)
        self.Q_a[m] = (self.m_aa[m] + torch.diag(diag_aat)).inverse()
        self.Q_g[m] = (self.m_gg[m] + torch.diag(diag_ggt)).inverse()

    def _update_natural_grad(self, m, p_grad_mat, damping):
        v = self.Q_g[m] @ p_grad_mat @ self.Q_a[m]
        m.weight.grad.data.copy_(v[:, :-1].view(m.weight.grad.data.size()))
        m.bias.grad.data.copy_(v[:, -1:].view(m.bias.grad.data.size()))
        return v

    def _step(self, closure):
        for group in self.param_groups:
            weight_decay = group['weight_decay']
            momentum = group['momentum']
            for p in group['params']:
                if p.grad is None:
                    continue
                d_p = p.grad.data
                if weight_decay != 0 and self.steps >= 20 * self.TCov:
                    d_p.add_(p.data, alpha=weight_decay)
                if momentum != 0:
                    param_state = self.state[p]
                    if 'momentum_buffer' not in param_state:
                        buf = param_state['momentum_buffer'] = torch.zeros_like(p.data)
                        buf.mul_(momentum).add_(d_p)
                    else:
                        buf = param_state['momentum_buffer']
                        buf.mul_(momentum).add_(d_p)
                    d_p = buf
                p.data.add_(d_p, alpha=-group['lr'])

    def step(self, closure=None):
        group = self.param_groups[0]
        damping = group['damping']
        for m in self.modules:
            classname = m.__class__.__name__
            if self.steps % self.TInv == 0:
                self._inv_covs(m, damping)
            p_grad_mat = LocalOptimizer._get_matrix_form_grad(m, classname)
            self._update_natural_grad(m, p_grad_mat, damping)
        self._step(closure)
        self.steps += 1


# ---- SINGD's structures (f-dangel/singd @1ac69a3, singd/structures/*.py), transcribed --------------
# Each class keeps singd's storage, from_dense (the projection Π, for symmetric arguments),
# to_dense, @ (structured × structured and structured × dense), rmatmat, from_inner, average_trace,
# diag_add_ and infinity_vector_norm; `fields` lists the storage tensors in singd's order.

def all_traces(mat):
    n = mat.shape[0]
    return torch.stack([torch.diagonal(mat, offset=o).sum() for o in range(-(n - 1), n)])


class Dense:
    name = "dense"

    def __init__(self, M):
        self.M = M

    fields = property(lambda s: [s.M])

    @classmethod
    def from_dense(cls, X):
        return cls(X.clone())

    def to_dense(self):
        return self.M

    def matmul(self, X):
        return self.M @ X

    def mul(self, o):
        return Dense(self.M @ o.M)

    def rmatmat(self, X):
        return self.M.T @ X

    def from_inner(self, X=None):
        S = self.M.T if X is None else self.rmatmat(X)
        return Dense(S @ S.T)

    @classmethod
    def eye(cls, n):
        return cls(torch.eye(n))

    @classmethod
    def zeros(cls, n):
        return cls(torch.zeros(n, n))


class Diagonal(Dense):
    name = "diagonal"

    def __init__(self, d):
        self.d = d

    fields = property(lambda s: [s.d])

    @classmethod
    def from_dense(cls, X):
        return cls(X.diag().clone())

    def to_dense(self):
        return self.d.diag()

    def matmul(self, X):
        return self.d[:, None] * X

    def mul(self, o):
        return Diagonal(self.d * o.d)

    def rmatmat(self, X):
        return self.matmul(X)

    def from_inner(self, X=None):
        d = self.d ** 2
        if X is not None:
            d = d * (X ** 2).sum(1)
        return Diagonal(d)

    @classmethod
    def eye(cls, n):
        return cls(torch.ones(n))

    @classmethod
    def zeros(cls, n):
        return cls(torch.zeros(n))


class Block30Diagonal(Dense):
    name = "block30diagonal"
    BLOCK = 30

    def __init__(self, blocks, last):
        self.blocks, self.last = blocks, last

    fields = property(lambda s: [s.blocks, s.last])

    @classmethod
    def from_dense(cls, X):
        nb = X.shape[0] // cls.BLOCK
        e = nb * cls.BLOCK
        last = X[e:, e:].clone()
        M = X[:e, :e].reshape(nb, cls.BLOCK, nb, cls.BLOCK)
        idx = torch.arange(nb)
        return cls(M[idx, :, idx, :].clone(), last)

    def to_dense(self):
        nb = self.blocks.shape[0]
        n = nb * self.BLOCK + self.last.shape[0]
        out = torch.zeros(n, n)
        for i in range(nb):
            out[i * 30:(i + 1) * 30, i * 30:(i + 1) * 30] = self.blocks[i]
        out[nb * 30:, nb * 30:] = self.last
        return out

    def matmul(self, X):
        nb = self.blocks.shape[0]
        top, bot = X[:nb * 30], X[nb * 30:]
        top = torch.einsum("nij,njk->nik", self.blocks, top.reshape(nb, 30, X.shape[1])).reshape(nb * 30, X.shape[1])
        return torch.cat([top, self.last @ bot])

    def mul(self, o):
        return Block30Diagonal(torch.einsum("nij,njk->nik", self.blocks, o.blocks), self.last @ o.last)

    def rmatmat(self, X):
        # Kᵀ X, as singd's docstring says; its code (`self @ mat`, @1ac69a3) multiplies by K itself,
        # which differs once K's blocks are no longer symmetric (after the first factor update)
        nb = self.blocks.shape[0]
        top, bot = X[:nb * 30], X[nb * 30:]
        top = torch.einsum("nji,njk->nik", self.blocks, top.reshape(nb, 30, X.shape[1])).reshape(nb * 30, X.shape[1])
        return torch.cat([top, self.last.T @ bot])

    def from_inner(self, X=None):
        if X is None:
            return Block30Diagonal(torch.einsum("nij,nkj->nik", self.blocks, self.blocks), self.last @ self.last.T)
        S = self.rmatmat(X)
        nb = self.blocks.shape[0]
        Sb, Sl = S[:nb * 30].reshape(nb, 30, S.shape[1]), S[nb * 30:]
        return Block30Diagonal(torch.einsum("nij,nkj->nik", Sb, Sb), Sl @ Sl.T)

    @classmethod
    def eye(cls, n):
        nb, r = divmod(n, 30)
        return cls(torch.eye(30).unsqueeze(0).repeat(nb, 1, 1), torch.eye(r))

    @classmethod
    def zeros(cls, n):
        nb, r = divmod(n, 30)
        return cls(torch.zeros(nb, 30, 30), torch.zeros(r, r))


class Hierarchical15_15(Dense):
    name = "hierarchical15_15"
    MAX_K1 = 15
    MAX_K2 = 15

    def __init__(self, A, B, C, D, E):
        self.A, self.B, self.C, self.D, self.E = A, B, C, D, E
        self.K1, self.K2, self.dC = A.shape[0], E.shape[0], C.shape[0]

    fields = property(lambda s: [s.A, s.B, s.C, s.D, s.E])

    @classmethod
    def dims(cls, n):
        if n <= cls.MAX_K1:
            return n, 0, 0
        if n <= cls.MAX_K1 + cls.MAX_K2:
            return cls.MAX_K1, 0, n - cls.MAX_K1
        return cls.MAX_K1, n - cls.MAX_K1 - cls.MAX_K2, cls.MAX_K2

    @classmethod
    def from_dense(cls, X):
        K1, dC, _ = cls.dims(X.shape[0])
        return cls(X[:K1, :K1].clone(), 2 * X[:K1, K1:], X.diag()[K1:K1 + dC].clone(),
                   2 * X[K1 + dC:, K1:K1 + dC], X[K1 + dC:, K1 + dC:].clone())

    def to_dense(self):
        K1, dC = self.K1, self.dC
        n = K1 + self.K2 + dC
        out = torch.zeros(n, n)
        out[:K1, :K1] = self.A
        out[:K1, K1:] = self.B
        i = torch.arange(K1, K1 + dC)
        out[i, i] = self.C
        out[K1 + dC:, K1:K1 + dC] = self.D
        out[K1 + dC:, K1 + dC:] = self.E
        return out

    def matmul(self, X):
        B_C, B_E = self.B.split([self.dC, self.K2], dim=1)
        t, m, b = X.split([self.K1, self.dC, self.K2])
        return torch.cat([self.A @ t + B_C @ m + B_E @ b, self.C[:, None] * m, self.D @ m + self.E @ b])

    def mul(self, o):
        B_C, B_E = self.B.split([self.dC, self.K2], dim=1)
        oB_C, oB_E = o.B.split([o.dC, o.K2], dim=1)
        return Hierarchical15_15(self.A @ o.A,
                                 torch.cat([self.A @ oB_C + B_C * o.C[None, :] + B_E @ o.D, self.A @ oB_E + B_E @ o.E], 1),
                                 self.C * o.C, self.D * o.C[None, :] + self.E @ o.D, self.E @ o.E)

    def rmatmat(self, X):
        t, m, b = X.split([self.K1, self.dC, self.K2])
        B_C, B_E = self.B.split([self.dC, self.K2], dim=1)
        return torch.cat([self.A.T @ t, B_C.T @ t + self.C[:, None] * m + self.D.T @ b, B_E.T @ t + self.E.T @ b])

    def from_inner(self, X=None):
        if X is None:
            B_C, B_E = self.B.split([self.dC, self.K2], dim=1)
            return Hierarchical15_15(self.A.T @ self.A, 2 * self.A.T @ self.B, self.C ** 2 + (B_C ** 2).sum(0) + (self.D ** 2).sum(0),
                                     2 * (B_E.T @ B_C + self.E.T @ self.D), self.E.T @ self.E + B_E.T @ B_E)
        SA, SC, SE = self.rmatmat(X).split([self.K1, self.dC, self.K2])
        return Hierarchical15_15(SA @ SA.T, 2 * torch.cat([SA @ SC.T, SA @ SE.T], 1), (SC ** 2).sum(1), 2 * SE @ SC.T, SE @ SE.T)

    @classmethod
    def eye(cls, n):
        K1, dC, K2 = cls.dims(n)
        return cls(torch.eye(K1), torch.zeros(K1, dC + K2), torch.ones(dC), torch.zeros(K2, dC), torch.eye(K2))

    @classmethod
    def zeros(cls, n):
        K1, dC, K2 = cls.dims(n)
        return cls(torch.zeros(K1, K1), torch.zeros(K1, dC + K2), torch.zeros(dC), torch.zeros(K2, dC), torch.zeros(K2, K2))


def toeplitz_matmul(coeffs, mat):
    """singd.structures.utils.toeplitz_matmul, by a dense Toeplitz matrix (same values)."""
    n = mat.shape[0]
    T = torch.zeros(n, n)
    for i in range(n):
        for j in range(n):
            # conv1d with padding n-1: out[i] = Σ_k coeffs[k] x[i + k - (n - 1)]
            T[i, j] = coeffs[j - i + n - 1]
    return T @ mat


class TrilToeplitz(Dense):
    name = "triltoeplitz"

    def __init__(self, c):
        self.c = c

    fields = property(lambda s: [s.c])

    @classmethod
    def from_dense(cls, X):
        tr = all_traces(X)
        n = X.shape[0]
        col = torch.zeros(n)
        col[0] += tr[n - 1]
        col[1:] += tr[n:]
        col[1:] += tr[:n - 1].flip(0)
        return cls(col / torch.arange(n, 0, step=-1, dtype=X.dtype))

    def to_dense(self):
        n = self.c.shape[0]
        i, j = torch.tril_indices(n, n)
        out = torch.zeros(n, n)
        out[i, j] = self.c[i - j]
        return out

    def matmul(self, X):
        n = self.c.shape[0]
        return toeplitz_matmul(torch.cat([self.c.flip(0), torch.zeros(n - 1)]), X)

    def mul(self, o):
        n = self.c.shape[0]
        inp = F.pad(o.c, (n - 1, 0)).unsqueeze(0)
        w = self.c.flip(0).unsqueeze(0).unsqueeze(0)
        return TrilToeplitz(F.conv1d(inp, w).squeeze(0))

    def rmatmat(self, X):
        n = self.c.shape[0]
        return toeplitz_matmul(torch.cat([torch.zeros(n - 1), self.c]), X)

    def from_inner(self, X=None):  # singd: the naive StructuredMatrix.from_inner
        S = self.to_dense().T if X is None else self.rmatmat(X)
        return type(self).from_dense(S @ S.T)

    @classmethod
    def eye(cls, n):
        c = torch.zeros(n)
        c[0] = 1.0
        return cls(c)

    @classmethod
    def zeros(cls, n):
        return cls(torch.zeros(n))


class TriuToeplitz(TrilToeplitz):
    name = "triutoeplitz"

    def to_dense(self):
        n = self.c.shape[0]
        i, j = torch.triu_indices(n, n)
        out = torch.zeros(n, n)
        out[i, j] = self.c[j - i]
        return out

    def matmul(self, X):
        n = self.c.shape[0]
        return toeplitz_matmul(torch.cat([torch.zeros(n - 1), self.c]), X)

    def mul(self, o):
        n = self.c.shape[0]
        inp = F.pad(o.c, (n - 1, 0)).unsqueeze(0)
        w = self.c.flip(0).unsqueeze(0).unsqueeze(0)
        return TriuToeplitz(F.conv1d(inp, w).squeeze(0))

    def rmatmat(self, X):
        n = self.c.shape[0]
        return toeplitz_matmul(torch.cat([self.c.flip(0), torch.zeros(n - 1)]), X)


class Recursive(Dense):
    """singd.structures.recursive: [[A, 0], [B, C]] (bottom-left, `tril`) or [[A, B], [0, C]]
    (top-right, `triu`), A and C dense or diagonal, one of them 1×1 (MAX_DIMS)."""
    tril = True
    A_diag = False  # A diagonal (C dense 1×1) or A dense 1×1 (C diagonal)

    def __init__(self, A, B, C):
        self.A, self.B, self.C = A, B, C

    fields = property(lambda s: [s.A, s.B, s.C])

    @classmethod
    def boundary(cls, n):
        return max(0, n - 1) if cls.A_diag else min(1, n)

    @classmethod
    def sub(cls, X, which):
        diag = (which == "A") == cls.A_diag
        return X.diag().clone() if diag else X.clone()

    @classmethod
    def dense_of(cls, S, which):
        diag = (which == "A") == cls.A_diag
        return S.diag() if diag else S

    @classmethod
    def from_dense(cls, X):
        b = cls.boundary(X.shape[0])
        A = cls.sub(X[:b, :b], "A")
        C = cls.sub(X[b:, b:], "C")
        B = X[b:, :b] + X[:b, b:].T if cls.tril else X[:b, b:] + X[b:, :b].T
        return cls(A, B, C)

    def to_dense(self):
        A, C = self.dense_of(self.A, "A"), self.dense_of(self.C, "C")
        b = A.shape[0]
        out = torch.block_diag(A, C)
        if self.tril:
            out[b:, :b] = self.B
        else:
            out[:b, b:] = self.B
        return out

    # the naive StructuredMatrix methods (singd does not specialise them for these classes)
    def matmul(self, X):
        return self.to_dense() @ X

    def rmatmat(self, X):
        return self.to_dense().T @ X

    def mul(self, o):
        return type(self).from_dense_exact(self.to_dense() @ o.to_dense())

    @classmethod
    def from_dense_exact(cls, M):
        b = cls.boundary(M.shape[0])
        A = cls.sub(M[:b, :b], "A")
        C = cls.sub(M[b:, b:], "C")
        B = M[b:, :b].clone() if cls.tril else M[:b, b:].clone()
        return cls(A, B, C)

    def from_inner(self, X=None):
        S = self.to_dense().T if X is None else self.rmatmat(X)
        return type(self).from_dense(S @ S.T)

    @classmethod
    def eye(cls, n):
        return cls.from_dense(torch.eye(n))

    @classmethod
    def zeros(cls, n):
        return cls.from_dense(torch.zeros(n, n))


class TrilBottomRightDiag(Recursive):
    name = "trilbottomrightdiag"
    tril, A_diag = True, False


class TrilTopLeftDiag(Recursive):
    name = "triltopleftdiag"
    tril, A_diag = True, True


class TriuBottomRightDiag(Recursive):
    name = "triubottomrightdiag"
    tril, A_diag = False, False


class TriuTopLeftDiag(Recursive):
    name = "triutopleftdiag"
    tril, A_diag = False, True


STRUCTURES = [Dense, Diagonal, Block30Diagonal, Hierarchical15_15, TrilToeplitz, TriuToeplitz,
              TrilBottomRightDiag, TrilTopLeftDiag, TriuBottomRightDiag, TriuTopLeftDiag]


def add(P, Q, a=1.0):
    return type(P).__new__(type(P)) if False else _fields(type(P), [x + a * y for x, y in zip(P.fields, Q.fields)])


def scale(P, s):
    return _fields(type(P), [s * x for x in P.fields])


def _fields(cls, fs):
    obj = cls.__new__(cls)
    obj.__init__(*fs)
    return obj


def average_trace(P):
    D = P.to_dense()
    return D.diag().mean()


def diag_add(P, v):
    return add(P, type(P).eye(P.to_dense().shape[0]), v)


def inf_norm(P):
    return max(f.abs().max() for f in P.fields if f.numel() > 0)


def check_structures():
    """The transcribed classes against their dense forms (zero patterns, products, projections)."""
    g = torch.Generator().manual_seed(7)
    worst = 0.0
    for cls in STRUCTURES:
        for n in (1, 2, 5, 26, 31, 45, 61):
            S = torch.randn(n, n, generator=g)
            S = S + S.T
            P, Q = cls.from_dense(S), cls.from_dense(torch.randn(n, n, generator=g) + torch.eye(n))
            Pd, Qd = P.to_dense(), Q.to_dense()
            X = torch.randn(n, 4, generator=g)
            worst = max(worst,
                        float((P.mul(Q).to_dense() - Pd @ Qd).abs().max()),
                        float((P.matmul(X) - Pd @ X).abs().max()),
                        float((P.rmatmat(X) - Pd.T @ X).abs().max()),
                        float((P.from_inner(X).to_dense() - cls.from_dense(Pd.T @ X @ X.T @ Pd).to_dense()).abs().max()),
                        float((P.from_inner().to_dense() - cls.from_dense(Pd.T @ Pd).to_dense()).abs().max()),
                        float((cls.eye(n).to_dense() - torch.eye(n)).abs().max()))
            # the class is a linear space closed under products: the zero pattern of its dense form
            mask = (cls.from_dense(torch.ones(n, n) + torch.randn(n, n, generator=g) ** 2).to_dense() != 0)
            if ((P.mul(Q).to_dense() != 0) & ~mask).any():
                fail(f"{cls.name} n={n}: a product leaves the zero pattern")
    if worst > 1e-9:
        fail(f"structure transcriptions disagree with dense algebra by {worst}")
    return worst


# ---- SINGD (singd/optim/optimizer.py), transcribed for plain matrices of one layer ---------------

class SingdLayer:
    def __init__(self, clsK, clsC, p, d, opts):
        self.K, self.C = clsK.eye(p), clsC.eye(d)
        self.mK, self.mC = clsK.zeros(p), clsC.zeros(d)
        self.buf = None
        self.o = opts

    def update_preconditioner(self, a, g, steps):
        o = self.o
        K, C = self.K, self.C
        H_K = K.from_inner(X=a.T)
        H_C = C.from_inner(X=g.T)
        K_tK, C_tC = K.from_inner(), C.from_inner()
        scale_ = 0.5 * (1.0 - o["alpha1"] if o["normalize_lr_cov"] else 1.0)
        p, d = K.to_dense().shape[0], C.to_dense().shape[0]
        new_mK = scale(type(K).zeros(p), 1.0)
        new_mK = add(new_mK, H_K, 1.0 if o["kfac_like"] else float(average_trace(H_C)))
        new_mK = add(new_mK, K_tK, o["damping"] * (1.0 if o["kfac_like"] else float(average_trace(C_tC))))
        new_mK = scale(diag_add(new_mK, -1.0), scale_)
        new_mC = scale(type(C).zeros(d), 1.0)
        new_mC = add(new_mC, H_C, 1.0 if o["kfac_like"] else float(average_trace(H_K)))
        new_mC = add(new_mC, C_tC, o["damping"] * (1.0 if o["kfac_like"] else float(average_trace(K_tK))))
        new_mC = scale(diag_add(new_mC, -1.0), scale_)
        if o["alpha1"] != 0.0:
            new_mC = add(new_mC, self.mC, o["alpha1"])
            new_mK = add(new_mK, self.mK, o["alpha1"])
            self.mC, self.mK = new_mC, new_mK
        b1K = b1C = o["lr_cov"](steps) if callable(o["lr_cov"]) else o["lr_cov"]
        if o["normalize_lr_cov"]:
            b1K /= max(1.0, float(inf_norm(new_mK)))
            b1C /= max(1.0, float(inf_norm(new_mC)))
        self.K = add(self.K, K.mul(new_mK), -b1K)
        self.C = add(self.C, C.mul(new_mC), -b1C)

    def step(self, W, G, a, g, steps):
        o = self.o
        if steps % o["T"] == 0:
            self.update_preconditioner(a, g, steps)
        K, C = self.K, self.C
        nat = K.matmul(K.rmatmat(G.T)).T
        nat = C.matmul(C.rmatmat(nat))
        wd = o["weight_decay"] if (o.get("wd_after") is None or steps >= o["wd_after"]) else 0.0
        p_step = nat + wd * W if wd != 0.0 else nat
        self.buf = p_step.clone() if self.buf is None else o["momentum"] * self.buf + p_step
        return W - o["lr"] * self.buf


def lin2023_lr_cov(step):
    if step <= 100:
        return 2e-4
    elif step < 500:
        return 2e-3
    return 1e-2


# ---- the network's forward, backward and statistics, explicitly (for SINGD and checks) -----------

def net_explicit(Ws, P, y):
    """Forward, hand-written backward and SINGD statistics (the same formulas as the matc spec; checked
    against torch autograd below)."""
    W1, W2, W3 = Ws
    B, L, k = P.shape
    A1 = torch.cat([P.reshape(B * L, k), torch.ones(B * L, 1)], 1)
    Z1 = A1 @ W1.T
    H1 = F.relu(Z1).reshape(B, L, 3).permute(0, 2, 1).reshape(B, 3 * L)
    A2 = torch.cat([H1, torch.ones(B, 1)], 1)
    Z2 = A2 @ W2.T
    A3 = torch.cat([F.relu(Z2), torch.ones(B, 1)], 1)
    Z3 = A3 @ W3.T
    loss = F.cross_entropy(Z3, y)
    Y = F.one_hot(y, 10).to(torch.float64)
    D3 = (torch.softmax(Z3, 1) - Y) / B
    D2 = (D3 @ W3[:, :50]) * (Z2 > 0)
    D1 = (D2 @ W2[:, :3 * L]).reshape(B, 3, L).permute(0, 2, 1).reshape(B * L, 3) * (Z1 > 0)
    grads = [D1.T @ A1, D2.T @ A2, D3.T @ A3]
    stats = [(A1 / math.sqrt(B * L), D1 * math.sqrt(B)), (A2 / math.sqrt(B), D2 * math.sqrt(B)), (A3 / math.sqrt(B), D3 * math.sqrt(B))]
    return loss, Z3, grads, stats


# ---- output -----------------------------------------------------------------------------------------

def fnum(x):
    return float("%.11g" % x)


def tens(x):
    x = torch.as_tensor(x).detach()
    return {"shape": list(x.shape), "data": [fnum(v) for v in x.reshape(-1).tolist()]}


SKETCH = {}


def sketch_vec(n):
    if n not in SKETCH:
        r = np.random.default_rng(1000 + n)
        SKETCH[n] = torch.tensor(r.standard_normal(n))
    return SKETCH[n]


def summ(M, full=False, lite=False):
    M = torch.as_tensor(M).detach()
    if full or M.numel() <= 100:
        return {"full": tens(M)}
    r, c = M.shape
    out = {"Mx": tens(M @ sketch_vec(c)), "trace": fnum(float(torch.trace(M))) if r == c else None, "fro": fnum(float(M.norm()))}
    if not lite:
        out["MTy"] = tens(M.T @ sketch_vec(r))
    return out


def rel(a, b):
    return float((a - b).abs().max() / max(1e-300, float(b.abs().max())))


# ---- the runs ---------------------------------------------------------------------------------------

def run_lin2023(X, y, steps, kind):
    model = make_model()
    init = [weight_matrix(m).clone() for m in layers_of(model)]
    loss_fn = nn.CrossEntropyLoss()
    if kind == "ingd":
        opt = LocalOptimizer(model, lr=5e-4, momentum=0.9, damping=1e-4, beta2=0.5, weight_decay=1e-2,
                             TCov=1, TInv=1, faster=True, lr_cov=1e-2, batch_averaged=True)
    else:
        opt = KFACOptimizer(model, lr=5e-4, momentum=0.9, stat_decay=0.95, damping=1e-3, weight_decay=1e-2,
                            TCov=1, TInv=1, batch_averaged=True)
    record = {"loss": [], "logits": {}, "checkpoints": {}}
    checkpoints = {1, 21, steps} if kind == "ingd" else {steps}
    worst_hook = 0.0
    for s in range(steps):
        xb, yb = batch(s, X, y)
        opt.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        record["loss"].append(fnum(float(loss)))
        if (s + 1) in checkpoints:
            record["logits"][str(s + 1)] = tens(out)
        opt.acc_stats = True
        loss.backward()
        # the hooks' grad_output against the explicit backward (and the weight gradients)
        Ws = [weight_matrix(m) for m in layers_of(model)]
        l2, z2, grads, stats = net_explicit(Ws, torch.tensor(im2col(xb)), yb)
        worst_hook = max(worst_hook, rel(z2, out.detach()), abs(float(l2) - float(loss)))
        for m, gm in zip(layers_of(model), grads):
            worst_hook = max(worst_hook, rel(gm, mat_of(m, lambda t: t.grad)))
        if kind == "ingd":
            g1 = opt.grad_outputs_seen[layers_of(model)[0]]  # (B, 3, 12, 12)
            D1 = stats[0][1] / math.sqrt(BATCH)
            worst_hook = max(worst_hook, rel(g1.permute(0, 2, 3, 1).reshape(-1, 3), D1))
        opt.step()
        if (s + 1) in checkpoints:
            cp = {}
            for li, m in enumerate(layers_of(model)):
                st = {"W": summ(weight_matrix(m)), "buf": summ(mat_of(m, lambda t: opt.state[t]["momentum_buffer"]))}
                if kind == "ingd":
                    st.update({"A": summ(opt.A[m]), "mA": summ(opt.m_A[m]), "B": summ(opt.B[m]), "mB": summ(opt.m_B[m])})
                    if s + 1 == steps and li == 0:
                        st.update({"A_full": tens(opt.A[m]), "mA_full": tens(opt.m_A[m])})
                else:
                    st.update({"Qa": summ(opt.Q_a[m]), "Qg": summ(opt.Q_g[m]), "m_aa": summ(opt.m_aa[m]), "m_gg": summ(opt.m_gg[m])})
                cp[f"layer{li + 1}"] = st
            record["checkpoints"][str(s + 1)] = cp
    if worst_hook > 1e-10:
        fail(f"{kind}: hooks/explicit backward disagree by {worst_hook}")
    return init, record, worst_hook


def singd_dense_vs_local(X, y, steps):
    """SINGD(dense) transcription == LocalOptimizer (singd's own test, here in float64): K, C, m_K,
    m_C, the weights and the momentum buffers after every step, the SINGD side on the explicit
    backward and statistics, the LocalOptimizer side on autograd and its hooks."""
    model = make_model()
    Ws = [weight_matrix(m).clone() for m in layers_of(model)]
    opts = dict(lr=5e-4, momentum=0.9, damping=1e-4, alpha1=0.5, weight_decay=1e-2, T=1, lr_cov=lin2023_lr_cov,
                kfac_like=False, normalize_lr_cov=False, wd_after=20)
    L = [SingdLayer(Dense, Dense, W.shape[1], W.shape[0], opts) for W in Ws]
    opt = LocalOptimizer(model, lr=5e-4, momentum=0.9, damping=1e-4, beta2=0.5, weight_decay=1e-2,
                         TCov=1, TInv=1, faster=True, lr_cov=1e-2, batch_averaged=True)
    worst = 0.0
    for s in range(steps):
        xb, yb = batch(s, X, y)
        loss, out, grads, stats = net_explicit(Ws, torch.tensor(im2col(xb)), yb)
        opt.zero_grad()
        o2 = model(xb)
        worst = max(worst, rel(out, o2.detach()))
        opt.acc_stats = True
        nn.CrossEntropyLoss()(o2, yb).backward()
        opt.step()
        Ws = [Li.step(W, G, a, g, s) for Li, W, G, (a, g) in zip(L, Ws, grads, stats)]
        for Li, W, m in zip(L, Ws, layers_of(model)):
            worst = max(worst, rel(Li.K.to_dense(), opt.A[m]), rel(Li.mK.to_dense(), opt.m_A[m]),
                        rel(Li.C.to_dense(), opt.B[m]), rel(Li.mC.to_dense(), opt.m_B[m]),
                        rel(W, weight_matrix(m)), rel(Li.buf, mat_of(m, lambda t: opt.state[t]["momentum_buffer"])))
    return worst


def run_singd(X, y, clsK, clsC, opts, steps):
    model = make_model()
    Ws = [weight_matrix(m).clone() for m in layers_of(model)]
    L = [SingdLayer(clsK, clsC, W.shape[1], W.shape[0], opts) for W in Ws]
    rec = {"loss": []}
    for s in range(steps):
        xb, yb = batch(s, X, y)
        loss, out, grads, stats = net_explicit(Ws, torch.tensor(im2col(xb)), yb)
        rec["loss"].append(fnum(float(loss)))
        if s == steps - 1:
            rec["logits"] = tens(out)
        Ws = [Li.step(W, G, a, g, s) for Li, W, G, (a, g) in zip(L, Ws, grads, stats)]
    final = {}
    for li, (Li, W) in enumerate(zip(L, Ws)):
        final[f"layer{li + 1}"] = {
            "W": summ(W, lite=True), "buf": summ(Li.buf, lite=True),
            "K": summ(Li.K.to_dense(), lite=True), "mK": summ(Li.mK.to_dense(), lite=True),
            "C": summ(Li.C.to_dense(), lite=True), "mC": summ(Li.mC.to_dense(), lite=True),
        }
    rec["final"] = final
    return rec


def main():
    X, y = load_digits()
    worst_struct = check_structures()
    init, ingd, hook_err = run_lin2023(X, y, 30, "ingd")
    _, kfac, _ = run_lin2023(X, y, 10, "kfac")
    agree = singd_dense_vs_local(X, y, 30)
    if agree > 1e-10:
        fail(f"SINGD(dense) transcription and LocalOptimizer disagree by {agree}")
    singd_runs = []
    base = dict(lr=5e-4, momentum=0.9, damping=1e-4, alpha1=0.5, weight_decay=1e-2, T=2, lr_cov=1e-2,
                kfac_like=False, normalize_lr_cov=False, wd_after=None)
    for cls in STRUCTURES:
        for variant in ("ingd", "ikfac", "normalized"):
            if variant != "ingd" and cls not in (Dense, Diagonal, TrilToeplitz):
                continue
            o = dict(base)
            if variant == "ikfac":
                o["kfac_like"] = True
            if variant == "normalized":
                o["normalize_lr_cov"] = True
                o["lr_cov"] = 0.5
            rec = run_singd(X, y, cls, cls, o, 6)
            rec.update({"structure": cls.name, "variant": variant,
                        "hyper": {k: v for k, v in o.items() if k not in ("wd_after",)}})
            singd_runs.append(rec)
    out = {
        "generator": "test/oracles/gen_spd_fixtures.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "notes": __doc__.strip().split("\n\n")[1],
        "sketch": {str(n): tens(v) for n, v in sorted(SKETCH.items())},
        "lin2023": {"hyper": {"lr": 5e-4, "momentum": 0.9, "damping": 1e-4, "beta2": 0.5, "weight_decay": 1e-2, "lr_cov": 1e-2, "T": 1}, **ingd},
        "kfac": {"hyper": {"lr": 5e-4, "momentum": 0.9, "damping": 1e-3, "stat_decay": 0.95, "weight_decay": 1e-2, "T": 1}, **kfac},
        "singd": singd_runs,
        "checks": {"hooks_vs_explicit": hook_err, "singd_dense_vs_local": agree, "structures_vs_dense": worst_struct},
    }
    path = os.path.join(ROOT, "test/fixtures/spd.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB); checks {out['checks']}")


if __name__ == "__main__":
    main()
