"""`Value`: one float per graph node, as the slides write a network.

Each operation computes its result and, in the same forward step, the local
derivative d(out)/d(parent) of every edge as a plain number. Backward then only
multiplies: d(root)/d(parent) += d(root)/d(out) * d(out)/d(parent).
"""

from __future__ import annotations

import math
import numbers
from typing import Union

from .autograd import MODE, AnomalyError, Node, next_seq

__all__ = ["Value"]

Number = Union[int, float]
Operand = Union["Value", int, float]

LEAF_ROLES = ("param", "input", "const")


def _check_number(data: object, what: str) -> float:
    if isinstance(data, bool) or not isinstance(data, numbers.Real):
        hint = " (use Tensor for arrays)" if hasattr(data, "__len__") else ""
        raise TypeError(
            f"{what} expects a real number (int or float), got {type(data).__name__}{hint}"
        )
    value = float(data)
    if not math.isfinite(value):
        raise ValueError(f"{what} got a non-finite number ({value}); use a finite float")
    return value


_new = object.__new__


class Value(Node):
    """A scalar in a computation graph.

    `data` is the number, `grad` is d(root)/d(self) summed over every `backward()`
    call since the last `zero_grad()`. `role` marks a leaf as a trainable
    `"param"` (the default), an `"input"` or a `"const"` (how drawings show it).

    The edge interface (read by `draw` and `explain`): `op` is the operation's
    name, `parents` the operands, `local_grads` the numbers d(self)/d(parent),
    and `edges()` pairs them.
    """

    # Parents and local derivatives live in slots, not tuples: one tracked
    # object per node keeps the garbage collector's work (and time) low.
    __slots__ = ("data", "grad", "name", "_a", "_b", "_da", "_db")

    def __init__(self, data: Number, name: str | None = None, *, role: str = "param") -> None:
        if role not in LEAF_ROLES:
            raise ValueError(f"role must be one of {LEAF_ROLES}, got {role!r}")
        self.data = _check_number(data, "Value")
        self.grad = 0.0
        self.name = name
        self._a = self._b = self._da = self._db = None
        self._op = role
        self._g = None
        self._seq = next_seq()

    # -- construction ------------------------------
    @staticmethod
    def _result(
        data: float, op: str, a: Value, da: float, b: Value | None = None, db: float | None = None
    ) -> Value:
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out.name = None
        out._op = op
        out._g = None
        out._seq = next_seq()
        if MODE.grad:
            out._a = a
            out._da = da
            out._b = b
            out._db = db
        else:
            out._a = out._b = out._da = out._db = None
        if MODE.anomaly and not math.isfinite(data):
            raise AnomalyError(f"operation '{op}' produced a non-finite value ({data})")
        return out

    @staticmethod
    def _lift(other: object) -> Value:
        if isinstance(other, Value):
            return other
        if type(other) is not float:
            if isinstance(other, bool) or not isinstance(other, numbers.Real):
                raise TypeError(
                    f"cannot combine a Value with {type(other).__name__}; use a number or a Value"
                )
            other = float(other)
        if other != other or other in (math.inf, -math.inf):
            raise ValueError(f"cannot combine a Value with a non-finite number ({other})")
        out = _new(Value)
        out.data = other
        out.grad = 0.0
        out.name = None
        out._a = out._b = out._da = out._db = out._g = None
        out._op = "const"
        out._seq = next_seq()
        return out

    # -- the edge interface ------------------------------
    @property
    def op(self) -> str:
        """The operation that produced this node; for leaves its role (param, input, const)."""
        return self._op

    @property
    def _parents(self) -> tuple[Value, ...]:
        a = self._a
        if a is None:
            return ()
        b = self._b
        return (a,) if b is None else (a, b)

    @property
    def parents(self) -> tuple[Value, ...]:
        return self._parents

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, computed in the forward pass."""
        if self._a is None:
            return ()
        return (self._da,) if self._b is None else (self._da, self._db)

    def edges(self) -> list[tuple[Value, float]]:
        """[(parent, d(self)/d(parent)), ...]."""
        return list(zip(self._parents, self.local_grads))

    @property
    def is_leaf(self) -> bool:
        return self._a is None

    # -- binary operations ------------------------------
    def __add__(self, other: Operand) -> Value:
        """a + b; d/da = 1, d/db = 1."""
        other = other if isinstance(other, Value) else Value._lift(other)
        return Value._result(self.data + other.data, "+", self, 1.0, other, 1.0)

    def __sub__(self, other: Operand) -> Value:
        """a - b; d/da = 1, d/db = -1."""
        other = other if isinstance(other, Value) else Value._lift(other)
        return Value._result(self.data - other.data, "-", self, 1.0, other, -1.0)

    def __mul__(self, other: Operand) -> Value:
        """a * b; d/da = b, d/db = a."""
        other = other if isinstance(other, Value) else Value._lift(other)
        return Value._result(self.data * other.data, "*", self, other.data, other, self.data)

    def __truediv__(self, other: Operand) -> Value:
        """a / b; d/da = 1/b, d/db = -a/b^2."""
        other = other if isinstance(other, Value) else Value._lift(other)
        a, b = self.data, other.data
        if b == 0.0:
            raise ZeroDivisionError(f"division by zero in Value '/': {a!r} / {b!r}")
        return Value._result(a / b, "/", self, 1.0 / b, other, -a / (b * b))

    def __pow__(self, other: Operand) -> Value:
        """a ** p.

        Number exponent p: d/da = p a^(p-1).
        Value exponent b:  d/da = b a^(b-1), d/db = a^b ln a (needs a > 0).
        """
        a = self.data
        if isinstance(other, Value):
            if a <= 0.0:
                raise ValueError(
                    f"Value ** Value needs a positive base (d/db a^b = a^b ln a), got a={a!r}; "
                    "use a number exponent for a non-positive base"
                )
            b = other.data
            out = _pow_number(a, b)
            return Value._result(out, "**", self, b * a ** (b - 1.0), other, out * math.log(a))
        p = _check_number(other, "the exponent of **")
        out = _pow_number(a, p)
        if a == 0.0 and p < 1.0:
            local = 0.0 if p == 0.0 else math.inf
        else:
            local = p * a ** (p - 1.0)
        return Value._result(out, f"**{p:g}", self, local)

    def __radd__(self, other: Operand) -> Value:
        return Value._lift(other) + self

    def __rsub__(self, other: Operand) -> Value:
        return Value._lift(other) - self

    def __rmul__(self, other: Operand) -> Value:
        return Value._lift(other) * self

    def __rtruediv__(self, other: Operand) -> Value:
        return Value._lift(other) / self

    def __rpow__(self, other: Operand) -> Value:
        return Value._lift(other) ** self

    def __neg__(self) -> Value:
        """-a; d/da = -1."""
        return Value._result(-self.data, "neg", self, -1.0)

    def __pos__(self) -> Value:
        return self

    # -- unary functions ------------------------------
    def _unary(self, out: float, local: float, op: str) -> Value:
        return Value._result(out, op, self, local)

    def exp(self) -> Value:
        """e^a; d/da = e^a."""
        try:
            out = math.exp(self.data)
        except OverflowError:
            raise OverflowError(
                f"exp({self.data!r}) overflows float64 (largest argument is about 709.78); "
                "scale the input down"
            ) from None
        return self._unary(out, out, "exp")

    def log(self) -> Value:
        """ln a (a > 0); d/da = 1/a."""
        a = self.data
        if a <= 0.0:
            raise ValueError(f"log of a non-positive number: log({a!r}); log needs a > 0")
        return self._unary(math.log(a), 1.0 / a, "log")

    def sigmoid(self) -> Value:
        """s(a) = 1 / (1 + e^-a); d/da = s(a) (1 - s(a)). Stable for any |a|."""
        s = _sigmoid(self.data)
        return self._unary(s, s * (1.0 - s), "sigmoid")

    def tanh(self) -> Value:
        """t = tanh(a); d/da = 1 - t^2."""
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t, "tanh")

    def linear(self) -> Value:
        """The identity (the slides' purelin): f(a) = a; f'(a) = 1."""
        return self._unary(self.data, 1.0, "linear")

    def relu(self) -> Value:
        """max(0, a); d/da = 1 for a > 0, else 0 (0 at the kink)."""
        a = self.data
        return self._unary(a if a > 0.0 else 0.0, 1.0 if a > 0.0 else 0.0, "relu")

    def softplus(self) -> Value:
        """ln(1 + e^a), computed stably; d/da = sigmoid(a)."""
        a = self.data
        out = max(a, 0.0) + math.log1p(math.exp(-abs(a)))
        return self._unary(out, _sigmoid(a), "softplus")

    def sin(self) -> Value:
        """sin a; d/da = cos a."""
        return self._unary(math.sin(self.data), math.cos(self.data), "sin")

    def cos(self) -> Value:
        """cos a; d/da = -sin a."""
        return self._unary(math.cos(self.data), -math.sin(self.data), "cos")

    def tan(self) -> Value:
        """t = tan a; d/da = 1 + t^2."""
        t = math.tan(self.data)
        return self._unary(t, 1.0 + t * t, "tan")

    def sinh(self) -> Value:
        """sinh a; d/da = cosh a."""
        a = self.data
        try:
            return self._unary(math.sinh(a), math.cosh(a), "sinh")
        except OverflowError:
            raise OverflowError(f"sinh({a!r}) overflows float64") from None

    def cosh(self) -> Value:
        """cosh a; d/da = sinh a."""
        a = self.data
        try:
            return self._unary(math.cosh(a), math.sinh(a), "cosh")
        except OverflowError:
            raise OverflowError(f"cosh({a!r}) overflows float64") from None

    def sqrt(self) -> Value:
        """sqrt a (a >= 0); d/da = 1 / (2 sqrt a) (infinite at 0)."""
        a = self.data
        if a < 0.0:
            raise ValueError(f"sqrt of a negative number: sqrt({a!r}); sqrt needs a >= 0")
        r = math.sqrt(a)
        return self._unary(r, 0.5 / r if r > 0.0 else math.inf, "sqrt")

    def abs(self) -> Value:
        """|a|; d/da = sign(a) (0 at the kink)."""
        a = self.data
        return self._unary(abs(a), (a > 0.0) - (a < 0.0) + 0.0, "abs")

    __abs__ = abs

    # -- backward ------------------------------
    def backward(self) -> None:
        """Reverse mode from this scalar: every node's `.grad` += d(self)/d(node).

        Gradients accumulate over calls (as in PyTorch); `zero_grad()` resets them.
        """
        self._run_backward(1.0)

    def _backprop(self, g: float) -> tuple:
        a, b = self._a, self._b
        if a is None:
            return ()
        if b is None:
            return ((a, self._da * g),)
        return ((a, self._da * g), (b, self._db * g))

    def _store_grad(self, g: float) -> None:
        self.grad += g

    def _clear_grad(self) -> None:
        self.grad = 0.0

    def __float__(self) -> float:
        return self.data

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{name})"


def _sigmoid(a: float) -> float:
    """1 / (1 + e^-a), with e^x taken only of x <= 0 so that it never overflows."""
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    z = math.exp(a)
    return z / (1.0 + z)


def _pow_number(a: float, p: float) -> float:
    if a == 0.0 and p < 0.0:
        raise ZeroDivisionError(f"0 ** {p!r} in Value '**': zero base with a negative exponent")
    if a < 0.0 and not float(p).is_integer():
        raise ValueError(
            f"{a!r} ** {p!r} in Value '**' is not a real number "
            "(negative base with a non-integer exponent)"
        )
    try:
        return a**p
    except OverflowError:
        raise OverflowError(f"{a!r} ** {p!r} overflows float64") from None
