"""gradcheck itself: it passes right gradients and catches a wrong one, naming the entry."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_bp import GradcheckError, Tensor, Value, gradcheck


def wrong_sin(x: Value) -> Value:
    out = x.sin()
    if out._da is not None:  # (no graph is recorded under no_grad)
        out._da = 2.0 * out._da  # a deliberately wrong local derivative: 2 cos x
    return out


def test_gradcheck_catches_a_wrong_local_derivative():
    x = Value(0.4, "x")
    report = gradcheck(wrong_sin, x)
    assert not report.ok and "FAIL" in str(report)
    assert report.inputs[0].analytic == pytest.approx(2 * np.cos(0.4))
    assert report.inputs[0].numeric == pytest.approx(np.cos(0.4), rel=1e-8)
    with pytest.raises(GradcheckError, match=r"x: autodiff 1\.84"):
        gradcheck(wrong_sin, x, raise_on_failure=True)


def test_gradcheck_names_the_worst_tensor_entry():
    a = Tensor(np.array([[0.1, 0.2], [0.3, 0.4]]), requires_grad=True, name="a")

    def f(t):
        out = t * t
        vjp = out._vjp
        if vjp is not None:  # wrong at [1, 1]
            out._vjp = lambda g: (vjp(g)[0] * np.array([[1.0, 1.0], [1.0, 3.0]]),)
        return out

    with pytest.raises(GradcheckError, match=r"a\[1, 1\]"):
        gradcheck(f, a, raise_on_failure=True)


def test_gradcheck_input_errors():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t.sum(), Tensor([1.0]))
    with pytest.raises(TypeError, match="Value or a Tensor"):
        gradcheck(lambda t: t, 1.0)
