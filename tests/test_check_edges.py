"""Where E is delicate: at a kink of relu or leaky_relu (no derivative: finite differences are
not compared) and at a saturated sigmoid output under bce (finite, though y rounds to 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinygrad_bp.cli import main
from tinygrad_bp.slides.compare import compare
from tinygrad_bp.slides.twolayer import TwoLayerNet

CASE = """
[network]
eta = 0.5

[[layer]]
W = [[0.5, -0.25]]
b = [0.0]
activation = "{act}"

[[layer]]
W = [[2.0]]
b = [0.5]
activation = "linear"

[[data]]
x = [1.0, 2.0]
d = [1.0]

[claims]
v1 = 0
"dE/dw11" = {dw11}
"""


def _torch_gradients(torch, act, W1, b1, W2, b2, x, d):
    """dE/dp by PyTorch, whose relu'(0) = 0 and leaky_relu'(0) = slope."""
    F = torch.nn.functional
    act = {"relu": F.relu, "leaky_relu(0.2)": lambda v: F.leaky_relu(v, 0.2)}[act]
    ps = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (W1, b1, W2, b2)]
    xt, dt = torch.tensor(x, dtype=torch.float64), torch.tensor(d, dtype=torch.float64)
    y = ps[2] @ act(ps[0] @ xt + ps[1]) + ps[3]
    (0.5 * ((dt - y) ** 2).sum()).backward()
    return [p.grad.numpy() for p in ps]


@pytest.mark.parametrize("act", ["relu", "leaky_relu(0.2)"])
def test_check_at_a_kink_agrees_with_pytorch_and_exits_0(tmp_path, capsys, torch, act):
    W1, b1, W2, b2 = [[0.5, -0.25]], [0.0], [[2.0]], [0.5]  # v1 = 0.5 - 0.5 + 0 = 0
    g = _torch_gradients(torch, act, W1, b1, W2, b2, [1.0, 2.0], [1.0])
    path = tmp_path / "kink.toml"
    path.write_text(CASE.format(act=act, dw11=float(g[0][0, 0])))
    assert main(["check", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agree"] is True and out["summary"]["ok"] == 2
    assert len(out["kinks"]) == 1 and out["kinks"][0].startswith("v1 = 0 is at the kink")
    rows = out["parameters"]
    assert rows["w11"]["gradient"]["rules"] == pytest.approx(g[0][0, 0], abs=1e-15)
    assert rows["w12"]["gradient"]["rules"] == pytest.approx(g[0][0, 1], abs=1e-15)
    assert all(not r["numeric_compared"] for r in rows.values())
    assert main(["check", str(path)]) == 0
    assert "finite differences are not compared at a kink" in capsys.readouterr().out


def test_compare_at_a_kink_agrees_with_pytorch(torch):
    # hidden neuron 2: v = 1 * 1 + (-0.5) * 2 + 0 = 0 at relu's kink
    W1 = np.array([[0.3, 0.2], [1.0, -0.5], [-0.4, 0.6]])
    b1, W2, b2 = np.array([0.1, 0.0, 0.2]), np.array([[0.7, -1.2, 0.5]]), np.array([0.05])
    x, d = np.array([1.0, 2.0]), np.array([0.4])
    result = compare(TwoLayerNet(W1, b1, W2, b2, hidden="relu"), x, d, eta=0.5)
    assert result.agree and len(result.kinks) == 1 and result.kinks[0].startswith("v2 = 0")
    g = _torch_gradients(torch, "relu", W1, b1, W2, b2, x, d)
    rules = {r.name: r.rules for r in result.rows}
    assert rules["w21"] == pytest.approx(g[0][1, 0], abs=1e-15)
    assert rules["b2"] == pytest.approx(g[1][1], abs=1e-15)


def test_away_from_a_kink_finite_differences_are_compared():
    W1 = np.array([[0.3, 0.2], [1.0, -0.4], [-0.4, 0.6]])  # v2 = 0.2
    result = compare(
        TwoLayerNet(W1, [0.1, 0.0, 0.2], [[0.7, -1.2, 0.5]], [0.05], hidden="relu"),
        np.array([1.0, 2.0]),
        np.array([0.4]),
        eta=0.5,
    )
    assert result.agree and result.kinks == []
    assert all(r.numeric_compared for r in result.rows)


def test_a_saturated_sigmoid_output_under_bce_has_its_true_finite_loss(tmp_path, capsys, torch):
    # sigmoid(40) rounds to 1.0, so ln(1 - y) was ln 0 and E "inf"; PyTorch's stable
    # binary_cross_entropy_with_logits gives E = 40 + ln(1 + e^-40) and dE/dw = sigmoid(40)
    w = torch.tensor(40.0, dtype=torch.float64, requires_grad=True)
    E = torch.nn.functional.binary_cross_entropy_with_logits(w * 1.0, torch.tensor(0.0).double())
    E.backward()
    path = tmp_path / "saturated.toml"
    path.write_text(
        '[network]\neta = 0.5\nloss = "bce"\n\n[[layer]]\nW = [[40.0]]\nb = [0.0]\n'
        'activation = "sigmoid"\n\n[[data]]\nx = [1.0]\nd = [0.0]\n\n'
        f'[claims]\nE = {E.item()!r}\n"dE/dw11" = {w.grad.item()!r}\ndelta1 = -1\n'
    )
    main(["check", str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    got = {c["quantity"]: c for c in out["claims"]}
    assert got["E"]["status"] == "ok" and got["E"]["true"] == pytest.approx(E.item(), rel=1e-15)
    assert got["dE/dw11"]["true"] == pytest.approx(w.grad.item(), rel=1e-15)
    assert got["delta1"]["status"] == "ok"  # delta = e = d - y = -1


@pytest.mark.parametrize("d, v_out", [(0.0, 80.0), (1.0, -50.0), (0.3, 40.0), (1.0, -800.0)])
def test_every_gradient_column_stays_finite_at_a_saturated_bce_output(tmp_path, capsys, d, v_out):
    # A 1-1-1 net: hidden sigmoid h = sigmoid(0.5), output v = w2 h + b2 set to v_out, so
    # y = sigmoid(v) rounds to 1 or 0. With z = sigmoid(v) exactly, dE/dv = z - d, so
    # dE/dw2 = (z - d) h, dE/db2 = z - d, dE/dw1 = (z - d) w2 h (1 - h) x, dE/db1 likewise
    # without x (closed forms, independent of the engine's graph).
    x, w1, b1, w2 = 1.0, 0.25, 0.25, 2.0
    h = 1.0 / (1.0 + np.exp(-(w1 * x + b1)))
    b2 = float(v_out - w2 * h)
    z = 0.5 * (1.0 + np.tanh(v_out / 2.0))  # sigmoid(v) without overflow
    dv = z - d
    want = {"w11": dv * w2 * h * (1 - h) * x, "b1": dv * w2 * h * (1 - h), "w21": dv * h}
    want["b2"] = dv
    path = tmp_path / "saturated.toml"
    path.write_text(
        f'[network]\neta = 0.5\nloss = "bce"\n\n[[layer]]\nW = [[{w1!r}]]\nb = [{b1!r}]\n'
        f'activation = "sigmoid"\n\n[[layer]]\nW = [[{w2!r}]]\nb = [{b2!r}]\n'
        f'activation = "sigmoid"\n\n[[data]]\nx = [{x!r}]\nd = [{d!r}]\n'
    )
    main(["check", str(path), "--json", "--numbers"])
    out = json.loads(capsys.readouterr().out)
    assert out["agree"] is True
    for name, expected in want.items():
        grads = out["parameters"][name]["gradient"]
        assert grads["value_engine"] == pytest.approx(expected, rel=1e-12, abs=1e-300)
        assert grads["rules"] == pytest.approx(expected, rel=1e-12, abs=1e-300)
        assert grads["numeric"] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_a_softmax_output_rounded_to_zero_keeps_a_finite_loss_and_gradients(tmp_path, capsys):
    # v = (800, 0): float64 rounds softmax(v) to (1, 0) exactly, and ln y_2 to ln 0. Closed
    # form: E = ln(e^800 + e^0) - v_2 = 800 (to double precision), dE/dv = softmax(v) - d
    # = (1, -1), so dE/dw_ji = (y_j - d_j) x_i with x = (1, 1).
    path = tmp_path / "saturated_softmax.toml"
    path.write_text(
        '[network]\neta = 0.5\nloss = "softmax_ce"\n\n[[layer]]\n'
        'W = [[400.0, 400.0], [0.0, 0.0]]\nb = [0.0, 0.0]\nactivation = "linear"\n\n'
        "[[data]]\nx = [1.0, 1.0]\nd = [0.0, 1.0]\n\n[claims]\nE = 800\n"
    )
    main(["check", str(path), "--json", "--numbers"])
    out = json.loads(capsys.readouterr().out)
    assert out["agree"] is True
    assert out["forward"]["E"] == 800.0
    assert out["claims"][0]["status"] == "ok"
    want = {"w11": 1.0, "w12": 1.0, "b1": 1.0, "w21": -1.0, "w22": -1.0, "b2": -1.0}
    for name, expected in want.items():
        grads = out["parameters"][name]["gradient"]
        assert grads["value_engine"] == expected and grads["rules"] == expected
        assert grads["numeric"] == pytest.approx(expected, rel=1e-6)
