"""`tinygrad-bp draw`: pictures of the slides' network, and `check --draw` for a case file."""

from __future__ import annotations

import argparse
import sys

from ..views.draw import DEFAULT_MAX_NODES, GraphTooLargeError, draw, draw_network
from ..views.explain import TooManyPathsError, explain
from ..views.render import RenderError
from .args import add_network_options, slides_example


def add_parser(sub) -> None:
    p = sub.add_parser(
        "draw",
        help="draw the slides' network: its computation graph or its neurons",
        description="Render the slides' 2-layer network (seeded random weights, one example, "
        "after one backward pass) with Graphviz. The graph view shows every node's value and "
        "gradient and every edge's local derivative; the network view shows neurons and "
        "weights. The format comes from the extension of -o (.svg .png .pdf .dot); without "
        "Graphviz's dot only SVG and DOT can be made, and PNG/PDF requests write SVG instead.",
    )
    add_network_options(p)
    p.add_argument(
        "--view",
        choices=("graph", "network"),
        default="graph",
        help="graph: the computation graph (default); network: neurons and weights",
    )
    p.add_argument(
        "--highlight",
        metavar="PARAM",
        help="mark every path from E to this parameter (e.g. w11) and state the sum",
    )
    p.add_argument(
        "--collapse",
        action="store_true",
        help="graph view: draw only named quantities and parameters",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="also print the chain rule for --highlight (w11 if none is given)",
    )
    p.add_argument(
        "--explain-format",
        choices=("text", "markdown", "latex"),
        default="text",
        help="format of --explain (default text)",
    )
    p.add_argument(
        "--max-nodes",
        type=int,
        default=DEFAULT_MAX_NODES,
        help=f"refuse graphs with more nodes than this (default {DEFAULT_MAX_NODES})",
    )
    p.add_argument(
        "-o",
        "--out",
        default=None,
        metavar="FILE",
        help="output file (default graph.svg or network.svg)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    net, x, d = slides_example(args)
    graph = net.value_graph(x, d)
    graph.E.backward()
    out = args.out or f"{args.view}.svg"
    try:
        if args.view == "network":
            if args.highlight or args.collapse:
                print(
                    "tinygrad-bp draw: --highlight and --collapse go with --view graph",
                    file=sys.stderr,
                )
                return 2
            grads = {name: p.grad for name, p in graph.params.items()}
            drawing = draw_network(net, grads=grads)
        else:
            if args.highlight and args.highlight not in graph.params:
                print(
                    f"tinygrad-bp draw: no parameter named {args.highlight!r}; this network "
                    f"has {', '.join(graph.params)}",
                    file=sys.stderr,
                )
                return 2
            drawing = draw(
                graph.E, highlight=args.highlight, collapse=args.collapse, max_nodes=args.max_nodes
            )
    except GraphTooLargeError as exc:
        print(f"tinygrad-bp draw: {exc}", file=sys.stderr)
        return 2
    status = save_drawing(drawing, out, "draw")
    if status:
        return status
    if args.explain:
        try:
            print(explain(graph.E, args.highlight or "w11", fmt=args.explain_format))
        except TooManyPathsError as exc:
            print(f"tinygrad-bp draw: {exc}", file=sys.stderr)
            return 2
    return 0


def render_case(case, path: str) -> int:
    """`check --draw FILE`: the case's computation graph, after backward, to FILE."""
    E = case.value_loss()
    E.backward()
    try:
        drawing = draw(E)
    except GraphTooLargeError as exc:
        print(f"tinygrad-bp check: {exc}", file=sys.stderr)
        return 2
    return save_drawing(drawing, path, "check")


def save_drawing(drawing, path: str, command: str) -> int:
    """Write the drawing; report where (and any fallback note); 2 when it cannot be written."""
    try:
        written = drawing.save(path)
    except RenderError as exc:
        print(f"tinygrad-bp {command}: {exc}", file=sys.stderr)
        return 2
    if drawing.note:
        print(f"note: {drawing.note}", file=sys.stderr)
    print(f"wrote {written}")
    return 0
