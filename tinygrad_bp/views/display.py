"""Notebook display of the package's results: `%load_ext tinygrad_bp.views.display`.

Drawings and chain-rule explanations show themselves (SVG, Markdown). Gradient
checks and slide comparisons have `_repr_html_` of their own; this extension
also registers them with IPython by class name (for front ends that ask the
formatters), importing nothing else from the package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_html", "load_ipython_extension"]

TYPES = (
    ("tinygrad_bp.engine.gradcheck", "GradcheckReport"),
    ("tinygrad_bp.slides.compare", "Comparison"),
)


def as_html(obj: Any) -> str:
    """An HTML block of a result (its own `_repr_html_`)."""
    return obj._repr_html_()


def load_ipython_extension(ipython: Any) -> None:
    html = ipython.display_formatter.formatters["text/html"]
    for module, name in TYPES:
        html.for_type_by_name(module, name, as_html)
