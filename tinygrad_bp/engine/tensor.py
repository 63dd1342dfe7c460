"""`Tensor`: a numpy array per graph node, for training real (small) networks.

Every operation is a kernel, a function of plain arrays (``_binary_kernel``,
``_matmul_kernel``, ...) that returns the result and a closure, its
vector-Jacobian product (VJP): given G = d(root)/d(out), it returns
d(root)/d(input) for each input. The Tensor method calls the kernel and records
the node, which keeps the kernel, its fixed arguments and the arrays it was
called on. The elementwise ops take their forward and local derivative from the
op table (`ops.py`): their VJP is G times the local derivative, summed back to
each operand's shape. The structural ops (matmul, sum, mean, max, reshape,
transpose, indexing, log_softmax) keep their VJP next to their forward here,
with its math in the kernel's docstring. The backward walk is
`autograd.Node._run_backward`, shared with `Value`; a graph whose structure was
walked before runs as the compiled code of `tensor_compile.py`, which also
replays the steps that `trace` records (`tensor_trace.py`).

Data and dtypes:

* `Tensor(data)` copies `data` (a later change to the caller's array does not
  reach the tensor, and an optimizer step does not reach the caller's array).
* float64 by default for Python numbers, lists and non-float arrays; a float32
  array stays float32; `dtype=` chooses. Strings, objects, complex numbers,
  ragged lists, NaN and infinity are refused with a clear error.
* A tensor keeps its dtype through every op: a number, list or array combined
  with it takes its dtype; two tensors of different dtypes give numpy's
  promotion (float32 with float64 is float64). Every gradient has its node's
  dtype, so a float32 leaf gets a float32 `.grad`.
* `numpy()` returns a read-only view of the data; `.grad` of a leaf is its own
  array, shared with nothing; `.grad` of a computed node is read-only (the
  backward walk passes that array on to the node's inputs).
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

from .autograd import (
    _MODE,
    ANOMALY,
    RECORD,
    ROLES,
    TRACE,
    AnomalyError,
    Node,
    check_name,
    mode,
    next_seq,
)
from .fpstate import quietly
from .heap import keep_heap
from .ops import BINARY, UNARY, BinaryOp, UnaryOp, as_method, bind_params, first_refusal, op_label
from .untracked import blank_maker, recorder, untracked

__all__ = ["ShapeError", "Tensor"]

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence]
VJP = Callable[[np.ndarray], tuple]

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


class ShapeError(ValueError):
    """Operand shapes do not fit the operation."""


def _as_array(data: Any, dtype: Any = None, what: str = "Tensor data") -> np.ndarray:
    """A fresh float64 or float32 array of `data` (a copy, always)."""
    if isinstance(data, Tensor):
        data._read_while_tracing("Tensor(t)")
        data = data.data
    if isinstance(data, (str, bytes)):
        raise TypeError(
            f"{what} must be numbers, got {type(data).__name__} {data!r:.40}; "
            "convert the text first, e.g. float(text)"
        )
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise TypeError(
            f"{what} must be a rectangular array of numbers: {exc}; give rows of equal length"
        ) from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        hint = " (take .real or abs() first)" if kind == "c" else ""
        raise TypeError(
            f"{what} must be real numbers (int, float or bool), got an array of dtype "
            f"{arr.dtype} from {type(data).__name__}{hint}; pass numbers, e.g. [1.0, 2.0]"
        )
    if dtype is None:
        dtype = arr.dtype if arr.dtype == np.float32 else np.float64
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"dtype must be float64 or float32, got {dtype!r}; pass dtype='float64' or 'float32'"
        ) from None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"Tensor dtype must be float64 or float32, got {dtype}; "
            "pass dtype='float64' or 'float32'"
        )
    if dtype == arr.dtype or dtype == np.float64:
        return np.array(arr, dtype=dtype, copy=True)
    out = quietly(np.array, arr, dtype)  # float32: numbers beyond its range overflow
    if arr.size and not _finite(out):
        _out_of_range(arr[np.isfinite(arr) & ~np.isfinite(out)], what)
    return out


def _out_of_range(values: np.ndarray, what: str) -> None:
    """Raise for the first finite number of `values` beyond float32's range, if any."""
    if values.size:
        raise ValueError(
            f"{what} has {float(values.flat[0])!r}, beyond float32's range (about 3.4e38); "
            "pass dtype='float64', or scale the numbers down"
        )


def _finite(x: np.ndarray) -> bool:
    """Whether every entry is finite (one reduction: a NaN or an infinity makes the sum one)."""
    return math.isfinite(quietly(x.sum))


def _same(d: Any, g: np.ndarray) -> bool:
    """Whether `d` is a writeable array of g's shape and dtype (G can be multiplied into it)."""
    return (
        type(d) is np.ndarray
        and d.shape == g.shape
        and d.dtype == g.dtype
        and d.flags.writeable
        and d.base is None
    )


def _fit(g: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A gradient of the broadcast result summed back to an operand's shape and dtype."""
    if g.dtype is dtype and g.shape == shape:  # the common case: nothing to do
        return g
    if g.shape != shape:
        extra = g.ndim - len(shape)
        if extra:
            g = _add_reduce(g, _EVERY_AXIS[extra])
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        if axes:
            g = _add_reduce(g, axes, keepdims=True)
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def _times(d: Any, g: np.ndarray, x: Any, y: Any) -> np.ndarray:
    """G d, into d's own array when the derivative made a fresh one of G's shape and dtype
    (not the op's input x or output y)."""
    if d is not x and d is not y and _same(d, g):
        return np.multiply(d, g, out=d)
    return g * d


def _share(g: np.ndarray, d: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An operand's share G * d(out)/d(operand), summed back to its shape and dtype; the
    table writes constant partials as 1 and -1."""
    if type(d) is int:
        g = g if d == 1 else -g if d == -1 else g * d
    else:
        g = g * d
    if g.shape != shape or g.dtype is not dtype:
        return _fit(g, shape, dtype)
    return g


_add_reduce = np.add.reduce  # what ndarray.sum calls, without its Python wrapper
_asarray = np.asarray


def _spread(g: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], kept: bool) -> np.ndarray:
    """A reduction's gradient G copied back over the reduced `axes` (to `shape`)."""
    if g.size == 1:
        out = np.empty(shape, g.dtype)  # np.full, without its Python wrapper
        out.fill(g.item())
        return out
    if not kept:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape).copy()


def _shape_error(op: str, a: np.ndarray, b: np.ndarray, why: str) -> ShapeError:
    return ShapeError(
        f"shape mismatch in '{op}': {a.shape} and {b.shape} ({why}); "
        "reshape or transpose an operand so the shapes fit"
    )


def _refused(name: str, args: tuple, bad: Any, why: str, error: type[Exception]) -> Exception:
    """The error for an op that refuses some entries, naming the first of them."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    bad = np.broadcast_to(bad, shape)
    count = int(bad.sum())
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if count else ()
    values = [repr(float(np.broadcast_to(a, shape)[first])) for a in args]
    call = f"'{name}': {values[0]} {name} {values[1]}" if len(args) == 2 else f"{name}({values[0]})"
    where = f" at index {list(first)}" if first else ""
    return error(
        f"Tensor {call}{where} (shape {shape}): {why} "
        f"({count} {'entry' if count == 1 else 'entries'} refused)"
    )


def _axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """`axis` (an int, numpy int or tuple of them; negative counts from the end) as a
    sorted tuple of axes in range(ndim); None means every axis."""
    if axis is None:
        return _EVERY_AXIS[ndim]
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for ax in items:
        if isinstance(ax, (bool, np.bool_)) or not isinstance(ax, numbers.Integral):
            raise TypeError(
                f"{op}: an axis is an integer, got {type(ax).__name__} {ax!r}; pass e.g. axis=0"
            )
        ax = int(ax)
        if not -ndim <= ax < ndim:
            raise ShapeError(
                f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions "
                f"(use -{ndim}..{ndim - 1})"
                if ndim
                else f"{op}: a 0-d tensor has no axis {ax}; use axis=None"
            )
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis!r}; name each axis once")
    return tuple(sorted(out))


_EVERY_AXIS = tuple(tuple(range(n)) for n in range(65))  # `_axes(None, n)`: numpy's limit
_REVERSAL = tuple((axes[::-1], axes[::-1]) for axes in _EVERY_AXIS)  # `transpose()`'s arguments


def _ints(values: Any, op: str) -> tuple[int, ...]:
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        values = tuple(values[0])
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(
                f"{op} takes integers, got {type(v).__name__} {v!r}; pass whole numbers"
            )
    return tuple(int(v) for v in values)


# -- kernels: each operation on plain arrays ------------------------------
# A kernel takes its operands' arrays and the operation's fixed arguments and
# returns (out, vjp): the result, and its vector-Jacobian product, G ->
# d(root)/d(operand) for each operand (None for an operand that needs none). An
# elementwise op's local derivatives, for the views, are `_local_grads` of the
# same arguments. The Tensor methods check their arguments, call a kernel
# and record the node; a traced computation (`engine.tensor_trace`) calls the
# same kernels on new arrays, or writes out their one numpy expression.

Kernel = Callable[..., tuple]


def _binary_kernel(x: np.ndarray, y: np.ndarray, op: BinaryOp, need_a: bool, need_b: bool):
    """out = f(x, y) from the table; dA = G da(x, y, out) and dB = G db(x, y, out), each
    summed back over broadcast axes (and no gradient to A where the table's mask_a holds)."""
    if op.refuse:
        out = _checked(x, y, op, need_b)
    else:
        try:
            out = op.forward(x, y)
        except ValueError:
            raise _shape_error(op.symbol, x, y, "cannot broadcast") from None

    def vjp(g):
        ga = None
        if need_a:
            if op.mask_a is None:
                ga = _share(g, op.da(x, y, out), x.shape, x.dtype)
            else:  # no gradient at all where the result does not depend on a
                ga = np.where(op.mask_a(x, y), 0.0, g * op.da(x, y, out))
                ga = _fit(ga, x.shape, x.dtype)
        return ga, _share(g, op.db(x, y, out), y.shape, y.dtype) if need_b else None

    return out, vjp


def _checked(x: np.ndarray, y: np.ndarray, op: BinaryOp, need_b: bool) -> np.ndarray:
    """The forward of a binary op that refuses some inputs, with a clear error for them."""
    if need_b and op is _POW and (x < 0).any():
        raise ValueError(
            "Tensor ** Tensor needs a non-negative base when the exponent requires grad "
            f"(dB = G A^B ln A); the base has {int((x < 0).sum())} negative entries; "
            "use a number exponent for a negative base"
        )
    try:  # quietly: the check below names the problem
        out = quietly(op.forward, x, y)
    except ValueError:
        raise _shape_error(op.symbol, x, y, "cannot broadcast") from None
    if not _finite(out):
        found = first_refusal(op.refuse, x, y, out)
        if found:
            refusal, bad = found
            raise _refused(op.symbol, (x, y), bad, refusal.why, refusal.error)
    return out


def _pow_kernel(x: np.ndarray, p: float):
    """out = x ** p for a number p; dA = G p x^(p-1), and no gradient at all for p = 0."""
    plain = p >= 0 and p.is_integer()  # nothing to refuse
    if p == 2.0:
        out = x * x  # exactly numpy's x ** 2, without its dispatch
    elif plain:
        out = x**p
    else:
        out = quietly(_POW.forward, x, p)
    if out.dtype is not x.dtype and out.dtype != x.dtype:
        out = out.astype(x.dtype)
    if not plain and not _finite(out):
        found = first_refusal(_POW.refuse, x, p, out)
        if found:
            raise _refused("**", (x, np.asarray(p)), found[1], found[0].why, found[0].error)
    if _POW.mask_a(x, p):  # x ** 0 = 1

        def vjp(g):
            return (np.zeros(g.shape, x.dtype),)

    else:

        def vjp(g):
            return (g * _POW.da(x, p, None),)

    return out, vjp


def _unary_kernel(x: np.ndarray, op: UnaryOp, args: tuple):
    """y = f(x) from the table; dA = G f'(x) (masked where the table says so: no gradient
    at all where f'(x) = 0)."""
    y = quietly(op.array, x, *args) if op.refuse else op.array(x, *args)
    if type(y) is not np.ndarray:  # numpy gives a scalar for a 0-d input
        y = np.asarray(y)
    xt = x.dtype
    if y.dtype is not xt and y.dtype != xt:
        y = y.astype(xt)
    if op.refuse and not _finite(y):
        found = first_refusal(op.refuse, x, y)
        if found:
            refusal, bad = found
            raise _refused(op.name, (x,), bad, refusal.why, refusal.error)

    def vjp(g):
        if op.chain is not None:
            dx = op.chain(g, y)
            if dx is not None:
                return (dx,)
        d = op.grad(x, y, *args)
        dx = np.where(d != 0, g * d, 0) if op.masks else _times(d, g, x, y)
        return (dx if dx.dtype == x.dtype else dx.astype(x.dtype),)

    return y, vjp


def _local_grads(kernel: Kernel, static: tuple, args: tuple) -> tuple | None:
    """The local derivatives d(out)/d(operand) of an elementwise kernel's call (`args`: its
    operands, then its output), from the table; None for the other kernels."""
    if kernel is _binary_kernel:
        op = static[0]
        x, y, out = args
        return op.da(x, y, out), op.db(x, y, out)
    if kernel is _unary_kernel:
        op, params = static
        return (op.grad(args[0], args[1], *params),)
    if kernel is _pow_kernel:
        return (_POW.da(args[0], static[0], None),)
    return None


def _matmul_kernel(a: np.ndarray, b: np.ndarray, need_a: bool, need_b: bool):
    """A @ B; dA = G B^T, dB = A^T G (1-D operands promoted to matrices and back, and
    gradients summed over broadcast batch axes)."""
    try:
        out = a @ b
    except ValueError:
        if a.ndim == 0 or b.ndim == 0:
            raise _shape_error("@", a, b, "matmul needs at least 1-D operands") from None
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        raise _shape_error("@", a, b, f"inner dimensions {a.shape[-1]} and {k_b} differ") from None

    def vjp(g):
        if a.ndim == 2 and b.ndim == 2:
            return (
                _fit(g @ b.T, a.shape, a.dtype) if need_a else None,
                _fit(a.T @ g, b.shape, b.dtype) if need_b else None,
            )
        # promote 1-D operands to matrices, as numpy does, then undo it
        a2 = a if a.ndim > 1 else a[None, :]
        b2 = b if b.ndim > 1 else b[:, None]
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = np.reshape(g, batch + (a2.shape[-2], b2.shape[-1]))
        da = db = None
        if need_a:
            da = _fit(g2 @ np.swapaxes(b2, -1, -2), a2.shape, a.dtype).reshape(a.shape)
        if need_b:
            db = _fit(np.swapaxes(a2, -1, -2) @ g2, b2.shape, b.dtype).reshape(b.shape)
        return da, db

    return out, vjp


def _sum_kernel(x: np.ndarray, axis: Any, axes: tuple[int, ...], keepdims: bool):
    """Sum over `axes`; dA = G broadcast back over the summed axes."""
    out = _add_reduce(x, axis if axis is None else axes, keepdims=keepdims)
    if type(out) is not np.ndarray:  # numpy gives a scalar for a sum to shape ()
        out = _asarray(out)
    shape = x.shape

    def vjp(g):
        return (_spread(g, shape, axes, keepdims),)

    return out, vjp


def _mean_kernel(x: np.ndarray, axis: Any, axes: tuple[int, ...], keepdims: bool, n: int):
    """Mean over `axes` = sum / n; dA = G / n broadcast back."""
    out = _add_reduce(x, axis if axis is None else axes, keepdims=keepdims) / n
    if type(out) is not np.ndarray:
        out = _asarray(out)
    shape = x.shape

    def vjp(g):
        return (_spread(g / n, shape, axes, keepdims),)

    return out, vjp


def _max_kernel(a: np.ndarray, axes: tuple[int, ...], keepdims: bool):
    """Maximum over `axes`; dA = G at the maximal entries, shared equally among ties
    (as PyTorch's amax), 0 elsewhere."""
    top = a.max(axis=axes, keepdims=True)
    out = top if keepdims else top.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    def vjp(g):
        hit = a == top
        share = hit / hit.sum(axis=axes, keepdims=True)
        return ((share * (g if keepdims else np.expand_dims(g, axes))).astype(a.dtype),)

    return out, vjp


def _reshape_kernel(x: np.ndarray, shape: tuple[int, ...]):
    """Reshape; dA = G reshaped back."""
    old = x.shape
    return x.reshape(shape), lambda g: (g.reshape(old),)


def _transpose_kernel(x: np.ndarray, perm: list[int], inverse: tuple[int, ...]):
    """Permute axes; dA = G permuted back by the inverse permutation."""
    return x.transpose(perm), lambda g: (g.transpose(inverse),)


def _detach_kernel(x: np.ndarray):
    """A copy of A (in its memory order, as `Tensor(A)`), through which no gradient flows."""
    return np.array(x, copy=True), None


def _index_kernel(x: np.ndarray, index: Any):
    """A[index]; dA = zeros with G added into the indexed places (repeated indices add up)."""
    try:
        out = np.array(x[index])
    except IndexError as exc:
        raise IndexError(
            f"index {index!r} does not fit shape {x.shape}: {exc}; "
            "index within the shape (negative indices count from the end)"
        ) from None
    shape, dtype = x.shape, x.dtype

    def vjp(g):
        full = np.zeros(shape, dtype=dtype)
        np.add.at(full, index, g)
        return (full,)

    return out, vjp


def _tensor_index_kernel(x: np.ndarray, index: Tensor):
    """A[I] for a Tensor I of whole numbers, read when called; as `_index_kernel`."""
    return _index_kernel(x, _whole(index.data))


def _whole(data: np.ndarray) -> np.ndarray:
    """The numbers of an index Tensor as integer positions, or a clear error (a Tensor holds
    floats: 1.7 would silently pick position 1)."""
    far = np.abs(data) >= 2.0**62
    if far.any():
        raise IndexError(
            f"an index Tensor holds position {float(data[far][0])!r}, outside any shape; "
            "index within the shape"
        )
    index = data.astype(np.intp)
    if not np.array_equal(index, data):
        bad = float(data[index != data][0])
        raise IndexError(
            f"an index Tensor holds positions, whole numbers, got {bad!r}; round it, or index "
            "with an integer numpy array (a boolean mask as a Tensor is 0s and 1s: index "
            "with the numpy boolean array itself)"
        )
    return index


def _log_softmax_kernel(a: np.ndarray, ax: int):
    """L = A - logsumexp(A) along `ax` (stable); dA = G - softmax(A) * sum(G)."""
    if a.size:
        shifted = a - a.max(axis=ax, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=ax, keepdims=True))
    else:  # nothing to normalise (an empty axis has no maximum)
        out = a.copy()

    def vjp(g):
        return (g - np.exp(out) * g.sum(axis=ax, keepdims=True),)

    return out, vjp


# Untracked by the garbage collector when the C helper is built, as `Value` (see
# `untracked`): a node only points to nodes made before it.
@untracked
class Tensor(Node):
    """An array in a computation graph.

    ``Tensor(data, name=None, *, role=None, requires_grad=None, dtype=None)``.
    `role` is "param" (trainable: `requires_grad` True), "input" (data; the
    default) or "const"; `requires_grad=True` alone means role "param", and an
    "input" may ask for `requires_grad=True` (a gradient with respect to data).
    `grad` is None until a backward pass reaches this tensor, then an array of
    its shape and dtype (summed over backward calls; `zero_grad()` or
    `t.grad = None` clears it). Only tensors that require grad, and what is
    computed from them, are recorded.
    """

    __slots__ = (
        "data",
        "grad",
        "name",
        "requires_grad",
        "_parents",
        "_vjp",
        "_redo",
        "_args",
    )

    __array_priority__ = 1000  # numpy defers to Tensor's operators (see __array_ufunc__)

    def __init__(
        self,
        data: ArrayLike,
        name: str | None = None,
        *,
        role: str | None = None,
        requires_grad: bool | None = None,
        dtype: Any = None,
    ) -> None:
        if role is None:
            role = "param" if requires_grad else "input"
        elif role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}; pass e.g. role='input'")
        if requires_grad is None:
            requires_grad = role == "param"
        elif role != "input" and bool(requires_grad) != (role == "param"):
            raise ValueError(
                f"role={role!r} with requires_grad={requires_grad!r}: a param requires grad, "
                "a const does not; leave requires_grad out"
            )
        arr = _as_array(data, dtype)
        if not np.isfinite(arr).all():
            raise ValueError(
                f"Tensor data of shape {arr.shape} contains NaN or infinity "
                f"({int((~np.isfinite(arr)).sum())} of {arr.size} entries), expected finite "
                "numbers; clean the input first"
            )
        self.data = arr
        self.grad = None
        self.name = check_name(name)
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._vjp = None
        self._op = role
        self._g = None
        self._seq = next_seq()

    @staticmethod
    def _result(
        data: np.ndarray,
        parents: tuple,
        vjp: VJP | None,
        op: str,
        grad: bool,
        kernel: Kernel,
        static: tuple,
        args: tuple,
    ) -> Tensor:
        """The node for a kernel's result; `grad`: whether an operand requires grad. A
        recorded node keeps the kernel, its fixed arguments `static`, and the arrays `args`
        it was called on followed by its result (``_args``): the views read its local
        derivatives from them, and `tensor_compile` compiles graphs of such nodes."""
        out = _blank()
        if type(data) is not np.ndarray:  # numpy returns scalars for 0-d results
            data = np.asarray(data)
        out.data = data
        out._op = op
        out._seq = next_seq()
        m = mode()
        if grad and m & RECORD:
            out.requires_grad = True
            out._parents = parents
            out._vjp = vjp
            out._redo = (kernel, static)
            out._args = (*args, data)
        else:
            out.requires_grad = False
            out._parents = ()
        if m & (TRACE | ANOMALY):
            if m & TRACE:  # the whole computation, also what needs no gradient
                out._parents = parents
                out._redo = (kernel, static)
                out._args = (*args, data)
            if m & ANOMALY and not np.isfinite(data).all():
                raise AnomalyError(
                    f"operation '{op}' produced a non-finite value (NaN or infinity) in a "
                    f"result of shape {data.shape}, expected finite numbers; look at its "
                    "inputs (log of 0? an overflow?) or scale them down"
                )
        return out

    @staticmethod
    def _lift(x: Any, dtype: Any = np.float64) -> Tensor:
        """`x` as a constant Tensor of `dtype` (a Tensor stays as it is)."""
        if isinstance(x, Tensor):
            return x
        if type(x) in (int, float) or (
            isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))
        ):
            t = _blank()
            try:  # a cast that can overflow (to float32, or from a wider float) runs quietly
                plain = type(x) in (int, float) and dtype == np.float64
                t.data = np.array(x, dtype=dtype) if plain else quietly(np.array, x, dtype)
            except OverflowError:  # an int beyond float64
                t.data = np.array(np.inf)
            if not np.isfinite(t.data):
                if t.data.dtype == np.float32 and math.isfinite(x):
                    _out_of_range(np.array([x]), "a number combined with a float32 Tensor")
                raise ValueError(
                    f"cannot combine a Tensor with a non-finite number ({x!r:.40}), or one "
                    "beyond float64's range (about 1.8e308); use a finite number"
                )
            t.requires_grad = False
            t._parents = ()
            t._op = "const"
            t._seq = next_seq()
            return t
        return Tensor(x, role="const", dtype=dtype)

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
    def local_grads(self) -> tuple[Any, ...]:
        """d(self)/d(parent) for each parent: an array of this tensor's shape for an
        elementwise op; for a structural op (matmul, sum, ...) its VJP's name."""
        if not self._parents:
            return ()
        kernel, static = self._redo
        found = quietly(_local_grads, kernel, static, self._args)
        if found is None:
            return tuple(f"VJP of {self._op}" for _ in self._parents)
        return tuple(np.broadcast_to(d, self.data.shape).astype(self.data.dtype) for d in found)

    def _read_while_tracing(self, what: str) -> None:
        """Refuse to hand out the numbers of a traced input, of a parameter, or of what is
        computed from them: they would be frozen into the trace."""
        if mode() & TRACE and (self._parents or self._op == "input" or self.requires_grad):
            from .trace import TraceError

            raise TraceError(
                f"{what} of a traced input, a parameter or a Tensor computed from them would "
                "freeze its numbers into the trace; compute with Tensor operations, or do "
                "not trace this function"
            )

    def item(self) -> float:
        self._read_while_tracing("item()")
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with one entry, got shape {self.shape}; "
                "index one entry first (t[0].item()) or use t.numpy()"
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The data as a read-only view (copy it to change it: ``t.numpy().copy()``)."""
        self._read_while_tracing("numpy()")
        view = self.data.view()
        view.flags.writeable = False
        return view

    def detach(self) -> Tensor:
        """A constant copy of this tensor, outside the graph (no gradient flows through it).
        While tracing it is an operation that takes no gradient, so a replay copies the
        new numbers."""
        if not mode() & TRACE:
            return Tensor(self.data, role="const")
        x = self.data
        out = _detach_kernel(x)[0]  # no gradient: recorded only for the trace
        return _node(out, (self,), None, "detach", False, _detach_kernel, (), (x,))

    def __bool__(self) -> bool:
        """The truth of a one-entry tensor's number (as numpy and PyTorch); more entries
        are ambiguous. (Without it, Python would take ``len(t) > 0``: always True.)"""
        self._read_while_tracing("bool() (an if or while on a Tensor)")
        if self.data.size != 1:
            raise TypeError(
                f"the truth of a tensor of shape {self.shape} is ambiguous; "
                "use (t.numpy() > 0).any() or .all(), or t.item() for one entry"
            )
        return bool(self.data.item())

    def __len__(self) -> int:
        if not self.data.ndim:
            raise TypeError("len() of a 0-d tensor (shape ()) is undefined; use t.item() or t.size")
        return len(self.data)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        dtype = ", dtype=float32" if self.data.dtype == np.float32 else ""
        body = np.array2string(self.data, precision=4, threshold=20)
        return f"Tensor({body}{grad}{dtype}{name})"

    # -- numpy interop ------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy on a Tensor: the arithmetic and the table's functions give a Tensor
        (``np.ones(3) * t``, ``np.exp(t)``); anything else is a TypeError."""
        fn = _UFUNCS.get(ufunc)
        if fn is None or method != "__call__" or kwargs:
            raise TypeError(
                f"numpy's {ufunc.__name__}{'' if method == '__call__' else '.' + method} "
                f"{'with ' + ', '.join(kwargs) + ' ' if kwargs else ''}is not a Tensor "
                "operation; use the Tensor's operators and methods, or t.numpy() for the numbers"
            )
        dtype = next(x.data.dtype for x in inputs if isinstance(x, Tensor))
        return fn(*(Tensor._lift(x, dtype) for x in inputs))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(t)``: the numbers, as ``t.numpy()`` gives them (read-only, outside
        the graph); ``np.array(t)``: a copy of them."""
        view = self.numpy()
        if copy:
            return np.array(view, dtype=dtype, copy=True)
        if dtype is None or np.dtype(dtype) == view.dtype:
            return view
        if copy is False:
            raise ValueError(
                f"np.asarray(t, dtype={dtype}, copy=False) of a {view.dtype} tensor needs a copy; "
                "leave copy out"
            )
        return view.astype(dtype)

    def __array_function__(self, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
        """numpy's functions on a Tensor: ``np.sum``, ``np.mean``, ``np.max`` (``np.amax``),
        ``np.transpose`` and ``np.reshape`` are the Tensor's own operations; ``np.shape``,
        ``np.ndim`` and ``np.size`` read its shape; anything else is a TypeError (numpy would
        otherwise make an array of 0-d Tensors, or drop the graph)."""
        fn = _FUNCTIONS.get(func)
        if fn is None or not args or not isinstance(args[0], Tensor):
            raise TypeError(
                f"numpy's {func.__name__} is not a Tensor operation; use the Tensor's operators "
                "and methods (t.sum(), t.mean(), t.max(), t.reshape(), t.T), or t.numpy() for "
                "the numbers"
            )
        return fn(*args, **kwargs)

    # -- elementwise binary ops (the table) ------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _binary(self, other, _ADD, False)

    def __radd__(self, other: Any) -> Tensor:
        return _binary(self, other, _ADD, True)

    def __sub__(self, other: Any) -> Tensor:
        return _binary(self, other, _SUB, False)

    def __rsub__(self, other: Any) -> Tensor:
        return _binary(self, other, _SUB, True)

    def __mul__(self, other: Any) -> Tensor:
        return _binary(self, other, _MUL, False)

    def __rmul__(self, other: Any) -> Tensor:
        return _binary(self, other, _MUL, True)

    def __truediv__(self, other: Any) -> Tensor:
        return _binary(self, other, _DIV, False)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _binary(self, other, _DIV, True)

    def __pow__(self, other: Any) -> Tensor:
        """A ** p with a number p: one edge, dA = G p A^(p-1) (0 for p = 0).
        A ** B with a Tensor B: dA = G B A^(B-1), dB = G A^B ln A (B needs A > 0)."""
        if isinstance(other, Tensor):
            return _binary(self, other, _POW, False)
        if type(other) not in (int, float) and (
            isinstance(other, (bool, np.bool_)) or not isinstance(other, numbers.Real)
        ):
            raise TypeError(
                f"Tensor ** expects a number or a Tensor, got {type(other).__name__} "
                f"{other!r:.40}; pass e.g. t ** 2"
            )
        p = float(other)
        if not math.isfinite(p):
            raise ValueError(f"Tensor ** needs a finite exponent, got {p}; pass e.g. t ** 2")
        x = self.data
        out, vjp = _pow_kernel(x, p)
        label = _POW_LABELS.get(p) or _pow_label(p)
        return _node(out, (self,), vjp, label, self.requires_grad, _pow_kernel, (p,), (x,))

    def __rpow__(self, other: Any) -> Tensor:
        return _binary(self, other, _POW, True)

    # -- structural ops ------------------------------
    def __matmul__(self, other: Any) -> Tensor:
        """A @ B (1-D, 2-D or batched); dA = G B^T, dB = A^T G (summed over broadcast batches)."""
        if other.__class__ is not Tensor:
            other = Tensor._lift(other, self.data.dtype)
        return _matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _matmul(Tensor._lift(other, self.data.dtype), self)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over `axis`; dA = G broadcast back over the summed axes."""
        static = (axis, _axes(axis, self.data.ndim, "sum"), bool(keepdims))
        x = self.data
        out, vjp = _sum_kernel(x, *static)
        return _node(out, (self,), vjp, "sum", self.requires_grad, _sum_kernel, static, (x,))

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over `axis` = sum / n; dA = G / n broadcast back."""
        x = self.data
        shape = x.shape
        axes = _axes(axis, len(shape), "mean")
        n = x.size if axis is None else math.prod(shape[ax] for ax in axes)
        if n == 0:
            raise ShapeError(
                f"mean over an empty axis of a tensor of shape {shape} is undefined; "
                "take the mean over an axis with entries"
            )
        static = (axis, axes, bool(keepdims), n)
        out, vjp = _mean_kernel(x, *static)
        return _node(out, (self,), vjp, "mean", self.requires_grad, _mean_kernel, static, (x,))

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over `axis`; dA = G at the maximal entries, shared equally among ties
        (as PyTorch's amax), 0 elsewhere."""
        a = self.data
        axes = _axes(axis, a.ndim, "max")
        if any(a.shape[ax] == 0 for ax in axes):
            raise ShapeError(
                f"max over an empty axis of a tensor of shape {a.shape} is undefined; "
                "take the max over an axis with entries"
            )
        keepdims = bool(keepdims)
        out, vjp = _max_kernel(a, axes, keepdims)
        return _node(
            out, (self,), vjp, "max", self.requires_grad, _max_kernel, (axes, keepdims), (a,)
        )

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """Reshape (one -1 allowed); dA = G reshaped back."""
        shape = _ints(shape, "reshape")
        old = self.data.shape
        try:
            out, vjp = _reshape_kernel(self.data, shape)
        except ValueError:
            raise ShapeError(
                f"cannot reshape a tensor of shape {old} into {shape}: it has {self.data.size} "
                "entries; give a shape with as many (one -1 may stand for the rest)"
            ) from None
        return _node(
            out,
            (self,),
            vjp,
            "reshape",
            self.requires_grad,
            _reshape_kernel,
            (shape,),
            (self.data,),
        )

    def transpose(self, *axes: int) -> Tensor:
        """Permute axes (reverse them by default; negative axes count from the end);
        dA = G permuted back by the inverse permutation."""
        x = self.data
        ndim = x.ndim
        if axes:
            perm = _ints(axes, "transpose")
            norm = [ax % ndim if ndim and -ndim <= ax < ndim else None for ax in perm]
            if len(perm) != ndim or None in norm or sorted(norm) != list(range(ndim)):
                raise ShapeError(
                    f"transpose{perm} is not a permutation of the {ndim} axes of a tensor of "
                    f"shape {self.shape}; name each of the axes 0..{ndim - 1} once"
                )
            static = (tuple(norm), tuple(sorted(range(ndim), key=norm.__getitem__)))
        else:  # reversed: its own inverse
            static = _REVERSAL[ndim]
        out, vjp = _transpose_kernel(x, *static)
        return _node(
            out, (self,), vjp, "transpose", self.requires_grad, _transpose_kernel, static, (x,)
        )

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __getitem__(self, index: Any) -> Tensor:
        """A[index] (integers, slices, integer or boolean arrays, a Tensor of whole numbers);
        dA = zeros with G added into the indexed places (repeated indices add up)."""
        if isinstance(index, Tensor):
            if mode() & TRACE and (index._parents or index._op == "input"):
                from .trace import TraceError

                raise TraceError(
                    "indexing with a Tensor computed from the traced inputs would freeze its "
                    "values into the trace; index with a fixed array, or do not trace this"
                )
            kernel, static = _tensor_index_kernel, (index,)  # a replay reads its new .data
        else:
            kernel, static = _index_kernel, (index,)
        x = self.data
        out, vjp = kernel(x, *static)
        return _node(out, (self,), vjp, "index", self.requires_grad, kernel, static, (x,))

    def log_softmax(self, axis: int = -1) -> Tensor:
        """L = A - logsumexp(A) along `axis` (stable); dA = G - softmax(A) * sum(G)."""
        a = self.data
        if axis is None:
            raise TypeError("log_softmax needs one axis (an integer), got None; pass e.g. axis=-1")
        if not a.ndim:
            raise ShapeError(
                "log_softmax of a 0-d tensor (shape ()) has no axis to normalise over; "
                "reshape(1) it first (its log_softmax is then [0.0])"
            )
        (ax,) = _axes(axis, a.ndim, "log_softmax")
        out, vjp = _log_softmax_kernel(a, ax)
        return _node(
            out, (self,), vjp, "log_softmax", self.requires_grad, _log_softmax_kernel, (ax,), (a,)
        )

    # -- backward ------------------------------
    def backward(self, grad: ArrayLike | None = None) -> None:
        """Reverse mode from this tensor: every recorded tensor's `.grad` += d(self)/d(it).

        A scalar (one-element) root needs no `grad`; any other root needs `grad`
        of its own shape (the vector in the vector-Jacobian product).
        """
        if not self.requires_grad:
            raise RuntimeError(
                f"backward() on a tensor (shape {self.shape}, op '{self._op}') that does not "
                "require grad: create the "
                "parameters with Tensor(..., requires_grad=True) and compute outside no_grad()"
            )
        if grad is None:
            if self.data.size != 1:
                raise ShapeError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs grad= "
                    f"of that shape (e.g. np.ones({self.shape}))"
                )
            seed = _one(self.data)
        else:
            seed = _as_array(grad, self.data.dtype, "backward(grad=...)")
            if seed.shape != self.data.shape:
                raise ShapeError(
                    f"backward(grad=...) needs the root's shape {self.shape}, got {seed.shape}; "
                    f"pass an array of shape {self.shape}"
                )
        keep_heap()
        quietly(self._run_backward, seed)

    def _receive(self, g: np.ndarray) -> Any:
        # The walk hands the array it stores on a computed node on to the node's parents
        # (d(a + b)/da = G): it is made read-only, and a leaf copies a read-only array,
        # so that a leaf's gradient is its own array and a fresh one is never copied.
        if type(g) is not np.ndarray:  # a numpy scalar from a sum to shape ()
            g = np.array(g)
        vjp = self._vjp
        grad = self.grad
        if vjp is None:
            if not g.flags.writeable:
                g = g.copy()
            self.grad = g if grad is None else _added(grad, g)
            return ()
        _setflags(g, write=False)
        self.grad = g if grad is None else _added(grad, g)
        return zip(self._parents, vjp(g))

    def _replay(self, seed: Any) -> bool:
        # the compiled backward of a graph built before (`tensor_compile`, which
        # builds on this module)
        global _replay_backward
        if _replay_backward is None:
            from .tensor_compile import replay_backward as _replay_backward
        return _replay_backward(self, seed)

    def _clear_grad(self) -> None:
        self.grad = None


_replay_backward: Callable[[Tensor, np.ndarray], bool] | None = None


# called as a function in the operations below: with the C helper, a recorded node is
# made in one call (`Tensor._result` in every other case)
_node = recorder(
    Tensor,
    ("data", "_op", "_seq", "requires_grad", "_parents", "_vjp", "_redo", "_args"),
    np.ndarray,
    _MODE,
    RECORD,
    TRACE | ANOMALY,
    next_seq,
    Tensor._result,
)
_blank = blank_maker(Tensor)  # a Tensor with every slot None

_POW_LABELS: dict[float, str] = {}  # "**2" for 2.0, ...: the first 256 exponents seen


def _pow_label(p: float) -> str:
    label = f"**{p:g}"
    if len(_POW_LABELS) < 256:
        _POW_LABELS[p] = label
    return label


def _binary(t: Tensor, other: Any, op: BinaryOp, reverse: bool) -> Tensor:
    """``op`` of the table on (t, other), or (other, t) if `reverse`."""
    if other.__class__ is not Tensor:
        other = Tensor._lift(other, t.data.dtype)
    a, b = (other, t) if reverse else (t, other)
    need_a, need_b = a.requires_grad, b.requires_grad
    x, y = a.data, b.data
    out, vjp = _binary_kernel(x, y, op, need_a, need_b)
    static = (op, need_a, need_b)
    return _node(out, (a, b), vjp, op.symbol, need_a or need_b, _binary_kernel, static, (x, y))


def _added(grad: np.ndarray, g: np.ndarray) -> np.ndarray:
    """grad + g as an array (numpy adds two 0-d arrays into a scalar)."""
    out = grad + g
    return out if type(out) is np.ndarray else np.array(out)


_setflags = np.ndarray.setflags  # called unbound: half the cost of g.flags.writeable = False

_ONES: dict[tuple, np.ndarray] = {}


def _one(like: np.ndarray) -> np.ndarray:
    """A read-only array of ones shaped like a one-entry root: the seed dr/dr = 1, made once
    per shape and dtype (the walk never writes into the arrays it passes on)."""
    key = (like.shape, like.dtype)
    seed = _ONES.get(key)
    if seed is None:
        seed = np.ones(like.shape, like.dtype)
        seed.flags.writeable = False
        seed = _ONES.setdefault(key, seed)
    return seed


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """The node for A @ B (see `_matmul_kernel`)."""
    need_a, need_b = a.requires_grad, b.requires_grad
    x, y = a.data, b.data
    out, vjp = _matmul_kernel(x, y, need_a, need_b)
    static = (need_a, need_b)
    return _node(out, (a, b), vjp, "@", need_a or need_b, _matmul_kernel, static, (x, y))


def _unary_method(op: UnaryOp) -> Callable[..., Tensor]:
    """The Tensor method for one entry of the table: y = f(A); dA = G f'(A) (masked
    where the entry says so: no gradient at all where f'(A) = 0)."""
    name = op.name

    def apply(self: Tensor, args: tuple, label: str) -> Tensor:
        x = self.data
        y, vjp = _unary_kernel(x, op, args)
        return _node(y, (self,), vjp, label, self.requires_grad, _unary_kernel, (op, args), (x,))

    if not op.params:
        static = (op, ())

        def method(self: Tensor) -> Tensor:
            x = self.data
            y, vjp = _unary_kernel(x, op, ())
            return _node(y, (self,), vjp, name, self.requires_grad, _unary_kernel, static, (x,))

    else:

        def method(self: Tensor, **params: float) -> Tensor:
            kw = bind_params(op, params)
            label = op_label(op, kw)
            return apply(self, tuple(kw.values()), label)

    return as_method(method, op)


for _op in UNARY.values():
    setattr(Tensor, _op.name, _unary_method(_op))

_ADD, _SUB, _MUL, _DIV, _POW = (BINARY[k] for k in ("add", "sub", "mul", "div", "pow"))

# numpy functions that act on a Tensor as its own operators and table methods do
_UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: operator.add,
    np.subtract: operator.sub,
    np.multiply: operator.mul,
    np.true_divide: operator.truediv,
    np.power: operator.pow,
    np.matmul: operator.matmul,
    np.negative: operator.neg,
    np.positive: operator.pos,
    np.absolute: operator.abs,
    **{
        getattr(np, name): operator.methodcaller(name)
        for name in UNARY
        if isinstance(getattr(np, name, None), np.ufunc)
    },
}


def _np_reduction(name: str) -> Callable[..., Tensor]:
    """``np.sum(t, axis, keepdims=...)`` and the like as the Tensor method; numpy's other
    arguments (dtype, out, initial, where) have no Tensor meaning and are refused."""

    def call(a: Tensor, axis: Any = None, *rest: Any, keepdims: bool = False, **kw: Any) -> Tensor:
        extra = [k for k, v in kw.items() if v is not None] + (["a positional"] if rest else [])
        if extra:
            raise TypeError(
                f"np.{name} of a Tensor takes axis and keepdims only, got {', '.join(extra)}; "
                f"use t.{name}(axis=..., keepdims=...)"
            )
        return getattr(a, name)(axis, keepdims=keepdims)

    return call


def _np_transpose(a: Tensor, axes: Any = None) -> Tensor:
    return a.transpose() if axes is None else a.transpose(*axes)


def _np_reshape(a: Tensor, *args: Any, **kw: Any) -> Tensor:
    order = kw.pop("order", "C")
    shape = kw.pop("shape", kw.pop("newshape", args[0] if args else None))
    if order != "C" or kw or len(args) > 1 or shape is None:
        raise TypeError("np.reshape of a Tensor takes a shape only; use t.reshape(shape)")
    return a.reshape(shape)


# numpy functions that act on a Tensor as its own methods do (see __array_function__)
_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _np_reduction("sum"),
    np.mean: _np_reduction("mean"),
    np.max: _np_reduction("max"),
    np.amax: _np_reduction("max"),
    np.transpose: _np_transpose,
    np.reshape: _np_reshape,
    np.shape: lambda a: a.data.shape,
    np.ndim: lambda a: a.data.ndim,
    np.size: lambda a, axis=None: a.data.size if axis is None else a.data.shape[axis],
}
