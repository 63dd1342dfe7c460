"""`verify` verdicts at the edges: small scales, cancellation, and claims on part of the line."""

from __future__ import annotations

import math

import pytest

from tinygrad_bp.derivatives.verify import verify_rule, verify_step, verify_text


@pytest.mark.parametrize(
    "f,claimed",
    [
        # wrong by a factor of 2 or a swapped function; only the scale is small
        ("1e-10*sin(x)", "1e-10*sin(x)"),
        ("1e-12*x**2", "1e-12*x"),
        ("1e-20*exp(x)", "2e-20*exp(x)"),
    ],
)
def test_a_wrong_rule_with_small_numbers_is_wrong(f, claimed):
    verdict = verify_rule(f, claimed)
    assert verdict.status == "wrong"
    assert verdict.claimed != pytest.approx(verdict.actual, rel=0.01, abs=0)


@pytest.mark.parametrize(
    "f,claimed",
    [
        ("1e-10*sin(x)", "1e-10*cos(x)"),
        ("1e-300*x**2", "2e-300*x"),
        ("1e200*x**2", "2e200*x"),
        # results of cancellation: the true derivatives are 0, computed as rounding noise
        ("log(exp(x)) - x", "0"),
        ("1/(1+exp(-x)) - sigmoid(x)", "0"),
        ("x**3 - 3*x*x**2 + 2*x**3", "0"),
        ("tanh(x) - 1 + 1", "1 - tanh(x)**2"),
    ],
)
def test_a_right_rule_at_any_scale_is_correct(f, claimed):
    assert verify_rule(f, claimed).status == "correct"


def test_steps_that_are_zero_by_cancellation_are_correct():
    text = "log(exp(x)) - x\n= 0\ndiff(log(exp(x)) - x)\n= 0\nexp(a*x)*exp(-a*x)\n= 1\n"
    assert [v.status for v in verify_text(text)] == ["correct"] * 3


def test_a_step_that_is_off_by_a_tiny_factor_is_wrong():
    (verdict,) = verify_text("1e-11*sin(x)\n= 1e-11*cos(x)\n")
    assert verdict.status == "wrong"


@pytest.mark.parametrize(
    "f,claimed,x,true_derivative",
    [
        # abs'(x) = -1 for x < 0, where sqrt(x)/sqrt(x) has no value
        ("abs(x)", "sqrt(x)/sqrt(x)", -0.5, -1.0),
        # (x**2)' = 2x = -1 at x = -0.5, where exp(log(x)) has no value
        ("x**2", "2*exp(log(x))", -0.5, -1.0),
        # a claim defined nowhere that the derivative is
        ("x**2", "log(-1 - x**2)", 0.5, 1.0),
    ],
)
def test_a_rule_that_holds_only_on_part_of_the_line_is_wrong(f, claimed, x, true_derivative):
    verdict = verify_rule(f, claimed)
    assert verdict.status == "wrong"
    assert verdict.claimed is None
    assert verdict.x == x and verdict.actual == pytest.approx(true_derivative)
    assert "claimed undefined" in verdict.describe()


def test_a_step_that_loses_half_the_line_is_wrong():
    # log(x**2) = 2 log|x|, not 2 log x: at x = -0.5 the left side is 2 log 0.5
    (verdict,) = verify_text("log(x**2)\n= 2*log(x)\n")
    assert verdict.status == "wrong" and verdict.x == -0.5
    assert verdict.actual == pytest.approx(2 * math.log(0.5))
    (verdict,) = verify_text("x\n= sqrt(x)**2\n")
    assert verdict.status == "wrong" and verdict.x == -0.5


@pytest.mark.parametrize(
    "before,after",
    [
        ("x + 1", "(x**2 - 1)/(x - 1)"),  # equal but at the single point x = 1
        ("2*log(x)", "log(x**2)"),  # the new line has the larger domain
        ("sqrt(x)**2", "x"),
    ],
)
def test_steps_equal_wherever_the_line_before_is_defined_are_correct(before, after):
    assert verify_step(before, after).status == "correct"


def test_rules_whose_claim_extends_the_derivative_are_correct():
    assert verify_rule("log(x)", "1/x").status == "correct"
    assert verify_rule("sqrt(x)", "1/(2*sqrt(x))").status == "correct"


@pytest.mark.parametrize(
    "f,claimed,x,true_derivative",
    [
        ("relu(x - 20)", "0", 30.0, 1.0),  # the kink lies beyond the points near 0
        ("abs(x + 7)", "1", -10.0, -1.0),
    ],
)
def test_a_rule_wrong_only_far_from_zero_is_wrong(f, claimed, x, true_derivative):
    verdict = verify_rule(f, claimed)
    assert verdict.status == "wrong"
    assert verdict.x == x and verdict.actual == true_derivative


@pytest.mark.parametrize(
    "f,claimed",
    [
        # tanh' = 4/(e^x + e^-x)^2 and sigmoid' = e^-x/(1 + e^-x)^2 are tiny where the
        # functions saturate; the engine's 1 - y**2 and y(1 - y) round them to 0 there
        ("tanh(a*x)", "4*a/(exp(a*x) + exp(-a*x))**2"),
        ("sigmoid(a*x)", "a*exp(-a*x)/(1 + exp(-a*x))**2"),
        ("tanh(3*x)", "3*(1 - tanh(3*x)**2)"),
        ("cosh(x)**2 - sinh(x)**2", "0"),
    ],
)
def test_a_right_rule_where_functions_saturate_is_correct(f, claimed):
    assert verify_rule(f, claimed).status == "correct"


@pytest.mark.parametrize(
    "before,after",
    [
        ("sigmoid(x**3)", "1/(1 + exp(-x**3))"),  # exp overflows far out: no value, no loss
        ("-x**4", "log(exp(-x**4))"),  # exp(-x**4) rounds to 0 far out
        ("1", "exp(-x**4)/exp(-x**4)"),
    ],
)
def test_overflow_and_underflow_far_out_lose_no_domain(before, after):
    assert verify_step(before, after).status == "correct"
