"""`tinygrad-bp check CASE.toml`: check a hand-worked example, claim by claim."""

from __future__ import annotations

import argparse

from ..formatting import dumps
from ..slides.case import DEFAULT_MAX_BYTES, DEFAULT_MAX_QUANTITIES, DEFAULT_RTOL, judge, load_case
from .args import positive


def fraction(text: str) -> float:
    """A relative tolerance: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number from 0 to 1, got {text!r}; give e.g. 0.02 (2%)"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected a number from 0 to 1, got {text!r}; give e.g. 0.02 (2%)"
        )
    return value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="check a case file's hand-computed numbers: ok, follows, rounding or wrong (why)",
        description="Read a TOML case file (network of any depth, examples, learning setup, "
        "the author's names, claims) and judge every claimed number: ok (right to the "
        "precision written), follows (wrong, but what the person's own earlier numbers give), "
        "rounding (within --rtol), or wrong, with the classic slip that explains it. The "
        "format is described in docs/case-files.md. Exit status: 0 all good, 1 a claim is "
        "wrong (or rounding, with --strict), 2 the case file is unusable.",
    )
    p.add_argument("case", help="the .toml case file")
    p.add_argument(
        "--rtol",
        type=fraction,
        default=DEFAULT_RTOL,
        help="relative tolerance of 'rounding' (default 0.02 = 2%%)",
    )
    p.add_argument("--strict", action="store_true", help="exit status 1 for rounding too")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--numbers",
        action="store_true",
        help="also print the gradient of every parameter by each source",
    )
    p.add_argument(
        "--max-bytes",
        type=positive(int),
        default=DEFAULT_MAX_BYTES,
        help=f"refuse case files larger than this (default {DEFAULT_MAX_BYTES})",
    )
    p.add_argument(
        "--max-quantities",
        type=positive(int),
        default=DEFAULT_MAX_QUANTITIES,
        help=f"refuse cases with more quantities to compute (default {DEFAULT_MAX_QUANTITIES})",
    )
    p.add_argument("--draw", metavar="FILE", help="also render the first pass's graph to FILE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    case = load_case(args.case, args.max_bytes, args.max_quantities, "--max-bytes")
    result = judge(case, args.rtol, args.strict)
    print(dumps(result.to_dict()) if args.json else result.report(args.numbers))
    if args.draw:
        from ..views.draw import draw

        E = case.value_loss()
        E.backward()
        print(f"wrote {draw(E).save(args.draw, quiet=True)}")
    return result.exit_status
