"""A computation graph as plain data, read once for every view.

`read_graph(root)` walks the graph with the engine's own
`topological_order` and keeps, per node, what the pictures, the chain-rule
view, the stepper and the JSON export need: its operation, name, role, value,
gradient and its edges (parent, local derivative d(node)/d(parent)). It works
on anything with the engines' edge interface (`parents`, optionally `edges()`)
by duck typing: a local derivative is kept when it is one number, so Value
graphs have them on every edge and Tensor graphs (whose edges carry Jacobians)
have none.

`graph_to_dict(root)` is the documented JSON layout (see docs/pictures.md):

    {"root": 7,
     "nodes": [{"id": 0, "op": "param", "name": "a", "role": "param",
                "value": 2.0, "grad": -3.0, "shape": []}, ...],
     "edges": [{"source": 0, "target": 2, "local": -3.0}, ...]}

Nodes come parents first; an edge runs from an operand (`source`) to the node
computed from it (`target`); `local` is d(target)/d(source), or null when it
is not one number. NaN and infinity are written as null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.autograd import topological_order
from ..formatting import finite_list, fmt

__all__ = [
    "DEFAULT_MAX_NODES",
    "Graph",
    "GraphNode",
    "GraphTooLargeError",
    "graph_to_dict",
    "read_graph",
]

DEFAULT_MAX_NODES = 500
LEAF_ROLES = ("param", "input", "const")
MAX_EXPRESSION = 16  # longest made-up label of an unnamed node, e.g. "(a+b)"


class GraphTooLargeError(ValueError):
    """The graph has more nodes than the limit asked for."""


def too_large(n: int, limit: int, what: str = "nodes") -> GraphTooLargeError:
    return GraphTooLargeError(
        f"this graph has {n} {what}, over the drawing limit of {limit} (--max-nodes, "
        "max_nodes=): draw a sub-expression, collapse it to its named quantities "
        "(--collapse), use Tensors (one node per operation), or raise the limit"
    )


def _number(x: Any) -> float | None:
    """`x` as a float when it is one number (a float or a 0-d/size-1 array), else None."""
    if x is None:
        return None
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        return None
    return float(a.reshape(())) if a.size == 1 and a.ndim == 0 else None


@dataclass
class GraphNode:
    """One node: its place in `Graph.nodes`, what made it, and its numbers."""

    index: int
    node: Any
    op: str
    name: str | None
    role: str | None
    value: Any  # a float, or an array for tensors
    grad: Any  # None before any backward()
    edges: list[tuple[int, float | None]] = field(default_factory=list)  # (parent index, local)

    @property
    def is_leaf(self) -> bool:
        return not self.edges

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.value))


@dataclass
class Graph:
    """Nodes parents first (the root last) and a made-up label for each unnamed node."""

    nodes: list[GraphNode]
    index: dict[int, int]  # id(engine node) -> index

    @property
    def root(self) -> GraphNode:
        return self.nodes[-1]

    def of(self, node: Any) -> GraphNode:
        return self.nodes[self.index[id(node)]]

    def children(self) -> list[list[int]]:
        kids: list[list[int]] = [[] for _ in self.nodes]
        for n in self.nodes:
            for p, _ in n.edges:
                kids[p].append(n.index)
        return kids

    def labels(self) -> list[str]:
        """Each node's name, or a short expression for unnamed ones: `(a+b)`, `2`, `#5`."""
        out: list[str] = []
        for n in self.nodes:
            if n.name:
                out.append(str(n.name))
            elif n.is_leaf:
                v = _number(n.value)
                out.append(fmt(v, "g") if n.role == "const" and v is not None else f"#{n.index}")
            else:
                args = [out[p] for p, _ in n.edges]
                if len(args) == 2 and n.op in ("+", "-", "*", "/", "**"):
                    text = f"({args[0]}{n.op}{args[1]})"
                elif n.op.startswith("**") and len(args) == 1:
                    text = f"{args[0]}^{n.op[2:]}"
                elif len(args) == 1 and args[0].startswith("("):  # already "(a+b)"
                    text = f"{n.op}{args[0]}"
                else:
                    text = f"{n.op}({', '.join(args)})"
                short = len(text) <= MAX_EXPRESSION and "#" not in text
                out.append(text if short else f"#{n.index}")
        return out


def _role(node: Any, op: str, is_leaf: bool) -> str | None:
    role = getattr(node, "role", None)
    if isinstance(role, str):
        return role
    if is_leaf:
        if op in LEAF_ROLES:
            return op
        return "param" if getattr(node, "requires_grad", False) else "input"
    return None


def read_graph(root: Any, max_nodes: int | None = DEFAULT_MAX_NODES) -> Graph:
    """Every node `root` was computed from, parents first; refuse more than `max_nodes`."""
    if not hasattr(root, "parents") and not hasattr(root, "_parents"):
        raise TypeError(
            f"expected a Value or a Tensor, got {type(root).__name__} {root!r:.40}; "
            "pass the result of a computation, e.g. draw(loss)"
        )
    order = topological_order(root)
    if max_nodes is not None and len(order) > max_nodes:
        raise too_large(len(order), max_nodes)
    index = {id(n): i for i, n in enumerate(order)}
    nodes = []
    for i, n in enumerate(order):
        if hasattr(n, "edges"):
            pairs = [(p, _number(local)) for p, local in n.edges()]
        else:
            pairs = [(p, None) for p in getattr(n, "parents", ())]
        op = str(getattr(n, "op", "?"))
        nodes.append(
            GraphNode(
                index=i,
                node=n,
                op=op,
                name=getattr(n, "name", None),
                role=_role(n, op, not pairs),
                value=n.data,
                grad=getattr(n, "grad", None),
                edges=[(index[id(p)], local) for p, local in pairs],
            )
        )
    return Graph(nodes, index)


def _plain(x: Any) -> Any:
    """A number or nested lists of numbers, NaN and infinity as None (JSON null)."""
    if x is None:
        return None
    v = _number(x)
    if v is not None and np.ndim(x) == 0:
        return v if math.isfinite(v) else None
    return finite_list(np.asarray(x, dtype=float))


def graph_to_dict(root: Any, max_nodes: int | None = 100_000) -> dict[str, Any]:
    """The graph of `root` as JSON-ready data (layout in the module docstring)."""
    return to_dict(read_graph(root, max_nodes))


def to_dict(g: Graph) -> dict[str, Any]:
    return {
        "root": g.root.index,
        "nodes": [
            {
                "id": n.index,
                "op": n.op,
                "name": n.name,
                "role": n.role,
                "value": _plain(n.value),
                "grad": _plain(n.grad),
                "shape": list(n.shape),
            }
            for n in g.nodes
        ],
        "edges": [
            {"source": p, "target": n.index, "local": _plain(local)}
            for n in g.nodes
            for p, local in n.edges
        ],
    }
