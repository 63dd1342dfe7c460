"""`tinygrad-bp compare`: the slides' network, autodiff against the closed-form rules."""

from __future__ import annotations

import argparse

from ..formatting import dumps
from ..slides.compare import DEFAULT_MAX_PARAMS, compare
from .args import add_network_options, positive, slides_example


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="autodiff vs the slides' closed-form rules vs finite differences",
        description="Build the slides' 2-layer network (a fixed example, or seeded random "
        "weights with --seed) and print dE/dp for every parameter from the Value engine, the "
        "Tensor engine, the closed-form update rules (1)-(4) and central finite differences, "
        "with the online update Delta p = -eta dE/dp. Exit status 0 only when all agree.",
    )
    add_network_options(p)
    p.add_argument("--eta", type=positive(float), default=0.5, help="learning rate (default 0.5)")
    p.add_argument(
        "--max-params",
        type=positive(int),
        default=DEFAULT_MAX_PARAMS,
        help=f"refuse networks with more parameters than this (default {DEFAULT_MAX_PARAMS})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    net, x, d = slides_example(args)
    result = compare(net, x, d, args.eta, max_params=args.max_params)
    print(dumps(result.to_dict()) if args.json else result.table())
    return 0 if result.agree else 1
