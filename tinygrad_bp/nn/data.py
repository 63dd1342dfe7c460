"""Small data sets made with numpy, seeded, no downloads. Each returns (X, y):
X of shape (n, 2) (sine: (n, 1)), y of shape (n,) (0/1 labels, or targets for sine)."""

from __future__ import annotations

import numpy as np

__all__ = ["DATASETS", "moons", "sine", "spirals", "xor"]


def _check(n: int, noise: float) -> None:
    if int(n) != n or n < 1:
        raise ValueError(
            f"the number of samples must be a positive whole number, got {n!r}; pass e.g. n=200"
        )
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}; pass e.g. noise=0.1")


def xor(n: int = 4, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points (repeated to n, with optional Gaussian noise); y = x1 XOR x2."""
    _check(n, noise)
    base = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    idx = np.arange(n) % 4
    X = base[idx] + np.random.default_rng(seed).normal(0, noise, (n, 2)) * (noise > 0)
    return X, np.array([0, 1, 1, 0], dtype=float)[idx]


def sine(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x uniform in [-pi, pi], y = sin(x) + Gaussian noise."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, (n, 1))
    return x, np.sin(x[:, 0]) + rng.normal(0, noise, n)


def moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, labels 0 and 1."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n - n0)
    X = np.concatenate(
        [np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]]
    ) + rng.normal(0, noise, (n, 2))
    y = np.r_[np.zeros(n0), np.ones(n - n0)]
    order = rng.permutation(n)
    return X[order], y[order]


def spirals(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals (one and a half turns each), labels 0 and 1."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    out = []
    for label, count in ((0, n0), (1, n - n0)):
        t = np.sqrt(rng.uniform(0, 1, count)) * 3 * np.pi
        r = t / (3 * np.pi) * 2
        angle = t + label * np.pi
        out.append(np.c_[r * np.cos(angle), r * np.sin(angle)])
    X = np.concatenate(out) + rng.normal(0, noise * 0.5, (n, 2))
    y = np.r_[np.zeros(n0), np.ones(n - n0)]
    order = rng.permutation(n)
    return X[order], y[order]


DATASETS = {"xor": xor, "sine": sine, "moons": moons, "spirals": spirals}
