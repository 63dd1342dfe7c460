"""Notebook display of the package's results: `%load_ext tinygrad_bp.views.display`.

Drawings and chain-rule explanations show themselves (SVG, Markdown). This
extension teaches IPython to show gradient checks and slide comparisons as
HTML tables too, by registering formatters by class name, so loading it
imports nothing else from the package.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["as_html", "load_ipython_extension"]

TYPES = (
    ("tinygrad_bp.engine.gradcheck", "GradcheckReport"),
    ("tinygrad_bp.slides.compare", "Comparison"),
)


def as_html(obj: Any) -> str:
    """An HTML block of a result's text (its `table()` when it has one), escaped."""
    text = obj.table() if callable(getattr(obj, "table", None)) else str(obj)
    ok = getattr(obj, "ok", getattr(obj, "agree", None))
    verdict = ""
    if ok is not None:
        colour, word = ("#1a7f37", "all agree") if ok else ("#cf222e", "DISAGREEMENT")
        verdict = f'<p style="color:{colour};font-weight:bold">{word}</p>'
    return f"{verdict}<pre>{escape(text)}</pre>"


def load_ipython_extension(ipython: Any) -> None:
    html = ipython.display_formatter.formatters["text/html"]
    for module, name in TYPES:
        html.for_type_by_name(module, name, as_html)
