"""Tensor engine speed: one full SGD step (forward, mean squared error, backward, update,
clear the gradients).

Four implementations of the same step run alternately in one process, float64,
one BLAS thread: tinygrad_bp `Tensor` with `nn.optim.SGD`, built eagerly at every
step ("ours") and recorded once with `trace` and replayed ("traced"); PyTorch CPU
eager with `torch.optim.SGD`; and a hand-written numpy forward, backward and
in-place update (the floor any numpy engine can reach). All are first checked
to give the same loss, gradients and updated weights. Prints the median
microseconds per step, the ratios and their targets, and the minor page faults
per step of each engine (fresh memory from the system: see docs/speed.md).

    python benchmarks/bench_tensor.py [--repeats 400]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from functools import partial

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from tinygrad_bp import Tensor, trace  # noqa: E402
from tinygrad_bp.nn.optim import SGD  # noqa: E402

NETS = [
    # (label, layer sizes, activation, batch, targets: torch/ours at least, ours/numpy at most)
    ("2-3-1 sigmoid, batch 1", [2, 3, 1], "sigmoid", 1, 4.0, 1.6),
    ("2-64-64-1 tanh, batch 256", [2, 64, 64, 1], "tanh", 256, 1.0, 1.05),
    ("784-256-10 sigmoid, batch 128", [784, 256, 10], "sigmoid", 128, 1.0, 1.05),
]
LR = 0.01


BLOCK = 20


def init(sizes, rng):
    """Weights W (out, in) and biases b (out, 1): the slides' v = W x + b, batch in columns."""
    return [
        (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), rng.standard_normal((n_out, 1)) * 0.1)
        for n_in, n_out in zip(sizes, sizes[1:])
    ]


def ours_loss(params, x, d, act):
    h = x
    for i, (w, b) in enumerate(params):
        v = w @ h + b
        h = getattr(v, act)() if i < len(params) - 1 else v
    return ((h - d) ** 2).mean()


def ours_step(params, opt, x, d, act):
    loss = ours_loss(params, x, d, act)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def traced_step(step, opt, x, d):
    loss = step.backward(x, d)
    opt.step()
    opt.zero_grad()
    return loss


def torch_step(torch, params, opt, x, d, act):
    h = x
    for i, (w, b) in enumerate(params):
        v = w @ h + b
        h = getattr(torch, act)(v) if i < len(params) - 1 else v
    loss = ((h - d) ** 2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def numpy_step(params, x, d, act):
    """Hand-written forward and backward: the same math with no graph at all."""
    hs, vs = [x], []
    for i, (w, b) in enumerate(params):
        v = w @ hs[-1] + b
        vs.append(v)
        if i < len(params) - 1:
            hs.append(np.tanh(v) if act == "tanh" else 1.0 / (1.0 + np.exp(-v)))
    out = vs[-1]
    diff = out - d
    loss = (diff * diff).mean()
    g = 2.0 * diff / diff.size
    grads = []
    for i in range(len(params) - 1, -1, -1):
        w, _ = params[i]
        grads.append((g @ hs[i].T, g.sum(axis=1, keepdims=True)))
        if i:
            g = w.T @ g
            h = hs[i]
            g = g * (1.0 - h * h) if act == "tanh" else g * h * (1.0 - h)
    return loss, grads[::-1]


def numpy_sgd_step(params, x, d, act):
    """The numpy step followed by the in-place update p -= lr g."""
    loss, grads = numpy_step(params, x, d, act)
    for (w, b), (gw, gb) in zip(params, grads):
        gw *= LR
        w -= gw
        gb *= LR
        b -= gb
    return loss


def median_us(samples):
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=400, help="timed steps per engine")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
        print("PyTorch not installed: only the numpy reference is compared")

    print(
        f"{'net':<32}{'engine':<8}{'us':>9}{'numpy us':>10}{'torch us':>10}"
        f"{'/numpy':>9}{'torch/':>9}"
    )
    for label, sizes, act, batch, torch_target, numpy_target in NETS:
        rng = np.random.default_rng(0)
        raw = init(sizes, rng)
        x = rng.standard_normal((sizes[0], batch))
        d = rng.standard_normal((sizes[-1], batch))
        params = [(Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)) for w, b in raw]
        opt = SGD([p for pair in params for p in pair], lr=LR)
        tparams = [(Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)) for w, b in raw]
        topt = SGD([p for pair in tparams for p in pair], lr=LR)
        xt, dt = Tensor(x), Tensor(d)
        step = trace(partial(ours_loss, tparams, act=act), xt, dt)
        raw = [(w.copy(), b.copy()) for w, b in raw]  # the numpy step updates its own copy
        runs = {
            "ours": partial(ours_step, params, opt, xt, dt, act),
            "traced": partial(traced_step, step, topt, xt, dt),
            "numpy": partial(numpy_sgd_step, raw, x, d, act),
        }
        if torch is not None:
            pt = [
                (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
                for w, b in raw
            ]
            ptopt = torch.optim.SGD([p for pair in pt for p in pair], lr=LR)
            tx, td = torch.tensor(x), torch.tensor(d)
            runs["torch"] = partial(torch_step, torch, pt, ptopt, tx, td, act)
        # check that all of them compute the same step before timing them
        ref_loss = numpy_step(raw, x, d, act)[0]
        for k, fn in runs.items():
            assert np.isclose(fn().item(), ref_loss, rtol=1e-12), f"{k}: loss differs"
        for i, want in enumerate(raw):  # numpy's weights after its update
            for j in (0, 1):
                assert np.allclose(params[i][j].data, want[j], rtol=1e-10, atol=1e-14)
                assert np.array_equal(tparams[i][j].data, params[i][j].data), "trace differs"
                if torch is not None:
                    got = pt[i][j].detach().numpy()
                    assert np.allclose(got, want[j], rtol=1e-10, atol=1e-14)

        times = {k: [] for k in runs}
        faults = dict.fromkeys(runs, 0)
        for _ in range(10):  # warm up
            for fn in runs.values():
                fn()
        # Alternate in blocks of steps, so machine noise hits all alike, while
        # each engine runs warm as it would in a training loop (stepping the
        # engines one by one makes each evict the other's code from the CPU caches).
        for _ in range(max(1, args.repeats // BLOCK)):
            for k, fn in runs.items():
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                for _ in range(BLOCK):
                    t0 = time.perf_counter()
                    fn()
                    times[k].append(time.perf_counter() - t0)
                faults[k] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        numpy_t = median_us(times["numpy"])
        torch_t = median_us(times["torch"]) if torch is not None else float("nan")
        for engine in ("ours", "traced"):
            t = median_us(times[engine])
            print(
                f"{label if engine == 'ours' else '':<32}{engine:<8}{t:>9.1f}{numpy_t:>10.1f}"
                f"{torch_t:>10.1f}{t / numpy_t:>8.2f}x{torch_t / t:>8.2f}x"
            )
        print(f"  targets: us/numpy <= {numpy_target}x, torch/us >= {torch_target}x")
        per_step = ", ".join(f"{k} {faults[k] / len(times[k]):.1f}" for k in runs)
        print(f"  minor page faults per step: {per_step}")


if __name__ == "__main__":
    main()
