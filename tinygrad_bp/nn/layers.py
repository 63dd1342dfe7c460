"""Array modules on `Tensor`: `Linear`, `Sequential`, `MLP`; a batch is (batch, features)."""

from __future__ import annotations

import numpy as np

from ..engine.ops import Activation
from ..engine.ops import activation as parse_activation
from ..engine.tensor import Tensor
from .module import Module

__all__ = ["MLP", "Linear", "Sequential"]


class Linear:
    """y = f(x W^T + b) for a batch x of shape (batch, in); W is (out, in) as in the slides."""

    def __init__(
        self,
        W: np.ndarray,
        b: np.ndarray,
        activation: str | Activation = "linear",
        name: str = "",
        dtype: str = "float64",
    ) -> None:
        self.W = Tensor(W, requires_grad=True, name=f"{name}.weight" if name else "W", dtype=dtype)
        self.b = Tensor(b, requires_grad=True, name=f"{name}.bias" if name else "b", dtype=dtype)
        self.activation = parse_activation(activation)

    def __call__(self, x: Tensor) -> Tensor:
        return self.activation.apply(x @ self.W.T + self.b)

    def parameters(self) -> list[Tensor]:
        return [self.W, self.b]


class Sequential:
    """Apply modules one after another."""

    def __init__(self, *modules: Linear) -> None:
        self.modules = list(modules)

    def __call__(self, x: Tensor) -> Tensor:
        for m in self.modules:
            x = m(x)
        return x


class MLP(Module):
    """A multilayer perceptron of Tensors: `MLP([2, 16, 16, 1], "tanh", "linear", seed=0)`.

    Same arguments, same initial weights and same state_dict as `nn.ValueMLP`;
    `dtype="float32"` keeps weights and outputs in single precision.
    """

    engine = "tensor"

    def _build(self, initial: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.net = Sequential(
            *(
                Linear(W, b, act, name=f"layer{i}", dtype=self.dtype)
                for i, ((W, b), act) in enumerate(zip(initial, self.acts), 1)
            )
        )

    def __call__(self, x: Tensor | np.ndarray) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(
                f"this MLP takes a batch of shape (batch, {self.sizes[0]}), got {x.shape}; "
                f"pass {self.sizes[0]} features per sample, one sample per row"
            )
        return self.net(x)

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        return [(p.name, p) for m in self.net.modules for p in m.parameters()]

    def layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        return [(m.W.data, m.b.data, m.activation.spec) for m in self.net.modules]

    def layer_weights(self) -> list[list[Tensor]]:
        return [[m.W] for m in self.net.modules]

    def _assign(self, layer: int, W: np.ndarray, b: np.ndarray) -> None:
        m = self.net.modules[layer]
        m.W.data = np.array(W, dtype=self.dtype)
        m.b.data = np.array(b, dtype=self.dtype)
