"""`tinygrad-bp check CASE.toml`: check a hand-worked example, claim by claim."""

from __future__ import annotations

import argparse
import json
import sys

from ..slides.case import DEFAULT_RTOL, CaseError, check_case, load_case


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="check a case file's hand-computed numbers against the truth",
        description="Read a TOML case file (network, one example, optional claims), print the "
        "forward pass, E, every parameter's gradient by autodiff, by the closed-form rules and "
        "by finite differences, the update, and a verdict on every claim. Exit status: 0 all "
        "good, 1 a claim is wrong, 2 the case file is unusable.",
    )
    p.add_argument("case", help="the .toml case file")
    p.add_argument(
        "--rtol",
        type=float,
        default=DEFAULT_RTOL,
        help="relative tolerance of a claim (default 0.02 = 2%%)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--draw", metavar="FILE", help="also render the case's graph to FILE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.rtol >= 0:
        print("tinygrad-bp check: --rtol must be a non-negative number", file=sys.stderr)
        return 2
    try:
        case = load_case(args.case)
    except CaseError as exc:
        print(f"tinygrad-bp check: {exc}", file=sys.stderr)
        return 2
    result = check_case(case, args.rtol)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.report())
    if args.draw:
        from .draw import render_case

        status = render_case(case, args.draw)
        if status:
            return status
    return result.exit_status
