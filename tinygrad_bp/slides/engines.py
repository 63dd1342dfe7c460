"""Applying an activation of the op table to a node of either engine, by name.

``apply_activation(node, act)`` calls the engine's method of that name with the
activation's parameters (``v.leaky_relu(slope=0.2)``). An engine that does not
have the method yet gets it through `_fallback`, built from operations every
engine has; the derivative there is the table's (f'(v) = 1 for v > 0, else
slope or f(v) + alpha).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.ops import Activation, activation
from ..engine.tensor import Tensor

__all__ = ["apply_activation"]


def apply_activation(node: Any, act: Activation | str) -> Any:
    """f(node) for a `Value` or a `Tensor`, f the table's activation `act`."""
    act = activation(act)
    method = getattr(node, act.name, None)
    if method is not None:
        return method(**dict(act.params))
    return _fallback(node, act)


def _fallback(node: Any, act: Activation) -> Any:
    params = dict(act.params)
    if isinstance(node, Tensor):
        positive = Tensor(np.asarray(node.data > 0, dtype=node.data.dtype))
        negative = 1 - positive
    else:
        positive = 1.0 if node.data > 0 else 0.0
        negative = 1.0 - positive
    if act.name == "leaky_relu":
        return node * (positive + negative * params["slope"])
    if act.name == "elu":
        # exp is taken of 0 where v > 0, so it cannot overflow there
        return node * positive + params["alpha"] * ((node * negative).exp() - 1) * negative
    raise ValueError(f"activation {act.spec!r} is not available on {type(node).__name__}")
