"""Autodiff against the closed-form rules, parameter by parameter.

For one training example, every parameter p gets dE/dp four ways: the Value
engine, the Tensor engine, the slides' rules (`rules.four_rules`) and central
finite differences, plus the online update Delta p = -eta dE/dp and p_new.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .rules import forward, four_rules, numeric_gradients
from .twolayer import TwoLayerNet

__all__ = ["ANALYTIC_RTOL", "Comparison", "ParameterRow", "compare"]

# The three analytic gradients must agree to this relative tolerance.
ANALYTIC_RTOL = 1e-9
# Finite differences carry O(eps^2) truncation and O(1e-16/eps) rounding error.
NUMERIC_ATOL = 1e-7
NUMERIC_RTOL = 1e-5


def _rel(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if a == b else abs(a - b) / scale


@dataclass
class ParameterRow:
    name: str
    value: float
    value_engine: float
    tensor_engine: float
    rules: float
    numeric: float
    delta: float
    new: float

    @property
    def analytic_disagreement(self) -> float:
        """Largest relative difference between the three analytic gradients."""
        a = (self.value_engine, self.tensor_engine, self.rules)
        return max(_rel(a[0], a[1]), _rel(a[0], a[2]), _rel(a[1], a[2]))

    @property
    def numeric_error(self) -> float:
        return abs(self.rules - self.numeric)

    @property
    def agree(self) -> bool:
        analytic = self.analytic_disagreement <= ANALYTIC_RTOL or (
            max(abs(self.value_engine), abs(self.tensor_engine), abs(self.rules)) < 1e-300
        )
        numeric = self.numeric_error <= NUMERIC_ATOL + NUMERIC_RTOL * abs(self.rules)
        return analytic and numeric


@dataclass
class Comparison:
    net: TwoLayerNet
    x: np.ndarray
    d: np.ndarray
    eta: float
    forward: dict[str, float]
    rows: list[ParameterRow] = field(default_factory=list)

    @property
    def E(self) -> float:
        return self.forward["E"]

    @property
    def agree(self) -> bool:
        return all(row.agree for row in self.rows)

    def to_dict(self) -> dict:
        return {
            "network": {
                "sizes": [self.net.n_in, self.net.n_hidden, self.net.n_out],
                "hidden": self.net.hidden,
                "output": self.net.output,
                "eta": self.eta,
            },
            "x": self.x.tolist(),
            "d": self.d.tolist(),
            "forward": {k: v for k, v in self.forward.items() if k != "E"},
            "E": self.E,
            "parameters": {
                row.name: {
                    **{k: v for k, v in asdict(row).items() if k != "name"},
                    "analytic_disagreement": row.analytic_disagreement,
                    "numeric_error": row.numeric_error,
                    "agree": row.agree,
                }
                for row in self.rows
            },
            "agree": self.agree,
        }

    def table(self) -> str:
        net = self.net
        lines = [
            f"network {net.n_in}-{net.n_hidden}-{net.n_out}: hidden {net.hidden}, "
            f"output {net.output}, E = 1/2 sum e^2, eta = {self.eta:g}",
            "x = " + _vec(self.x) + "   d = " + _vec(self.d),
            "forward: "
            + ", ".join(f"{k} = {v:.6g}" for k, v in self.forward.items() if k != "E")
            + f", E = {self.E:.6g}",
            "",
        ]
        head = (
            f"{'param':<8}{'value':>11}{'Value engine':>16}{'Tensor engine':>16}"
            f"{'rules (1)-(4)':>16}{'finite diff':>16}{'Delta p':>13}{'p_new':>11}"
            f"{'max disagreement':>18}"
        )
        lines += [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.name:<8}{r.value:>11.6f}{r.value_engine:>16.10g}{r.tensor_engine:>16.10g}"
                f"{r.rules:>16.10g}{r.numeric:>16.10g}{r.delta:>13.6g}{r.new:>11.6f}"
                f"{_disagreement(r):>18}"
            )
        worst = max((r.analytic_disagreement for r in self.rows), default=0.0)
        worst_num = max((r.numeric_error for r in self.rows), default=0.0)
        lines.append("")
        lines.append(
            f"largest relative disagreement between the analytic gradients: {worst:.2e} "
            f"(tolerance {ANALYTIC_RTOL:g}); largest |rules - finite diff|: {worst_num:.2e}"
        )
        lines.append(
            "AGREE: autodiff (both engines), the closed-form rules and finite differences"
            if self.agree
            else "DISAGREE: see the rows above"
        )
        return "\n".join(lines)


def _vec(a: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in a) + "]"


def _disagreement(r: ParameterRow) -> str:
    mark = "" if r.agree else "  <-- "
    return f"{r.analytic_disagreement:.1e}{mark}"


def compare(net: TwoLayerNet, x: np.ndarray, d: np.ndarray, eta: float) -> Comparison:
    """dE/dp for every parameter by the Value engine, the Tensor engine, the rules, and FD."""
    x = np.asarray(x, dtype=float).reshape(-1)
    d = np.asarray(d, dtype=float).reshape(-1)
    by_value = net.value_gradients(x, d)
    by_tensor = net.tensor_gradients(x, d)
    by_rules = four_rules(net, x, d)
    by_fd = numeric_gradients(net, x, d)
    values = net.parameters()
    result = Comparison(net, x, d, float(eta), forward(net, x, d))
    for name in net.parameter_names:
        delta = -eta * by_rules[name]
        result.rows.append(
            ParameterRow(
                name,
                values[name],
                by_value[name],
                by_tensor[name],
                by_rules[name],
                by_fd[name],
                delta,
                values[name] + delta,
            )
        )
    return result
