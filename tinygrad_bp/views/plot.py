"""Loss curves and decision boundaries with matplotlib (an optional extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..nn.train import History, predict

__all__ = ["PlotUnavailable", "plot_training"]


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot_training(model, X: np.ndarray, y: np.ndarray, history: History, loss: str, path) -> Path:
    """Loss per epoch, and the decision boundary (2-D inputs) or the fitted curve (1-D)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "the plot needs matplotlib: pip install 'tinygrad-bp[plot]' (or pip install matplotlib)"
        ) from None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(np.arange(1, len(history.losses) + 1), history.losses)
    left.set(xlabel="epoch", ylabel=f"{loss} loss", title="training loss", yscale="log")
    if X.shape[1] == 2:
        pad = 0.5
        xs = np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, 200)
        ys = np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, 200)
        gx, gy = np.meshgrid(xs, ys)
        out = predict(model, np.c_[gx.ravel(), gy.ravel()])
        score = out[:, 0] if out.shape[1] == 1 else out[:, 1] - out[:, 0]
        threshold = 0.5 if loss not in ("bce", "ce") else 0.0
        right.contourf(gx, gy, (score > threshold).reshape(gx.shape), alpha=0.3, cmap="coolwarm")
        right.contour(gx, gy, score.reshape(gx.shape), levels=[threshold], colors="k")
        right.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=8, edgecolors="none")
        right.set(title="decision boundary", xlabel="x1", ylabel="x2")
    else:
        order = np.argsort(X[:, 0])
        right.scatter(X[:, 0], y, s=8, alpha=0.5, label="data")
        right.plot(X[order, 0], predict(model, X[order])[:, 0], "r", label="model")
        right.set(title="fit", xlabel="x", ylabel="y")
        right.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
