"""Seeded weight initialisation shared by both engines.

Weights W (out, in) are drawn uniformly from [-a, a] with numpy's generator
seeded by `seed`: a = sqrt(6 / (fan_in + fan_out)) (Glorot) for sigmoid, tanh
and linear layers, a = sqrt(6 / fan_in) (He) for relu layers. Biases start at 0.
The same seed gives the same weights in the Value and the Tensor engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ACTIVATIONS = ("sigmoid", "tanh", "linear", "relu")


def layer_activations(n_layers: int, activation: str | Sequence[str], output: str) -> list[str]:
    """One activation per layer: `activation` for the hidden layers (a name or a list), `output`."""
    hidden = [activation] * (n_layers - 1) if isinstance(activation, str) else list(activation)
    if len(hidden) != n_layers - 1:
        raise ValueError(
            f"{n_layers - 1} hidden layers need {n_layers - 1} activations, got {len(hidden)}"
        )
    acts = [*hidden, output]
    for a in acts:
        if a not in ACTIVATIONS:
            raise ValueError(f"unknown activation {a!r}; expected one of {', '.join(ACTIVATIONS)}")
    return acts


def check_sizes(sizes: Sequence[int]) -> list[int]:
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(n, (int, np.integer)) or n < 1 for n in sizes):
        raise ValueError(f"sizes must be two or more positive whole numbers, got {sizes}")
    return [int(n) for n in sizes]


def init_layers(
    sizes: Sequence[int], activations: Sequence[str], seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out, act in zip(sizes, sizes[1:], activations):
        bound = np.sqrt(6.0 / n_in) if act == "relu" else np.sqrt(6.0 / (n_in + n_out))
        layers.append((rng.uniform(-bound, bound, (n_out, n_in)), np.zeros(n_out)))
    return layers
