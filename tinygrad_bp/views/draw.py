"""Graphviz pictures of computation graphs and of networks.

`draw(root)` draws a Value or Tensor graph left to right: every value node
shows its name, value and gradient, every operation its name, and (for Value
graphs) every edge its local derivative d(child)/d(parent). `highlight=` a
parameter marks every path from the root to it and writes the chain-rule sum
under the picture. `draw_network(net)` draws neurons and weights as the slides
do. Both return a `Drawing`, which saves to .svg/.png/.pdf/.dot and shows
itself inline in Jupyter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from ..engine.autograd import Node, topological_order
from ..engine.tensor import Tensor
from ..engine.value import Value
from ..slides.twolayer import TwoLayerNet, pair_name
from .explain import explain, find_node, label, skeleton
from .render import render, save

__all__ = ["DEFAULT_MAX_NODES", "Drawing", "GraphTooLargeError", "draw", "draw_network"]

DEFAULT_MAX_NODES = 500
SMALL_TENSOR = 6  # tensors with at most this many entries show their numbers

STYLE = {
    "param": {"shape": "box", "style": "filled", "fillcolor": "#cfe2ff"},
    "input": {"shape": "box", "style": "filled,rounded", "fillcolor": "#e9ecef"},
    "const": {"shape": "box", "style": "dashed", "fontcolor": "#555555"},
    "value": {"shape": "box"},
    "op": {"shape": "ellipse", "style": "filled", "fillcolor": "#fff3cd", "fontsize": "11"},
}
HIGHLIGHT = {"color": "#d62728", "penwidth": "2.5"}


class GraphTooLargeError(ValueError):
    """The graph has more nodes than the drawing limit."""


class Drawing:
    """A Graphviz drawing: `.source` (DOT), `.pipe(fmt)`, `.save(path)`; inline in Jupyter."""

    def __init__(self, graph: graphviz.Digraph, explanation: str | None = None) -> None:
        self.graph = graph
        self.explanation = explanation
        self.note: str | None = None

    @property
    def source(self) -> str:
        return self.graph.source

    def pipe(self, fmt: str = "svg") -> bytes:
        return render(self.source, fmt)

    def save(self, path: str | Path) -> Path:
        """Write to `path` (format from the extension); returns the path actually written.

        Without Graphviz's `dot`, PNG/PDF fall back to SVG and `self.note` says so.
        """
        written, self.note = save(self.source, path)
        return written

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/svg+xml": self.pipe("svg").decode("utf-8")}

    def __str__(self) -> str:
        return self.source


def _num(x: float) -> str:
    return f"{x:.4g}"


def _array(a: Any) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return _num(float(a))
    return np.array2string(a, precision=4, separator=", ", suppress_small=True).replace("\n", "")


def _check_size(n: int, max_nodes: int, what: str) -> None:
    if n > max_nodes:
        raise GraphTooLargeError(
            f"this graph has {n} {what}, over the drawing limit of {max_nodes} (max_nodes). "
            "Draw less: draw a sub-expression (one neuron's output, say), pass collapse=True "
            "to draw only named nodes and parameters (one node per neuron quantity), use "
            "Tensors (one node per operation), or raise max_nodes"
        )


def draw(
    root: Node,
    *,
    local_grads: bool | None = None,
    highlight: Value | str | None = None,
    collapse: bool = False,
    max_nodes: int = DEFAULT_MAX_NODES,
    title: str | None = None,
) -> Drawing:
    """Draw the graph that computed `root` (a Value or a Tensor), left to right.

    `local_grads` (default on for Values) labels each edge with d(child)/d(parent).
    `highlight` (a Value, or a node's name) marks every path from root to it and
    states the chain-rule sum. `collapse` keeps only named nodes, parameters and
    inputs, each edge carrying the derivative through the hidden helpers.
    Graphs with more than `max_nodes` nodes are refused with `GraphTooLargeError`.
    """
    if isinstance(root, Tensor):
        if local_grads or highlight is not None or collapse:
            raise ValueError(
                "local_grads, highlight and collapse are for Value graphs: a Tensor edge "
                "carries a whole Jacobian, not one number; build the graph from Values to see them"
            )
        return _draw_tensor(root, max_nodes, title)
    if not isinstance(root, Value):
        raise TypeError(f"draw() takes a Value or a Tensor, got {type(root).__name__}")
    return _draw_value(
        root, True if local_grads is None else local_grads, highlight, collapse, max_nodes, title
    )


def _graph(title: str | None) -> graphviz.Digraph:
    g = graphviz.Digraph(
        graph_attr={"rankdir": "LR", "fontname": "Helvetica", "labelloc": "b", "nodesep": "0.25"},
        node_attr={"fontname": "Helvetica", "fontsize": "12"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10", "color": "#555555"},
    )
    if title:
        g.attr(label=title)
    return g


def _value_label(v: Value) -> str:
    lines = [v.name] if v.name else []
    lines.append(f"value {_num(v.data)}")
    if v.grad is not None:  # None until a backward pass reaches the node
        lines.append(f"grad {_num(v.grad)}")
    return "\n".join(lines)


def _value_style(v: Value, root: Value) -> dict[str, str]:
    style = dict(STYLE[v.op] if v.is_leaf and v.op in STYLE else STYLE["value"])
    if v is root:
        style["penwidth"] = "2"
    return style


def _on_paths(order: list[Value], parents_of, target: Value) -> set[Value]:
    """Nodes through which some path runs from the root down to `target`."""
    reaches = {target}
    for node in order:  # parents first
        if any(p in reaches for p in parents_of(node)):
            reaches.add(node)
    return reaches


def _draw_value(
    root: Value,
    local_grads: bool,
    highlight: Value | str | None,
    collapse: bool,
    max_nodes: int,
    title: str | None,
) -> Drawing:
    target = find_node(root, highlight) if highlight is not None else None
    if collapse:
        order, edges = skeleton(root, also=(target,) if target is not None else ())
        edge_list = {n: edges[n] for n in order}
    else:
        order = topological_order(root)
        edge_list = {n: n.edges() for n in order}
    _check_size(len(order), max_nodes, "value nodes")
    ids = {node: f"n{i}" for i, node in enumerate(order)}
    marked = _on_paths(order, lambda n: [p for p, _ in edge_list[n]], target) if target else set()
    text = None
    if target is not None:
        explanation = explain(root, target)
        text = _chain_caption(explanation)
        title = f"{title}\n{text}" if title else text
    g = _graph(title)
    for node in order:
        style = _value_style(node, root)
        if node in marked:
            style.update(HIGHLIGHT)
        g.node(ids[node], _value_label(node), **style)
        if not edge_list[node]:
            continue
        op_id = ids[node] + "_op"
        direct = all(p in edge_list for p in node.parents)
        op_label = node.op if not collapse or direct else "chain"
        op_style = dict(STYLE["op"])
        if node in marked:
            op_style.update(HIGHLIGHT)
        g.node(op_id, op_label, **op_style)
        g.edge(op_id, ids[node], **(HIGHLIGHT if node in marked else {}))
        for parent, local in edge_list[node]:
            attrs = {"label": _num(local)} if local_grads else {}
            if node in marked and parent in marked:
                attrs.update(HIGHLIGHT)
            g.edge(ids[parent], op_id, **attrs)
    return Drawing(g, text)


def _chain_caption(explanation) -> str:
    what = f"d{label(explanation.root)}/d{label(explanation.param)}"
    terms = []
    for path in explanation.paths:
        names = [label(n) for n in path.nodes]
        terms.append(" ".join(f"d{a}/d{b}" for a, b in zip(names, names[1:])))
    products = " + ".join(f"({p.product:.4g})" for p in explanation.paths)
    return (
        f"{what} = "
        + " + ".join(f"[{t}]" for t in terms)
        + f"\n= {products} = {explanation.total:.6g}"
    )


def _tensor_label(t: Tensor) -> str:
    lines = [t.op] + ([t.name] if t.name else []) + [f"shape {t.shape}"]
    if t.size <= SMALL_TENSOR:
        lines.append(f"value {_array(t.data)}")
        if t.grad is not None:
            lines.append(f"grad {_array(t.grad)}")
    elif t.grad is not None:
        lines.append("grad: computed")
    return "\n".join(lines)


def _draw_tensor(root: Tensor, max_nodes: int, title: str | None) -> Drawing:
    order = topological_order(root)
    _check_size(len(order), max_nodes, "tensor nodes")
    ids = {node: f"t{i}" for i, node in enumerate(order)}
    g = _graph(title)
    for node in order:
        kind = node.op if not node.parents and node.op in ("param", "input", "const") else "value"
        style = dict(STYLE.get(kind, STYLE["value"]))
        if node is root:
            style["penwidth"] = "2"
        g.node(ids[node], _tensor_label(node), **style)
        for parent in node.parents:
            g.edge(ids[parent], ids[node])
    return Drawing(g)


# -- the network view ----------------------------------------------------------------


def draw_network(
    net: TwoLayerNet | Any,
    grads: dict[str, float] | None = None,
    title: str | None = None,
) -> Drawing:
    """Neurons and weights as the slides draw them: inputs, neurons (with their activation
    and bias), outputs; each edge labelled with its weight (and dE/dw when `grads` is given).

    `net` is a `TwoLayerNet`, or any model with `layers()` giving (W, b, activation)
    per layer with W of shape (out, in).
    """
    if isinstance(net, TwoLayerNet):
        layers = [(net.W1, net.b1, net.hidden), (net.W2, net.b2, net.output)]
    elif hasattr(net, "layers"):
        layers = [(np.asarray(W), np.asarray(b).reshape(-1), act) for W, b, act in net.layers()]
    else:
        raise TypeError(f"draw_network takes a TwoLayerNet or an MLP, got {type(net).__name__}")
    total = sum(W.shape[0] for W, _, _ in layers) + layers[0][0].shape[1]
    _check_size(total, DEFAULT_MAX_NODES, "neurons")
    g = _graph(title)
    g.attr(rankdir="LR", splines="line", nodesep="0.4", ranksep="1.4")
    g.attr("node", shape="ellipse")
    g.attr("edge", fontsize="9")
    n_in = layers[0][0].shape[1]
    prev = []
    with g.subgraph(name="cluster_inputs") as c:
        c.attr(label="inputs", style="dashed", color="#999999")
        for k in range(1, n_in + 1):
            c.node(f"x{k}", f"x{k}", style="filled", fillcolor="#e9ecef")
            prev.append((f"x{k}", k))
    number = 0
    for depth, (W, b, act) in enumerate(layers):
        current = []
        last = depth == len(layers) - 1
        with g.subgraph(name=f"cluster_{depth}") as c:
            c.attr(label="output layer" if last else f"hidden layer {depth + 1}", color="#999999")
            for r in range(W.shape[0]):
                number += 1
                bias = f"b{number} = {_num(b[r])}"
                if grads and f"b{number}" in grads:
                    bias += f"\ndE/db{number} = {_num(grads[f'b{number}'])}"
                c.node(
                    f"n{number}",
                    f"{number}\n{act}\n{bias}",
                    style="filled",
                    fillcolor="#cfe2ff" if not last else "#d1e7dd",
                )
                current.append((f"n{number}", number))
        for r, (node_id, j) in enumerate(current):
            for col, (src_id, i) in enumerate(prev):
                name = pair_name("w", j, i)
                text = f"{name} = {_num(W[r, col])}"
                if grads and name in grads:
                    text += f"\ndE/d{name} = {_num(grads[name])}"
                g.edge(src_id, node_id, label=text)
        prev = current
    for node_id, j in prev:
        out = f"y{j}"
        g.node(out, out, shape="plaintext")
        g.edge(node_id, out)
    return Drawing(g)
