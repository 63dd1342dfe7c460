"""Case files: a person's hand-worked backprop, and the judgement of every number in it.

The pieces, each reusable by other commands (a worked-solution writer, an
exercise generator, a class grader read the same files):

* `casefile`: `load_case(path) -> Case`, `Case.from_dict(d)`, the strict
  schema of format v2 (any depth, shared or frozen biases, several examples,
  online or batch, several steps, other losses, the author's names) and v1;
* `quantities`: every quantity as a formula of named inputs (the closed-form
  rules), `true_values(case)`;
* `slips`: the catalogue of classic slips (`SLIPS`) and what each would give;
* `judge`: `judge(case, rtol=0.02, strict=False) -> CheckResult` with one
  `Verdict` per claim: `status` (ok, follows, rounding, wrong), `true`,
  `follows_from`, `slips`, `explanation`.

This module gathers them under one name::

    from tinygrad_bp.slides.case import load_case, judge
    result = judge(load_case("examples/cases/worked_example_1.toml"))
    print(result.report())
"""

from __future__ import annotations

from .casefile import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_QUANTITIES,
    Case,
    CaseError,
    Claim,
    last_digit_unit,
    load_case,
)
from .judge import DEFAULT_RTOL, STATUSES, CheckResult, Verdict, judge, true_values
from .slips import SLIPS, Candidate

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_QUANTITIES",
    "DEFAULT_RTOL",
    "SLIPS",
    "STATUSES",
    "Candidate",
    "Case",
    "CaseError",
    "CheckResult",
    "Claim",
    "Verdict",
    "judge",
    "last_digit_unit",
    "load_case",
    "true_values",
]
