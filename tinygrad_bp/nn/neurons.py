"""Scalar modules on `Value`: a network one number at a time, named as the slides name it.

Neurons are numbered 1, 2, ... through the layers; the weight from unit i (an
input for the first layer, a neuron of the previous layer otherwise) into
neuron j is ``w{j}{i}``, its bias ``b{j}`` — so a 2-layer MLP's parameters carry
exactly the slides' names (w11 ... w43, b1 ... b4 for 2-3-1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..engine.value import Value
from ..slides.twolayer import pair_name
from .module import Module

__all__ = ["Layer", "Neuron", "ValueMLP"]


class Neuron:
    """y = f(sum_i w_i x_i + b)."""

    def __init__(self, weights: Sequence[Value], bias: Value, activation: str) -> None:
        self.w = list(weights)
        self.b = bias
        self.activation = activation

    def __call__(self, x: Sequence[Value | float]) -> Value:
        v = self.b
        for w, xi in zip(self.w, x):
            v = v + w * xi
        return v if self.activation == "linear" else getattr(v, self.activation)()


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
    to get the list of outputs, or use `forward_batch`.
    """

    def _build(self, initial: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.layer_list: list[Layer] = []
        number = 0
        prev_numbers = list(range(1, self.sizes[0] + 1))  # inputs x1..xn
        for (W, b), act in zip(initial, self.activations):
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
        for layer in self.layer_list:
            x = layer(x)
        return x

    def forward_batch(self, X: np.ndarray) -> list[list[Value]]:
        return [self([float(v) for v in row]) for row in np.asarray(X, dtype=float)]

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

    def _assign(self, layer: int, W: np.ndarray, b: np.ndarray) -> None:
        for r, n in enumerate(self.layer_list[layer].neurons):
            for c, w in enumerate(n.w):
                w.data = float(W[r, c])
            n.b.data = float(b[r])
