"""Mini-batch training for either engine, with a progress callback and a history that
records what a plot needs: the loss per epoch (training and held-out), the gradient
norm of every layer, and snapshots of the weights at chosen epochs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.autograd import is_grad_enabled, no_grad
from ..engine.tensor import Tensor
from ..engine.trace import TraceResult
from ..engine.trace import trace as trace_fn
from ..engine.value import Value
from .losses import LOSSES, one_hot
from .module import Module
from .neurons import ValueMLP
from .optim import Optimizer

__all__ = [
    "History",
    "TrainingDiverged",
    "estimate_tensor_seconds",
    "estimate_value_seconds",
    "evaluate",
    "fit",
    "predict",
    "score",
    "split",
    "value_nodes_per_sample",
]

# Measured on the Value engine (benchmarks/bench_value.py): forward + backward per node.
VALUE_SECONDS_PER_NODE = 2.2e-6
# Measured with `tinygrad-bp train --json` (2 shared cores): the fixed cost of one Tensor
# step (0.5 ms on a 2-16-16-1 net) and of one multiply-add of its matrix products
# (forward and backward: 3 per weight and row; 27 ms a step on a 2-1000-1000-1 net, batch 32).
TENSOR_SECONDS_PER_STEP = 5e-4
TENSOR_SECONDS_PER_MULTIPLY_ADD = 2.5e-10


class TrainingDiverged(ArithmeticError):
    """The loss or the weights became NaN or infinite: the run cannot go on."""


@dataclass
class History:
    """What `fit` saw, epoch by epoch (index 0 is epoch 1)."""

    losses: list[float] = field(default_factory=list)  # mean training loss over the batches
    holdout_losses: list[float] = field(default_factory=list)  # at each epoch's end, if given
    # per epoch, per layer: mean over the epoch's batches of ||dE/dW|| (Frobenius norm)
    grad_norms: list[list[float]] = field(default_factory=list)
    snapshots: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # epoch -> weights
    seconds: float = 0.0


def _targets(loss: str, y: np.ndarray, n_out: int, n: int) -> np.ndarray:
    """The targets of `n` examples: one class label each for "ce", else `n_out` numbers."""
    per = 1 if loss == "ce" else n_out
    if y.size != n * per:
        what = "class label" if loss == "ce" else f"target number{'s' if per > 1 else ''}"
        raise ValueError(
            f"{y.size} targets for {n} examples: the {loss} loss needs {per} {what} per "
            f"example ({n * per} in all); give y one row per row of X"
        )
    return y.reshape(-1) if loss == "ce" else y.reshape(n, n_out)


def _forward(model: Module, X: np.ndarray):
    return model.forward_batch(X) if isinstance(model, ValueMLP) else model(X)


def split(
    X: np.ndarray, y: np.ndarray, holdout: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_held, y_held): floor(holdout * n) random examples held out."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {holdout!r}; pass e.g. 0.2")
    n_held = int(holdout * len(X))
    order = np.random.default_rng(seed).permutation(len(X))
    held, kept = order[:n_held], order[n_held:]
    return X[kept], y[kept], X[held], y[held]


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
    holdout: tuple[np.ndarray, np.ndarray] | None = None,
    snapshot_epochs: Sequence[int] = (),
    trace: bool = False,
) -> History:
    """Train for `epochs` passes over (X, y) in shuffled mini-batches (batch_size=1: online).

    `holdout` = (X, y) is evaluated (never trained on) after every epoch; the weights
    are copied into `History.snapshots` after each epoch in `snapshot_epochs` (0: before
    training). A NaN or infinite loss stops the run with `TrainingDiverged`.
    `trace=True` records the graph of one batch with `trace` (once per batch size) and
    replays it at every step: the same numbers as building the graph each time, faster
    (a `ValueMLP` with any loss but "ce", or a Tensor `MLP` with any loss).
    """
    if not is_grad_enabled():  # the traced step would train regardless: refuse both alike
        raise RuntimeError(
            "fit() was called inside no_grad(), which turns off the gradients training "
            "needs; call fit outside the no_grad() block"
        )
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; give one of {', '.join(LOSSES)}")
    if int(epochs) != epochs or epochs < 1 or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"epochs and batch_size must be positive whole numbers, got {epochs!r}, "
            f"{batch_size!r}; pass e.g. epochs=100, batch_size=32"
        )
    X = np.asarray(X, dtype=float)
    if len(X) == 0:
        raise ValueError(f"no training examples (X has shape {X.shape}); pass at least one row")
    loss_fn = LOSSES[loss]
    targets = _targets(loss, np.asarray(y, dtype=float), model.sizes[-1], len(X))
    traced = _tracer(model, loss, loss_fn) if trace else None
    rng = np.random.default_rng(seed)
    history = History()
    if 0 in snapshot_epochs:
        history.snapshots[0] = model.state_dict()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        total, norms, batches = 0.0, np.zeros(len(model.sizes) - 1), 0
        for lo in range(0, len(X), batch_size):
            idx = order[lo : lo + batch_size]
            with np.errstate(all="ignore"):  # overflow shows up as a non-finite loss below
                if traced is None:
                    batch_loss = loss_fn(_forward(model, X[idx]), targets[idx])
                    value = float(batch_loss.data)
                else:
                    result = traced(X[idx], targets[idx])
                    value = float(result.output)
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"the {loss} loss became {value} at epoch {epoch}, batch "
                        f"{lo // batch_size + 1}: the training diverged (learning rate too "
                        "large?)"
                    )
                optimizer.zero_grad()
                if traced is None:
                    batch_loss.backward()
                else:
                    for p, g in zip(model.parameters(), result.grads):
                        p.grad = g
                norms += model.weight_grad_norms()
                optimizer.step()
            total += value * len(idx)
            batches += 1
        if not all(np.isfinite(W).all() and np.isfinite(b).all() for W, b, _ in model.layers()):
            raise TrainingDiverged(
                f"the weights became NaN or infinite in epoch {epoch}: the training diverged "
                "(learning rate too large?)"
            )
        history.losses.append(total / len(X))
        history.grad_norms.append((norms / batches).tolist())
        if holdout is not None and len(holdout[0]):
            history.holdout_losses.append(evaluate(model, *holdout, loss))
        if epoch in snapshot_epochs:
            history.snapshots[epoch] = model.state_dict()
        if progress:
            progress(epoch, epochs, history.losses[-1])
    history.seconds = time.perf_counter() - start
    return history


def _tracer(model: Module, loss: str, loss_fn: Callable) -> Callable[..., TraceResult]:
    """A function (inputs, targets) -> `TraceResult` of the batch loss, replaying a trace of
    the batch made the first time each batch size is seen."""
    params = model.parameters()
    if isinstance(model, ValueMLP):
        if loss == "ce":
            raise ValueError(
                "trace=True cannot replay the ce loss on Values: each class label picks "
                "which logit enters the loss, so the graph changes with the labels; use "
                "trace=False, or the tensor engine"
            )

        def value_loss(xs: list, ds: list) -> Value:
            return loss_fn([model(x) for x in xs], ds)

        def encode(X: np.ndarray, d: np.ndarray) -> tuple:
            return X.tolist(), d.tolist()

        batch_loss: Callable = value_loss
    elif model.engine == "tensor":
        dtype, k = model.parameters()[0].dtype, model.sizes[-1]

        def tensor_loss(x: Tensor, d: Tensor) -> Tensor:
            return loss_fn(model(x), d)

        def encode(X: np.ndarray, d: np.ndarray) -> tuple:
            if loss == "ce":  # one-hot rows (the same graph for every set of labels) of the
                # logits' dtype, as the eager loss makes them
                return Tensor(X, dtype=dtype), Tensor(one_hot(d, len(d), k), dtype=dtype)
            return Tensor(X, dtype=dtype), Tensor(d)

        batch_loss = tensor_loss
    else:
        raise ValueError(
            f"trace=True replays a ValueMLP or a Tensor MLP, got a {type(model).__name__}; "
            "use trace=False"
        )
    steps: dict[int, Any] = {}

    def replay(X: np.ndarray, d: np.ndarray) -> TraceResult:
        inputs = encode(X, d)
        step = steps.get(len(X))
        if step is None:
            step = steps[len(X)] = trace_fn(batch_loss, *inputs, params=params)
        return step(*inputs)

    return replay


def predict(model: Module, X: np.ndarray) -> np.ndarray:
    """Model outputs (n, out) as an array, without recording a graph."""
    with no_grad():
        if isinstance(model, ValueMLP):
            return np.array([[v.data for v in row] for row in model.forward_batch(X)])
        return model(np.asarray(X, dtype=float)).data


def evaluate(model: Module, X: np.ndarray, y: np.ndarray, loss: str) -> float:
    """The loss of the current weights on (X, y), without recording a graph."""
    X = np.asarray(X, dtype=float)
    targets = _targets(loss, np.asarray(y, dtype=float), model.sizes[-1], len(X))
    with no_grad(), np.errstate(all="ignore"):
        out = _forward(model, X)
        return float(LOSSES[loss](out, targets).data)


def score(model: Module, X: np.ndarray, y: np.ndarray, loss: str) -> tuple[str, float]:
    """("accuracy", fraction) for classification losses, ("mse", value) for regression."""
    out = predict(model, X)
    if loss == "bce":
        return "accuracy", float(np.mean((out[:, 0] > 0) == (y > 0.5)))
    if loss == "ce":
        return "accuracy", float(np.mean(out.argmax(axis=1) == y.astype(int)))
    return "mse", float(np.mean((out.reshape(len(y), -1) - y.reshape(len(y), -1)) ** 2))


def value_nodes_per_sample(sizes: list[int]) -> int:
    """Rough size of one sample's Value graph: about 2 in + 3 nodes per neuron, and the loss."""
    return sum(n_out * (2 * n_in + 3) for n_in, n_out in zip(sizes, sizes[1:])) + 4 * sizes[-1]


def estimate_tensor_seconds(
    sizes: list[int], n_samples: int, epochs: int, batch_size: int
) -> float:
    """Rough Tensor-engine time: steps x (fixed cost + 3 multiply-adds per weight and row)."""
    rows = min(batch_size, n_samples)
    steps = epochs * -(-n_samples // rows)
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return steps * (TENSOR_SECONDS_PER_STEP + 3 * rows * weights * TENSOR_SECONDS_PER_MULTIPLY_ADD)


def estimate_value_seconds(sizes: list[int], n_samples: int, epochs: int) -> float:
    """Rough Value-engine time of training: nodes per sample, samples and epochs."""
    return value_nodes_per_sample(sizes) * n_samples * epochs * VALUE_SECONDS_PER_NODE
