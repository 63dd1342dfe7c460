"""Reading case files (TOML, format v2 and v1) into a `Case`, with a strict schema.

A case is a network, its data, the learning setup, the author's names and the
claims to check (the reference is ``docs/case-files.md``)::

    [network]                 # loss = half_sse (default) | sse | mse | bce | softmax_ce
    eta = 0.25                # mode = "online" (default) | "batch";  steps = 1 (default)
    [[layer]]                 # one per layer of weights, input side first
    W = [[0.25, 0.3]]         # row j = neuron of this layer, column i = its input
    b = [-0.1]                # one per neuron, or one number shared by the layer (b_L1)
    activation = "sigmoid"    # any activation of the op table
    frozen = ["b"]            # optional: what the update leaves alone ("W", "b")
    [[data]]                  # one or more examples, in order
    x = [0.5, 1.1]
    d = [0.8]
    [names]                   # optional: the author's notation -> ours
    w_h = "w21"
    [claims]                  # the numbers to check, in either notation
    h_out = 0.587
    "dE/dw_h" = -0.024

Every problem is a `CaseError` whose message names the file, the line and the
key, and the nearest valid spelling of a misspelt one. Nothing is ignored.

Public API: `load_case(path, max_bytes=...)`, `Case.from_dict(d)`, and on a
`Case`: `.network` (`network.Network`), `.data` (list of (x, d) arrays),
`.eta`, `.mode`, `.steps`, `.names` (author -> ours), `.claims` (list of
`Claim`), `.quantities` (the formula graph, `quantities.Quantities`).
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.ops import activation
from ..files import MiB, read_text
from .network import LOSSES, Layer, Network
from .quantities import Quantities, UnknownName

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_QUANTITIES",
    "Case",
    "CaseError",
    "Claim",
    "last_digit_unit",
    "load_case",
]

DEFAULT_MAX_BYTES = 1 * MiB
DEFAULT_MAX_QUANTITIES = 200_000
#: what a missing key of a [[layer]] or [[data]] table looks like (for messages)
_EXAMPLE = {"W": "[[0.1, 0.2]]", "b": "[0.0]", "x": "[1.0, 0.0]", "d": "[1.0]"}

SCHEMA_V2 = {
    "network": {"loss", "eta", "mode", "steps"},
    "layer": {"W", "b", "activation", "frozen"},
    "data": {"x", "d"},
    "names": None,  # any keys
    "claims": None,
}
SCHEMA_V1 = {
    "network": {"hidden", "output", "eta"},
    "input": {"x", "d"},
    "weights": {"hidden", "hidden_bias", "output", "output_bias"},
    "claims": None,
}


class CaseError(ValueError):
    """The case file cannot be used; the message names the file, the line and the key."""


def last_digit_unit(text: str) -> float:
    """One unit of the last written digit: 0.587 -> 0.001, 1.6e-3 -> 1e-4, 12 -> 1."""
    t = text.strip().lstrip("+-").replace("_", "").lower()
    mantissa, _, exponent = t.partition("e")
    decimals = len(mantissa.partition(".")[2])
    try:
        return 10.0 ** (int(exponent or 0) - decimals)
    except (OverflowError, ValueError):
        return math.inf


@dataclass
class Claim:
    """A claimed number: `name` as written, `key` the quantity it names, `text` as typed."""

    name: str
    key: str
    value: float
    text: str
    line: int = 0

    @property
    def unit(self) -> float:
        return last_digit_unit(self.text)


@dataclass
class Case:
    network: Network
    data: list[tuple[np.ndarray, np.ndarray]]
    eta: float
    mode: str = "online"
    steps: int = 1
    names: dict[str, str] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    path: str = "<case>"
    version: int = 2

    @cached_property
    def quantities(self) -> Quantities:
        return Quantities.build(self.network, self.data, self.eta, self.mode, self.steps)

    def examples(self, n: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
        """The examples of pass n: all of them in batch mode, example n mod N online."""
        return list(self.data) if self.mode == "batch" else [self.data[n % len(self.data)]]

    def value_loss(self):
        """E of the first pass built from Values, every parameter a named leaf."""
        return self.network.value_loss(self.examples())[0]

    def written_name(self, key: str) -> str:
        """How the case writes quantity `key`: the author's name when [names] gives one."""
        ours = {v: k for k, v in self.names.items()}
        return ours.get(key, key)

    def in_author_terms(self, text: str) -> str:
        """`text` with each of our names that [names] renames written the author's way."""
        ours = {v: k for k, v in self.names.items() if re.fullmatch(r"\w+", v)}
        if not ours:
            return text
        names = "|".join(map(re.escape, sorted(ours, key=len)[::-1]))
        pattern = r"(?:(?<=dE/d)|(?<=Delta_)|(?<![\w']))(" + names + r")(?!\w)"
        return re.sub(pattern, lambda m: ours[m.group(1)], text)

    @classmethod
    def from_dict(
        cls,
        d: dict,
        path: str = "<case>",
        raw: str = "",
        max_quantities: int = DEFAULT_MAX_QUANTITIES,
    ) -> Case:
        """A case from the parsed TOML (or any dict of the same shape); `raw` gives line numbers."""
        return _Reader(path, d, raw, max_quantities).case()


def load_case(
    path: str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_quantities: int = DEFAULT_MAX_QUANTITIES,
    raise_with: str = "load_case(..., max_bytes=...)",
) -> Case:
    """Read and validate a case file; every problem is a `CaseError` naming file, line and key."""
    path = str(path)
    raw = read_text(path, max_bytes, "case file", raise_with)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(
            f"{path}: not a valid TOML file ({exc}); fix that line (see docs/case-files.md)"
        ) from None
    except RecursionError:
        raise CaseError(
            f"{path}: nested too deeply to be a case file; a case file is flat tables of "
            "numbers (see docs/case-files.md)"
        ) from None
    if not data:
        raise CaseError(
            f"{path}: empty; a case file needs [network], [[layer]] and [[data]] "
            "(see docs/case-files.md)"
        )
    return Case.from_dict(data, path, raw, max_quantities)


class _Lines:
    """Line numbers of the tables and keys of a TOML text (for messages)."""

    HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_\-]+)\s*\]\]?")
    KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_\-]+))\s*=\s*(.*)$""")

    def __init__(self, raw: str) -> None:
        self.where: dict[tuple, int] = {}
        self.texts: dict[str, tuple[str, int]] = {}
        table, index, counts = None, 0, {}
        for number, line in enumerate(raw.splitlines(), 1):
            m = self.HEADER.match(line)
            if m:
                table = m.group(2)
                index = counts.get(table, 0)
                if m.group(1) == "[[":
                    counts[table] = index + 1
                self.where.setdefault((table, index, None), number)
                continue
            k = self.KEY.match(line)
            if k and table is not None:
                key = k.group(1) or k.group(2) or k.group(3)
                self.where.setdefault((table, index, key), number)
                if table == "claims":
                    literal = re.match(r"[^#\s,\]]+", k.group(4).strip())
                    self.texts[key] = (literal.group(0) if literal else "", number)

    def line(self, table: str, index: int = 0, key: str | None = None) -> int:
        return self.where.get((table, index, key)) or self.where.get((table, index, None), 0)


class _Reader:
    def __init__(self, path: str, data: dict, raw: str, max_quantities: int) -> None:
        self.path, self.data, self.max_quantities = path, data, max_quantities
        self.lines = _Lines(raw)

    # -- messages --------------------------------------------------------------
    def fail(self, table: str, index: int | None, key: str | None, message: str) -> CaseError:
        line = self.lines.line(table, index or 0, key)
        where = f"[{table}]" if index is None else f"[[{table}]] number {index + 1}"
        if key is not None:
            where += f" {key}"
        at = f"{self.path}:{line}" if line else self.path
        return CaseError(f"{at}: {where}: {message}")

    def strict(self, table: str, index: int | None, got: dict, allowed: set[str]) -> None:
        for key in got:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(
                    table,
                    index,
                    key,
                    f"unknown key; {hint}expected one of {', '.join(sorted(allowed))}",
                )

    # -- values ----------------------------------------------------------------
    def number(self, v: Any, table: str, index: int | None, key: str, what: str = "") -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if v is None:
                raise self.fail(table, index, key, f"missing; add {key} = a number{what}")
            raise self.fail(
                table, index, key, f"expected a number{what}, got {v!r:.60}; write e.g. 0.5"
            )
        try:
            x = float(v)
        except OverflowError:
            raise self.fail(
                table,
                index,
                key,
                f"{v!r:.40} is too large for a float (max about 1.8e308); write a smaller number",
            ) from None
        if not math.isfinite(x):
            raise self.fail(
                table, index, key, f"expected a finite number{what}, got {v!r}; write e.g. 0.5"
            )
        return x

    def vector(self, v: Any, table: str, index: int | None, key: str, what: str) -> np.ndarray:
        if not isinstance(v, list) or not v:
            raise self.fail(
                table,
                index,
                key,
                f"expected a list of numbers ({what}), got {v!r:.40}; write e.g. [0.1, 0.2]",
            )
        return np.array([self.number(t, table, index, key, f" ({what})") for t in v])

    def matrix(self, v: Any, table: str, index: int | None, key: str, what: str) -> np.ndarray:
        if not isinstance(v, list) or not v or not all(isinstance(r, list) and r for r in v):
            raise self.fail(
                table,
                index,
                key,
                f"expected a list of rows like [[0.1, 0.2]] ({what}), got {v!r:.40}",
            )
        widths = {len(r) for r in v}
        if len(widths) > 1:
            raise self.fail(
                table,
                index,
                key,
                f"rows of different lengths {sorted(widths)}; give every row the same length",
            )
        return np.array([[self.number(t, table, index, key, f" ({what})") for t in r] for r in v])

    def table(self, name: str, required: bool = True) -> dict:
        sec = self.data.get(name)
        if sec is None:
            if required:
                raise self.fail(name, None, None, "missing; see docs/case-files.md")
            return {}
        if not isinstance(sec, dict):
            raise self.fail(
                name,
                None,
                None,
                f"expected a table ([{name}] with key = value lines), got {sec!r:.40}",
            )
        return sec

    def tables(self, name: str) -> list[dict]:
        secs = self.data.get(name)
        if secs is None:
            raise self.fail(name, None, None, f"missing; add one or more [[{name}]] tables")
        if not isinstance(secs, list) or not all(isinstance(s, dict) for s in secs):
            raise self.fail(
                name, None, None, f"expected [[{name}]] tables (double brackets), got [{name}]"
            )
        return secs

    # -- the case ----------------------------------------------------------------
    def case(self) -> Case:
        v1 = any(k in self.data for k in ("input", "weights"))
        schema = SCHEMA_V1 if v1 else SCHEMA_V2
        for key in self.data:
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.5)
                hint = f"did you mean [{close[0]}]? " if close else ""
                raise self.fail(
                    key, None, None, f"unknown section; {hint}expected {', '.join(schema)}"
                )
        for key, allowed in schema.items():
            sec = self.data.get(key)
            if allowed is not None and isinstance(sec, dict):
                self.strict(key, None, sec, allowed)
        network, layers, data = self._v1() if v1 else self._v2()
        self._fit(layers, data)
        net = Network(layers, network["loss"])
        case = Case(
            net,
            data,
            network["eta"],
            network["mode"],
            network["steps"],
            path=self.path,
            version=1 if v1 else 2,
        )
        self._limit(case)
        case.names = self._names(case)
        case.claims = self._claims(case)
        return case

    def _setup(self, sec: dict) -> dict:
        eta = self.number(sec.get("eta"), "network", None, "eta", " (the learning rate)")
        loss = sec.get("loss", "half_sse")
        if loss not in LOSSES:
            raise self.fail(
                "network", None, "loss", f"{loss!r:.40}: expected one of {', '.join(LOSSES)}"
            )
        mode = sec.get("mode", "online")
        if mode not in ("online", "batch"):
            raise self.fail(
                "network",
                None,
                "mode",
                f'{mode!r:.40}: expected online or batch; write mode = "online" or "batch"',
            )
        steps = sec.get("steps", 1)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 10_000:
            raise self.fail(
                "network",
                None,
                "steps",
                f"expected a whole number 0..10000, got {steps!r:.40}; write e.g. steps = 1",
            )
        return {"eta": eta, "loss": loss, "mode": mode, "steps": steps}

    def _activation(self, spec: Any, table: str, index: int | None, key: str) -> Any:
        try:
            return activation(spec)
        except (ValueError, TypeError) as exc:
            raise self.fail(table, index, key, str(exc)) from None

    def _v2(self) -> tuple[dict, list[Layer], list]:
        if "network" not in self.data and "eta" in self.data:
            raise self.fail("network", None, None, "missing; put eta under a [network] line")
        network = self._setup(self.table("network"))
        layers = []
        secs = self.tables("layer")
        for i, sec in enumerate(secs):
            self.strict("layer", i, sec, SCHEMA_V2["layer"])
            for key in ("W", "b"):
                if key not in sec:
                    raise self.fail(
                        "layer", i, None, f"{key} is missing; add e.g. {key} = {_EXAMPLE[key]}"
                    )
            W = self.matrix(sec["W"], "layer", i, "W", "row j = neuron, column i = its input")
            shared = not isinstance(sec["b"], list)
            b = (
                np.array([self.number(sec["b"], "layer", i, "b", " or a list")])
                if shared
                else self.vector(sec["b"], "layer", i, "b", "one bias per neuron")
            )
            last = i == len(secs) - 1
            default = "linear" if last and network["loss"] == "softmax_ce" else None
            spec = sec.get("activation", default)
            if spec is None:
                raise self.fail(
                    "layer", i, None, 'activation is missing, e.g. activation = "sigmoid"'
                )
            act = self._activation(spec, "layer", i, "activation")
            if last and network["loss"] == "softmax_ce" and act.name != "linear":
                raise self.fail(
                    "layer", i, "activation",
                    "with loss = softmax_ce the output layer's y is the softmax of v; "
                    'give activation = "linear" (or leave it out)',
                )  # fmt: skip
            frozen = sec.get("frozen", [])
            if not isinstance(frozen, list) or not set(frozen) <= {"W", "b"}:
                raise self.fail(
                    "layer", i, "frozen", f'expected a list of "W" and "b", got {frozen!r:.40}'
                )
            layers.append(Layer(W, b, act, shared, frozenset(frozen)))
        data = []
        for k, sec in enumerate(self.tables("data")):
            self.strict("data", k, sec, SCHEMA_V2["data"])
            for key in ("x", "d"):
                if key not in sec:
                    raise self.fail(
                        "data", k, None, f"{key} is missing; add e.g. {key} = {_EXAMPLE[key]}"
                    )
            x = self.vector(sec["x"], "data", k, "x", "one value per input")
            d = self.vector(sec["d"], "data", k, "d", "one target per output neuron")
            data.append((x, d))
        return network, layers, data

    def _v1(self) -> tuple[dict, list[Layer], list]:
        sec = self.table("network")
        network = self._setup({"eta": sec.get("eta")})
        acts = {}
        for key in ("hidden", "output"):
            if key not in sec:
                raise self.fail("network", None, None, f'{key} is missing, e.g. {key} = "sigmoid"')
            acts[key] = self._activation(sec[key], "network", None, key)
        inp, w = self.table("input"), self.table("weights")
        for table, got, keys in (("input", inp, ("x", "d")), ("weights", w, SCHEMA_V1["weights"])):
            for key in sorted(keys):
                if key not in got:
                    raise self.fail(table, None, None, f"{key} is missing; add a {key} = ... line")
        x = self.vector(inp["x"], "input", None, "x", "one value per input")
        d = self.vector(inp["d"], "input", None, "d", "one target per output neuron")
        W1 = self.matrix(w["hidden"], "weights", None, "hidden", "row i = hidden neuron")
        W2 = self.matrix(w["output"], "weights", None, "output", "row j = output neuron")
        b1 = self.vector(w["hidden_bias"], "weights", None, "hidden_bias", "one per hidden neuron")
        b2 = self.vector(w["output_bias"], "weights", None, "output_bias", "one per output neuron")
        layers = [Layer(W1, b1, acts["hidden"]), Layer(W2, b2, acts["output"])]
        self._v1_names = {
            0: ("weights", "hidden", "hidden_bias"),
            1: ("weights", "output", "output_bias"),
        }
        return network, layers, [(x, d)]

    def _fit(self, layers: list[Layer], data: list) -> None:
        """Shapes: each layer's columns = the previous layer's rows; x and d fit the ends."""
        v1 = hasattr(self, "_v1_names")
        width = len(data[0][0])
        for i, layer in enumerate(layers):
            table, wkey, bkey = self._v1_names[i] if v1 else ("layer", "W", "b")
            index = None if v1 else i
            rows, cols = layer.W.shape
            feeds = "inputs (x)" if i == 0 else f"neurons in layer {i}"
            if cols != width:
                raise self.fail(
                    table, index, wkey,
                    f"each row needs {width} numbers (one per {feeds[:-1] if i else 'input'}: "
                    f"there are {width} {feeds}), got {cols}",
                )  # fmt: skip
            if not layer.shared and layer.b.size != rows:
                raise self.fail(
                    table,
                    index,
                    bkey,
                    f"expected {rows} biases (one per neuron), got {layer.b.size}",
                )
            width = rows
        for k, (x, d) in enumerate(data):
            table, index = ("input", None) if v1 else ("data", k)
            if x.size != layers[0].W.shape[1]:
                raise self.fail(
                    table, index, "x", f"expected {layers[0].W.shape[1]} inputs, got {x.size}"
                )
            if d.size != width:
                raise self.fail(
                    table,
                    index,
                    "d",
                    f"expected {width} targets (one per output neuron), got {d.size}",
                )

    def _limit(self, case: Case) -> None:
        sizes = case.network.sizes
        per_example = 6 * sum(sizes[1:]) + 2 * len(case.network.parameter_names)
        passes = case.steps + 1
        examples = len(case.data) if case.mode == "batch" else 1
        count = passes * (examples * per_example + 3 * len(case.network.parameter_names))
        if count > self.max_quantities:
            raise CaseError(
                f"{self.path}: the case has about {count} quantities to compute (layers x "
                f"examples x steps), over the limit of {self.max_quantities}; raise it with "
                f"--max-quantities {count} (max_quantities= from Python)"
            )

    def _names(self, case: Case) -> dict[str, str]:
        sec = self.table("names", required=False)
        g = case.quantities
        out = {}
        for author, ours in sec.items():
            if not isinstance(ours, str):
                raise self.fail(
                    "names", None, author, f'expected our name as a string, e.g. {author} = "w31"'
                )
            try:
                g.resolve(ours)
            except UnknownName as exc:
                raise self.fail("names", None, author, str(exc)) from None
            out[author] = ours
        return out

    def _claims(self, case: Case) -> list[Claim]:
        sec = self.table("claims", required=False)
        g = case.quantities
        claims = []
        for name, value in sec.items():
            if isinstance(value, dict):
                raise self.fail(
                    "claims",
                    None,
                    name,
                    'a table, not a number: quote names with dots or slashes ("dE/dw11" = 0.1)',
                )
            x = self.number(value, "claims", None, name)
            try:
                key = g.resolve(name, case.names)
            except UnknownName as exc:
                raise self.fail("claims", None, name, str(exc)) from None
            text, line = self.lines.texts.get(name, (repr(value), 0))
            if not re.fullmatch(r"[+-]?[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?", text or "?"):
                text = repr(value)
            claim = Claim(name, key, x, text, line)
            if x == 0 and re.search(r"[1-9]", text.lower().partition("e")[0]):
                raise self.fail(
                    "claims",
                    None,
                    name,
                    f"{text[:40]} is below the smallest float (about 5e-324) and would be read "
                    "as 0; write 0 if that is what you mean",
                )
            if not claim.unit < math.inf:  # 0.0e99999: a digit worth 1e99998
                raise self.fail(
                    "claims",
                    None,
                    name,
                    f"{text[:40]}: its exponent puts the last digit out of the range of a "
                    "float; write the number out, e.g. 0.0012",
                )
            claims.append(claim)
        return claims
