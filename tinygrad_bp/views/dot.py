"""DOT source written by hand, every piece of user text quoted or escaped.

Names come from users and may hold anything: quotes, backslashes, `<script>`,
braces, control characters, emoji, ten thousand characters. Graphviz reads
`\\n`, `\\N`, `\\G` inside quoted strings and treats a string in angle brackets
as markup, and XML (the SVG Graphviz writes) forbids most control
characters. Graphviz also decodes character entities (`&amp;`, `&#1;`,
`&#xD800;`) in every label, so a name holding one would be drawn as another
text or write a control character or broken UTF-8 into the SVG. So text
reaches DOT only through `label()`: a quoted string with backslashes and
quotes escaped, `&` written as `&amp;`, control characters shown as `\\xNN`
and long names shortened (the full name stays in the JSON export). Graphviz
escapes `<`, `>` and `&` itself when it writes SVG.
"""

from __future__ import annotations

import re

__all__ = ["MAX_NAME", "Dot", "Raw", "clean", "label", "quote"]

MAX_NAME = 40  # characters of a name shown in a picture

# characters XML 1.0 forbids, plus other C0/C1 controls and lone surrogates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean(text: str, limit: int = MAX_NAME) -> str:
    """`text` with control characters made visible (`\\x07`) and cut to `limit` characters."""
    text = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class Raw(str):
    """DOT text made by `label()`, already quoted: written as it is."""


def label(*lines: str, limit: int = MAX_NAME) -> Raw:
    """A quoted DOT label showing `lines`: each cleaned, backslashes and quotes escaped.

    Graphviz reads backslash sequences in labels (\\N is the node's name, \\l ends a
    line) and character entities (&amp;), so every backslash of the text is doubled,
    every & written &amp; and lines are joined by \\n.
    """
    parts = [
        clean(line, limit).replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
        for line in lines
    ]
    return Raw('"' + "\\n".join(parts) + '"')


def quote(text: str) -> str:
    """A DOT quoted string for attribute values we choose (colours, numbers, ids)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _value(v: str) -> str:
    return v if isinstance(v, Raw) else quote(v)


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
