"""Argument types shared by the commands; each turns bad text into argparse's exit status 2."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np

from ..engine.ops import activation, activation_names
from ..slides.twolayer import TwoLayerNet


def positive(kind: type) -> Callable[[str], float | int]:
    """A number of type `kind` (int or float) that must be > 0."""
    example = "10" if kind is int else "0.1"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}, got {text!r}; give e.g. {example}"
            ) from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(
                f"expected a positive finite number, got {text!r}; give e.g. {example}"
            )
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


def seed(text: str) -> int:
    """A seed of numpy's generator: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}; give e.g. 0")
    return value


def activation_spec(text: str) -> str:
    """An activation of the op table, like ``tanh`` or ``leaky_relu(0.2)``."""
    try:
        return activation(text).spec
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        type=activation_spec,
        default="sigmoid",
        metavar="ACT",
        help=f"hidden activation (default sigmoid): {activation_names()}; "
        "parameters in brackets, e.g. 'leaky_relu(0.2)'",
    )
    p.add_argument(
        "--output",
        type=activation_spec,
        default="linear",
        metavar="ACT",
        help="output activation (default linear, the slides' purelin)",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=None,
        help="random weights, input and target from this seed (default: the fixed 2-3-1 "
        "example network; other --sizes use seed 0)",
    )


# The example network of `compare` and `draw` (the slides' 2-3-1 shape, short decimals).
EXAMPLE_W1 = [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]]
EXAMPLE_B1 = [0.1, 0.3, -0.1]
EXAMPLE_W2 = [[0.7, -0.8, 0.9]]
EXAMPLE_B2 = [0.1]
EXAMPLE_X = [1.0, 0.5]
EXAMPLE_D = [0.5]


def slides_example(args: argparse.Namespace) -> tuple[TwoLayerNet, np.ndarray, np.ndarray]:
    """The network, input and target of `compare` and `draw`.

    Without ``--seed`` and with the default ``--sizes 2,3,1`` it is one fixed
    example with readable numbers (any ``--hidden``/``--output``)::

        hidden weights w11 w12 = 0.1  0.2    b1 =  0.1     input  x = (1.0, 0.5)
                       w21 w22 = -0.3 0.4    b2 =  0.3     target d = 0.5
                       w31 w32 = 0.5 -0.6    b3 = -0.1
        output weights w41 w42 w43 = 0.7 -0.8 0.9,  b4 = 0.1

    With ``--seed N`` (or other sizes, seed 0) the weights are uniform in
    [-1, 1) from numpy's generator seeded with N, and x, d from seed N + 1.
    """
    n, h, o = args.sizes
    if args.seed is None and tuple(args.sizes) == (2, 3, 1):
        net = TwoLayerNet(EXAMPLE_W1, EXAMPLE_B1, EXAMPLE_W2, EXAMPLE_B2, args.hidden, args.output)
        return net, np.array(EXAMPLE_X), np.array(EXAMPLE_D)
    seed = args.seed or 0
    net = TwoLayerNet.random(n, h, o, args.hidden, args.output, seed=seed)
    rng = np.random.default_rng(seed + 1)
    return net, rng.uniform(-1, 1, n), rng.uniform(-1, 1, o)


def bounded(
    kind: type, low: float, high: float = math.inf, *, high_included: bool = True
) -> Callable[[str], float | int]:
    """A finite number of type `kind` (int or float) from `low` to `high` (included, unless
    `high_included` is False)."""
    lo, hi = (f"{x:d}" if kind is int and x != math.inf else f"{x:g}" for x in (low, high))
    if high == math.inf:
        what = f">= {lo}"
    else:
        what = f"from {lo} to {hi}" if high_included else f">= {lo} and below {hi}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        inside = value is not None and math.isfinite(value) and low <= value <= high
        if not inside or (not high_included and value == high):
            raise argparse.ArgumentTypeError(
                f"expected a {'whole number' if kind is int else 'number'} {what}, got "
                f"{text!r}; give one in that range"
            )
        return value

    return parse
