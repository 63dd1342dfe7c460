"""The `tinygrad-bp` command line: one sub-command per job, each with `--help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .commands import check, compare, draw, train, verify

# Each command module has add_parser(subparsers) that registers itself with
# set_defaults(run=handler); the handler returns the exit status.
MODULES = (compare, check, draw, train, verify)
COMMANDS: list[str] = [m.__name__.rsplit(".", 1)[1] for m in MODULES]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-bp",
        description="A small autograd framework for learning and checking backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"tinygrad-bp {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in MODULES:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
