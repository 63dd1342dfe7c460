"""Judging a case's claims: ok, follows, wrong (with the slip that explains it), rounding.

Each claim is decided in this order:

1. ``ok``: it agrees with the truth to the precision written: within one unit
   of its last written digit, but never more than 10% of the true value (so
   ``1`` for 0.699 and ``0`` for 0.129 are not ok);
2. ``follows``: it is what the person's own earlier claimed numbers give, to the
   precision written (the quantity recomputed from its inputs, taking their
   claimed values where they claimed them: error carried forward);
3. ``wrong`` with a diagnosis: a slip of the catalogue (`slips.SLIPS`), or two,
   reproduces it to the precision written;
4. ``rounding``: within `rtol` (2%) of the truth or of the carried-forward value;
5. ``wrong``: anything else, diagnosed ``arithmetic`` when the claimed numbers it
   is computed from are right (ok or rounding).

Public API: `judge(case, rtol=0.02, strict=False) -> CheckResult`; a
`CheckResult` has `.verdicts` (one `Verdict` per claim, in the order of the
computation), `.counts`, `.exit_status`, `.comparison` (the gradients of pass
0 by the rules, the Value engine and finite differences), `.to_dict()` (the
layout of `compare.Comparison.to_dict()` plus ``claims`` and ``summary``) and
`.report()` (the table for people). `true_values(case)` is every quantity's
true value by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..formatting import fmt
from .casefile import Case, Claim
from .compare import Comparison, ParameterRow, kink_notes, numeric_atol
from .quantities import PHASES, Quantities
from .slips import SLIPS, Candidate, candidates

__all__ = ["DEFAULT_RTOL", "STATUSES", "CheckResult", "Verdict", "judge", "true_values"]

DEFAULT_RTOL = 0.02
STATUSES = ("ok", "follows", "rounding", "wrong")
# a number is "at the precision written" within one unit of its last digit, at most this share
PRECISION_CAP = 0.1
# differences below this (relative, or absolute) are floating-point noise, never a disagreement
NOISE = 1e-9
NOISE_ABS = 1e-12


def agrees(claimed: float, unit: float, reference: float) -> bool:
    """`claimed` equals `reference` to the precision written (one unit, at most 10%)."""
    if not math.isfinite(reference):
        return False
    tol = min(unit, PRECISION_CAP * abs(reference))
    tol = max(tol, NOISE * max(abs(reference), abs(claimed)), NOISE_ABS)
    return abs(claimed - reference) <= tol * (1 + 1e-12)


def true_values(case: Case) -> dict[str, float]:
    """Every quantity of the case by name (``v1``, ``E@1``, ``dE/dw11``, ``w11@1``, ...)."""
    return case.quantities.evaluate()


@dataclass
class Verdict:
    """The judgement of one claim."""

    claim: Claim
    status: str
    true: float
    carried: float  # what the person's own claimed numbers give
    follows_from: list[str]
    diagnoses: list[Candidate] = field(default_factory=list)
    explanation: str = ""
    phase: str = "forward"
    after: int = 0  # the pass: after this many updates
    written: str = ""  # the claim's name in our notation, when [names] renamed it

    @property
    def slips(self) -> list[str]:
        ids: list[str] = []
        for c in self.diagnoses:
            ids += [i for i in c.ids if i not in ids]
        return ids

    def to_dict(self) -> dict:
        return {
            "name": self.claim.name,
            "quantity": self.claim.key,
            "claimed": self.claim.value,
            "text": self.claim.text,
            "line": self.claim.line,
            "phase": self.phase,
            "after_updates": self.after,
            "status": self.status,
            "true": self.true,
            "carried_forward": self.carried,
            "follows_from": self.follows_from,
            "slips": self.slips,
            "diagnoses": [c.to_dict() for c in self.diagnoses],
            "explanation": self.explanation,
        }


@dataclass
class CheckResult:
    case: Case
    verdicts: list[Verdict]
    comparison: Comparison
    rtol: float = DEFAULT_RTOL
    strict: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for v in self.verdicts) for s in STATUSES}

    @property
    def claims_ok(self) -> bool:
        bad = ("wrong", "rounding") if self.strict else ("wrong",)
        return not any(v.status in bad for v in self.verdicts)

    @property
    def agree(self) -> bool:
        return self.comparison.agree

    @property
    def exit_status(self) -> int:
        return 0 if self.claims_ok and self.agree else 1

    def to_dict(self) -> dict:
        out = self.comparison.to_dict()
        out["case"] = self.case.path
        out["names"] = dict(self.case.names)
        out["claims"] = [v.to_dict() for v in self.verdicts]
        out["summary"] = self.counts
        return out

    def summary(self) -> str:
        c = self.counts
        parts = [f"{c[s]} {s}" for s in STATUSES if c[s]]
        return f"{len(self.verdicts)} claims: " + (", ".join(parts) if parts else "none")

    def report(self, numbers: bool = False) -> str:
        case = self.case
        net = case.network
        lines = [
            f"case {case.path}: {'-'.join(map(str, net.sizes))} network, "
            + ", ".join(layer.act.spec for layer in net.layers)
            + f"; loss {net.loss}; eta = {fmt(case.eta, 'g')}; {case.mode}, "
            f"{case.steps} update{'s' if case.steps != 1 else ''}, "
            f"{len(case.data)} example{'s' if len(case.data) != 1 else ''}"
        ]
        if case.names:
            lines.append("names: " + ", ".join(f"{a} = {o}" for a, o in case.names.items()))
        if numbers:
            lines += ["", self.comparison.table()]
        else:
            lines.append(
                f"gradients of the first pass: {self.comparison.sources} agree"
                if self.agree
                else f"gradients of the first pass: {self.comparison.verdict} (--numbers)"
            )
            lines += self.comparison.kinks
        width = max([len(_label(v)) for v in self.verdicts] + [5])
        head = f"  {'claim':<{width}}  {'written':>12}  {'true':>12}  {'your numbers give':>17}"
        phase = None
        for v in self.verdicts:
            if (v.after, v.phase) != phase:
                phase = (v.after, v.phase)
                title = v.phase + (f", after update {v.after}" if v.after else "")
                lines += ["", f"{title}:", head]
            differs = not agrees(v.carried, v.claim.unit, v.true) and math.isfinite(v.carried)
            carried = fmt(v.carried, ".6g") if differs else ""
            row = f"  {_label(v):<{width}}  {v.claim.text:>12}  {fmt(v.true, '.6g'):>12}  "
            row += f"{carried:>17}  "
            if v.status == "wrong" and v.diagnoses:
                row += "WRONG: " + " or ".join("+".join(c.ids) for c in v.diagnoses)
            elif v.status == "wrong":
                row += f"WRONG: {v.explanation}"
            else:
                row += v.status + (f": {v.explanation}" if v.status != "ok" else "")
            lines.append(row)
            for c in v.diagnoses:
                lines.append("      " + case.in_author_terms(f"{c.sentence}: {c.formula}"))
        lines += ["", self.summary()]
        return "\n".join(lines)


def _label(v: Verdict) -> str:
    return v.claim.name if not v.written else f"{v.claim.name} ({v.written})"


def judge(case: Case, rtol: float = DEFAULT_RTOL, strict: bool = False) -> CheckResult:
    """Judge every claim of `case` (see the module docstring for the order of the statuses)."""
    g = case.quantities
    truth = g.evaluate()
    claimed_values: dict[str, float] = {}
    for c in case.claims:
        claimed_values.setdefault(c.key, c.value)
    world = g.evaluate(claimed_values)
    claimed = set(claimed_values)
    status_of: dict[str, str] = {}
    memo: dict[str, list[Candidate]] = {}
    true_memo: dict[str, list[Candidate]] = {}
    verdicts = []
    order = sorted(range(len(case.claims)), key=lambda t: (g.nodes[case.claims[t].key].order, t))
    for t in order:
        claim = case.claims[t]
        q = g.nodes[claim.key]
        true = truth[claim.key]
        carried = Quantities.compute(q, [world[i] for i in q.inputs]) if q.kind != "given" else true
        sources = _claimed_inputs(g, claim.key, claimed, case)
        v = Verdict(claim, "wrong", true, carried, sources, phase=PHASES[q.order[1]])
        v.after = q.order[0]
        if claim.name != claim.key:
            v.written = claim.key
        unit = claim.unit
        if not math.isfinite(true):
            why = (
                "it, or a number it is computed from, overflows float64 (beyond 1.8e308), "
                "or it is the log of 0 (a bce output that is exactly 0 or 1)"
                if math.isinf(true)
                else "the log of a negative number (a bce output outside 0..1), or "
                "inf - inf or 0 * inf after an overflow"
            )
            v.explanation = f"the true value is {fmt(true)}: {why}; no finite number is right"
        elif agrees(claim.value, unit, true):
            v.status = "ok"
        elif agrees(claim.value, unit, carried):
            v.status = "follows"
            shown = q.formula([world[i] for i in q.inputs])
            v.explanation = f"from your {', '.join(sources) or 'numbers'}: {shown}"
        else:
            found = [
                c
                for c in candidates(g, claim.key, world, claimed, memo)
                if agrees(claim.value, unit, c.value)
            ] or [  # the slip made with the right inputs (used later, not as written)
                c
                for c in candidates(g, claim.key, truth, claimed, true_memo)
                if agrees(claim.value, unit, c.value)
            ]
            if found:
                v.diagnoses = _simplest(found)
                v.explanation = "; or ".join(c.sentence for c in v.diagnoses)
            elif _within(claim.value, true, rtol) or _within(claim.value, carried, rtol):
                v.status = "rounding"
                ref = (
                    "the true value" if _within(claim.value, true, rtol) else "your numbers' value"
                )
                early = _rounded_input(g, q, world, case, claim, unit)
                v.explanation = f"within {rtol:.0%} of {ref}: " + (early or "rounded too early?")
            else:
                inputs = _keys(g, claim.key, claimed)
                if all(status_of.get(s, "ok") in ("ok", "rounding") for s in inputs):
                    shown = f"{claim.key} = {q.formula([world[i] for i in q.inputs])}"
                    shown += f" = {fmt(carried, '.6g')}"
                    sentence = SLIPS["arithmetic"]
                    hidden = _unwritten(g, claim.key, claimed)
                    if hidden:  # the inputs were not all written down: they may hold the slip
                        sentence = (
                            "right formula, and the numbers written down are right; multiplied "
                            f"out wrong, or a slip in {', '.join(hidden)} (not written down)"
                        )
                    v.diagnoses = [Candidate(("arithmetic",), carried, sentence, lambda s=shown: s)]
                    v.explanation = sentence
                else:
                    v.explanation = "neither the truth nor your earlier numbers give this"
        status_of[claim.key] = v.status
        verdicts.append(v)
    return CheckResult(case, verdicts, _comparison(case, truth), rtol, strict)


def _rounded_input(
    g: Quantities, q, world: dict[str, float], case: Case, claim: Claim, unit: float
) -> str:
    """``"h_out = 0.58 used for 0.587"`` when one input, rounded or cut to fewer digits,
    gives the claim; else ""."""
    for t, u in enumerate(q.inputs):
        x = world[u]
        if not math.isfinite(x) or x == 0:
            continue
        for digits in range(0, 6):
            scale = 10.0**digits
            for short in {round(x * scale) / scale, math.trunc(x * scale) / scale}:
                if short == x or not agrees(short, 10.0**-digits, x):
                    continue
                vals = [world[i] for i in q.inputs]
                vals[t] = short
                if agrees(claim.value, unit, Quantities.compute(q, vals)):
                    return f"{case.written_name(u)} = {fmt(short, 'g')} used for {fmt(x, '.6g')}"
    return ""


def _within(x: float, ref: float, rtol: float) -> bool:
    return math.isfinite(ref) and abs(x - ref) <= rtol * abs(ref)


def _simplest(found: list[Candidate]) -> list[Candidate]:
    """The explanations with the fewest slips (a single slip beats a combination)."""
    fewest = min(len(c.ids) for c in found)
    seen, out = set(), []
    for c in found:
        if len(c.ids) == fewest and c.ids not in seen:
            seen.add(c.ids)
            out.append(c)
    return out


def _unwritten(g: Quantities, key: str, claimed: set[str]) -> list[str]:
    """The inputs of `key` that are neither claimed nor given: not written down."""
    return [
        u
        for u in dict.fromkeys(g.nodes[key].inputs)
        if u not in claimed and g.nodes[u].kind != "given"
    ]


def _keys(g: Quantities, key: str, claimed: set[str]) -> list[str]:
    """The nearest claimed quantities that `key` is computed from (through unwritten ones)."""
    out: list[str] = []
    stack = list(g.nodes[key].inputs)
    seen = set()
    while stack:
        u = stack.pop()
        if u in seen:
            continue
        seen.add(u)
        if u in claimed:
            out.append(u)
        elif g.nodes[u].kind != "given":
            stack.extend(g.nodes[u].inputs)
    return out


def _claimed_inputs(g: Quantities, key: str, claimed: set[str], case: Case) -> list[str]:
    keys = set(_keys(g, key, claimed))
    return [c.name for c in case.claims if c.key in keys]


def _comparison(case: Case, truth: dict[str, float]) -> Comparison:
    """The numbers of pass 0 in the layout of `compare`: rules, Value engine, finite diffs."""
    g = case.quantities
    net = case.network
    examples = case.examples()
    try:
        by_engine = net.value_gradients(examples)
    except (ValueError, ArithmeticError):  # e.g. ln 0 of a saturated output: no gradient
        by_engine = dict.fromkeys(net.parameter_names, math.nan)
    with np.errstate(all="ignore"):
        by_fd = net.numeric_gradients(examples)
    description = {
        **net.describe(),
        "eta": case.eta,
        "mode": case.mode,
        "steps": case.steps,
    }
    first = [(k, q) for k, q in g.nodes.items() if q.kind != "given" and q.order[0] == 0]
    fwd = {k: truth[k] for k, q in first if q.order[1] == 0}
    back = {k: truth[k] for k, q in first if q.kind in ("fprime", "delta")}
    data = [{"x": x.tolist(), "d": d.tolist()} for x, d in case.data]
    result = Comparison(description, data, case.eta, fwd, back)
    pre = [
        (k, truth[k], net.layers[q.info["layer"]].act)
        for k, q in first
        if q.kind == "v"
        and not (q.info.get("layer") == len(net.layers) - 1 and net.loss == "softmax_ce")
    ]
    scale = max((abs(v) for v in fwd.values() if math.isfinite(v)), default=1.0)
    result.kinks = kink_notes(pre, max([scale, *(abs(v) for x, _ in case.data for v in x)]))
    values = net.parameters()
    for p in net.parameter_names:
        grads = {"rules": truth[f"dE/d{p}"], "value_engine": by_engine[p], "numeric": by_fd[p]}
        new = truth[g.param(p, 1)]
        atol = numeric_atol(fwd["E"])
        row = ParameterRow(p, values[p], grads, truth[f"Delta_{p}"], new, atol)
        row.numeric_compared = not result.kinks and math.isfinite(fwd["E"])  # E = inf: no FD
        result.rows.append(row)
    return result
