"""The chain rule written out: d(root)/d(param) as a sum over paths of products.

In the graph, every path from the root down to the parameter contributes the
product of the local derivatives on its edges, and the total derivative is the
sum over all paths:

    dE/dw = sum over paths E = u0 <- u1 <- ... <- uk = w of  prod_i  ∂u_i/∂u_{i+1}

We walk the real graph (named nodes or not): for e = (a+b)(b+1), b reaches e
along two paths, ∂e/∂(a+b) ∂(a+b)/∂b + ∂e/∂(b+1) ∂(b+1)/∂b = 2·1 + 3·1 = 5.
Local factors are partial derivatives (∂), totals are d.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..formatting import fmt
from .graph import DEFAULT_MAX_NODES, Graph, read_graph

__all__ = ["ChainPath", "Explanation", "TooManyPathsError", "explain", "find_node", "latex_name"]

MAX_PATHS = 200


class TooManyPathsError(ValueError):
    """The chain-rule sum has too many paths to write out."""


def find_node(graph: Graph, target: Any) -> int:
    """The index of `target` (a node of the graph, or the name of exactly one node)."""
    if not isinstance(target, str):
        if id(target) in graph.index:
            return graph.index[id(target)]
        raise KeyError(
            f"{target!r:.60} is not in this graph (it was not used to compute the root); "
            "pass a node the root was computed from, or its name"
        )
    matches = [n.index for n in graph.nodes if n.name == target]
    if not matches:
        names = sorted({str(n.name) for n in graph.nodes if n.name})
        raise KeyError(
            f"no node named {target!r} in this graph; give one of the named nodes: "
            f"{', '.join(names) or 'none (pass the node itself)'}"
        )
    if len(matches) > 1:
        raise KeyError(f"{len(matches)} nodes are named {target!r}; pass the node itself")
    return matches[0]


@dataclass
class ChainPath:
    """One path, root first: `labels[i]` depends on `labels[i+1]` with ∂ = `factors[i]`."""

    labels: list[str]
    factors: list[float]
    indices: list[int] = field(default_factory=list)
    formulas: list[str] = field(default_factory=list)  # each factor in the operands' names

    @property
    def product(self) -> float:
        p = 1.0
        for f in self.factors:
            p *= f
        return p

    def symbols(self) -> list[str]:
        return [f"∂{a}/∂{b}" for a, b in zip(self.labels, self.labels[1:])]


@dataclass
class Explanation:
    """d(root)/d(param) as a sum over `paths`; `str()` is text, `.render("latex")` LaTeX."""

    root: str
    param: str
    paths: list[ChainPath]
    grad: float | None  # param's .grad as stored by backward(), for comparison
    fmt: str = "text"

    @property
    def total(self) -> float:
        return sum(p.product for p in self.paths)

    @property
    def what(self) -> str:
        return f"d{self.root}/d{self.param}"

    def __str__(self) -> str:
        return self.render(self.fmt)

    def render(self, fmt: str = "text") -> str:
        if fmt == "text":
            return self.text()
        if fmt == "markdown":
            return self.markdown()
        if fmt == "latex":
            return self.latex()
        raise ValueError(f"unknown format {fmt!r}; give text, markdown or latex")

    def caption(self) -> str:
        """The sum over paths in symbols, in formulas, then in numbers: the picture's caption."""
        symbols = [" ".join(p.symbols()) or "1" for p in self.paths]
        formulas = [" ".join(_wrap(x) for x in p.formulas) or "1" for p in self.paths]
        numbers = [" ".join(f"({fmt(f, '.4g')})" for f in p.factors) or "1" for p in self.paths]
        return (
            f"{self.what} = "
            + " + ".join(symbols or ["0"])
            + "\n= "
            + " + ".join(formulas or ["0"])
            + "\n= "
            + " + ".join(numbers or ["0"])
            + f" = {fmt(self.total, '.6g')}"
        )

    def _grad_note(self) -> str:
        g = self.grad
        if g is None:
            return f"({self.param}.grad is not set: call {self.root}.backward() to compare)"
        if abs(g - self.total) <= 1e-9 * max(1.0, abs(g)):
            return f"(reverse mode agrees: {self.param}.grad = {fmt(g)})"
        return (
            f"({self.param}.grad is {fmt(g)}: call {self.root}.backward() "
            "on zeroed gradients to compare)"
        )

    def text(self) -> str:
        n = len(self.paths)
        lines = [f"{self.what} by the chain rule, summed over {n} path{'s' * (n != 1)}:"]
        for i, path in enumerate(self.paths, 1):
            lines.append(f"  path {i}: {' <- '.join(path.labels)}")
            lines.append(f"    {' · '.join(path.symbols()) or '1'}")
            lines.append(f"    = {' · '.join(_wrap(x) for x in path.formulas) or '1'}")
            lines.append(f"    = {' · '.join(f'({fmt(f)})' for f in path.factors) or '1'}")
            lines.append(f"    = {fmt(path.product)}")
        if n > 1:
            lines.append("  sum: " + " + ".join(f"({fmt(p.product)})" for p in self.paths))
        lines.append(f"{self.what} = {fmt(self.total)}  {self._grad_note()}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """Markdown with the formulas as $...$ math; names can hold no HTML or markup."""
        what = _md_text(self.what)
        lines = [f"**{what}** by the chain rule, summed over {len(self.paths)} path(s):", ""]
        for i, path in enumerate(self.paths, 1):
            lines.append(f"{i}. ${_md_math(_latex_product(path))}$")
        total = _md_math(_latex_total(self))
        lines += ["", f"$${total} = {fmt(self.total)}$$", "", _md_text(self._grad_note())]
        return "\n".join(lines)

    def latex(self) -> str:
        terms = [_latex_product(p) for p in self.paths]
        body = " \\\\\n  &+ ".join(terms) if terms else "0"
        return (
            "\\begin{align*}\n"
            f"  {_latex_total(self)} &= {body} \\\\\n"
            f"  &= {fmt(self.total)}\n"
            "\\end{align*}"
        )

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.text())}</pre>"


_LATEX_SPECIAL = {
    "\\": r"\backslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "^": r"\wedge{}",  # \^ and \~ are text accents, errors in math mode
    "#": r"\#",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "~": r"\sim{}",
}


def _md_text(text: str) -> str:
    """`text` shown as it is in Markdown: HTML escaped, Markdown and $ punctuation quoted."""
    from html import escape

    return "".join(f"\\{c}" if c in "\\`*_[]|~$" else c for c in escape(text, False))


def _md_math(tex: str) -> str:
    """LaTeX for $...$ in Markdown, where a raw < or > could open an HTML tag."""
    return tex.replace("<", r"\lt{}").replace(">", r"\gt{}")


def _tex_text(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) if c.isprintable() else "?" for c in text[:40])


def latex_name(name: str) -> str:
    """A name in LaTeX: `w11` -> w_{11}, `y_h1` -> y_{h1}, `x` -> x; anything else upright text."""
    import re

    m = re.fullmatch(r"([A-Za-z])_?([A-Za-z]{0,2}\d+(?:_\d+)?|[A-Za-z]{1,2}\d*)?", name)
    if not m:
        return f"\\mathrm{{{_tex_text(name)}}}"
    sub = (m.group(2) or "").replace("_", ",")
    return f"{m.group(1)}_{{{sub}}}" if sub else m.group(1)


def _latex_product(path: ChainPath) -> str:
    symbols = " ".join(
        f"\\frac{{\\partial {latex_name(a)}}}{{\\partial {latex_name(b)}}}"
        for a, b in zip(path.labels, path.labels[1:])
    )
    numbers = " \\cdot ".join(f"({fmt(f)})" for f in path.factors)
    return f"{symbols or '1'} = {numbers or '1'} = {fmt(path.product)}"


def _latex_total(e: Explanation) -> str:
    return f"\\frac{{d {latex_name(e.root)}}}{{d {latex_name(e.param)}}}"


def count_paths(graph: Graph, target: int) -> list[int]:
    """count[i] = number of paths from node i down to `target` (parents-first dynamic program)."""
    count = [0] * len(graph.nodes)
    count[target] = 1
    for n in graph.nodes[target + 1 :]:
        count[n.index] = sum(count[p] for p, _ in n.edges)
    return count


def explain(
    root: Any,
    param: Any,
    fmt: str = "text",
    max_paths: int = MAX_PATHS,
    max_nodes: int = DEFAULT_MAX_NODES,
    fold: bool = False,
) -> Explanation:
    """d(root)/d(param) as the sum over every path of the products of local derivatives.

    `param` is a node of root's graph or the name of one. `.total` equals
    `param.grad` after `root.backward()`. With `fold=True` each path shows only
    its named nodes, each factor then being the product of the local
    derivatives along that stretch of the path (the paths stay distinct).
    Refuses (`TooManyPathsError`) sums of more than `max_paths` paths and graphs
    of more than `max_nodes` nodes.
    """
    graph = read_graph(root, max_nodes)
    return explain_graph(graph, find_node(graph, param), fmt, max_paths, fold)


def local_formula(graph: Graph, labels: list[str], child: int, k: int) -> str:
    """∂child/∂(its k-th operand) as a formula in the operands' labels: `w41`, `sigmoid'(v1)`."""
    n = graph.nodes[child]
    args = [labels[p] for p, _ in n.edges]
    a = args[k]
    if n.op == "+":
        return "1"
    if n.op == "-":
        return "1" if k == 0 else "-1"
    if n.op == "*" and len(args) == 2:
        return args[1 - k]
    if n.op == "/" and len(args) == 2:
        return f"1/{args[1]}" if k == 0 else f"-{args[0]}/{args[1]}^2"
    if n.op == "**2":
        return f"2·{a}"
    if n.op == "neg":
        return "-1"
    if len(args) == 1 and n.op.isidentifier():
        return f"{n.op}'{_wrap(a)}"
    return f"∂{labels[child]}/∂{a}"


def _wrap(text: str) -> str:
    """`text` in parentheses, unless it already is one parenthesised expression."""
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, c in enumerate(text):
            depth += {"(": 1, ")": -1}.get(c, 0)
            if depth == 0 and i < len(text) - 1:
                break
        else:
            return text
    return f"({text})"


def _product(formulas: list[str]) -> str:
    """Formulas multiplied, factors of 1 left out."""
    kept = [f for f in formulas if f != "1"]
    return "·".join(kept) if kept else "1"


def _folded(
    graph: Graph, nodes: list[int], factors: list[float], formulas: list[str]
) -> tuple[list[int], list[float], list[str]]:
    """The path through its named nodes (and its ends), multiplying the factors in between."""
    keep, out, out_formulas = [nodes[0]], [], []
    product, stretch = 1.0, []
    for k, f, formula in zip(nodes[1:], factors, formulas):
        product *= f
        stretch.append(formula)
        if graph.nodes[k].name or k == nodes[-1]:
            keep.append(k)
            out.append(product)
            out_formulas.append(_product(stretch))
            product, stretch = 1.0, []
    return keep, out, out_formulas


def explain_graph(
    graph: Graph,
    target: int,
    fmt: str = "text",
    max_paths: int = MAX_PATHS,
    fold: bool = False,
) -> Explanation:
    labels = graph.labels()
    root = graph.root
    if any(local is None for n in graph.nodes for _, local in n.edges):
        raise TypeError(
            "explain needs one number per edge (a Value graph); a Tensor edge carries a "
            "Jacobian: build the expression from Values to see its paths"
        )
    count = count_paths(graph, target)
    if count[root.index] > max_paths:
        raise TooManyPathsError(
            f"{count[root.index]} paths lead from {labels[root.index]} to {labels[target]}, "
            f"more than the limit of {max_paths} (max_paths=): explain a smaller sub-graph "
            "or raise the limit"
        )
    paths: list[ChainPath] = []
    # (node, nodes so far, local factors, their formulas)
    stack: list[tuple[int, list[int], list[float], list[str]]] = [
        (root.index, [root.index], [], [])
    ]
    while stack:
        i, nodes, factors, formulas = stack.pop()
        if i == target:
            if fold:
                nodes, factors, formulas = _folded(graph, nodes, factors, formulas)
            paths.append(ChainPath([labels[k] for k in nodes], factors, nodes, formulas))
            continue
        for k in reversed(range(len(graph.nodes[i].edges))):
            p, local = graph.nodes[i].edges[k]
            if count[p]:
                formula = local_formula(graph, labels, i, k)
                stack.append((p, [*nodes, p], [*factors, local], [*formulas, formula]))
    grad = graph.nodes[target].grad
    grad = float(grad) if grad is not None else None
    return Explanation(labels[root.index], labels[target], paths, grad, fmt)
