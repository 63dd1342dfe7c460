"""Value and Tensor on the slides' 2-3-1 network: the same gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinygrad_bp.slides.twolayer import TwoLayerNet


@pytest.mark.parametrize("seed", range(10))
def test_value_and_tensor_agree_on_the_slides_network(seed):
    net = TwoLayerNet.random(2, 3, 1, "sigmoid", "linear", seed=seed)
    rng = np.random.default_rng(100 + seed)
    x, d = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 1)
    by_value = net.value_gradients(x, d)
    by_tensor = net.tensor_gradients(x, d)
    assert list(by_value) == net.parameter_names
    for name in net.parameter_names:
        assert by_value[name] == pytest.approx(by_tensor[name], rel=1e-14, abs=1e-16), name


# -- one set of conventions ------------------------------------------------------------


def test_both_engines_share_the_constructor_and_the_edge_interface():
    import inspect

    from tinygrad_bp import Tensor, Value

    for engine in (Value, Tensor):
        params = inspect.signature(engine).parameters
        assert list(params)[:2] == ["data", "name"]
        assert params["role"].kind is inspect.Parameter.KEYWORD_ONLY
    x, w = Value(0.5, "x1", role="input"), Value(2.0, "w")
    X, W = Tensor([0.5], "x1", role="input"), Tensor([2.0], "w", role="param")
    assert W.requires_grad and not X.requires_grad
    assert Tensor([2.0], requires_grad=True, name="W").role == "param"
    for a, b in ((x, w), (X, W)):
        assert (a.name, a.role, b.role, a.op) == ("x1", "input", "param", "input")
        assert a.grad is None and b.grad is None  # None until a backward pass reaches them
        y = (a * b).tanh()
        assert y.op == "tanh" and y.role is None and not y.is_leaf and b.is_leaf
        (prod,) = y.parents
        assert prod.parents == (a, b)
        assert [p for p, _ in prod.edges()] == [a, b]
        # d(a b)/d a = b and d(a b)/d b = a, as numbers or arrays of the node's shape
        assert [float(np.asarray(d).sum()) for _, d in prod.edges()] == [2.0, 0.5]
        t = math.tanh(1.0)
        assert float(np.asarray(y.local_grads[0]).sum()) == pytest.approx(1 - t * t)
        y = y if isinstance(y, Value) else y.sum()
        y.backward()
        assert float(np.sum(b.grad)) == pytest.approx(0.5 * (1 - t * t), rel=1e-15)
        y.zero_grad()
        assert b.grad is None


def test_structural_tensor_edges_name_their_vjp():
    from tinygrad_bp import Tensor

    a = Tensor(np.ones((2, 3)), requires_grad=True)
    s = a.sum(axis=0)
    assert s.edges() == [(a, "VJP of sum")]
