"""Optimizers against their update formulas and against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_bp import Tensor, Value
from tinygrad_bp.nn.optim import SGD, Adam


def quadratic_grads(p):
    """Gradient of sum(c * p^2) with c = 1..n, for any parameter shape."""
    c = np.arange(1, p.size + 1).reshape(p.shape)
    return 2 * c * p


def test_sgd_is_the_online_update():
    w = Value(0.5)
    w.grad = 0.2
    SGD([w], lr=0.25).step()
    assert w.data == pytest.approx(0.5 - 0.25 * 0.2, rel=1e-15)


def test_momentum_by_formula():
    t = Tensor([1.0, -2.0], requires_grad=True)
    opt = SGD([t], lr=0.1, momentum=0.9)
    v = np.zeros(2)
    p = np.array([1.0, -2.0])
    for _ in range(5):
        t.grad = quadratic_grads(t.data)
        v = 0.9 * v + quadratic_grads(p)
        p = p - 0.1 * v
        opt.step()
    np.testing.assert_allclose(t.data, p, rtol=1e-14)


def test_adam_by_formula_on_values():
    ws = [Value(1.0), Value(-0.5)]
    opt = Adam(ws, lr=0.01)
    p = np.array([1.0, -0.5])
    m = v = np.zeros(2)
    for t in range(1, 6):
        g = quadratic_grads(p)
        for w, gi in zip(ws, g):
            w.grad = float(gi)
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose([w.data for w in ws], p, rtol=1e-13)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_matches_torch_optim(kind, torch):
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((3, 2))
    X = rng.standard_normal((5, 2))
    d = rng.standard_normal((5, 3))
    W = Tensor(W0, requires_grad=True)
    tW = torch.tensor(W0, requires_grad=True)
    ours = {
        "sgd": lambda: SGD([W], 0.1),
        "momentum": lambda: SGD([W], 0.1, momentum=0.9),
        "adam": lambda: Adam([W], 0.05),
    }[kind]()
    theirs = {"sgd": lambda: torch.optim.SGD([tW], lr=0.1),
              "momentum": lambda: torch.optim.SGD([tW], lr=0.1, momentum=0.9),
              "adam": lambda: torch.optim.Adam([tW], lr=0.05)}[kind]()  # fmt: skip
    for _ in range(10):
        ours.zero_grad()
        (((Tensor(X) @ W.T).tanh() - Tensor(d)) ** 2).mean().backward()
        ours.step()
        theirs.zero_grad()
        (((torch.tensor(X) @ tW.T).tanh() - torch.tensor(d)) ** 2).mean().backward()
        theirs.step()
    np.testing.assert_allclose(W.data, tW.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_bad_optimizer_arguments():
    with pytest.raises(ValueError, match="no parameters"):
        SGD([], 0.1)
    with pytest.raises(ValueError, match="learning rate"):
        SGD([Value(1.0)], -1)
    with pytest.raises(TypeError, match="all Values or all Tensors"):
        SGD([Value(1.0), Tensor([1.0], requires_grad=True)], 0.1)
