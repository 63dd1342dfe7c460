"""numpy's floating-point error state, set without `np.errstate`'s cost.

numpy keeps what it does on overflow, division by zero and invalid results
(warn, raise, ignore) in a context variable, so each thread and asyncio task has
its own. `np.errstate` takes about 5 us to enter, more than a small array
operation; where numpy exposes the variable, these helpers set it directly
(about 0.1 us).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["overflow_raising", "quiet", "quietly", "restore"]

try:
    from numpy._core._ufunc_config import _extobj_contextvar as _state
    from numpy._core.umath import _make_extobj

    _QUIET = _make_extobj(all="ignore")
    _RAISE_OVERFLOW = _make_extobj(all="ignore", over="raise")

    def quietly(fn: Callable, *args: Any) -> Any:
        """fn(*args) with numpy's floating-point warnings off (the caller checks results)."""
        token = _state.set(_QUIET)
        try:
            return fn(*args)
        finally:
            _state.reset(token)

    class quiet:
        """``with quiet():`` numpy's floating-point warnings off, as in `quietly`."""

        __slots__ = ("token",)

        def __enter__(self) -> None:
            self.token = _state.set(_QUIET)

        def __exit__(self, *exc: Any) -> None:
            _state.reset(self.token)

    def overflow_raising() -> Any:
        """From now on an overflow raises `FloatingPointError` and the other floating-point
        errors pass quietly; returns the token that `restore` takes to undo it."""
        return _state.set(_RAISE_OVERFLOW)

    restore = _state.reset

except ImportError:  # pragma: no cover - other numpy versions

    def quietly(fn: Callable, *args: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args)

    def quiet() -> Any:
        return np.errstate(all="ignore")

    def overflow_raising() -> Any:
        state = np.errstate(all="ignore", over="raise")
        state.__enter__()
        return state

    def restore(token: Any) -> None:
        token.__exit__(None, None, None)
