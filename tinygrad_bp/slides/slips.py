"""The catalogue of classic backprop slips, and the numbers each one would have produced.

A slip is either another formula for the same quantity (a *variant*: the sign
flipped, eta dropped, the 1/2 dropped, the wrong derivative) or the right
formula fed a wrong input (a *substitution*: another parameter's old value,
another input, a neuron's output for its weight, the already-updated weights).
`candidates(graph, name, world, claimed)` lists every slip, and every
combination of two, applied at the quantity itself or at a quantity it is
computed from that the person did not write down (the slip is then carried
through), with the inputs the person used (`world`: their claimed numbers where
they wrote them, recomputed from those elsewhere).

Fixed ids (they appear in ``check --json``):
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..engine.ops import ACTIVATIONS, activation
from ..formatting import fmt
from .quantities import Quantities, Quantity, num

__all__ = ["SLIPS", "Candidate", "candidates"]

SLIPS: dict[str, str] = {
    "sign": "the sign is flipped (e.g. d - y for y - d, or the step added instead of subtracted)",
    "dropped_eta": "the learning rate eta is left out of the step",
    "missing_half": "the 1/2 of E = 1/2 sum e^2 is dropped (or its derivative doubled)",
    "wrong_derivative": "another function is used for f'(v): f(v), y(-y) for y(1-y), or "
    "another activation's derivative",
    "value_for_weight": "a neuron's output is used where its weight belongs",
    "updated_weights": "the hidden deltas are computed with the already-updated weights",
    "wrong_old_value": "the update starts from another parameter's value (of the same layer)",
    "wrong_input": "another input or activation is used as the factor",
    "arithmetic": "right formula, right inputs, multiplied out wrong",
}
__doc__ = (__doc__ or "") + "\n".join(f"* ``{k}``: {v}" for k, v in SLIPS.items()) + "\n"

# candidates kept per quantity, how far back through unwritten quantities a slip is sought,
# and how many quantities one search may visit (bounds the time on large cases)
MAX_CANDIDATES = 400
MAX_DEPTH = 6
MAX_VISITS = 5000


@dataclass(frozen=True)
class Candidate:
    """A slip (or two) and the number it gives, with a sentence and the formula filled in."""

    ids: tuple[str, ...]
    value: float
    sentence: str
    show: Callable[[], str]  # the formula with the numbers filled in, written on demand

    @property
    def formula(self) -> str:
        return self.show()

    def to_dict(self) -> dict:
        return {
            "slips": list(self.ids),
            "value": self.value,
            "explanation": self.sentence,
            "formula": self.formula,
        }


# a variant: (ids, formula on the input values, its text on the input texts, sentence)
Variant = tuple[tuple[str, ...], Callable[[Sequence[float]], float], Callable, str]


def _variants(q: Quantity) -> list[Variant]:
    out: list[Variant] = []
    base_fn, base_render = q.fn, q.render
    if q.kind == "param":
        out.append(
            (
                ("sign",),
                lambda a: a[0] - a[1],
                lambda s: f"{s[0]} - {s[1]}",
                "the step is subtracted instead of added",
            )
        )
    elif q.kind in ("e", "delta", "grad", "gradsum", "fprime") or (q.kind == "Delta" and q.inputs):
        out.append(
            (
                ("sign",),
                lambda a: -base_fn(a),
                lambda s: f"-({base_render(s)})",
                "the sign is flipped",
            )
        )
    if q.kind == "Delta" and q.inputs:
        out.append(
            (("dropped_eta",), lambda a: -a[0], lambda s: f"-{s[0]} (no eta)", "eta is left out")
        )
    if q.info.get("half"):
        out.append(
            (
                ("missing_half",),
                lambda a: 2 * base_fn(a),
                lambda s: f"2 * [{base_render(s)}]",
                "the 1/2 of E = 1/2 sum e^2 is dropped",
            )
        )
    if q.kind == "fprime":
        act = q.info["act"]
        out.append(
            (
                ("wrong_derivative",),
                lambda a: a[1],
                lambda s: f"{act.spec}({s[0]})",
                "f(v) is used for f'(v)",
            )
        )
        if act.name == "sigmoid":
            out.append(
                (
                    ("wrong_derivative",),
                    lambda a: -a[1] * a[1],
                    lambda s: f"{s[1]} * (-{s[1]})",
                    "y(-y) is written for y(1 - y)",
                )
            )
        for other in ACTIVATIONS:
            if other == act.name:
                continue
            o = activation(other)
            out.append(
                (
                    ("wrong_derivative",),
                    lambda a, o=o: float(o.df(a[0], a[1])),
                    lambda s, o=o: f"{o.name}'({s[0]}) with y = {s[1]}",
                    f"the derivative of {other} is used for {act.spec}",
                )
            )
    return out


# a substitution: (ids, new input values, sentence)
Substitution = tuple[tuple[str, ...], list[float], str]


def _substitutions(
    q: Quantity, vals: list[float], world: dict[str, float], depth: int
) -> list[Substitution]:
    out: list[Substitution] = []
    if depth > 1:  # a mixed-up input is sought at the claim and one step before it
        return out
    if q.kind == "param" and depth == 0:
        for other in q.info["same_layer"]:
            if other == q.inputs[0]:
                continue
            out.append(
                (
                    ("wrong_old_value",),
                    [world[other], vals[1]],
                    f"the update starts from {other} = {num(world[other])} instead of "
                    f"{q.inputs[0]} = {num(vals[0])}",
                )
            )
    if q.kind == "delta" and q.info.get("hidden"):
        K = (len(vals) - 1) // 2
        y = world[q.info["own_y"]]
        out.append(
            (
                ("value_for_weight",),
                [vals[0], *([y] * K), *vals[1 + K :]],
                f"the output {q.info['own_y']} = {num(y)} is used where the weight "
                f"{', '.join(q.inputs[1 : 1 + K])} belongs",
            )
        )
        new = [world.get(w, math.nan) for w in q.info["new_w"]]
        if all(math.isfinite(w) for w in new):
            out.append(
                (
                    ("updated_weights",),
                    [vals[0], *new, *vals[1 + K :]],
                    f"the updated weights {', '.join(q.info['new_w'])} = "
                    f"{', '.join(num(w) for w in new)} are used",
                )
            )
    if q.kind == "v":
        m = q.info["m"]
        ys = vals[m : 2 * m]
        out.append(
            (
                ("value_for_weight",),
                [*ys, *ys, vals[2 * m]],
                "the inputs' values are used where their weights belong",
            )
        )
    if q.kind == "grad" and len(q.inputs) == 2:
        for other in q.info.get("other_inputs", []):
            out.append(
                (
                    ("wrong_input",),
                    [vals[0], world[other]],
                    f"{other} = {num(world[other])} is used as the factor where "
                    f"{q.inputs[1]} = {num(vals[1])} belongs",
                )
            )
    return out


def candidates(
    graph: Quantities,
    name: str,
    world: dict[str, float],
    claimed: set[str],
    memo: dict[str, list[Candidate]] | None = None,
    depth: int = 0,
    visits: list[int] | None = None,
) -> list[Candidate]:
    """Every slip (one, or two combined) that changes `name`, with the number it gives."""
    memo = {} if memo is None else memo
    visits = [0] if visits is None else visits
    if name in memo:
        return memo[name]
    q = graph.nodes[name]
    visits[0] += 1
    if q.kind == "given" or visits[0] > MAX_VISITS:
        return []
    memo[name] = []  # guards against cycles while this one is being built
    vals = [world[i] for i in q.inputs]
    bases: list[Substitution] = [((), vals, "")]
    bases += _substitutions(q, vals, world, depth)
    if depth < MAX_DEPTH:
        for t, u in enumerate(q.inputs):
            if u in claimed or graph.nodes[u].kind == "given":
                continue
            for c in candidates(graph, u, world, claimed, memo, depth + 1, visits):
                new = list(vals)
                new[t] = c.value
                bases.append((c.ids, new, f"{c.sentence} (in {u}, not written down)"))
            if len(bases) > MAX_CANDIDATES:
                break
    found: dict[tuple, Candidate] = {}
    identity: Variant = ((), q.fn, q.render, "")
    for ids, new_vals, sentence in bases:
        for vids, fn, render, vsentence in [identity, *_variants(q)]:
            all_ids = ids + vids
            if not 1 <= len(all_ids) <= 2 or len(set(all_ids)) < len(all_ids):
                continue
            value = _call(fn, new_vals)
            if not math.isfinite(value):
                continue
            key = (all_ids, round(value, 12))
            if key in found:
                continue
            text = "; ".join(s for s in (sentence, vsentence) if s)
            found[key] = Candidate(all_ids, value, text, _shower(name, render, new_vals, value))
        if len(found) >= MAX_CANDIDATES:
            break
    result = sorted(found.values(), key=lambda c: len(c.ids))
    memo[name] = result
    return result


def _shower(name: str, render: Callable, vals: Sequence[float], value: float) -> Callable[[], str]:
    return lambda: f"{name} = {render([num(v) for v in vals])} = {fmt(value, '.6g')}"


def _call(fn: Callable[[Sequence[float]], float], vals: Sequence[float]) -> float:
    try:
        return float(fn(vals))
    except (ArithmeticError, ValueError):
        return math.nan
