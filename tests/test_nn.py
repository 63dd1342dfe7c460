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


@pytest.mark.parametrize(
    "act,fan",
    [
        ("relu", "in"),
        ("leaky_relu(0.2)", "in"),
        ("elu", "in"),
        ("sigmoid", "in+out"),
        ("tanh", "in+out"),
        ("linear", "in+out"),
        ("softplus", "in+out"),
    ],
)
def test_rectifiers_get_he_and_the_others_glorot(act, fan):
    W = nn.MLP([400, 300, 1], act, seed=0).layers()[0][0]
    bound = math.sqrt(6 / (400 if fan == "in" else 700))
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.999 * bound


def has_method(name):
    return hasattr(nn.ValueMLP([1, 1]).parameters()[0], name) and hasattr(Tensor([1.0]), name)


@pytest.mark.parametrize("spec", ["softplus", "elu(0.7)", "leaky_relu(0.2)", "leaky_relu"])
def test_every_activation_of_the_table_works_in_both_engines(spec):
    """Outputs and gradients against an independent numpy forward and central differences."""
    from tinygrad_bp.engine.ops import activation

    act = activation(spec)
    if not has_method(act.name):
        pytest.skip(f"the engines have no {act.name} method yet")
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, (5, 3))
    mt = nn.MLP([3, 4, 1], spec, "linear", seed=2)
    mv = nn.ValueMLP([3, 4, 1], spec, "linear", seed=2)
    (W1, b1, _), (W2, b2, _) = mt.layers()
    v = X @ W1.T + b1
    p = dict(act.params)
    h = {
        "softplus": lambda v: np.log1p(np.exp(v)),
        "elu": lambda v: np.where(v > 0, v, p.get("alpha", 1) * (np.exp(v) - 1)),
        "leaky_relu": lambda v: np.where(v > 0, v, p.get("slope", 0.01) * v),
    }[act.name](v)
    np.testing.assert_allclose(mt(X).data, h @ W2.T + b2, rtol=1e-13)
    np.testing.assert_allclose([[o.data for o in row] for row in mv.forward_batch(X)],
                               h @ W2.T + b2, rtol=1e-13)  # fmt: skip
    loss_t = nn.mse(mt(X), np.zeros((5, 1)))
    loss_t.backward()
    W = mt.net.modules[0].W

    def f(w):
        saved = W.data.copy()
        W.data = w
        out = nn.mse(mt(X), np.zeros((5, 1))).item()
        W.data = saved
        return out

    eps = 1e-6
    numeric = np.zeros_like(W.data)
    for idx in np.ndindex(W.data.shape):
        up, down = W.data.copy(), W.data.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (f(up) - f(down)) / (2 * eps)
    np.testing.assert_allclose(W.grad, numeric, rtol=1e-6, atol=1e-9)


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
    assert all(p.grad in (0, None) for p in mv.parameters())
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


def test_value_mlp_input_length_is_checked():
    m = nn.ValueMLP([3, 2, 1])
    with pytest.raises(ValueError, match="3 inputs, got 2 numbers"):
        m([1.0, 2.0])
    with pytest.raises(ValueError, match="3 inputs, got 4 numbers"):
        m([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        m.forward_batch(np.ones((2, 2)))


@pytest.mark.parametrize(
    "labels,expect",
    [
        ([0, -1], "in 0..2"),
        ([0, 3], "in 0..2"),
        ([0, 1.5], "whole numbers"),
        ([0, np.nan], "whole numbers"),
        ([0], "one class label per example"),
        (["a", "b"], "whole numbers"),
    ],
)
def test_softmax_cross_entropy_refuses_bad_labels_in_both_engines(labels, expect):
    X = np.ones((2, 2))
    for out in (nn.MLP([2, 3])(X), nn.ValueMLP([2, 3]).forward_batch(X)):
        with pytest.raises((ValueError, TypeError), match=expect):
            nn.softmax_cross_entropy(out, np.array(labels))


def test_softmax_cross_entropy_refuses_ragged_value_logits():
    a, b, c = nn.ValueMLP([1, 3])([1.0])
    with pytest.raises(ValueError, match="same number of logits"):
        nn.softmax_cross_entropy([[a, b, c], [a, b]], [0, 1])


def test_no_activation_list_outside_the_op_table():
    from pathlib import Path

    import tinygrad_bp

    root = Path(tinygrad_bp.__file__).parent
    for path in [*(root / "nn").glob("*.py"), root / "commands" / "train.py"]:
        text = path.read_text()
        assert '"sigmoid", "tanh"' not in text and "'sigmoid', 'tanh'" not in text, path


def test_mlp_input_shape_is_checked():
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        nn.MLP([2, 3, 1])(np.ones((4, 3)))
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([2, 3, 1], "softsign")
    with pytest.raises(ValueError, match="sizes"):
        nn.MLP([2])
