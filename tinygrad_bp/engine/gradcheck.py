"""`gradcheck`: reverse-mode gradients against central finite differences.

For each input element u: numeric = (L(u + eps) - L(u - eps)) / (2 eps), whose
error is O(eps^2) plus rounding. An entry passes when
|autodiff - numeric| <= atol + rtol * |numeric|.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .autograd import no_grad
from .tensor import Tensor
from .value import Value

__all__ = ["GradcheckError", "GradcheckReport", "InputCheck", "gradcheck"]


class GradcheckError(AssertionError):
    """Autodiff and finite differences disagree."""


@dataclass
class InputCheck:
    """The comparison for one input."""

    name: str
    shape: tuple[int, ...]
    analytic: np.ndarray
    numeric: np.ndarray
    max_abs_err: float
    max_rel_err: float
    ok: bool
    worst_index: tuple[int, ...]


@dataclass
class GradcheckReport:
    """Per input: max absolute and relative error and a verdict. `bool(report)` is `ok`."""

    inputs: list[InputCheck] = field(default_factory=list)
    eps: float = 1e-6
    atol: float = 1e-6
    rtol: float = 1e-5

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.inputs)

    def __bool__(self) -> bool:
        return self.ok

    def _repr_html_(self) -> str:
        from ..formatting import html_report

        return html_report(str(self), self.ok)

    def worst(self) -> list[str]:
        """One line per failing input, naming its worst entry."""
        lines = []
        for c in self.inputs:
            if not c.ok:
                idx = c.worst_index
                where = f"[{', '.join(map(str, idx))}]" if idx else ""
                lines.append(
                    f"{c.name}{where}: autodiff {c.analytic[idx]:.10g}, "
                    f"finite differences {c.numeric[idx]:.10g} "
                    f"(abs err {c.max_abs_err:.3g}, rel err {c.max_rel_err:.3g})"
                )
        return lines

    def __str__(self) -> str:
        head = f"{'input':<12} {'shape':<12} {'max abs err':>12} {'max rel err':>12}  result"
        rows = [head, "-" * len(head)]
        for c in self.inputs:
            rows.append(
                f"{c.name:<12} {str(c.shape):<12} {c.max_abs_err:>12.3e} "
                f"{c.max_rel_err:>12.3e}  {'ok' if c.ok else 'FAIL'}"
            )
        rows.append(
            f"eps={self.eps:g} atol={self.atol:g} rtol={self.rtol:g}: "
            + ("all gradients agree" if self.ok else "MISMATCH")
        )
        return "\n".join(rows)


def _scalar_loss(out: Any, weights: np.ndarray | None) -> Any:
    if isinstance(out, Value):
        return out
    if isinstance(out, Tensor):
        return out if weights is None else (out * Tensor(weights)).sum()
    raise TypeError(
        f"gradcheck: f must return a Value or a Tensor, got {type(out).__name__} {out!r:.40}; "
        "compute the result with Value or Tensor operations"
    )


def _eval(f: Callable, inputs: tuple, weights: np.ndarray | None) -> float:
    with no_grad():
        out = _scalar_loss(f(*inputs), weights)
    return float(np.asarray(out.data).reshape(-1)[0])


def gradcheck(
    f: Callable[..., Any],
    *inputs: Value | Tensor,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    raise_on_failure: bool = False,
    seed: int = 0,
) -> GradcheckReport:
    """Compare d f / d input by autodiff with central finite differences.

    `f(*inputs)` returns a Value or a Tensor. A non-scalar Tensor result is
    reduced to sum(out * R) with a fixed random R, so every output entry counts.
    Returns a `GradcheckReport`; with `raise_on_failure=True` a mismatch raises
    `GradcheckError` naming the worst entries.
    """
    if not inputs:
        raise ValueError(
            "gradcheck needs at least one input, got none; call gradcheck(f, x, ...) with "
            "the Values or Tensors to differentiate"
        )
    for i, x in enumerate(inputs):
        if not isinstance(x, (Value, Tensor)):
            raise TypeError(
                f"gradcheck input {i} must be a Value or a Tensor, not {type(x).__name__} "
                f"{x!r:.40}; wrap it, e.g. Tensor(x, requires_grad=True)"
            )
        if isinstance(x, Tensor) and not x.requires_grad:
            raise ValueError(
                f"gradcheck input {i} (shape {x.shape}) is a Tensor without requires_grad=True; "
                "create it with Tensor(..., requires_grad=True)"
            )
        if isinstance(x, Tensor) and x.dtype != np.float64:
            raise TypeError(
                f"gradcheck input {i} is {x.dtype}, expected float64 for finite differences; "
                "create it with dtype='float64'"
            )

    probe = f(*inputs)
    weights = None
    if isinstance(probe, Tensor) and probe.size != 1:
        weights = np.random.default_rng(seed).uniform(0.5, 1.5, probe.shape)
    for x in inputs:
        x.grad = None
    loss = _scalar_loss(probe, weights)
    loss.backward()

    report = GradcheckReport(eps=eps, atol=atol, rtol=rtol)
    for i, x in enumerate(inputs):
        name = x.name or f"input {i}"
        if isinstance(x, Value):
            analytic = np.array(0.0 if x.grad is None else x.grad)  # None: f ignores x
            original = x.data
            x.data = original + eps
            plus = _eval(f, inputs, weights)
            x.data = original - eps
            minus = _eval(f, inputs, weights)
            x.data = original
            numeric = np.array((plus - minus) / (2 * eps))
        else:
            analytic = np.zeros(x.shape) if x.grad is None else np.array(x.grad, dtype=float)
            numeric = np.zeros(x.shape)
            data = x.data
            for idx in np.ndindex(*x.shape):
                original = data[idx]
                data[idx] = original + eps
                plus = _eval(f, inputs, weights)
                data[idx] = original - eps
                minus = _eval(f, inputs, weights)
                data[idx] = original
                numeric[idx] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric)
        rel = err / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-300)
        rel = np.where(err == 0, 0.0, rel)
        excess = err - (atol + rtol * np.abs(numeric))
        worst = np.unravel_index(int(np.argmax(excess)), analytic.shape) if analytic.ndim else ()
        report.inputs.append(
            InputCheck(
                name=name,
                shape=tuple(analytic.shape),
                analytic=analytic,
                numeric=numeric,
                max_abs_err=float(err.max(initial=0.0)),
                max_rel_err=float(rel.max(initial=0.0)),
                ok=bool((excess <= 0).all()),
                worst_index=tuple(int(k) for k in worst),
            )
        )
    if raise_on_failure and not report.ok:
        raise GradcheckError("gradcheck failed:\n  " + "\n  ".join(report.worst()))
    return report
