"""Every entry of the op table on both engines: central finite differences, float32, PyTorch.

The tests are generated from `UNARY` and `BINARY`, so a new entry is tested (and
must name its PyTorch reference in `TORCH_UNARY`) without another line here.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest

from tinygrad_bp import Tensor, Value, gradcheck, no_grad
from tinygrad_bp.engine.ops import BINARY, UNARY

from .conftest import central_difference

# points inside each op's domain and away from its kinks
DEFAULT_POINTS = [-1.7, -0.4, 0.3, 1.2]
POINTS = {"log": [0.2, 0.9, 2.5, 40.0], "sqrt": [0.2, 0.9, 2.5, 40.0], "tan": [-1.2, -0.3, 0.4]}
# each parameterised op also runs with a parameter other than its default
PARAMS = {"elu": {"alpha": 0.5}, "leaky_relu": {"slope": 0.2}}


def unary_cases() -> list:
    """Each unary op without parameters, and each op with parameters once more with them.

    A list, not a generator: pytest 9.2 deprecates (and pytest 10 refuses) iterators here."""
    cases = []
    for name, op in UNARY.items():
        cases.append(pytest.param(name, {}, id=name))
        if op.params:
            cases.append(pytest.param(name, PARAMS[name], id=f"{name}-{PARAMS[name]}"))
    return cases


def call(x, name, kw):
    return getattr(x, name)(**kw)


@pytest.mark.parametrize("name,kw", unary_cases())
def test_value_unary_matches_finite_differences(name, kw):
    for x in POINTS.get(name, DEFAULT_POINTS):
        v = Value(x)
        out = call(v, name, kw)
        out.backward()

        def f(t):
            with no_grad():
                return call(Value(t), name, kw).data

        assert v.grad == pytest.approx(central_difference(f, x), rel=1e-7, abs=1e-9), x


@pytest.mark.parametrize("name,kw", unary_cases())
def test_tensor_unary_matches_finite_differences(name, kw):
    a = Tensor(np.array(POINTS.get(name, DEFAULT_POINTS)), requires_grad=True, name="a")
    report = gradcheck(lambda t: call(t, name, kw), a, rtol=1e-7, atol=1e-9)
    assert report.ok, str(report)


@pytest.mark.parametrize("name,kw", unary_cases())
def test_tensor_unary_float32_keeps_its_dtype_and_is_close(name, kw):
    x = np.array(POINTS.get(name, DEFAULT_POINTS))
    a32 = Tensor(x, dtype=np.float32, requires_grad=True)
    a64 = Tensor(x, requires_grad=True)
    out32, out64 = call(a32, name, kw), call(a64, name, kw)
    (out32 * 1.5).sum().backward()
    (out64 * 1.5).sum().backward()
    assert out32.dtype == np.float32 and a32.grad.dtype == np.float32
    np.testing.assert_allclose(out32.data, out64.data, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a32.grad, a64.grad, rtol=1e-4, atol=1e-5)


BINARY_POINTS = {
    "add": [(0.7, -1.3), (-2.5, 0.4)],
    "sub": [(0.7, -1.3), (-2.5, 0.4)],
    "mul": [(0.7, -1.3), (-2.5, 0.4)],
    "div": [(0.7, -1.3), (-2.5, 0.4), (3.0, 0.05)],
    "pow": [(0.7, -1.3), (2.5, 0.4), (1.9, 3.0)],
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_value_binary_matches_finite_differences(name):
    op = BINARY[name]
    for a, b in BINARY_POINTS[name]:
        va, vb = Value(a, "a"), Value(b, "b")
        # the table's forward applied to Values runs the engine's operator
        report = gradcheck(op.forward, va, vb, rtol=1e-7, atol=1e-9)
        assert report.ok, str(report)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_tensor_binary_matches_finite_differences(name, dtype):
    op = BINARY[name]
    a0, b0 = (np.array(p) for p in zip(*BINARY_POINTS[name]))
    a, b = Tensor(a0, requires_grad=True), Tensor(b0[:, None], requires_grad=True)  # broadcast
    if dtype == np.float64:
        assert gradcheck(op.forward, a, b, rtol=1e-7, atol=1e-9).ok
        return
    a32 = Tensor(a0, dtype=dtype, requires_grad=True)
    b32 = Tensor(b0[:, None], dtype=dtype, requires_grad=True)
    op.forward(a32, b32).sum().backward()
    op.forward(a, b).sum().backward()
    assert a32.grad.dtype == b32.grad.dtype == np.float32
    np.testing.assert_allclose(a32.grad, a.grad, rtol=1e-4)
    np.testing.assert_allclose(b32.grad, b.grad, rtol=1e-4)


@pytest.mark.parametrize("symbol,name", [("+", "add"), ("-", "sub"), ("*", "mul")])
def test_value_inline_partials_are_the_tables(symbol, name):
    """+, - and * are written inline in value.py for speed: they must be the table's."""
    rng = np.random.default_rng(3)
    fn = {"+": operator.add, "-": operator.sub, "*": operator.mul}[symbol]
    for a, b in rng.uniform(-1e3, 1e3, (200, 2)):
        c = fn(Value(a), Value(b))
        assert c.op == symbol
        assert c.local_grads == tuple(float(d) for d in BINARY[name].grads(a, b, c.data))
        assert c.data == BINARY[name].forward(a, b)


@pytest.mark.parametrize("symbol,name", [("/", "div"), ("**", "pow")])
def test_value_div_and_pow_use_the_tables_partials(symbol, name):
    rng = np.random.default_rng(4)
    for a, b in rng.uniform(0.1, 3.0, (50, 2)):
        c = BINARY[name].forward(Value(a), Value(b))
        assert c.op == symbol
        assert c.local_grads == tuple(BINARY[name].grads(a, b, c.data))


def test_every_entry_is_a_method_of_both_engines_with_its_doc():
    for name, op in UNARY.items():
        for engine in (Value, Tensor):
            method = getattr(engine, name)
            assert method.__doc__ == op.doc
            out = method(engine(0.5) if engine is Value else engine([0.5], requires_grad=True))
            assert out.op == name


def test_parameterised_ops_take_keywords_and_refuse_others():
    assert Value(-2.0).leaky_relu(slope=0.2).data == pytest.approx(-0.4)
    assert Value(-2.0).leaky_relu().data == pytest.approx(-0.02)
    np.testing.assert_allclose(Tensor([-2.0]).elu(alpha=2.0).data, [2.0 * math.expm1(-2.0)])
    with pytest.raises(TypeError, match="alpha"):
        Value(1.0).elu(slope=1.0)
    with pytest.raises(ValueError, match="finite"):
        Tensor([1.0]).leaky_relu(slope=math.nan)
    assert Value(-1.0).leaky_relu(slope=0.2).op == "leaky_relu(0.2)"


@pytest.mark.parametrize("name", [n for n, op in UNARY.items() if op.masks])
def test_masking_ops_pass_no_gradient_where_their_derivative_is_zero(name):
    """A dead relu (or |x| at 0) stops an infinite upstream gradient instead of making NaN."""
    x = Value(-1.0 if name == "relu" else 0.0)
    huge = Value(1e300) * Value(1e300)  # inf, reached without an error
    (call(x, name, {}) * huge).backward()
    assert x.grad == 0.0
    t = Tensor([-1.0 if name == "relu" else 0.0, 2.0], requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):  # inf and 0 * inf in the forward
        up = Tensor([1e300, 1.0]) * 1e300
        loss = (call(t, name, {}) * up).sum()
    loss.backward()
    assert t.grad[0] == 0.0 and t.grad[1] == 1e300


# -- PyTorch 2.13 float64 as the independent reference ------------------------


def torch_unary(torch):
    F = torch.nn.functional
    return {
        "linear": lambda t, **kw: t * 1.0,
        "sigmoid": lambda t, **kw: torch.sigmoid(t),
        "tanh": lambda t, **kw: torch.tanh(t),
        "relu": lambda t, **kw: torch.relu(t),
        "softplus": lambda t, **kw: F.softplus(t),
        "elu": lambda t, alpha=1.0: F.elu(t, alpha=alpha),
        "leaky_relu": lambda t, slope=0.01: F.leaky_relu(t, negative_slope=slope),
        "neg": lambda t, **kw: -t,
        "exp": lambda t, **kw: torch.exp(t),
        "log": lambda t, **kw: torch.log(t),
        "sqrt": lambda t, **kw: torch.sqrt(t),
        "abs": lambda t, **kw: torch.abs(t),
        "sin": lambda t, **kw: torch.sin(t),
        "cos": lambda t, **kw: torch.cos(t),
        "tan": lambda t, **kw: torch.tan(t),
        "sinh": lambda t, **kw: torch.sinh(t),
        "cosh": lambda t, **kw: torch.cosh(t),
    }


@pytest.mark.parametrize("name,kw", unary_cases())
def test_unary_matches_pytorch_float64_on_both_engines(name, kw, torch):
    ref = torch_unary(torch)
    assert set(ref) == set(UNARY), "every op of the table needs its PyTorch reference"
    x = np.array(POINTS.get(name, DEFAULT_POINTS))
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tout = ref[name](tx, **kw)
    tout.sum().backward()
    a = Tensor(x, requires_grad=True)
    out = call(a, name, kw)
    out.sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(a.grad, tx.grad.numpy(), rtol=1e-13, atol=1e-300)
    for i, xi in enumerate(x):
        v = Value(float(xi))
        vo = call(v, name, kw)
        vo.backward()
        assert vo.data == pytest.approx(tout[i].item(), rel=1e-13, abs=1e-300)
        assert v.grad == pytest.approx(tx.grad[i].item(), rel=1e-13, abs=1e-300)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_pytorch_float64_on_both_engines(name, torch):
    op = BINARY[name]
    for a0, b0 in BINARY_POINTS[name]:
        ta = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
        op.forward(ta, tb).backward()
        va, vb = Value(a0), Value(b0)
        vo = op.forward(va, vb)
        vo.backward()
        a, b = Tensor([a0], requires_grad=True), Tensor([b0], requires_grad=True)
        op.forward(a, b).sum().backward()
        for ours_a, ours_b in [(va.grad, vb.grad), (a.grad[0], b.grad[0])]:
            assert ours_a == pytest.approx(ta.grad.item(), rel=1e-14)
            assert ours_b == pytest.approx(tb.grad.item(), rel=1e-14)


def test_elu_gradient_far_on_the_negative_side_matches_pytorch(torch):
    # f'(v) = alpha e^v there; written f(v) + alpha it cancels: at v = -40 it gave 0 for
    # 1.5 e^-40 = 6.4e-18, and float32 lost 4 digits at v = -9
    F = torch.nn.functional
    for dtype, rtol in ((np.float64, 1e-14), (np.float32, 5e-7)):
        x = np.array([-3.0, -9.0, -20.0, -40.0, -80.0, 0.5], dtype)
        tx = torch.tensor(x, requires_grad=True)
        F.elu(tx, alpha=1.5).sum().backward()
        a = Tensor(x, requires_grad=True)
        a.elu(alpha=1.5).sum().backward()
        assert a.grad.dtype == dtype
        np.testing.assert_allclose(a.grad, tx.grad.numpy(), rtol=rtol, atol=0)
    for xi in (-9.0, -40.0, -700.0):
        v = Value(xi)
        v.elu(alpha=1.5).backward()
        assert v.grad == pytest.approx(1.5 * math.exp(xi), rel=1e-14)
