"""Argument types shared by the commands; each turns bad text into argparse's exit status 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from ..slides.twolayer import ACTIVATIONS, TwoLayerNet


def positive(kind: type) -> Callable[[str], float | int]:
    """A number of type `kind` (int or float) that must be > 0."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
        return value

    return parse


def layer_sizes(count: int | None, example: str) -> Callable[[str], list[int]]:
    """Comma-separated positive whole numbers: exactly `count` of them, or two or more."""
    wanted = f"{count}" if count else "two or more"

    def parse(text: str) -> list[int]:
        try:
            sizes = [int(s) for s in text.split(",")]
        except ValueError:
            sizes = []
        if not sizes or min(sizes) < 1 or len(sizes) != (count or max(len(sizes), 2)):
            raise argparse.ArgumentTypeError(
                f"expected {wanted} positive whole numbers separated by commas, like {example}; "
                f"got {text!r}"
            )
        return sizes

    return parse


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
