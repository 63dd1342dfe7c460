"""The table of primitive elementwise operations: each forward and its derivative, once.

Every entry gives

* ``scalar(x)``: the forward on a Python float (``math``; fast for `Value`);
* ``array(x)``: the same forward on a numpy array (keeps the array's dtype);
* ``grad(x, y)``: the local derivative dy/dx, written with the input ``x`` and
  the output ``y = f(x)``. One expression serves a float and an array: it
  returns a float for a float and an array of ``x``'s dtype for an array;
* ``tex`` and ``dtex``: f and f' in LaTeX, with ``v`` for the input, for
  drawings, explanations and worked solutions;
* ``masks``: no gradient at all passes where f'(x) = 0 (relu, abs), so a NaN or
  infinite upstream gradient stops at a dead unit;
* ``refuse``: the inputs the op refuses with a clear error (log of x <= 0,
  e^x overflowing, ...), as data: a predicate, an exception and the reason;
* ``chain`` (sigmoid, tanh): G f'(x) of float64 arrays in one pass of a C loop
  (`_kernels.c`), rounded as G times ``grad`` is, for the Tensor backward.

`BINARY` holds +, -, *, / and ** with ``forward(a, b)`` and the partials
``da(a, b, out)`` and ``db(a, b, out)``, written to stay finite wherever the
result is (d/db a/b = -out/b, d/da a^0 = 0 even at a = 0), and ``mask_a(a, b)``
where no gradient at all passes to ``a`` because the result does not depend on it
there (a^0 = 1: an infinite upstream gradient gives 0, not NaN, as in PyTorch).

Both engines build their methods from this table, the closed-form rules of the
slides read f and f' from it, `nn` and the command line take their choice of
activations from `ACTIVATIONS`, and the expression language of `verify` knows
every name in it. The tests check every ``grad`` against central finite
differences of ``scalar`` and ``array``. Adding an activation is one entry here.

Parameterised activations (``leaky_relu`` with its slope, ``elu`` with its
alpha) are written ``"leaky_relu"`` (the default parameter) or
``"leaky_relu(0.2)"``; `activation(spec)` reads either.
"""

from __future__ import annotations

import dis
import inspect
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .fpstate import overflow_raising, quietly, restore
from .untracked import PURE_PYTHON

try:  # one-pass C loops over float64 arrays (optional, as the other C helper)
    from . import _kernels as kernels
except ImportError:
    kernels = None
if PURE_PYTHON or getattr(kernels, "API", None) != 4:  # off, or built from an older file
    kernels = None

__all__ = [
    "ACTIVATIONS",
    "BINARY",
    "BinaryOp",
    "Refusal",
    "UNARY",
    "Activation",
    "UnaryOp",
    "activation",
    "activation_names",
    "bind_params",
    "first_refusal",
    "method_signature",
    "reads",
    "where",
]


def where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` holds, else ``b``: `if` for a float, `np.where` for an array."""
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    out = np.where(cond, a, b)
    return out


def _ones(x: Any) -> Any:
    """1 in the type of ``x`` (``1 + 0 * x`` would be NaN at an infinite ``x``)."""
    return np.ones_like(x) if isinstance(x, np.ndarray) else 1.0


def _exp_below_0(x: Any) -> Any:
    """e^min(x, 0): e^x where x <= 0, never an overflow where x is large (float or array)."""
    if isinstance(x, np.ndarray):
        return np.exp(np.minimum(x, 0))
    return math.exp(min(x, 0.0))


def _step(x: Any) -> Any:
    """[x > 0]: 1 where x > 0, else 0, in the type of ``x``."""
    if isinstance(x, np.ndarray):
        return (x > 0).astype(x.dtype)
    return 1.0 if x > 0 else 0.0


def first_refusal(refuse: tuple[Refusal, ...], *args: Any) -> tuple[Refusal, Any] | None:
    """The first `Refusal` that applies to the op's inputs and output, with its mask."""
    with np.errstate(all="ignore"):
        for r in refuse:
            bad = r.bad(*args)
            if np.any(bad):
                return r, bad
    return None


# -- stable forwards ------------------------------

_FLOAT64 = np.dtype(np.float64)
_sigmoid_into = kernels.sigmoid_into if kernels is not None else None


def _chain(loop: Callable | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None:
    """`UnaryOp.chain` by the C loop `loop`(g, y, out), which takes only float64 arrays of
    one shape; a subclass (a masked array) is left to numpy here, as it is not to be
    read as a plain buffer."""
    if loop is None:
        return None

    def chain(g: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        if type(g) is not np.ndarray or type(y) is not np.ndarray or g.dtype is not _FLOAT64:
            return None
        return loop(g, y, np.empty(g.shape))

    return chain


def _sigmoid_scalar(x: float) -> float:
    # e^t is only ever taken of t <= 0, so it cannot overflow
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _sigmoid_array(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-x) in four passes, unless e^-x overflows (x below about -709 in
    # float64, -88 in float32); then z = e^-|x| in (0, 1], and sigmoid is 1 / (1 + z)
    # for x >= 0 and z / (1 + z) below. A few float64 numbers: the same in one C pass
    if (
        x.size <= 256
        and _sigmoid_into is not None
        and type(x) is np.ndarray  # (a subclass, a masked array, keeps numpy's handling)
        and x.dtype is _FLOAT64
        and x.ndim
    ):
        out = _sigmoid_into(x, np.empty(x.shape))
        if out is not None:
            return out
    if x.ndim and x.size:
        token = overflow_raising()
        try:
            if x.size <= 256:  # the same passes; on a few numbers out= costs more than it saves
                return 1 / (1 + np.exp(-x))
            out = np.negative(x)
            np.exp(out, out=out)
            out += 1
            np.divide(1, out, out=out)
            return out
        except FloatingPointError:
            pass
        finally:
            restore(token)
    return quietly(_sigmoid_stable, x)  # e^-|x| may underflow, rightly, to 0


def _sigmoid_stable(x: np.ndarray) -> np.ndarray:
    z = np.asarray(np.abs(x))  # (a 0-d input gives a numpy scalar)
    np.negative(z, out=z)
    np.exp(z, out=z)
    out = np.where(x >= 0, 1, z)
    z += 1
    out /= z
    return out


def _softplus_scalar(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _softplus_array(x: np.ndarray) -> np.ndarray:
    return quietly(_softplus_terms, x)  # e^-|x| may underflow, rightly, to 0


def _softplus_terms(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def log_sigmoid(x: Any) -> Any:
    """ln sigmoid(x) = -softplus(-x) of a float or an array: finite where float64 rounds
    sigmoid(x) to 1 or 0 (ln 0), as for x below about -37 or above about 745."""
    return -(_softplus_array(-x) if isinstance(x, np.ndarray) else _softplus_scalar(-x))


def _sigmoid_slope(x: float) -> float:
    # sigmoid(x) (1 - sigmoid(x)) with 1 - sigmoid(x) = sigmoid(-x) computed, not subtracted
    return _sigmoid_scalar(x) * _sigmoid_scalar(-x)


def _tanh_slope(x: float) -> float:
    # 1 - tanh(x)^2 = sech(x)^2 = 4 t / (1 + t)^2 with t = e^-2|x| (no cancellation)
    if abs(x) < 0.5:  # tanh(x)^2 < 0.22: 1 - y^2 keeps its digits
        y = math.tanh(x)
        return 1.0 - y * y
    t = math.exp(-2.0 * abs(x))
    return 4.0 * t / ((1.0 + t) * (1.0 + t))


def reads(fn: Callable, n: int) -> tuple[bool, ...]:
    """Which of ``fn``'s first ``n`` arguments its code reads (all of them when that cannot
    be told). A compiled Tensor replay keeps only the arrays a derivative reads."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        return (True,) * n
    names = code.co_varnames[: code.co_argcount]
    used = set(code.co_cellvars)  # an argument a nested function reads
    for ins in dis.get_instructions(code):
        if ins.opname.startswith("LOAD_"):
            # Python 3.13's LOAD_FAST_LOAD_FAST loads two locals: its argval is a pair
            pair = ins.opname.startswith("LOAD_FAST") and isinstance(ins.argval, tuple)
            used.update(ins.argval if pair else (ins.argval,))
    return tuple(i >= len(names) or names[i] in used for i in range(n))


@dataclass(frozen=True)
class Refusal:
    """Inputs an op refuses: where ``bad(...)`` holds (elementwise), raise ``error``.

    ``bad`` takes the op's inputs and its output (``x, y`` for a unary op,
    ``a, b, out`` for a binary one) as numpy float64 values or arrays; ``why``
    says what the op needs and what to do. NaN inputs are never refused (NaN in,
    NaN out), and neither is an infinity the input already carried.
    """

    bad: Callable[..., Any]
    error: type[Exception]
    why: str


class _Entry:
    """An entry of the table: one object per op, compared and hashed as itself; a copy,
    a deep copy or an unpickled one is the table's own object."""

    __slots__ = ()
    name: str

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict) -> Any:
        return self

    def __reduce__(self) -> tuple:
        return _entry, (type(self).__name__, self.name)


def _entry(kind: str, name: str) -> Any:
    """The table's op `name` (for unpickling)."""
    return (UNARY if kind == "UnaryOp" else BINARY)[name]


@dataclass(frozen=True, eq=False)
class UnaryOp(_Entry):
    """One elementwise function y = f(x) of the table, with its derivative."""

    name: str
    scalar: Callable[[float], float]
    array: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[Any, Any], Any]
    tex: str
    dtex: str
    doc: str = ""
    # where the derivative is 0, no gradient passes, not even NaN or infinity
    masks: bool = False
    # keyword parameters with their defaults, e.g. {"slope": 0.01}
    params: dict[str, float] = field(default_factory=dict)
    # inputs the op refuses with a clear error instead of an infinity or NaN
    refuse: tuple[Refusal, ...] = ()
    # the torch.nn module computing the same function, and its keyword for each parameter
    torch: tuple[str, dict[str, str]] | None = None
    # f'(x) of a float from x alone, where `grad` reads y = f(x) and loses digits as y
    # nears its bound: at x = 24, 1 - sigmoid(x) keeps 4 of its digits, at 37 none
    # (sigmoid'(40) = 4.2e-18, where y (1 - y) = 0). The Value engine and the slides'
    # rules take it; arrays take `grad`, as PyTorch does.
    slope: Callable[..., float] | None = None
    # G f'(x) of float64 arrays from (G, y) in one pass (the C loop of `grad` times G,
    # rounded as numpy rounds it), or None where it cannot (another dtype or layout)
    chain: Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None = None

    @cached_property
    def scalar_grad(self) -> Callable[..., Any]:
        """The derivative (x, y) -> f'(x) of the float engines: `slope` of x where the
        entry has it, else `grad`."""
        slope = self.slope
        if slope is None:
            return self.grad

        def slope_of_x(x: float, y: float, **params: float) -> float:
            return slope(x, **params)

        return slope_of_x

    @cached_property
    def keeps(self) -> tuple[bool, bool]:
        """Whether ``grad`` reads x and y: what a compiled replay keeps for its backward."""
        return reads(self.grad, 2)  # type: ignore[return-value]


@dataclass(frozen=True)
class Activation:
    """A unary op of the table used as a layer's activation, with its parameters bound."""

    op: UnaryOp
    params: tuple[tuple[str, float], ...] = ()

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def spec(self) -> str:
        """The text that reads back as this activation: ``"tanh"``, ``"leaky_relu(0.2)"``."""
        defaults = self.op.params
        if not self.params or dict(self.params) == defaults:
            return self.name
        return f"{self.name}({', '.join(f'{v:g}' for _, v in self.params)})"

    def f(self, x: Any) -> Any:
        """f(x) for a float or an array."""
        kw = dict(self.params)
        if isinstance(x, np.ndarray):
            return self.op.array(x, **kw)
        return self.op.scalar(float(x), **kw)

    def df(self, x: Any, y: Any = None) -> Any:
        """f'(x), given x and (when known) y = f(x): for a float x whose y is f(x), the
        entry's `slope` of x where it has one; otherwise the table's derivative of x and
        y (so a y rounded by hand gives the derivative of the rounded y)."""
        kw = dict(self.params)
        if y is None:
            y = self.f(x)
        slope = self.op.slope
        if slope is not None and not isinstance(x, np.ndarray):
            x = float(x)
            if y == self.op.scalar(x, **kw):
                return slope(x, **kw)
        return self.op.grad(x, y, **kw)

    def apply(self, node: Any) -> Any:
        """f(node) for a `Value` or a `Tensor`: the engine's method of this name, recorded."""
        return getattr(node, self.name)(**dict(self.params))


def _op(name: str, scalar, array, grad, tex: str, dtex: str, doc: str, **kw) -> UnaryOp:
    return UnaryOp(name, scalar, array, grad, tex, dtex, doc, **kw)


_TABLE = [
    _op(
        "linear",
        lambda x: x,
        lambda x: x.copy(),
        lambda x, y: _ones(x),
        r"v",
        r"1",
        "The identity (the slides' purelin): f(v) = v, f'(v) = 1.",
        torch=("Identity", {}),
    ),
    _op(
        "sigmoid",
        _sigmoid_scalar,
        _sigmoid_array,
        lambda x, y: y * (1.0 - y),  # (a float 1: numpy converts it faster than an int)
        r"\sigma(v) = \frac{1}{1 + e^{-v}}",
        r"\sigma(v)\,(1 - \sigma(v))",
        "The logistic function f(v) = 1 / (1 + e^-v); f'(v) = f(v) (1 - f(v)) = f(v) f(-v).",
        torch=("Sigmoid", {}),
        slope=_sigmoid_slope,
        chain=_chain(kernels and kernels.sigmoid_chain),
    ),
    _op(
        "tanh",
        math.tanh,
        np.tanh,
        lambda x, y: 1.0 - y * y,
        r"\tanh v",
        r"1 - \tanh^2 v",
        "f(v) = tanh v; f'(v) = 1 - f(v)^2 = 4 e^-2|v| / (1 + e^-2|v|)^2.",
        torch=("Tanh", {}),
        slope=_tanh_slope,
        chain=_chain(kernels and kernels.tanh_chain),
    ),
    _op(
        "relu",
        lambda x: 0.0 if x <= 0.0 else x,  # NaN in, NaN out (as np.maximum)
        lambda x: np.maximum(x, 0),
        lambda x, y: _step(x),
        r"\max(0, v)",
        r"[v > 0]",
        "f(v) = max(0, v); f'(v) = 1 for v > 0, else 0 (0 at the kink).",
        masks=True,
        torch=("ReLU", {}),
    ),
    _op(
        "softplus",
        _softplus_scalar,
        _softplus_array,
        lambda x, y: _sigmoid_array(x) if isinstance(x, np.ndarray) else _sigmoid_scalar(x),
        r"\ln(1 + e^{v})",
        r"\sigma(v)",
        "f(v) = ln(1 + e^v), computed stably; f'(v) = sigmoid(v).",
        torch=("Softplus", {}),
    ),
    _op(
        "elu",
        lambda x, alpha=1.0: x if x > 0.0 else alpha * math.expm1(x),
        lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
        lambda x, y, alpha=1.0: where(x > 0, _ones(x), alpha * _exp_below_0(x)),
        r"v \text{ if } v > 0 \text{ else } \alpha (e^{v} - 1)",
        r"1 \text{ if } v > 0 \text{ else } \alpha e^{v}",
        "f(v) = v for v > 0, else alpha (e^v - 1); f'(v) = 1 for v > 0, else alpha e^v "
        "(= f(v) + alpha, which would cancel to 0 far below 0).",
        params={"alpha": 1.0},
        torch=("ELU", {"alpha": "alpha"}),
    ),
    _op(
        "leaky_relu",
        lambda x, slope=0.01: x if x > 0.0 else slope * x,
        lambda x, slope=0.01: np.where(x > 0, x, slope * x),
        lambda x, y, slope=0.01: where(x > 0, _ones(x), slope * _ones(x)),
        r"v \text{ if } v > 0 \text{ else } a v",
        r"1 \text{ if } v > 0 \text{ else } a",
        "f(v) = v for v > 0, else slope * v; f'(v) = 1 for v > 0, else slope.",
        params={"slope": 0.01},
        torch=("LeakyReLU", {"slope": "negative_slope"}),
    ),
]


# -- the other elementwise functions (not activations) ------------------------------


def _overflowed(x: Any, y: Any) -> Any:
    """A finite input whose result is infinite: the op overflowed float64."""
    return np.isinf(y) & np.isfinite(x)


def _half_over(y: Any) -> Any:
    """0.5 / y, infinite at y == 0 with y's sign, as numpy divides (Python would raise)."""
    if isinstance(y, np.ndarray):
        return 0.5 / y
    return 0.5 / y if y else math.copysign(math.inf, y)


# where sinh and cosh overflow: |x| > ln(2 * the largest float)
_COSH_LIMIT = "|x| > 710.47 in float64 (|x| > 89.41 in float32)"


def _overflow(op: str, limit: str) -> Refusal:
    return Refusal(_overflowed, OverflowError, f"{op} overflows for {limit}; scale the input down")


_TABLE += [
    _op("neg", lambda x: -x, np.negative, lambda x, y: -_ones(x), r"-v", r"-1", "f(v) = -v."),
    _op(
        "exp",
        math.exp,
        np.exp,
        lambda x, y: y,
        r"e^{v}",
        r"e^{v}",
        "f(v) = e^v; f'(v) = f(v).",
        refuse=(
            Refusal(
                _overflowed,
                OverflowError,
                "e^x overflows for x > 709.78 in float64 (x > 88.72 in float32); scale the "
                "input down "
                "(softplus and log_softmax are computed stably)",
            ),
        ),
    ),
    _op(
        "log",
        math.log,
        np.log,
        lambda x, y: 1 / x,
        r"\ln v",
        r"\frac{1}{v}",
        "f(v) = ln v (v > 0); f'(v) = 1/v.",
        refuse=(
            Refusal(
                lambda x, y: x <= 0,
                ValueError,
                "log needs x > 0 (a non-positive number has no logarithm); keep the input positive",
            ),
        ),
    ),
    _op(
        "sqrt",
        math.sqrt,
        np.sqrt,
        lambda x, y: _half_over(y),
        r"\sqrt{v}",
        r"\frac{1}{2\sqrt{v}}",
        "f(v) = sqrt v (v >= 0); f'(v) = 1 / (2 f(v)), infinite at 0.",
        refuse=(
            Refusal(
                lambda x, y: x < 0,
                ValueError,
                "sqrt needs x >= 0 (a negative number has no real square root); "
                "keep the input non-negative",
            ),
        ),
    ),
    _op(
        "abs",
        abs,
        np.abs,
        lambda x, y: np.sign(x) if isinstance(x, np.ndarray) else _sign(x),
        r"|v|",
        r"\operatorname{sign} v",
        "f(v) = |v|; f'(v) = sign v (0 at the kink).",
        masks=True,
    ),
    _op("sin", math.sin, np.sin, lambda x, y: _cos(x), r"\sin v", r"\cos v", "f'(v) = cos v."),
    _op("cos", math.cos, np.cos, lambda x, y: -_sin(x), r"\cos v", r"-\sin v", "f'(v) = -sin v."),
    _op(
        "tan",
        math.tan,
        np.tan,
        lambda x, y: 1 + y * y,
        r"\tan v",
        r"1 + \tan^2 v",
        "f(v) = tan v; f'(v) = 1 + f(v)^2.",
    ),
    _op(
        "sinh",
        math.sinh,
        np.sinh,
        lambda x, y: _cosh(x),
        r"\sinh v",
        r"\cosh v",
        "f'(v) = cosh v.",
        refuse=(_overflow("sinh", _COSH_LIMIT),),
    ),
    _op(
        "cosh",
        math.cosh,
        np.cosh,
        lambda x, y: _sinh(x),
        r"\cosh v",
        r"\sinh v",
        "f'(v) = sinh v.",
        refuse=(_overflow("cosh", _COSH_LIMIT),),
    ),
]


def _cos(x: Any) -> Any:
    return np.cos(x) if isinstance(x, np.ndarray) else math.cos(x)


def _sign(x: float) -> float:
    """sign x as np.sign gives it: 1, -1, 0, and NaN for NaN."""
    return 1.0 if x > 0 else -1.0 if x < 0 else x * 0.0 if x != x else 0.0


def _sin(x: Any) -> Any:
    return np.sin(x) if isinstance(x, np.ndarray) else math.sin(x)


def _cosh(x: Any) -> Any:
    return np.cosh(x) if isinstance(x, np.ndarray) else math.cosh(x)


def _sinh(x: Any) -> Any:
    return np.sinh(x) if isinstance(x, np.ndarray) else math.sinh(x)


@dataclass(frozen=True, eq=False)
class BinaryOp(_Entry):
    """One elementwise function out = f(a, b) of the table with both partial derivatives.

    ``da(a, b, out)`` and ``db(a, b, out)`` are d out/d a and d out/d b, each
    written so that it is finite and accurate wherever ``out`` is (``-out / b``
    rather than ``-a / b^2``); a constant partial is a plain number (1 or -1).
    """

    name: str
    symbol: str
    forward: Callable[[Any, Any], Any]
    da: Callable[[Any, Any, Any], Any]
    db: Callable[[Any, Any, Any], Any]
    tex: str
    dtex: tuple[str, str]
    doc: str = ""
    refuse: tuple[Refusal, ...] = ()
    # where mask_a(a, b) holds, no gradient at all passes to a (not even NaN or infinity)
    mask_a: Callable[[Any, Any], Any] | None = None

    def grads(self, a: Any, b: Any, out: Any) -> tuple[Any, Any]:
        """(d out/d a, d out/d b)."""
        return self.da(a, b, out), self.db(a, b, out)


def _pow_da(a: Any, b: Any, out: Any) -> Any:
    """d/da a^b = b a^(b-1), exactly 0 when b == 0 (also at a == 0)."""
    if isinstance(b, np.ndarray):
        return np.where(b == 0, 0 * a, b * a ** (b - 1))
    if isinstance(a, np.ndarray):  # a number exponent
        return np.zeros_like(a) if b == 0 else a + a if b == 2 else b * a ** (b - 1)  # 2a exactly
    if b == 0:
        return 0.0
    try:
        return b * a ** (b - 1)
    except (OverflowError, ZeroDivisionError):  # the IEEE result: an infinity
        with np.errstate(all="ignore"):
            return float(b * np.float64(a) ** (b - 1))


def _pow_db(a: Any, b: Any, out: Any) -> Any:
    """d/db a^b = a^b ln a for a > 0; 0 where a == 0 and b >= 0 (0^b is flat there);
    NaN for a < 0, where a^b is not real for the b nearby."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        positive = a > 0
        flat = (a == 0) & (b >= 0)
        return np.where(
            positive, out * np.log(np.where(positive, a, 1)), np.where(flat, 0 * out, np.nan)
        )
    if a > 0:
        return out * math.log(a)
    return 0.0 if a == 0 and b >= 0 else math.nan


def _not_integer(b: Any) -> Any:
    return np.isfinite(b) & (np.floor(b) != b)


_BINARY_TABLE = [
    BinaryOp(
        "add",
        "+",
        operator.add,
        lambda a, b, out: 1,
        lambda a, b, out: 1,
        r"a + b",
        ("1", "1"),
        "a + b; d/da = 1, d/db = 1.",
    ),
    BinaryOp(
        "sub",
        "-",
        operator.sub,
        lambda a, b, out: 1,
        lambda a, b, out: -1,
        r"a - b",
        ("1", "-1"),
        "a - b; d/da = 1, d/db = -1.",
    ),
    BinaryOp(
        "mul",
        "*",
        operator.mul,
        lambda a, b, out: b,
        lambda a, b, out: a,
        r"a b",
        ("b", "a"),
        "a * b; d/da = b, d/db = a.",
    ),
    BinaryOp(
        "div",
        "/",
        operator.truediv,
        lambda a, b, out: 1 / b,
        lambda a, b, out: -out / b,
        r"\frac{a}{b}",
        (r"\frac{1}{b}", r"-\frac{a}{b^2}"),
        "a / b; d/da = 1/b, d/db = -a/b^2, computed as -out/b so it stays finite where out is.",
        refuse=(
            Refusal(
                lambda a, b, out: b == 0,
                ZeroDivisionError,
                "division by zero; keep the divisor away from 0 (e.g. b + eps)",
            ),
        ),
    ),
    BinaryOp(
        "pow",
        "**",
        operator.pow,
        _pow_da,
        _pow_db,
        r"a^{b}",
        (r"b\,a^{b-1}", r"a^{b} \ln a"),
        "a ** b; d/da = b a^(b-1) (0 when b = 0), d/db = a^b ln a (a > 0; 0 where a = 0 <= b).",
        mask_a=lambda a, b: b == 0,  # a^0 = 1 whatever a is
        refuse=(
            Refusal(
                lambda a, b, out: (a == 0) & (b < 0),
                ZeroDivisionError,
                "0 ** p with p < 0 divides by zero; keep the base away from 0",
            ),
            Refusal(
                lambda a, b, out: (a < 0) & _not_integer(b),
                ValueError,
                "a negative base with a non-integer exponent is not a real number; "
                "use an integer exponent or a positive base",
            ),
        ),
    ),
]


#: Every binary op of the table by name.
BINARY: dict[str, BinaryOp] = {op.name: op for op in _BINARY_TABLE}

#: Every unary op of the table by name.
UNARY: dict[str, UnaryOp] = {op.name: op for op in _TABLE}

#: The names a layer can use as its activation, in the order help texts show them.
ACTIVATIONS: tuple[str, ...] = (
    "sigmoid",
    "tanh",
    "linear",
    "relu",
    "softplus",
    "elu",
    "leaky_relu",
)

_SPEC = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


def activation_names() -> str:
    """``"sigmoid, tanh, ..."`` for messages."""
    return ", ".join(ACTIVATIONS)


def activation(spec: str | Activation) -> Activation:
    """Read ``"tanh"`` or ``"leaky_relu(0.2)"`` into an `Activation`; clear error otherwise."""
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"an activation is a name like 'tanh', got {type(spec).__name__} {spec!r:.40}; "
            f"give one of {activation_names()}"
        )
    m = _SPEC.match(spec)
    if not m or m.group(1) not in ACTIVATIONS:
        raise ValueError(f"unknown activation {spec!r}; give one of {activation_names()}")
    op = UNARY[m.group(1)]
    names = list(op.params)
    if m.group(2) is None:
        return Activation(op, tuple(op.params.items()))
    texts = [t.strip() for t in m.group(2).split(",")] if m.group(2) else []
    if len(texts) != len(names):
        want = ", ".join(names) if names else "no parameters"
        example = f"{op.name}({', '.join(f'{v:g}' for v in op.params.values())})"
        raise ValueError(
            f"activation {spec!r}: {op.name} takes {want}, got {len(texts)} value(s); "
            f"write e.g. {example if names else op.name}"
        )
    values = []
    for pname, text in zip(names, texts):
        try:
            v = float(text)
        except ValueError:
            raise ValueError(
                f"activation {spec!r}: {pname} must be a number, got {text!r}; "
                f"write e.g. {op.name}({op.params[pname]:g})"
            ) from None
        if not math.isfinite(v):
            raise ValueError(
                f"activation {spec!r}: {pname} must be finite, got {text!r}; "
                f"write e.g. {op.name}({op.params[pname]:g})"
            )
        values.append((pname, v))
    return Activation(op, tuple(values))


def bind_params(op: UnaryOp, given: dict[str, Any]) -> dict[str, float]:
    """The op's keyword parameters: its defaults updated by `given`, each a finite number."""
    unknown = sorted(set(given) - set(op.params))
    if unknown:
        takes = ", ".join(f"{k}={v:g}" for k, v in op.params.items())
        raise TypeError(
            f"{op.name}() got an unexpected keyword {unknown[0]!r}; "
            + (f"pass only {takes}" if takes else "it takes no keywords: leave it out")
        )
    kw = dict(op.params)
    for key, v in given.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"{op.name}({key}=...) must be a number, got {type(v).__name__} {v!r:.40}; "
                f"pass e.g. {key}={op.params[key]:g}"
            )
        if not math.isfinite(v):
            raise ValueError(
                f"{op.name}({key}=...) must be finite, got {v!r}; "
                f"pass e.g. {key}={op.params[key]:g}"
            )
        kw[key] = float(v)
    return kw


def op_label(op: UnaryOp, kw: dict[str, float]) -> str:
    """The node label of `op` with parameters `kw`: ``"leaky_relu"`` or ``"leaky_relu(0.2)"``."""
    if kw == op.params:
        return op.name
    return f"{op.name}({', '.join(map(format, kw.values()))})"


def as_method(fn: Callable, op: UnaryOp) -> Callable:
    """`fn` dressed as an engine's method for `op`: its name, docstring and signature."""
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = op.doc
    if op.params:
        fn.__signature__ = method_signature(op)  # type: ignore[attr-defined]
    return fn


def method_signature(op: UnaryOp) -> inspect.Signature:
    """``(self, *, slope=0.01)``: how an engine's method for `op` is called."""
    keywords = [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v, annotation=float)
        for k, v in op.params.items()
    ]
    return inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *keywords]
    )
