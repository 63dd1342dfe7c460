"""The pictures are readable: no two texts overlap, every edge number sits on its own edge,
and the slides' graph fits 1200 px at a legible size. Checked on the SVG itself, rendered
with the system `dot` and with the WebAssembly Graphviz."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tinygrad_bp import Value
from tinygrad_bp.slides.twolayer import TwoLayerNet
from tinygrad_bp.views.draw import draw, draw_network

from . import svggeom as G
from .test_draw import backend  # noqa: F401  (the fixture: system dot, or the WebAssembly build)

pytestmark = pytest.mark.usefixtures("backend")  # every test runs with both renderers


def slides_graph(sizes):
    net = TwoLayerNet.random(*sizes, seed=0)
    rng = np.random.default_rng(1)
    g = net.value_graph(rng.uniform(-1, 1, sizes[0]), rng.uniform(-1, 1, sizes[2]))
    g.E.backward()
    return net, g


def random_graph(n_nodes: int, seed: int) -> Value:
    """A random scalar expression of about `n_nodes` nodes with shared sub-expressions."""
    rnd = random.Random(seed)
    pool = [Value(rnd.uniform(-1, 1), f"p{k}") for k in range(6)]
    while len(pool) < n_nodes:
        a, b = rnd.choice(pool[-8:]), rnd.choice(pool)
        pool.append(rnd.choice([a + b, a * b, a - b, a.tanh(), a.sigmoid()]))
    root = pool[-1]
    for extra in pool[-8:-1]:
        root = root + extra
    root.backward()
    return root


def check_readable(svg: str) -> None:
    root = G.parse(svg)
    assert G.overlapping_texts(root) == []
    assert G.misplaced_labels(root) == []


def test_slides_graph_fits_1200_px_at_a_legible_size():
    _, g = slides_graph((2, 3, 1))
    svg = draw(g.E, collapse=True, highlight="w11").pipe("svg").decode()
    width, _ = G.size_px(svg)
    assert width <= 1200
    assert 11 * G.scale(svg) * 96 / 72 >= 12  # node text at least 12 px on the page
    check_readable(svg)


@pytest.mark.parametrize("sizes", [(2, 3, 1), (4, 5, 3)])
@pytest.mark.parametrize("collapse", [True, False])
def test_slides_graphs_are_readable(sizes, collapse):
    _, g = slides_graph(sizes)
    check_readable(draw(g.E, collapse=collapse, highlight="w11", max_nodes=2000).pipe().decode())


@pytest.mark.parametrize("seed", [0, 1])
def test_random_graph_of_60_nodes_is_readable(seed):
    root = random_graph(60, seed)
    check_readable(draw(root).pipe("svg").decode())


@pytest.mark.parametrize("sizes", [(2, 3, 1), (4, 5, 3), (10, 10, 10)])
def test_network_views_are_readable(sizes):
    net, g = slides_graph(sizes)
    grads = {name: p.grad for name, p in g.params.items()}
    for show in ("weights", "grads"):
        check_readable(draw_network(net, grads=grads, show=show).pipe("svg").decode())


def test_neurons_are_stacked_in_their_numbering_order():
    _, g = slides_graph((2, 3, 1))
    root = G.parse(draw(g.E, collapse=True).pipe("svg").decode())
    y = {text.split()[-1]: box[1] for text, box in G.texts(root) if text.startswith("+ v")}
    assert y["v1"] < y["v2"] < y["v3"]  # SVG y grows downwards: v1 on top
