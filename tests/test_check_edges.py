"""Where E is delicate: at a kink of relu or leaky_relu (no derivative: finite differences are
not compared) and at a saturated sigmoid output under bce (finite, though y rounds to 1)."""

from __future__ import annotations

import json
import math

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


def _check_json(tmp_path, capsys, text: str) -> dict:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    main(["check", str(path), "--json", "--numbers"])
    return json.loads(capsys.readouterr().out)


def test_a_subnormal_sigmoid_output_under_bce_keeps_finite_rules(tmp_path, capsys, torch):
    # v = 0.8915853559448181 * -800 - 0.368 = -713.6: sigmoid(v) = 1.2e-310 is subnormal,
    # y (1 - y) is not 0, and e / (y (1 - y)) overflowed to inf before * f'(v) (delta = e
    # exactly); PyTorch's stable bce-with-logits gives dE/dw = (sigmoid(v) - d) x
    w, b, x, d = 0.8915853559448181, -0.36827157194051674, -800.0, 0.42809457402626705
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    E = torch.nn.functional.binary_cross_entropy_with_logits(
        wt * x + bt, torch.tensor(d, dtype=torch.float64)
    )
    E.backward()
    out = _check_json(
        tmp_path,
        capsys,
        f'[network]\neta = 0.5\nloss = "bce"\n\n[[layer]]\nW = [[{w!r}]]\nb = [{b!r}]\n'
        f'activation = "sigmoid"\n\n[[data]]\nx = [{x!r}]\nd = [{d!r}]\n',
    )
    assert out["agree"] is True
    assert out["forward"]["E"] == pytest.approx(E.item(), rel=1e-13)
    assert out["backward"]["delta1"] == pytest.approx(-bt.grad.item(), rel=1e-13)
    for name, want in (("w11", wt.grad.item()), ("b1", bt.grad.item())):
        for source in ("rules", "value_engine"):
            assert out["parameters"][name]["gradient"][source] == pytest.approx(want, rel=1e-13)


def test_softmax_ce_with_all_targets_zero_has_zero_loss_and_gradients(tmp_path, capsys):
    # E = -sum_j d_j ln y_j = 0 for d = (0, 0), whatever y; dE/dv_j = y_j sum_k d_k - d_j = 0
    out = _check_json(
        tmp_path,
        capsys,
        '[network]\neta = 0.5\nloss = "softmax_ce"\n\n[[layer]]\nW = [[1.5, -2.0], [0.25, 3.0]]\n'
        'b = [0.5, -0.5]\nactivation = "linear"\n\n[[data]]\nx = [1.0, 2.0]\nd = [0.0, 0.0]\n',
    )
    assert out["agree"] is True and out["forward"]["E"] == 0.0
    for row in out["parameters"].values():
        assert row["gradient"]["rules"] == 0.0 and row["gradient"]["value_engine"] == 0.0


def test_a_dead_relu_stops_an_overflowing_upstream_sum_in_the_rules(tmp_path, capsys):
    # hidden relu neuron 1 has v1 = -1 (dead): E does not depend on w11 or b1 near here, so
    # dE/dw11 = dE/db1 = 0 exactly, although sum_j w_j1 delta_j = 1e300 * 1e300 overflows
    # (delta2 = e2 = 1e300 - 0). The Value engine passes no gradient through a dead relu.
    out = _check_json(
        tmp_path,
        capsys,
        '[network]\neta = 0.5\n\n[[layer]]\nW = [[1.0]]\nb = [-2.0]\nactivation = "relu"\n\n'
        '[[layer]]\nW = [[1e300]]\nb = [0.0]\nactivation = "linear"\n\n'
        "[[data]]\nx = [1.0]\nd = [1e300]\n",
    )
    assert out["agree"] is True
    for name in ("w11", "b1"):
        grads = out["parameters"][name]["gradient"]
        assert grads["rules"] == 0.0 and grads["value_engine"] == 0.0


def test_a_gradient_that_is_nan_in_one_source_never_agrees():
    from tinygrad_bp.slides.compare import ParameterRow

    # 1e-18 and NaN: their difference is no number, not a difference below the tolerance
    row = ParameterRow("w11", 1.0, {"rules": 1e-18, "value_engine": math.nan, "numeric": 0.0}, 0, 1)
    assert row.agree is False
    row = ParameterRow("w11", 1.0, {"rules": math.nan, "value_engine": 1e-18, "numeric": 0.0}, 0, 1)
    assert row.agree is False


def test_bce_leaves_out_the_log_of_a_term_whose_weight_is_zero(tmp_path, capsys):
    # A tanh output y = tanh(-0.5) < 0 with d = 0: E = -ln(1 - y) needs no ln y (ln of a
    # negative number refused by the Value engine); dE/dw = (1 - y^2) / (1 - y) x = (1 + y) x
    y = math.tanh(-0.5)
    out = _check_json(
        tmp_path,
        capsys,
        '[network]\neta = 0.5\nloss = "bce"\n\n[[layer]]\nW = [[-0.5]]\nb = [0.0]\n'
        'activation = "tanh"\n\n[[data]]\nx = [1.0]\nd = [0.0]\n',
    )
    assert out["agree"] is True
    assert out["forward"]["E"] == pytest.approx(-math.log1p(-y), rel=1e-15)
    grads = out["parameters"]["w11"]["gradient"]
    assert grads["value_engine"] == pytest.approx(1 + y, rel=1e-14)
    assert grads["rules"] == pytest.approx(1 + y, rel=1e-14)


TINY = """
[network]
eta = {eta}

[[layer]]
W = [[1.0]]
b = [0.0]
activation = "linear"

[[data]]
x = [{x}]
d = [0.0]

[claims]
{claims}
"""


def test_a_claim_of_a_tiny_true_number_is_judged_not_refused(tmp_path, capsys):
    # y = x = 1, d = 0: dE/dw11 = (y - d) x = 1, Delta_w11 = -eta = -1e-300, which the
    # person can only write with an exponent; subnormal 5e-324 (eta) too
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(eta="1e-300", x="1.0", claims="Delta_w11 = -1e-300\nE = 0.5"))
    assert main(["check", str(path), "--json"]) == 0
    assert [c["status"] for c in json.loads(capsys.readouterr().out)["claims"]] == ["ok", "ok"]
    path.write_text(TINY.format(eta="5e-324", x="1.0", claims="Delta_w11 = -5e-324"))
    assert main(["check", str(path), "--json"]) == 0


def test_a_claim_below_the_smallest_float_is_refused_not_read_as_zero(tmp_path, capsys):
    # x = 1e-300: dE/dw11 = y x = 1e-600, 0 in float64; "3e-600" would be read as 0
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(eta="0.5", x="1e-300", claims='"dE/dw11" = 3e-600'))
    assert main(["check", str(path), "--json"]) == 2
    assert "below the smallest float" in capsys.readouterr().err


def test_a_claim_of_zero_for_a_tiny_true_number_is_ok(tmp_path, capsys):
    # "0" is written to a unit of 1: E = 1/2 (1e-300)^2 = 0 in float64 and
    # dE/dw11 = 1e-600 = 0; v1 = 1e-300 against 0 is within the noise of an answer of 0
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(eta="0.5", x="1e-300", claims="E = 0\nv1 = 0"))
    assert main(["check", str(path), "--json"]) == 0


def test_a_pre_activation_near_a_kink_is_not_said_to_be_at_it(tmp_path, capsys):
    # v1 = 0.5 - 0.25 * 2 + 1e-9 = 1e-9 > 0: relu has its derivative 1 there (E is
    # differentiable), but a finite-difference step of 1e-6 crosses the kink
    out = _check_json(
        tmp_path,
        capsys,
        '[network]\neta = 0.5\n\n[[layer]]\nW = [[0.5, -0.25]]\nb = [1e-9]\nactivation = "relu"\n'
        "\n[[data]]\nx = [1.0, 2.0]\nd = [1.0]\n",
    )
    assert out["agree"] is True and len(out["kinks"]) == 1
    assert out["kinks"][0].startswith("v1 = 1e-09 is near the kink of relu")
    assert "no derivative" not in out["kinks"][0]
    assert out["parameters"]["w11"]["gradient"]["rules"] == -(1.0 - 1e-9) * 1.0


def test_a_claim_of_an_overflowing_quantity_says_it_overflows(tmp_path, capsys):
    # a sigmoid output under bce is never inf any more; Delta_w11 = -eta dE/dw11 with
    # eta = 1e300 and dE/dw11 = (y - d) x = 1e10 is 1e310: beyond float64
    path = tmp_path / "overflow.toml"
    path.write_text(
        '[network]\neta = 1e300\nloss = "bce"\n\n[[layer]]\nW = [[1.0]]\nb = [0.0]\n'
        'activation = "sigmoid"\n\n[[data]]\nx = [1e10]\nd = [0.0]\n\n[claims]\nDelta_w11 = 1\n'
    )
    assert main(["check", str(path), "--json"]) == 1
    claim = json.loads(capsys.readouterr().out)["claims"][0]
    assert claim["status"] == "wrong" and claim["true"] is None
    assert "overflows float64" in claim["explanation"]
    assert "saturated" not in claim["explanation"]


def test_finite_differences_of_an_overflowing_loss_are_not_compared(tmp_path, capsys):
    # y = 1e200, d = 0: E = 1/2 (1e200)^2 = 5e399 overflows float64 (a true overflow), while
    # dE/dw11 = (y - d) x = 1e200 and dE/db1 = 1e200 are finite; E(w +- h) are both inf, so
    # finite differences give inf - inf: no number to compare, and no disagreement
    out = _check_json(
        tmp_path,
        capsys,
        '[network]\neta = 0.5\n[[layer]]\nW = [[1e200]]\nb = [0.0]\nactivation = "linear"\n'
        "[[data]]\nx = [1.0]\nd = [0.0]\n",
    )
    assert out["forward"]["E"] is None and out["agree"] is True
    for name in ("w11", "b1"):
        row = out["parameters"][name]
        assert row["gradient"]["rules"] == 1e200 and row["gradient"]["value_engine"] == 1e200
        assert row["numeric_compared"] is False
    path = tmp_path / "edge.toml"
    assert main(["check", str(path)]) == 0
    assert "finite differences are not compared: E overflows float64" in capsys.readouterr().out


@pytest.mark.parametrize("w, x", [(1e10, 1e-3), (-3e12, 1e-3), (1e200, 1e-150)])
def test_finite_differences_of_a_large_weight_take_a_step_it_can_hold(tmp_path, capsys, w, x):
    # y = w x, d = 0: E = 1/2 y^2, dE/dw = y x (closed form). A step of 1e-6 on w = 1e10
    # rounds away (ulp 1.9e-6): the step is relative, 1e-6 |w|, and the quotient divides
    # by the step float64 took
    out = _check_json(
        tmp_path,
        capsys,
        f'[network]\neta = 0.5\n[[layer]]\nW = [[{w!r}]]\nb = [0.0]\nactivation = "linear"\n'
        f"[[data]]\nx = [{x!r}]\nd = [0.0]\n",
    )
    assert out["agree"] is True
    grads = out["parameters"]["w11"]["gradient"]
    assert grads["rules"] == pytest.approx(w * x * x, rel=1e-15)
    assert grads["numeric"] == pytest.approx(w * x * x, rel=1e-6)


def test_when_only_finite_differences_disagree_the_verdict_says_so(tmp_path, capsys):
    # v3 = w31 y_h1 - 800 with y_h1 = 1.5e10: the rules and autodiff give dE/dw31 =
    # -2 e3 sigmoid'(-800) y_h1 = 0 (e^-800 underflows), while a step of 1e-6 on w31 moves
    # v3 by 1.5e4, across the whole sigmoid: finite differences alone are off
    path = tmp_path / "coarse.toml"
    path.write_text(
        '[network]\neta = 0.5\nloss = "sse"\n\n[[layer]]\nW = [[5e-324, -1.5438175937735221]]\n'
        'b = [0.8412483142369855]\nactivation = "leaky_relu(1e300)"\n\n[[layer]]\n'
        'W = [[-40.0], [1e-300]]\nb = [-1.1109396880284095, -800.0]\nactivation = "sigmoid"\n\n'
        "[[data]]\nx = [0.26129985963372615, -10000000000.0]\nd = [0.0, 0.2975347376991745]\n"
    )
    assert main(["check", str(path), "--json", "--numbers"]) == 1
    row = json.loads(capsys.readouterr().out)["parameters"]["w31"]
    assert row["gradient"]["rules"] == 0.0 and row["gradient"]["value_engine"] == 0.0
    assert row["agree"] is False
    assert main(["check", str(path)]) == 1
    assert "DISAGREE: only finite differences" in capsys.readouterr().out


@pytest.mark.parametrize("act, w", [("sigmoid", 3e-5), ("tanh", 1.5e-5), ("sigmoid", -3e-5)])
def test_a_right_claim_at_a_saturating_output_is_ok(tmp_path, capsys, act, w):
    # v = w x = +-30 (tanh: 15): f'(v) read from y = f(v) keeps 4 digits or fewer there,
    # which judged the exact dE/dw "rounding"; the exact value (mpmath, 50 digits) is
    # dE/dw = -(d - y) f'(v) x for E = (d - y)^2 / 2
    mpmath = pytest.importorskip("mpmath")
    x, d = 1e6, 0.0
    with mpmath.workdps(50):
        v = mpmath.mpf(w) * mpmath.mpf(x)
        if act == "sigmoid":
            y = 1 / (1 + mpmath.exp(-v))
            slope = y * (1 / (1 + mpmath.exp(v)))
        else:
            y, slope = mpmath.tanh(v), 1 / mpmath.cosh(v) ** 2
        want = float(-(d - y) * slope * x)
    out = _check_json(
        tmp_path,
        capsys,
        f'[network]\neta = 0.5\n\n[[layer]]\nW = [[{w!r}]]\nb = [0.0]\nactivation = "{act}"\n\n'
        f'[[data]]\nx = [{x!r}]\nd = [{d!r}]\n\n[claims]\n"dE/dw11" = {want!r}\n',
    )
    claim = out["claims"][0]
    assert claim["status"] == "ok", claim
    assert claim["true"] == pytest.approx(want, rel=1e-13)
    grads = out["parameters"]["w11"]["gradient"]
    assert grads["value_engine"] == pytest.approx(want, rel=1e-13)
    assert grads["rules"] == pytest.approx(want, rel=1e-13)


@pytest.mark.parametrize("v", [0.5, 24.0, 30.0, -30.0])
def test_a_bce_sigmoid_output_delta_is_d_minus_y_exactly(tmp_path, capsys, v):
    # delta = e f'(v) / (y (1 - y)) = d - y for a sigmoid output: f'(v) read from v must
    # still cancel against y (1 - y), which keeps 4 digits at v = 24 (mpmath, 50 digits)
    mpmath = pytest.importorskip("mpmath")
    d = 0.25
    with mpmath.workdps(50):
        y = 1 / (1 + mpmath.exp(-mpmath.mpf(v)))
        want_delta, want_grad = float(d - y), float(-(d - y) * 2.0)
    out = _check_json(
        tmp_path,
        capsys,
        f'[network]\neta = 0.5\nloss = "bce"\n\n[[layer]]\nW = [[{v / 2.0!r}]]\nb = [0.0]\n'
        f'activation = "sigmoid"\n\n[[data]]\nx = [2.0]\nd = [{d!r}]\n',
    )
    assert out["backward"]["delta1"] == pytest.approx(want_delta, rel=1e-15)
    grads = out["parameters"]["w11"]["gradient"]
    assert grads["rules"] == pytest.approx(want_grad, rel=1e-15)
    assert grads["value_engine"] == pytest.approx(want_grad, rel=1e-14)
