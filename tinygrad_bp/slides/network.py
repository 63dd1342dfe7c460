"""A case file's network: layers of any depth, shared or frozen biases, and its loss.

`Network(layers, loss)` holds the numbers; its parameters are named by the
slides' numbering (`numbering.Numbering`). The losses, for one example with
outputs y_j and targets d_j (m outputs), are stated once in `loss_value`:

    half_sse  E = 1/2 sum_j (d_j - y_j)^2       (the slides' E)
    sse       E = sum_j (d_j - y_j)^2
    mse       E = 1/m sum_j (d_j - y_j)^2
    bce       E = -sum_j [d_j ln y_j + (1 - d_j) ln(1 - y_j)]     (0 < y_j < 1);
              for sigmoid outputs ln y_j = -softplus(-v_j) and ln(1 - y_j) =
              -softplus(v_j), which stay finite where float64 rounds y_j to 0 or 1
    softmax_ce  y = softmax(v_out) (the output layer's activation is linear),
                E = -sum_j d_j ln y_j, with ln y_j = v_j - ln sum_k e^v_k (shifted
                by the largest v_k), finite where y_j rounds to 0

and read by the closed-form rules (`quantities`), the Value engine
(`value_loss`) and finite differences (`numeric_gradients`), so all three
compute the same E.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.ops import Activation, log_sigmoid
from ..engine.value import Value
from .numbering import Numbering
from .rules import central_differences

__all__ = ["LOSSES", "Layer", "Network", "loss_value", "softmax"]

LOSSES = ("half_sse", "sse", "mse", "bce", "softmax_ce")


def _log(z: Any) -> Any:
    if isinstance(z, Value):
        return z.log()
    if isinstance(z, np.ndarray):
        return np.log(z)
    return math.log(z) if z > 0 else -math.inf


def _log_sigmoid(v: Any) -> Any:
    """ln sigmoid(v) = -softplus(-v), of a float, a Value or an array."""
    return -(-v).softplus() if isinstance(v, Value) else log_sigmoid(v)


def loss_value(
    loss: str, ys: Sequence[Any], ds: Sequence[float], vs: Sequence[Any] | None = None
) -> Any:
    """E of one example from its outputs `ys` (floats, Values or arrays) and targets `ds`;
    `vs`: the output layer's v_j, from which bce of sigmoid outputs reads ln y_j and
    ln(1 - y_j), and softmax_ce ln y_j (`Network._log_vs` says when to give them)."""
    m = len(ys)
    if loss in ("half_sse", "sse", "mse"):
        sq = sum((d - y) * (d - y) for y, d in zip(ys, ds))
        return {"half_sse": 0.5 * sq, "sse": sq, "mse": sq * (1.0 / m)}[loss]
    if loss == "bce":  # a term whose weight d or 1 - d is 0 is left out (0 ln 0 = 0)
        if vs is None:
            ln_y, ln_1y = _log, lambda y: _log(1 - y)
        else:  # ln y = ln sigmoid(v), ln(1 - sigmoid(v)) = ln sigmoid(-v)
            ys, ln_y, ln_1y = vs, _log_sigmoid, lambda v: _log_sigmoid(-v)
        return -sum(
            (d * ln_y(y) if d != 0 else 0.0) + ((1 - d) * ln_1y(y) if d != 1 else 0.0)
            for y, d in zip(ys, ds)
        )
    if loss == "softmax_ce":
        logs = [_log(y) for y in ys] if vs is None else _log_softmax(vs)
        return -sum(d * ln_y for ln_y, d in zip(logs, ds) if d != 0)
    raise ValueError(f"unknown loss {loss!r}; give one of {', '.join(LOSSES)}")


def _shifted(vs: Sequence[Any]) -> list[Any]:
    """v_j - max_k v_k, the max taken as a number (it cancels out of softmax and its
    gradient), so that no e^v overflows."""
    if isinstance(vs[0], Value):
        top = max(v.data for v in vs)
        return [v - top for v in vs]
    top = np.max(np.stack([np.asarray(v, dtype=float) for v in vs]), axis=0)
    return [np.asarray(v, dtype=float) - top for v in vs]


def _exp(z: Any) -> Any:
    return z.exp() if isinstance(z, Value) else np.exp(z)


def softmax(vs: Sequence[Any]) -> list[Any]:
    """softmax of a list of floats, Values or arrays (shifted by the largest first)."""
    exps = [_exp(z) for z in _shifted(vs)]
    total = sum(exps)
    return [e / total for e in exps]


def _log_softmax(vs: Sequence[Any]) -> list[Any]:
    """ln softmax(v)_j = z_j - ln sum_k e^z_k with z = v - max v: finite where float64
    rounds softmax(v)_j to 0 (e^-800), where ln y_j is ln 0."""
    zs = _shifted(vs)
    total = _log(sum(_exp(z) for z in zs))
    return [z - total for z in zs]


@dataclass
class Layer:
    """One layer of weights: W (row j = neuron, column i = its input), b, f, what is frozen."""

    W: np.ndarray
    b: np.ndarray  # one per neuron, or a single number when `shared`
    act: Activation
    shared: bool = False
    frozen: frozenset[str] = field(default_factory=frozenset)

    def bias(self, row: int) -> float:
        return float(self.b[0] if self.shared else self.b[row])


@dataclass
class Network:
    """Layers input side first; `loss` one of `LOSSES`."""

    layers: list[Layer]
    loss: str = "half_sse"

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].W.shape[1]] + [layer.W.shape[0] for layer in self.layers]

    @property
    def numbering(self) -> Numbering:
        return Numbering(self.sizes)

    def slots(self) -> list[tuple[str, int, str, tuple[int, ...]]]:
        """(name, layer, "W" or "b", index) for every parameter, in the slides' order."""
        key = (tuple(layer.W.shape for layer in self.layers), tuple(x.shared for x in self.layers))
        cached = self.__dict__.get("_slots")
        if cached is None or cached[0] != key:
            self.__dict__["_slots"] = (key, self._make_slots())
        return self.__dict__["_slots"][1]

    def _make_slots(self) -> list[tuple[str, int, str, tuple[int, ...]]]:
        num = self.numbering
        out = []
        for l, layer in enumerate(self.layers):
            out += [("", l, "W", idx) for idx in np.ndindex(layer.W.shape)]
            out += [("", l, "b", (r,)) for r in range(1 if layer.shared else layer.W.shape[0])]
        names = num.parameter_names([layer.shared for layer in self.layers])
        return [(n, l, kind, idx) for n, (_, l, kind, idx) in zip(names, out)]

    @property
    def parameter_names(self) -> list[str]:
        return [s[0] for s in self.slots()]

    def parameters(self) -> dict[str, float]:
        return {n: float(getattr(self.layers[l], k)[idx]) for n, l, k, idx in self.slots()}

    def frozen_names(self) -> set[str]:
        """The parameters the update leaves alone."""
        return {n for n, l, kind, _ in self.slots() if kind in self.layers[l].frozen}

    def frozen(self, name: str) -> bool:
        return name in self.frozen_names()

    def describe(self) -> dict:
        return {
            "sizes": self.sizes,
            "activations": [layer.act.spec for layer in self.layers],
            "shared_bias": [layer.shared for layer in self.layers],
            "frozen": [sorted(layer.frozen) for layer in self.layers],
            "loss": self.loss,
        }

    # -- the same E by the Value engine and by finite differences --------------------------
    def value_loss(self, examples: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[Value, dict]:
        """E summed over `examples`, built from Values; returns (E, {name: Value})."""
        params = {n: Value(v, n) for n, v in self.parameters().items()}
        E = None
        for k, (x, d) in enumerate(examples, 1):
            ys, vs = self._forward(
                [Value(float(t), role="input") for t in x],
                lambda l, r, c: params[self.numbering.weight(l, r, c)],
                lambda l, r: params[self.numbering.bias(l, r, self.layers[l].shared)],
                f"[{k}]" if len(examples) > 1 else "",
            )
            term = loss_value(self.loss, ys, [float(t) for t in d], self._log_vs(vs))
            E = term if E is None else E + term
        if not isinstance(E, Value):  # no term depends on a parameter (softmax_ce, d = 0)
            E = Value(float(E), "E")
        return E, params

    def value_gradients(self, examples) -> dict[str, float]:
        E, params = self.value_loss(examples)
        E.backward()
        # a parameter E does not reach has no grad of its own: dE/dp = 0
        return {n: 0.0 if p.grad is None else p.grad for n, p in params.items()}

    def numeric_gradients(self, examples, eps: float = 1e-6) -> dict[str, float]:
        """Central finite differences of E (summed over `examples`) for every parameter."""
        slots = self.slots()
        theta = np.array(list(self.parameters().values()))
        where = {(l, k, idx): col for col, (_, l, k, idx) in enumerate(slots)}

        def loss(thetas: np.ndarray) -> np.ndarray:
            total = np.zeros(len(thetas))
            for x, d in examples:
                ys, vs = self._forward(
                    [np.full(len(thetas), float(t)) for t in x],
                    lambda l, r, c: thetas[:, where[(l, "W", (r, c))]],
                    lambda l, r: thetas[:, where[(l, "b", (0 if self.layers[l].shared else r,))]],
                )
                ds = [float(t) for t in d]
                total = total + loss_value(self.loss, ys, ds, self._log_vs(vs))
            return total

        return dict(zip(self.parameter_names, map(float, central_differences(loss, theta, eps))))

    def _log_vs(self, vs: list) -> list | None:
        """The output layer's v_j for `loss_value` when it reads ln y_j from them: a
        sigmoid output, or softmax_ce."""
        return vs if self.loss == "softmax_ce" or self.layers[-1].act.name == "sigmoid" else None

    def _forward(self, ys: list, weight, bias, tag: str = "") -> tuple[list, list]:
        """The outputs and the output layer's v_j, from input `ys` and `weight(l, r, c)`,
        `bias(l, r)`; Values get names."""
        num = self.numbering
        for l, layer in enumerate(self.layers):
            rows, cols = layer.W.shape
            vs = [
                sum(weight(l, r, c) * ys[c] for c in range(cols)) + bias(l, r) for r in range(rows)
            ]
            last = l == len(self.layers) - 1
            if last and self.loss == "softmax_ce":
                ys = softmax(vs)
            elif isinstance(vs[0], Value):
                ys = [layer.act.apply(v) for v in vs]
            else:
                ys = [layer.act.f(v) for v in vs]
            if isinstance(vs[0], Value):
                for j, v, y in zip(num.neurons(l), vs, ys):
                    v.name, y.name = f"{num.v(j)}{tag}", f"{num.output(j)}{tag}"
        return ys, vs
