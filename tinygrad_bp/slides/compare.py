"""Autodiff against the closed-form rules, parameter by parameter, and the one JSON layout.

For one training example, every parameter p gets dE/dp from several sources:
the Value engine, the Tensor engine, the slides' rules (`rules.four_rules`)
and central finite differences, plus the online update Delta p = -eta dE/dp
and p_new = p + Delta p (computed once, from the rules' gradient).

`Comparison` holds these numbers for any network (the 2-layer one here, a case
file's network in `case`) and `Comparison.to_dict()` is the one JSON layout of
the numbers of a network, used by ``compare --json`` and ``check --json``::

    {
      "network":    {"sizes": [2, 3, 1], "activations": ["sigmoid", "linear"],
                     "loss": "half_sse", "eta": 0.5, ...},
      "data":       [{"x": [...], "d": [...]}, ...],
      "forward":    {"v1": ..., "y_h1": ..., "v4": ..., "y4": ..., "e4": ..., "E": ...},
      "backward":   {"f'(v1)": ..., "delta1": ..., ...},
      "parameters": {"w11": {"value": ..., "gradient": {"rules": ..., "value_engine": ...,
                                                        "tensor_engine": ..., "numeric": ...},
                             "delta": ..., "new": ..., "analytic_disagreement": ...,
                             "numeric_error": ..., "numeric_compared": true,
                             "agree": true}, ...},
      "kinks":      [],
      "agree":      true
    }

NaN and infinity are written as null (`tinygrad_bp.formatting.dumps`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ..engine.ops import Activation
from ..formatting import fmt
from .rules import forward, four_rules, numeric_gradients
from .twolayer import TwoLayerNet

__all__ = [
    "ANALYTIC_RTOL",
    "DEFAULT_MAX_PARAMS",
    "Comparison",
    "ParameterRow",
    "compare",
    "kink_notes",
    "numeric_atol",
    "parameter_limit",
]

# The analytic gradients must agree to this relative tolerance (or this absolute one:
# two sums of the same terms in another order differ by rounding, ~1e-16 each).
ANALYTIC_RTOL = 1e-9
ANALYTIC_ATOL = 1e-13
# Finite differences carry O(eps^2) truncation and O(1e-16/eps) rounding error.
NUMERIC_ATOL = 1e-7
NUMERIC_RTOL = 1e-5
# Above this many parameters `compare` refuses (finite differences cost P forward passes).
DEFAULT_MAX_PARAMS = 20_000
# A pre-activation this close to a kink (relative to the largest forward number) may
# cross it when finite differences move a parameter by their step of 1e-6.
KINK_MARGIN = 1e-4

SOURCE_TITLES = {
    "value_engine": "Value engine",
    "tensor_engine": "Tensor engine",
    "rules": "rules",
    "numeric": "finite diff",
}


def _rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    if not (np.isfinite(a) and np.isfinite(b)):  # one source has no number: no agreement
        return float("inf")
    return abs(a - b) / max(abs(a), abs(b))


@dataclass
class ParameterRow:
    """One parameter: its value, dE/dp by each source, Delta p and p_new."""

    name: str
    value: float
    gradients: dict[str, float]
    delta: float
    new: float
    # finite differences of E carry about 1e-16 |E| / eps of rounding: scaled by |E|
    numeric_atol: float = NUMERIC_ATOL
    # False where a pre-activation sits at a kink: E has no derivative, and finite
    # differences give the mean of the two one-sided slopes
    numeric_compared: bool = True

    def __getattr__(self, source: str) -> float:
        # row.value_engine, row.rules, ... read the gradient of that source
        grads = self.__dict__.get("gradients", {})
        if source in grads:
            return grads[source]
        raise AttributeError(
            f"{type(self).__name__} has no attribute or gradient source {source!r}; "
            f"the sources are {', '.join(grads) or 'none'}"
        )

    @property
    def analytic_disagreement(self) -> float:
        """Largest relative difference between the analytic gradients (all but `numeric`)."""
        a = [v for k, v in self.gradients.items() if k != "numeric"]
        return max((_rel(p, q) for p, q in combinations(a, 2)), default=0.0)

    @property
    def numeric_error(self) -> float:
        if "numeric" not in self.gradients:
            return 0.0
        return abs(self.gradients["rules"] - self.gradients["numeric"])

    @property
    def analytic_agree(self) -> bool:
        """Whether autodiff and the closed-form rules agree (finite differences aside)."""
        a = [v for k, v in self.gradients.items() if k != "numeric"]
        return bool(
            self.analytic_disagreement <= ANALYTIC_RTOL
            or (all(np.isfinite(a)) and max(a) - min(a) <= ANALYTIC_ATOL)
        )

    @property
    def agree(self) -> bool:
        numeric = not self.numeric_compared or self.numeric_error <= (
            self.numeric_atol + NUMERIC_RTOL * abs(self.gradients["rules"])
        )
        return bool(self.analytic_agree and numeric)

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "gradient": dict(self.gradients),
            "delta": self.delta,
            "new": self.new,
            "analytic_disagreement": self.analytic_disagreement,
            "numeric_error": self.numeric_error,
            "numeric_compared": self.numeric_compared,
            "agree": self.agree,
        }


@dataclass
class Comparison:
    """The numbers of a network on its data: forward values, gradients by source, update."""

    network: dict
    data: list[dict]
    eta: float
    forward: dict[str, float]
    backward: dict[str, float] = field(default_factory=dict)
    rows: list[ParameterRow] = field(default_factory=list)
    kinks: list[str] = field(default_factory=list)  # see `kink_notes`

    @property
    def E(self) -> float:
        return self.forward["E"]

    @property
    def agree(self) -> bool:
        return all(row.agree for row in self.rows)

    @property
    def sources(self) -> str:
        """What `agree` compared, in words."""
        if self.kinks:
            return (
                "autodiff and the closed-form rules (finite differences are not compared at a kink)"
            )
        if not np.isfinite(self.E):
            return (
                "autodiff and the closed-form rules (finite differences are not compared: E "
                "overflows float64)"
            )
        return "autodiff, the closed-form rules and finite differences"

    @property
    def verdict(self) -> str:
        """AGREE, or which sources DISAGREE: where autodiff and the rules agree and only
        finite differences do not, their step may have crossed a saturation or a kink."""
        if self.agree:
            return f"AGREE: {self.sources}"
        if all(row.analytic_agree for row in self.rows):
            return (
                "DISAGREE: only finite differences, in the rows marked <--; autodiff and the "
                "closed-form rules agree (a step of 1e-6 max(1, |p|) may cross a saturation or "
                "a kink where the numbers are this large)"
            )
        return "DISAGREE: see the rows marked <--"

    def to_dict(self) -> dict:
        return {
            "network": self.network,
            "data": self.data,
            "forward": dict(self.forward),
            "backward": dict(self.backward),
            "parameters": {row.name: row.to_dict() for row in self.rows},
            "kinks": list(self.kinks),
            "agree": self.agree,
        }

    def _repr_html_(self) -> str:
        from ..formatting import html_report

        return html_report(self.table(), self.agree)

    def table(self) -> str:
        net = self.network
        acts = net["activations"]
        lines = [
            f"network {'-'.join(map(str, net['sizes']))}: "
            + ", ".join(f"layer {k} {a}" for k, a in enumerate(acts, 1))
            + f"; loss {net['loss']}, eta = {fmt(self.eta, 'g')}",
        ]
        lines += [f"x = {_vec(ex['x'])}   d = {_vec(ex['d'])}" for ex in self.data]
        lines += [
            "forward: " + ", ".join(f"{k} = {fmt(v)}" for k, v in self.forward.items()),
            "",
        ]
        sources = list(self.rows[0].gradients) if self.rows else []
        head = f"{'param':<8}{'value':>11}" + "".join(
            f"{SOURCE_TITLES.get(s, s):>17}" for s in sources
        )
        head += f"{'Delta p':>13}{'p_new':>11}{'max disagreement':>18}"
        lines += [head, "-" * len(head)]
        for r in self.rows:
            mark = "" if r.agree else "  <-- "
            lines.append(
                f"{r.name:<8}{_column(r.value):>11}"
                + "".join(f"{fmt(r.gradients[s], '.10g'):>17}" for s in sources)
                + f"{fmt(r.delta, '.6g'):>13}{_column(r.new):>11}"
                + f"{r.analytic_disagreement:>18.1e}{mark}"
            )
        worst = max((r.analytic_disagreement for r in self.rows), default=0.0)
        worst_num = max((r.numeric_error for r in self.rows if r.numeric_compared), default=0.0)
        lines += ["", *self.kinks] if self.kinks else []
        lines += [
            "",
            f"largest relative disagreement between the analytic gradients: {worst:.2e} "
            f"(tolerance {ANALYTIC_RTOL:g}); largest |rules - finite diff|: {worst_num:.2e}",
            self.verdict,
        ]
        return "\n".join(lines)


def kink_notes(pre: Iterable[tuple[str, float, Activation]], scale: float) -> list[str]:
    """One sentence per pre-activation v at a kink of its activation f (f' jumps at 0:
    relu, leaky_relu, elu with alpha != 1), within KINK_MARGIN * max(1, scale) of it.
    There E has no derivative in the parameters before v; the rules and autodiff take
    f'(0) from the right-hand or left-hand side as the engine's table says, and finite
    differences the mean of the two sides, so they are not compared."""
    margin = KINK_MARGIN * max(1.0, scale)
    notes = []
    for name, v, act in pre:
        left, right = (float(act.df(t)) for t in (-1e-12, 1e-12))
        if abs(v) <= margin and abs(left - right) > 1e-6 * max(1.0, abs(left), abs(right)):
            slopes = f"(slope {fmt(left, 'g')} on the left, {fmt(right, 'g')} on the right)"
            if v == 0:
                notes.append(
                    f"{name} = 0 is at the kink of {act.spec} {slopes}: E has no derivative "
                    f"there; the rules and autodiff take f'(0) = {fmt(float(act.df(0.0)), 'g')},"
                    " finite differences average the two sides and are not compared"
                )
            else:  # E has its derivative here, but a step of finite differences may cross 0
                notes.append(
                    f"{name} = {fmt(v, 'g')} is near the kink of {act.spec} {slopes}, within "
                    f"{KINK_MARGIN:g} of the largest number of the pass ({fmt(scale, 'g')}): a "
                    "step of finite differences may cross it, so they are not compared"
                )
    return notes


def _column(x: float) -> str:
    """A parameter in its column: 6 decimals, or 6 digits where that would be too wide or
    show nothing (1e300 as 1e+300, not 301 digits; 1e-9 as 1e-09, not 0.000000)."""
    return fmt(x, ".6f" if x == 0 or 1e-4 <= abs(x) < 1e4 else ".6g")


def _scale(values: Iterable[float]) -> float:
    return max((abs(v) for v in values if np.isfinite(v)), default=1.0)


def _vec(a) -> str:
    return "[" + ", ".join(fmt(v) for v in np.asarray(a, dtype=float).reshape(-1)) + "]"


def numeric_atol(E: float) -> float:
    """The absolute tolerance of a finite difference of a loss of size E."""
    return NUMERIC_ATOL * max(1.0, abs(E)) if np.isfinite(E) else NUMERIC_ATOL


def parameter_limit(count: int, limit: int, flag: str = "--max-params") -> None:
    """Refuse a network with more than `limit` parameters, naming the flag that raises it."""
    if count > limit:
        raise ValueError(
            f"the network has {count} parameters, over the limit of {limit} (finite "
            f"differences cost one forward pass per parameter); raise it with {flag} {count} "
            "(max_params= from Python)"
        )


def compare(
    net: TwoLayerNet,
    x: np.ndarray,
    d: np.ndarray,
    eta: float,
    max_params: int = DEFAULT_MAX_PARAMS,
) -> Comparison:
    """dE/dp for every parameter by the Value engine, the Tensor engine, the rules, and FD."""
    x = np.asarray(x, dtype=float).reshape(-1)
    d = np.asarray(d, dtype=float).reshape(-1)
    parameter_limit(len(net.parameter_names), max_params)
    sources = {
        "value_engine": net.value_gradients(x, d),
        "tensor_engine": net.tensor_gradients(x, d),
        "rules": four_rules(net, x, d),
        "numeric": numeric_gradients(net, x, d),
    }
    values = net.parameters()
    description = {
        "sizes": [net.n_in, net.n_hidden, net.n_out],
        "activations": [net.hidden, net.output],
        "loss": "half_sse",
        "eta": float(eta),
        "mode": "online",
        "steps": 1,
    }
    q = forward(net, x, d)
    backward = {}
    num = net.numbering
    for layer, act in enumerate((net.hidden_act, net.output_act)):
        for j in num.neurons(layer):
            backward[num.fprime(j)] = float(act.df(q[num.v(j)], q[num.output(j)]))
    for j in num.outputs():
        backward[num.delta(j)] = q[num.e(j)] * backward[num.fprime(j)]
    for r, i in enumerate(num.neurons(0)):
        back = sum(net.W2[k, r] * backward[num.delta(j)] for k, j in enumerate(num.outputs()))
        backward[num.delta(i)] = backward[num.fprime(i)] * back
    result = Comparison(description, [{"x": x.tolist(), "d": d.tolist()}], float(eta), q, backward)
    pre = [
        (num.v(j), q[num.v(j)], act)
        for layer, act in enumerate((net.hidden_act, net.output_act))
        for j in num.neurons(layer)
    ]
    result.kinks = kink_notes(pre, _scale([*x, *q.values()]))
    atol = numeric_atol(q["E"])
    for name in net.parameter_names:
        grads = {source: float(by[name]) for source, by in sources.items()}
        delta = -eta * grads["rules"]
        row = ParameterRow(name, values[name], grads, delta, values[name] + delta, atol)
        # E = inf (an overflow): E(p +- h) give inf - inf, no slope to compare
        row.numeric_compared = not result.kinks and bool(np.isfinite(q["E"]))
        result.rows.append(row)
    return result
