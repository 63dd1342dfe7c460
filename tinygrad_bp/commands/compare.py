"""`tinygrad-bp compare`: the slides' network, autodiff against the closed-form rules."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..compare import compare
from ..twolayer import ACTIVATIONS, TwoLayerNet
from .args import layer_sizes, positive


def add_network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sizes",
        type=layer_sizes(3, "2,3,1"),
        default=(2, 3, 1),
        metavar="N,H,O",
        help="inputs, hidden neurons, output neurons (default 2,3,1)",
    )
    p.add_argument(
        "--hidden",
        choices=ACTIVATIONS,
        default="sigmoid",
        help="hidden activation (default sigmoid)",
    )
    p.add_argument(
        "--output",
        choices=ACTIVATIONS,
        default="linear",
        help="output activation (default linear, the slides' purelin)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random weights, input and target (default 0)",
    )


def slides_example(args: argparse.Namespace) -> tuple[TwoLayerNet, np.ndarray, np.ndarray]:
    n, h, o = args.sizes
    net = TwoLayerNet.random(n, h, o, args.hidden, args.output, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    return net, rng.uniform(-1, 1, n), rng.uniform(-1, 1, o)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="autodiff vs the slides' closed-form rules vs finite differences",
        description="Build the slides' 2-layer network (seeded random weights and example) and "
        "print dE/dp for every parameter from the Value engine, the Tensor engine, the "
        "closed-form update rules (1)-(4) and central finite differences, with the online "
        "update Delta p = -eta dE/dp. Exit status 0 only when all agree.",
    )
    add_network_options(p)
    p.add_argument("--eta", type=positive(float), default=0.5, help="learning rate (default 0.5)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    net, x, d = slides_example(args)
    result = compare(net, x, d, args.eta)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.table())
    return 0 if result.agree else 1
