"""Mini-batch training for either engine, with a progress callback and a history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..engine.autograd import no_grad
from ..engine.tensor import Tensor
from .losses import LOSSES
from .module import Module
from .neurons import ValueMLP
from .optim import Optimizer

__all__ = ["History", "estimate_value_seconds", "fit", "predict"]

# Measured on the Value engine (benchmarks/bench_value.py): forward + backward per node.
VALUE_SECONDS_PER_NODE = 2.2e-6


@dataclass
class History:
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch
    seconds: float = 0.0


def _targets(loss: str, y: np.ndarray, n_out: int) -> np.ndarray:
    return y.reshape(-1) if loss == "ce" else y.reshape(len(y), n_out)


def fit(
    model: Module,
    X: np.ndarray,
    y: np.ndarray,
    loss: str,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int = 32,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> History:
    """Train for `epochs` passes over (X, y) in shuffled mini-batches (batch_size=1: online)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    loss_fn = LOSSES[loss]
    X = np.asarray(X, dtype=float)
    targets = _targets(loss, np.asarray(y, dtype=float), model.sizes[-1])
    rng = np.random.default_rng(seed)
    scalar = isinstance(model, ValueMLP)
    history = History()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        total = 0.0
        for lo in range(0, len(X), batch_size):
            idx = order[lo : lo + batch_size]
            out = model.forward_batch(X[idx]) if scalar else model(Tensor(X[idx]))
            batch_loss = loss_fn(out, targets[idx])
            optimizer.zero_grad()
            batch_loss.backward()
            optimizer.step()
            total += float(batch_loss.data) * len(idx)
        history.losses.append(total / len(X))
        if progress:
            progress(epoch, epochs, history.losses[-1])
    history.seconds = time.perf_counter() - start
    return history


def predict(model: Module, X: np.ndarray) -> np.ndarray:
    """Model outputs (n, out) as an array, without recording a graph."""
    with no_grad():
        if isinstance(model, ValueMLP):
            return np.array([[v.data for v in row] for row in model.forward_batch(X)])
        return model(np.asarray(X, dtype=float)).data


def score(model: Module, X: np.ndarray, y: np.ndarray, loss: str) -> tuple[str, float]:
    """("accuracy", fraction) for classification losses, ("mse", value) for regression."""
    out = predict(model, X)
    if loss == "bce":
        return "accuracy", float(np.mean((out[:, 0] > 0) == (y > 0.5)))
    if loss == "ce":
        return "accuracy", float(np.mean(out.argmax(axis=1) == y.astype(int)))
    return "mse", float(np.mean((out.reshape(len(y), -1) - y.reshape(len(y), -1)) ** 2))


def estimate_value_seconds(sizes: list[int], n_samples: int, epochs: int) -> float:
    """Rough Value-engine time: about 2 in + 3 nodes per neuron, per sample and epoch."""
    nodes = sum(n_out * (2 * n_in + 3) for n_in, n_out in zip(sizes, sizes[1:])) + 4 * sizes[-1]
    return nodes * n_samples * epochs * VALUE_SECONDS_PER_NODE
