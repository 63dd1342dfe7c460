"""The reverse-mode engine shared by `Value` and `Tensor`.

A graph node (`Node`) knows its parents and how to turn the gradient that
reaches it into gradients for those parents (its vector-Jacobian product,
`_vjp`). This module owns everything else, once, for both engines:

* the grad-recording switch (`no_grad`) and the anomaly mode (`detect_anomaly`),
  both local to the thread (context variables);
* the topological ordering of a graph (iterative, so deep graphs never hit the
  recursion limit);
* the backward walk: seed the root, visit nodes in reverse topological order,
  sum each node's incoming gradients over every path, push them to the parents.

For a root r and a node u, the walk computes dr/du = sum over children c of u
of dr/dc * dc/du, which is exactly the chain rule summed over every path.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from itertools import count
from operator import attrgetter
from typing import Any

import numpy as np

from .untracked import untracked

__all__ = [
    "AnomalyError",
    "Node",
    "ROLES",
    "detect_anomaly",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
]


# The recording modes, one integer of bits in a context variable: each thread
# (and each asyncio task) has its own, and an operation reads it once.
RECORD = 1  # operations record the graph (off inside `no_grad`)
ANOMALY = 2  # a non-finite value or gradient raises (inside `detect_anomaly`)
TRACE = 4  # Tensor operations keep their kernels and every parent (inside a Tensor trace)
_MODE: ContextVar[int] = ContextVar("tinygrad_bp_mode", default=RECORD)

#: The current modes (bits RECORD and ANOMALY); engines call it once per operation.
mode = _MODE.get

#: The roles of a leaf: a trainable parameter, an input (data), a constant.
ROLES = ("param", "input", "const")

#: Held by every backward pass while it adds into gradients (`_g`, `.grad`): passes in
#: several threads through shared nodes, such as a model's parameters, run one at a time.
WALK_LOCK = threading.RLock()

# Whether this thread is inside a backward walk: the walk marks nodes (`_g`), so a walk
# started from inside another (by code that the walk runs) would leave out the nodes
# they share; it is refused.
_WALKING: ContextVar[bool] = ContextVar("tinygrad_bp_walking", default=False)

# Creation numbers: every node takes the next one, so parents number below children.
next_seq = count().__next__


def check_name(name: object) -> str | None:
    """A node's name: a string or None."""
    if name is not None and not isinstance(name, str):
        raise TypeError(
            f"a node's name must be a string, got {type(name).__name__} ({name!r}); "
            "pass the other options by keyword, e.g. requires_grad=True or role='input'"
        )
    return name


# `_g` of a node that the walk will visit but that no gradient has reached yet
_PENDING = object()
_SEQ = attrgetter("_seq")


class AnomalyError(FloatingPointError):
    """Raised in anomaly mode when an operation's value or gradient is NaN or infinite."""


@contextmanager
def _modes(on: int, off: int) -> Iterator[None]:
    token = _MODE.set((_MODE.get() | on) & ~off)
    try:
        yield
    finally:
        _MODE.reset(token)


def no_grad() -> AbstractContextManager[None]:
    """Inside this block operations record no graph (results have no parents).

    The mode belongs to the current thread (and asyncio task): other threads
    keep recording, and a new thread starts with recording on.
    """
    return _modes(0, RECORD)


def detect_anomaly() -> AbstractContextManager[None]:
    """Raise `AnomalyError` on the first operation whose value or gradient is NaN or infinite.

    Forward: an operation that produces a non-finite value raises at once, naming
    itself. Backward: `backward()` checks every value on the graph (first one in
    forward order wins) and every gradient as it is produced. Like `no_grad`,
    the mode belongs to the current thread.
    """
    return _modes(ANOMALY, 0)


def is_grad_enabled() -> bool:
    """Whether operations in this thread record the graph."""
    return bool(_MODE.get() & RECORD)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in this thread."""
    return bool(_MODE.get() & ANOMALY)


def all_finite(x: Any) -> bool:
    if isinstance(x, float):
        return math.isfinite(x)
    return bool(np.isfinite(x).all())


# Untracked by the garbage collector when the C helper is built (see `untracked`), so
# that `Value`, remade the same way, keeps Node as its base class.
@untracked
class Node:
    """Base class of graph nodes. Subclasses provide `data`, `grad` and the hooks below.

    `_parents`: the nodes this one was computed from (empty for leaves and under
    `no_grad`). `_op`: the operation's name. `_g`: scratch space of the backward
    walks, `None` outside them. `_seq`: creation number from `next_seq()`,
    larger than every parent's.
    """

    # Subclasses provide `_parents` (a slot or a property).
    __slots__ = ("_op", "_g", "_seq")

    _parents: tuple[Node, ...]
    _op: str
    _g: Any

    # -- hooks each engine implements ------------------------------
    def _receive(self, g: Any) -> Any:
        """Take d(root)/d(self) = g: add it into the user-visible `.grad`, and return the
        pairs (parent, d(root)/d(parent) through this node).

        A None gradient means "this parent needs none"; leaves return no pairs.
        """
        raise NotImplementedError

    def _clear_grad(self) -> None:
        raise NotImplementedError

    # -- the edge interface, shared by both engines ------------------------------
    @property
    def op(self) -> str:
        """The operation that made this node; for a leaf its role (param, input, const)."""
        return self._op

    @property
    def role(self) -> str | None:
        """A leaf's role: "param" (trainable), "input" or "const"; None for a computed node."""
        op = self._op
        return op if op in ROLES and not self._parents else None

    @property
    def parents(self) -> tuple[Node, ...]:
        """The nodes this one was computed from (none for a leaf or under `no_grad`)."""
        return self._parents

    @property
    def is_leaf(self) -> bool:
        return not self._parents

    @property
    def local_grads(self) -> tuple[Any, ...]:
        """d(self)/d(parent) for each parent (see each engine)."""
        raise NotImplementedError

    def edges(self) -> list[tuple[Node, Any]]:
        """[(parent, d(self)/d(parent)), ...], one pair per parent, in order."""
        return list(zip(self._parents, self.local_grads))

    # -- shared ------------------------------
    # -- unary operators, the same on both engines (neg and abs come from the op table)
    def __neg__(self):
        """-a; d/da = -1."""
        return self.neg()

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def describe(self) -> str:
        """A short human name for this node, used in messages: "'sigmoid' (y_h1)"."""
        name = getattr(self, "name", None)
        return f"'{self._op}'" + (f" ({name})" if name else "")

    def _run_backward(self, seed: Any) -> None:
        """The backward walk from this node with d(self)/d(self) = seed.

        Every node carries its creation number `_seq`, and a node is always
        created after its parents. The walk collects the nodes reachable from
        this one, sorts them once by creation number, highest first, so that
        each node comes after every node computed from it, and visits them in
        that order: by the time a node is reached, all of its children have
        added their share to its gradient. Nodes that no gradient reaches are
        skipped. An engine may replay the same sums faster for a graph it has
        seen before (`_replay`: the Tensor engine's compiled backward); `Value`
        runs its own one-pass walk in the same order (`value._walk`). All of
        them add the gradients up in the same order.
        """
        anomaly = _MODE.get() & ANOMALY
        if anomaly:
            for node in topological_order(self):
                if not all_finite(node.data):
                    raise AnomalyError(
                        f"operation {node.describe()} produced a non-finite value "
                        f"(NaN or infinity) in the forward pass, expected finite numbers; "
                        "look at its inputs (log of 0? an overflow?) or scale them down"
                    )
        # walks run one at a time: two threads walking graphs that share nodes (a
        # model's parameters) would mix the gradients in flight and race on `.grad`
        if _WALKING.get():
            raise RuntimeError(
                f"backward() of {self.describe()} called inside another backward pass in "
                "this thread (by a vector-Jacobian product or a property that the pass "
                "reads), which would leave out the nodes both graphs share; call it after"
            )
        with WALK_LOCK:
            walking = _WALKING.set(True)
            try:
                if not anomaly and self._replay(seed):
                    return
                nodes = _reachable(self)
                try:
                    _shared_walk(nodes, seed, anomaly)
                finally:
                    for node in nodes:
                        node._g = None
            finally:
                _WALKING.reset(walking)

    def _replay(self, seed: Any) -> bool:
        """The walk from this node done a faster way, if the engine has one for this graph
        (leaving every ``_g`` None); False, having done nothing, leaves it to the shared
        walk."""
        return False

    def zero_grad(self) -> None:
        """Reset the gradient of this node and of every node it was computed from."""
        for node in topological_order(self):
            node._clear_grad()


def _reachable(root: Node) -> list[Node]:
    """The nodes reachable from `root` through parents, by creation number, highest first
    (each after every node computed from it), their `_g` marked pending."""
    nodes = [root]
    push = nodes.append
    root._g = _PENDING
    for node in nodes:  # grows while it is read
        for parent in node._parents:
            if parent._g is None:
                parent._g = _PENDING
                push(parent)
    nodes.sort(key=_SEQ, reverse=True)
    return nodes


def _shared_walk(nodes: list[Node], seed: Any, anomaly: int) -> None:
    """The walk of `Node._run_backward` over `nodes` from `_reachable` (root first)."""
    nodes[0]._g = seed
    for node in nodes:
        g = node._g
        node._g = None
        if g is _PENDING:  # no gradient reached it
            continue
        for parent, pg in node._receive(g):
            if pg is None:
                continue
            if anomaly and not all_finite(pg):
                raise AnomalyError(
                    f"backward of operation {node.describe()} produced a non-finite "
                    f"gradient (NaN or infinity) for its input {parent.describe()}, "
                    "expected a finite one; move its input away from the singular point "
                    "or scale the numbers down"
                )
            acc = parent._g
            parent._g = pg if acc is _PENDING else acc + pg


def topological_order(root: Node) -> list[Node]:
    """Every node reachable from `root` through parents, each after all of its parents.

    Iterative depth-first search: linear in the graph's size, no recursion.
    """
    order: list[Node] = []
    seen: set[Node] = set()
    stack: list = [root]
    push = stack.append
    pop = stack.pop
    add = seen.add
    append = order.append
    while stack:
        node = pop()
        if node.__class__ is _Done:
            append(node.node)
            continue
        if node in seen:
            continue
        add(node)
        push(_Done(node))
        for parent in node._parents:
            if parent not in seen:
                push(parent)
    return order


class _Done:
    """Stack marker: all of `node`'s parents are ordered, so `node` comes next."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node
