"""Online SGD on two copies of one network: one updated by the closed-form rules,
one by autodiff (the Value engine). Their weights should stay equal."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rules import forward, four_rules
from .twolayer import TwoLayerNet

__all__ = ["SideBySide", "train_side_by_side"]


@dataclass
class SideBySide:
    by_rules: TwoLayerNet
    by_autodiff: TwoLayerNet
    losses: list[float] = field(default_factory=list)  # E before each update (rules copy)
    max_weight_gap: float = 0.0  # largest `_gap` seen after any update

    def epoch_losses(self, n_samples: int) -> list[float]:
        """Mean E over each pass through the data."""
        full = len(self.losses) // n_samples * n_samples
        return list(np.mean(np.reshape(self.losses[:full], (-1, n_samples)), axis=1))


def _gap(a: TwoLayerNet, b: TwoLayerNet) -> float:
    """max_k |a_k - b_k| / max_k |a_k|: the weights' difference relative to their size."""
    pa, pb = a.parameters(), b.parameters()
    scale = max(max(abs(v) for v in pa.values()), 1e-300)
    return max(abs(pa[k] - pb[k]) for k in pa) / scale


def train_side_by_side(
    net: TwoLayerNet, X: np.ndarray, D: np.ndarray, eta: float, updates: int
) -> SideBySide:
    """`updates` online steps w(n+1) = w(n) - eta dE/dw(n), cycling through the rows of X, D."""
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    D = np.asarray(D, dtype=float).reshape(len(D), -1)
    if len(X) != len(D) or not len(X):
        raise ValueError(
            f"need as many targets as inputs (at least one), got {len(X)} and {len(D)}; "
            "give one target row per input row"
        )
    result = SideBySide(net.copy(), net.copy())
    for n in range(updates):
        x, d = X[n % len(X)], D[n % len(X)]
        result.losses.append(forward(result.by_rules, x, d)["E"])
        result.by_rules.step(four_rules(result.by_rules, x, d), eta)
        result.by_autodiff.step(result.by_autodiff.value_gradients(x, d), eta)
        result.max_weight_gap = max(
            result.max_weight_gap, _gap(result.by_rules, result.by_autodiff)
        )
    return result
