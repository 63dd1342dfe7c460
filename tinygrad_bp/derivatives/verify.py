"""Check derivative rules and step-by-step derivations numerically, with autodiff as judge.

A file holds rules and derivations, ``#`` starting a comment:

    d/dx tanh(x) = 1 - tanh(x)**2          # a rule: the derivative of the left side
    diff(1/(1+exp(-x)))                    # a derivation: each '=' line claims to equal
    = exp(-x)/(1+exp(-x))**2               #   the line before it
    = sigmoid(x)*(1-sigmoid(x))

Both sides are evaluated at many points x where both are defined, and at
several values of each constant (a, b, ...). A rule compares its right side with
the true derivative of its left side (reverse mode on a Value graph). A step
compares with the line before it; after a wrong line, with the last line that
held, so that one slip is reported once and the derivation can recover. A claim
with no value at a point (other than a simple one like x = 1) where what it claims
to equal has one is wrong there. Numbers agree to RTOL relatively, or to ATOL times
the size of the terms they are made of (sum of |v d(out)/dv| over the graph).

The work is bounded (`Limits`): with more constants than ``max_combinations``
allows, a fixed sample of their combinations is tried (and the verdict says so),
and a file whose lines together need more than ``max_work`` node evaluations is
refused at the line that would go over, naming the limit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_text
from ..formatting import fmt
from .expr import Expression, ExpressionError, OutOfRange, UndefinedError, parse
from .limits import DEFAULT, Limits

__all__ = [
    "Limits",
    "Verdict",
    "VerifyError",
    "verify_file",
    "verify_rule",
    "verify_step",
    "verify_text",
]

RTOL = 1e-7
ATOL = 1e-9  # relative to the size of the terms the two numbers are made of
MIN_POINTS = 5  # fewer common points than this and no verdict can be given
CONSTANT_VALUES = (0.5, 2.0, 3.7)
_NICE = [0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0, 0.25, -0.25, 3.0, -3.0, 0.1, -0.1]
_NICE += [10.0, -10.0, 30.0, -30.0, 100.0, -100.0]  # far out: a kink at x = 20 is not missed
# A claim is wrong where it has no value and what it equals has one only at a point this
# close to 0 (farther out, exp(-x**4) and the like round to 0 and are not a domain's edge).
LOSS_RANGE = 3.0


def sample_points(n_random: int = 60, seed: int = 0) -> list[float]:
    """Simple points first (so a reported counterexample is easy to check by hand), then random
    ones spread over [-5, 5] and over several orders of magnitude on both sides of 0 (the
    simple ones reach out to +-100)."""
    rng = np.random.default_rng(seed)
    spread = np.r_[rng.uniform(-5, 5, n_random // 2), np.exp(rng.uniform(-4, 2.5, n_random // 4))]
    spread = np.r_[spread, -np.exp(rng.uniform(-4, 2.5, n_random // 4))]
    return _NICE + [float(v) for v in spread]


POINTS = sample_points()


class VerifyError(ValueError):
    """The file (or expression) cannot be checked; the message gives the line and the reason."""


@dataclass
class Verdict:
    """The outcome for one rule or step.

    `status` is "correct", "wrong", or "undetermined" (the sides are both defined
    at too few sample points). For a wrong one: the point `x` (and `constants`),
    `claimed` (the line's value) and `actual` (the true derivative for a rule,
    the compared line's value for a step).
    """

    line: int
    text: str
    kind: str  # "rule" or "step"
    status: str
    points: int  # sample points (x and constants) where both sides were defined
    agreeing: int = 0
    x: float | None = None
    constants: dict[str, float] | None = None
    claimed: float | None = None  # None for a wrong one: the claim has no value at x
    actual: float | None = None
    compared_with: int | None = None  # for a step: the line it was compared with
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    def to_dict(self) -> dict:
        d = {"line": self.line, "text": self.text, "ok": self.ok}
        if not self.ok:
            d.update(x=self.x, claimed=self.claimed, actual=self.actual)
        d.update(
            kind=self.kind,
            status=self.status,
            points=self.points,
            compared_with=self.compared_with,
            constants=self.constants,
            note=self.note,
        )
        return d

    def describe(self) -> str:
        head = f"line {self.line}: {self.text}" if self.line else self.text
        if self.status == "correct":
            return f"{head}\n    correct ({self.points} sample points){self._note()}"
        if self.status == "undetermined":
            return f"{head}\n    NOT CHECKED: {self.note}"
        where = f"x = {fmt(self.x, 'g')}" + "".join(
            f", {k} = {fmt(v, 'g')}" for k, v in (self.constants or {}).items()
        )
        claimed = "undefined" if self.claimed is None else fmt(self.claimed, ".10g")
        if self.kind == "rule":
            detail = f"claimed {claimed}, true derivative {fmt(self.actual, '.10g')}"
        else:
            detail = f"this line {claimed}, line {self.compared_with} {fmt(self.actual, '.10g')}"
        agree = f"; the two agree at {self.agreeing} of {self.points} sample points" + (
            " where both are defined" if self.claimed is None else ""
        )
        return f"{head}\n    WRONG at {where}: {detail}{agree if self.agreeing else ''}"

    def _note(self) -> str:
        return f"; {self.note}" if self.note else ""


def _close(a: float, b: float, terms: float) -> bool:
    """a and b agree: relatively, or (where they are results of cancellation, like
    sin(x)**2 + cos(x)**2 - 1) to within a small share of the `terms` they are made of."""
    return abs(a - b) <= ATOL * terms + RTOL * max(abs(a), abs(b))


class _Checker:
    """Judges rules and steps within the limits, counting the work of a whole file."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.work = 0

    def parse(self, text: str, line: int) -> Expression:
        try:
            return parse(text, self.limits)
        except ExpressionError as exc:
            raise VerifyError(f"line {line}: {exc}") from None

    def parse_rule(self, f: str, g: str, line: int) -> tuple[Expression, Expression]:
        lhs, rhs = self.parse(f, line), self.parse(g, line)
        if lhs.uses_diff:
            raise VerifyError(
                f"line {line}: the left side {f!r} of a rule cannot contain diff(...) "
                "(that would be a second derivative); write 'd/dx f = g' with f free of diff"
            )
        return lhs, rhs

    def rule(self, lhs: Expression, rhs: Expression, line: int, text: str) -> Verdict:
        return self.judge(
            line, text, "rule", rhs.value_and_scale, lhs.derivative_and_scale, (lhs, rhs)
        )

    def step(self, before: Expression, after: Expression, line: int, compared_with: int) -> Verdict:
        text = f"= {after.text}"
        return self.judge(
            line,
            text,
            "step",
            after.value_and_scale,
            before.value_and_scale,
            (before, after),
            compared_with,
        )

    def constant_sets(self, exprs: tuple[Expression, ...]) -> tuple[list[dict[str, float]], int]:
        """The combinations of constant values to try, and how many there are in all."""
        names = sorted({c for e in exprs for c in e.constants})
        total = len(CONSTANT_VALUES) ** len(names)
        if total <= self.limits.max_combinations:
            combos = itertools.product(CONSTANT_VALUES, repeat=len(names))
        else:  # a fixed sample: the same verdict every run
            rng = np.random.default_rng(0)
            combos = rng.choice(CONSTANT_VALUES, (self.limits.max_combinations, len(names)))
        return [dict(zip(names, map(float, combo))) for combo in combos], total

    def cost(self, *exprs: Expression) -> int:
        """Node evaluations to compare `exprs` at every sample point and constant combination."""
        names = {c for e in exprs for c in e.constants}
        combinations = min(len(CONSTANT_VALUES) ** len(names), self.limits.max_combinations)
        return sum(e.size for e in exprs) * combinations * len(POINTS)

    def judge(self, line, text, kind, claimed_fn, actual_fn, exprs, compared_with=None) -> Verdict:
        """Evaluate both sides everywhere both are defined; the first disagreement decides."""
        sets, total = self.constant_sets(exprs)
        self.work += self.cost(*exprs)
        if self.work > self.limits.max_work:
            raise VerifyError(
                f"line {line}: "
                + self.limits.exceeded(
                    "max_work", f"checking up to here takes {self.work:,} node evaluations"
                )
            )
        defined = agreeing = 0
        first_wrong = lost = None
        lost_between = False  # a point lost that is not one of the simple ones
        for constants in sets:
            for x in POINTS:
                try:
                    actual, actual_terms = actual_fn(x, constants)
                except UndefinedError:
                    continue
                except ExpressionError as exc:  # too deep for Python's stack to evaluate
                    raise VerifyError(f"line {line}: {exc}") from None
                try:
                    claimed, claimed_terms = claimed_fn(x, constants)
                except OutOfRange:
                    continue
                except UndefinedError:
                    # the claim has no value where what it claims to equal has one; a single
                    # point like x = 1 of (x**2 - 1)/(x - 1) is met only among the simple points
                    lost = lost or (x, constants, None, actual)
                    lost_between |= x not in _NICE and abs(x) <= LOSS_RANGE
                    continue
                except ExpressionError as exc:
                    raise VerifyError(f"line {line}: {exc}") from None
                defined += 1
                if _close(claimed, actual, max(claimed_terms, actual_terms)):
                    agreeing += 1
                elif first_wrong is None:
                    first_wrong = (x, constants, claimed, actual)
        verdict = Verdict(
            line, text, kind, "correct", defined, agreeing, compared_with=compared_with
        )
        if len(sets) < total:
            verdict.note = (
                f"the constants took {len(sets)} of the {total:,} combinations of their values "
                f"({self.limits.how_to_raise('max_combinations')} tries more)"
            )
        if not lost_between:
            lost = None
        first_wrong = first_wrong or lost
        if defined < MIN_POINTS and lost is None:
            verdict.status = "undetermined"
            verdict.note = (
                "the two sides are nowhere both defined"
                if defined == 0
                else f"the two sides are both defined at only {defined} sample points"
            )
        elif first_wrong is not None:
            x, constants, claimed, actual = first_wrong
            verdict.status = "wrong"
            verdict.x, verdict.claimed, verdict.actual = x, claimed, actual
            verdict.constants = constants or None
        return verdict


def verify_rule(
    f: str, claimed: str, line: int = 0, text: str | None = None, limits: Limits = DEFAULT
) -> Verdict:
    """Is `claimed` the derivative of `f` with respect to x? e.g. verify_rule("coth(x)",
    "-cosh(x)**2") is wrong, verify_rule("tanh(x)", "sech(x)**2") correct."""
    check = _Checker(limits)
    lhs, rhs = check.parse_rule(f, claimed, line)
    return check.rule(lhs, rhs, line, text or f"d/dx {f} = {claimed}")


def verify_step(
    previous: str, claimed: str, line: int = 0, compared_with: int = 0, limits: Limits = DEFAULT
) -> Verdict:
    """Does `claimed` equal `previous` (as functions of x)?"""
    check = _Checker(limits)
    before, after = check.parse(previous, compared_with), check.parse(claimed, line)
    return check.step(before, after, line, compared_with)


@dataclass
class _Line:
    """A line of a file that takes part in a check, parsed."""

    number: int
    kind: str  # "rule", "step", or "start" (the first line of a derivation)
    expr: Expression  # a rule's right side, a step's expression, a derivation's first line
    lhs: Expression | None = None  # a rule's left side
    text: str = ""


def _split_equals(text: str) -> list[str]:
    """`text` split at each '=' outside parentheses (not the '=' of ``elu(x, alpha=2)``)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "=" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _short(line: str) -> str:
    return repr(line if len(line) <= 80 else line[:77] + "...")


def _strip_comment(raw: str) -> str:
    return raw.split("#", 1)[0].strip()


def _no_steps(line: int) -> VerifyError:
    return VerifyError(
        f"line {line}: an expression with no '= ...' step after it; "
        "write a rule as 'd/dx f = g', or follow the expression with '= ...' lines"
    )


def _read_lines(text: str, check: _Checker) -> list[_Line]:
    """The rules, derivations and steps of a file, parsed; a malformed file is a `VerifyError`."""
    lines: list[_Line] = []
    waiting: int | None = None  # a derivation's first line still waiting for a step
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("="):
            if not lines:
                raise VerifyError(
                    f"line {number}: {_short(line)} continues a derivation, but no expression "
                    "or rule comes before it; start with the expression on a line of its own"
                )
            expr = line[1:].strip()
            if not expr:
                raise VerifyError(
                    f"line {number}: {_short(line)}: '=' needs an expression after it, like '= 2*x'"
                )
            lines.append(_Line(number, "step", check.parse(expr, number)))
            waiting = None
            continue
        if waiting is not None:
            raise _no_steps(waiting)
        if line.startswith("d/dx"):
            sides = _split_equals(line[4:])
            if len(sides) != 2:
                raise VerifyError(
                    f"line {number}: a rule has the form 'd/dx f = g' with one '=' (outside "
                    f"parentheses), got {_short(line)}; put one '=' between the two sides"
                )
            f, g = (part.strip() for part in sides)
            if not f or not g:
                raise VerifyError(
                    f"line {number}: {_short(line)}: a rule needs both sides; write 'd/dx f = g'"
                )
            lhs, rhs = check.parse_rule(f, g, number)
            lines.append(_Line(number, "rule", rhs, lhs, line))
            continue
        if len(_split_equals(line)) > 1:
            raise VerifyError(
                f"line {number}: {_short(line)} has '=' inside; a rule starts with 'd/dx', a "
                "derivation step starts with '='"
            )
        lines.append(_Line(number, "start", check.parse(line, number)))
        waiting = number
    if waiting is not None:
        raise _no_steps(waiting)
    if not lines:
        raise VerifyError(
            "no rules or derivations to check (the file is empty or all comments); "
            "write a rule like 'd/dx x**2 = 2*x'"
        )
    return lines


def verify_text(text: str, limits: Limits = DEFAULT) -> list[Verdict]:
    """Check every rule and derivation step of a file's text (see the module docstring)."""
    check = _Checker(limits)
    lines = _read_lines(text, check)
    estimate = sum(  # the first comparison of each line, before any is made
        check.cost(line.lhs, line.expr)
        if line.kind == "rule"
        else check.cost(before.expr, line.expr)
        for before, line in zip([lines[0], *lines], lines)
        if line.kind != "start"
    )
    if estimate > limits.max_work:
        raise VerifyError(
            limits.exceeded("max_work", f"checking this file takes {estimate:,} node evaluations")
        )
    verdicts: list[Verdict] = []
    previous: _Line = lines[0]  # the line a step is compared with
    last_ok: _Line | None = lines[0]  # the last line that held, for recovery after a slip
    for line in lines:
        if line.kind == "start":
            previous = last_ok = line
            continue
        if line.kind == "rule":
            verdict = check.rule(line.lhs, line.expr, line.number, line.text)
            last_ok = line if verdict.ok else None
        else:
            verdict = check.step(previous.expr, line.expr, line.number, previous.number)
            if not verdict.ok and last_ok is not None and last_ok is not previous:
                # the line before was itself wrong: does this one get back to the last good line?
                recovered = check.step(last_ok.expr, line.expr, line.number, last_ok.number)
                if recovered.ok:
                    recovered.note = (
                        f"line {previous.number} was wrong; this line equals line "
                        f"{last_ok.number}, the last line that held"
                    )
                    verdict = recovered
            if verdict.ok:
                last_ok = line
        verdicts.append(verdict)
        previous = line
    return verdicts


def verify_file(path: str | Path, limits: Limits = DEFAULT) -> list[Verdict]:
    """Check a file (read with the size limit ``limits.max_bytes``); see `verify_text`."""
    try:
        text = read_text(
            path, limits.max_bytes, "derivation file", limits.how_to_raise("max_bytes")
        )
    except ValueError as exc:
        raise VerifyError(str(exc)) from None
    try:
        return verify_text(text, limits)
    except VerifyError as exc:
        raise VerifyError(f"{path}: {exc}") from None
