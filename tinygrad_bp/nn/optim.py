"""Optimizers for Value and Tensor parameters.

With g = dE/dp and learning rate lr:

* `SGD`:            p <- p - lr g  (fed one example at a time, this is the slides'
                    online update w(n+1) = w(n) + Delta w(n), Delta w = -eta dE/dw)
* `SGD(momentum=mu)`: v <- mu v + g;  p <- p - lr v      (PyTorch's convention)
* `Adam`:           m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
                    p <- p - lr m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - b1^t),
                    v_hat = v / (1 - b2^t)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..engine.ops import kernels
from ..engine.tensor import Tensor
from ..engine.value import Value

__all__ = ["SGD", "Adam", "Optimizer"]

_multiply, _subtract = np.multiply, np.subtract
# p <- p - lr g of float64 arrays in one pass, rounded as the two passes below
_sgd_step = kernels.sgd_step if kernels is not None else None


class Optimizer:
    """Updates a list of parameters (all Values or all Tensors) from their `.grad`."""

    def __init__(self, params: Iterable[Value | Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(
                "the optimizer got no parameters (an empty list); pass model.parameters()"
            )
        kinds = {type(p) for p in self.params}
        if len(kinds) != 1 or not kinds <= {Value, Tensor}:
            raise TypeError(
                "parameters must be all Values or all Tensors, got "
                f"{', '.join(sorted(k.__name__ for k in kinds))}; pass model.parameters()"
            )
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, got {lr!r}; pass e.g. lr=0.1")
        self.lr = float(lr)
        self.scalar = isinstance(self.params[0], Value)
        self.state: dict[int, dict[str, np.ndarray]] = {}
        self.t = 0

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (``p.grad = None``, as a new parameter has)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update of every parameter from its current gradient."""
        self.t += 1
        if self.scalar:  # Values: update all of them as one vector
            data = np.fromiter((p.data for p in self.params), float, len(self.params))
            grad = np.fromiter((p.grad or 0.0 for p in self.params), float, len(self.params))
            self._update(0, data, grad)
            for p, x in zip(self.params, data.tolist()):
                p.data = x
            return
        update = self._update
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is not None:
                update(i, p.data, grad if type(grad) is np.ndarray else np.asarray(grad))

    def _update(self, slot: int, data: np.ndarray, grad: np.ndarray) -> None:
        """Change `data` in place."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum."""

    def __init__(self, params: Iterable, lr: float = 0.1, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"momentum must be in [0, 1), got {momentum!r}; pass e.g. momentum=0.9"
            )
        self.momentum = float(momentum)
        self._buffers: dict[int, np.ndarray] = {}

    def _update(self, slot: int, data: np.ndarray, grad: np.ndarray) -> None:
        if self.momentum:
            state = self.state.setdefault(slot, {"v": np.zeros_like(data)})
            state["v"] *= self.momentum
            state["v"] += grad
            grad = state["v"]
        if _sgd_step is not None and type(data) is np.ndarray and _sgd_step(data, grad, self.lr):
            return  # in one C pass over float64 arrays, rounded as the two passes below
        # lr g into a buffer kept from step to step: a large array allocated and freed
        # at every step costs more (fresh pages from the system) than the update itself
        buf = self._buffers.get(slot)
        if buf is None or buf.shape != data.shape or buf.dtype is not data.dtype:
            buf = self._buffers[slot] = np.empty_like(data)
        _multiply(grad, self.lr, buf)
        _subtract(data, buf, data)


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015)."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        self.b1, self.b2 = (float(b) for b in betas)
        if not (0 <= self.b1 < 1 and 0 <= self.b2 < 1):
            raise ValueError(
                f"betas must be in [0, 1), got {betas!r}; pass e.g. betas=(0.9, 0.999)"
            )
        self.eps = float(eps)

    def _update(self, slot: int, data: np.ndarray, grad: np.ndarray) -> None:
        state = self.state.setdefault(slot, {"m": np.zeros_like(data), "v": np.zeros_like(data)})
        m, v = state["m"], state["v"]
        m *= self.b1
        m += (1 - self.b1) * grad
        v *= self.b2
        v += (1 - self.b2) * grad * grad
        m_hat = m / (1 - self.b1**self.t)
        v_hat = v / (1 - self.b2**self.t)
        data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": lambda p, lr: SGD(p, lr, momentum=0.9), "adam": Adam}
