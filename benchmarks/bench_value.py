"""Scalar engine speed: one training step of a 2-16-16-1 relu MLP on 100 samples.

The same Python code (forward, squared error, zero the gradients, backward)
runs on our `Value`, on micrograd's algorithm and on PyTorch 0-dim float64
tensors (one thread), in alternating blocks of steps in one process, after a
check that all give the same loss. Prints median step times and ratios three
times: with Python's garbage collector running and emptied before each step;
running, with the steps back to back as in a training loop; and paused during
the timed step (as `timeit` does), which measures the engines alone. Then how
much of our step the collector takes, and the memory per node (tracemalloc) of a
10^6-node chain v <- relu(v * w + b).

micrograd is the package when it is installed, otherwise the reference class
below: micrograd's algorithm (a set of children and a backward closure per
node, a recursive topological sort), which is what makes its reference cycles.

    python benchmarks/bench_value.py [--repeats 5] [--block 3] [--chain 1000000]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc

from tinygrad_bp import Value
from tinygrad_bp.engine.autograd import next_seq
from tinygrad_bp.engine.untracked import NATIVE

SIZES = [2, 16, 16, 1]
TARGETS = {"micrograd, gc on": 15.0, "micrograd, gc off": 2.0, "PyTorch": 10.0}  # all "at least"
BYTES_TARGET = 170


class RefValue:
    """A scalar node as micrograd builds one: children in a set, a closure for backward."""

    def __init__(self, data, children=(), op=""):
        self.data = data
        self.grad = 0.0
        self._backward = _nothing
        self._prev = set(children)
        self._op = op

    def __add__(self, other):
        other = other if isinstance(other, RefValue) else RefValue(other)
        out = RefValue(self.data + other.data, (self, other), "+")

        def backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, RefValue) else RefValue(other)
        out = RefValue(self.data * other.data, (self, other), "*")

        def backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = backward
        return out

    def relu(self):
        out = RefValue(self.data if self.data > 0 else 0.0, (self,), "relu")

        def backward():
            self.grad += (out.data > 0) * out.grad

        out._backward = backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def _nothing():
    pass


def micrograd_value():
    """(class, label): the installed micrograd, else the reference class above."""
    try:
        from micrograd.engine import Value as Micro

        return Micro, "micrograd 0.1.0 (installed)"
    except ImportError:
        return RefValue, "micrograd's algorithm (re-implemented in this script)"


def make_params(scalar, rng):
    layers = []
    for n_in, n_out in zip(SIZES, SIZES[1:]):
        layer = [
            ([scalar(rng.uniform(-1, 1)) for _ in range(n_in)], scalar(rng.uniform(-1, 1)))
            for _ in range(n_out)
        ]
        layers.append(layer)
    return layers


def samples_of(rng, n=100):
    """(inputs, targets): n points of the plane and n numbers."""
    xs = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(n)]
    return xs, [rng.uniform(-1, 1) for _ in range(n)]


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


def time_step(fn, gc_on: bool) -> float:
    """One timed call; with gc_on False the collector is paused, as `timeit` does.

    With the collector running, the time includes freeing the step's graph, as in a
    training loop (ours is freed at once by reference counting; micrograd's cycles
    by the collector, during later steps). With it paused, micrograd's graphs are
    never freed inside a step, so for every engine the clock stops before the
    result is dropped: the figure is building and differentiating the graph alone.
    """
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        t0 = time.perf_counter()
        if gc_on:
            fn()
            return time.perf_counter() - t0
        result = fn()
        elapsed = time.perf_counter() - t0
        del result
        return elapsed
    finally:
        gc.enable()


# How the collector runs during the timed steps (see time_block), and the label printed.
MODES = {"fresh": "gc on, emptied before each step", "loop": "gc on, steps back to back",
         "off": "gc off"}  # fmt: skip


def time_block(fn, mode: str, steps: int) -> list[float]:
    """`steps` timed calls of `fn`.

    "fresh": the collector runs, and is emptied before each step (`time_step`), so
    a step pays for the collections its own objects cause but rarely for a full one.
    "loop": the collector runs and the steps follow each other as in a training loop,
    each paying for whatever collection falls in it (full ones included: they walk
    every object of the process, PyTorch's too when it is imported); a first,
    untimed step leaves the garbage a previous step would. "off": paused.
    """
    if mode != "loop":
        return [time_step(fn, mode == "fresh") for _ in range(steps)]
    gc.collect()
    fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def collector_share(fn, steps: int = 5) -> tuple[float, float]:
    """(ms spent in the garbage collector per step, full collections per step) for `fn`."""
    spent, full, started = [0.0], [0], [0.0]

    def watch(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]
            full[0] += info["generation"] == 2

    gc.collect()
    gc.callbacks.append(watch)
    try:
        for _ in range(steps):
            fn()
    finally:
        gc.callbacks.remove(watch)
    return spent[0] / steps * 1e3, full[0] / steps


def bytes_per_node(scalar, n_nodes):
    """tracemalloc's count of the bytes a chain v <- relu(v * w + b) of n_nodes nodes holds."""
    gc.collect()
    w, b = scalar(0.5), scalar(0.1)
    v = scalar(0.3)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n_nodes // 3):
        v = (v * w + b).relu()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / (n_nodes // 3 * 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="blocks per engine (5)")
    parser.add_argument("--block", type=int, default=3, help="steps per block (3)")
    parser.add_argument("--chain", type=int, default=10**6, help="nodes of the memory chain")
    args = parser.parse_args()

    samples = list(zip(*samples_of(random.Random(0))))
    relu = lambda v: v.relu()  # noqa: E731

    def zero_value(p):
        p.grad = 0.0

    ours = make_params(Value, random.Random(1))
    first = next_seq()
    loss = step(ours, samples, relu, zero_value)
    nodes = next_seq() - first - 1  # the nodes the step built

    Micro, micro_label = micrograd_value()
    micro = make_params(Micro, random.Random(1))
    runs = {
        "ours": lambda: step(ours, samples, relu, zero_value),
        "micrograd": lambda: step(micro, samples, relu, zero_value),
    }
    check = {"micrograd": runs["micrograd"]().data}
    try:
        import torch

        torch.set_num_threads(1)
        f64 = torch.float64
        theirs = make_params(
            lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True), random.Random(1)
        )
        samples_t = [
            ([torch.tensor(v, dtype=f64) for v in x], torch.tensor(t, dtype=f64))
            for x, t in samples
        ]

        def zero_torch(p):
            p.grad = None

        runs["PyTorch"] = lambda: step(theirs, samples_t, torch.relu, zero_torch)
        check["PyTorch"] = runs["PyTorch"]().item()
    except ImportError:
        print("PyTorch not installed: no PyTorch ratio (pip install torch)")
    for name, value in check.items():
        assert abs(value - loss.data) < 1e-9 * max(1.0, abs(loss.data)), f"{name} disagrees"

    print(f"workload: 2-16-16-1 relu MLP, 100 samples, forward + backward: {nodes} of our nodes")
    print(f"micrograd: {micro_label}")
    print(
        "our nodes: "
        + ("not tracked by the collector (the C helper is built)" if NATIVE else
           "tracked by the collector (plain Python class: the C helper is not built or "
           "TINYGRAD_BP_PURE_PYTHON is set)")
    )  # fmt: skip
    for mode, label in MODES.items():
        times = {k: [] for k in runs}
        # Alternate in blocks of steps, so machine noise hits every engine alike while
        # each runs its steps one after another, as in a training loop (a step run just
        # after another engine's finds the memory that engine's graph left behind).
        for _ in range(args.repeats):
            for k, fn in runs.items():
                times[k] += time_block(fn, mode, args.block)
        med = {k: statistics.median(v) for k, v in times.items()}
        per_node = med["ours"] / nodes * 1e6
        print(f"[{label}] ours {med['ours'] * 1e3:6.1f} ms ({per_node:.2f} us/node)")
        for k in runs:
            if k == "ours":
                continue
            target = TARGETS[f"micrograd, {'gc off' if mode == 'off' else 'gc on'}"]
            target = target if k == "micrograd" else TARGETS[k]
            print(
                f"[{label}] {k:<9} {med[k] * 1e3:7.1f} ms  ours is {med[k] / med['ours']:5.2f}x "
                f"faster (target >= {target:g}x)"
            )
    collector_ms, full = collector_share(runs["ours"])
    print(
        f"[gc on, steps back to back] the collector's share of our step: {collector_ms:.1f} ms, "
        f"{full:.1f} full collections (gc.callbacks)"
    )
    ours_b = bytes_per_node(Value, args.chain)
    micro_b = bytes_per_node(Micro, args.chain)
    print(
        f"memory, {args.chain}-node chain: ours {ours_b:.0f} bytes/node "
        f"(target <= {BYTES_TARGET}), micrograd {micro_b:.0f} bytes/node"
    )


if __name__ == "__main__":
    main()
