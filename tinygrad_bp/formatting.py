"""How numbers leave the package: printed without ``-0``, and JSON without NaN or infinity.

`fmt` formats a number for people (``-0`` is printed as ``0``); `json_safe`
turns a nested structure of dicts, lists, numpy values and floats into one that
`json.dumps(..., allow_nan=False)` accepts: a NaN or infinite float becomes
``null``. `dumps` does both and is what every ``--json`` output uses.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["dumps", "finite_list", "fmt", "html_report", "json_safe"]


def fmt(x: float, spec: str = ".6g") -> str:
    """`format(x, spec)`, with negative zero (also one that rounds to zero) shown as 0."""
    text = format(float(x), spec)
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def finite_list(a: np.ndarray) -> list:
    """``a.tolist()`` with NaN and the infinities as None (JSON null)."""
    finite = np.isfinite(a)
    return a.tolist() if finite.all() else np.where(finite, a, None).tolist()


def json_safe(obj: Any) -> Any:
    """A copy of `obj` that JSON can carry: numpy to Python, NaN and infinity to None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":  # the same, in bulk
        return finite_list(obj.astype(float) + 0.0)  # -0.0 + 0.0 is 0.0
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if not math.isfinite(x):
            return None
        return 0.0 if x == 0.0 else x
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """JSON text of `obj` with NaN and infinity as null (never ``NaN``/``Infinity``)."""
    kw.setdefault("indent", 2)
    return json.dumps(json_safe(obj), allow_nan=False, **kw)


def html_report(text: str, ok: bool | None = None) -> str:
    """A result's text table as an HTML block for notebooks, escaped, under its verdict."""
    from html import escape

    verdict = ""
    if ok is not None:
        colour, word = ("#1a7f37", "all agree") if ok else ("#cf222e", "DISAGREEMENT")
        verdict = f'<p style="color:{colour};font-weight:bold">{word}</p>'
    return f"{verdict}<pre>{escape(text)}</pre>"
