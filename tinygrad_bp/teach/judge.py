"""The judgement of one claimed number against a worked solution: ok, follows, rounding or wrong.

Decided in this order, as the case-file checker decides it:

* ``ok``: within one unit of the claim's last written digit of the truth, but
  never more than 10% of the true value (so ``1`` for 0.699 is not ok);
* ``follows``: not the truth, but what the person's own earlier claimed
  numbers give (the line's formula recomputed with their claimed inputs):
  an error carried forward, not a new mistake;
* ``wrong`` with the slips that reproduce the claim (a sign flipped, eta
  dropped, the output used for the derivative, another parameter's old value);
* ``rounding``: within `rtol` (2%) of the truth or of the carried-forward value;
* ``wrong``: anything else, ``arithmetic`` when its claimed inputs were right.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from .problem import Written, last_digit_unit
from .solve import Solution

__all__ = ["DEFAULT_RTOL", "STATUSES", "Judgement", "Judge"]

DEFAULT_RTOL = 0.02
STATUSES = ("ok", "follows", "rounding", "wrong")


@dataclass
class Judgement:
    name: str  # as the person wrote it
    key: str  # ours
    claimed: float
    text: str
    true: float
    status: str
    follows_from: float | None = None
    slips: list[str] = field(default_factory=list)
    explanation: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "quantity": self.key,
            "claimed": self.claimed,
            "text": self.text,
            "status": self.status,
            "true": self.true,
            "follows_from": self.follows_from,
            "slips": self.slips,
            "explanation": self.explanation,
        }


def _close(claimed: float, target: float, unit: float) -> bool:
    tol = min(unit, 0.1 * abs(target)) if target else unit
    return abs(claimed - target) <= tol * (1 + 1e-9) + 1e-15


class Judge:
    """Judges claims against one solution; build it once and use it for a whole class."""

    def __init__(self, solution: Solution, rtol: float = DEFAULT_RTOL) -> None:
        self.solution = solution
        self.rtol = rtol
        self.lines = {line.key: line for line in solution.lines}
        self.truth = dict(solution.givens) | {k: line.value for k, line in self.lines.items()}
        self.alias: dict[str, str] = {}
        values = solution.values()
        for name, value in values.items():
            key = name if name in self.lines else self._key_of(name, value)
            if key:
                self.alias[name] = key
        self.known = sorted(self.alias)

    def _key_of(self, name: str, value: float) -> str | None:
        base, at, n = name.partition("@")
        for candidate in (f"y_h{base[1:]}", f"delta{base[6:]}", f"y{base[1:]}", f"e{base[1:]}"):
            key = candidate + at + n
            if key in self.lines and self.lines[key].value == value:
                return key
        for key, line in self.lines.items():  # the one-output shorthands y and e
            if key.partition("@")[2] == n and key[0] == base[0] and line.value == value:
                if key[1:].partition("@")[0].isdigit():
                    return key
        return None

    def resolve(self, name: str, names: dict[str, str]) -> str | None:
        """Our key for a claimed name, through the person's own notation (``[names]``)."""
        base, at, n = str(name).strip().partition("@")
        return self.alias.get(_translate(base, names) + at + n)

    def nearest(self, name: str) -> str:
        near = difflib.get_close_matches(name, self.known, n=1)
        return f"did you mean {near[0]!r}?" if near else "not a quantity of this network"

    def judge(self, claims: dict[str, float], names: dict[str, str]) -> list[Judgement]:
        """One `Judgement` per claim, in the order of the computation."""
        resolved = {}
        unknown = []
        for name, value in claims.items():
            key = self.resolve(name, names)
            if key is None:
                unknown.append((name, value))
            else:
                resolved[key] = (name, value)
        mine = {key: _num(v) for key, (_, v) in resolved.items()}
        carried = self._carried(mine)
        out = []
        for key, line in self.lines.items():
            if key not in resolved:
                continue
            name, value = resolved[key]
            out.append(self._one(name, key, value, line, mine, carried.get(key)))
        for name, value in unknown:
            text = getattr(value, "text", repr(value))
            out.append(
                Judgement(
                    str(name),
                    "",
                    _num(value),
                    text,
                    math.nan,
                    "wrong",
                    None,
                    ["unknown_name"],
                    f"{name!r} is not a quantity of this network: {self.nearest(str(name))}",
                )
            )
        return out

    def _one(self, name, key, value, line, mine, carried) -> Judgement:
        claimed = _num(value)
        text = value.text if isinstance(value, Written) else repr(value)
        unit = last_digit_unit(text)
        true = line.value
        j = Judgement(name, key, claimed, text, true, "ok")
        if _close(claimed, true, unit):
            return j
        if carried is not None and not _close(carried, true, unit):
            j.follows_from = carried
            if _close(claimed, carried, unit):
                j.status = "follows"
                j.explanation = "follows from your earlier numbers (error carried forward)"
                return j
        slips = self._slips(key, claimed, unit, mine)
        if slips:
            j.status = "wrong"
            j.slips = list(dict.fromkeys(i for s, _ in slips for i in s.split("+")))
            j.explanation = "; ".join(e for _, e in slips)
            return j
        targets = [true] + ([carried] if carried is not None else [])
        if any(abs(claimed - t) <= self.rtol * abs(t) for t in targets):
            j.status = "rounding"
            j.explanation = f"within {self.rtol:.0%}: an intermediate rounded too early?"
            return j
        j.status = "wrong"
        inputs_right = carried is None or abs(carried - true) <= self.rtol * abs(true)
        if inputs_right and line.expr is not None and line.numbers:
            j.slips = ["arithmetic"]
            j.explanation = "right inputs, multiplied out wrong"
        return j

    def _carried(self, mine: dict[str, float]) -> dict[str, float]:
        """Each line recomputed in the person's world: their claimed numbers wherever they
        claimed one, the formulas carried forward from them everywhere else."""
        world = dict(self.truth)
        out: dict[str, float] = {}
        for key, line in self.lines.items():
            if line.expr is not None and line.expr.refs() & world.keys() != line.expr.refs():
                continue
            try:
                value = float(line.expr.eval(world)) if line.expr is not None else line.value
            except (ValueError, ZeroDivisionError, OverflowError):
                value = line.value
            if math.isfinite(value) and value != line.value:
                out[key] = value
            world[key] = mine.get(key, value) if math.isfinite(mine.get(key, 0.0)) else value
        return out

    def _slips(self, key, claimed, unit, mine) -> list[tuple[str, str]]:
        """The catalogue's slips that reproduce the claim (a few common ones)."""
        # the formulas with the person's own numbers filled in, the truth for this one
        t = self.truth | mine | {key: self.truth[key]}
        base, at, n = key.partition("@")
        found: list[tuple[str, str]] = []

        def test(slip: str, value: float, what: str) -> None:
            if _close(claimed, value, unit) and slip not in [s for s, _ in found]:
                found.append((slip, what))

        if base.startswith(("Delta_", "dE/d", "delta", "e")) or base.endswith("_new"):
            test("sign", -t[key], f"the sign is flipped: {_g(-t[key])}")
        if base.endswith("_new"):
            p = base[:-4]
            old, g = t[self._param_key(p, n)], t[f"dE/d{p}{at}{n}"]
            eta = self.solution.problem.eta
            test(
                "sign",
                old + eta * g,
                f"added eta dE/dp instead of subtracting: {_g(old + eta * g)}",
            )
            test("dropped_eta", old - g, f"eta left out: {_g(old)} - ({_g(g)})")
            for q in self._params(at):
                q_old = t[self._param_key(q, n)]
                if q != p and q_old != old:
                    delta = mine.get(f"Delta_{p}{at}{n}", -eta * g)
                    test(
                        "wrong_old_value",
                        q_old + delta,
                        f"started from {q}'s old value {_g(q_old)}",
                    )
                    test(
                        "wrong_old_value+sign",
                        q_old - delta,
                        f"started from {q}'s old value {_g(q_old)} and flipped the sign of "
                        f"the update: {_g(q_old)} - {_g(delta)}",
                    )
        if base.startswith("Delta_"):
            g = t[f"dE/d{base[6:]}{at}{n}"]
            test("dropped_eta", -g, f"eta left out: -dE/dp = {_g(-g)}")
        if base.startswith("f'(v"):
            j = base[4:-1]
            y = t.get(f"y{j}{at}{n}", t.get(f"y_h{j}{at}{n}"))
            if y is not None:
                test("wrong_derivative", y, f"f(v) written for f'(v): {_g(y)}")
                test("wrong_derivative", -y * y, f"y (-y) for y (1 - y): {_g(-y * y)}")
        if base == "E":
            test("missing_half", 2 * t[key], f"the 1/2 of E left out: {_g(2 * t[key])}")
        return found

    def _params(self, at: str) -> list[str]:
        return [k[4:] for k in self.lines if k.startswith("dE/d") and k.partition("@")[1] == at]

    def _param_key(self, p: str, n: str) -> str:
        if not n or n == "0":
            return p
        prev = int(n) - 1
        return f"{p}_new" + (f"@{prev}" if prev else "")


def _translate(name: str, names: dict[str, str]) -> str:
    """A name in the person's notation -> ours: ``w_h`` -> ``w21``, and so ``dE/dw_h``,
    ``Delta_w_h``, ``w_h_new`` and ``f'(y_in)`` through the names of their parts."""
    if name in names:
        return names[name]
    for prefix in ("dE/d", "Delta_"):
        if name.startswith(prefix) and name[len(prefix) :] in names:
            return prefix + names[name[len(prefix) :]]
    if name.endswith("_new") and name[:-4] in names:
        return names[name[:-4]] + "_new"
    if name.startswith("f'(") and name.endswith(")") and name[3:-1] in names:
        return f"f'({names[name[3:-1]]})"
    return name


def _num(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _g(x: float) -> str:
    return f"{x:.4g}"
