"""Random computation graphs with shared subexpressions, for property tests.

A graph is a list of steps applied to a pool of nodes that starts with the
leaves; each step reads earlier nodes by index (so nodes get reused) and
appends its result. The same steps can be replayed on Values, on floats, or
on PyTorch scalars.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

# Operations that are smooth everywhere on their inputs, so finite differences are valid.
BINARY_OPS = ["+", "-", "*", "div1p"]
UNARY_OPS = ["tanh", "sigmoid", "exp_tanh", "log1p_sq", "sq", "sin", "linear"]


@st.composite
def graphs(draw, max_leaves: int = 4, max_steps: int = 14):
    n_leaves = draw(st.integers(1, max_leaves))
    leaves = draw(
        st.lists(
            st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
            min_size=n_leaves,
            max_size=n_leaves,
        )
    )
    steps = []
    size = n_leaves
    for _ in range(draw(st.integers(1, max_steps))):
        if draw(st.booleans()):
            op = draw(st.sampled_from(BINARY_OPS))
            args = (draw(st.integers(0, size - 1)), draw(st.integers(0, size - 1)))
        else:
            op = draw(st.sampled_from(UNARY_OPS))
            args = (draw(st.integers(0, size - 1)),)
        steps.append((op, args))
        size += 1
    return leaves, steps


def draw_steps(draw, n_leaves: int, kinds: dict, max_steps: int) -> list[tuple]:
    """Between 1 and `max_steps` steps (kind, argument, operand indices) on a pool that
    starts with `n_leaves` tensors and grows by one per step. `kinds` maps each kind to
    (a strategy for its argument, its number of operands)."""
    steps: list[tuple] = []
    for _ in range(draw(st.integers(1, max_steps))):
        pick = st.integers(0, n_leaves + len(steps) - 1)
        kind = draw(st.sampled_from(list(kinds)))
        arg, arity = kinds[kind]
        steps.append((kind, draw(arg), tuple(draw(pick) for _ in range(arity))))
    return steps


def replay(steps, leaves, lib):
    """Run the steps on `leaves` (Values, torch scalars, ...) using `lib` for functions.

    The root adds up every node, so every leaf and shared node reaches it.
    """
    pool = list(leaves)
    for op, args in steps:
        a = pool[args[0]]
        b = pool[args[1]] if len(args) > 1 else None
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "div1p":
            r = a / (1 + b * b)
        elif op == "tanh":
            r = lib.tanh(a)
        elif op == "sigmoid":
            r = lib.sigmoid(a)
        elif op == "exp_tanh":
            r = lib.exp(lib.tanh(a))
        elif op == "log1p_sq":
            r = lib.log(1 + a * a)
        elif op == "sq":
            r = a**2
        elif op == "sin":
            r = lib.sin(a)
        elif op == "linear":
            r = a
        pool.append(r)
    root = pool[0]
    for node in pool[1:]:
        root = root + node
    return root


class ValueLib:
    tanh = staticmethod(lambda v: v.tanh())
    sigmoid = staticmethod(lambda v: v.sigmoid())
    exp = staticmethod(lambda v: v.exp())
    log = staticmethod(lambda v: v.log())
    sin = staticmethod(lambda v: v.sin())


class FloatLib:
    tanh = staticmethod(math.tanh)
    sigmoid = staticmethod(lambda x: 1 / (1 + math.exp(-x)))
    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sin = staticmethod(math.sin)


@st.composite
def table_graphs(draw, edges, max_leaves: int = 3, max_steps: int = 8):
    """Random graphs over every op of the table, leaves drawn from [-2, 2] and `edges`.

    Steps are ("unary", name, (i,)) or ("binary", name, (i, j)), names from `UNARY`
    and `BINARY`; each reads earlier nodes by index, so nodes get reused.
    """
    from tinygrad_bp.engine.ops import BINARY, UNARY

    n = draw(st.integers(1, max_leaves))
    # no -0.0: the sign of an infinite derivative there is an accident of each library
    value = st.one_of(st.floats(-2.0, 2.0).map(lambda v: v + 0.0), st.sampled_from(edges))
    leaves = draw(st.lists(value, min_size=n, max_size=n))
    steps = []
    for size in range(n, n + draw(st.integers(1, max_steps))):
        pick = st.integers(0, size - 1)
        if draw(st.booleans()):
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))), (draw(pick),)))
        else:
            steps.append(
                ("binary", draw(st.sampled_from(sorted(BINARY))), (draw(pick), draw(pick)))
            )
    return leaves, steps
