"""`tinygrad-bp verify FILE`: check derivative rules and derivations line by line."""

from __future__ import annotations

import argparse

from ..derivatives.limits import Limits
from ..derivatives.verify import verify_file
from ..formatting import dumps
from .args import positive

LIMIT_HELP = {
    "max_bytes": "size of the file in bytes",
    "max_chars": "characters of one expression",
    "max_digits": "digits of one number",
    "max_depth": "nesting depth of parentheses, functions and powers",
    "max_combinations": "combinations of constant values tried per line (sampled beyond)",
    "max_work": "expression-node evaluations for the whole file (200,000 take about a second)",
}


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
    defaults = Limits()
    for name, what in LIMIT_HELP.items():
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=positive(int),
            default=getattr(defaults, name),
            metavar="N",
            help=f"limit on the {what} (default {getattr(defaults, name):,})",
        )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    limits = Limits(**{name: getattr(args, name) for name in LIMIT_HELP}, cli=True)
    verdicts = verify_file(args.file, limits)
    if args.json:
        print(dumps([v.to_dict() for v in verdicts]))
    else:
        for v in verdicts:
            print(v.describe())
        bad = [v for v in verdicts if not v.ok]
        print(
            f"\n{len(verdicts) - len(bad)} of {len(verdicts)} hold"
            + (f"; look at line {', '.join(str(v.line) for v in bad)}" if bad else "")
        )
    return 0 if all(v.ok for v in verdicts) else 1
