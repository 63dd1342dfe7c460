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
held, so that one slip is reported once and the derivation can recover.

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
from .expr import Expression, ExpressionError, UndefinedError, parse
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
ATOL = 1e-9
MIN_POINTS = 5  # fewer common points than this and no verdict can be given
CONSTANT_VALUES = (0.5, 2.0, 3.7)
_NICE = [0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0, 0.25, -0.25, 3.0, -3.0, 0.1, -0.1]


def sample_points(n_random: int = 60, seed: int = 0) -> list[float]:
    """Simple points first (so a reported counterexample is easy to check by hand), then random
    ones spread over [-5, 5] and over several orders of magnitude on both sides of 0."""
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
    claimed: float | None = None
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
        if self.kind == "rule":
            detail = (
                f"claimed {fmt(self.claimed, '.10g')}, true derivative {fmt(self.actual, '.10g')}"
            )
        else:
            detail = (
                f"this line {fmt(self.claimed, '.10g')}, "
                f"line {self.compared_with} {fmt(self.actual, '.10g')}"
            )
        agree = f"; the two agree at {self.agreeing} of {self.points} sample points"
        return f"{head}\n    WRONG at {where}: {detail}{agree if self.agreeing else ''}"

    def _note(self) -> str:
        return f"; {self.note}" if self.note else ""


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= ATOL + RTOL * max(abs(a), abs(b))


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

    def rule(self, f: str, claimed: str, line: int, text: str) -> Verdict:
        lhs, rhs = self.parse(f, line), self.parse(claimed, line)
        if lhs.uses_diff:
            raise VerifyError(
                f"line {line}: the left side of a rule cannot contain diff(...) "
                "(that would be a second derivative)"
            )
        return self.judge(line, text, "rule", rhs.value, lhs.derivative, (lhs, rhs))

    def step(self, previous: str, claimed: str, line: int, compared_with: int) -> Verdict:
        before, after = self.parse(previous, compared_with), self.parse(claimed, line)
        text = f"= {claimed}"
        return self.judge(
            line, text, "step", after.value, before.value, (before, after), compared_with
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

    def judge(self, line, text, kind, claimed_fn, actual_fn, exprs, compared_with=None) -> Verdict:
        """Evaluate both sides everywhere both are defined; the first disagreement decides."""
        sets, total = self.constant_sets(exprs)
        self.work += sum(e.size for e in exprs) * len(sets) * len(POINTS)
        if self.work > self.limits.max_work:
            raise VerifyError(
                f"line {line}: "
                + self.limits.exceeded(
                    "max_work", f"checking up to here takes {self.work:,} node evaluations"
                )
            )
        defined = agreeing = 0
        first_wrong = None
        for constants in sets:
            for x in POINTS:
                try:
                    claimed = claimed_fn(x, constants)
                    actual = actual_fn(x, constants)
                except UndefinedError:
                    continue
                defined += 1
                if _close(claimed, actual):
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
        if defined < MIN_POINTS:
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
    return _Checker(limits).rule(f, claimed, line, text or f"d/dx {f} = {claimed}")


def verify_step(
    previous: str, claimed: str, line: int = 0, compared_with: int = 0, limits: Limits = DEFAULT
) -> Verdict:
    """Does `claimed` equal `previous` (as functions of x)?"""
    return _Checker(limits).step(previous, claimed, line, compared_with)


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


def verify_text(text: str, limits: Limits = DEFAULT) -> list[Verdict]:
    """Check every rule and derivation step of a file's text (see the module docstring)."""
    check = _Checker(limits)
    verdicts: list[Verdict] = []
    previous: tuple[int, str] | None = None  # the line a step is compared with
    last_ok: tuple[int, str] | None = None  # the last line that held, for recovery after a slip
    pending_start: tuple[int, str] | None = None  # an expression line still waiting for a step
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("="):
            if previous is None:
                raise VerifyError(
                    f"line {number}: {_short(line)} continues a derivation, but no expression "
                    "or rule comes before it"
                )
            expr = line[1:].strip()
            if not expr:
                raise VerifyError(f"line {number}: '=' needs an expression after it")
            pending_start = None
            verdict = check.step(previous[1], expr, number, previous[0])
            if not verdict.ok and last_ok is not None and last_ok[0] != previous[0]:
                # the line before was itself wrong: does this one get back to the last good line?
                recovered = check.step(last_ok[1], expr, number, last_ok[0])
                if recovered.ok:
                    recovered.note = (
                        f"line {previous[0]} was wrong; this line equals line {last_ok[0]}, "
                        "the last line that held"
                    )
                    verdict = recovered
            verdicts.append(verdict)
            previous = (number, expr)
            if verdict.ok:
                last_ok = previous
            continue
        if pending_start is not None:
            raise _no_steps(pending_start[0])
        if line.startswith("d/dx"):
            body = line[4:]
            sides = _split_equals(body)
            if len(sides) != 2:
                raise VerifyError(
                    f"line {number}: a rule has the form 'd/dx f = g' with one '=' (outside "
                    f"parentheses), got {_short(line)}"
                )
            f, g = (part.strip() for part in sides)
            if not f or not g:
                raise VerifyError(f"line {number}: a rule needs both sides: 'd/dx f = g'")
            verdict = check.rule(f, g, number, line)
            verdicts.append(verdict)
            previous = (number, g)
            last_ok = previous if verdict.ok else None
            continue
        if len(_split_equals(line)) > 1:
            raise VerifyError(
                f"line {number}: {_short(line)} has '=' inside; a rule starts with 'd/dx', a "
                "derivation step starts with '='"
            )
        check.parse(line, number)
        previous = last_ok = pending_start = (number, line)
    if pending_start is not None:
        raise _no_steps(pending_start[0])
    if not verdicts:
        raise VerifyError("no rules or derivations to check (the file is empty or all comments)")
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
