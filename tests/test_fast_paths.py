"""The engines' fast paths give the numbers of their plain versions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygrad_bp import Tensor, Value, detect_anomaly
from tinygrad_bp.nn.optim import SGD

from .randgraph import ValueLib, graphs, replay

NUMBERS = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_value_walk_equals_the_shared_walk_bit_for_bit(graph):
    """`Value.backward` runs its own loop; anomaly mode runs the shared one."""
    leaves, steps = graph
    fast = [Value(x) for x in leaves]
    replay(steps, fast, ValueLib).backward()
    plain = [Value(x) for x in leaves]
    with detect_anomaly():
        replay(steps, plain, ValueLib).backward()
    assert [v.grad for v in fast] == [v.grad for v in plain]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.lists(st.integers(0, 3), min_size=14, max_size=14))
def test_value_walk_with_old_nodes_equals_the_shared_walk(graph, gaps):
    """Nodes made long before the root (numbers skipped between steps) take the walk's
    fallback for old nodes; its calendar is shrunk here so that small graphs reach it."""
    import tinygrad_bp.engine.value as value_module

    leaves, steps = graph

    def build(values):
        skipped = iter(gaps)
        lib = ValueLib()

        class Spaced:
            def __getattr__(self, name):
                for _ in range(next(skipped, 0) * 3):
                    Value(0.0)  # takes creation numbers, as unrelated work would
                return getattr(lib, name)

        return replay(steps, values, Spaced())

    fast = [Value(x) for x in leaves]
    root = build(fast)
    old = value_module._SPAN_PER_NODE, value_module._SPAN_FREE
    value_module._SPAN_PER_NODE, value_module._SPAN_FREE = 1, 2
    try:
        root.backward()
    finally:
        value_module._SPAN_PER_NODE, value_module._SPAN_FREE = old
    plain = [Value(x) for x in leaves]
    with detect_anomaly():
        build(plain).backward()
    assert [v.grad for v in fast] == [v.grad for v in plain]


@settings(max_examples=60, deadline=None)
@given(NUMBERS, NUMBERS, st.sampled_from(["+", "-", "*", "r+", "r*"]))
def test_a_folded_number_acts_as_a_constant_node(a, c, op):
    x, y = Value(a), Value(a)
    const = Value(c, role="const")
    folded = {"+": x + c, "-": x - c, "*": x * c, "r+": c + x, "r*": c * x}[op]
    node = {"+": y + const, "-": y - const, "*": y * const, "r+": const + y, "r*": const * y}[op]
    (folded * folded).backward()
    (node * node).backward()
    assert folded.data == node.data and x.grad == y.grad
    # the graph interface shows the number as a constant leaf, made before the node
    (p, q) = folded.parents
    assert p is x and q.op == "const" and q.data == c and q._seq < folded._seq
    want = {"+": 1.0, "-": -1.0, "*": a, "r+": 1.0, "r*": a}[op]
    assert folded.local_grads == ({"*": c, "r*": c}.get(op, 1.0), want)


def test_a_folded_number_is_refused_like_an_operand():
    x = Value(1.0)
    for bad in (math.inf, math.nan):
        with pytest.raises(ValueError, match="non-finite"):
            x + bad
    with pytest.raises(TypeError, match="cannot combine"):
        x * "2"
    with pytest.raises(TypeError):
        x - True


def test_sgd_update_through_its_buffer_is_the_formula():
    rng = np.random.default_rng(0)
    w0, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    for dtype in (np.float64, np.float32):
        w = Tensor(w0, requires_grad=True, dtype=dtype)
        opt = SGD([w], lr=0.1)
        for _ in range(2):
            w.grad = g.astype(dtype)
            opt.step()
        want = w0.astype(dtype)
        for _ in range(2):
            want = want - dtype(0.1) * g.astype(dtype)
        assert w.data.dtype == dtype
        np.testing.assert_array_equal(w.data, want)
        np.testing.assert_array_equal(w.grad, g.astype(dtype))  # the gradient is untouched


def test_leaves_never_share_a_gradient_array():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((2, 3)), requires_grad=True)
    c = Tensor(np.ones((3, 2)), requires_grad=True)
    # + hands G to both leaves, reshape hands on a view, and @ makes new arrays
    ((a + b) * 2 + c.reshape(2, 3)).sum().backward()
    grads = [a.grad, b.grad, c.grad]
    for i, g in enumerate(grads):
        for h in grads[i + 1 :]:
            assert not np.shares_memory(g, h)
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))
    np.testing.assert_array_equal(c.grad, np.ones((3, 2)))


def test_an_interrupted_value_walk_leaves_no_marks(monkeypatch):
    """A walk stopped part-way (Ctrl-C) clears its scratch marks, so the next walk is right."""
    import tinygrad_bp.engine.value as value_module
    from tinygrad_bp.engine.autograd import topological_order

    def build():
        a = Value(0.5)
        b = (a * 2.0).tanh()
        for _ in range(20):
            Value(0.0)  # creation numbers taken by unrelated work: b is an old node
        return a, (b * b + a).sin()

    a, root = build()
    monkeypatch.setattr(value_module, "_SPAN_PER_NODE", 1)
    monkeypatch.setattr(value_module, "_SPAN_FREE", 2)

    def interrupt(node):
        raise KeyboardInterrupt

    monkeypatch.setattr(value_module, "_SEQ", interrupt)  # the old nodes' sort is interrupted
    with pytest.raises(KeyboardInterrupt):
        root.backward()
    assert all(node._g is None for node in topological_order(root))
    monkeypatch.undo()
    a.grad = None
    root.backward()
    # d/da sin(tanh(2a)^2 + a) = cos(.) (2 tanh(2a) (1 - tanh(2a)^2) 2 + 1)
    t = math.tanh(1.0)
    assert a.grad == pytest.approx(math.cos(t * t + 0.5) * (4 * t * (1 - t * t) + 1), rel=1e-14)
