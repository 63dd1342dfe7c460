"""`Tensor`: a numpy array per graph node, for training real (small) networks.

Every operation computes its result with numpy and records a closure, its
vector-Jacobian product (VJP): given G = d(root)/d(out), it returns
d(root)/d(input) for each input. The formula sits next to each forward
computation. The backward walk itself is `autograd.Node._run_backward`, shared
with `Value`.

Data is float64 by default; `dtype=np.float32` on request. Integer and boolean
input is converted to float; strings, objects, complex numbers and ragged lists
are rejected with `TypeError`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

from .autograd import MODE, AnomalyError, Node, next_seq

__all__ = ["ShapeError", "Tensor"]

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence]
VJP = Callable[[np.ndarray], tuple]


class ShapeError(ValueError):
    """Operand shapes do not fit the operation."""


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (str, bytes)):
        raise TypeError(f"Tensor data must be numeric, got {type(data).__name__}")
    try:
        arr = np.asarray(data)
    except ValueError as exc:  # ragged nested lists
        raise TypeError(f"Tensor data must be a rectangular array of numbers: {exc}") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise TypeError(
            f"Tensor data must be numeric (int, float or bool), got an array of dtype "
            f"{arr.dtype} from {type(data).__name__}"
        )
    if dtype is None:
        dtype = np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise TypeError(f"Tensor dtype must be float64 or float32, got {dtype}")
    return arr.astype(dtype, copy=arr.dtype != dtype)


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient of the broadcast result back to an operand's own shape."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _shape_error(op: str, a: np.ndarray, b: np.ndarray, why: str) -> ShapeError:
    return ShapeError(f"shape mismatch in '{op}': {a.shape} and {b.shape} ({why})")


_new = object.__new__


class Tensor(Node):
    """An array in a computation graph.

    `data` is the numpy array, `grad` is None until a backward pass reaches this
    tensor, then an array of its shape (summed over backward calls; assign
    `t.grad = None` or call `zero_grad()` to clear it). Only tensors that
    `requires_grad` (or are computed from one) are recorded.
    """

    __slots__ = ("data", "grad", "name", "requires_grad", "_parents", "_vjp")

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        arr = _as_array(data, dtype)
        if not np.isfinite(arr).all():
            raise ValueError(
                f"Tensor data contains NaN or infinity ({int((~np.isfinite(arr)).sum())} "
                "entries); clean the input first"
            )
        self.data = arr
        self.grad = None
        self.name = name
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._vjp = None
        self._op = "param" if requires_grad else "input"
        self._g = None
        self._seq = next_seq()

    @staticmethod
    def _result(data: np.ndarray, parents: tuple, vjp: VJP, op: str) -> Tensor:
        out = _new(Tensor)
        out.data = data
        out.grad = None
        out.name = None
        out._op = op
        out._g = None
        out._seq = next_seq()
        if type(data) is not np.ndarray:  # numpy returns scalars for 0-d results
            data = out.data = np.asarray(data)
        out.requires_grad = False
        out._parents = ()
        out._vjp = None
        if MODE.grad:
            for p in parents:
                if p.requires_grad:
                    out.requires_grad = True
                    out._parents = parents
                    out._vjp = vjp
                    break
        if MODE.anomaly and not np.isfinite(data).all():
            raise AnomalyError(f"operation '{op}' produced a non-finite value (NaN or infinity)")
        return out

    @staticmethod
    def _lift(x: Any) -> Tensor:
        if isinstance(x, Tensor):
            return x
        if isinstance(x, numbers.Real) and not isinstance(x, bool):
            t = _new(Tensor)
            t.data = np.asarray(float(x))
            t.grad = t.name = t._vjp = t._g = None
            t.requires_grad = False
            t._parents = ()
            t._op = "const"
            t._seq = next_seq()
            return t
        t = Tensor(x)
        t._op = "const"
        return t

    # -- properties ------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def op(self) -> str:
        return self._op

    @property
    def parents(self) -> tuple[Tensor, ...]:
        return self._parents

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> Tensor:
        return Tensor._lift(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=4, threshold=20)
        return f"Tensor({body}{grad}{name})"

    # -- arithmetic (broadcasting) ------------------------------
    def _broadcast(self, other: Any, fn: Callable, op: str) -> tuple[Tensor, np.ndarray]:
        """Lift `other` to a Tensor and apply the numpy ufunc `fn`, naming shapes on mismatch."""
        b = other if isinstance(other, Tensor) else Tensor._lift(other)
        try:
            return b, fn(self.data, b.data)
        except ValueError:
            raise _shape_error(op, self.data, b.data, "cannot broadcast") from None

    def __add__(self, other: Any) -> Tensor:
        """A + B; dA = G, dB = G (each summed back to its own shape)."""
        b, out = self._broadcast(other, np.add, "+")
        a = self

        def vjp(g):
            return (
                _unbroadcast(g, a.data.shape) if a.requires_grad else None,
                _unbroadcast(g, b.data.shape) if b.requires_grad else None,
            )

        return Tensor._result(out, (a, b), vjp, "+")

    def __sub__(self, other: Any) -> Tensor:
        """A - B; dA = G, dB = -G."""
        b, out = self._broadcast(other, np.subtract, "-")
        a = self

        def vjp(g):
            return (
                _unbroadcast(g, a.data.shape) if a.requires_grad else None,
                -_unbroadcast(g, b.data.shape) if b.requires_grad else None,
            )

        return Tensor._result(out, (a, b), vjp, "-")

    def __mul__(self, other: Any) -> Tensor:
        """A * B (elementwise); dA = G * B, dB = G * A."""
        b, out = self._broadcast(other, np.multiply, "*")
        a = self

        def vjp(g):
            return (
                _unbroadcast(g * b.data, a.data.shape) if a.requires_grad else None,
                _unbroadcast(g * a.data, b.data.shape) if b.requires_grad else None,
            )

        return Tensor._result(out, (a, b), vjp, "*")

    def __truediv__(self, other: Any) -> Tensor:
        """A / B; dA = G / B, dB = -G A / B^2 = -G (A / B) / B."""
        b = other if isinstance(other, Tensor) else Tensor._lift(other)
        if not b.data.all():
            raise ZeroDivisionError(
                f"division by zero in Tensor '/': the divisor of shape {b.shape} has "
                f"{int((b.data == 0).sum())} zero entries"
            )
        b, out = self._broadcast(b, np.divide, "/")
        a = self

        def vjp(g):
            return (
                _unbroadcast(g / b.data, a.data.shape) if a.requires_grad else None,
                _unbroadcast(-g * out / b.data, b.data.shape) if b.requires_grad else None,
            )

        return Tensor._result(out, (a, b), vjp, "/")

    def __pow__(self, other: Any) -> Tensor:
        """A ** p.

        Number p: dA = G p A^(p-1).  Tensor B (needs A > 0): dA = G B A^(B-1), dB = G A^B ln A.
        """
        a = self.data
        if isinstance(other, Tensor):
            if not (a > 0).all():
                raise ValueError(
                    "Tensor ** Tensor needs a positive base (dB = G A^B ln A); "
                    f"the base has {int((a <= 0).sum())} non-positive entries"
                )

            y, out = self._broadcast(other, np.power, "**")
            x = self

            def vjp(g):
                return (
                    _unbroadcast(g * y.data * x.data ** (y.data - 1), x.data.shape)
                    if x.requires_grad
                    else None,
                    _unbroadcast(g * out * np.log(x.data), y.data.shape)
                    if y.requires_grad
                    else None,
                )

            return Tensor._result(out, (x, y), vjp, "**")
        if type(other) not in (int, float) and (
            isinstance(other, bool) or not isinstance(other, numbers.Real)
        ):
            raise TypeError(f"Tensor ** expects a number or a Tensor, got {type(other).__name__}")
        p = float(other)
        if p == 2.0:
            out = a * a
        else:
            if p < 0 and not a.all():
                raise ZeroDivisionError(f"0 ** {p:g} in Tensor '**': zero base, negative exponent")
            if not p.is_integer() and (a < 0).any():
                raise ValueError(
                    f"Tensor ** {p:g}: negative base with a non-integer exponent is not real"
                )
            with np.errstate(over="ignore", divide="ignore"):
                out = a**p

        def vjp(g):
            if p == 2.0:
                d = a * 2.0
                d *= g
                return (d,)
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g * (p * a ** (p - 1.0)),)

        return Tensor._result(out, (self,), vjp, f"**{p:g}")

    def __radd__(self, other: Any) -> Tensor:
        return Tensor._lift(other) + self

    def __rsub__(self, other: Any) -> Tensor:
        return Tensor._lift(other) - self

    def __rmul__(self, other: Any) -> Tensor:
        return Tensor._lift(other) * self

    def __rtruediv__(self, other: Any) -> Tensor:
        return Tensor._lift(other) / self

    def __rpow__(self, other: Any) -> Tensor:
        return Tensor._lift(other) ** self

    def __neg__(self) -> Tensor:
        """-A; dA = -G."""
        return Tensor._result(-self.data, (self,), lambda g: (-g,), "neg")

    def __matmul__(self, other: Any) -> Tensor:
        """A @ B (1-D, 2-D or batched); dA = G B^T, dB = A^T G (summed over broadcast batches)."""
        b = other if isinstance(other, Tensor) else Tensor._lift(other)
        a_data, b_data = self.data, b.data
        if a_data.ndim == 0 or b_data.ndim == 0:
            raise _shape_error("@", a_data, b_data, "matmul needs at least 1-D operands")
        try:
            out = a_data @ b_data
        except ValueError:
            k_a = a_data.shape[-1]
            k_b = b_data.shape[0] if b_data.ndim == 1 else b_data.shape[-2]
            raise _shape_error(
                "@", a_data, b_data, f"inner dimensions {k_a} and {k_b} differ"
            ) from None
        a = self

        def vjp(g):
            if a_data.ndim == 2 and b_data.ndim == 2:
                return (
                    g @ b_data.T if a.requires_grad else None,
                    a_data.T @ g if b.requires_grad else None,
                )
            # promote 1-D operands to matrices, as numpy does, then undo it
            a2 = a_data if a_data.ndim > 1 else a_data[None, :]
            b2 = b_data if b_data.ndim > 1 else b_data[:, None]
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
            g2 = np.reshape(g, batch + (a2.shape[-2], b2.shape[-1]))
            da = db = None
            if a.requires_grad:
                da = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a_data.shape)
            if b.requires_grad:
                db = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b_data.shape)
            return da, db

        return Tensor._result(out, (self, b), vjp, "@")

    def __rmatmul__(self, other: Any) -> Tensor:
        return Tensor._lift(other) @ self

    # -- reductions and shape ------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """sum over `axis`; dA = G broadcast back over the summed axes."""
        shape = self.data.shape
        out = self.data.sum(axis=axis, keepdims=keepdims)
        axes = _normalize_axes(axis, len(shape))

        def vjp(g):
            if not keepdims:
                g = np.expand_dims(g, axes)
            return (np.broadcast_to(g, shape).copy(),)

        return Tensor._result(np.asarray(out), (self,), vjp, "sum")

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """mean over `axis` = sum / n; dA = G / n broadcast back."""
        shape = self.data.shape
        if axis is None:
            axes, n = (), self.data.size
        else:
            axes = _normalize_axes(axis, len(shape))
            n = 1
            for ax in axes:
                n *= shape[ax]
        if n == 0:
            raise ValueError(f"mean over an empty axis of a tensor of shape {shape}")
        out = np.true_divide(self.data.sum(axis=axis, keepdims=keepdims), n)
        dtype = self.data.dtype

        def vjp(g):
            if axis is None:
                return (np.full(shape, g.item() / n, dtype=dtype),)
            if not keepdims:
                g = np.expand_dims(g, axes)
            return (np.broadcast_to(g / n, shape).copy(),)

        return Tensor._result(np.asarray(out), (self,), vjp, "mean")

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """reshape; dA = G reshaped back."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.data.shape
        try:
            out = self.data.reshape(shape)
        except ValueError:
            raise ShapeError(f"cannot reshape a tensor of shape {old} into {shape}") from None
        return Tensor._result(out, (self,), lambda g: (g.reshape(old),), "reshape")

    def transpose(self, *axes: int) -> Tensor:
        """Permute axes (reverse them by default); dA = G permuted back."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        perm = axes or tuple(reversed(range(self.data.ndim)))
        inverse = tuple(np.argsort(perm))
        out = self.data.transpose(perm)
        return Tensor._result(out, (self,), lambda g: (g.transpose(inverse),), "transpose")

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __getitem__(self, index: Any) -> Tensor:
        """A[index] (integers and slices); dA = zeros with G scattered into the indexed part."""
        if isinstance(index, Tensor):
            index = index.data
        try:
            out = self.data[index]
        except IndexError as exc:
            raise IndexError(
                f"index {index!r} out of range for shape {self.shape}: {exc}"
            ) from None
        shape, dtype = self.data.shape, self.data.dtype

        def vjp(g):
            full = np.zeros(shape, dtype=dtype)
            np.add.at(full, index, g)
            return (full,)

        return Tensor._result(np.asarray(out), (self,), vjp, "index")

    # -- elementwise functions ------------------------------
    def exp(self) -> Tensor:
        """e^A; dA = G e^A."""
        with np.errstate(over="ignore"):
            out = np.exp(self.data)
        if np.isinf(out).any():
            raise OverflowError(
                f"exp overflows float64 for {int(np.isinf(out).sum())} entries (largest argument "
                f"{self.data.max()!r}; the limit is about 709.78): scale the input down, or use "
                "log_softmax / softplus, which are computed stably"
            )
        return Tensor._result(out, (self,), lambda g: (g * out,), "exp")

    def log(self) -> Tensor:
        """ln A (A > 0); dA = G / A."""
        a = self.data
        if not (a > 0).all():
            bad = a[~(a > 0)]
            raise ValueError(
                f"log of a non-positive number: {bad.size} entries <= 0 (first: {bad.flat[0]!r}); "
                "log needs A > 0"
            )
        return Tensor._result(np.log(a), (self,), lambda g: (g / a,), "log")

    def sigmoid(self) -> Tensor:
        """S = 1 / (1 + e^-A); dA = G S (1 - S)."""
        out = _sigmoid(self.data)

        def vjp(g):
            d = 1.0 - out
            d *= out
            d *= g
            return (d,)

        return Tensor._result(out, (self,), vjp, "sigmoid")

    def tanh(self) -> Tensor:
        """T = tanh A; dA = G (1 - T^2)."""
        out = np.tanh(self.data)

        def vjp(g):
            d = out * out
            if d.ndim:
                np.subtract(1.0, d, out=d)
                d *= g
                return (d,)
            return ((1.0 - d) * g,)

        return Tensor._result(out, (self,), vjp, "tanh")

    def linear(self) -> Tensor:
        """The identity (purelin); dA = G."""
        return Tensor._result(self.data, (self,), lambda g: (g,), "linear")

    def relu(self) -> Tensor:
        """max(0, A); dA = G where A > 0, else 0."""
        mask = self.data > 0
        out = self.data * mask
        return Tensor._result(out, (self,), lambda g: (g * mask,), "relu")

    def softplus(self) -> Tensor:
        """ln(1 + e^A), computed stably as max(A, 0) + ln(1 + e^-|A|); dA = G sigmoid(A)."""
        a = self.data
        out = np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))

        return Tensor._result(out, (self,), lambda g: (g * _sigmoid(a),), "softplus")

    def log_softmax(self, axis: int = -1) -> Tensor:
        """L = A - logsumexp(A) along `axis` (stable); dA = G - softmax(A) * sum(G)."""
        a = self.data
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

        def vjp(g):
            return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

        return Tensor._result(out, (self,), vjp, "log_softmax")

    # -- backward ------------------------------
    def backward(self, grad: ArrayLike | None = None) -> None:
        """Reverse mode from this tensor: every recorded tensor's `.grad` += d(self)/d(it).

        A scalar (one-element) root needs no `grad`; any other root needs `grad`
        of its own shape (the vector in the vector-Jacobian product).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: create the "
                "parameters with Tensor(..., requires_grad=True) and compute outside no_grad()"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs grad= "
                    f"of that shape (e.g. np.ones({self.shape}))"
                )
            seed = np.ones_like(self.data)
        else:
            seed = _as_array(grad, self.data.dtype)
            if seed.shape != self.data.shape:
                raise ShapeError(
                    f"backward(grad=...) needs the root's shape {self.shape}, got {seed.shape}"
                )
        self._run_backward(seed)

    def _backprop(self, g: np.ndarray) -> Any:
        if self._vjp is None:
            return ()
        return zip(self._parents, self._vjp(g))

    def _store_grad(self, g: np.ndarray) -> None:
        grad = self.grad
        self.grad = g if grad is None else grad + g

    def _clear_grad(self) -> None:
        self.grad = None


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-A) in one new array; e^-A = inf gives exactly 0, with no warning."""
    out = np.negative(a)
    with np.errstate(over="ignore"):
        out = np.exp(out, out=out) if out.ndim else np.exp(out)
    out += 1.0
    return np.divide(1.0, out, out=out) if out.ndim else np.asarray(1.0 / out)


def _normalize_axes(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    try:
        return tuple(sorted(ax % ndim if ndim else ax for ax in axes))
    except ZeroDivisionError:
        raise ValueError("a 0-d tensor has no axes to reduce") from None
