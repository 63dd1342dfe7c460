"""`tinygrad-bp verify FILE`: check derivative rules and derivations line by line."""

from __future__ import annotations

import argparse
import json
import sys

from ..derivatives.verify import VerifyError, verify_file


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check derivative rules and step-by-step derivations numerically",
        description="Check a file of rules ('d/dx f = g') and derivations (an expression "
        "followed by '= ...' lines, each claiming to equal the line before) at many points x "
        "and several values of each constant, with reverse-mode autodiff as the judge. Exit "
        "status: 0 all hold, 1 something is wrong or cannot be checked, 2 unusable file.",
    )
    p.add_argument("file", help="the text file to check")
    p.add_argument("--json", action="store_true", help="print the verdicts as a JSON list")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        verdicts = verify_file(args.file)
    except VerifyError as exc:
        print(f"tinygrad-bp verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts], indent=2))
    else:
        for v in verdicts:
            print(v.describe())
        bad = [v for v in verdicts if not v.ok]
        print(
            f"\n{len(verdicts) - len(bad)} of {len(verdicts)} hold"
            + (f"; look at line {', '.join(str(v.line) for v in bad)}" if bad else "")
        )
    return 0 if all(v.ok for v in verdicts) else 1
