"""Worked solutions: a `Problem` derived line by line, as a textbook or the slides write it.

For every pass (the first one, then one after each update) the solution lists
the forward pass neuron by neuron (v_j = sum_i w_ji y_i + b_j, y_j = f(v_j)),
the error, each local gradient (delta_j = e_j f'(v_j) at an output neuron with
E = 1/2 sum e^2, delta_j = f'(v_j) sum_k w_kj delta_k at a hidden one), each
gradient dE/dw_ji = -delta_j y_i and each update Delta p = -eta dE/dp,
p_new = p + Delta p.

Every line is an `Expr`: its number is computed from the numbers of the lines
before it, f and f' come from the op table, and dE/dy for a loss other than the
slides' comes from the Value engine. Numbers are carried at full precision; a
line whose inputs, rounded as shown, give another last digit gets a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..engine.ops import Activation, activation
from ..engine.value import Value
from ..slides.network import loss_value, softmax
from .expr import (
    Add,
    Apply,
    Call,
    Const,
    Delta,
    Div,
    Exp,
    Expr,
    Label,
    Ln,
    Mul,
    Neg,
    Partial,
    Ref,
    Renderer,
    Square,
    Sym,
    plain_label,
    round_sig,
    shown,
    total,
)
from .problem import LOSSES, Problem, bias_name, weight_name

__all__ = ["Line", "Pass", "Solution", "solve"]

SECTIONS = ("forward", "error", "backward", "gradients", "updates")


@dataclass
class Line:
    """One line of the derivation: ``label = formula = numbers = value``."""

    key: str
    label: Label
    expr: Expr | None
    value: float
    section: str
    numbers: bool = True
    note: str = ""


@dataclass
class Pass:
    """The lines computed with one set of parameters: before any update (0) or after update n."""

    index: int
    examples: list[int]
    lines: list[Line] = field(default_factory=list)

    def section(self, name: str) -> list[Line]:
        return [line for line in self.lines if line.section == name]


@dataclass
class Solution:
    problem: Problem
    passes: list[Pass]
    digits: int
    givens: dict[str, float]

    @property
    def lines(self) -> list[Line]:
        return [line for p in self.passes for line in p.lines]

    def values(self) -> dict[str, float]:
        """Every quantity of the solution by its name (``E``, ``delta_2``, ``w11_new@1``...)."""
        out = {line.key: line.value for line in self.lines}
        outputs = list(self.problem.neurons(len(self.problem.layers) - 1))
        for key, value in list(out.items()):
            name, at, n = key.partition("@")
            if name.startswith("y_h"):
                out[f"y{name[3:]}" + at + n] = value
            if name.startswith("delta"):
                out["delta_" + name[5:] + at + n] = value
            if len(outputs) == 1 and name in (f"y{outputs[0]}", f"e{outputs[0]}"):
                out[name[0] + at + n] = value
        return out

    def claims(self, digits: int | None = None) -> dict[str, str]:
        """Every quantity a person computes by hand (not the engine's dE/de lines), written
        as they would write it: `digits` significant digits."""
        d = digits or self.digits
        return {line.key: shown(line.value, d) for line in self.lines if line.numbers}

    def notes(self) -> list[Line]:
        return [line for line in self.lines if line.note]


class Notation:
    """Labels of quantities, in the author's names where the problem maps them (``[names]``)."""

    def __init__(self, problem: Problem) -> None:
        self.author: dict[str, str] = {}
        for theirs, ours in problem.names.items():
            self.author.setdefault(ours, theirs)

    def sym(self, ours: str, default: Sym) -> Label:
        return plain_label(self.author[ours]) if ours in self.author else default

    def param(self, name: str) -> Label:
        letter, rest = name[0], name[1:].strip("_").replace("_", ",")
        return self.sym(name, Sym(letter, rest))


class LossGrad(Expr):
    """dE/dq of the loss formula `loss` (q = e_j or y_j), by the Value engine's backward."""

    def __init__(self, loss: Expr, wrt: str, label: Label) -> None:
        self.loss, self.wrt, self.label = loss, wrt, label

    def children(self) -> tuple[Expr, ...]:
        return (self.loss,)

    def eval(self, env) -> float:
        leaves = {k: Value(float(env[k])) for k in self.loss.refs()}
        self.loss.eval(leaves).backward()
        return leaves[self.wrt].grad

    def render(self, r: Renderer, env=None) -> str:
        return r.label(Partial(Sym("E"), self.label))


class FPrime(Expr):
    """f'(v) by the op table (`Activation.df`): from v alone where y is f(v) and the entry
    has a `slope` (a sigmoid output under bce: y (1 - y) = 0 at v = 40 while dE/dy =
    2.4e17, and their product delta must be d - y), else from v and y."""

    def __init__(self, act: Activation, v: Ref, y: Ref) -> None:
        self.act, self.v, self.y = act, v, y

    def children(self) -> tuple[Expr, ...]:
        return (self.v, self.y)

    def eval(self, env) -> float:
        return float(self.act.df(float(self.v.eval(env)), float(self.y.eval(env))))

    def render(self, r: Renderer, env=None) -> str:
        return r.func("f", self.v.render(r, env), prime=True)


class Steady(Expr):
    """The formula `shown`, written as it is, whose number comes from `fn(env)` where
    `exact(env)` holds: the same quantity computed so that float64 stays finite (ln y
    read from v, a softmax shifted by its largest v) where the formula would give ln 0
    or e^800 of numbers that are only rounded. With other numbers (rounded ones, for a
    rounding note) it is the formula's."""

    def __init__(self, shown: Expr, fn, exact, reads: set[str]) -> None:
        self.shown, self.fn, self.exact, self.reads = shown, fn, exact, reads
        self.prec = shown.prec

    def children(self) -> tuple[Expr, ...]:
        return (self.shown,)

    def refs(self) -> set[str]:
        return self.shown.refs() | self.reads

    def eval(self, env) -> float:
        return self.fn(env) if self.exact(env) else self.shown.eval(env)

    def render(self, r: Renderer, env=None) -> str:
        return self.shown.render(r, env)

    def shown_prec(self, env) -> int:
        return self.shown.shown_prec(env)


def _softmax(v: dict[int, Ref], outs: list[int], j: int) -> Expr:
    """e^v_j / sum_k e^v_k, computed shifted by the largest v_k (v = 800 overflows e^v)."""
    keys = [v[k].key for k in outs]
    return Steady(
        Div(Exp(v[j]), total([Exp(v[k]) for k in outs])),
        lambda env: softmax([env[k] for k in keys])[outs.index(j)],
        lambda env: True,
        set(keys),
    )


def _sigmoid_outputs(y: list[Ref], v: list[Ref]):
    """Whether the outputs' numbers are sigmoid(v) exactly (not rounded ones)."""
    sigmoid = activation("sigmoid")

    def exact(env) -> bool:
        return all(float(env[b.key]) == float(sigmoid.f(float(env[a.key]))) for b, a in zip(y, v))

    return exact


def _is_zero(q: Ref):
    return lambda env: float(env[q.key]) == 0.0


def _steady_loss(loss: str, shown: Expr, y: list[Ref], d: list[Ref], v: list[Ref], sigmoid: bool):
    """E as `shown` writes it, computed by `network.loss_value` from the outputs' v where it
    reads ln y_j from them (softmax_ce; bce of sigmoid outputs): finite where float64
    rounds y_j to 0 or 1 (v = 40 gives E = 40, not ln 0)."""
    if loss == "softmax_ce":
        exact = lambda env: True  # noqa: E731
    elif loss == "bce" and sigmoid:
        exact = _sigmoid_outputs(y, v)
    else:
        return shown

    def fn(env) -> float:
        ds = [float(env[t.key]) for t in d]
        vs = [env[t.key] for t in v]  # softmax_ce reads only v (the outputs' y are its softmax)
        return loss_value(loss, [env[t.key] for t in y] if loss == "bce" else vs, ds, vs)

    return Steady(shown, fn, exact, {t.key for t in v})


def _bce_slope(y: Ref, d: Ref, v: Ref):
    """dE/dy of bce at a sigmoid output, (1 - d) / (1 - y) - d / y with 1 / y = 1 + e^-v and
    1 / (1 - y) = 1 + e^v: finite where float64 rounds y to 1 (v = 40 gives 2.4e17)."""

    def fn(env) -> float:
        dv, vv = float(env[d.key]), float(env[v.key])
        up = (1 - dv) * (1 + math.exp(vv)) if dv != 1 else 0.0
        down = dv * (1 + math.exp(-vv)) if dv != 0 else 0.0
        return up - down

    return fn


def _loss_expr(loss: str, e: list[Ref], y: list[Expr], d: list[Ref]) -> Expr:
    half = Const(0.5, r"\frac{1}{2}", "<mfrac><mn>1</mn><mn>2</mn></mfrac>")
    squares = total([Square(ej) for ej in e])
    if loss == "half_sse":
        return Mul(half, squares)
    if loss == "sse":
        return squares
    if loss == "mse":
        n = len(e)
        return Mul(
            Const(1 / n, rf"\frac{{1}}{{{n}}}", f"<mfrac><mn>1</mn><mn>{n}</mn></mfrac>"), squares
        )
    if loss == "softmax_ce":
        return Neg(total([Mul(dj, Ln(yj)) for yj, dj in zip(y, d)]))
    one = Const(1.0)
    terms = [
        Add(Mul(dj, Ln(yj)), Mul(Add(one, Neg(dj)), Ln(Add(one, Neg(yj))))) for yj, dj in zip(y, d)
    ]
    return Neg(total(terms))


class _Builder:
    def __init__(self, problem: Problem, digits: int, max_lines: int, notes: bool) -> None:
        self.p = problem
        self.digits = digits
        self.notes = notes
        self.max_lines = max_lines
        self.count = 0
        self.names = Notation(problem)
        self.env: dict[str, float] = {}
        self.givens: dict[str, float] = {"eta": problem.eta}
        self.param_key: dict[str, str] = {}
        self.env["eta"] = problem.eta
        for l, layer in enumerate(problem.layers):
            for r, j in enumerate(problem.neurons(l)):
                for c, i in enumerate(problem.sources(l)):
                    self._given(weight_name(j, i), float(layer.W[r, c]))
                self._given(bias_name(problem, l, j), float(layer.b[r]))
        for k, (x, d) in enumerate(problem.data):
            for i, xi in enumerate(x, 1):
                self._given(f"x{i}|{k}", float(xi))
            for j, dj in zip(problem.neurons(len(problem.layers) - 1), d):
                self._given(f"d{j}|{k}", float(dj))
        self.eta = Ref("eta", Sym("eta"))

    def _given(self, key: str, value: float) -> None:
        self.env[key] = self.givens[key] = value
        if "|" not in key:
            self.param_key[key] = key

    def param(self, name: str) -> Ref:
        return Ref(self.param_key[name], self.names.param(name))

    def add(self, out: Pass, key: str, label: Label, expr: Expr, section: str, numbers=True):
        self.count += 1
        if self.count > self.max_lines:
            raise ValueError(
                f"the solution has over {self.max_lines} lines (layers x examples x steps); "
                "raise the limit with --max-lines (max_lines= from Python)"
            )
        try:
            value = float(expr.eval(self.env))
        except (OverflowError, ZeroDivisionError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise ArithmeticError(
                f"{key} is not a finite number in float64 (overflow or 0/0 from the numbers "
                "given); a worked solution needs smaller weights, biases or inputs"
            )
        self.env[key] = value
        line = Line(key, label, expr, value, section, numbers)
        if numbers and self.notes:
            line.note = self._rounding_note(expr, value)
        out.lines.append(line)
        return Ref(key, label)

    def _rounding_note(self, expr: Expr, value: float) -> str:
        rounded = {k: round_sig(self.env[k], self.digits) for k in expr.refs()}
        try:
            redone = float(expr.eval(rounded))
        except (ValueError, ZeroDivisionError, OverflowError):
            return ""
        a, b = round_sig(value, self.digits), round_sig(redone, self.digits)
        if a == b:
            return ""
        return (
            f"with the rounded numbers shown this comes out as {shown(b, self.digits)}; "
            f"carried at full precision it is {shown(a, self.digits)}"
        )

    # one pass: forward and error, then (unless it is the last) backward and updates
    def run_pass(self, n: int, full: bool) -> Pass:
        p = self.p
        m = len(p.data)
        examples = list(range(m)) if p.mode == "batch" else [n % m]
        out = Pass(n, examples)
        at = f"@{n}" if n else ""
        per_example: list[tuple[dict[int, Ref], dict[int, Ref], dict[int, Ref]]] = []
        errors = []
        for k in examples:
            tag = f"[{k + 1}]" if p.mode == "batch" and m > 1 else ""

            def key(name: str, tag=tag) -> str:
                return f"{name}{tag}{at}"

            def sym(base: str, sub: str, ours: str, tag=tag) -> Label:
                return self.names.sym(ours, Sym(base, sub + tag))

            src = {i: Ref(f"x{i}|{k}", Sym("x", str(i))) for i in p.sources(0)}
            v_refs, y_refs = {}, {}
            for l, layer in enumerate(p.layers):
                softmax = p.is_output(l) and p.loss == "softmax_ce"
                for j in p.neurons(l):
                    terms = [Mul(self.param(weight_name(j, i)), src[i]) for i in p.sources(l)]
                    terms.append(self.param(bias_name(p, l, j)))
                    v_refs[j] = self.add(
                        out, key(f"v{j}"), sym("v", str(j), f"v{j}"), Add(*terms), "forward"
                    )
                    if not softmax:  # neuron by neuron: v_j, then y_j = f(v_j)
                        f = Apply("f", layer.activation.f, v_refs[j])
                        y = f"y{j}" if p.is_output(l) else f"y_h{j}"
                        y_refs[j] = self.add(
                            out, key(y), sym("y", y[1:].lstrip("_"), y), f, "forward"
                        )
                for j in p.neurons(l) if softmax else ():  # y = softmax(v), all v first
                    y_refs[j] = self.add(
                        out,
                        key(f"y{j}"),
                        sym("y", str(j), f"y{j}"),
                        _softmax(v_refs, list(p.neurons(l)), j),
                        "forward",
                    )
                src = {j: y_refs[j] for j in p.neurons(l)}
            last = len(p.layers) - 1
            outs = list(p.neurons(last))
            d = [Ref(f"d{j}|{k}", Sym("d", str(j))) for j in outs]
            e = []
            if p.loss != "bce":  # e_j = d_j - y_j (softmax_ce too, as the case files name it)
                for j, dj in zip(outs, d):
                    expr = Add(dj, Neg(y_refs[j]))
                    e.append(self.add(out, key(f"e{j}"), sym("e", str(j), f"e{j}"), expr, "error"))
            loss = _loss_expr(p.loss, e, [y_refs[j] for j in outs], d)
            sigmoid_out = p.layers[last].activation.name == "sigmoid"
            ys, vs = [y_refs[j] for j in outs], [v_refs[j] for j in outs]
            E_expr = _steady_loss(p.loss, loss, ys, d, vs, sigmoid_out)
            E_label = self.names.sym("E", Sym("E", tag.strip("[]")))
            errors.append(self.add(out, key("E"), E_label, E_expr, "error"))
            if not full:
                continue
            # backward: output layer first
            delta: dict[int, Ref] = {}
            for l in range(last, -1, -1):
                act = p.layers[l].activation
                for j in p.neurons(l):
                    if l == last and p.loss == "softmax_ce":  # delta_j = -dE/dv_j, by the engine
                        soft = [_softmax(v_refs, outs, j) for j in outs]
                        E_of_v = _steady_loss(
                            p.loss, _loss_expr(p.loss, e, soft, d), ys, d, vs, False
                        )
                        dEdv = LossGrad(E_of_v, v_refs[j].key, v_refs[j].label)
                        delta_label = sym("delta", str(j), f"delta{j}")
                        delta[j] = self.add(
                            out, key(f"delta{j}"), delta_label, Neg(dEdv), "backward", False
                        )
                        continue
                    fp_label = Call("f", v_refs[j].label, prime=True)
                    fp = self.add(
                        out,
                        key(f"f'(v{j})"),
                        fp_label,
                        FPrime(act, v_refs[j], y_refs[j]),
                        "backward",
                    )
                    if l == last and p.loss == "half_sse":
                        expr: Expr = Mul(e[outs.index(j)], fp)
                    elif l == last and e:  # E of e_j = d_j - y_j: delta_j = dE/de_j f'(v_j)
                        e_j = e[outs.index(j)]
                        dEde = self.add(
                            out,
                            key(f"dE/de{j}"),
                            Partial(Sym("E"), e_j.label),
                            LossGrad(loss, e_j.key, e_j.label),
                            "backward",
                            numbers=False,
                        )
                        expr = Mul(dEde, fp)
                    elif l == last:  # delta_j = -dE/dy_j f'(v_j)
                        y_label = y_refs[j].label
                        slope: Expr = LossGrad(loss, y_refs[j].key, y_label)
                        if p.loss == "bce" and sigmoid_out:
                            r = outs.index(j)
                            slope = Steady(
                                slope,
                                _bce_slope(ys[r], d[r], vs[r]),
                                _sigmoid_outputs([ys[r]], [vs[r]]),
                                {vs[r].key},
                            )
                        dEdy = self.add(
                            out,
                            key(f"dE/dy{j}"),
                            Partial(Sym("E"), y_label),
                            slope,
                            "backward",
                            numbers=False,
                        )
                        expr = Neg(Mul(dEdy, fp))
                    else:
                        back = [
                            Mul(self.param(weight_name(q, j)), delta[q]) for q in p.neurons(l + 1)
                        ]
                        expr = Mul(fp, total(back))
                        if act.op.masks:  # a dead relu: delta = 0, even if the sum overflows
                            expr = Steady(expr, lambda env: 0.0, _is_zero(fp), set())
                    delta_label = sym("delta", str(j), f"delta{j}")
                    delta[j] = self.add(out, key(f"delta{j}"), delta_label, expr, "backward")
            inputs = {i: Ref(f"x{i}|{k}", Sym("x", str(i))) for i in p.sources(0)}
            per_example.append((inputs, delta, y_refs))
        if full:
            self._gradients(out, at, per_example)
        if p.mode == "batch" and len(errors) > 1:
            self.add(out, f"E{at}", self.names.sym("E", Sym("E")), Add(*errors), "error")
        return out

    def _gradients(self, out: Pass, at: str, per_example: list) -> None:
        p = self.p
        updates = []
        for l, layer in enumerate(p.layers):
            for j in p.neurons(l):
                for i in p.sources(l):
                    terms = [
                        Neg(Mul(delta[j], (inputs[i] if l == 0 else y[i])))
                        for inputs, delta, y in per_example
                    ]
                    updates.append((weight_name(j, i), total(terms), "W" in layer.frozen))
            if layer.shared_bias:
                terms = [Neg(delta[j]) for _, delta, _ in per_example for j in p.neurons(l)]
                updates.append((bias_name(p, l, 0), total(terms), "b" in layer.frozen))
            else:
                for j in p.neurons(l):
                    terms = [Neg(delta[j]) for _, delta, _ in per_example]
                    updates.append((f"b{j}", total(terms), "b" in layer.frozen))
        new_keys = {}
        for name, expr, frozen in updates:
            label = self.names.param(name)
            g = self.add(out, f"dE/d{name}{at}", Partial(Sym("E"), label), expr, "gradients")
            if frozen:
                continue
            step = self.add(
                out, f"Delta_{name}{at}", Delta(label), Neg(Mul(self.eta, g)), "updates"
            )
            new_label = self.names.sym(f"{name}_new", _with_sup(label, "new"))
            self.add(out, f"{name}_new{at}", new_label, Add(self.param(name), step), "updates")
            new_keys[name] = f"{name}_new{at}"
        self.param_key.update(new_keys)


def _with_sup(label: Label, sup: str) -> Label:
    return Sym(label.base, label.sub, sup) if isinstance(label, Sym) else label


MAX_LINES = 20_000


def solve(
    problem: Problem, digits: int = 4, max_lines: int = MAX_LINES, notes: bool = True
) -> Solution:
    """The worked solution of `problem`, numbers shown to `digits` significant digits;
    a `ValueError` when it would have more than `max_lines` lines. `notes=False` leaves out
    the rounding notes (twice as fast, for numbers only)."""
    if not 1 <= digits <= 17:
        raise ValueError(f"digits must be 1 to 17, got {digits}; give e.g. --digits 4")
    if problem.loss not in LOSSES:
        raise ValueError(
            f"a worked solution derives the losses {', '.join(LOSSES)}; "
            f"this case uses {problem.loss}; use tinygrad-bp check for its numbers"
        )
    b = _Builder(problem, digits, max_lines, notes)
    passes = [
        b.run_pass(n, full=n < problem.steps or problem.steps == 0)
        for n in range(problem.steps + 1)
    ]
    return Solution(problem, passes, digits, b.givens)
