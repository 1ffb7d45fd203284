"""Times one MAML meta-train step in PyTorch, three ways, at the MeLU shape.

Same workload as `benches/meta_step.rs` and the inputs of `maml_reference.py`: 8 fields x
vocab 100 x dim 32 -> 256 -> 64 -> 64 -> 1, meta-batch 32, 10 support + 10 query rows, inner
SGD on every parameter (lr 0.01), outer Adam, f32. A step is: inner loop, query loss, outer
backward, Adam update. Prints one JSON line per (variant, shape): median ms over `--steps`.

Variants:
- `l2l`: learn2learn's MAML wrapper, one task at a time (clone, adapt, evaluate), if installed;
- `vmap`: torch.func vmap over tasks of grad (differentiable for second order);
- `bmm`: hand-batched: per-task copies as expanded tensors, batched matmuls, autograd.grad.

Then, per shape, one JSON line with the step's matmul FLOPs as PyTorch counts them
(`torch.utils.flop_counter.FlopCounterMode` on one `bmm` step), against which `cargo xtask speed`
checks the floor's formula.

Usage: python3 maml_speed.py [--threads 2] [--steps 50]
"""

import argparse
import json
import statistics
import time

import torch

from maml_reference import FIELDS, LR, QUERY, SUPPORT, TASKS, forward, inputs


def per_task_l2l(params, idx, target, steps, first_order):
    import learn2learn as l2l

    class Net(torch.nn.Module):
        def __init__(self, ps):
            super().__init__()
            self.ps = torch.nn.ParameterList([torch.nn.Parameter(p.clone()) for p in ps])

        def forward(self, x):
            return forward(list(self.ps), x)

    maml = l2l.algorithms.MAML(Net(params), lr=LR, first_order=first_order)
    opt = torch.optim.Adam(maml.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        total = 0.0
        for t in range(TASKS):
            learner = maml.clone()
            for _ in range(steps):
                learner.adapt(((learner(idx[t, :SUPPORT]) - target[t, :SUPPORT]) ** 2).mean())
            total = total + ((learner(idx[t, SUPPORT:]) - target[t, SUPPORT:]) ** 2).mean()
        (total / TASKS).backward()
        opt.step()

    return step


def vmapped(params, idx, target, steps, first_order):
    from torch.func import grad, vmap

    ps = [p.clone().requires_grad_(True) for p in params]
    opt = torch.optim.Adam(ps, lr=1e-4)

    def loss(fast, x, y):
        return ((forward(fast, x) - y) ** 2).mean()

    def task(fast, sx, sy, qx, qy):
        for _ in range(steps):
            g = grad(loss)(fast, sx, sy)
            if first_order:
                g = [x.detach() for x in g]
            fast = [p - LR * gi for p, gi in zip(fast, g)]
        return loss(fast, qx, qy)

    batched = vmap(task, in_dims=(None, 0, 0, 0, 0))
    sx, sy, qx, qy = idx[:, :SUPPORT], target[:, :SUPPORT], idx[:, SUPPORT:], target[:, SUPPORT:]

    def step():
        opt.zero_grad()
        batched(ps, sx, sy, qx, qy).mean().backward()
        opt.step()

    return step


def batched_forward(fast, idx):
    # fast: per-task parameters [T, ...]; idx: [T, n, FIELDS]
    t = torch.arange(idx.shape[0]).unsqueeze(1)
    x = torch.cat([fast[f][t, idx[:, :, f]] for f in range(FIELDS)], dim=2)
    dense = fast[FIELDS:]
    for l in range(len(dense) // 2):
        x = torch.bmm(x, dense[2 * l]) + dense[2 * l + 1].unsqueeze(1)
        if l + 1 < len(dense) // 2:
            x = torch.relu(x)
    return x.squeeze(2)


def hand_batched(params, idx, target, steps, first_order):
    ps = [p.clone().requires_grad_(True) for p in params]
    opt = torch.optim.Adam(ps, lr=1e-4)
    sx, sy, qx, qy = idx[:, :SUPPORT], target[:, :SUPPORT], idx[:, SUPPORT:], target[:, SUPPORT:]

    def step():
        opt.zero_grad()
        fast = [p.unsqueeze(0).expand(TASKS, *p.shape) for p in ps]
        for _ in range(steps):
            # Sum over tasks of per-task mean losses: its gradient w.r.t. each task's copy is
            # that task's gradient.
            loss = ((batched_forward(fast, sx) - sy) ** 2).mean(1).sum()
            g = torch.autograd.grad(loss, fast, create_graph=not first_order)
            fast = [p - LR * gi for p, gi in zip(fast, g)]
        ((batched_forward(fast, qx) - qy) ** 2).mean().backward()
        opt.step()

    return step


def counted_flops(params, idx, target, steps, first_order):
    """Matmul FLOPs of one hand-batched step, as FlopCounterMode counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    step = hand_batched(params, idx, target, steps, first_order)
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def median_ms(step, n):
    for _ in range(3):
        step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params, idx, target = inputs(torch.float32)
    variants = {"bmm": hand_batched, "vmap": vmapped}
    try:
        import learn2learn  # noqa: F401

        variants["l2l"] = per_task_l2l
    except ImportError:
        print(json.dumps({"variant": "l2l", "error": "learn2learn is not installed"}))
    for name, make in variants.items():
        for label, k, fo in (("SO K=1", 1, False), ("SO K=5", 5, False), ("FO K=1", 1, True)):
            ms = median_ms(make(params, idx, target, k, fo), args.steps)
            print(json.dumps({"variant": name, "shape": label, "ms": round(ms, 3), "torch": torch.__version__, "threads": args.threads}), flush=True)
    for label, k, fo in (("SO K=1", 1, False), ("SO K=5", 5, False), ("FO K=1", 1, True)):
        try:
            flops = counted_flops(params, idx, target, k, fo)
        except ImportError as e:
            print(json.dumps({"flop_counter": "unavailable", "error": str(e)}))
            continue
        print(json.dumps({"shape": label, "flops": flops, "counter": "FlopCounterMode", "torch": torch.__version__}), flush=True)
