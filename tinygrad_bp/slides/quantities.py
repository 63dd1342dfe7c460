"""Every quantity of a hand-worked backprop as one formula of named inputs: the closed-form rules.

`Quantities.build(network, data, eta, mode, steps)` writes down, for every pass
n = 0..steps, every number a person computes by hand, each as a formula of
other named quantities (plain numpy floats, no autodiff):

    v_j = sum_i w_ji y_i + b_j          y_j = f(v_j)           e_j = d_j - y_j
    E   = the loss (`network.loss_value`)                       f'(v_j) from v_j and y_j
    delta_j = e_j f'(v_j)  (output, half_sse; the other losses: -dE/dy_j f'(v_j))
    delta_i = f'(v_i) sum_j w_ji delta_j   (hidden)              delta_j = -dE/dv_j
    dE/dw_ji = -delta_j y_i    dE/db_j = -delta_j    (shared bias: -sum_j delta_j)
    Delta_p = -eta dE/dp (0 when p is frozen)                   p@(n+1) = p@n + Delta_p@n

Names (`numbering`): plain names are pass 0; ``q@n`` is q in pass n, the pass
after n updates (online: on example n mod N, cycling; batch: on all examples,
E and dE/dp summed over them, the per-example quantities written ``q[k]``,
k = 1..N, when there are several). ``p_new`` is ``p@1`` and ``p_new@n`` is
``p@(n+1)``.

`evaluate(fixed)` computes every quantity in order, taking the numbers in
`fixed` as given: with no `fixed` it gives the truth; with a person's claimed
numbers it gives what their numbers imply (error carried forward).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..engine.ops import Activation
from ..formatting import fmt
from .network import Network, loss_value

__all__ = ["PHASES", "Quantities", "Quantity", "UnknownName"]

# the order of the computation, for grouping claims: forward, backward, update
PHASES = ("forward", "backward", "update")


class UnknownName(KeyError):
    """A claim names no quantity of this case; the message suggests the nearest names."""

    def __str__(self) -> str:
        return str(self.args[0])


def num(x: float) -> str:
    """A number inside a formula: 6 significant digits, parenthesised when negative."""
    text = fmt(x, ".6g")
    return f"({text})" if text.startswith("-") else text


@dataclass
class Quantity:
    """One named number and the formula that gives it from other named numbers."""

    name: str
    kind: str  # given v y e E Esum fprime delta grad gradsum Delta param
    inputs: tuple[str, ...] = ()
    fn: Callable[[Sequence[float]], float] | None = None
    render: Callable[[Sequence[str]], str] | None = None
    order: tuple = ()
    info: dict = field(default_factory=dict)
    value: float = math.nan  # for givens

    @property
    def phase(self) -> str:
        return PHASES[self.order[1]] if self.order else "forward"

    def formula(self, values: Sequence[float]) -> str:
        """The formula with numbers filled in: ``0.3 + (-0.00106)``."""
        return self.render([num(v) for v in values]) if self.render else num(self.value)


def _bce_of_sigmoid(
    ys: Sequence[float], ds: Sequence[float], vs: Sequence[float], sigmoid: Activation
) -> float:
    """bce of sigmoid outputs: -sum d ln y + (1 - d) ln(1 - y), with ln y = ln sigmoid(v)
    and ln(1 - y) = ln sigmoid(-v) where y = sigmoid(v) (float64 rounds sigmoid(40) to 1,
    and ln(1 - y) to ln 0, while E is 40); from y itself where y is another number."""
    total = 0.0
    for y, d, v in zip(ys, ds, vs):  # each output's term by `loss_value`, from v or from y
        total += loss_value("bce", [y], [d], [v] if y == float(sigmoid.f(v)) else None)
    return total


def _softmax_ce(ys: Sequence[float], ds: Sequence[float], vs: Sequence[float]) -> float:
    """softmax_ce, with ln y_j = v_j - ln sum_k e^v_k where y is softmax(v) (float64 rounds
    softmax(v)_j to 0 for v = (800, 0), and ln y_j to ln 0, while E is 800); from y itself
    where y is other numbers."""
    exact = list(ys) == _softmax(vs)
    return float(loss_value("softmax_ce", ys, ds, vs if exact else None))


def _bce_delta(a: Sequence[float], act: Activation | None) -> float:
    """delta = e / (y (1 - y)) f'(v) of a bce output, from a = (e, y, f'(v), v), as
    e (f'(v) / (y (1 - y))). A sigmoid's f'(v) cancels exactly, delta = e, where it is
    the sigmoid's slope at these v and y (`Activation.df`: read from v where y is
    sigmoid(v), so y (1 - y) of a rounded y differs from it, by 0.1% at v = 30) or
    y (1 - y) itself; also where float64 rounds y to 0 or 1, or to a subnormal y where
    e / (y (1 - y)) alone would overflow."""
    e, y, fp, v = a
    denom = y * (1 - y)
    if act is not None and act.name == "sigmoid":
        if denom == 0 or fp == denom or fp == float(act.df(v, y)):
            return e
    return e * (fp / denom)


def _hidden_delta(a: Sequence[float], K: int, masks: bool) -> float:
    """delta_i = f'(v_i) sum_k w_ki delta_k from a = (f'(v_i), w_.., delta_..); 0 where a
    masking activation (relu) has f'(v_i) = 0, even if the sum overflows: E does not
    depend on v_i there, and the engines pass no gradient through it either."""
    if masks and a[0] == 0:
        return 0.0
    return a[0] * _sum([a[1 + t] * a[1 + K + t] for t in range(K)])


def _sum(xs: Sequence[float]) -> float:
    return float(math.fsum(xs))


class Quantities:
    """The formula graph of one case: `nodes` in an order where inputs come first."""

    def __init__(self) -> None:
        self.nodes: dict[str, Quantity] = {}
        self.steps = 0
        self.batch = False
        self.n_examples = 1
        self.eta = 0.0
        self.params: list[str] = []
        self.numbering = None
        self.outputs: list[int] = []
        self.hidden: list[int] = []
        self._layer_inputs: dict[tuple, list[str]] = {}

    def add(self, q: Quantity) -> str:
        self.nodes[q.name] = q
        return q.name

    # -- building -----------------------------------------------------------------
    @classmethod
    def build(
        cls,
        net: Network,
        data: Sequence[tuple[np.ndarray, np.ndarray]],
        eta: float,
        mode: str = "online",
        steps: int = 1,
    ) -> Quantities:
        g = cls()
        g.steps, g.eta, g.batch, g.n_examples = steps, float(eta), mode == "batch", len(data)
        num_ = g.numbering = net.numbering
        g.outputs = num_.outputs()
        g.hidden = [j for l in range(num_.depth - 1) for j in num_.neurons(l)]
        g.params = net.parameter_names
        many = len(data) > 1
        for k, (x, d) in enumerate(data, 1):
            tag = f"[{k}]" if many else ""
            for i, t in enumerate(x, 1):
                g.add(Quantity(f"x{i}{tag}", "given", value=float(t), order=(0, 0, -1)))
            for j, t in zip(g.outputs, d):
                g.add(Quantity(f"d{j}{tag}", "given", value=float(t), order=(0, 0, -1)))
        for p, v in net.parameters().items():
            g.add(Quantity(p, "given", value=v, order=(0, 0, -1), info={"param": p}))
        for n in range(steps + 1):
            examples = range(1, len(data) + 1) if g.batch else [n % len(data) + 1]
            for k in examples:
                xtag = f"[{k}]" if many else ""
                etag = f"[{k}]" if (many and g.batch) else ""
                g._pass(net, n, xtag, etag)
            g._totals(net, n, list(examples), many and g.batch)
        return g

    def name(self, base: str, etag: str = "", n: int = 0) -> str:
        return f"{base}{etag}@{n}" if n else f"{base}{etag}"

    def param(self, p: str, n: int) -> str:
        return self.name(p, "", n)

    def _pass(self, net: Network, n: int, xtag: str, etag: str) -> None:
        num_ = self.numbering
        nm = lambda base: self.name(base, etag, n)  # noqa: E731
        ys = [f"x{i}{xtag}" for i in range(1, num_.sizes[0] + 1)]
        depth = len(net.layers)
        for l, layer in enumerate(net.layers):
            rows, cols = layer.W.shape
            last = l == depth - 1
            new_ys = []
            for r in range(rows):
                j = num_.neuron(l, r)
                ws = [self.param(num_.weight(l, r, c), n) for c in range(cols)]
                b = self.param(num_.bias(l, r, layer.shared), n)
                m = cols
                self.add(
                    Quantity(
                        nm(num_.v(j)),
                        "v",
                        (*ws, *ys, b),
                        lambda a, m=m: _sum([a[t] * a[m + t] for t in range(m)]) + a[2 * m],
                        lambda s, m=m: (
                            " + ".join(f"{s[t]} * {s[m + t]}" for t in range(m)) + f" + {s[2 * m]}"
                        ),
                        (n, 0, l, 0, j),
                        {"neuron": j, "layer": l, "m": m},
                    )
                )
            vs = [nm(num_.v(j)) for j in num_.neurons(l)]
            for r in range(rows):
                j = num_.neuron(l, r)
                y = nm(num_.output(j))
                if last and net.loss == "softmax_ce":
                    self.add(
                        Quantity(
                            y,
                            "y",
                            tuple(vs),
                            lambda a, r=r: _softmax(a)[r],
                            lambda s, r=r: f"e^{s[r]} / (" + " + ".join(f"e^{t}" for t in s) + ")",
                            (n, 0, l, 1, j),
                            {"neuron": j, "layer": l, "softmax": True},
                        )
                    )
                else:
                    self.add(
                        Quantity(
                            y,
                            "y",
                            (vs[r],),
                            lambda a, act=layer.act: float(act.f(a[0])),
                            lambda s, act=layer.act: f"{act.spec}({s[0]})",
                            (n, 0, l, 1, j),
                            {"neuron": j, "layer": l, "act": layer.act},
                        )
                    )
                new_ys.append(y)
            self._layer_inputs[(n, etag, l)] = ys
            ys = new_ys
        outs = self.outputs
        ds = [f"d{j}{xtag}" for j in outs]
        es = []
        for j, y, d in zip(outs, ys, ds):
            es.append(
                self.add(
                    Quantity(
                        nm(num_.e(j)),
                        "e",
                        (d, y),
                        lambda a: a[0] - a[1],
                        lambda s: f"{s[0]} - {s[1]}",
                        (n, 0, depth, 2, j),
                        {"neuron": j},
                    )
                )
            )
        self._add_loss(net, nm("E"), es, ys, ds, n, bool(etag), vs)
        self._backward(net, n, etag, xtag, es, ys, ds)

    def _add_loss(self, net, name, es, ys, ds, n, per_example, vs) -> None:
        loss = net.loss
        order = (n, 0, len(net.layers), 3, 0)
        if loss in ("half_sse", "sse", "mse"):
            coef = {"half_sse": 0.5, "sse": 1.0, "mse": 1.0 / len(es)}[loss]
            shown = {"half_sse": "1/2", "sse": "", "mse": f"1/{len(es)}"}[loss]
            self.add(
                Quantity(
                    name,
                    "E",
                    tuple(es),
                    lambda a, c=coef: c * _sum([t * t for t in a]),
                    lambda s, h=shown: f"{h} ({' + '.join(f'{t}^2' for t in s)})".strip(),
                    order,
                    {"loss": loss, "half": loss == "half_sse"},
                )
            )
            return
        m = len(ys)
        if loss == "bce" and net.layers[-1].act.name == "sigmoid":
            self.add(
                Quantity(
                    name,
                    "E",
                    (*ys, *ds, *vs),
                    lambda a, m=m, f=net.layers[-1].act: _bce_of_sigmoid(
                        a[:m], a[m : 2 * m], a[2 * m :], f
                    ),
                    lambda s, m=m: f"bce(y = {', '.join(s[:m])}; d = {', '.join(s[m : 2 * m])})",
                    order,
                    {"loss": loss},
                )
            )
            return
        if loss == "softmax_ce":
            self.add(
                Quantity(
                    name,
                    "E",
                    (*ys, *ds, *vs),
                    lambda a, m=m: _softmax_ce(a[:m], a[m : 2 * m], a[2 * m :]),
                    lambda s, m=m: f"{loss}(y = {', '.join(s[:m])}; d = {', '.join(s[m : 2 * m])})",
                    order,
                    {"loss": loss},
                )
            )
            return
        self.add(
            Quantity(
                name,
                "E",
                (*ys, *ds),
                lambda a, m=m: float(loss_value(loss, a[:m], a[m:])),
                lambda s, m=m: f"{loss}(y = {', '.join(s[:m])}; d = {', '.join(s[m:])})",
                order,
                {"loss": loss},
            )
        )

    def _backward(self, net, n, etag, xtag, es, ys, ds) -> None:
        num_ = self.numbering
        nm = lambda base: self.name(base, etag, n)  # noqa: E731
        depth = len(net.layers)
        loss = net.loss
        m = len(es)
        for l in range(depth - 1, -1, -1):
            layer = net.layers[l]
            last = l == depth - 1
            phase_order = depth - l  # backward: output layer first
            for r in range(layer.W.shape[0]):
                j = num_.neuron(l, r)
                v, y = nm(num_.v(j)), nm(num_.output(j))
                fp = nm(num_.fprime(j))
                if not (last and loss == "softmax_ce"):
                    self.add(
                        Quantity(
                            fp,
                            "fprime",
                            (v, y),
                            lambda a, act=layer.act: float(act.df(a[0], a[1])),
                            _fprime_render(layer.act),
                            (n, 1, phase_order, 0, j),
                            {"neuron": j, "act": layer.act},
                        )
                    )
                if last:
                    self._output_delta(
                        nm(num_.delta(j)), loss, m, es[r], ys[r], fp, ds, n, j, l, layer.act, v
                    )
                else:
                    ks = num_.neurons(l + 1)
                    ws = [self.param(num_.weight(l + 1, c, r), n) for c in range(len(ks))]
                    new_ws = [self.param(num_.weight(l + 1, c, r), n + 1) for c in range(len(ks))]
                    ds_next = [nm(num_.delta(k)) for k in ks]
                    K = len(ks)
                    self.add(
                        Quantity(
                            nm(num_.delta(j)),
                            "delta",
                            (fp, *ws, *ds_next),
                            lambda a, K=K, m=layer.act.op.masks: _hidden_delta(a, K, m),
                            lambda s, K=K: (
                                f"{s[0]} * ("
                                + " + ".join(f"{s[1 + t]} * {s[1 + K + t]}" for t in range(K))
                                + ")"
                            ),
                            (n, 1, phase_order, 1, j),
                            {"neuron": j, "hidden": True, "own_y": y, "new_w": new_ws},
                        )
                    )
            self._gradients(net, n, etag, xtag, l, phase_order)

    def _output_delta(self, name, loss, m, e, y, fp, ds, n, j, l, act, v) -> None:
        order = (n, 1, 1, 1, j)
        info = {"neuron": j, "output": True, "loss": loss}
        if loss in ("half_sse", "sse", "mse"):
            c = {"half_sse": 1.0, "sse": 2.0, "mse": 2.0 / m}[loss]
            shown = {"half_sse": "", "sse": "2 * ", "mse": f"2/{m} * "}[loss]
            q = Quantity(
                name,
                "delta",
                (e, fp),
                lambda a, c=c: c * a[0] * a[1],
                lambda s, h=shown: f"{h}{s[0]} * {s[1]}",
                order,
                {**info, "half": loss == "half_sse"},
            )
        elif loss == "bce":
            q = Quantity(
                name,
                "delta",
                (e, y, fp, v),
                lambda a, act=act: _bce_delta(a, act),
                lambda s: f"{s[0]} / ({s[1]} * (1 - {s[1]})) * {s[2]}",
                order,
                info,
            )
        else:  # softmax_ce: -dE/dv_j = d_j - y_j sum_k d_k = e_j + y_j (1 - sum_k d_k)
            q = Quantity(
                name,
                "delta",
                (e, y, *ds),
                lambda a: a[0] + a[1] * (1 - _sum(a[2:])),
                lambda s: f"{s[0]} + {s[1]} * (1 - ({' + '.join(s[2:])}))",
                order,
                info,
            )
        self.add(q)

    def _gradients(self, net, n, etag, xtag, l, phase_order) -> None:
        num_ = self.numbering
        layer = net.layers[l]
        nm = lambda base: self.name(base, etag, n)  # noqa: E731
        sources = self._layer_inputs[(n, etag, l)]
        rows, cols = layer.W.shape
        for r in range(rows):
            j = num_.neuron(l, r)
            delta = nm(num_.delta(j))
            for c in range(cols):
                p = num_.weight(l, r, c)
                others = [s for t, s in enumerate(sources) if t != c] + [nm(num_.output(j))]
                self.add(
                    Quantity(
                        nm(f"dE/d{p}"),
                        "grad",
                        (delta, sources[c]),
                        lambda a: -a[0] * a[1],
                        lambda s: f"-{s[0]} * {s[1]}",
                        (n, 1, phase_order, 2, j, c),
                        {"param": p, "other_inputs": others},
                    )
                )
            if not layer.shared:
                p = num_.bias(l, r)
                self.add(
                    Quantity(
                        nm(f"dE/d{p}"),
                        "grad",
                        (delta,),
                        lambda a: -a[0],
                        lambda s: f"-{s[0]}",
                        (n, 1, phase_order, 2, j, cols),
                        {"param": p},
                    )
                )
        if layer.shared:
            p = num_.bias(l, 0, True)
            deltas = [nm(num_.delta(j)) for j in num_.neurons(l)]
            self.add(
                Quantity(
                    nm(f"dE/d{p}"),
                    "grad",
                    tuple(deltas),
                    lambda a: -_sum(a),
                    lambda s: "-(" + " + ".join(s) + ")",
                    (n, 1, phase_order, 3, 0),
                    {"param": p},
                )
            )

    def _totals(self, net: Network, n: int, examples: list[int], summed: bool) -> None:
        if summed:
            parts = [self.name("E", f"[{k}]", n) for k in examples]
            self.add(
                Quantity(
                    self.name("E", "", n),
                    "Esum",
                    tuple(parts),
                    _sum,
                    lambda s: " + ".join(s),
                    (n, 0, len(net.layers), 4, 0),
                )
            )
        frozen = net.frozen_names()
        layer_of = {name: l for name, l, _, _ in net.slots()}
        by_layer: dict[int, list[str]] = {}
        for p in self.params:  # one shared list per layer: the candidates for a mixed-up value
            by_layer.setdefault(layer_of[p], []).append(self.param(p, n))
        for idx, p in enumerate(self.params):
            g = self.name(f"dE/d{p}", "", n)
            if summed:
                parts = [self.name(f"dE/d{p}", f"[{k}]", n) for k in examples]
                self.add(
                    Quantity(
                        g,
                        "gradsum",
                        tuple(parts),
                        _sum,
                        lambda s: " + ".join(s),
                        (n, 1, 99, idx),
                        {"param": p},
                    )
                )
            delta = self.name(f"Delta_{p}", "", n)
            if p in frozen:
                self.add(
                    Quantity(
                        delta,
                        "Delta",
                        (),
                        lambda a: 0.0,
                        lambda s: "0 (frozen)",
                        (n, 2, idx, 0),
                        {"param": p, "frozen": True},
                    )
                )
            else:
                self.add(
                    Quantity(
                        delta,
                        "Delta",
                        (g,),
                        lambda a, eta=self.eta: -eta * a[0],
                        lambda s, eta=self.eta: f"-{num(eta)} * {s[0]}",
                        (n, 2, idx, 0),
                        {"param": p, "eta": self.eta},
                    )
                )
            self.add(
                Quantity(
                    self.param(p, n + 1),
                    "param",
                    (self.param(p, n), delta),
                    lambda a: a[0] + a[1],
                    lambda s: f"{s[0]} + {s[1]}",
                    (n, 2, idx, 1),
                    {"param": p, "same_layer": by_layer[layer_of[p]]},
                )
            )

    # -- values ------------------------------------------------------------------------
    def evaluate(self, fixed: dict[str, float] | None = None) -> dict[str, float]:
        """Every quantity's value, taking those in `fixed` as given (not recomputed)."""
        fixed = fixed or {}
        out: dict[str, float] = {}
        with np.errstate(all="ignore"):
            for name, q in self.nodes.items():
                if name in fixed:
                    out[name] = fixed[name]
                elif q.kind == "given":
                    out[name] = q.value
                else:
                    out[name] = self.compute(q, [out[i] for i in q.inputs])
        return out

    @staticmethod
    def compute(q: Quantity, values: Sequence[float]) -> float:
        try:
            return float(q.fn(values))
        except (ArithmeticError, ValueError):
            return math.nan

    # -- names -------------------------------------------------------------------------
    def resolve(self, written: str, names: dict[str, str] | None = None) -> str:
        """The quantity a claim names (after the author's `names`), or `UnknownName`."""
        text = written.strip()
        m = re.fullmatch(r"(.*?)(\[\d+\])?(?:@(\d+))?", text)
        base, etag, n = m.group(1), m.group(2) or "", int(m.group(3) or 0)
        base = _translate(base, names or {})
        newm = re.fullmatch(r"(.+)_new", base)
        if newm and newm.group(1) in self.params:
            base, n = newm.group(1), n + 1
        base = self._alias(base)
        name = self.name(base, etag, n)
        if name in self.nodes:
            return name
        raise UnknownName(self._unknown(written, base, etag, n))

    def _alias(self, base: str) -> str:
        m = re.fullmatch(r"y(\d+)", base)
        if m and int(m.group(1)) in self.hidden:
            return self.numbering.output(int(m.group(1)))
        m = re.fullmatch(r"delta_(\d+)", base)
        if m:
            return self.numbering.delta(int(m.group(1)))
        if len(self.outputs) == 1 and base in ("y", "e", "v", "delta", "f'(v)"):
            j = self.outputs[0]
            return {"f'(v)": f"f'(v{j})"}.get(base, f"{base}{j}")
        return base

    def _unknown(self, written: str, base: str, etag: str, n: int) -> str:
        if n > self.steps + (1 if base in self.params else 0):
            return (
                f"claim {written!r}: @{n} is after the last pass this case computes "
                f"(steps = {self.steps} in [network]); raise steps or claim an earlier pass"
            )
        m = re.fullmatch(r"f'\(v(\d+)\)", base)
        if m and int(m.group(1)) in self.outputs and f"y{m.group(1)}" in self.nodes:
            return (
                f"claim {written!r}: with loss = softmax_ce the outputs are a softmax of all "
                f"v's and have no f'(v) of their own; claim delta{m.group(1)} = d - y instead"
            )
        per_example = self.batch and self.n_examples > 1
        if per_example and not etag and f"{base}[1]" in self.nodes:
            return (
                f"claim {written!r}: in batch mode with {self.n_examples} examples say which "
                f"example, e.g. {base}[1]"
            )
        plain = [k for k in self.nodes if "@" not in k and self.nodes[k].kind != "given"]
        plain += [f"{p}_new" for p in self.params]
        close = difflib.get_close_matches(base + etag, plain, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        return (
            f"claim {written!r}: no such quantity in this network{hint} (names: v1, y_h1, y3, "
            "e3, E, f'(v1), delta1, dE/dw11, Delta_w11, w11_new, and q@n after n updates)"
        )


def _translate(base: str, names: dict[str, str]) -> str:
    """The author's notation to ours: the whole name, or the name in dE/d.., Delta_.., .._new."""
    if base in names:
        return names[base]
    for pattern, form in (
        (r"dE/d(.+)", "dE/d{}"),
        (r"Delta_(.+)", "Delta_{}"),
        (r"(.+)_new", "{}_new"),
        (r"f'\((.+)\)", "f'({})"),
        (r"delta_?(.+)", "delta{}"),
    ):
        m = re.fullmatch(pattern, base)
        if m and m.group(1) in names:
            inner = names[m.group(1)]
            if form == "delta{}":
                inner = re.sub(r"^\D+", "", inner)
            elif form == "f'({})":
                inner = "v" + re.sub(r"^\D+", "", inner)
            return form.format(inner)
    return base


def _softmax(a: Sequence[float]) -> list[float]:
    top = max(a)
    exps = [math.exp(t - top) for t in a]
    total = math.fsum(exps)
    return [t / total for t in exps]


def _fprime_render(act: Activation) -> Callable[[Sequence[str]], str]:
    name = act.name
    if name == "sigmoid":
        return lambda s: f"{s[1]} * (1 - {s[1]})"
    if name == "tanh":
        return lambda s: f"1 - {s[1]}^2"
    if name == "linear":
        return lambda s: "1"
    return lambda s: f"{act.spec}'({s[0]})"
