"""Losses for both engines. `y` is a model's output: a (batch, out) Tensor, or a list of
rows of Values; `d` holds the targets as an array of the same shape (class labels for
`softmax_cross_entropy`), or as the inputs of a traced step: a Tensor of that shape (for
`softmax_cross_entropy`, one-hot rows), or rows of Values. Each loss is averaged over the
batch."""

from __future__ import annotations

import numpy as np

from ..engine.tensor import Tensor
from ..engine.value import Value

__all__ = ["LOSSES", "bce", "half_sse", "mse", "one_hot", "softmax_cross_entropy"]


def _targets(y, d) -> np.ndarray:
    d = np.asarray(d, dtype=float)
    shape = y.shape if isinstance(y, Tensor) else (len(y), len(y[0]))
    if d.size != int(np.prod(shape)):
        raise ValueError(
            f"targets of shape {d.shape} do not fit outputs of shape {shape}; "
            f"give one target per output ({int(np.prod(shape))} numbers)"
        )
    return d.reshape(shape)


def _tensor_targets(y: Tensor, d) -> Tensor:
    """Targets for a Tensor output: numbers (any array-like) of its shape, or a Tensor of
    its shape (a traced input, whose numbers change from call to call) as it is."""
    if isinstance(d, Tensor):
        if d.shape != y.shape:
            raise ValueError(
                f"targets of shape {d.shape} do not fit outputs of shape {y.shape}; "
                "give one target per output"
            )
        return d
    return Tensor(_targets(y, d))


def _rows(y) -> list[list[Value]]:
    if not y or not isinstance(y[0][0], Value):
        raise TypeError(
            f"a loss takes a Tensor or a list of rows of Values, got {type(y).__name__} "
            f"{y!r:.40}; pass the model's output"
        )
    return y


def _value_targets(rows: list[list[Value]], d) -> list[list[Value | float]]:
    """Targets for rows of Values: numbers (any array-like) as floats, or rows of Values
    (a traced input, whose numbers change from call to call) as they are."""
    if isinstance(d, (list, tuple)) and d and isinstance(d[0], (list, tuple)):
        if any(isinstance(t, Value) for row in d for t in row):
            if [len(row) for row in d] != [len(row) for row in rows]:
                raise ValueError(
                    f"{len(d)} rows of targets do not fit {len(rows)} rows of "
                    f"{len(rows[0])} outputs: give one target per output"
                )
            return d
    return _targets(rows, d).tolist()


def half_sse(y, d):
    """The slides' E = 1/2 sum_j e_j^2 with e = d - y, averaged over the batch."""
    if isinstance(y, Tensor):
        return 0.5 * ((_tensor_targets(y, d) - y) ** 2).sum() / y.shape[0]
    rows = _rows(y)
    d = _value_targets(rows, d)
    total = sum(0.5 * (dj - yj) ** 2 for row, drow in zip(rows, d) for yj, dj in zip(row, drow))
    return total / len(rows)


def mse(y, d):
    """Mean squared error: mean over all entries of (y - d)^2."""
    if isinstance(y, Tensor):
        return ((y - _tensor_targets(y, d)) ** 2).mean()
    rows = _rows(y)
    d = _value_targets(rows, d)
    total = sum((yj - dj) ** 2 for row, drow in zip(rows, d) for yj, dj in zip(row, drow))
    return total / (len(rows) * len(rows[0]))


def bce(z, d):
    """Binary cross-entropy from logits z (the sigmoid is inside, for stability):
    mean of -[d ln s(z) + (1 - d) ln(1 - s(z))] = mean of softplus(z) - d z."""
    if isinstance(z, Tensor):
        return (z.softplus() - z * _tensor_targets(z, d)).mean()
    rows = _rows(z)
    d = _value_targets(rows, d)
    total = sum(zj.softplus() - zj * dj for row, drow in zip(rows, d) for zj, dj in zip(row, drow))
    return total / (len(rows) * len(rows[0]))


def _labels(labels, n: int, k: int) -> np.ndarray:
    """`n` integer class labels in 0..k-1, or a clear error."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biuf":
        raise TypeError(
            f"class labels must be whole numbers, got an array of {labels.dtype}; "
            "pass integers like [0, 2, 1]"
        )
    labels = labels.reshape(-1)
    if labels.size != n:
        raise ValueError(
            f"need one class label per example: {n} examples, {labels.size} labels; pass {n} labels"
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
        bad = labels[~(np.isfinite(labels) & (labels == np.round(labels)))][0]
        raise ValueError(
            f"class labels must be whole numbers (0, 1, 2, ...), got {float(bad):g}; "
            "pass integer labels"
        )
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(
            f"class labels must be in 0..{k - 1} for {k} outputs, got {labels.min():g}..."
            f"{labels.max():g}; relabel the classes or give the model more outputs"
        )
    return labels.astype(int)


def one_hot(labels, n: int, k: int) -> np.ndarray:
    """Rows of k zeros with a 1 at each of the n (checked) class labels."""
    out = np.zeros((n, k))
    out[np.arange(n), _labels(labels, n, k)] = 1.0
    return out


def softmax_cross_entropy(z, labels):
    """Cross-entropy of softmax(z) against integer class labels: mean of -log_softmax(z)[label].

    For Tensor logits the labels may also be given as a Tensor of one-hot rows (a traced
    input: the graph is then the same for every set of labels)."""
    if isinstance(z, Tensor):
        if z.ndim != 2:
            raise ValueError(
                f"softmax_cross_entropy takes logits (batch, classes), got {z.shape}; "
                "pass a 2-D tensor, one row per example"
            )
        n, k = z.shape
        if isinstance(labels, Tensor):
            onehot = _tensor_targets(z, labels)
        else:
            onehot = Tensor(one_hot(labels, n, k), dtype=z.dtype)
        return -(z.log_softmax(axis=1) * onehot).sum() / n
    rows = _rows(z)
    k = len(rows[0])
    if any(len(row) != k for row in rows):
        widths = sorted({len(row) for row in rows})
        raise ValueError(
            f"every example needs the same number of logits ({k}), got rows of {widths}; "
            "give each row one logit per class"
        )
    labels = _labels(labels, len(rows), k)
    total = 0.0
    for row, label in zip(rows, labels.tolist()):
        m = max(v.data for v in row)  # shift by the max: exp never overflows
        lse = sum((v - m).exp() for v in row).log() + m
        total = total + (lse - row[label])
    return total / len(rows)


LOSSES = {"half_sse": half_sse, "mse": mse, "bce": bce, "ce": softmax_cross_entropy}
