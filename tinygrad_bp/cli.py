"""The `tinygrad-bp` command line: one sub-command per job, each with `--help`.

Exit status: 0 success, 1 a check found something wrong, 2 a usage or input
error (one line on stderr, never a traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .commands import check, compare, draw, exercise, grade, predict, solve, train, verify
from .files import FileLimitError

# Each command module has add_parser(subparsers) that registers itself with
# set_defaults(run=handler); the handler returns the exit status.
MODULES = (compare, check, draw, train, predict, verify, solve, exercise, grade)
COMMANDS: list[str] = [m.__name__.rsplit(".", 1)[1] for m in MODULES]

PROG = "tinygrad-bp"


class UsageError(Exception):
    """An input error a command reports as one line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error in one line (and exit status 2); sub-commands inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A small autograd framework for learning and checking backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in MODULES:
        module.add_parser(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:2000]


def _tolerant_stdout() -> None:
    """In a locale whose encoding lacks ∂ or × (C, latin-1), print them as \\u2202, not fail."""
    stream = sys.stdout
    try:
        "∂×·".encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass


def _reader_gone(status: int) -> int:
    """The reader went away (`| head`): nothing more to say, and nowhere to say it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
    return status


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:  # started with stdout closed (>&-): every result would be lost
        print(
            f"{PROG}: error: standard output is closed; redirect it to a file or /dev/null",
            file=sys.stderr or sys.__stderr__,
        )
        return 2
    _tolerant_stdout()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # --help or --version into a closed pipe: Python 3.10's argparse
        return _reader_gone(0)  # lets it through, 3.11's swallows it and exits 0
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_gone(2)
    except (UsageError, FileLimitError, ValueError, TypeError, OSError, ArithmeticError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"{PROG}: error: input nested too deeply", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{PROG}: error: out of memory; give a smaller input", file=sys.stderr)
        return 2
