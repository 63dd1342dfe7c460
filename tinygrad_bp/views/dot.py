"""DOT source written by hand, every piece of user text quoted or escaped.

Names come from users and may hold anything: quotes, backslashes, `<script>`,
braces, control characters, emoji, ten thousand characters. Graphviz reads
`\\n`, `\\N`, `\\G` inside quoted strings and treats a string in angle brackets
as markup, and XML (the SVG Graphviz writes) forbids most control
characters. So text reaches DOT only through `html()`: a Graphviz HTML-like
label whose text is XML-escaped, with control characters shown as `\\xNN` and
long names shortened (the full name stays in the JSON export).
"""

from __future__ import annotations

import re

__all__ = ["MAX_NAME", "Dot", "Html", "clean", "html", "quote"]

MAX_NAME = 40  # characters of a name shown in a picture

# characters XML 1.0 forbids, plus other C0/C1 controls and lone surrogates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean(text: str, limit: int = MAX_NAME) -> str:
    """`text` with control characters made visible (`\\x07`) and cut to `limit` characters."""
    text = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


class Html(str):
    """An HTML-like label made by `html()`: written to DOT as it is, without quotes."""


def html(*lines: str, bold_first: bool = False, limit: int = MAX_NAME) -> Html:
    """A DOT HTML-like label (`<...>`) showing `lines`, each cleaned and XML-escaped."""
    parts = [_xml(clean(line, limit)) for line in lines]
    if bold_first and parts:
        parts[0] = f"<B>{parts[0]}</B>"
    return Html("<" + "<BR/>".join(parts) + ">")


def quote(text: str) -> str:
    """A DOT quoted string for attribute values we choose (colours, numbers, ids)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _value(v: str) -> str:
    return v if isinstance(v, Html) else quote(v)


def _attrs(attrs: dict[str, str]) -> str:
    if not attrs:
        return ""
    return " [" + ", ".join(f"{k}={_value(v)}" for k, v in attrs.items()) + "]"


class Dot:
    """A directed graph written as DOT text: `node`, `edge`, `cluster`, then `source`."""

    def __init__(self, graph: dict[str, str], node: dict[str, str], edge: dict[str, str]) -> None:
        self.lines = ["digraph {"]
        self.lines += [f"  {k}={_value(v)};" for k, v in graph.items()]
        self.lines.append(f"  node{_attrs(node)};")
        self.lines.append(f"  edge{_attrs(edge)};")
        self._indent = "  "

    def attr(self, **graph: str) -> None:
        for k, v in graph.items():
            self.lines.append(f"{self._indent}{k}={_value(v)};")

    def node(self, node_id: str, **attrs: str) -> None:
        self.lines.append(f"{self._indent}{quote(node_id)}{_attrs(attrs)};")

    def edge(self, tail: str, head: str, **attrs: str) -> None:
        self.lines.append(f"{self._indent}{quote(tail)} -> {quote(head)}{_attrs(attrs)};")

    def open(self, name: str, **attrs: str) -> None:
        """Start a subgraph (`cluster_...` draws a box); close it with `close()`."""
        self.lines.append(f"{self._indent}subgraph {quote(name)} {{")
        self._indent += "  "
        self.attr(**attrs)

    def close(self) -> None:
        self._indent = self._indent[:-2]
        self.lines.append(f"{self._indent}}}")

    @property
    def source(self) -> str:
        return "\n".join([*self.lines, "}"]) + "\n"
