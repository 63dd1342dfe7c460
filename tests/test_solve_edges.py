"""Worked solutions at the edges of float64: a saturated sigmoid output under bce (y rounds
to 1, ln(1 - y) to ln 0) and a softmax of v = (800, 0) (e^800 overflows) are finite
numbers, solved as check judges them; the output's slope f'(40) is not written as 0."""

from __future__ import annotations

import json
import math

import pytest

from tests.teachkit import run_cli

CASE = """
[network]
eta = 0.5
loss = "{loss}"

[[layer]]
W = {W}
b = {b}
activation = "{act}"

[[data]]
x = {x}
d = {d}
"""


def _solve_json(tmp_path, **fields) -> dict:
    path = tmp_path / "edge.toml"
    path.write_text(CASE.format(**fields))
    r = run_cli("solve", str(path), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["values"]


@pytest.mark.parametrize("w, d", [(40.0, 0.0), (40.0, 0.3), (-50.0, 1.0), (700.0, 0.0)])
def test_a_saturated_sigmoid_output_under_bce_is_solved(tmp_path, torch, w, d):
    # PyTorch's stable binary_cross_entropy_with_logits: E and dE/dw = (sigmoid(v) - d) x
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    E = torch.nn.functional.binary_cross_entropy_with_logits(
        wt * 1.0, torch.tensor(d, dtype=torch.float64)
    )
    E.backward()
    got = _solve_json(
        tmp_path, loss="bce", W=f"[[{w!r}]]", b="[0.0]", act="sigmoid", x="[1.0]", d=f"[{d!r}]"
    )
    assert got["E"] == pytest.approx(E.item(), rel=1e-13)
    assert got["dE/dw11"] == pytest.approx(wt.grad.item(), rel=1e-13, abs=1e-300)
    assert got["delta1"] == pytest.approx(-wt.grad.item(), rel=1e-13, abs=1e-300)
    # f'(v) = sigmoid(v) sigmoid(-v) = e^-|v| / (1 + e^-|v|)^2, not y (1 - y) = 0
    z = math.exp(-abs(w))
    assert got["f'(v1)"] == pytest.approx(z / (1 + z) ** 2, rel=1e-13)


def test_a_softmax_of_800_is_solved(tmp_path, torch):
    # v = (800, 0) = W x with x = (1, 1); torch's cross_entropy: E = 800, dE/dv = softmax - d
    W = torch.tensor([[400.0, 400.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    v = W @ torch.ones(2, dtype=torch.float64)
    E = torch.nn.functional.cross_entropy(v[None], torch.tensor([1]))
    E.backward()
    got = _solve_json(
        tmp_path,
        loss="softmax_ce",
        W="[[400.0, 400.0], [0.0, 0.0]]",
        b="[0.0, 0.0]",
        act="linear",
        x="[1.0, 1.0]",
        d="[0.0, 1.0]",
    )
    assert got["E"] == pytest.approx(E.item(), rel=1e-15)
    assert got["y1"] == 1.0 and got["y2"] == pytest.approx(math.exp(-800), abs=1e-300)
    assert got["dE/dw11"] == pytest.approx(W.grad[0, 0].item(), rel=1e-15)
    assert got["dE/dw21"] == pytest.approx(W.grad[1, 0].item(), rel=1e-15)


def test_a_dead_relu_stops_an_overflowing_sum(tmp_path):
    # v1 = -1: relu is dead, delta1 = f'(v1) (w21 delta2) = 0 exactly (E does not depend on
    # v1 here), although w21 delta2 = 1e300 * 1e150 overflows; E = 1/2 (1e150)^2 is finite
    path = tmp_path / "dead.toml"
    path.write_text(
        '[network]\neta = 0.5\n\n[[layer]]\nW = [[1.0]]\nb = [-2.0]\nactivation = "relu"\n\n'
        '[[layer]]\nW = [[1e300]]\nb = [0.0]\nactivation = "linear"\n\n'
        "[[data]]\nx = [1.0]\nd = [1e150]\n"
    )
    r = run_cli("solve", str(path), "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["values"]
    assert got["delta1"] == 0.0 and got["dE/dw11"] == 0.0 and got["delta2"] == 1e150
