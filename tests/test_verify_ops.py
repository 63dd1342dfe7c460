"""The expression language knows every op of the engine's table, with its parameters."""

from __future__ import annotations

import math

import pytest

from tests.conftest import central_difference
from tinygrad_bp.derivatives.expr import FUNCTIONS, ExpressionError, UndefinedError, parse
from tinygrad_bp.derivatives.verify import verify_rule, verify_text
from tinygrad_bp.engine.ops import UNARY


def _elu(x, alpha=1.0):
    return x if x > 0 else alpha * (math.exp(x) - 1)


# Independent closed forms (plain math), one per op of the table: a new op fails
# `test_every_op_has_a_closed_form_here` until it gets one.
CLOSED = {
    "linear": lambda x: x,
    "neg": lambda x: -x,
    "sigmoid": lambda x: 1 / (1 + math.exp(-x)),
    "tanh": lambda x: (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1),
    "relu": lambda x: max(x, 0.0),
    "softplus": lambda x: math.log(1 + math.exp(x)),
    "elu": _elu,
    "leaky_relu": lambda x, slope=0.01: x if x > 0 else slope * x,
    "exp": lambda x: math.e**x,
    "log": lambda x: math.log(x),
    "sqrt": lambda x: x**0.5,
    "abs": lambda x: x if x >= 0 else -x,
    "sin": math.sin,
    "cos": math.cos,
    "tan": lambda x: math.sin(x) / math.cos(x),
    "sinh": lambda x: (math.exp(x) - math.exp(-x)) / 2,
    "cosh": lambda x: (math.exp(x) + math.exp(-x)) / 2,
}
POINTS = (-1.7, -0.3, 0.4, 1.9)


def test_every_op_has_a_closed_form_here():
    assert set(CLOSED) == set(UNARY)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_every_table_op_is_a_function_with_its_value_and_derivative(name):
    assert name in FUNCTIONS
    expr = parse(f"{name}(x)")
    for x in POINTS:
        if name in ("log", "sqrt") and x <= 0:
            continue
        assert expr.value(x) == pytest.approx(CLOSED[name](x), rel=1e-12, abs=1e-15)
        fd = central_difference(CLOSED[name], x)
        assert expr.derivative(x) == pytest.approx(fd, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize(
    "text,closed",
    [
        ("leaky_relu(x, 0.2)", lambda x: CLOSED["leaky_relu"](x, 0.2)),
        ("leaky_relu(x, slope=0.2)", lambda x: CLOSED["leaky_relu"](x, 0.2)),
        ("elu(x, 2)", lambda x: _elu(x, 2.0)),
        ("elu(x, alpha=a)", lambda x: _elu(x, 3.7)),  # a constant letter as the parameter
        ("elu(2*x, alpha=1/2)", lambda x: _elu(2 * x, 0.5)),
    ],
)
def test_parameters_by_position_and_by_name(text, closed):
    expr = parse(text)
    for x in POINTS:
        assert expr.value(x, {"a": 3.7}) == pytest.approx(closed(x), rel=1e-12)
        fd = central_difference(closed, x)
        assert expr.derivative(x, {"a": 3.7}) == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize(
    "text,message",
    [
        ("leaky_relu(x, 0.1, 3)", "leaky_relu takes leaky_relu(x, slope)"),
        ("relu(x, 1)", "relu takes relu(x)"),
        ("elu(x, beta=1)", "elu takes elu(x, alpha)"),
        ("elu(x, 1, alpha=2)", "elu takes elu(x, alpha)"),
        ("elu(alpha=2)", "elu takes elu(x, alpha)"),
        ("leaky_relu(x, x)", "the slope of leaky_relu is a number, not a function of x"),
        ("leaky_relu(x, **d)", "starred"),
        ("softplus", "needs an argument"),
        ("log(x, base=2)", "log(x) or log(x, base)"),
        ("coth(x, 2)", "coth takes one argument"),
    ],
)
def test_wrong_parameters_are_named(text, message):
    with pytest.raises(ExpressionError, match=None) as exc:
        parse(text)
    assert message in str(exc.value)


def test_verify_knows_the_new_activations():
    assert verify_rule("softplus(x)", "sigmoid(x)").ok
    assert verify_rule("relu(x)", "relu(x)/x").ok  # 1 for x > 0, 0 for x < 0
    assert verify_rule("elu(x, alpha=2)", "elu(x, 2)/x").status == "wrong"
    assert verify_rule("leaky_relu(x, 0.3)", "leaky_relu(x, 0.3)/x").ok
    verdicts = verify_text(
        "d/dx softplus(x) = sigmoid(x)\n"
        "d/dx tanh(x) = 1 - tanh(x)**2\n"
        "d/dx leaky_relu(x, 0.1) = 0.2\n"
    )
    assert [v.ok for v in verdicts] == [True, True, False]


def test_a_wrong_slope_is_flagged_where_x_is_negative():
    v = verify_rule("leaky_relu(x, 0.1)", "leaky_relu(x, 0.2)/x")  # 1 for x > 0, 0.2 below
    assert v.status == "wrong" and v.x < 0
    assert v.claimed == pytest.approx(0.2) and v.actual == pytest.approx(0.1)
    assert 0 < v.agreeing < v.points  # right for every positive sample point


def test_elu_derivative_below_zero_is_f_plus_alpha():
    # closed form below 0: alpha e^x = elu(x) + alpha
    assert verify_rule("elu(-x**2 - 1, 2)", "(elu(-x**2 - 1, 2) + 2) * (-2*x)").ok


def test_activations_example_flags_exactly_its_slip():
    from tests.test_verify import DERIVATIVES, wrong_lines

    text = (DERIVATIVES / "activations.txt").read_text().splitlines()
    marked = [i for i, line in enumerate(text, 1) if "# slip" in line]
    assert wrong_lines("activations.txt") == marked and len(marked) == 1


@pytest.mark.parametrize(
    "text", ["relu(-x*1e308*10)", "sigmoid(x*1e308*10)", "(x*1e308*10)**0", "1/(x*1e308*10)"]
)
def test_an_infinity_or_nan_midway_is_undefined_not_a_number(text):
    # x*1e308*10 overflows to infinity at x = 0.5; what is computed from it is not trusted
    with pytest.raises(UndefinedError):
        parse(text).value(0.5)
    assert parse(text).value(1e-300) == pytest.approx(CLOSED_AT_TINY[text], abs=1e-300)


CLOSED_AT_TINY = {  # at x = 1e-300 nothing overflows: x*1e308*10 = 1e9
    "relu(-x*1e308*10)": 0.0,
    "sigmoid(x*1e308*10)": 1.0,
    "(x*1e308*10)**0": 1.0,
    "1/(x*1e308*10)": 1e-9,
}
