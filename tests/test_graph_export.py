"""Graphs as data: `graph_to_dict` and `draw --format json` against independent numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import tinygrad_bp
from tinygrad_bp import Tensor, Value, topological_order
from tinygrad_bp.formatting import dumps

from .test_views_geometry import random_graph

# each operation recomputed here from its operands, independently of the engine
OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
    "**2": lambda a: a * a,
    "tanh": math.tanh,
    "sigmoid": lambda a: 1 / (1 + math.exp(-a)),
    "exp": math.exp,
    "sin": math.sin,
}


def check_locals_by_finite_differences(data: dict) -> int:
    nodes = {n["id"]: n for n in data["nodes"]}
    operands: dict[int, list[dict]] = {}
    for e in data["edges"]:
        operands.setdefault(e["target"], []).append(e)
    checked = 0
    for target, edges in operands.items():
        f = OPS[nodes[target]["op"]]
        args = [nodes[e["source"]]["value"] for e in edges]
        assert f(*args) == pytest.approx(nodes[target]["value"], rel=1e-12, abs=1e-12)
        for k, e in enumerate(edges):
            h = 1e-6 * max(1.0, abs(args[k]))
            up, down = list(args), list(args)
            up[k] += h
            down[k] -= h
            numeric = (f(*up) - f(*down)) / (2 * h)
            assert e["local"] == pytest.approx(numeric, rel=1e-6, abs=1e-7)
            checked += 1
    return checked


@pytest.mark.parametrize("seed", range(4))
def test_random_graph_export_round_trips_and_local_derivatives_match(seed):
    root = random_graph(60, seed)
    data = json.loads(dumps(tinygrad_bp.graph_to_dict(root)))
    order = topological_order(root)
    assert len(data["nodes"]) == len(order)
    assert data["root"] == len(order) - 1 and data["nodes"][-1]["value"] == root.data
    assert len(data["edges"]) == sum(len(n.parents) for n in order)
    for n, node in zip(data["nodes"], order):
        assert (n["value"], n["grad"], n["name"]) == (node.data, node.grad, node.name)
    assert check_locals_by_finite_differences(data) == len(data["edges"])


def test_shared_operand_gives_two_edges():
    x = Value(0.3, "x")
    y = x * x
    y.backward()
    data = tinygrad_bp.graph_to_dict(y)
    assert [(e["source"], e["target"]) for e in data["edges"]] == [(0, 1), (0, 1)]
    assert [e["local"] for e in data["edges"]] == [0.3, 0.3]  # d(x*x)/dx = x + x = 0.6
    assert data["nodes"][0]["grad"] == pytest.approx(0.6)


def test_roles_and_tensor_export():
    a = Value(1.0, "a")
    c = Value(2.0, "c", role="input")
    out = a * c + 3
    data = tinygrad_bp.graph_to_dict(out)
    roles = {n["name"]: n["role"] for n in data["nodes"]}
    assert roles["a"] == "param" and roles["c"] == "input" and roles[None] is None
    assert [n["role"] for n in data["nodes"] if n["op"] == "const"] == ["const"]
    W = Tensor(np.ones((2, 3)), requires_grad=True, name="W")
    s = (W * 2).sum()
    s.backward()
    tdata = json.loads(dumps(tinygrad_bp.graph_to_dict(s)))
    w = next(n for n in tdata["nodes"] if n["name"] == "W")
    assert w["shape"] == [2, 3] and w["grad"] == [[2.0] * 3] * 2
    assert all(e["local"] is None for e in tdata["edges"])  # a Jacobian is not one number


def test_non_finite_values_are_null_not_nan():
    x = Value(800.0, "x")
    y = x * 1e300 * 1e10  # overflows to inf
    text = dumps(tinygrad_bp.graph_to_dict(y))
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["nodes"][-1]["value"] is None
