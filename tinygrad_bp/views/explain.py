"""The chain rule written out: d(root)/d(param) as a sum over paths of products.

A Value graph holds many unnamed helper nodes (w11*x1, the running sums of a
neuron, e^2, ...). The slides name only the quantities that matter (v1, y_h1,
v4, y4, e4, E), so we work on the graph's *skeleton*: the root, every named
node and every parameter or input leaf, joined by edges whose factor is the
derivative of the child with respect to the ancestor through unnamed nodes
only (the sum over those sub-paths of the products of local derivatives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from heapq import heappop, heappush

from ..engine.autograd import topological_order
from ..engine.value import Value

__all__ = ["ChainPath", "Explanation", "TooManyPathsError", "explain", "find_node", "skeleton"]

MAX_PATHS = 200


class TooManyPathsError(ValueError):
    """The chain-rule sum has too many paths to write out."""


def skeleton(
    root: Value, also: tuple[Value, ...] = ()
) -> tuple[list[Value], dict[Value, list[tuple[Value, float]]]]:
    """Kept nodes (parents before children) and, per kept node, [(kept ancestor, factor)].

    Kept: the root, named nodes, parameter and input leaves, and the nodes in `also`.
    """
    if not isinstance(root, Value):
        raise TypeError(f"the chain-rule view works on Value graphs, got {type(root).__name__}")

    def is_kept(node: Value, root: Value) -> bool:
        return (
            node is root
            or bool(node.name)
            or (node.is_leaf and node.op in ("param", "input"))
            or node in also
        )

    kept = [n for n in topological_order(root) if is_kept(n, root)]
    edges = {
        node: list(_through_helpers(node, lambda n: is_kept(n, root)).items()) for node in kept
    }
    return kept, edges


def _through_helpers(node: Value, is_kept) -> dict[Value, float]:
    """d(node)/d(a) for each nearest kept ancestor a, summed over routes through helpers only.

    A small reverse-mode pass that stops at kept nodes: helpers are expanded newest
    first, so each one's coefficient is complete before it passes it on.
    """
    factors: dict[Value, float] = {}
    pending: dict[Value, float] = {}
    heap: list = []
    frontier = [(parent, local) for parent, local in node.edges()]
    while True:
        for parent, coefficient in frontier:
            if is_kept(parent):
                factors[parent] = factors.get(parent, 0.0) + coefficient
            elif parent in pending:
                pending[parent] += coefficient
            else:
                pending[parent] = coefficient
                heappush(heap, (-parent._seq, id(parent), parent))
        if not heap:
            return factors
        helper = heappop(heap)[2]
        coefficient = pending.pop(helper)
        frontier = [(parent, coefficient * local) for parent, local in helper.edges()]


def find_node(root: Value, target: Value | str) -> Value:
    """`target` itself, or the node named `target` in root's graph."""
    if isinstance(target, Value):
        return target
    matches = [n for n in topological_order(root) if n.name == target]
    if not matches:
        names = sorted({n.name for n in topological_order(root) if n.name})
        raise KeyError(f"no node named {target!r} in this graph; named nodes: {', '.join(names)}")
    if len(matches) > 1:
        raise KeyError(f"{len(matches)} nodes are named {target!r}; pass the Value itself")
    return matches[0]


def label(node: Value) -> str:
    if node.name:
        return node.name
    return "root" if node.parents else f"const {node.data:g}"


@dataclass
class ChainPath:
    nodes: list[Value]  # root first, param last
    factors: list[float]  # factors[i] = d nodes[i] / d nodes[i+1]

    @property
    def product(self) -> float:
        p = 1.0
        for f in self.factors:
            p *= f
        return p


@dataclass
class Explanation:
    root: Value
    param: Value
    paths: list[ChainPath] = field(default_factory=list)
    fmt: str = "text"

    @property
    def total(self) -> float:
        return sum(p.product for p in self.paths)

    def __str__(self) -> str:
        return self.render(self.fmt)

    def render(self, fmt: str = "text") -> str:
        if fmt == "text":
            return self.text()
        if fmt == "markdown":
            return self.markdown()
        if fmt == "latex":
            return self.latex()
        raise ValueError(f"unknown format {fmt!r}; expected text, markdown or latex")

    def _what(self) -> str:
        return f"d{label(self.root)}/d{label(self.param)}"

    def _grad_note(self) -> str:
        g = self.param.grad
        if abs(g - self.total) <= 1e-12 * max(1.0, abs(g)):
            return f"(reverse mode: {label(self.param)}.grad = {g:.6g})"
        return (
            f"({label(self.param)}.grad is {g:.6g}: call {label(self.root)}.backward() "
            "on zeroed gradients to compare)"
        )

    def text(self) -> str:
        n = len(self.paths)
        lines = [f"{self._what()} by the chain rule, summed over {n} path{'s' * (n != 1)}:"]
        for i, path in enumerate(self.paths, 1):
            names = [label(x) for x in path.nodes]
            symbols = " * ".join(f"d{a}/d{b}" for a, b in zip(names, names[1:]))
            numbers = " * ".join(f"({f:.6g})" for f in path.factors)
            lines.append(f"  path {i}: {' -> '.join(names)}")
            lines.append(f"    {symbols}")
            lines.append(f"    = {numbers}")
            lines.append(f"    = {path.product:.6g}")
        if n > 1:
            lines.append("  sum: " + " + ".join(f"({p.product:.6g})" for p in self.paths))
        lines.append(f"{self._what()} = {self.total:.6g}  {self._grad_note()}")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [
            f"**{self._what()}** by the chain rule, summed over {len(self.paths)} path(s):",
            "",
        ]
        for i, path in enumerate(self.paths, 1):
            lines.append(f"{i}. ${_latex_product(path)}$")
        lines += ["", f"$${_latex_frac(self.root, self.param)} = {self.total:.6g}$$", ""]
        lines.append(self._grad_note())
        return "\n".join(lines)

    def latex(self) -> str:
        terms = [_latex_product(p) for p in self.paths]
        body = " \\\\\n  &+ ".join(terms) if terms else "0"
        return (
            "\\begin{align*}\n"
            f"  {_latex_frac(self.root, self.param)} &= {body} \\\\\n"
            f"  &= {self.total:.6g}\n"
            "\\end{align*}"
        )


def latex_name(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z]+?)_?([A-Za-z]*)(\d+(?:_\d+)?)?", name)
    if not m:
        return f"\\mathrm{{{name}}}"
    base, letters, digits = m.group(1), m.group(2), (m.group(3) or "").replace("_", ",")
    sub = letters + digits
    return f"{base}_{{{sub}}}" if sub else base


def _latex_frac(a: Value, b: Value) -> str:
    return f"\\frac{{\\partial {latex_name(label(a))}}}{{\\partial {latex_name(label(b))}}}"


def _latex_product(path: ChainPath) -> str:
    symbols = " ".join(_latex_frac(a, b) for a, b in zip(path.nodes, path.nodes[1:]))
    numbers = " \\cdot ".join(f"({f:.6g})" for f in path.factors)
    return f"{symbols} = {numbers} = {path.product:.6g}"


def explain(
    root: Value, param: Value | str, fmt: str = "text", max_paths: int = MAX_PATHS
) -> Explanation:
    """d(root)/d(param) as the slides write it: every path a product of named local derivatives.

    `str()` of the result is plain text (`fmt="markdown"` or `"latex"` on request);
    `.total` is the sum over paths, which equals `param.grad` after `root.backward()`.
    """
    param = find_node(root, param)
    kept, edges = skeleton(root, also=(param,))
    if param not in edges:
        raise KeyError(f"{label(param)} is not in the graph of {label(root)}")
    # count paths first (parents before children), so that huge sums are refused up front
    count: dict[Value, int] = {}
    for node in kept:
        count[node] = 1 if node is param else sum(count.get(a, 0) for a, _ in edges[node])
    if count[root] > max_paths:
        raise TooManyPathsError(
            f"{count[root]} paths lead from {label(root)} to {label(param)}, more than "
            f"max_paths={max_paths}; explain a smaller sub-graph or raise max_paths"
        )
    result = Explanation(root, param, fmt=fmt)
    stack: list[tuple[Value, list[Value], list[float]]] = [(root, [root], [])]
    while stack:
        node, nodes, factors = stack.pop()
        if node is param:
            result.paths.append(ChainPath(nodes, factors))
            continue
        for ancestor, factor in reversed(edges[node]):
            if count.get(ancestor, 0):
                stack.append((ancestor, [*nodes, ancestor], [*factors, factor]))
    return result
