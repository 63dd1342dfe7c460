"""A backprop problem as a teacher writes it: layers, loss, learning rate, examples, notation.

Neurons are numbered as the slides number them, consecutively and input side
first: hidden neurons 1..h, then the next layer's, then the outputs. Inputs are
x_1..x_n. A weight is ``w{j}{i}`` (neuron j, fed by input or neuron i), written
``w{j}_{i}`` when an index has two digits (``w12_3``); a bias is ``b{j}``, and a
bias shared by the l-th layer of weights is one parameter ``b_L{l}``. A hidden
neuron's output is ``y_h{j}`` (``y{j}`` is read too), its local gradient
``delta{j}``.

`read_problem` reads a case file (TOML, the layered format with ``[[layer]]``
tables, or the older two-layer format with ``[weights]``); `problem_toml`
writes one back.
"""

from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.ops import Activation, activation, activation_names
from ..files import MiB, read_text

__all__ = [
    "LOSSES",
    "CaseFormatError",
    "Layer",
    "Problem",
    "Written",
    "parse_toml",
    "problem_from_toml",
    "problem_toml",
    "read_problem",
]

LOSSES = ("half_sse", "sse", "mse", "bce")
MODES = ("online", "batch")
CASE_LIMIT = 1 * MiB


class CaseFormatError(ValueError):
    """A case file that cannot be used; the message names the place and what was expected."""


class Written(float):
    """A number read from a file that remembers how it was written (``0.20`` keeps its digits)."""

    text: str

    def __new__(cls, text: str) -> Written:
        self = super().__new__(cls, text.replace("_", ""))
        self.text = text
        return self


def last_digit_unit(text: str) -> float:
    """One unit of the last written digit: 0.587 -> 0.001, 1.6e-3 -> 1e-4, 12 -> 1."""
    t = text.strip().lstrip("+-").replace("_", "").lower()
    mantissa, _, exponent = t.partition("e")
    return 10.0 ** (int(exponent or 0) - len(mantissa.partition(".")[2]))


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

    def neurons(self, l: int) -> range:
        """The slides' numbers of the neurons of layer `l` (0 = first hidden layer)."""
        start = sum(layer.size for layer in self.layers[:l])
        return range(start + 1, start + self.layers[l].size + 1)

    def sources(self, l: int) -> list[int]:
        """The numbers of what feeds layer `l`: the inputs 1..n, or the previous layer's neurons."""
        return list(range(1, self.n_inputs + 1)) if l == 0 else list(self.neurons(l - 1))

    def is_output(self, l: int) -> bool:
        return l == len(self.layers) - 1

    def with_layers(self, layers: list[Layer]) -> Problem:
        return Problem(
            tuple(layers), self.data, self.eta, self.loss, self.mode, self.steps, self.names
        )


def pair(j: int, i: int) -> str:
    return f"{j}{i}" if j < 10 and i < 10 else f"{j}_{i}"


def weight_name(j: int, i: int) -> str:
    return f"w{pair(j, i)}"


def bias_name(problem: Problem, l: int, j: int) -> str:
    return f"b_L{l + 1}" if problem.layers[l].shared_bias else f"b{j}"


def parameter_names(problem: Problem) -> list[str]:
    names = []
    for l in range(len(problem.layers)):
        for j in problem.neurons(l):
            names += [weight_name(j, i) for i in problem.sources(l)]
        names += list(dict.fromkeys(bias_name(problem, l, j) for j in problem.neurons(l)))
    return names


# -- reading ------------------------------

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def parse_toml(text: str, where: str) -> dict:
    """TOML with every float kept as a `Written` (its digits) and a clear error otherwise."""
    try:
        return tomllib.loads(text, parse_float=Written)
    except tomllib.TOMLDecodeError as exc:
        raise CaseFormatError(f"{where}: not a valid TOML file ({exc})") from None


def read_problem(path: str | Path, limit: int = CASE_LIMIT) -> tuple[Problem, dict]:
    """The problem of a case file and its raw table (for ``[claims]``)."""
    text = read_text(path, limit, "case file")
    data = parse_toml(text, str(path))
    return problem_from_toml(data, str(path)), data


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, place: str, expected: str) -> CaseFormatError:
        return CaseFormatError(f"{self.where}: {place}: {expected}")

    def keys(self, table: object, place: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(table, dict):
            raise self.fail(place, "expected a table of key = value lines")
        for key in table:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"expected {', '.join(allowed)}"
                raise self.fail(f"{place} {key!r}", f"unknown key; {hint}")
        return table

    def number(self, v: object, place: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(place, f"expected a number, got {v!r}")
        if not math.isfinite(v):
            raise self.fail(place, f"expected a finite number, got {v!r}")
        return float(v)

    def vector(self, v: object, place: str, length: int | None = None, what="") -> np.ndarray:
        if not isinstance(v, list) or not v:
            raise self.fail(place, f"expected a non-empty list of numbers, got {v!r}")
        out = np.array([self.number(e, f"{place}[{i}]") for i, e in enumerate(v)])
        if length is not None and out.size != length:
            raise self.fail(place, f"expected {length} number(s){what}, got {out.size}")
        return out

    def matrix(self, v: object, place: str, cols: int | None) -> np.ndarray:
        if not isinstance(v, list) or not v or not all(isinstance(r, list) for r in v):
            raise self.fail(place, "expected a non-empty list of rows like [[0.1, 0.2]]")
        rows = [self.vector(r, f"{place} row {k + 1}", cols) for k, r in enumerate(v)]
        if len({r.size for r in rows}) != 1:
            raise self.fail(place, "every row needs the same number of columns")
        return np.array(rows)

    def activation(self, v: object, place: str) -> Activation:
        if not isinstance(v, str):
            raise self.fail(place, f"expected one of {activation_names()}")
        try:
            return activation(v)
        except ValueError as exc:
            raise self.fail(place, str(exc)) from None

    def choice(self, table: dict, key: str, options: tuple[str, ...], place: str) -> str:
        v = table.get(key, options[0])
        if v not in options:
            raise self.fail(f"{place} {key}", f"expected one of {', '.join(options)}, got {v!r}")
        return v


TOP = ("network", "layer", "data", "names", "claims", "title")
V1_TOP = ("network", "input", "weights", "claims", "names", "title")


def problem_from_toml(data: dict, where: str = "case") -> Problem:
    """Build a `Problem` from a parsed case file (either format); unknown keys are errors."""
    r = _Reader(where)
    if "weights" in data or "input" in data:
        return _from_v1(r, data)
    r.keys(data, "top level", TOP)
    net = r.keys(data.get("network", {}), "[network]", ("loss", "eta", "mode", "steps"))
    if "eta" not in net:
        raise r.fail("[network] eta", "missing; add e.g. eta = 0.5 (the learning rate)")
    eta = r.number(net["eta"], "[network] eta")
    if not eta > 0:
        raise r.fail("[network] eta", f"expected a positive learning rate, got {eta:g}")
    steps = net.get("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 100:
        raise r.fail("[network] steps", f"expected a whole number from 0 to 100, got {steps!r}")
    raw_layers = data.get("layer")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise r.fail("[[layer]]", "missing; add one [[layer]] table per layer of weights")
    if len(raw_layers) > 20:
        raise r.fail("[[layer]]", f"at most 20 layers, got {len(raw_layers)}")
    layers: list[Layer] = []
    cols = None
    for k, raw in enumerate(raw_layers):
        place = f"[[layer]] {k + 1}"
        r.keys(raw, place, ("W", "b", "activation", "frozen"))
        for key in ("W", "b", "activation"):
            if key not in raw:
                raise r.fail(f"{place} {key}", "missing")
        W = r.matrix(raw["W"], f"{place} W", cols)
        if W.size > 10_000:
            raise r.fail(f"{place} W", f"at most 10000 weights per layer, got {W.size}")
        shared = not isinstance(raw["b"], list)
        if shared:
            b = np.full(W.shape[0], r.number(raw["b"], f"{place} b"))
        else:
            b = r.vector(raw["b"], f"{place} b", W.shape[0], " (one per row of W)")
        frozen = raw.get("frozen", [])
        if not isinstance(frozen, list) or not set(frozen) <= {"W", "b"}:
            raise r.fail(f"{place} frozen", f'expected a list of "W" and "b", got {frozen!r}')
        act = r.activation(raw["activation"], f"{place} activation")
        layers.append(Layer(W, b, act, shared, frozenset(frozen)))
        cols = W.shape[0]
    raw_data = data.get("data")
    if not isinstance(raw_data, list) or not raw_data:
        raise r.fail("[[data]]", "missing; add a [[data]] table with x = [...] and d = [...]")
    if len(raw_data) > 1000:
        raise r.fail("[[data]]", f"at most 1000 examples, got {len(raw_data)}")
    examples = []
    for k, raw in enumerate(raw_data):
        place = f"[[data]] {k + 1}"
        r.keys(raw, place, ("x", "d"))
        n_in, n_out = layers[0].W.shape[1], layers[-1].size
        x = r.vector(raw.get("x"), f"{place} x", n_in, f" (the first layer's W has {n_in} columns)")
        d = r.vector(raw.get("d"), f"{place} d", n_out, f" (one per output neuron: {n_out})")
        examples.append((x, d))
    return Problem(
        tuple(layers),
        tuple(examples),
        eta,
        r.choice(net, "loss", LOSSES, "[network]"),
        r.choice(net, "mode", MODES, "[network]"),
        steps,
        _names(r, data.get("names", {})),
    )


def _names(r: _Reader, raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise r.fail("[names]", 'expected lines like w5 = "w31"')
    for k, v in raw.items():
        if not isinstance(v, str):
            raise r.fail(f"[names] {k}", f'expected our name in quotes, like "w31", got {v!r}')
    return dict(raw)


def _from_v1(r: _Reader, data: dict) -> Problem:
    r.keys(data, "top level", V1_TOP)
    net = r.keys(data.get("network", {}), "[network]", ("hidden", "output", "eta"))
    inp = r.keys(data.get("input", {}), "[input]", ("x", "d"))
    w = r.keys(
        data.get("weights", {}), "[weights]", ("hidden", "hidden_bias", "output", "output_bias")
    )
    x = r.vector(inp.get("x"), "[input] x")
    W1 = r.matrix(w.get("hidden"), "[weights] hidden", x.size)
    b1 = r.vector(w.get("hidden_bias"), "[weights] hidden_bias", W1.shape[0])
    W2 = r.matrix(w.get("output"), "[weights] output", W1.shape[0])
    b2 = r.vector(w.get("output_bias"), "[weights] output_bias", W2.shape[0])
    d = r.vector(inp.get("d"), "[input] d", W2.shape[0])
    if "eta" not in net:
        raise r.fail("[network] eta", "missing; add e.g. eta = 0.5 (the learning rate)")
    layers = (
        Layer(W1, b1, r.activation(net.get("hidden"), "[network] hidden")),
        Layer(W2, b2, r.activation(net.get("output"), "[network] output")),
    )
    eta = r.number(net["eta"], "[network] eta")
    return Problem(layers, ((x, d),), eta, names=_names(r, data.get("names", {})))


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
