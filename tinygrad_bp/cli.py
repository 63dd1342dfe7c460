"""The `tinygrad-bp` command line: one sub-command per job, each with `--help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__

# Each command module has add_parser(subparsers) that registers itself with
# set_defaults(run=handler); the handler returns the exit status.
COMMANDS: list[str] = ["compare", "check", "draw", "train", "verify"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-bp",
        description="A small autograd framework for learning and checking backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"tinygrad-bp {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    import importlib

    for name in COMMANDS:
        importlib.import_module(f"tinygrad_bp.commands.{name}").add_parser(sub)
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
