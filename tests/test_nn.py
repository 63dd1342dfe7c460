"""nn modules: both engines, same weights, same gradients; names; losses against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinygrad_bp import Tensor, nn
from tinygrad_bp.engine.gradcheck import gradcheck
from tinygrad_bp.slides.twolayer import TwoLayerNet


def test_value_mlp_parameter_names_follow_the_slides():
    m = nn.ValueMLP([2, 3, 1], "sigmoid", "linear")
    assert [n for n, _ in m.named_parameters()] == TwoLayerNet.random(2, 3, 1).parameter_names
    deep = nn.ValueMLP([2, 2, 2, 1])
    names = [n for n, _ in deep.named_parameters()]
    assert names[:6] == ["w11", "w12", "w21", "w22", "b1", "b2"]
    assert "w31" in names and "w53" in names and "w54" in names and names[-1] == "b5"


def test_seeded_initialisation_is_documented_glorot_and_he():
    m = nn.MLP([50, 40, 30], ["relu"], "tanh", seed=3)
    (W1, b1, _), (W2, _, _) = m.layers()
    assert np.abs(W1).max() <= math.sqrt(6 / 50) and np.abs(W1).max() > 0.9 * math.sqrt(6 / 50)
    assert np.abs(W2).max() <= math.sqrt(6 / 70) and np.all(b1 == 0)
    again = nn.MLP([50, 40, 30], ["relu"], "tanh", seed=3)
    assert np.array_equal(again.layers()[0][0], W1)
    assert not np.array_equal(nn.MLP([50, 40, 30], ["relu"], "tanh", seed=4).layers()[0][0], W1)


@pytest.mark.parametrize("loss", ["half_sse", "mse", "bce"])
@pytest.mark.parametrize("acts", [("sigmoid", "linear"), ("tanh", "tanh"), ("relu", "sigmoid")])
def test_engines_agree_on_gradients(loss, acts):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (6, 3))
    d = (rng.uniform(0, 1, (6, 2)) > 0.5).astype(float)
    mv = nn.ValueMLP([3, 4, 2], *acts, seed=1)
    mt = nn.MLP([3, 4, 2], *acts, seed=1)
    lv = nn.LOSSES[loss](mv.forward_batch(X), d)
    lt = nn.LOSSES[loss](mt(X), d)
    assert lv.data == pytest.approx(lt.item(), rel=1e-13)
    lv.backward()
    lt.backward()
    grads_v = {n: p.grad for n, p in mv.named_parameters()}
    W1 = np.array([[grads_v[f"w{i}{k}"] for k in range(1, 4)] for i in range(1, 5)])
    np.testing.assert_allclose(W1, mt.net.modules[0].W.grad, rtol=1e-11, atol=1e-15)
    mv.zero_grad()
    assert all(p.grad is None for p in mv.parameters())
    mt.zero_grad()
    assert all(p.grad is None for p in mt.parameters())


def test_half_sse_is_the_slides_cost():
    y = Tensor([[0.2, 0.5], [1.0, -1.0]])
    d = np.array([[0.0, 1.0], [1.0, 1.0]])
    expected = (0.5 * (0.04 + 0.25) + 0.5 * (0.0 + 4.0)) / 2
    assert nn.half_sse(y, d).item() == pytest.approx(expected, rel=1e-15)
    assert nn.mse(y, d).item() == pytest.approx((0.04 + 0.25 + 0 + 4) / 4, rel=1e-15)


def test_bce_matches_its_definition_and_is_stable():
    z = np.array([[-2.0], [0.5], [3.0]])
    d = np.array([[0.0], [1.0], [1.0]])
    s = 1 / (1 + np.exp(-z))
    expected = -np.mean(d * np.log(s) + (1 - d) * np.log(1 - s))
    assert nn.bce(Tensor(z), d).item() == pytest.approx(expected, rel=1e-13)
    far = nn.bce(Tensor([[800.0], [-800.0]], requires_grad=True), np.array([[0.0], [1.0]]))
    assert far.item() == pytest.approx(800.0, rel=1e-12)


def test_softmax_cross_entropy_matches_its_definition_and_pytorch(torch):
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    z = Tensor(z0, requires_grad=True)
    loss = nn.softmax_cross_entropy(z, labels)
    loss.backward()
    tz = torch.tensor(z0, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(labels))
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-13)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-12)


def test_softmax_cross_entropy_value_engine_matches_tensor():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 2))
    labels = np.array([0, 1, 2, 1])
    mv, mt = nn.ValueMLP([2, 3, 3], seed=2), nn.MLP([2, 3, 3], seed=2)
    assert nn.softmax_cross_entropy(mv.forward_batch(X), labels).data == pytest.approx(
        nn.softmax_cross_entropy(mt(X), labels).item(), rel=1e-13
    )


def test_losses_through_gradcheck():
    rng = np.random.default_rng(3)
    d = (rng.uniform(size=(4, 2)) > 0.5).astype(float)
    for name in ["half_sse", "mse", "bce"]:
        z = Tensor(rng.standard_normal((4, 2)), requires_grad=True)
        assert gradcheck(lambda t, name=name: nn.LOSSES[name](t, d), z).ok


def test_mlp_input_shape_is_checked():
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        nn.MLP([2, 3, 1])(np.ones((4, 3)))
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([2, 3, 1], "softsign")
    with pytest.raises(ValueError, match="sizes"):
        nn.MLP([2])
