"""A network's architecture: layer sizes, activations from the op table, seeded weights.

Activations are the names of `tinygrad_bp.engine.ops.ACTIVATIONS`, with their
parameters when they have some (``"tanh"``, ``"leaky_relu(0.2)"``, ``"elu(1)"``);
a layer applies its activation by calling the engine method of that name.

Weights W (out, in) are drawn uniformly from [-a, a] with numpy's generator
seeded by `seed`. For rectifiers (an activation that is the identity for
positive inputs but not for negative ones: relu, leaky_relu, elu)
a = sqrt(6 / fan_in) (He); for every other activation a = sqrt(6 / (fan_in +
fan_out)) (Glorot). Biases start at 0. The same seed gives the same weights in
the Value and the Tensor engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine.ops import Activation
from ..engine.ops import activation as parse_activation

__all__ = [
    "check_dtype",
    "check_sizes",
    "init_layers",
    "is_rectifier",
    "layer_activations",
]

DTYPES = ("float64", "float32")


def layer_activations(
    n_layers: int, activation: str | Activation | Sequence[str | Activation], output: str
) -> list[Activation]:
    """One activation per layer: `activation` for the hidden layers (one, or a list), `output`."""
    if isinstance(activation, (str, Activation)):
        hidden = [activation] * (n_layers - 1)
    else:
        hidden = list(activation)
    if len(hidden) != n_layers - 1:
        raise ValueError(
            f"{n_layers - 1} hidden layers need {n_layers - 1} activations, got {len(hidden)} "
            f"({hidden!r:.60}); give one name for all, or one per hidden layer"
        )
    return [parse_activation(a) for a in [*hidden, output]]


def is_rectifier(act: Activation) -> bool:
    """True when f(v) = v for v > 0 but not for v < 0 (relu, leaky_relu, elu): He init."""
    return act.f(1.0) == 1.0 and act.f(2.0) == 2.0 and act.f(-1.0) != -1.0


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """Two or more positive whole numbers, inputs first."""
    sizes = list(sizes)
    if len(sizes) < 2 or any(
        isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in sizes
    ):
        raise ValueError(
            f"sizes must be two or more positive whole numbers, got {sizes!r:.80}; "
            "pass e.g. [2, 3, 1] (inputs first)"
        )
    return [int(n) for n in sizes]


def check_dtype(dtype: Any) -> str:
    """'float64' or 'float32' (numpy dtypes and their names accepted)."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise ValueError(
            f"dtype must be float64 or float32, got {dtype!r}; pass dtype='float64' or 'float32'"
        )
    return name


def init_layers(
    sizes: Sequence[int], activations: Sequence[Activation], seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) per layer, W of shape (out, in) drawn as the module docstring says, b = 0."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out, act in zip(sizes, sizes[1:], activations):
        fan = n_in if is_rectifier(act) else n_in + n_out
        bound = np.sqrt(6.0 / fan)
        layers.append((rng.uniform(-bound, bound, (n_out, n_in)), np.zeros(n_out)))
    return layers
