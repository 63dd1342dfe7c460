"""The closed-form rules against finite differences and autodiff; naming; the delta rule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tinygrad_bp.engine.ops import ACTIVATIONS
from tinygrad_bp.slides.rules import delta_rule, forward, four_rules, numeric_gradients
from tinygrad_bp.slides.sidebyside import train_side_by_side
from tinygrad_bp.slides.twolayer import TwoLayerNet, pair_name

COMBOS = list(itertools.product(ACTIVATIONS, ACTIVATIONS))


@pytest.mark.parametrize("hidden,output", COMBOS)
@pytest.mark.parametrize("sizes", [(2, 3, 1), (3, 4, 2), (1, 2, 3)])
def test_four_rules_match_finite_differences_and_autodiff(hidden, output, sizes):
    net = TwoLayerNet.random(*sizes, hidden, output, seed=sum(sizes))
    rng = np.random.default_rng(5)
    x, d = rng.uniform(-1, 1, sizes[0]), rng.uniform(-1, 1, sizes[2])
    rules = four_rules(net, x, d)
    numeric = numeric_gradients(net, x, d)
    autodiff = net.value_gradients(x, d)
    for name in net.parameter_names:
        assert rules[name] == pytest.approx(numeric[name], rel=1e-6, abs=1e-9), name
        assert rules[name] == pytest.approx(autodiff[name], rel=1e-12, abs=1e-15), name


def test_slides_rule_for_w11_written_out():
    """Rule (3), 2-3-1 net, linear output: dE/dw11 = -(d - y) w41 f(v1)(1 - f(v1)) x1."""
    net = TwoLayerNet.random(2, 3, 1, "sigmoid", "linear", seed=3)
    x, d = np.array([0.4, -0.7]), np.array([0.2])
    v1 = net.W1[0, 0] * x[0] + net.W1[0, 1] * x[1] + net.b1[0]
    f1 = 1 / (1 + math.exp(-v1))
    y_h = [1 / (1 + math.exp(-(net.W1[i] @ x + net.b1[i]))) for i in range(3)]
    y = sum(net.W2[0, i] * y_h[i] for i in range(3)) + net.b2[0]
    expected = -(d[0] - y) * net.W2[0, 0] * f1 * (1 - f1) * x[0]
    assert four_rules(net, x, d)["w11"] == pytest.approx(expected, rel=1e-13)
    assert forward(net, x, d)["y4"] == pytest.approx(y, rel=1e-14)


def test_slides_names_for_the_2_3_1_net():
    net = TwoLayerNet.random(2, 3, 1)
    assert net.parameter_names == [
        "w11", "w12", "w21", "w22", "w31", "w32", "b1", "b2", "b3", "w41", "w42", "w43", "b4",
    ]  # fmt: skip
    assert net.output_neurons() == [4]


def test_underscore_once_an_index_reaches_ten():
    assert pair_name("w", 12, 3) == "w12_3"
    assert pair_name("w", 3, 12) == "w3_12"
    assert pair_name("w", 9, 9) == "w99"
    net = TwoLayerNet.random(3, 12, 1)
    names = net.parameter_names
    assert "w12_3" in names and "w13_12" in names and "w13_9" in names and "b13" in names
    assert len(names) == len(set(names)) == 12 * 3 + 12 + 12 + 1


@pytest.mark.parametrize("hidden,output", COMBOS)
def test_delta_rule_reduces_to_the_four_rules(hidden, output):
    net = TwoLayerNet.random(3, 4, 2, hidden, output, seed=11)
    rng = np.random.default_rng(2)
    x, d = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 2)
    (dW1, dW2), (db1, db2) = delta_rule([net.W1, net.W2], [net.b1, net.b2], [hidden, output], x, d)
    by_delta = net.gradients_by_name(dW1, db1, dW2, db2)
    rules = four_rules(net, x, d)
    for name in net.parameter_names:
        assert by_delta[name] == pytest.approx(rules[name], rel=1e-13, abs=1e-16), name


def test_delta_rule_on_a_deeper_mlp_matches_finite_differences():
    rng = np.random.default_rng(4)
    sizes = [3, 5, 4, 2]
    Ws = [rng.uniform(-1, 1, (o, i)) for i, o in zip(sizes, sizes[1:])]
    bs = [rng.uniform(-1, 1, o) for o in sizes[1:]]
    acts = ["tanh", "sigmoid", "linear"]
    x, d = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 2)

    def E(Ws, bs):
        y = x
        for W, b, a in zip(Ws, bs, acts):
            v = W @ y + b
            y = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "linear": lambda v: v}[
                a
            ](v)
        return 0.5 * np.sum((d - y) ** 2)

    dWs, dbs = delta_rule(Ws, bs, acts, x, d)
    eps = 1e-6
    for layer, W in enumerate(Ws):
        for idx in np.ndindex(W.shape):
            plus = [w.copy() for w in Ws]
            minus = [w.copy() for w in Ws]
            plus[layer][idx] += eps
            minus[layer][idx] -= eps
            numeric = (E(plus, bs) - E(minus, bs)) / (2 * eps)
            assert dWs[layer][idx] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_training_side_by_side_keeps_the_weights_equal_while_the_loss_falls():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    D = np.array([0, 1, 1, 0], dtype=float)
    for hidden, output, eta in [("sigmoid", "linear", 0.3), ("tanh", "tanh", 0.3)]:
        net = TwoLayerNet.random(2, 3, 1, hidden, output, seed=1)
        result = train_side_by_side(net, X, D, eta, updates=1000)
        assert len(result.losses) == 1000
        assert result.max_weight_gap <= 1e-12
        epochs = result.epoch_losses(4)
        assert epochs[-1] < 0.1 * epochs[0]


def test_numbering_continues_through_deeper_nets():
    from tinygrad_bp.slides.numbering import Numbering

    num = Numbering([2, 3, 2, 1])
    assert num.neurons(0) == [1, 2, 3] and num.neurons(1) == [4, 5] and num.outputs() == [6]
    assert num.weight(1, 0, 2) == "w43" and num.weight(2, 0, 1) == "w65"
    assert num.output(4) == "y_h4" and num.output(6) == "y6"
    names = num.parameter_names([False, True, False])
    assert names[:9] == ["w11", "w12", "w21", "w22", "w31", "w32", "b1", "b2", "b3"]
    assert names[9:16] == ["w41", "w42", "w43", "w51", "w52", "w53", "b_L2"]
    assert names[16:] == ["w64", "w65", "b6"]
    wide = Numbering([12, 10, 1])
    assert wide.weight(0, 9, 11) == "w10_12" and wide.weight(1, 0, 9) == "w11_10"
