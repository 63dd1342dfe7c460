"""`Value`: one float per graph node, as the slides write a network.

Each operation computes its result and, in the same forward step, the local
derivative d(out)/d(parent) of every edge as a plain number. Backward then only
multiplies: d(root)/d(parent) += d(root)/d(out) * d(out)/d(parent).

Every forward and local derivative comes from the op table (`ops.py`): the
unary methods (`tanh`, `exp`, `leaky_relu`, ...) are made from `UNARY`, and `/`
and `**` call `BINARY`. Only `+`, `-` and `*` are written inline, for speed,
and only because their partials are the table's to the letter (1 and 1, 1 and
-1, b and a); a test checks them against the table's ``da``/``db``.

Where a `math` function refuses an input (``math.log(0)``, ``math.exp(1000)``)
the table's refusals name the reason; where it fails for an input the op
accepts (``math.sin(inf)``), the op returns what IEEE arithmetic (numpy) gives.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from operator import attrgetter
from typing import Union

import numpy as np

from .autograd import (
    ANOMALY,
    RECORD,
    ROLES,
    WALK_LOCK,
    AnomalyError,
    Node,
    check_name,
    mode,
    next_seq,
)
from .ops import BINARY, UNARY, BinaryOp, UnaryOp, as_method, bind_params, first_refusal, op_label
from .untracked import blank_maker, untracked

__all__ = ["Value"]

Number = Union[int, float]
Operand = Union["Value", int, float]

LEAF_ROLES = ROLES


def _check_number(data: object, what: str) -> float:
    if isinstance(data, bool) or not isinstance(data, numbers.Real):
        hint = " (use Tensor for arrays)" if hasattr(data, "__len__") else ""
        raise TypeError(
            f"{what} expects a real number (int or float), got {type(data).__name__} "
            f"{data!r:.40}{hint}; pass e.g. 0.5 or float(x)"
        )
    try:
        value = float(data)
    except OverflowError:  # an int beyond float64
        raise ValueError(
            f"{what} got {data!r:.40}, too large for a float64 (max about 1.8e308); scale it down"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{what} got a non-finite number ({value}); use a finite float")
    return value


# Nodes the cyclic garbage collector does not track, when the C helper is built.
@untracked
class Value(Node):
    """A scalar in a computation graph.

    ``Value(data, name=None, *, role="param")``. `data` is the number; `grad` is
    None until a backward pass reaches this node, then d(root)/d(self) summed
    over every `backward()` call since the last `zero_grad()` (which sets it back
    to None). Every Value gets a gradient, inputs and constants included.
    `role` marks a leaf as a trainable `"param"` (the default), an `"input"` or
    a `"const"`.

    The edge interface (read by `draw` and `explain`): `op` is the operation's
    name, `parents` the operands, `local_grads` the numbers d(self)/d(parent),
    and `edges()` pairs them.
    """

    # Parents and local derivatives live in slots, not tuples: one tracked
    # object per node keeps the garbage collector's work (and time) low. A `_da` of
    # None means that no gradient at all passes to `_a` (a masking op at a zero
    # derivative, the base of a ** 0: see the table's `masks` and `mask_a`). A node
    # with one operand has no `_b`; its `_db` is the number b of `a ** b`, or the
    # number folded into `a + b`, `a - b`, `a * b`.
    __slots__ = ("data", "grad", "name", "_a", "_b", "_da", "_db")

    __array_ufunc__ = None  # numpy defers to Value's operators: np.float64(2) * v is a Value

    def __init__(self, data: Number, name: str | None = None, *, role: str = "param") -> None:
        if role not in LEAF_ROLES:
            raise ValueError(
                f"role must be one of {LEAF_ROLES}, got {role!r}; pass e.g. role='input'"
            )
        self.data = _check_number(data, "Value")
        self.grad = None
        self.name = check_name(name)
        self._a = self._b = self._da = self._db = None
        self._op = role
        self._g = None
        self._seq = next_seq()

    # -- construction ------------------------------
    @staticmethod
    def _result(
        data: float, op: str, a: Value, da: float, b: Value | None = None, db: object = None
    ) -> Value:
        out = _blank()
        out.data = data
        out._op = op
        out._seq = next_seq()
        m = mode()
        if m & RECORD:
            out._a = a
            out._da = da
            out._b = b
            out._db = db
        if m & ANOMALY and not math.isfinite(data):
            raise AnomalyError(
                f"operation '{op}' produced a non-finite value ({data}), expected a finite "
                "number; look at its inputs (log of 0? an overflow?) or scale them down"
            )
        return out

    @staticmethod
    def _lift(other: object) -> Value:
        if isinstance(other, Value):
            return other
        if type(other) is not float:
            if isinstance(other, bool) or not isinstance(other, numbers.Real):
                raise TypeError(
                    f"cannot combine a Value with {type(other).__name__} {other!r:.40}; "
                    "use a number or a Value"
                )
            other = _check_number(other, "a Value operand")
        if other != other or other in (math.inf, -math.inf):
            raise ValueError(
                f"cannot combine a Value with a non-finite number ({other}); use a finite number"
            )
        out = _blank()
        out.data = other
        out._op = "const"
        out._seq = next_seq()
        return out

    # -- the edge interface ------------------------------
    @property
    def _parents(self) -> tuple[Value, ...]:
        a = self._a
        if a is None:
            return ()
        b = self._b
        if b is None:
            if type(self._db) is not float or self._op not in _FOLDED:
                return (a,)
            b = self._unfold()
        return (a, b)

    def _unfold(self) -> Value:
        """Give a constant operand folded into this node (``a + 1.5``) its own node, as the
        edge interface shows every operand; created just before this node, as if it had
        always been there."""
        c = self._db
        const = Value._lift(c)
        const._seq = self._seq - 0.5
        self._b = const
        self._db = BINARY[_FOLDED[self._op]].db(self._a.data, c, self.data) + 0.0
        # the share a backward pass gave it (after several passes, d/dc times their sum)
        if self.grad is not None:
            const.grad = self._db * self.grad
        return const

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, computed in the forward pass."""
        parents = self._parents
        da = self._da
        return (0.0 if da is None else da, self._db)[: len(parents)]

    @property
    def is_leaf(self) -> bool:
        return self._a is None

    # -- binary operations ------------------------------
    # +, - and * inline the table's partials (1, 1 / 1, -1 / b, a) and build their
    # result in place, for speed. A number operand is folded into the node: `_b` stays
    # None and `_db` keeps the number (see `_unfold`), so it costs no node of its own.
    def _additive(sign: float, symbol: str) -> Callable[[Value, Operand], Value]:  # noqa: N805
        """a + b (sign 1) or a - b (sign -1); d/da = 1, d/db = sign.

        ``a + sign * b`` is exactly ``a - b`` for sign -1 (negation is exact).
        """

        def method(self: Value, other: Operand) -> Value:
            out = _blank()
            if isinstance(other, Value):
                out.data = self.data + sign * other.data
                db = sign
            else:
                # a finite float as it is; anything else through `_constant`'s checks
                db = other if type(other) is float and other - other == 0.0 else _constant(other)
                out.data = self.data + sign * db
                other = None
            out._op = symbol
            out._seq = next_seq()
            m = mode()
            if m & RECORD:
                out._a = self
                out._b = other
                out._da = 1.0
                out._db = db
            if m & ANOMALY:
                _check_finite(out)
            return out

        method.__name__ = method.__qualname__ = "__add__" if sign > 0 else "__sub__"
        method.__doc__ = f"a {symbol} b; d/da = 1, d/db = {sign:g}."
        return method

    __add__ = _additive(1.0, "+")
    __sub__ = _additive(-1.0, "-")
    del _additive

    def __mul__(self, other: Operand) -> Value:
        """a * b; d/da = b, d/db = a."""
        out = _blank()
        a = self.data
        if isinstance(other, Value):
            b = other.data
            db = a
        else:
            b = db = other if type(other) is float and other - other == 0.0 else _constant(other)
            other = None
        out.data = a * b
        out._op = "*"
        out._seq = next_seq()
        m = mode()
        if m & RECORD:
            out._a = self
            out._b = other
            out._da = b
            out._db = db
        if m & ANOMALY:
            _check_finite(out)
        return out

    def _binary(self, other: Value, op: BinaryOp, symbol: str, with_b: bool = True) -> Value:
        """``op`` of the table on (self, other); `with_b` False leaves `other` off the graph."""
        a, b = self.data, other.data
        try:
            # Python raises where the table refuses (1/0, 0**-1, overflow) except for a
            # negative base with a non-integer exponent, which gives a complex number
            out = op.forward(a, b)
            if type(out) is not float:
                raise ValueError
            da = op.da(a, b, out)
            db = op.db(a, b, out) if with_b else None
        except (ArithmeticError, ValueError):
            out, da, db = _ieee_binary(op, a, b)
        if op.mask_a is not None and op.mask_a(a, b):
            da = None  # out does not depend on a here: no gradient passes to it
        if with_b:
            return Value._result(out, symbol, self, da, other, db)
        return Value._result(out, symbol, self, da, None, b)  # `_db` keeps the number b

    def __truediv__(self, other: Operand) -> Value:
        """a / b; d/da = 1/b, d/db = -a/b^2 (computed as -out/b)."""
        other = other if isinstance(other, Value) else Value._lift(other)
        return self._binary(other, _DIV, "/")

    def __pow__(self, other: Operand) -> Value:
        """a ** b from the table.

        Number exponent p: one edge, d/da = p a^(p-1) (0 for p = 0).
        Value exponent b:  d/da = b a^(b-1), d/db = a^b ln a (needs a >= 0; 0 at a = 0).
        """
        if isinstance(other, Value):
            a, b = self.data, other.data
            if a < 0.0:
                raise ValueError(
                    f"Value ** Value needs a positive base (d/db a^b = a^b ln a), got "
                    f"a={a!r}, b={b!r}; use a number exponent for a negative base"
                )
            return self._binary(other, _POW, "**")
        p = _check_number(other, "the exponent of **")
        return self._binary(Value._lift(p), _POW, f"**{p:g}", with_b=False)

    __radd__ = __add__  # b + a is exactly a + b: IEEE addition is commutative

    def __rsub__(self, other: Operand) -> Value:
        return Value._lift(other) - self

    __rmul__ = __mul__  # exactly b * a

    def __rtruediv__(self, other: Operand) -> Value:
        return Value._lift(other) / self

    def __rpow__(self, other: Operand) -> Value:
        return Value._lift(other) ** self

    # -- backward ------------------------------
    def backward(self) -> None:
        """Reverse mode from this scalar: every node's `.grad` += d(self)/d(node).

        Gradients accumulate over calls (as in PyTorch); `zero_grad()` resets them.
        """
        if mode() & ANOMALY:
            self._run_backward(1.0)  # the shared walk, which checks every value
        else:
            with WALK_LOCK:  # one walk at a time (see autograd.WALK_LOCK)
                _walk(self)

    def _receive(self, g: float) -> tuple:
        grad = self.grad
        self.grad = g if grad is None else grad + g
        a, b = self._a, self._b
        if a is None:
            return ()
        da = self._da
        ga = 0.0 if da is None else da * g  # None: no gradient passes
        if b is None:
            return ((a, ga),)
        return ((a, ga), (b, self._db * g))

    def _clear_grad(self) -> None:
        self.grad = None

    def __float__(self) -> float:
        return self.data

    def __bool__(self) -> bool:
        """The truth of the number, as a float's (without it every Value would be true)."""
        return self.data != 0.0

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        grad = "None" if self.grad is None else f"{self.grad:.6g}"
        return f"Value(data={self.data:.6g}, grad={grad}{name})"


_DIV, _POW = BINARY["div"], BINARY["pow"]

# The ops whose number operand is folded into the node, with their table entries.
_FOLDED = {"+": "add", "-": "sub", "*": "mul"}


def _constant(x: object) -> float:
    """A number operand as a finite float, or the same clear error as a Value operand."""
    t = type(x)
    if t is float:
        if x - x == 0.0:  # finite
            return x
    elif t is int and -(2**53) <= x <= 2**53:
        return float(x)
    return Value._lift(x).data


def _check_finite(out: Value) -> None:
    if not math.isfinite(out.data):
        raise AnomalyError(
            f"operation '{out._op}' produced a non-finite value ({out.data}), expected a finite "
            "number; look at its inputs (log of 0? an overflow?) or scale them down"
        )


_SEQ = attrgetter("_seq")

# The calendar of `_walk` holds at most this many slots per node reached, plus _SPAN_FREE.
_SPAN_PER_NODE = 8
_SPAN_FREE = 1 << 16


def _walk(root: Value) -> None:
    """Value's backward walk: the chain rule of `autograd`, in creation order, in one pass.

    A node is always created after its operands, so visiting the computed nodes
    from the newest to the oldest reaches each one after every node computed from
    it, with its gradient complete. The walk finds that order as it goes: a node
    made k creations before the root waits in slot k of a list (the calendar),
    which the loop reads front to back, so each node is touched once, in the order
    it sits in memory, with no collection pass, sort, heap, method call or tuple.
    Leaves need no order (nothing flows out of them): they store their gradient
    at the end. Each node adds up its gradient in the same order as in `autograd`'s
    walk: g_a += d(out)/d(a) * g_out from the newest child to the oldest.

    A computed node much older than the rest (made long before, then reused) would
    need a long calendar; such nodes and all older ones are finished by `_walk_far`.
    """
    hi = root._seq
    cal = [root]
    leaves = []
    far = []
    cap = None  # nodes this many creations before the root, or more, go to `far`
    reached = 1
    root._g = 1.0
    try:
        for node in cal:  # grows while it is read
            if node is None:
                continue
            g = node._g
            node._g = None
            grad = node.grad
            node.grad = g if grad is None else grad + g
            a = node._a
            if a is None:
                continue
            da = node._da
            ga = 0.0 if da is None else da * g  # None: no gradient passes
            acc = a._g
            if acc is not None:
                a._g = acc + ga
            else:
                a._g = ga
                if a._a is None:
                    leaves.append(a)
                else:
                    k = hi - a._seq
                    if k < len(cal):
                        cal[k] = a
                    else:
                        reached += 1
                        cap = _place(cal, far, a, k, cap, reached)
            b = node._b
            if b is not None:  # as for `a` (written out: a loop would cost a tuple per node)
                gb = node._db * g
                acc = b._g
                if acc is not None:
                    b._g = acc + gb
                else:
                    b._g = gb
                    if b._a is None:
                        leaves.append(b)
                    else:
                        k = hi - b._seq
                        if k < len(cal):
                            cal[k] = b
                        else:
                            reached += 1
                            cap = _place(cal, far, b, k, cap, reached)
        if far:
            _walk_far(far, leaves)
        for leaf in leaves:
            g = leaf._g
            leaf._g = None
            grad = leaf.grad
            leaf.grad = g if grad is None else grad + g
    except BaseException:
        for nodes in (cal, leaves, far):
            for node in nodes:
                if node is not None:
                    node._g = None
        raise


def _place(cal: list, far: list, node: Value, k: int, cap: int | None, reached: int) -> int | None:
    """Put `node`, k creations older than the root, in the calendar (growing it) or in `far`.

    Every node in `far` is older than every node in the calendar: the first one
    sent there sets `cap`, and all nodes at least as old follow it.
    """
    if (cap is None or k < cap) and k < _SPAN_PER_NODE * reached + _SPAN_FREE:
        size = len(cal)
        grow = max(k + 1, 2 * size)
        if cap is not None:
            grow = min(grow, cap)
        cal.extend([None] * (grow - size))
        cal[k] = node
        return cap
    far.append(node)
    return k if cap is None or k < cap else cap


def _walk_far(far: list, leaves: list) -> None:
    """Finish a walk whose calendar is done: `far` holds old computed nodes, their
    gradients complete but for what flows among them. Add to it every node reachable
    from them that no gradient has reached yet (new leaves join `leaves`), sort it by
    creation number, newest first, and push as `_walk` does. (Growing `far` itself
    lets the caller clear every node it marked if the walk is interrupted.)"""
    push = far.append
    for node in far:  # grows while it is read
        for parent in (node._a, node._b):
            if parent is not None and parent._g is None:
                parent._g = 0.0
                if parent._a is None:
                    leaves.append(parent)
                else:
                    push(parent)
    far.sort(key=_SEQ, reverse=True)
    for node in far:
        g = node._g
        node._g = None
        grad = node.grad
        node.grad = g if grad is None else grad + g
        a = node._a
        da = node._da
        if da is not None:
            a._g += da * g
        b = node._b
        if b is not None:
            b._g += node._db * g


def _refused(call: str, why: str, error: type[Exception]) -> Exception:
    return error(f"Value {call}: {why}")


def _ieee_binary(op: BinaryOp, a: float, b: float) -> tuple[float, float, float]:
    """The careful path: a refusal's clear error, else the IEEE (numpy) result and partials."""
    with np.errstate(all="ignore"):
        x, y = np.float64(a), np.float64(b)
        out = op.forward(x, y)
        found = first_refusal(op.refuse, x, y, out)
        if found:
            refusal = found[0]
            raise _refused(f"'{op.symbol}': {a!r} {op.symbol} {b!r}", refusal.why, refusal.error)
        return float(out), float(op.da(x, y, out)), float(op.db(x, y, out))


def _ieee_unary(op: UnaryOp, x: float, params: dict) -> tuple[float, float]:
    with np.errstate(all="ignore"):
        arr = np.array([x])
        y = op.array(arr, **params)
        found = first_refusal(op.refuse, arr, y)
        if found:
            refusal = found[0]
            raise _refused(f"{op.name}({x!r})", refusal.why, refusal.error)
        return float(y[0]), float(op.grad(arr, y, **params)[0])


def _unary_method(op: UnaryOp) -> Callable[..., Value]:
    """The Value method for one entry of the table: forward and local derivative from it."""
    scalar, grad, name = op.scalar, op.scalar_grad, op.name
    masks = op.masks

    if not op.params:

        def method(self: Value) -> Value:
            x = self.data
            try:
                y = scalar(x)
                d = grad(x, y)
            except (ArithmeticError, ValueError):
                y, d = _ieee_unary(op, x, {})
            if masks and not d:
                d = None  # a dead unit passes no gradient at all
            out = _blank()  # Value._result, in place
            out.data = y
            out._op = name
            out._seq = next_seq()
            m = mode()
            if m & RECORD:
                out._a, out._da = self, d
            if m & ANOMALY:
                _check_finite(out)
            return out

    else:

        def method(self: Value, **params: float) -> Value:
            kw = bind_params(op, params)
            x = self.data
            try:
                y = scalar(x, **kw)
                d = grad(x, y, **kw)
            except (ArithmeticError, ValueError):
                y, d = _ieee_unary(op, x, kw)
            if masks and not d:
                d = None
            label = op_label(op, kw)
            return Value._result(y, label, self, d)

    return as_method(method, op)


for _op in UNARY.values():
    setattr(Value, _op.name, _unary_method(_op))


# A new Value with every slot None: each operation fills in the rest.
_blank = blank_maker(Value)
