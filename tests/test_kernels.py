"""The one-pass C loops (`engine._kernels`) against numpy's passes of the same formula: the
array sigmoid, and the chains G f'(x) of the table's sigmoid and tanh."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bp.engine import ops

kernels = ops.kernels
needs_helper = pytest.mark.skipif(kernels is None, reason="the C loops are not built")


def numpy_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) in numpy's four passes, or the two-sided form for every entry where
    e^-x overflows for one: what the C loop is to give."""
    with np.errstate(all="ignore"):
        e = np.exp(-x)
        if np.any(np.isinf(e) & np.isfinite(x)):
            z = np.exp(-np.abs(x))
            return np.where(x >= 0, 1.0, z) / (1 + z)
        return 1 / (1 + e)


def within_ulps(got: np.ndarray, want: np.ndarray, ulps: int) -> bool:
    # numpy's exp may be its own vectorised one, the loop's is the C library's: both are
    # within an ulp of e^x, so the quotients may part by one or two ulps
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    gap = np.abs(got - want) <= ulps * np.spacing(np.maximum(np.abs(got), np.abs(want)))
    return bool(np.all(same | gap))


floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
small = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=floats
)


@needs_helper
@settings(max_examples=300, deadline=None)
@given(small)
def test_the_c_sigmoid_is_numpys_formula(x):
    out = np.empty(x.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = kernels.sigmoid_into(x, out)
    assert got is out
    assert within_ulps(got, numpy_sigmoid(x), 2)
    assert ((0 <= got) | np.isnan(got)).all() and ((got <= 1) | np.isnan(got)).all()


@needs_helper
def test_one_overflowing_entry_switches_every_entry_to_the_two_sided_form():
    x = np.array([-720.0, -30.0, 0.0, -0.0, 2.0, np.inf, -np.inf, np.nan])
    got = kernels.sigmoid_into(x, np.empty(8))
    # sigmoid(-720) = e^-720 / (1 + e^-720) = 2.0322...e-313, a subnormal the four
    # passes would round to 0; sigmoid(-30) = 9.3576...e-14 either way
    assert got[0] == pytest.approx(2.0322308e-313, rel=1e-6)
    assert got[1] == pytest.approx(9.357622968839299e-14, rel=1e-15)
    assert got[2] == got[3] == 0.5 and got[5] == 1.0 and got[6] == 0.0 and np.isnan(got[7])
    assert within_ulps(got, numpy_sigmoid(x), 2)
    # without the overflowing entry, -inf overflows nothing: e^inf is exact
    rest = kernels.sigmoid_into(x[1:], np.empty(7))
    assert within_ulps(rest, 1 / (1 + np.exp(-x[1:])), 2)


@needs_helper
@pytest.mark.parametrize(
    "x,out",
    [
        (np.ones(3), np.ones(4)),  # sizes differ
        (np.ones(3, np.float32), np.ones(3, np.float32)),
        (np.ones(3), np.ones(3, np.float32)),
        (np.ones((3, 4))[:, ::2], np.ones(6)),  # not contiguous
        (np.ones(3), np.ones(6)[::2]),
        (np.ones(3).astype(">f8"), np.ones(3)),  # another byte order
        ([1.0, 2.0], np.ones(2)),  # not a buffer
        (np.ones(2), bytearray(16)),  # bytes, not float64
    ],
)
def test_the_c_sigmoid_leaves_other_arrays_to_numpy(x, out):
    before = np.array(out, copy=True) if isinstance(out, np.ndarray) else bytes(out)
    assert kernels.sigmoid_into(x, out) is None
    assert np.array_equal(out, before) if isinstance(out, np.ndarray) else bytes(out) == before


@needs_helper
def test_the_c_sigmoid_writes_no_read_only_array_and_takes_two_arguments():
    out = np.ones(3)
    out.flags.writeable = False
    assert kernels.sigmoid_into(np.zeros(3), out) is None and (out == 1).all()
    with pytest.raises(TypeError, match="two arrays"):
        kernels.sigmoid_into(np.zeros(3))
    x = np.array([0.0, 1.0])
    assert kernels.sigmoid_into(x, x) is x and x[0] == 0.5  # in place, entry by entry


@pytest.mark.parametrize("shape", [(3, 1), (1, 256), (257,), (16, 32)])
def test_the_tensor_sigmoid_of_few_and_many_numbers_is_one_formula(shape):
    # up to 256 float64 numbers go through the C loop, more through numpy's passes
    x = np.random.default_rng(3).normal(0, 8, shape)
    assert within_ulps(ops.UNARY["sigmoid"].array(x), numpy_sigmoid(x), 2)


def test_pure_python_switches_the_c_loops_off():
    code = "from tinygrad_bp.engine import ops; print(ops.kernels is None)"
    env = {**os.environ, "TINYGRAD_BP_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


CHAINED = ["sigmoid", "tanh"]
big = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=70),
    elements=st.floats(-1e300, 1e300) | st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan]),
)


@needs_helper
@pytest.mark.parametrize("name", CHAINED)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_chain_is_g_times_the_tables_derivative_bit_for_bit(name, data):
    op = ops.UNARY[name]
    g = data.draw(big)
    y = op.array(data.draw(hnp.arrays(np.float64, g.shape, elements=st.floats(-40, 40))))
    with np.errstate(all="ignore"):  # G = inf times f'(x) = 0 is NaN, in both
        want = g * op.grad(None, y)
    got = op.chain(g, y)
    assert got.dtype == np.float64 and got.shape == g.shape
    assert np.array_equal(got, want, equal_nan=True)


@needs_helper
@pytest.mark.parametrize("name", CHAINED)
def test_a_chain_leaves_other_arrays_to_the_tables_derivative(name):
    op = ops.UNARY[name]
    y = np.full((3, 1), 0.5)
    assert op.chain(np.ones((1, 3)), np.full((1, 3), 0.5)) is not None
    assert op.chain(np.ones((1, 3)), y) is None  # shapes that would broadcast
    assert op.chain(np.ones((3, 1), np.float32), y.astype(np.float32)) is None
    assert op.chain(np.float64(1.0), np.float64(0.5)) is None  # a numpy scalar
    assert op.chain(np.ones((3, 2))[:, :1], y) is None  # not contiguous
    with pytest.raises(TypeError, match="three arrays"):
        getattr(kernels, f"{name}_chain")(np.ones(1), np.ones(1))


@pytest.mark.parametrize("name", CHAINED)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tensor_gradients_through_a_chained_activation_are_closed_form(name, dtype):
    # sigmoid' = s (1 - s), tanh' = 1 - t^2, against the math module's values
    import math

    from tinygrad_bp import Tensor

    x = np.linspace(-3, 3, 7, dtype=dtype).reshape(7, 1)
    w = np.arange(1.0, 8.0, dtype=dtype).reshape(7, 1)
    t = Tensor(x, requires_grad=True)
    (getattr(t, name)() * Tensor(w)).sum().backward()
    f = {"sigmoid": lambda v: 1 / (1 + math.exp(-v)), "tanh": math.tanh}[name]
    d = {"sigmoid": lambda s: s * (1 - s), "tanh": lambda s: 1 - s * s}[name]
    want = [wi * d(f(xi)) for xi, wi in zip(x.ravel().tolist(), w.ravel().tolist())]
    assert t.grad.dtype == np.dtype(dtype)
    # (float32: 1 - y of a rounded y near 1 keeps fewer digits, 1e-5 of them at x = 3)
    assert np.allclose(t.grad.ravel(), want, rtol=1e-12 if dtype == "float64" else 1e-4)


@needs_helper
@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    lr=st.floats(1e-12, 1e3) | st.sampled_from([0.1, 0.01, 1.0]),
)
def test_the_c_sgd_step_is_numpys_two_passes_bit_for_bit(data, lr):
    p = data.draw(big)
    g = data.draw(hnp.arrays(np.float64, p.shape, elements=st.floats(-1e300, 1e300)))
    want = p.copy()
    with np.errstate(all="ignore"):
        np.subtract(want, np.multiply(g, lr), out=want)
    assert kernels.sgd_step(p, g, lr) is True
    assert np.array_equal(p, want, equal_nan=True)


@needs_helper
def test_the_c_sgd_step_leaves_other_arrays_and_rates_to_numpy():
    base = np.arange(8.0)
    cases = [
        (np.ones(3), np.ones(4), 0.1),  # sizes differ
        (np.ones(3, np.float32), np.ones(3, np.float32), 0.1),
        (np.ones((3, 2))[:, :1], np.ones(3), 0.1),  # not contiguous
        (np.ones(3), np.ones(3), 1),  # an int rate: numpy's rules
        (base[0:4], base[1:5], 0.1),  # overlapping views of one array
        (np.zeros(2, "datetime64[s]"), np.ones(2), 0.1),  # no buffer numpy can export
        (np.ones(2), np.zeros(2, "timedelta64[s]"), 0.1),
    ]
    for p, g, lr in cases:
        before = p.copy()
        assert kernels.sgd_step(p, g, lr) is None
        assert np.array_equal(p, before)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    assert kernels.sgd_step(frozen, np.ones(3), 0.1) is None
    same = np.full(3, 2.0)
    assert kernels.sgd_step(same, same, 0.25) is True and (same == 1.5).all()  # 2 - 0.5
    assert kernels.sgd_step(same, np.ones(3), np.float64(0.5)) is True and (same == 1.0).all()


@pytest.mark.parametrize("lr", [0.1, np.float32(0.1), 1])
def test_sgd_updates_a_tensor_by_lr_times_its_gradient(lr):
    from tinygrad_bp import Tensor
    from tinygrad_bp.nn.optim import SGD

    w = Tensor(np.array([[1.0, -2.0, 3.0]]), requires_grad=True)
    (w * w).sum().backward()  # dE/dw = 2 w
    SGD([w], lr=lr).step()
    rate = float(lr)  # w - lr 2w: 0.8, -1.6, 2.4 for lr = 0.1
    assert np.allclose(w.data, [[1 - 2 * rate, -2 + 4 * rate, 3 - 6 * rate]], rtol=1e-15, atol=0)


def test_ci_builds_the_c_loops():
    """The benchmarks' figures assume the loops; the CI machine has a compiler."""
    if os.environ.get("CI") != "true":
        pytest.skip("checked in CI only")
    assert kernels is not None


def test_the_c_loops_compile_without_a_warning_or_a_fused_multiply_add(tmp_path):
    """-Wall -Wextra -Werror; and built for this very CPU (which may have fused
    multiply-adds), no a * b + c is fused: each rounding stays numpy's."""
    import shutil
    import sysconfig
    from pathlib import Path

    compiler = shutil.which("gcc") or shutil.which("cc")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not (Path(include) / "Python.h").exists():
        pytest.skip("no C compiler or no Python headers")
    source = Path(ops.__file__).with_name("_kernels.c")
    flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{include}"]
    r = subprocess.run(
        [compiler, *flags, str(source), "-o", str(tmp_path / "_kernels.so")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(
        [compiler, "-S", "-O3", "-march=native", f"-I{include}", str(source), "-o", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert not any(op in r.stdout for op in ("fmadd", "fmsub", "fnmadd", "fnmsub"))


def test_a_masked_array_keeps_numpys_handling():
    # the loops read raw buffers: an ndarray subclass (here a mask) goes through numpy
    m = np.ma.array([[1.0], [2.0], [-3.0]], mask=[[False], [True], [False]])
    y = ops.UNARY["sigmoid"].array(m)
    assert isinstance(y, np.ma.MaskedArray) and y.mask.tolist() == [[False], [True], [False]]
    assert ops.UNARY["tanh"].chain is None or ops.UNARY["tanh"].chain(m, np.ones((3, 1))) is None


@needs_helper
def test_the_c_sgd_step_leaves_a_gradient_of_another_shape_to_numpy():
    """A gradient of another shape of the same size is numpy's to broadcast or refuse, not
    one to apply entry by entry in memory order (a (3, 2) gradient on (2, 3) data)."""
    for p, g in [
        (np.zeros((2, 3)), np.arange(6.0).reshape(3, 2)),
        (np.zeros((3, 1)), np.arange(3.0)),
        (np.zeros(6), np.arange(6.0).reshape(2, 3)),
    ]:
        assert kernels.sgd_step(p, g, 0.5) is None
        assert not p.any()


@pytest.mark.parametrize("shape", [(3, 2), (6,), (6, 1)])
def test_sgd_refuses_a_gradient_of_another_shape_as_numpy_does(shape):
    from tinygrad_bp import Tensor
    from tinygrad_bp.nn.optim import SGD

    w = Tensor(np.zeros((2, 3)), requires_grad=True)
    w.grad = np.arange(6.0).reshape(shape)
    with pytest.raises(ValueError):  # numpy: the shapes do not broadcast into (2, 3)
        SGD([w], lr=0.5).step()
    assert not w.data.any()
