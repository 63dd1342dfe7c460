"""Pictures of computation graphs and of networks, as Graphviz DOT.

`draw(root)` draws a Value or Tensor graph left to right in the order data
flows: each node shows the operation that made it, its name, value and
gradient; each edge of a Value graph carries its local derivative
∂(child)/∂(parent). `highlight=` a parameter marks every path from the root to
it and writes the chain-rule sum, factor by factor, under the picture.
`draw_network(net)` draws neurons and weights as the slides do. Both return a
`Drawing`: `.source` (DOT), `.save(path)`, `.to_html()` (the backward-pass
stepper), and inline display in Jupyter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..formatting import dumps, fmt
from .dot import Dot, label
from .explain import TooManyPathsError, count_paths, explain_graph, find_node
from .graph import DEFAULT_MAX_NODES, Graph, GraphTooLargeError, read_graph, too_large

__all__ = [
    "DEFAULT_MAX_NODES",
    "Drawing",
    "GraphTooLargeError",
    "draw",
    "draw_network",
]

READ_LIMIT = 200_000  # nodes read at most to draw a collapsed graph
SMALL_TENSOR = 6  # tensors with at most this many entries show their numbers
WIDTH_IN = 12.5  # pictures are scaled down to at most 12.5 in = 1200 px wide
FONT = "Helvetica"

FILL = {"param": "#cfe2ff", "input": "#e9ecef", "const": "#ffffff", "value": "#fff8e1"}
RED = "#d62728"


class Drawing:
    """A drawing: `.source` (DOT), `.pipe(fmt)`, `.save(path)`, `.to_html()`; inline in Jupyter."""

    def __init__(
        self,
        source: str,
        graph: Graph | None = None,
        caption: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.source = source
        self.graph = graph
        self.caption = caption
        self.options = options or {}

    def pipe(self, fmt: str = "svg") -> bytes:
        """The picture as bytes: svg, png, pdf or dot."""
        from .render import render

        return render(self.source, fmt)

    def save(self, path: str | Path, quiet: bool = False) -> Path:
        """Write the picture (format from the extension: .svg .png .pdf .dot .json .html).

        Written atomically; returns (and, unless `quiet`, prints) the path written.
        """
        from ..files import atomic_write
        from .render import format_of

        path = Path(path)
        kind = format_of(path)
        if kind == "html":
            data: bytes | str = self.to_html()
        elif kind == "json":
            data = self.to_json()
        else:
            data = self.pipe(kind)
        if path.parent != Path(""):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise type(exc)(
                    f"cannot make the folder {path.parent} for {path.name} "
                    f"({exc.strerror or exc}: a file may have the name of a folder on the way); "
                    "give another folder (--out-dir or -o on the command line)"
                ) from None
        atomic_write(path, data)
        if not quiet:
            print(f"wrote {path}")
        return path

    def to_json(self) -> str:
        """The graph as JSON (layout in docs/pictures.md)."""
        if self.graph is None:
            raise ValueError(
                "this drawing is of a network (draw_network), not of a computation graph: no "
                "JSON export; use draw(root) for a graph's JSON"
            )
        from .graph import to_dict

        return dumps(to_dict(self.graph))

    def to_html(self, title: str = "Backward pass, step by step") -> str:
        """One self-contained HTML page that steps through the forward and backward pass."""
        if self.graph is None:
            raise ValueError(
                "the stepper needs a computation graph, this drawing is of a network "
                "(draw_network); use draw(root)"
            )
        from .render import render
        from .stepper import stepper_html

        source, _ = graph_source(self.graph, show_grads=False, fit=False, **self.options)
        return stepper_html(self.graph, render(source, "svg").decode("utf-8"), title)

    def _repr_svg_(self) -> str:
        return self.pipe("svg").decode("utf-8")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .render import RenderError

        text = repr(self) + ("\n" + self.caption if self.caption else "")
        try:
            return {"image/svg+xml": self._repr_svg_(), "text/plain": text}
        except RenderError as exc:  # nothing here draws SVG: the text, and why no picture
            return {"text/plain": f"{text}\n(no picture: {exc})"}

    def __repr__(self) -> str:
        n = len(self.graph.nodes) if self.graph else 0
        return f"<Drawing of {n} nodes>" if self.graph else "<Drawing of a network>"

    def __str__(self) -> str:
        return self.source


def _num(x: float) -> str:
    return fmt(x, ".4g")


def _array(a: Any) -> str:
    """A small array's entries as a scalar node shows them (4 digits, no -0): [[1,-0.5]]."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return _num(float(a))
    return "[" + ",".join(_array(row) for row in a) + "]"


def _natural(text: str) -> list:
    """Sort key that puts v2 before v10 (so neurons are stacked in their numbering order)."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _dot(title: str | None, *caption: str, **graph: str) -> Dot:
    attrs = {
        "rankdir": "LR",
        "fontname": FONT,
        "fontsize": "13",
        "labelloc": "b",
        "nodesep": "0.1",
        "ranksep": "0.2",
        "size": f"{WIDTH_IN},40",
        **graph,
    }
    attrs = {k: v for k, v in attrs.items() if v != ""}  # "" removes a default
    lines = [t for t in (title, *caption) if t]
    if lines:
        attrs["label"] = label(*lines, limit=400)
    return Dot(
        attrs,
        node={
            "fontname": FONT,
            "fontsize": "11",
            "shape": "box",
            "style": "rounded,filled",
            "margin": "0.06,0.03",
            "height": "0.3",
        },
        edge={"fontname": FONT, "fontsize": "10", "color": "#666666", "arrowsize": "0.6"},
    )


def _node_lines(n, text: str) -> list[str]:
    """What a node shows: the operation, the name, the value and the gradient."""
    head = n.role if n.is_leaf else n.op
    lines = [f"{head} {n.name}" if n.name else head if n.is_leaf else f"{head}  {text}"]
    if np.size(n.value) <= SMALL_TENSOR:
        lines.append(f"= {_array(n.value)}")
        if n.grad is not None:
            lines.append(f"grad {_array(n.grad)}")
    else:
        lines.append(f"shape {n.shape}")
    return lines


def draw(
    root: Any,
    *,
    local_grads: bool | None = None,
    highlight: Any = None,
    collapse: bool = False,
    max_nodes: int = DEFAULT_MAX_NODES,
    title: str | None = None,
) -> Drawing:
    """Draw the graph that computed `root` (a Value or a Tensor), left to right.

    `local_grads` (default: whenever edges carry one number) labels each edge with
    ∂(child)/∂(parent). `highlight` (a node or a node's name) marks every path
    from the root to it and states dE/dp = sum over paths of products of factors.
    `collapse` keeps only the root, named nodes and parameters/inputs; an edge
    then carries the derivative through the unnamed helpers between them.
    Graphs of more than `max_nodes` nodes are refused with `GraphTooLargeError`.
    """
    # a collapsed drawing may come from a larger graph: read up to READ_LIMIT nodes
    graph = read_graph(root, max(max_nodes, READ_LIMIT) if collapse else max_nodes)
    target = find_node(graph, highlight) if highlight is not None else None
    options = {"target": target, "title": title, "show_local": local_grads is not False}
    source, caption = graph_source(graph, collapse=collapse, max_nodes=max_nodes, **options)
    return Drawing(source, graph, caption, options)


def graph_source(
    graph: Graph,
    target: int | None = None,
    title: str | None = None,
    show_local: bool = True,
    collapse: bool = False,
    show_grads: bool = True,
    max_nodes: int | None = None,
    fit: bool = True,
) -> tuple[str, str | None]:
    """The DOT source of a graph drawing and its chain-rule caption (when `target` is given).

    Node `i` gets the SVG id `n<i>`, the edge from its `k`-th operand the id `e<i>_<k>`.
    """
    labels = graph.labels()
    counts = count_paths(graph, target) if target is not None else None
    caption = None
    if target is not None:
        try:
            caption = explain_graph(graph, target, fold=collapse).caption()
        except (TooManyPathsError, TypeError) as exc:
            caption = str(exc)
    if collapse:
        keep, edges = skeleton(graph, target)
    else:
        keep = list(range(len(graph.nodes)))
        edges = {n.index: n.edges for n in graph.nodes}
    d = _dot(title, *(caption or "").split("\n"), **({} if fit else {"size": ""}))
    # a leaf used by several nodes is drawn once beside each of them (no long crossing edges)
    uses = {i: 0 for i in keep}
    for i in keep:
        for p, _ in edges[i]:
            uses[p] += 1
    drawn = sum(uses[i] - 1 if graph.nodes[i].is_leaf and uses[i] > 1 else 1 for i in keep)
    if max_nodes is not None and drawn > max_nodes:
        raise too_large(drawn, max_nodes, "nodes to draw")
    for i in sorted(keep, key=lambda i: _natural(labels[i])):
        n = graph.nodes[i]
        lines = _node_lines(n, labels[i])
        if not show_grads:
            lines = [line for line in lines if not line.startswith("grad")] + ["grad ?"]
        attrs = {
            "id": f"n{i}",
            "label": label(*lines),
            "fillcolor": FILL.get(n.role or "value", FILL["value"]),
        }
        if n.role == "const":
            attrs["style"] = "rounded,dashed"
        if counts is not None and counts[i] > 0:
            attrs.update(color=RED, penwidth="2.5")
        elif i == graph.root.index:
            attrs["penwidth"] = "2"
        d.node(f"n{i}", **attrs)
        for u in range(1, uses[i] if n.is_leaf else 1):
            d.node(f"n{i}_{u}", **{**attrs, "id": f"n{i}_{u}"})
    used = dict.fromkeys(keep, 0)
    for i in keep:
        for k, (p, local) in enumerate(edges[i]):
            tail = f"n{p}" if not used[p] or not graph.nodes[p].is_leaf else f"n{p}_{used[p]}"
            used[p] += 1
            attrs: dict[str, str] = {}
            if counts is not None and counts[i] > 0 and counts[p] > 0:
                attrs.update(color=RED, penwidth="2.5", fontcolor=RED)
            if show_local and local is not None:
                # the number is a node of its own on the edge: never beside another edge
                mid = f"l{i}_{k}"
                d.node(mid, id=mid, label=label(_num(local)), shape="plain", style="", **attrs)
                d.edge(tail, mid, id=f"e{i}_{k}", arrowhead="none", **attrs)
                d.edge(mid, f"n{i}", id=f"e{i}_{k}h", **attrs)
            else:
                d.edge(tail, f"n{i}", id=f"e{i}_{k}", **attrs)
    return d.source, caption


def skeleton(graph: Graph, also: int | None = None):
    """Kept nodes (root, named, parameters and inputs, `also`) and their edges to kept ancestors.

    Each edge's factor is d(kept)/d(ancestor) through unnamed helpers only: a small
    reverse-mode pass per kept node, visiting its helpers from the newest down.
    """
    from heapq import heappop, heappush

    root = graph.root.index
    kept = [
        n.index
        for n in graph.nodes
        if n.index in (root, also) or n.name or (n.is_leaf and n.role in ("param", "input"))
    ]
    is_kept = set(kept)
    edges: dict[int, list[tuple[int, float | None]]] = {}
    for k in kept:
        factors: dict[int, float | None] = {}
        pending: dict[int, float | None] = {}
        heap: list[int] = []
        frontier = list(graph.nodes[k].edges)
        while True:
            for p, c in frontier:
                if p in is_kept:
                    factors[p] = _add(factors.get(p, 0.0), c)
                elif p in pending:
                    pending[p] = _add(pending[p], c)
                else:
                    pending[p] = c
                    heappush(heap, -p)
            if not heap:
                break
            h = -heappop(heap)
            c = pending.pop(h)
            frontier = [
                (p, None if c is None or x is None else c * x) for p, x in graph.nodes[h].edges
            ]
        edges[k] = list(factors.items())
    return kept, edges


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


# -- the network view ----------------------------------------------------------------

LABEL_EDGES = 40  # nets with more weights than this show weights by colour and width
SHOWS = ("weights", "grads", "updates")


def _stack(d: Dot, ids: list[str]) -> None:
    """Keep a layer's nodes in one column, in this order from top to bottom."""
    d.open(f"stack_{ids[0]}", rank="same")
    for a, b in zip(ids, ids[1:]):
        d.edge(a, b, style="invis")
    d.close()
    if ids[0] != "head_in":  # headers in one row: each column's header above its nodes
        d.edge(
            "head_in" if ids[0] == "head_0" else f"head_{int(ids[0][5:]) - 1}",
            ids[0],
            style="invis",
        )


def _layers_of(net: Any) -> list[tuple[np.ndarray, np.ndarray, str]]:
    if hasattr(net, "W1") and hasattr(net, "W2"):
        return [(net.W1, net.b1, net.hidden), (net.W2, net.b2, net.output)]
    if hasattr(net, "layers"):
        return [(np.asarray(W), np.asarray(b).reshape(-1), str(a)) for W, b, a in net.layers()]
    raise TypeError(
        f"draw_network takes a TwoLayerNet or an MLP, got {type(net).__name__}; "
        "for a computation graph use draw(root)"
    )


def draw_network(
    net: Any,
    grads: dict[str, float] | None = None,
    title: str | None = None,
    show: str = "weights",
    eta: float = 0.1,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Drawing:
    """Neurons and weights as the slides draw them: inputs, numbered neurons, outputs.

    Each edge carries what `show` asks for: the weight w, its gradient dE/dw
    (needs `grads`, keyed by the slides' names w31, b3, ...) or the update
    -eta dE/dw. Small nets write the number on a label sitting on its own edge;
    nets with more than 40 weights show it by colour (blue +, red -) and width,
    with a legend. `net` is a `TwoLayerNet` or a model with `layers()`.
    """
    from ..slides.twolayer import pair_name

    if show not in SHOWS:
        raise ValueError(f"show must be one of {', '.join(SHOWS)}, got {show!r}; pass one of them")
    if show != "weights" and not grads:
        raise ValueError(f"showing {show} needs the gradients: pass grads= (after backward)")
    layers = _layers_of(net)
    sizes = [layers[0][0].shape[1]] + [W.shape[0] for W, _, _ in layers]
    if sum(sizes) > max_nodes:
        raise too_large(sum(sizes), max_nodes, "neurons")
    n_weights = sum(W.size for W, _, _ in layers)
    labelled = n_weights <= LABEL_EDGES

    def shown(name: str, w: float) -> float:
        if show == "weights":
            return w
        g = grads.get(name, float("nan"))
        return g if show == "grads" else -eta * g

    d = _dot(
        title,
        ranksep="0.9" if not labelled else "0.2",
        nodesep="0.15",
        splines="line",
        outputorder="edgesfirst",  # lines pass under the neurons, never over their text
    )
    prev = []
    d.node("head_in", label=label("inputs"), shape="plaintext", style="")
    for k in range(1, sizes[0] + 1):
        d.node(f"x{k}", label=label(f"x{k}"), fillcolor=FILL["input"], shape="circle")
        prev.append((f"x{k}", k))
    _stack(d, ["head_in"] + [x for x, _ in prev])
    number = 0
    values: list[tuple[str, str, str, float]] = []
    for depth, (W, b, act) in enumerate(layers):
        current = []
        last = depth == len(layers) - 1
        head = f"head_{depth}"
        d.node(
            head,
            label=label("output layer" if last else f"hidden layer {depth + 1}"),
            shape="plaintext",
            style="",
        )
        for r in range(W.shape[0]):
            number += 1
            lines = [f"{number}: {act}", f"b{number} = {_num(b[r])}"]
            if grads and f"b{number}" in grads and show != "weights":
                lines.append(
                    f"{'dE/db' if show == 'grads' else 'Δb'}{number} = "
                    f"{_num(shown(f'b{number}', b[r]))}"
                )
            d.node(
                f"n{number}",
                label=label(*lines),
                fillcolor="#d1e7dd" if last else FILL["param"],
            )
            current.append((f"n{number}", number))
        _stack(d, [head] + [n for n, _ in current])
        for r, (node_id, j) in enumerate(current):
            for col, (src_id, i) in enumerate(prev):
                name = pair_name("w", j, i)
                values.append((src_id, node_id, name, shown(name, float(W[r, col]))))
        prev = current
    if labelled:
        symbol = {"weights": "", "grads": "dE/d", "updates": "Δ"}[show]
        for src, dst, name, v in values:
            mid = f"{src}_{dst}"
            d.node(
                mid,
                label=label(f"{symbol}{name} = {_num(v)}"),
                shape="plain",
                style="",
                fontsize="10",
            )
            d.edge(src, mid, arrowhead="none")
            d.edge(mid, dst)
    else:
        top = max((abs(v) for *_, v in values if np.isfinite(v)), default=0.0) or 1.0
        for src, dst, _, v in values:
            colour = "#999999" if not np.isfinite(v) else ("#1f77b4" if v >= 0 else RED)
            width = 0.3 + 3.5 * min(abs(v) / top, 1.0) if np.isfinite(v) else 0.3
            d.edge(src, dst, color=colour, penwidth=f"{width:.2f}", arrowhead="none")
        what = {
            "weights": "weight w",
            "grads": "gradient dE/dw",
            "updates": f"update -{eta:g} dE/dw",
        }
        d.node(
            "legend",
            shape="note",
            style="filled",
            fillcolor="#ffffff",
            label=label(
                f"edges: {what[show]}",
                "blue: positive, red: negative",
                f"width: |value|, widest = {_num(top)}",
                limit=80,
            ),
        )
    for node_id, j in prev:
        d.node(f"y{j}", label=label(f"y{j}"), shape="plaintext", style="")
        d.edge(node_id, f"y{j}")
    return Drawing(d.source)
