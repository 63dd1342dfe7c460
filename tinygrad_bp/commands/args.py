"""Argument types shared by the commands; each turns bad text into argparse's exit status 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive(kind: type) -> Callable[[str], float | int]:
    """A number of type `kind` (int or float) that must be > 0."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
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
