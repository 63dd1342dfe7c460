"""Scalar engine speed: one training step of a 2-16-16-1 relu MLP on 100 samples.

The same Python code runs on `Value` and on PyTorch 0-dim float64 tensors;
the script prints the median step time of each and the ratio, once with
Python's garbage collector running and once with it paused during the timed
step (as `timeit` does), plus the graph's node count, microseconds per node
and bytes per node (tracemalloc). The collector's passes over a large graph
cost both engines alike but weigh more on the faster one.

    python benchmarks/bench_value.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc

from tinygrad_bp import Value, topological_order

SIZES = [2, 16, 16, 1]


def make_params(scalar, rng):
    layers = []
    for n_in, n_out in zip(SIZES, SIZES[1:]):
        layer = [
            ([scalar(rng.uniform(-1, 1)) for _ in range(n_in)], scalar(rng.uniform(-1, 1)))
            for _ in range(n_out)
        ]
        layers.append(layer)
    return layers


def forward_loss(layers, samples, relu):
    loss = 0.0
    for x, target in samples:
        h = x
        for depth, layer in enumerate(layers):
            out = [sum(w * xi for w, xi in zip(ws, h)) + b for ws, b in layer]
            h = out if depth == len(layers) - 1 else [relu(v) for v in out]
        err = h[0] - target
        loss = loss + err * err
    return loss


def parameters(layers):
    return [p for layer in layers for ws, b in layer for p in (*ws, b)]


def step(layers, samples, relu, zero):
    loss = forward_loss(layers, samples, relu)
    for p in parameters(layers):
        zero(p)
    loss.backward()
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(0)
    samples = [((rng.uniform(-1, 1), rng.uniform(-1, 1)), rng.uniform(-1, 1)) for _ in range(100)]

    ours = make_params(Value, random.Random(1))

    def zero_value(p):
        p.grad = 0.0

    def run_ours():
        return step(ours, samples, lambda v: v.relu(), zero_value)

    loss = run_ours()
    nodes = len(topological_order(loss))

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    graph = forward_loss(ours, samples, lambda v: v.relu())
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del graph
    bytes_per_node = (after - before) / nodes

    try:
        import torch
    except ImportError:
        torch = None

    t_ours = statistics.median(time_step(run_ours, True) for _ in range(args.repeats))
    print(
        f"graph: {nodes} nodes; Value step median {t_ours * 1e3:.1f} ms "
        f"({t_ours / nodes * 1e6:.2f} us/node, {bytes_per_node:.0f} bytes/node)"
    )
    if torch is None:
        print("PyTorch not installed: no ratio (pip install torch==2.13.0)")
        return
    torch.set_num_threads(1)
    theirs = make_params(
        lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True), random.Random(1)
    )
    samples_t = [
        (
            tuple(torch.tensor(v, dtype=torch.float64) for v in x),
            torch.tensor(t, dtype=torch.float64),
        )
        for x, t in samples
    ]

    def zero_torch(p):
        p.grad = None

    def run_torch():
        return step(theirs, samples_t, torch.relu, zero_torch)

    tl = run_torch()
    assert abs(tl.item() - loss.data) < 1e-9 * max(1.0, abs(loss.data)), "engines disagree"
    for gc_on in (True, False):
        # alternate the two engines so that machine noise hits both alike
        ours_t, torch_t = [], []
        for _ in range(args.repeats):
            ours_t.append(time_step(run_ours, gc_on))
            torch_t.append(time_step(run_torch, gc_on))
        t_ours, t_torch = statistics.median(ours_t), statistics.median(torch_t)
        label = "garbage collector on " if gc_on else "garbage collector off"
        print(
            f"[{label}] Value {t_ours * 1e3:6.1f} ms  PyTorch {t_torch * 1e3:6.1f} ms  "
            f"ratio {t_torch / t_ours:.2f}x (target >= 3x)"
        )


def time_step(fn, gc_on: bool) -> float:
    """One timed step; with gc_on False the collector is paused, as `timeit` does."""
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


if __name__ == "__main__":
    main()
