"""Hostile cases for the eager Tensor engine's compiled backward, its Tensor class and its op
table: each either holds (the compiled code gives the shared walk's gradients bit for bit,
and those match closed forms or PyTorch), or is a known bug marked xfail.

References are independent of the compiled code: the shared walk (`_replay_backward`
patched to decline), closed forms, PyTorch.
"""

from __future__ import annotations

import copy
import enum
import gc
import os
import subprocess
import sys
import textwrap
import tracemalloc
from unittest import mock

import numpy as np
import pytest

from tinygrad_bp import Tensor, no_grad
from tinygrad_bp.engine import tensor as tensor_module
from tinygrad_bp.engine import tensor_compile
from tinygrad_bp.engine.autograd import topological_order
from tinygrad_bp.engine.ops import activation

# -- helpers ------------------------------


def walk_only():
    """Every backward runs the shared walk."""
    return mock.patch.object(tensor_module, "_replay_backward", lambda root, seed: False)


class Spy:
    """Records, for each backward, whether the compiled code ran it (with an empty cache)."""

    def __init__(self) -> None:
        self.ran: list[bool] = []
        self._real = tensor_compile.replay_backward
        self._patches = [
            mock.patch.object(tensor_compile, "_CACHE", {}),
            mock.patch.object(tensor_module, "_replay_backward", self._spy),
        ]

    def _spy(self, root, seed):
        done = self._real(root, seed)
        self.ran.append(done)
        return done

    def __enter__(self) -> Spy:
        for p in self._patches:
            p.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for p in reversed(self._patches):
            p.__exit__(*exc)


def compiled_then_walked(build):
    """(what `build` returns on its 4th call, with the compiled code; the same, walked)."""
    with Spy() as spy:
        for _ in range(3):
            build()
        got = build()
    assert spy.ran[-1], "the compiled code did not run"
    with walk_only():
        want = build()
    return got, want


def same(got, want) -> None:
    """Two gradients identical: both None, or arrays of one type, shape, dtype and bits."""
    assert (got is None) == (want is None), (got, want)
    if got is None:
        return
    assert type(got) is type(want) is np.ndarray
    assert got.shape == want.shape and got.dtype == want.dtype, (got, want)
    assert np.array_equal(got, want), (got, want)


def same_graphs(got: Tensor, want: Tensor) -> None:
    a, b = topological_order(got), topological_order(want)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        same(x.grad, y.grad)


# -- what held: graphs the compiled code runs as the walk does ------------------------------

RNG = np.random.default_rng(5)
A = RNG.normal(size=(3, 3))
B = RNG.normal(size=3)


def _compiled_then_walked(build):
    """``build(rebind=True)`` after three ``build(False)`` (a compiled structure), and the
    same with the walk forced."""
    with Spy():
        for _ in range(3):
            build(False)
        got = build(True)
    with walk_only():
        want = build(True)
    return got, want


def _param(x, dtype=None):
    return Tensor(x, requires_grad=True, dtype=dtype)


GRAPHS = {
    "a @ a.T": lambda: (lambda a: (a @ a.T).sum())(_param(A)),
    "a * a * a": lambda: (lambda a: (a * a * a).sum())(_param(B)),
    "numpy ufuncs": lambda: (lambda a: (np.exp(a) * np.ones(3) + np.tanh(a) - 2.0 * a).mean())(
        _param(B)
    ),
    "0-d": lambda: (lambda a: a * a + a.sigmoid())(_param(2.0)),
    "empty": lambda: (lambda a, b: (a * b).sum() + (b * b).sum())(
        _param(np.zeros((0, 3))), _param(B)
    ),
    "empty sum": lambda: _param(np.zeros(0)).sum(),
    "float32 @ float64": lambda: (lambda a, b: ((a @ b).relu() * a).sum())(
        _param(B, "float32"), _param(A)
    ),
    "no_grad inside": lambda: (lambda a: (a * _no_grad_double(a) + _no_grad_double(a).exp()).sum())(
        _param(B)
    ),
    "detach": lambda: (lambda a: (a * a.detach()).sum())(_param(B)),
    "numpy-int axis": lambda: (
        _param(A).log_softmax(axis=np.int64(0)).max(axis=1).sum(axis=0, keepdims=True).reshape(())
    ),
    "float32 views": lambda: (lambda a: (a.T.reshape(9) ** 2).sum() + (a**3).mean())(
        _param(A, "float32")
    ),
    "parameters": lambda: (lambda a: (a.leaky_relu(slope=0.3) * a.elu()).sum())(_param(A)),
    "a - a and a / a": lambda: (lambda a: (a - a).sum() + (a / a).sum())(_param(B)),
    "keepdims=1": lambda: (lambda a: (a.sum(axis=1, keepdims=1) * a).sum(axis=(0, 1)))(_param(A)),
    "sigmoid far below": lambda: (lambda a: (a.sigmoid() + a.softplus()).sum())(
        _param(np.full(300, -800.0))
    ),
}


def _no_grad_double(a: Tensor) -> Tensor:
    with no_grad():
        return a * 2


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_compiled_is_the_walk(name):
    def build():
        root = GRAPHS[name]()
        root.backward()
        return root

    got, want = compiled_then_walked(build)
    same_graphs(got, want)


def test_a_compiled_graph_matches_pytorch():
    torch = pytest.importorskip("torch")
    x0 = RNG.normal(size=(4, 3))

    def build():
        x = _param(x0)
        w = _param(A)
        return x, w, ((x @ w).tanh() * x).sum(axis=1).log_softmax(axis=0).max()

    with Spy() as spy:
        for _ in range(4):
            x, w, root = build()
            root.backward()
    assert spy.ran == [False, False, True, True]
    tx = torch.tensor(x0, requires_grad=True, dtype=torch.float64)
    tw = torch.tensor(A, requires_grad=True, dtype=torch.float64)
    ((tx @ tw).tanh() * tx).sum(dim=1).log_softmax(dim=0).max().backward()
    assert np.allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert np.allclose(w.grad, tw.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_two_graphs_of_one_parameter_walked_alternately_and_again():
    def build():
        p = _param([0.3, -0.7, 1.1])
        g1, g2 = (p.tanh() * p).sum(), (p.sigmoid() * p * p).sum()
        seen = []
        for i in range(4):
            (g1 if i % 2 == 0 else g2).backward()
            seen.append(p.grad.copy())
        return seen, g1, g2

    (got, g1, g2), (want, w1, w2) = compiled_then_walked(build)
    for x, y in zip(got, want):
        same(x, y)
    same_graphs(g1, w1)
    same_graphs(g2, w2)


def test_views_after_a_compiled_backward_are_the_walks():
    from tinygrad_bp.views.draw import draw

    def build():
        p = Tensor([0.3, -0.7], requires_grad=True, name="p")
        h = (p * 2.0).leaky_relu(slope=0.2)
        root = (h * p).sum()
        root.backward()
        return root, h

    (got, h), (want, _) = compiled_then_walked(build)
    assert draw(got).source == draw(want).source
    # d leaky_relu(2p)/d(2p) at 2p = (0.6, -1.4): 1 and the slope
    assert np.array_equal(h.local_grads[0], [1.0, 0.2])


def test_training_eager_and_traced_is_training_walked():
    from tinygrad_bp import nn
    from tinygrad_bp.nn.optim import SGD
    from tinygrad_bp.nn.train import fit

    def train(trace):
        rng = np.random.default_rng(1)
        X = rng.normal(size=(40, 2))
        y = (X[:, :1] * X[:, 1:] > 0).astype(float)
        model = nn.MLP([2, 5, 1], "tanh", "sigmoid", seed=0)
        fit(
            model, X, y, "mse", SGD(model.parameters(), lr=0.5), epochs=3, batch_size=8, trace=trace
        )
        return [p.data.copy() for p in model.parameters()]

    with Spy() as spy:
        eager, traced = train(False), train(True)
    assert any(spy.ran)
    with walk_only():
        walked = train(False)
    for e, t, w in zip(eager, traced, walked):
        same(e, w)
        same(t, w)


def test_the_pure_python_classes_compile_as_the_native_ones():
    script = textwrap.dedent(
        """
        import gc
        import numpy as np
        from unittest import mock
        from tinygrad_bp import Tensor
        from tinygrad_bp.engine import tensor as tm
        def run():
            p = Tensor([0.3, -0.7, 1.1], requires_grad=True)
            ((p @ p) * p.tanh() + p.relu()).sum().backward()
            return p.grad
        for _ in range(3):
            run()
        got = run()
        with mock.patch.object(tm, "_replay_backward", lambda r, s: False):
            want = run()
        assert np.array_equal(got, want) and gc.is_tracked(Tensor([1.0]))
        print("ok")
        """
    )
    env = {**os.environ, "TINYGRAD_BP_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.strip() == "ok", out.stderr


# -- bugs ------------------------------


@pytest.mark.parametrize("change", ["shape", "dtype"])
def test_a_leaf_rebound_to_another_shape_or_dtype_gets_the_walks_gradient(change):
    small = np.ones(1) if change == "shape" else np.ones(3, np.float32)

    def build(rebind):
        a = _param(np.ones(3) if rebind else small)
        b = _param([1.0, 2.0, 3.0])
        root = (a * b).sum()
        if rebind:
            a.data = small  # after the forward: the graph used the old array
        root.backward()
        return a.grad

    got, want = _compiled_then_walked(build)
    # d/da sum(a * b) = b, of the array the forward used
    same(want, np.array([1.0, 2.0, 3.0]))
    same(got, want)


def test_an_intermediate_rebound_to_another_shape_before_use_gets_the_walks_gradient():
    p0, q0 = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])

    def build(rebind):
        p, q = _param(p0), _param(q0)
        h = p.tanh()
        if rebind:
            h.data = np.array([0.25])  # the product below broadcasts it
        (h * q).sum().backward()
        return p.grad

    got, want = _compiled_then_walked(build)
    # the walk's own answer: h's gradient sum(q) = 6 reaches p through tanh's derivative
    assert np.allclose(want, 6.0 * (1 - np.tanh(p0) ** 2), rtol=1e-14)
    same(got, want)


def test_a_copied_computed_tensor_sums_in_the_walks_order():
    def build():
        p = _param([0.1])
        a = p * Tensor([1.0])
        b = copy.copy(a)  # the walk handles it: same parents, same VJP
        root = (a * Tensor([3.0]) + b * Tensor([1e16]) + p * Tensor([-1e16])).sum()
        root.backward()
        return p.grad

    got, want = compiled_then_walked(build)
    same(got, want)


class KeepDims(int, enum.Enum):
    ON = 1


def test_keepdims_given_as_an_int_enum():
    def build():
        p = _param(np.arange(6.0).reshape(2, 3))
        root = (p.sum(axis=1, keepdims=KeepDims.ON) * Tensor([[1.0], [2.0]])).sum()
        root.backward()
        return p.grad

    got, want = compiled_then_walked(build)
    same(got, want)
    same(want, np.array([[1.0] * 3, [2.0] * 3]))


def test_distinct_exponents_do_not_grow_memory():
    p = Tensor([1.5, 2.0], requires_grad=True)
    for i in range(20):
        (p ** (1.0 + i * 1e-4)).sum()
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            (p ** (2.0 + i * 1e-4)).sum()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert grown < 64_000, f"{grown} bytes kept after the graphs died"


def test_a_deep_copied_activation_equals_the_original():
    act = activation("leaky_relu(0.2)")
    twin = copy.deepcopy(act)
    assert twin.spec == act.spec  # what it reads as: the same activation
    assert twin == act


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_keepdims_as_a_numpy_bool_keeps_the_axes(op):
    t = Tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    out = getattr(t, op)(axis=1, keepdims=np.True_)
    assert out.shape == (2, 1)
    out.sum().backward()
    want = {"sum": [[1, 1], [1, 1]], "mean": [[0.5, 0.5], [0.5, 0.5]], "max": [[0, 1], [0, 1]]}
    assert np.array_equal(t.grad, want[op])
