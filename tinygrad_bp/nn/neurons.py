"""Scalar modules on `Value`: a network one number at a time, named as the slides name it.

Neurons are numbered 1, 2, ... through the layers; the weight from unit i (an
input for the first layer, a neuron of the previous layer otherwise) into
neuron j is ``w{j}{i}``, its bias ``b{j}`` — so a 2-layer MLP's parameters carry
exactly the slides' names (w11 ... w43, b1 ... b4 for 2-3-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..engine.ops import Activation
from ..engine.ops import activation as parse_activation
from ..engine.value import Value
from ..slides.twolayer import pair_name
from .init import check_dtype
from .modelfile import ModelFileError
from .module import Module

__all__ = ["Layer", "Neuron", "ValueMLP"]


class Neuron:
    """y = f(sum_i w_i x_i + b)."""

    def __init__(self, weights: Sequence[Value], bias: Value, activation: str | Activation) -> None:
        self.w = list(weights)
        self.b = bias
        self.activation = parse_activation(activation)

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(
                f"this neuron takes {len(self.w)} inputs, got {len(x)}; pass one number per weight"
            )
        v = self.b
        for w, xi in zip(self.w, x):
            v = v + w * xi
        return self.activation.apply(v)


class Layer:
    """A list of neurons that all see the same inputs."""

    def __init__(self, neurons: Sequence[Neuron]) -> None:
        self.neurons = list(neurons)

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        return [n(x) for n in self.neurons]


class ValueMLP(Module):
    """A multilayer perceptron of Values: `ValueMLP([2, 3, 1], "sigmoid", "linear", seed=0)`.

    `activation` is the hidden layers' activation (or a list, one per hidden
    layer), `output` the last layer's. Call it on one example (a list of numbers)
    to get the list of outputs, or use `forward_batch`. Values are float64.
    """

    engine = "value"
    #: the most parameters a model file may rebuild as Values (one Python object each)
    MAX_FILE_PARAMETERS = 1_000_000

    @classmethod
    def _from_arrays(cls, spec, arrays):
        n = sum(a.size for a in arrays.values())
        if n > cls.MAX_FILE_PARAMETERS:
            raise ModelFileError(
                f"a {spec.describe()} network has {n:,} parameters, over the "
                f"{cls.MAX_FILE_PARAMETERS:,} a ValueMLP is built with from a file; load it with "
                "MLP.load (the Tensor engine; predict: --engine tensor)"
            )
        return super()._from_arrays(replace(spec, dtype="float64"), arrays)

    @classmethod
    def _check_dtype(cls, dtype) -> str:
        if check_dtype(dtype) != "float64":
            raise ValueError(
                f"a ValueMLP computes in float64 (Python floats), got {dtype!r}; leave dtype out, "
                "or use MLP (the Tensor engine) for float32"
            )
        return "float64"

    def _build(self, initial: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.layer_list: list[Layer] = []
        number = 0
        prev_numbers = list(range(1, self.sizes[0] + 1))  # inputs x1..xn
        for (W, b), act in zip(initial, self.acts):
            neurons, numbers = [], []
            for r in range(W.shape[0]):
                number += 1
                numbers.append(number)
                ws = [
                    Value(float(W[r, c]), pair_name("w", number, prev_numbers[c]))
                    for c in range(W.shape[1])
                ]
                neurons.append(Neuron(ws, Value(float(b[r]), f"b{number}"), act))
            self.layer_list.append(Layer(neurons))
            prev_numbers = numbers

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        """The outputs for one example `x` of exactly `sizes[0]` numbers (or Values)."""
        if isinstance(x, (str, bytes)) or not hasattr(x, "__len__") or len(x) != self.sizes[0]:
            got = f"{len(x)} numbers" if hasattr(x, "__len__") else type(x).__name__
            raise ValueError(
                f"a ValueMLP takes one example of {self.sizes[0]} inputs, got {got}; pass a list "
                f"of {self.sizes[0]} numbers (forward_batch for many)"
            )
        for layer in self.layer_list:
            x = layer(x)
        return x

    def forward_batch(self, X: np.ndarray) -> list[list[Value]]:
        """The outputs for each row of X, of shape (batch, sizes[0])."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"this ValueMLP takes a batch of shape (batch, {self.sizes[0]}), got {X.shape}; "
                f"pass {self.sizes[0]} features per sample, one sample per row"
            )
        return [self(row.tolist()) for row in X]

    def named_parameters(self) -> list[tuple[str, Value]]:
        out = []
        for layer in self.layer_list:
            for n in layer.neurons:
                out += [(w.name, w) for w in n.w]
            out += [(n.b.name, n.b) for n in layer.neurons]
        return out

    def layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        return [
            (
                np.array([[w.data for w in n.w] for n in layer.neurons]),
                np.array([n.b.data for n in layer.neurons]),
                act,
            )
            for layer, act in zip(self.layer_list, self.activations)
        ]

    def layer_weights(self) -> list[list[Value]]:
        return [[w for n in layer.neurons for w in n.w] for layer in self.layer_list]

    def _assign(self, layer: int, W: np.ndarray, b: np.ndarray) -> None:
        for r, n in enumerate(self.layer_list[layer].neurons):
            for c, w in enumerate(n.w):
                w.data = float(W[r, c])
            n.b.data = float(b[r])
