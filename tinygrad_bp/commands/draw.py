"""`tinygrad-bp draw`: pictures of the slides' network, and `check --draw` for a case file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..formatting import dumps
from .args import add_network_options, positive, slides_example

FORMATS = ("svg", "png", "pdf", "dot", "json", "html")
DEFAULT_MAX_NODES = 500  # the same limit as views.graph.DEFAULT_MAX_NODES, kept import-free


def add_parser(sub) -> None:
    p = sub.add_parser(
        "draw",
        help="draw the slides' network: its computation graph, its neurons, or a stepper page",
        description="Draw the slides' 2-layer network (seeded random weights, one example, "
        "after one backward pass). The graph view shows every node's operation, value and "
        "gradient and every edge's local derivative; the network view shows neurons and "
        "weights. Files go to the folder --out-dir (default out/) unless -o names one; the "
        "format comes from --format or the extension of -o (.svg .png .pdf .dot .json .html). "
        "HTML is a self-contained page stepping through the forward and backward pass.",
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
        "--full",
        action="store_true",
        help="graph view: draw every operation (default: only the named quantities, "
        "parameters and inputs, each edge carrying the derivative through the rest)",
    )
    p.add_argument("--collapse", action="store_true", help="the default view (kept for scripts)")
    p.add_argument(
        "--show",
        choices=("weights", "grads", "updates"),
        default="weights",
        help="network view: what the edges carry (default weights; updates = -eta dE/dw)",
    )
    p.add_argument(
        "--eta",
        type=positive(float),
        default=0.1,
        help="learning rate of --show updates (default 0.1)",
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
        type=positive(int),
        default=DEFAULT_MAX_NODES,
        help=f"refuse graphs with more nodes than this (default {DEFAULT_MAX_NODES})",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="file format (default: from the extension of -o, else svg)",
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        help="also write the backward-pass stepper page to FILE",
    )
    p.add_argument(
        "-o",
        "--out",
        default=None,
        metavar="FILE",
        help="output file (default OUT_DIR/slides_graph.svg, slides_network.svg, ...)",
    )
    p.add_argument(
        "--out-dir",
        default="out",
        metavar="DIR",
        help="folder for files written without -o (default out)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print what was written (and the --explain sum) as JSON",
    )
    p.set_defaults(run=run)


def estimated_nodes(sizes, full: bool) -> int:
    """About how many nodes the slides' graph will draw, known before building it."""
    n, h, o = sizes
    if full:
        return 3 * n * h + 3 * h * o + 2 * h + n + 9 * o + 2
    return 2 * n * h + 2 * h * o + 2 * h + 4 * o + 1


def _out_path(args: argparse.Namespace) -> Path:
    if args.out:
        path = Path(args.out)
        from ..views.render import format_of

        if args.format and format_of(path) != args.format:  # .gv is dot, .htm is html
            raise ValueError(
                f"-o {args.out} does not end in .{args.format}, the --format asked for; "
                "make them agree or leave one out"
            )
        return path
    stem = f"slides_{args.view}" + (f"_{args.highlight}" if args.highlight else "")
    stem += "_full" if args.full else ""
    return Path(args.out_dir) / f"{stem}.{args.format or 'svg'}"


def run(args: argparse.Namespace) -> int:
    from ..views.draw import draw, draw_network
    from ..views.explain import explain

    if args.view == "network" and (args.highlight or args.full or args.html):
        raise ValueError(
            "--highlight, --full and --html go with --view graph, got --view network; "
            "add --view graph or leave them out"
        )
    if args.full and args.collapse:
        raise ValueError(
            "--full and --collapse contradict each other (got both): give only one of them"
        )
    if args.view == "graph" and args.show != "weights":
        raise ValueError(
            f"--show {args.show} goes with --view network, got --view graph; "
            "add --view network or leave out --show"
        )
    out = _out_path(args)
    for target in (out, Path(args.html) if args.html else None):
        if target is not None and target.is_dir():  # found before anything is written
            raise ValueError(f"{target} is a folder, expected a file name; give a file name")
    if args.html and Path(args.html).suffix.lower() not in (".html", ".htm"):
        raise ValueError(
            f"--html {args.html}: the stepper is an HTML page; give a file ending in .html"
        )
    if args.view == "network" and out.suffix.lower() in (".html", ".htm", ".json"):
        raise ValueError(
            f"{out}: --view network draws a picture only (no stepper page or JSON graph); "
            "give --format or -o as svg, png, pdf or dot, or use --view graph"
        )
    size = estimated_nodes(args.sizes, args.full) if args.view == "graph" else sum(args.sizes)
    if size > args.max_nodes:
        other_view = " use --view network," if args.view == "graph" else ""
        raise ValueError(
            f"--sizes {','.join(map(str, args.sizes))} makes a picture of about {size} nodes, over "
            f"the drawing limit of {args.max_nodes}: raise --max-nodes,{other_view} "
            "or give smaller --sizes"
        )
    net, x, d = slides_example(args)
    if args.highlight and args.highlight not in net.parameter_names:
        raise ValueError(
            f"--highlight {args.highlight!r}: no such parameter; give one of this network's "
            f"{', '.join(net.parameter_names)}"
        )
    if args.view == "network":
        grads = net.tensor_gradients(x, d)
        drawing = draw_network(
            net, grads=grads, show=args.show, eta=args.eta, max_nodes=args.max_nodes
        )
        graph = None
    else:
        graph = net.value_graph(x, d)
        graph.E.backward()
        drawing = draw(
            graph.E, highlight=args.highlight, collapse=not args.full, max_nodes=args.max_nodes
        )
    written = [str(drawing.save(out, quiet=True))]
    if args.html:
        written.append(str(drawing.save(Path(args.html), quiet=True)))
    explanation = None
    if args.explain:
        if graph is None:
            graph = net.value_graph(x, d)
            graph.E.backward()
        explanation = explain(
            graph.E, args.highlight or "w11", fmt=args.explain_format, fold=True, max_nodes=None
        )
    if args.json:
        report: dict = {"wrote": written}
        if explanation is not None:
            report["explain"] = {
                "what": explanation.what,
                "total": explanation.total,
                "paths": [
                    {"nodes": p.labels, "factors": p.factors, "product": p.product}
                    for p in explanation.paths
                ],
            }
        print(dumps(report))
        return 0
    for path in written:
        print(f"wrote {path}")
    if explanation is not None:
        print(explanation)
    return 0
