"""The backward-pass stepper in a real headless Chromium: after the last step, the page's own
sums show every gradient equal to the engine's. Skipped when Chromium is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tinygrad_bp import Tensor, Value
from tinygrad_bp.slides.twolayer import TwoLayerNet
from tinygrad_bp.views.draw import draw
from tinygrad_bp.views.stepper import steps

from .test_views_geometry import random_graph

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


def dump_dom(page, tmp_path, fragment: str = "#end") -> str:
    """The page's DOM after its script ran, as headless Chromium sees it (no network)."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def shown_grads(dom: str) -> dict[int, float]:
    cells = re.findall(r'data-node="(\d+)" data-grad="([^"]*)"', dom)
    return {int(i): float(g) for i, g in cells if g}


@needs_chromium
def test_slides_stepper_ends_with_the_engines_gradients(tmp_path):
    net = TwoLayerNet.random(2, 3, 1, seed=0)
    g = net.value_graph([0.5, -0.3], [0.8])
    g.E.backward()
    drawing = draw(g.E, highlight="w11")
    page = tmp_path / "stepper.html"
    drawing.save(page, quiet=True)
    html = page.read_text()
    assert (
        "http://"
        not in html.replace('xmlns="http://www.w3.org', "").replace(
            "http://www.w3.org/1999/xlink", ""
        )
        and "<script src" not in html
    )  # self-contained
    dom = dump_dom(page, tmp_path)
    grads = shown_grads(dom)
    order = drawing.graph.nodes
    params = {n.index: n for n in order if n.role == "param"}
    assert len(params) == 13
    for i, n in params.items():
        assert grads[i] == pytest.approx(n.grad, rel=1e-12, abs=1e-15), n.name
    total = len(steps(drawing.graph))
    assert f"step {total} of {total}" in dom and "every gradient is filled in" in dom


@needs_chromium
def test_random_graph_stepper_and_first_step(tmp_path):
    root = random_graph(40, seed=3)
    drawing = draw(root)
    page = tmp_path / "s.html"
    page.write_text(drawing.to_html())
    grads = shown_grads(dump_dom(page, tmp_path))
    for n in drawing.graph.nodes:
        assert grads[n.index] == pytest.approx(n.grad, rel=1e-10, abs=1e-12)
    start = dump_dom(page, tmp_path, "#step=0")
    assert shown_grads(start) == {} and "step 0 of" in start


def test_steps_forward_then_one_per_edge():
    a, b = Value(2.0, "a"), Value(1.0, "b")
    e = (a + b) * (b + 1)
    graph = draw(e).graph
    kinds = [s["kind"] for s in steps(graph)]
    assert kinds == ["forward"] * 3 + ["seed"] + ["backward"] * 6
    with pytest.raises(ValueError, match="Jacobian"):
        draw((Tensor(np.ones(2), requires_grad=True) * 2).sum()).to_html()
