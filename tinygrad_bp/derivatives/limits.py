"""The limits on what `verify` reads and computes, so that every input answers within seconds.

Each limit has a default, a keyword of `Limits` (Python) and a flag of
``tinygrad-bp verify`` (the keyword with ``--`` and dashes). A limit that is
reached is a clear error naming the limit and how to raise it; nothing is
silently cut short.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..files import MiB

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """How much `verify` (and the expression parser) will take on.

    * ``max_bytes``: the size of a derivation file.
    * ``max_chars``: the length of one expression.
    * ``max_digits``: the digits of one number literal (``9`` * 400 is refused).
    * ``max_depth``: how deeply parentheses, functions and powers nest.
    * ``max_combinations``: the combinations of constant values tried per line; each
      constant (a, b, ...) takes 3 values, so k constants have 3**k combinations, of
      which a fixed pseudo-random sample of this size is tried when there are more.
    * ``max_work``: expression nodes evaluated for a whole file, estimated before
      any is: the sum over lines of (nodes of both sides) x (sample points) x
      (combinations). 150,000 to 250,000 a second on a busy 2-core machine; the
      longest example file takes 40,000.
    * ``cli``: messages name the command-line flag rather than the keyword.
    """

    max_bytes: int = 1 * MiB
    max_chars: int = 2000
    max_digits: int = 30
    max_depth: int = 100
    max_combinations: int = 27
    max_work: int = 500_000
    cli: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "cli" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"{self.how_to_raise(f.name)}: expected a positive whole number, got "
                    f"{value!r}; give a whole number >= 1"
                )

    def how_to_raise(self, name: str) -> str:
        """``--max-depth`` from the command line, ``Limits(max_depth=...)`` from Python."""
        return f"--{name.replace('_', '-')}" if self.cli else f"Limits({name}=...)"

    def exceeded(self, name: str, what: str) -> str:
        """The end of a message: the limit, its value and how to raise it."""
        limit = getattr(self, name)
        return f"{what} (the limit is {limit:,}; raise it with {self.how_to_raise(name)})"


DEFAULT = Limits()
