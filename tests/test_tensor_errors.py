"""Bad input to Tensor: clear errors naming the problem."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from tinygrad_bp import AnomalyError, ShapeError, Tensor, detect_anomaly, no_grad


@pytest.mark.parametrize("bad", ["abc", [1, "a"], [[1, 2], [3]], object(), [1 + 2j], None])
def test_non_numeric_data_is_a_type_error(bad):
    with pytest.raises(TypeError, match="Tensor"):
        Tensor(bad)


def test_matmul_shape_mismatch_names_both_shapes_and_the_operation():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ShapeError, match=r"'@'.*\(2, 3\).*\(4, 5\)"):
        a @ b


def test_broadcast_mismatch_names_both_shapes_and_the_operation():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4,)))
    for op, fn in [("+", lambda: a + b), ("*", lambda: a * b), ("-", lambda: a - b)]:
        with pytest.raises(ShapeError, match=rf"'\{op}'.*\(2, 3\).*\(4,\)"):
            fn()


def test_log_of_non_positive_entries():
    with pytest.raises(ValueError, match="non-positive"):
        Tensor([1.0, 0.0, -1.0]).log()


def test_division_by_zero():
    with pytest.raises(ZeroDivisionError, match="'/'"):
        Tensor([1.0, 2.0]) / Tensor([1.0, 0.0])


def test_nan_input_is_rejected():
    with pytest.raises(ValueError, match="NaN"):
        Tensor([1.0, np.nan])


def test_exp_overflow_is_a_clear_error():
    with pytest.raises(OverflowError, match="709"):
        Tensor([1.0, 800.0]).exp()


def test_anomaly_mode_names_the_forward_operation_that_made_an_infinity():
    a = Tensor([1e200], requires_grad=True)
    with detect_anomaly(), np.errstate(over="ignore"), pytest.raises(AnomalyError, match=r"'\*'"):
        a * a


def test_anomaly_mode_in_backward_names_the_operation():
    a = Tensor([1e200], requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):
        y = (a * a * 0.0).sum()  # inf * 0 = nan, recorded outside anomaly mode
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"'\*'"):
        y.backward()


def test_sigmoid_is_warning_free_and_exact_at_extremes():
    a = Tensor([-1000.0, 1000.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = a.sigmoid()
        out.sum().backward()
    np.testing.assert_array_equal(out.data, [0.0, 1.0])
    np.testing.assert_array_equal(a.grad, [0.0, 0.0])


def test_no_grad_records_nothing_for_tensors():
    a = Tensor([1.0], requires_grad=True)
    with no_grad():
        b = a * 2
    assert not b.requires_grad and b.parents == ()


def test_backward_without_grad_tracking_is_explained():
    with pytest.raises(RuntimeError, match="requires_grad"):
        Tensor([1.0]).sum().backward()


def test_an_index_tensor_of_fractions_is_refused_not_truncated():
    from tinygrad_bp import trace

    x = Tensor([10.0, 20.0, 30.0], requires_grad=True)
    for bad, shown in (([1.7], "1.7"), ([0.0, -0.5], "-0.5"), ([1e20], "1e+20")):
        with pytest.raises(IndexError, match=re.escape(shown)):
            x[Tensor(bad)]
    assert x[Tensor([2.0, -1.0])].numpy().tolist() == [30.0, 30.0]
    # a replay reads the index Tensor's new numbers: they are checked as eagerly
    idx = Tensor([0.0, 1.0], role="const")
    step = trace(lambda w: w[idx].sum(), Tensor([1.0, 2.0, 3.0], requires_grad=True))
    idx.data[:] = [1.0, 2.5]
    with pytest.raises(IndexError, match="2.5"):
        step([1.0, 2.0, 3.0])
    idx.data[:] = [1.0, 5.0]
    with pytest.raises(IndexError, match=r"does not fit shape \(3,\).*index within the shape"):
        step([1.0, 2.0, 3.0])


def test_an_overflow_refusal_names_the_limit_of_a_float32_tensor():
    # float32's largest number is about 3.4e38: e^x overflows above ln(3.4e38) = 88.72
    limit32 = float(np.log(np.finfo(np.float32).max))
    assert 88.72 < limit32 < 88.73
    with pytest.raises(OverflowError, match=r"x > 88\.72 in float32"):
        Tensor([100.0], dtype="float32").exp()
    with pytest.raises(OverflowError, match=r"\|x\| > 89\.41 in float32"):
        Tensor([-100.0], dtype="float32").cosh()


def test_the_truth_of_a_tensor_is_its_number_not_its_length():
    torch = pytest.importorskip("torch")
    for data in ([0.0], [2.0], 0.0, -1.0, [[0.0]]):
        assert bool(Tensor(data)) == bool(torch.tensor(data))
    with pytest.raises(TypeError, match="ambiguous"):
        bool(Tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="ambiguous"):
        bool(Tensor(np.zeros((0, 2))))
    from tinygrad_bp import TraceError, trace

    with pytest.raises(TraceError, match="bool"):  # a branch on a traced input's number
        trace(lambda x: x * 2.0 if x else x * 3.0, Tensor([1.0], requires_grad=True))


def test_a_finite_number_beyond_float32s_range_is_named_as_such():
    # 1e39 is finite, but not in float32 (largest about 3.4e38): the message said
    # "NaN or infinity" or "a non-finite number", and numpy warned about the cast
    t = Tensor([1.0], dtype="float32")
    assert float(np.finfo(np.float32).max) < 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for make in (
            lambda: Tensor([1e39, 1.0], dtype="float32"),
            lambda: t * 1e39,
            lambda: t + np.float64(-1e39),
            lambda: t * np.array([1e39]),
        ):
            with pytest.raises(ValueError, match=r"e\+39, beyond float32's range"):
                make()
        with pytest.raises(ValueError, match="beyond float64's range"):
            Tensor([1.0]) * 10**400
