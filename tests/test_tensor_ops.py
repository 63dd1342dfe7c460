"""Every Tensor operation against finite differences (gradcheck) and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bp import Tensor
from tinygrad_bp.engine.gradcheck import gradcheck

RNG = np.random.default_rng(1234)


def param(*shape, low=-2.0, high=2.0, name=None):
    return Tensor(RNG.uniform(low, high, shape), requires_grad=True, name=name)


UNARY = {
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "sigmoid": lambda a: a.sigmoid(),
    "tanh": lambda a: a.tanh(),
    "linear": lambda a: a.linear(),
    "relu": lambda a: a.relu(),
    "neg": lambda a: -a,
    "pow2": lambda a: a**2,
    "pow3": lambda a: a**3,
    "pow-1.5": lambda a: a**-1.5,
    "sum": lambda a: a.sum(),
    "sum0": lambda a: a.sum(axis=0),
    "sum1k": lambda a: a.sum(axis=1, keepdims=True),
    "sum-neg": lambda a: a.sum(axis=-1),
    "mean": lambda a: a.mean(),
    "mean0k": lambda a: a.mean(axis=0, keepdims=True),
    "mean01": lambda a: a.mean(axis=(0, 1)),
    "reshape": lambda a: a.reshape(6, 2),
    "T": lambda a: a.T,
    "transpose": lambda a: a.transpose(1, 0),
    "index-int": lambda a: a[1],
    "index-slice": lambda a: a[:, 1:3],
    "index-both": lambda a: a[-1, ::2],
    "log_softmax": lambda a: a.log_softmax(axis=-1),
    "log_softmax0": lambda a: a.log_softmax(axis=0),
    "rsub": lambda a: 1 - a,
    "rdiv": lambda a: 1 / a,
    "rpow": lambda a: 2.0**a,
}
POSITIVE = {"log", "pow-1.5", "rdiv"}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op_matches_finite_differences(name):
    low = 0.3 if name in POSITIVE else -2.0
    a = param(3, 4, low=low, name="a")
    if name == "relu":  # keep clear of the kink, where finite differences are meaningless
        a.data[np.abs(a.data) < 0.05] = 0.5
    report = gradcheck(UNARY[name], a)
    assert report.ok, str(report)


BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((1, 4), (3, 1)),
    ((2, 3, 4), (3, 1)),
    ((3, 4), ()),
    ((), (2, 3)),
    ((2, 1, 4), (1, 3, 1)),
]
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_broadcasting_matches_finite_differences(op, shapes):
    positive = op in ("/", "**")
    a = param(*shapes[0], low=0.5 if positive else -2.0, name="a")
    b = param(*shapes[1], low=0.5 if positive else -2.0, name="b")
    report = gradcheck(BINARY[op], a, b)
    assert report.ok, str(report)
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((1, 3, 4), (2, 4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_matches_finite_differences(shapes):
    a, b = param(*shapes[0], name="a"), param(*shapes[1], name="b")
    report = gradcheck(lambda a, b: a @ b, a, b)
    assert report.ok, str(report)


def test_numbers_on_either_side():
    a = param(2, 3)
    for fn in (lambda t: 2 * t, lambda t: t * 2, lambda t: 3 - t, lambda t: t / 4, lambda t: 5 + t):
        assert gradcheck(fn, a).ok


def test_gradient_of_a_broadcast_operand_is_summed_back():
    a = Tensor(np.ones((3, 4)), requires_grad=True)
    b = Tensor(np.ones((4,)), requires_grad=True)
    (a * b).sum().backward()
    np.testing.assert_array_equal(b.grad, np.full(4, 3.0))


def test_backward_from_non_scalar_needs_grad_of_its_shape():
    a = param(2, 3)
    out = a * 2
    with pytest.raises(ValueError, match=r"non-scalar.*\(2, 3\)"):
        out.backward()
    out.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="shape"):
        out.backward(np.ones(3))


def test_grad_is_none_until_reached_and_can_be_cleared():
    a, b = param(2), param(2)
    assert a.grad is None
    (a * 3).sum().backward()
    assert a.grad is not None and b.grad is None
    a.grad = None
    assert a.grad is None


def test_log_softmax_is_stable_for_large_inputs():
    a = Tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    out = a.log_softmax(axis=-1)
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, [[0.0, -1000.0, -2000.0]])


def test_float32_on_request_and_float64_by_default():
    assert Tensor([1, 2]).dtype == np.float64
    assert Tensor([True, False]).dtype == np.float64
    t = Tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    assert t.dtype == np.float32
    (t * t).sum().backward()
    assert t.grad.dtype == np.float32


@settings(max_examples=60, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(["+", "-", "*", "/"]),
    seed=st.integers(0, 2**16),
)
def test_random_broadcast_shapes(shapes, op, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = Tensor(rng.uniform(0.5, 2.0, sa), requires_grad=True)
    b = Tensor(rng.uniform(0.5, 2.0, sb), requires_grad=True)
    report = gradcheck(BINARY[op], a, b)
    assert report.ok, str(report)


@settings(max_examples=40, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
    seed=st.integers(0, 2**16),
    keepdims=st.booleans(),
    data=st.data(),
)
def test_random_reductions(shape, seed, keepdims, data):
    axis = data.draw(st.sampled_from([None, *range(len(shape))]))
    rng = np.random.default_rng(seed)
    a = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda t: t.sum(axis=axis, keepdims=keepdims).tanh(), a).ok
    assert gradcheck(lambda t: t.mean(axis=axis, keepdims=keepdims).sigmoid(), a).ok


# -- PyTorch float64 ---------------------------------------------------------------

TORCH_CASES = {
    "mlp": lambda lib, a, b: ((a @ b).tanh() * 2 - 1).sum(),
    "softmax": lambda lib, a, b: (lib.log_softmax(a @ b, -1) * a[:, :3]).mean(),
    "broadcast": lambda lib, a, b: ((a.sum(0, keepdims=True) + b[:, 0:1].T).sigmoid() ** 2).mean(),
    "pow-div": lambda lib, a, b: ((a * a + 1) ** 1.5 / (1 + b.exp().sum())).sum(),
    "index": lambda lib, a, b: (a[1] * b[:, 2]).sum() + a[0, 1:].relu().sum(),
}


class TinyLib:
    log_softmax = staticmethod(lambda t, axis: t.log_softmax(axis))


class TorchLib:
    def __init__(self, torch):
        self.torch = torch

    def log_softmax(self, t, axis):
        return self.torch.log_softmax(t, axis)


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_pytorch_float64(name, torch):
    rng = np.random.default_rng(7)
    a0, b0 = rng.standard_normal((3, 4)), rng.standard_normal((4, 3))
    a, b = Tensor(a0, requires_grad=True), Tensor(b0, requires_grad=True)
    ta = torch.tensor(a0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    out = TORCH_CASES[name](TinyLib, a, b)
    tout = TORCH_CASES[name](TorchLib(torch), ta, tb)
    out.backward()
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-13)
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_log_softmax_over_an_empty_axis_is_empty_as_in_pytorch():
    torch = pytest.importorskip("torch")
    for dtype in (np.float64, np.float32):
        a = Tensor(np.zeros((0, 3), dtype), requires_grad=True)
        out = a.log_softmax(axis=0)
        want = torch.log_softmax(torch.zeros((0, 3), dtype=getattr(torch, dtype.__name__)), 0)
        assert out.shape == tuple(want.shape) and out.dtype == dtype
        (out.sum() + a.sum()).backward()
        assert a.grad.shape == (0, 3) and a.grad.dtype == dtype


def test_log_softmax_of_a_0d_tensor_says_what_to_do():
    with pytest.raises(ValueError, match=r"reshape\(1\)") as info:
        Tensor(2.0).log_softmax()
    assert "axis=None" not in str(info.value)  # log_softmax takes no axis=None
