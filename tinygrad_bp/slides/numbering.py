"""The slides' consecutive numbering of neurons and the names it gives, for any depth.

Inputs are x1..xn. Neurons are numbered 1, 2, ... layer by layer, input side
first: the first hidden layer's neurons are 1..h1, the next layer's follow on,
and the output neurons come last (the slides' 2-3-1 net: hidden 1, 2, 3 and
output 4). For neuron j:

* ``v{j}`` its net input, ``y_h{j}`` its output when it is hidden (``y{j}``
  is accepted too) and ``y{j}`` when it is an output neuron; ``e{j} = d_j - y_j``
  for an output neuron;
* ``f'(v{j})`` the derivative of its activation, ``delta{j}`` its local
  gradient e_j f'(v_j) = -dE/dv_j (the slides' convention);
* ``w{j}{i}`` the weight from unit i (input x_i for the first layer, neuron i
  otherwise) into neuron j, written ``w{j}_{i}`` once an index reaches 10
  (``w12_3``), and ``b{j}`` its bias;
* a bias shared by a whole layer (as many textbooks draw it) is one parameter
  named after its layer: ``b_L1`` for the first layer of weights, ``b_L2`` for
  the next, and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Numbering", "pair_name", "shared_bias_name"]


def pair_name(prefix: str, i: int, k: int) -> str:
    """``w11``, ``w41``; ``w12_3`` once an index reaches 10."""
    sep = "_" if i >= 10 or k >= 10 else ""
    return f"{prefix}{i}{sep}{k}"


def shared_bias_name(layer: int) -> str:
    """The name of the one bias shared by layer `layer` (1 = the first layer of weights)."""
    return f"b_L{layer}"


@dataclass(frozen=True)
class Numbering:
    """Numbers and names for a network of layer sizes ``[n_in, h1, ..., n_out]``.

    Layers of weights are indexed 0..L-1 here (input side first); row r of
    layer l is neuron ``neuron(l, r)``.
    """

    sizes: tuple[int, ...]

    def __init__(self, sizes: Sequence[int]) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"layer sizes need two or more positive numbers, got {list(sizes)}; "
                "pass e.g. (2, 3, 1), inputs first"
            )
        object.__setattr__(self, "sizes", sizes)

    @property
    def depth(self) -> int:
        """How many layers of weights."""
        return len(self.sizes) - 1

    def neuron(self, layer: int, row: int) -> int:
        """The slides' number of row `row` of layer `layer`."""
        return sum(self.sizes[1 : layer + 1]) + row + 1

    def neurons(self, layer: int) -> list[int]:
        return [self.neuron(layer, r) for r in range(self.sizes[layer + 1])]

    def outputs(self) -> list[int]:
        return self.neurons(self.depth - 1)

    def is_output(self, j: int) -> bool:
        return j > sum(self.sizes[1:-1])

    def source(self, layer: int, col: int) -> int:
        """Index i of the unit feeding column `col` of layer `layer` (input or neuron)."""
        return col + 1 if layer == 0 else self.neuron(layer - 1, col)

    def source_output(self, layer: int, col: int) -> str:
        """The name of that unit's output: ``x2`` or ``y_h3``."""
        return f"x{col + 1}" if layer == 0 else self.output(self.neuron(layer - 1, col))

    def weight(self, layer: int, row: int, col: int) -> str:
        return pair_name("w", self.neuron(layer, row), self.source(layer, col))

    def bias(self, layer: int, row: int, shared: bool = False) -> str:
        return shared_bias_name(layer + 1) if shared else f"b{self.neuron(layer, row)}"

    @staticmethod
    def v(j: int) -> str:
        return f"v{j}"

    @staticmethod
    def e(j: int) -> str:
        return f"e{j}"

    @staticmethod
    def fprime(j: int) -> str:
        return f"f'(v{j})"

    @staticmethod
    def delta(j: int) -> str:
        return f"delta{j}"

    def output(self, j: int) -> str:
        """``y_h{j}`` for a hidden neuron, ``y{j}`` for an output neuron."""
        return f"y{j}" if self.is_output(j) else f"y_h{j}"

    def parameter_names(self, shared: Sequence[bool] | None = None) -> list[str]:
        """Weights then biases of each layer, input side first (the slides' order)."""
        shared = shared or [False] * self.depth
        names: list[str] = []
        for layer in range(self.depth):
            rows, cols = self.sizes[layer + 1], self.sizes[layer]
            names += [self.weight(layer, r, c) for r in range(rows) for c in range(cols)]
            names += (
                [self.bias(layer, 0, True)]
                if shared[layer]
                else [self.bias(layer, r) for r in range(rows)]
            )
        return names
