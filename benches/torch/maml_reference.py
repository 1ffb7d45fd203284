"""Reference second-order MAML meta-gradients from PyTorch at the MeLU shape.

Regenerates the exact inputs of `methods/src/gradient/reference.rs` with a Python port of
metarec's generator (xoshiro256** seeded by SplitMix64), computes the meta-gradient with
`torch.autograd.grad(..., create_graph=True)` in the inner loop, and prints, per parameter,
the sum of squares and the dot product with a fixed projection, which the Rust test compares.

Shape: 8 categorical fields x vocab 100 x dim 32 -> 256 -> 64 -> 64 -> 1; meta-batch 32;
10 support + 10 query rows per task; inner SGD with lr 0.01 on every parameter.

Usage: python3 maml_reference.py [--dtype float32|float64]
"""

import argparse
import math

import torch

M = (1 << 64) - 1


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


class Rng:
    def __init__(self, seed):
        s = seed
        self.s = []
        for _ in range(4):
            s = (s + 0x9E3779B97F4A7C15) & M
            z = s
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * (1.0 / (1 << 53))

    def below(self, n):
        m = self.next() * n
        if (m & M) < n:
            threshold = ((1 << 64) - n) % n
            while (m & M) < threshold:
                m = self.next() * n
        return m >> 64


FIELDS, VOCAB, DIM, HIDDEN, TASKS, SUPPORT, QUERY, LR = 8, 100, 32, [64, 64], 32, 10, 10, 0.01


def inputs(dtype):
    rng = Rng(2026)
    params = []
    for _ in range(FIELDS):
        params.append(torch.tensor([rng.uniform() - 0.5 for _ in range(VOCAB * DIM)], dtype=torch.float32).reshape(VOCAB, DIM))
    dims = [FIELDS * DIM] + HIDDEN + [1]
    for i, o in zip(dims[:-1], dims[1:]):
        w = [(rng.uniform() - 0.5) * 2.0 / math.sqrt(i) for _ in range(i * o)]
        params.append(torch.tensor(w, dtype=torch.float32).reshape(i, o))
        params.append(torch.tensor([(rng.uniform() - 0.5) * 0.2 for _ in range(o)], dtype=torch.float32))
    idx = torch.zeros(TASKS, SUPPORT + QUERY, FIELDS, dtype=torch.long)
    target = torch.zeros(TASKS, SUPPORT + QUERY, dtype=torch.float32)
    for t in range(TASKS):
        for r in range(SUPPORT + QUERY):
            for f in range(FIELDS):
                idx[t, r, f] = rng.below(VOCAB)
            target[t, r] = 1 + rng.below(5)
    return [p.to(dtype) for p in params], idx, target.to(dtype)


def forward(params, idx):
    x = torch.cat([params[f][idx[:, f]] for f in range(FIELDS)], dim=1)
    dense = params[FIELDS:]
    for l in range(len(dense) // 2):
        x = x @ dense[2 * l] + dense[2 * l + 1]
        if l + 1 < len(dense) // 2:
            x = torch.relu(x)
    return x.squeeze(1)


def meta_gradient(params, idx, target, steps, first_order):
    params = [p.clone().requires_grad_(True) for p in params]
    losses = []
    for t in range(TASKS):
        fast = params
        for _ in range(steps):
            loss = ((forward(fast, idx[t, :SUPPORT]) - target[t, :SUPPORT]) ** 2).mean()
            grads = torch.autograd.grad(loss, fast, create_graph=not first_order)
            fast = [p - LR * g for p, g in zip(fast, grads)]
        losses.append(((forward(fast, idx[t, SUPPORT:]) - target[t, SUPPORT:]) ** 2).mean())
    outer = torch.stack(losses).mean()
    return torch.autograd.grad(outer, params)


def summary(grads):
    proj = Rng(77)
    out = []
    for g in grads:
        g = g.detach().double().flatten().tolist()
        out.append((sum(x * x for x in g), sum(x * (proj.uniform() - 0.5) for x in g)))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    params, idx, target = inputs(dtype)
    print(f"# torch {torch.__version__}, {args.dtype}")
    for steps in (1, 5):
        g_so = meta_gradient(params, idx, target, steps, False)
        g_fo = meta_gradient(params, idx, target, steps, True)
        diff = sum(float(((a - b).double() ** 2).sum()) for a, b in zip(g_so, g_fo))
        rel = math.sqrt(diff / sum(float((a.double() ** 2).sum()) for a in g_so))
        so = summary(g_so)
        print(f"// K = {steps}: (sum of squares, projection) per parameter; first order differs by {rel:.3g} in norm")
        print(f"const SO_K{steps}: [(f64, f64); {len(so)}] = [")
        for a, b in so:
            print(f"    ({a:.10e}, {b:.10e}),")
        print("];")
