"""Record once, replay: one training step of the 2-16-16-1 relu MLP on 100 samples.

Times, alternately in one process, the eager step (build the graph, zero the
gradients, backward) and the replay of a `trace` of the same step on new
samples, after checking that both give the same loss and gradients bit for bit.
Prints the one-off cost of tracing, the median step times and their ratio.

    python benchmarks/bench_trace.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_value import forward_loss, make_params, parameters, samples_of, time_step  # noqa: E402

from tinygrad_bp import Value, trace  # noqa: E402

TARGET = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    layers = make_params(Value, random.Random(1))
    params = parameters(layers)

    def loss_fn(xs, ts):
        return forward_loss(layers, list(zip(xs, ts)), lambda v: v.relu())

    batches = [samples_of(random.Random(seed)) for seed in range(4)]

    t0 = time.perf_counter()
    step = trace(loss_fn, *batches[0], params=params)
    t_trace = time.perf_counter() - t0

    def eager(batch):
        loss = loss_fn(*batch)
        for p in params:
            p.grad = 0.0
        loss.backward()
        return loss.data, [p.grad for p in params]

    def replay(batch):
        out, grads, _ = step(*batch)
        return out, grads

    for batch in batches:  # same numbers, bit for bit, on every batch
        assert eager(batch) == replay(batch), "replay and eager engine disagree"

    eager_t, replay_t = [], []
    for i in range(args.repeats):
        batch = batches[i % len(batches)]
        eager_t.append(time_step(partial(eager, batch), True))
        replay_t.append(time_step(partial(replay, batch), True))
    te, tr = statistics.median(eager_t), statistics.median(replay_t)
    print(
        f"trace: {step.n_nodes} nodes, {len(params)} params, recorded and compiled once in "
        f"{t_trace:.2f} s ({t_trace / te:.0f} eager steps)"
    )
    print(
        f"step median: eager {te * 1e3:.1f} ms  replay {tr * 1e3:.2f} ms  "
        f"ratio {te / tr:.1f}x (target >= {TARGET:g}x)"
    )


if __name__ == "__main__":
    main()
