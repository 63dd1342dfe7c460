"""Wrong answers that must stay right: each test is one that the engines once failed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import ShapeError, Tensor, Value, gradcheck
from tinygrad_bp.engine.ops import BINARY, UNARY
from tinygrad_bp.nn.optim import OPTIMIZERS

RNG = np.random.default_rng(11)


def param(*shape, dtype=None):
    return Tensor(RNG.uniform(0.5, 2.0, shape), requires_grad=True, dtype=dtype)


# -- axes ------------------------------------------------------------------------


@pytest.mark.parametrize("perm", [(0, -1, -2), (-1, 0, 1), (2, -3, -2), (-1, -2, -3)])
def test_transpose_with_negative_axes_matches_pytorch(perm, torch):
    x = RNG.standard_normal((2, 3, 4))
    w = RNG.standard_normal(torch.tensor(x).permute(*perm).shape)
    t = Tensor(x, requires_grad=True)
    (t.transpose(*perm) * w).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    (tt.permute(*perm) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())
    assert gradcheck(lambda a: a.transpose(*perm), Tensor(x, requires_grad=True)).ok


def test_numpy_integer_axes_are_accepted_everywhere():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    i = np.int64
    assert x.sum(axis=i(-1)).shape == (2, 3)
    assert x.mean(axis=(np.int32(0), i(2))).shape == (3,)
    assert x.max(axis=i(1), keepdims=True).shape == (2, 1, 4)
    assert x.reshape(i(6), np.int16(4)).shape == (6, 4)
    assert x.transpose(i(2), i(0), i(1)).shape == (4, 2, 3)
    assert x.log_softmax(axis=i(-2)).shape == (2, 3, 4)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda t: t.sum(axis=3), ShapeError, "axis 3 is out of range"),
        (lambda t: t.sum(axis=1.0), TypeError, "axis is an integer"),
        (lambda t: t.mean(axis=(0, -2)), ShapeError, "repeated axis"),
        (lambda t: t.transpose(0, 0), ShapeError, "not a permutation"),
        (lambda t: t.transpose(0, 5), ShapeError, "not a permutation"),
        (lambda t: t.reshape(5, 5), ShapeError, r"\(2, 3\) into \(5, 5\)"),
        (lambda t: t.reshape(2.0, 3), TypeError, "integers"),
        (lambda t: t @ Tensor(np.ones((4, 2))), ShapeError, "inner dimensions 3 and 4"),
        (lambda t: t + Tensor(np.ones(4)), ShapeError, r"'\+'.*\(2, 3\).*\(4,\)"),
        (lambda t: t[5], IndexError, r"\(2, 3\)"),
    ],
)
def test_shape_and_axis_errors_name_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call(Tensor(np.ones((2, 3)), requires_grad=True))


# -- numbers at the edges -------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, 5e-324, -3.0, 1e300])
def test_x_to_the_zero_is_one_with_gradient_zero(x):
    v = Value(x)
    out = v**0
    out.backward()
    assert out.data == 1.0 and v.grad == 0.0
    t = Tensor([x], requires_grad=True)
    (t**0).sum().backward()
    assert t.grad[0] == 0.0
    t = Tensor(0.0, requires_grad=True)
    (t ** Tensor(0.0)).backward()  # a Tensor exponent too
    assert t.grad == 0.0


def test_division_gradients_are_finite_and_accurate_where_representable():
    for make in (lambda v: Value(v), lambda v: Tensor(v, requires_grad=True)):
        a, b = make(1.0), make(1e-200)
        (a / b).backward()
        assert float(a.grad) == 1e200 and float(b.grad) == -math.inf  # -1e400 overflows
        a, b = make(1e200), make(1e200)
        (a / b).backward()
        assert float(b.grad) == pytest.approx(-1e-200, rel=1e-15)  # not -a/b^2 = -0
        assert float(a.grad) == pytest.approx(1e-200, rel=1e-15)


def test_domain_errors_name_the_op_and_the_value():
    cases = [
        (lambda m: m(0.0).log(), ValueError, r"log\(0\.0\)"),
        (lambda m: m(-4.0).sqrt(), ValueError, r"sqrt\(-4\.0\)"),
        (lambda m: m(800.0).exp(), OverflowError, "709"),
        (lambda m: m(800.0).sinh(), OverflowError, "sinh"),
        (lambda m: m(1.0) / m(0.0), ZeroDivisionError, "division by zero"),
        (lambda m: m(-8.0) ** (1 / 3), ValueError, "non-integer exponent"),
        (lambda m: m(0.0) ** -2, ZeroDivisionError, r"0 \*\* p"),
    ]
    for make in (Value, lambda x: Tensor([1.0, x])):
        for call, error, match in cases:
            with pytest.raises(error, match=match):
                call(make)


def test_nan_flows_through_and_is_not_refused():
    """NaN in, NaN out (as in PyTorch); a refusal is only for the op's own domain."""
    with np.errstate(invalid="ignore", over="ignore"):
        nan = (Value(1e300) * 1e300) - (Value(1e300) * 1e300)
        assert math.isnan(nan.log().data) and math.isnan(nan.sqrt().data)
        t = (Tensor([1e300]) * 1e300) - (Tensor([1e300]) * 1e300)
        assert np.isnan(t.log().data).all() and np.isnan(t.exp().data).all()


@pytest.mark.parametrize(
    "bad,match",
    [
        ([1 + 2j], "complex"),
        (np.array([object()]), "object"),
        (["a", "b"], "<U1"),
        ([[1.0, 2.0], [3.0]], "rectangular"),
        ([1.0, math.nan], "NaN"),
        ([math.inf], "infinity"),
    ],
)
def test_bad_tensor_data_is_a_clear_error(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        Tensor(bad)


def test_bad_dtype_and_positional_options_are_clear_errors():
    with pytest.raises(TypeError, match="float64 or float32"):
        Tensor([1.0], dtype=np.int32)
    with pytest.raises(TypeError, match="name must be a string.*requires_grad=True"):
        Tensor([1.0], True)
    with pytest.raises(ValueError, match="const"):
        Tensor([1.0], role="const", requires_grad=True)


# -- dtypes ------------------------------------------------------------------------

UNARY_CALLS = [lambda t, n=n: getattr(t, n)() for n in UNARY]
STRUCTURAL = [
    lambda t: t.sum(),
    lambda t: t.mean(axis=-1),
    lambda t: t.max(axis=0),
    lambda t: t.reshape(-1),
    lambda t: t.transpose(-1, 0),
    lambda t: t[1:, ::2],
    lambda t: t.log_softmax(axis=-1),
    lambda t: t @ t.T,
    lambda t: t * 2.5 + 1 - 3 / (t + 4) ** 2,  # Python numbers: weak, take the tensor's dtype
    lambda t: t * np.float64(2.0) + np.ones(3),  # numpy scalars and arrays: the same
    lambda t: 2.0**t - np.float64(0.5) * t,
]


@settings(max_examples=40, deadline=None)
@given(
    fn=st.sampled_from(
        UNARY_CALLS + STRUCTURAL + [lambda t, o=o: o.forward(t, t) for o in BINARY.values()]
    ),
    seed=st.integers(0, 2**16),
)
def test_float32_in_float32_out_and_float32_grad(fn, seed):
    x = np.random.default_rng(seed).uniform(0.5, 2.0, (2, 3))
    t = Tensor(x, dtype=np.float32, requires_grad=True)
    out = fn(t)
    assert out.dtype == np.float32
    out.sum().backward()
    assert t.grad.dtype == np.float32 and t.grad.shape == t.shape


def test_mixing_float32_and_float64_promotes_and_each_grad_keeps_its_leafs_dtype():
    a, b = param(3, dtype=np.float32), param(3)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad, b.data.astype(np.float32))


def test_a_float32_array_stays_float32_and_python_lists_are_float64():
    assert Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert Tensor([1, 2]).dtype == Tensor(np.arange(2)).dtype == np.float64


# -- numpy on the left ----------------------------------------------------------------


def test_numpy_on_the_left_gives_a_tensor_with_gradients():
    t = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = np.array([0.5, -1.0, 2.0])
    for out in (w * t, w @ t, np.float64(2) * t, w - t, w / t, np.float64(2) ** t, np.exp(t)):
        assert isinstance(out, Tensor)
    loss = (w * t).sum() + w @ t + (np.float64(2) * t).sum() + np.sin(t).sum()
    loss.backward()
    np.testing.assert_allclose(t.grad, w + w + 2 + np.cos([1.0, 2.0, 3.0]), rtol=1e-15)


def test_unsupported_numpy_calls_are_type_errors():
    t = Tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(TypeError, match="maximum is not a Tensor operation"):
        np.maximum(t, 0)
    with pytest.raises(TypeError, match="out"):
        np.add(t, 1, out=np.zeros(2))


def test_numpy_functions_on_a_tensor_are_its_own_operations():
    x = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    t = Tensor(x, requires_grad=True)
    m = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    parts = [np.sum(t * t), np.mean(t, axis=0).sum(), np.max(t), np.amax(t, axis=-1).sum()]
    parts += [(np.reshape(t, (3, 2)) * m).sum(), (np.transpose(t) * m).sum()]
    assert all(isinstance(p, Tensor) for p in parts)
    assert np.sum(t, axis=1, keepdims=True).shape == (2, 1)
    sum(parts[1:], parts[0]).backward()
    # closed forms: d sum(t^2) = 2t; d mean over rows = 1/2; max at [1, 1]; row maxima at
    # [0, 2] and [1, 1]; d sum(reshape(t) * m) = m reshaped back; d sum(t^T * m) = m^T
    expected = 2 * x + 0.5 + m.reshape(2, 3) + m.T
    expected[1, 1] += 2.0
    expected[0, 2] += 1.0
    np.testing.assert_array_equal(t.grad, expected)
    assert (np.shape(t), np.ndim(t), np.size(t), np.size(t, 1)) == ((2, 3), 2, 6, 3)


def test_numpy_functions_without_a_tensor_meaning_are_type_errors():
    t = Tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(TypeError, match="concatenate is not a Tensor operation"):
        np.concatenate([t, t])  # (numpy made an array of 0-d Tensors)
    with pytest.raises(TypeError, match="allclose is not a Tensor operation"):
        np.allclose(t, t)
    with pytest.raises(TypeError, match="axis and keepdims only, got dtype"):
        np.sum(t, dtype=np.float32)
    with pytest.raises(TypeError, match="axis and keepdims only, got out"):
        np.mean(t, out=np.zeros(()))
    with pytest.raises(TypeError, match="a shape only"):
        np.reshape(t, (2, 1), order="F")


def test_numpy_conversion_gives_the_numbers_not_an_array_of_tensors():
    x = np.array([[1.0, 2.0], [3.0, -4.0]], dtype=np.float32)
    t = Tensor(x, requires_grad=True)
    a = np.asarray(t)
    assert a.dtype == np.float32 and not a.flags.writeable
    np.testing.assert_array_equal(a, x)
    b = np.array(t)
    assert b.flags.writeable and not np.shares_memory(b, t.data)
    np.testing.assert_array_equal(b, x)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="dot is not a Tensor operation"):
        np.dot(t, t)


def test_value_with_numpy_scalars_on_either_side():
    v = Value(3.0)
    for out in (np.float64(2) * v, v * np.float32(2), np.int64(2) * v, v + np.float64(1)):
        assert isinstance(out, Value)
    (np.float64(2) * v * np.float32(0.5)).backward()
    assert v.grad == 1.0
    with pytest.raises(TypeError, match="ndarray"):
        np.ones(2) * v
    with pytest.raises(TypeError):
        np.exp(v)


# -- no aliasing ----------------------------------------------------------------------

ALIAS_EXPRESSIONS = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: (a + b).linear() + a,
    lambda a, b: a.reshape(-1).reshape(a.shape) + b.transpose(1, 0).T,
    lambda a, b: a * b + a[0:2].sum(),
    lambda a, b: a.max(axis=0, keepdims=True) + b.mean(),
    lambda a, b: a @ b.T,
]


@settings(max_examples=30, deadline=None)
@given(
    fn=st.sampled_from(ALIAS_EXPRESSIONS),
    opt=st.sampled_from(["sgd", "momentum", "adam"]),
    seed=st.integers(0, 2**16),
)
def test_no_shared_grads_and_caller_arrays_never_change(fn, opt, seed):
    rng = np.random.default_rng(seed)
    raw_a, raw_b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    keep_a, keep_b = raw_a.copy(), raw_b.copy()
    a, b = Tensor(raw_a, requires_grad=True), Tensor(raw_b, requires_grad=True)
    assert not np.shares_memory(a.data, raw_a)
    out = fn(a, b)
    out.backward(np.ones(out.shape))
    assert not np.shares_memory(a.grad, b.grad)
    for t in (a, b):
        for arr in (raw_a, raw_b, out.grad, a.data, b.data):
            assert not np.shares_memory(t.grad, arr)
    OPTIMIZERS[opt]([a, b], 0.1).step()
    np.testing.assert_array_equal(raw_a, keep_a)
    np.testing.assert_array_equal(raw_b, keep_b)
    assert not np.array_equal(a.data, keep_a)


def test_numpy_returns_a_read_only_view():
    t = Tensor([1.0, 2.0])
    view = t.numpy()
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 5.0
    assert t.data[0] == 1.0


def test_x_to_the_zero_passes_no_gradient_not_even_an_infinite_one():
    """x ** 0 = 1 whatever x is, so d/dx is 0 even where the gradient from above is
    infinite (sqrt at log 1 = 0): 0, as PyTorch gives, not inf * 0 = NaN."""
    from tinygrad_bp import trace

    torch = pytest.importorskip("torch")

    def f(x, p):  # sqrt(log(x ** p)) + x: d/dx = 0 + 1 at p = 0
        return (x**p).log().sqrt() + x

    for at in (0.0, 3.0):
        x, p = Value(at), Value(0.0)
        f(x, p).backward()
        tx = torch.tensor(at, dtype=torch.float64, requires_grad=True)
        tp = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
        (torch.sqrt(torch.log(tx**tp)) + tx).backward()
        assert x.grad == tx.grad.item() == 1.0
        assert str(p.grad) == str(tp.grad.item())  # nan at 0 (0 * inf), inf at 3 (ln 3 * inf)
        assert trace(f, at, 0.0)(at, 0.0).input_grads[0] == 1.0
        y = Value(at)
        f(y, 0).backward()
        assert y.grad == 1.0 and trace(lambda v: f(v, 0), at)(at).input_grads == [1.0]

    base = Tensor(np.array([0.0, 3.0, 2.0]), requires_grad=True)
    powers = Tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    with np.errstate(all="ignore"):
        (base**powers).log().sqrt().sum().backward()
    tb = torch.tensor([0.0, 3.0, 2.0], dtype=torch.float64, requires_grad=True)
    tq = torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.sqrt(torch.log(tb**tq)).sum().backward()
    np.testing.assert_array_equal(base.grad, tb.grad.numpy())  # 0, 0 and a finite number
    assert base.grad[0] == base.grad[1] == 0.0
    np.testing.assert_array_equal(powers.grad, tq.grad.numpy())
    z = Tensor(np.array([0.0, 3.0], dtype=np.float32), requires_grad=True)
    with np.errstate(all="ignore"):
        (z**0).log().sqrt().sum().backward()
    assert z.grad.dtype == np.float32 and not z.grad.any()


def test_nan_in_gives_nan_out_in_both_engines_for_every_unary_op():
    """A NaN that arises inside a graph (cos of an overflow) stays NaN through every op
    of the table, in Value as in Tensor, and their derivatives agree (relu once gave 0)."""
    nan = float("nan")
    for name, op in UNARY.items():
        kw = dict(op.params)
        y = op.scalar(nan, **kw)
        ys = op.array(np.array([nan]), **kw)
        assert math.isnan(y) and np.isnan(ys).all(), name
        d = op.grad(nan, y, **kw)
        ds = np.broadcast_to(op.grad(np.array([nan]), ys, **kw), (1,))
        assert str(float(d)) == str(float(ds[0])), name
