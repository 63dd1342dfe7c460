"""A backprop problem as a teacher writes it: layers, loss, learning rate, examples, notation.

Names follow the case files' numbering (`tinygrad_bp.slides.numbering`):
neurons numbered consecutively, input side first; ``w{j}{i}`` the weight from
input or neuron i into neuron j, ``b{j}`` a bias, ``b_L{l}`` the one bias
shared by layer l, ``y_h{j}`` a hidden neuron's output, ``delta{j}``.

`read_problem` reads a case file with the check command's loader (strict
schema, both formats) and turns its `Case` into a `Problem`; `problem_toml`
writes a problem back as a case file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..engine.ops import Activation
from ..slides.case import DEFAULT_MAX_BYTES, Case, load_case
from ..slides.numbering import pair_name, shared_bias_name

__all__ = [
    "LOSSES",
    "Layer",
    "Problem",
    "problem_from_case",
    "problem_toml",
    "read_problem",
]

# the losses a worked solution derives; softmax_ce: y = softmax(v) at the output
LOSSES = ("half_sse", "sse", "mse", "bce", "softmax_ce")


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer of weights: v = W y_prev + b, y = f(v). Row j of W is neuron j of this layer."""

    W: np.ndarray
    b: np.ndarray
    activation: Activation
    shared_bias: bool = False
    frozen: frozenset[str] = frozenset()

    @property
    def size(self) -> int:
        return self.W.shape[0]


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything needed to derive a worked solution; `names` maps the author's names to ours."""

    layers: tuple[Layer, ...]
    data: tuple[tuple[np.ndarray, np.ndarray], ...]
    eta: float
    loss: str = "half_sse"
    mode: str = "online"
    steps: int = 1
    names: dict[str, str] = field(default_factory=dict)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].W.shape[1]

    @cached_property
    def _starts(self) -> list[int]:
        return [0, *np.cumsum([layer.size for layer in self.layers]).tolist()]

    def neurons(self, l: int) -> range:
        """The slides' numbers of the neurons of layer `l` (0 = first hidden layer)."""
        return range(self._starts[l] + 1, self._starts[l + 1] + 1)

    def sources(self, l: int) -> list[int]:
        """The numbers of what feeds layer `l`: the inputs 1..n, or the previous layer's neurons."""
        return list(range(1, self.n_inputs + 1)) if l == 0 else list(self.neurons(l - 1))

    def is_output(self, l: int) -> bool:
        return l == len(self.layers) - 1

    def with_layers(self, layers: list[Layer]) -> Problem:
        return Problem(
            tuple(layers), self.data, self.eta, self.loss, self.mode, self.steps, self.names
        )


def weight_name(j: int, i: int) -> str:
    return pair_name("w", j, i)


def bias_name(problem: Problem, l: int, j: int) -> str:
    return shared_bias_name(l + 1) if problem.layers[l].shared_bias else f"b{j}"


# -- reading: case files through the check command's loader ------------------------------


def problem_from_case(case: Case) -> Problem:
    """The `Problem` of a loaded case file (`tinygrad_bp.slides.case.Case`)."""
    layers = []
    for layer in case.network.layers:
        n = layer.W.shape[0]
        b = np.full(n, float(layer.b[0])) if layer.shared else np.asarray(layer.b, dtype=float)
        layers.append(
            Layer(np.asarray(layer.W, dtype=float), b, layer.act, layer.shared, layer.frozen)
        )
    data = tuple((np.asarray(x, dtype=float), np.asarray(d, dtype=float)) for x, d in case.data)
    return Problem(
        tuple(layers), data, case.eta, case.network.loss, case.mode, case.steps, dict(case.names)
    )


def read_problem(
    path: str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    raise_with: str = "read_problem(..., max_bytes=...)",
) -> tuple[Problem, Case]:
    """The problem of a case file, and the `Case` itself (claims, names, path). A file over
    ``max_bytes`` is refused, the message saying to raise it with ``raise_with``."""
    case = load_case(path, max_bytes, raise_with=raise_with)
    return problem_from_case(case), case


# -- writing ------------------------------


def _num(x: float) -> str:
    text = repr(float(x))
    return "0.0" if text == "-0.0" else text


def _list(v: np.ndarray) -> str:
    return "[" + ", ".join(_num(e) for e in v) + "]"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def problem_toml(
    problem: Problem, claims: dict[str, str | float] | None = None, header: str = ""
) -> str:
    """The case file of `problem` (layered format), with optional claims and comment lines.

    A claim given as text (``"0.7650"``) is written as it is, keeping its digits."""
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    out += [
        "",
        "[network]",
        f'loss = "{problem.loss}"',
        f"eta = {_num(problem.eta)}",
        f'mode = "{problem.mode}"',
        f"steps = {problem.steps}",
    ]
    for layer in problem.layers:
        out += ["", "[[layer]]"]
        out.append("W = [" + ", ".join(_list(row) for row in layer.W) + "]")
        out.append(f"b = {_num(layer.b[0])}" if layer.shared_bias else f"b = {_list(layer.b)}")
        out.append(f"activation = {_quote(layer.activation.spec)}")
        if layer.frozen:
            out.append("frozen = [" + ", ".join(_quote(f) for f in sorted(layer.frozen)) + "]")
    for x, d in problem.data:
        out += ["", "[[data]]", f"x = {_list(x)}", f"d = {_list(d)}"]
    if problem.names:
        out += ["", "[names]"] + [f"{_quote(k)} = {_quote(v)}" for k, v in problem.names.items()]
    if claims:
        out += ["", "[claims]"]
        out += [f"{_quote(k)} = {v if isinstance(v, str) else _num(v)}" for k, v in claims.items()]
    return "\n".join(out).lstrip("\n") + "\n"
