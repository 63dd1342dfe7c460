"""Every Value operation's gradient against central finite differences and closed forms."""

from __future__ import annotations

import math
import warnings

import pytest

from tinygrad_bp import Value
from tinygrad_bp.engine.gradcheck import gradcheck

from .conftest import central_difference

# (name, function of a Value, the same function on floats, points to test)
UNARY = [
    ("exp", lambda v: v.exp(), math.exp, [-3.0, -0.5, 0.0, 0.7, 5.0]),
    ("log", lambda v: v.log(), math.log, [1e-3, 0.5, 1.0, 3.0, 1e4]),
    ("sigmoid", lambda v: v.sigmoid(), lambda x: 1 / (1 + math.exp(-x)), [-30, -2, 0, 0.3, 30]),
    ("tanh", lambda v: v.tanh(), math.tanh, [-20.0, -1.0, 0.0, 0.4, 20.0]),
    ("linear", lambda v: v.linear(), lambda x: x, [-5.0, 0.0, 2.5]),
    ("relu", lambda v: v.relu(), lambda x: max(0.0, x), [-3.0, -1e-3, 1e-3, 2.0]),
    ("neg", lambda v: -v, lambda x: -x, [-1.0, 0.0, 4.0]),
    ("sin", lambda v: v.sin(), math.sin, [-2.0, 0.0, 1.3]),
    ("cos", lambda v: v.cos(), math.cos, [-2.0, 0.0, 1.3]),
    ("tan", lambda v: v.tan(), math.tan, [-1.2, 0.0, 0.9]),
    ("sinh", lambda v: v.sinh(), math.sinh, [-3.0, 0.0, 2.0]),
    ("cosh", lambda v: v.cosh(), math.cosh, [-3.0, 0.0, 2.0]),
    ("sqrt", lambda v: v.sqrt(), math.sqrt, [1e-3, 0.5, 9.0]),
    ("abs", lambda v: abs(v), abs, [-2.0, -1e-3, 1e-3, 3.0]),
    ("pow3", lambda v: v**3, lambda x: x**3, [-2.0, 0.0, 1.5]),
    ("pow-0.5", lambda v: v**-0.5, lambda x: x**-0.5, [0.2, 4.0]),
    ("rpow", lambda v: 2.0**v, lambda x: 2.0**x, [-1.0, 0.0, 3.0]),
    ("rsub", lambda v: 1 - v, lambda x: 1 - x, [0.5]),
    ("rdiv", lambda v: 1 / v, lambda x: 1 / x, [-3.0, 0.25, 2.0]),
    ("radd", lambda v: 2 + v, lambda x: 2 + x, [0.5]),
    ("rmul", lambda v: 3 * v, lambda x: 3 * x, [0.5]),
]


@pytest.mark.parametrize("name,fn,ref,x", [(n, f, r, x) for n, f, r, xs in UNARY for x in xs])
def test_unary_gradient_matches_finite_differences(name, fn, ref, x):
    v = Value(x)
    out = fn(v)
    out.backward()
    assert out.data == pytest.approx(ref(x), rel=1e-12, abs=1e-300)
    expected = central_difference(ref, x)
    assert v.grad == pytest.approx(expected, rel=1e-6, abs=1e-7)


BINARY = [
    ("+", lambda a, b: a + b),
    ("-", lambda a, b: a - b),
    ("*", lambda a, b: a * b),
    ("/", lambda a, b: a / b),
    ("**", lambda a, b: a**b),
]


@pytest.mark.parametrize("name,fn", BINARY)
@pytest.mark.parametrize("a,b", [(0.7, 1.3), (2.5, -0.4), (1.9, 3.0)])
def test_binary_gradient_matches_finite_differences(name, fn, a, b):
    va, vb = Value(a, "a"), Value(b, "b")
    report = gradcheck(fn, va, vb)
    assert report.ok, str(report)
    assert fn(a, b) == pytest.approx(fn(Value(a), Value(b)).data, rel=1e-14)


def test_value_exponent_rule_is_a_pow_b_ln_a():
    a, b = Value(1.7), Value(2.3)
    (a**b).backward()
    assert b.grad == pytest.approx(1.7**2.3 * math.log(1.7), rel=1e-14)
    assert a.grad == pytest.approx(2.3 * 1.7**1.3, rel=1e-14)


def test_relu_both_sides_of_the_kink():
    for x, slope in [(-1e-9, 0.0), (1e-9, 1.0), (-5.0, 0.0), (5.0, 1.0)]:
        v = Value(x)
        v.relu().backward()
        assert v.grad == slope


@pytest.mark.parametrize("x", [1000.0, -1000.0])
def test_sigmoid_and_tanh_are_exact_at_large_inputs(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, t = Value(x), Value(x)
        out_s, out_t = s.sigmoid(), t.tanh()
        out_s.backward()
        out_t.backward()
    assert out_s.data == (1.0 if x > 0 else 0.0)
    assert out_t.data == (1.0 if x > 0 else -1.0)
    assert s.grad == 0.0 and t.grad == 0.0


def test_sigmoid_derivative_is_s_times_one_minus_s():
    for x in [-4.0, -0.3, 0.0, 2.2]:
        v = Value(x)
        out = v.sigmoid()
        out.backward()
        s = 1 / (1 + math.exp(-x))
        assert v.grad == pytest.approx(s * (1 - s), rel=1e-14)


def test_local_derivatives_are_recorded_per_edge():
    a, b = Value(3.0, "a"), Value(-2.0, "b")
    c = a * b
    assert c.op == "*"
    assert c.parents == (a, b)
    assert c.local_grads == (-2.0, 3.0)
    assert c.edges() == [(a, -2.0), (b, 3.0)]
    s = (a * 0.5).sigmoid()
    sig = 1 / (1 + math.exp(-1.5))
    assert s.local_grads[0] == pytest.approx(sig * (1 - sig), rel=1e-15)
    assert a.is_leaf and not c.is_leaf
    assert a.op == "param" and Value(1.0, role="input").op == "input"
    assert (a + 2).parents[1].op == "const"


SATURATING = [0.0, 0.1, 0.49, 0.5, 1.0, 5.0, 19.0, 24.0, 30.0, 37.0, 40.0, 300.0, 700.0]


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("x", [s * x for x in SATURATING for s in (1.0, -1.0)])
def test_sigmoid_and_tanh_slopes_keep_their_digits_where_y_saturates(name, x):
    """f'(x) against the exact derivative (mpmath, 60 digits), within 4 ulp: read from
    y = f(x), y (1 - y) keeps 4 digits at x = 24 and none at 40 (sigmoid'(40) = 4.2e-18)."""
    mpmath = pytest.importorskip("mpmath")
    from tinygrad_bp.engine.ops import UNARY, activation

    with mpmath.workdps(60):
        t = mpmath.mpf(x)
        exact = 1 / (mpmath.exp(t / 2) + mpmath.exp(-t / 2)) ** 2  # sigmoid(t) sigmoid(-t)
        if name == "tanh":
            exact = 1 / mpmath.cosh(t) ** 2
        want = float(exact)
    v = Value(x)
    getattr(v, name)().backward()
    act = activation(name)
    for got in (v.grad, act.df(x), act.df(x, act.f(x)), UNARY[name].scalar_grad(x, None)):
        assert abs(got - want) <= 4 * math.ulp(want), (got, want)
    # a y rounded by hand gives the derivative of that y (the rules' carried-forward number)
    y = round(act.f(x), 3)
    if y != act.f(x):
        assert act.df(x, y) == UNARY[name].grad(x, y)
