"""Pictures of a training run with matplotlib (an optional extra).

`plot_training` draws, in one PNG: the loss per epoch (training and held-out),
the gradient norm ||dE/dW|| of every layer per epoch on a log scale (vanishing
gradients show as the first layers' curves lying decades below the last
layer's), and the decision boundary at a few epochs (2-D inputs) or the fitted
curve (1-D inputs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_write
from ..nn.train import History, predict

__all__ = ["FORMATS", "PlotUnavailable", "plot_training", "require_matplotlib"]

#: the picture formats `plot_training` writes, by the path's extension
FORMATS = ("png", "svg", "pdf")


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def require_matplotlib():
    """matplotlib.pyplot with the file-only Agg backend, or PlotUnavailable saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "the plot needs matplotlib: pip install 'tinygrad-bp[plot]' (or pip install matplotlib)"
        ) from None
    return plt


def _boundary(ax, model, X, y, loss: str, title: str) -> None:
    pad = 0.5
    xs = np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, 150)
    ys = np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, 150)
    gx, gy = np.meshgrid(xs, ys)
    out = predict(model, np.c_[gx.ravel(), gy.ravel()])
    # class 1 where score > threshold, as `score` counts it: its logit above every other's
    score = out[:, 0] if out.shape[1] == 1 else out[:, 1] - np.delete(out, 1, axis=1).max(axis=1)
    threshold = 0.5 if loss not in ("bce", "ce") else 0.0
    ax.contourf(gx, gy, (score > threshold).reshape(gx.shape), alpha=0.3, cmap="coolwarm")
    if score.min() < threshold < score.max():
        ax.contour(gx, gy, score.reshape(gx.shape), levels=[threshold], colors="k")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=8, edgecolors="none")
    ax.set(title=title, xlabel="x1", ylabel="x2")


def plot_training(model, X: np.ndarray, y: np.ndarray, history: History, loss: str, path) -> Path:
    """Write the picture described in the module docstring to `path` (atomically), as
    PNG, SVG or PDF by its extension."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise ValueError(f"plot {path}: give a file ending in .png, .svg or .pdf")
    plt = require_matplotlib()
    snaps = sorted(history.snapshots) if X.shape[1] == 2 else []
    n_bottom = max(1, len(snaps))
    fig = plt.figure(figsize=(max(10, 3.2 * n_bottom), 7.5))
    grid = fig.add_gridspec(2, 2 * n_bottom)
    losses = fig.add_subplot(grid[0, :n_bottom])
    epochs = np.arange(1, len(history.losses) + 1)
    losses.plot(epochs, history.losses, label="training (mean over the epoch's batches)")
    if history.holdout_losses:
        losses.plot(epochs, history.holdout_losses, label="held-out (end of epoch)")
    positive = all(v > 0 for v in history.losses + history.holdout_losses)
    losses.set(
        xlabel="epoch", ylabel=f"{loss} loss", title="loss", yscale="log" if positive else "linear"
    )
    losses.legend(fontsize=8)
    norms = fig.add_subplot(grid[0, n_bottom:])
    table = np.array(history.grad_norms) if history.grad_norms else np.zeros((0, 0))
    for layer in range(table.shape[1]):
        which = "output layer" if layer == table.shape[1] - 1 else f"layer {layer + 1}"
        norms.plot(
            epochs, np.maximum(table[:, layer], 1e-300), label=f"{which}: ||dE/dW{layer + 1}||"
        )
    norms.set(
        xlabel="epoch",
        ylabel="gradient norm (mean over batches)",
        title=f"gradient per layer ({'/'.join(model.activations)})",
        yscale="log",
    )
    norms.legend(fontsize=8)
    fast = model.copy("tensor")  # the grids need many outputs: the same weights on arrays
    if snaps:
        for k, epoch in enumerate(snaps):
            fast.load_state_dict(history.snapshots[epoch])
            ax = fig.add_subplot(grid[1, 2 * k : 2 * k + 2])
            _boundary(ax, fast, X, y, loss, f"decision boundary, epoch {epoch}")
    elif X.shape[1] == 2:
        _boundary(fig.add_subplot(grid[1, :]), fast, X, y, loss, "decision boundary")
    else:
        ax = fig.add_subplot(grid[1, :])
        order = np.argsort(X[:, 0])
        ax.scatter(X[:, 0], y, s=8, alpha=0.5, label="data")
        ax.plot(X[order, 0], predict(model, X[order])[:, 0], "r", label="model")
        ax.set(title="fit", xlabel="x", ylabel="y")
        ax.legend()
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=kind, dpi=90)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())
