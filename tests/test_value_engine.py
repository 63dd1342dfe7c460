"""Reverse mode over whole graphs: sharing, accumulation, deep chains, no_grad, errors."""

from __future__ import annotations

import math
import sys

import pytest

from tinygrad_bp import AnomalyError, Value, detect_anomaly, no_grad


def test_node_used_twice_gets_both_contributions():
    x = Value(3.0)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


def test_diamond_graph_sums_every_path():
    x = Value(0.5)
    a = x.exp()
    b = x.sin()
    y = a * b  # dy/dx = e^x sin x + e^x cos x
    y.backward()
    assert x.grad == pytest.approx(math.exp(0.5) * (math.sin(0.5) + math.cos(0.5)), rel=1e-14)


def test_gradients_accumulate_over_calls_and_zero_grad_resets():
    w = Value(2.0)
    y = w * w * 3.0  # dy/dw = 6w = 12
    y.backward()
    y.backward()
    assert w.grad == 24.0
    # the intermediate node's grad accumulates too, but never feeds back into the walk
    y.zero_grad()
    assert w.grad is None and y.grad is None
    y.backward()
    assert w.grad == 12.0


def test_deep_chain_of_a_million_operations_runs_iteratively():
    limit = sys.getrecursionlimit()
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y + 1e-6
    y.backward()
    assert sys.getrecursionlimit() == limit
    assert x.grad == 1.0
    assert y.data == pytest.approx(2.0, rel=1e-9)


def test_deep_multiplicative_chain_gradient():
    x = Value(1.0)
    y = x
    n = 200_000
    for _ in range(n):
        y = y * 1.000001
    y.backward()
    assert x.grad == pytest.approx(1.000001**n, rel=1e-9)


def test_no_grad_records_no_graph():
    a = Value(2.0)
    with no_grad():
        b = a * 3 + 1
    assert b.parents == () and b.local_grads == ()
    c = a * 3
    assert c.parents[0] is a


@pytest.mark.parametrize(
    "bad,typename", [("3", "str"), (None, "NoneType"), ([1, 2], "list"), (True, "bool")]
)
def test_bad_data_is_a_type_error_naming_the_type(bad, typename):
    with pytest.raises(TypeError, match=typename):
        Value(bad)


def test_non_finite_data_is_rejected():
    with pytest.raises(ValueError, match="non-finite"):
        Value(float("nan"))


def test_combining_with_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        Value(1.0) + "a"


@pytest.mark.parametrize("x", [0.0, -2.5])
def test_log_of_non_positive_names_the_value(x):
    with pytest.raises(ValueError, match=re_escape(repr(x))):
        Value(x).log()


def re_escape(s: str) -> str:
    import re

    return re.escape(s)


def test_division_by_zero_names_the_operation():
    with pytest.raises(ZeroDivisionError, match="'/'"):
        Value(1.0) / Value(0.0)
    with pytest.raises(ZeroDivisionError, match="'/'"):
        1 / Value(0.0)


def test_pow_errors():
    with pytest.raises(ValueError, match="non-integer exponent"):
        Value(-8.0) ** (1 / 3)
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1
    with pytest.raises(ValueError, match="positive base"):
        Value(-2.0) ** Value(2.0)


def test_exp_overflow_is_a_clear_error():
    with pytest.raises(OverflowError, match="709"):
        Value(1000.0).exp()


def test_anomaly_mode_names_the_first_non_finite_operation():
    big = Value(1e200)
    y = big * big  # inf, recorded outside anomaly mode
    z = y * 0.0 + 1.0
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"'\*'"):
        z.backward()
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"'\*'"):
        _ = big * big


def test_anomaly_mode_catches_non_finite_gradients():
    x = Value(0.0)
    y = x.sqrt()  # d sqrt/dx is infinite at 0
    with detect_anomaly(), pytest.raises(AnomalyError, match="sqrt"):
        y.backward()


def test_anomaly_mode_passes_a_finite_graph():
    x = Value(0.3)
    with detect_anomaly():
        (x.tanh() * x).backward()
    assert x.grad == pytest.approx(math.tanh(0.3) + 0.3 * (1 - math.tanh(0.3) ** 2), rel=1e-14)


def test_the_truth_of_a_value_is_that_of_its_number():
    for x in (0.0, -0.0, 1.0, -2.5, 1e-300):
        assert bool(Value(x)) == bool(x)
    assert bool(Value(0.0) + Value(1.0)) and not bool(Value(1.0) - Value(1.0))
