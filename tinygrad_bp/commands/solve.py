"""`tinygrad-bp solve CASE`: the worked solution of a case file, line by line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..files import atomic_write
from ..formatting import dumps
from ..slides.case import DEFAULT_MAX_BYTES
from .args import bounded, positive


def output_format(args: argparse.Namespace) -> str:
    """--format, or the output file's suffix (.md, .tex, .html), or Markdown."""
    if args.format:
        return args.format
    suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
    return (
        {"htm": "html", "markdown": "md"}.get(suffix, suffix)
        if suffix in ("md", "markdown", "tex", "html", "htm")
        else "md"
    )


def add_format_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="FILE", help="write the solution to FILE")
    p.add_argument(
        "--format",
        choices=("md", "tex", "html"),
        help="Markdown with $...$ math, a LaTeX document, or one self-contained HTML page "
        "(default: from the suffix of -o, else md)",
    )
    p.add_argument(
        "--digits",
        type=bounded(int, 1, 17),
        default=4,
        help="significant digits shown (numbers are carried at full precision; default 4)",
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "solve",
        help="write the worked solution of a case file",
        description="Derive a case file's network line by line as the slides do: the forward "
        "pass neuron by neuron, the error, every local gradient with its formula and numbers, "
        "every gradient and update, for every step, in the case's own notation ([names]). "
        "Numbers are carried at full precision; a note marks each line where the rounded "
        "numbers shown would give another last digit. Exit status 0, or 2 for an unusable file.",
    )
    p.add_argument("case", help="the .toml case file")
    add_format_options(p)
    p.add_argument(
        "--json", action="store_true", help="print every quantity and rounding note as JSON"
    )
    p.add_argument(
        "--max-lines",
        type=positive(int),
        default=20_000,
        help="refuse a solution longer than this many lines (default 20000)",
    )
    p.add_argument(
        "--max-bytes",
        type=positive(int),
        default=DEFAULT_MAX_BYTES,
        help=f"refuse case files larger than this (default {DEFAULT_MAX_BYTES})",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..teach.problem import read_problem
    from ..teach.render import render_doc, solution_doc
    from ..teach.solve import solve

    problem, _ = read_problem(args.case, args.max_bytes, "--max-bytes")
    solution = solve(problem, args.digits, args.max_lines)
    if args.json:
        print(
            dumps(
                {
                    "values": solution.values(),
                    "notes": {line.key: line.note for line in solution.notes()},
                }
            )
        )
        return 0
    title = f"Worked solution: {Path(args.case).stem}"
    text = render_doc(solution_doc(solution, title), output_format(args))
    if args.output:
        atomic_write(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
