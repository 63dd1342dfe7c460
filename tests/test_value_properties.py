"""Property tests over random DAGs: autodiff vs finite differences and vs PyTorch."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tinygrad_bp import Value

from .randgraph import FloatLib, ValueLib, graphs, replay


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_dag_gradients_match_finite_differences(graph):
    leaves, steps = graph
    values = [Value(x) for x in leaves]
    root = replay(steps, values, ValueLib)
    root.backward()
    assert root.data == pytest.approx(replay(steps, leaves, FloatLib), rel=1e-12, abs=1e-12)
    eps = 1e-6
    for i, v in enumerate(values):
        plus = list(leaves)
        minus = list(leaves)
        plus[i] += eps
        minus[i] -= eps
        numeric = (replay(steps, plus, FloatLib) - replay(steps, minus, FloatLib)) / (2 * eps)
        assert v.grad == pytest.approx(numeric, rel=1e-5, abs=1e-5)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_dag_gradients_match_pytorch(graph):
    torch = pytest.importorskip("torch")
    leaves, steps = graph
    values = [Value(x) for x in leaves]
    root = replay(steps, values, ValueLib)
    root.backward()
    tleaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in leaves]
    troot = replay(steps, tleaves, torch)
    troot.backward()
    assert root.data == pytest.approx(troot.item(), rel=1e-12, abs=1e-12)
    for v, t in zip(values, tleaves):
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-10, abs=1e-12)
