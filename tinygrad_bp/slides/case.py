"""Case files: one concrete 2-layer network, one training example, and a person's claims.

    [network]
    hidden = "sigmoid"      # sigmoid | tanh | linear
    output = "sigmoid"
    eta = 0.25
    [input]
    x = [0.5, 1.1]
    d = [0.8]               # one target per output neuron
    [weights]
    hidden = [[0.25, 0.3]]  # row i = hidden neuron i, column k = input k (w_ik)
    hidden_bias = [-0.1]
    output = [[0.33]]       # row j = output neuron, column i = hidden neuron (w_ji)
    output_bias = [0.3]
    [claims]                # optional
    y_h1 = 0.587
    "dE/dw21" = -0.024

A claim passes when it is within `rtol` (2%) of the true value or within one
unit of its last written digit (0.587 -> 0.001), whichever is looser.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.ops import ACTIVATIONS
from .compare import Comparison, compare
from .rules import forward
from .twolayer import TwoLayerNet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["CaseError", "CaseFile", "Claim", "CheckResult", "check_case", "load_case"]

DEFAULT_RTOL = 0.02


class CaseError(ValueError):
    """The case file cannot be used; the message names the file, the field and what was expected."""


@dataclass
class Claim:
    name: str
    claimed: float
    text: str
    actual: float = math.nan
    ok: bool = False

    @property
    def unit(self) -> float:
        """One unit of the last written digit: 0.587 -> 0.001, 1.6e-3 -> 1e-4, 12 -> 1."""
        return last_digit_unit(self.text)


@dataclass
class CaseFile:
    path: str
    net: TwoLayerNet
    x: np.ndarray
    d: np.ndarray
    eta: float
    claims: list[Claim] = field(default_factory=list)


@dataclass
class CheckResult:
    case: CaseFile
    comparison: Comparison
    claims: list[Claim]
    rtol: float

    @property
    def claims_ok(self) -> bool:
        return all(c.ok for c in self.claims)

    @property
    def agree(self) -> bool:
        return self.comparison.agree

    @property
    def exit_status(self) -> int:
        return 0 if self.claims_ok and self.agree else 1

    def to_dict(self) -> dict:
        comp = self.comparison.to_dict()
        return {
            "forward": comp["forward"],
            "E": comp["forward"]["E"],
            "parameters": {
                name: {
                    "value": row["value"],
                    "autodiff": row["gradient"]["value_engine"],
                    "tensor": row["gradient"]["tensor_engine"],
                    "rules": row["gradient"]["rules"],
                    "numeric": row["gradient"]["numeric"],
                    "delta": row["delta"],
                    "new": row["new"],
                }
                for name, row in comp["parameters"].items()
            },
            "claims": [
                {"name": c.name, "claimed": c.claimed, "actual": c.actual, "ok": c.ok}
                for c in self.claims
            ],
            "agree": self.agree,
        }

    def report(self) -> str:
        lines = [f"case {self.case.path}", self.comparison.table()]
        if self.claims:
            lines += ["", f"claims (pass within {self.rtol:.0%} or one unit of the last digit):"]
            width = max(len(c.name) for c in self.claims)
            for c in self.claims:
                verdict = "ok" if c.ok else "WRONG"
                extra = "" if c.ok else f"   off by {c.claimed - c.actual:+.3g}"
                lines.append(
                    f"  {c.name:<{width}}  claimed {c.text:>12}  true {c.actual:>14.8g}  "
                    f"{verdict}{extra}"
                )
            wrong = [c.name for c in self.claims if not c.ok]
            lines.append(
                "all claims hold" if not wrong else f"{len(wrong)} wrong: " + ", ".join(wrong)
            )
        return "\n".join(lines)


def last_digit_unit(text: str) -> float:
    t = text.strip().lstrip("+-").replace("_", "").lower()
    mantissa, _, exponent = t.partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _claim_texts(raw: str) -> dict[str, str]:
    """The literal text of each number in [claims], to know its last written digit."""
    texts: dict[str, str] = {}
    in_claims = False
    pattern = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_\-]+))\s*=\s*([^#\s]+)""")
    for line in raw.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_claims = stripped.split("#")[0].strip() == "[claims]"
            continue
        if in_claims:
            m = pattern.match(line)
            if m:
                key = m.group(1) or m.group(2) or m.group(3)
                texts[key] = m.group(4)
    return texts


class _Reader:
    def __init__(self, path: str, data: dict) -> None:
        self.path = path
        self.data = data

    def fail(self, where: str, expected: str) -> CaseError:
        return CaseError(f"{self.path}: {where}: {expected}")

    def section(self, name: str, example: str) -> dict:
        if name not in self.data:
            raise self.fail(f"missing section [{name}]", f"add it, e.g.\n[{name}]\n{example}")
        sec = self.data[name]
        if not isinstance(sec, dict):
            raise self.fail(f"[{name}]", "expected a table (a [section] with key = value lines)")
        return sec

    def number(self, sec: dict, section: str, key: str, example: str) -> float:
        if key not in sec:
            raise self.fail(f"[{section}] {key} is missing", f"expected e.g. {key} = {example}")
        return self._num(sec[key], f"[{section}] {key}")

    def _num(self, v: object, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(where, f"expected a number, got {v!r}")
        if not math.isfinite(v):
            raise self.fail(where, f"expected a finite number, got {v!r}")
        return float(v)

    def vector(
        self, sec: dict, section: str, key: str, length: int | None, what: str
    ) -> np.ndarray:
        where = f"[{section}] {key}"
        if key not in sec:
            raise self.fail(f"{where} is missing", f"expected a list of numbers ({what})")
        v = sec[key]
        if not isinstance(v, list):
            raise self.fail(where, f"expected a list of numbers ({what}), got {v!r}")
        out = np.array([self._num(e, f"{where}[{i}]") for i, e in enumerate(v)], dtype=float)
        if not out.size:
            raise self.fail(where, f"expected a non-empty list ({what})")
        if length is not None and out.size != length:
            raise self.fail(where, f"expected {length} numbers ({what}), got {out.size}")
        return out

    def matrix(self, sec: dict, section: str, key: str, shape: tuple, what: str) -> np.ndarray:
        where = f"[{section}] {key}"
        if key not in sec:
            raise self.fail(f"{where} is missing", f"expected a list of rows ({what})")
        rows = sec[key]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise self.fail(where, f"expected a list of rows like [[1.0, 2.0]] ({what})")
        m = [
            [self._num(e, f"{where}[{i}][{k}]") for k, e in enumerate(r)]
            for i, r in enumerate(rows)
        ]
        rows_n, cols_n = shape
        if rows_n is not None and len(m) != rows_n:
            raise self.fail(where, f"expected {rows_n} rows ({what}), got {len(m)}")
        for i, r in enumerate(m):
            if len(r) != cols_n:
                raise self.fail(
                    where, f"row {i + 1}: expected {cols_n} columns ({what}), got {len(r)}"
                )
        return np.array(m, dtype=float)


def load_case(path: str | Path) -> CaseFile:
    """Read and validate a case file; every problem is a `CaseError` naming file and field."""
    path = str(path)
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read the file ({exc})") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{path}: not a valid TOML file ({exc})") from None
    r = _Reader(path, data)
    network = r.section("network", 'hidden = "sigmoid"\noutput = "linear"\neta = 0.5')
    acts = {}
    for key in ("hidden", "output"):
        if key not in network:
            raise r.fail(f"[network] {key} is missing", f"expected one of {', '.join(ACTIVATIONS)}")
        if network[key] not in ACTIVATIONS:
            raise r.fail(
                f"[network] {key}",
                f"unknown activation {network[key]!r}; expected one of " + ", ".join(ACTIVATIONS),
            )
        acts[key] = network[key]
    eta = r.number(network, "network", "eta", "0.25 (the learning rate)")
    inp = r.section("input", "x = [0.5, 1.1]\nd = [0.8]")
    x = r.vector(inp, "input", "x", None, "one value per input")
    weights = r.section(
        "weights",
        "hidden = [[0.25, 0.3]]\nhidden_bias = [-0.1]\noutput = [[0.33]]\noutput_bias = [0.3]",
    )
    W1 = r.matrix(
        weights, "weights", "hidden", (None, x.size), f"row i = hidden neuron, {x.size} inputs"
    )
    H = W1.shape[0]
    if H == 0:
        raise r.fail("[weights] hidden", "expected at least one hidden neuron (one row)")
    b1 = r.vector(weights, "weights", "hidden_bias", H, "one per hidden neuron")
    W2 = r.matrix(
        weights, "weights", "output", (None, H), f"row j = output neuron, {H} hidden neurons"
    )
    O = W2.shape[0]
    if O == 0:
        raise r.fail("[weights] output", "expected at least one output neuron (one row)")
    b2 = r.vector(weights, "weights", "output_bias", O, "one per output neuron")
    d = r.vector(inp, "input", "d", O, "one target per output neuron")
    net = TwoLayerNet(W1, b1, W2, b2, acts["hidden"], acts["output"])
    case = CaseFile(path, net, x, d, eta)
    claims = data.get("claims", {})
    if not isinstance(claims, dict):
        raise r.fail("[claims]", "expected a table of name = number lines")
    texts = _claim_texts(raw)
    names = claim_names(net)
    known = set(names)
    for name, value in claims.items():
        if name not in known:
            raise r.fail(
                f"[claims] {name!r}",
                "unknown name; expected one of v1, y_h1, y, e, E, dE/dw11, Delta_w11, w11_new ... "
                f"(this network's: {', '.join(names)})",
            )
        case.claims.append(
            Claim(name, r._num(value, f"[claims] {name}"), texts.get(name, repr(value)))
        )
    return case


def claim_names(net: TwoLayerNet) -> list[str]:
    names = list(forward(net, np.zeros(net.n_in), np.zeros(net.n_out)))
    if net.n_out == 1:
        names += ["y", "e"]
    for p in net.parameter_names:
        names += [f"dE/d{p}", f"Delta_{p}", f"{p}_new"]
    return names


def true_values(comparison: Comparison, net: TwoLayerNet) -> dict[str, float]:
    """Every claimable name -> its true value (rules' gradients, checked against autodiff)."""
    values = dict(comparison.forward)
    if net.n_out == 1:
        j = net.output_neurons()[0]
        values["y"], values["e"] = values[f"y{j}"], values[f"e{j}"]
    for row in comparison.rows:
        values[f"dE/d{row.name}"] = row.value_engine
        values[f"Delta_{row.name}"] = -comparison.eta * row.value_engine
        values[f"{row.name}_new"] = row.value - comparison.eta * row.value_engine
    return values


def check_case(case: CaseFile, rtol: float = DEFAULT_RTOL) -> CheckResult:
    comparison = compare(case.net, case.x, case.d, case.eta)
    truth = true_values(comparison, case.net)
    for c in case.claims:
        c.actual = truth[c.name]
        tolerance = max(rtol * abs(c.actual), c.unit)
        c.ok = abs(c.claimed - c.actual) <= tolerance * (1 + 1e-12)
    return CheckResult(case, comparison, case.claims, rtol)
