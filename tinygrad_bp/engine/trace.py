"""Record a scalar computation once, replay it on new numbers: `trace(fn, *example_inputs)`.

Training a `Value` network builds the same graph at every step; only the numbers
change. `trace` runs ``fn`` once on `Value` inputs, reads the graph it built and
compiles it into one straight-line Python function: the forward pass, node by
node in creation order, then the backward pass, node by node in reverse order,
each gradient summed in the same order as `Value.backward` sums it. Every
forward and every local derivative comes from the op table (`engine.ops`):
where an entry's formula is plain arithmetic (``lambda a, b, out: (b, a)``) it
is written inline, otherwise the entry's function is called. The replay
therefore gives the eager engine's numbers bit for bit, several times faster.

    step = trace(fn, *example_inputs)
    out, grads, input_grads = step(*new_inputs)               # parameters' current .data
    out, grads, input_grads = step(*new_inputs, params=[...])  # or given values
    loss = step.backward(*new_inputs)                         # p.grad += d loss / d p

Inputs are numbers or (nested) sequences of numbers; ``fn`` receives them as
`Value` leaves of the same structure. The parameters are every other `Value`
leaf the graph reaches (read at each call from their ``.data``, so an optimizer
that updates them is seen), in creation order or in the order given by
``trace(..., params=model.parameters())``. Numbers that ``fn`` combines with
Values are constants of the trace. ``fn`` returns one `Value` or a sequence of
them; gradients are those of the first one.

What replays correctly: any input numbers, including ones on the other side of a
kink (relu, abs, leaky_relu, elu: their derivative is evaluated on the new
numbers). What cannot replay, and is refused: inputs of another structure
(`TraceError` naming the input and both sizes); ``fn`` converting an input to a
Python number (``float(x)``, ``x.data``, ``if x:``) while tracing, since that
number would be frozen into the trace. Python branches on intermediate results
(``if (w * x).data > 0:``) cannot be seen: `Trace.check` rebuilds the graph for
given inputs and raises `TraceError` if it differs from the recorded one.
An input outside an op's domain (log of 0, say) makes the replay hand over to
the eager engine, which raises its usual error naming the op (with ``params=`` it sets
the values into the parameters for that call; other calls of the trace wait for it).
"""

from __future__ import annotations

import math
import numbers
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from .autograd import WALK_LOCK, is_anomaly_enabled, next_seq, topological_order
from .ops import BINARY, UNARY
from .tensor import Tensor
from .value import Value

__all__ = ["Trace", "TraceError", "TraceResult", "trace"]


#: the most nodes a trace compiles by default (about five seconds of compiling)
MAX_NODES = 100_000


class TraceError(ValueError):
    """The function cannot be traced, or new inputs do not fit the recorded graph."""


class TraceResult(NamedTuple):
    """One replay: ``output`` shaped as ``fn``'s result, ``grads`` of the first output with
    respect to `Trace.params` (in that order) and ``input_grads`` shaped as the inputs."""

    output: Any
    grads: list[float]
    input_grads: list[Any]


# -- the structure of the inputs: None for a number, a tuple of child structures otherwise


def _is_number(x: Any) -> bool:
    """A real number: a Python or numpy one, or a 0-d numpy array of one (not a bool)."""
    if isinstance(x, np.ndarray):
        return x.ndim == 0 and x.dtype.kind in "iuf"
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _refuse_unordered(x: Any, where: str) -> None:
    """A dict or a set has no order of its own that a later call would repeat: refused."""
    if isinstance(x, (Mapping, AbstractSet)):
        raise TraceError(
            f"{where}: got a {type(x).__name__}, whose entries have no fixed order, so they "
            "could not be matched to the traced inputs; pass a list or a tuple"
        )


def _structure(x: Any, where: str) -> Any:
    if isinstance(x, Value):
        raise TraceError(f"{where}: pass numbers, not Values; trace makes the input Values itself")
    if _is_number(x):
        return None
    _refuse_unordered(x, where)
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__") or getattr(x, "ndim", 1) == 0:
        raise TraceError(
            f"{where}: expected a number or a sequence of numbers, got {type(x).__name__} "
            f"{x!r:.40}; pass e.g. 0.5 or [0.5, 1.0]"
        )
    return tuple(_structure(item, f"{where}[{i}]") for i, item in enumerate(x))


def _flatten(x: Any, shape: Any, where: str, out: list[float]) -> None:
    """Append the numbers of ``x`` to ``out``, checking that ``x`` has the structure ``shape``."""
    if shape is None:
        if not _is_number(x):
            raise TraceError(
                f"{where}: the trace was recorded with a number here, got {type(x).__name__} "
                f"{x!r:.40}; pass a number, or trace again for this input"
            )
        try:
            v = float(x)
        except OverflowError:  # an int beyond float64
            v = math.inf
        if not math.isfinite(v):
            raise TraceError(
                f"{where}: got a non-finite number ({x!r:.40}), beyond float64's range "
                "(about 1.8e308) or not a number; use finite numbers"
            )
        out.append(v)
        return
    if (
        isinstance(x, (str, bytes, Value))
        or not hasattr(x, "__len__")
        or getattr(x, "ndim", 1) == 0
    ):
        raise TraceError(
            f"{where}: the trace was recorded with a sequence of length {len(shape)} here, "
            f"got {type(x).__name__}; trace again for this input"
        )
    _refuse_unordered(x, where)
    if len(x) != len(shape):
        raise TraceError(
            f"{where} has length {len(x)}, the trace was recorded with length {len(shape)}; "
            "trace again for this size"
        )
    for i, (item, sub) in enumerate(zip(x, shape)):
        _flatten(item, sub, f"{where}[{i}]", out)


def _unflatten(flat: Sequence[Any], shape: Any, pos: list[int]) -> Any:
    if shape is None:
        pos[0] += 1
        return flat[pos[0] - 1]
    return [_unflatten(flat, sub, pos) for sub in shape]


def _input_name(i: int) -> str:
    return f"input {i}"


# -- input Values that refuse to become Python numbers while the function is traced

_ENGINE_DIR = __file__.rsplit("/", 1)[0].rsplit("\\", 1)[0]


class _Input(Value):
    """A traced input: reading its number from outside the engine would freeze it."""

    __slots__ = ()

    @property
    def data(self) -> float:  # type: ignore[override]
        if not sys._getframe(1).f_code.co_filename.startswith(_ENGINE_DIR):
            self._refuse()
        return _VALUE_DATA.__get__(self)

    @data.setter
    def data(self, x: float) -> None:
        _VALUE_DATA.__set__(self, x)

    def _refuse(self, *args: Any) -> Any:
        raise TraceError(
            f"the traced function reads the number of {self.name} (.data, float(), a "
            "comparison or a condition): the trace would freeze it. Compute with Value "
            "operations only, or do not trace this function"
        )

    __float__ = __bool__ = __int__ = __index__ = _refuse


_VALUE_DATA = Value.__dict__["data"]


# -- reading the op table's formulas as Python source


class _Sym:
    """A placeholder that turns arithmetic on it into Python source; anything else refuses.

    Calling a table formula on placeholders yields its expression when the formula is
    plain arithmetic (comparisons, branches and library calls raise `_NotArithmetic`).
    """

    __slots__ = ("src",)

    def __init__(self, src: str) -> None:
        self.src = src

    def _refuse(self, *args: Any) -> Any:
        raise _NotArithmetic

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __float__ = _refuse
    __index__ = __int__ = __abs__ = __array__ = __iter__ = __len__ = _refuse
    __hash__ = None  # type: ignore[assignment]


def _src(x: Any) -> str:
    if isinstance(x, _Sym):
        return x.src
    if type(x) in (int, float) and math.isfinite(x):
        return repr(x)
    raise _NotArithmetic


def _binary(fmt: str) -> tuple[Callable, Callable]:
    def op(self: _Sym, other: Any) -> _Sym:
        return _Sym(fmt.format(self.src, _src(other)))

    def rop(self: _Sym, other: Any) -> _Sym:
        return _Sym(fmt.format(_src(other), self.src))

    return op, rop


for _name, _fmt in (
    ("add", "({} + {})"),
    ("sub", "({} - {})"),
    ("mul", "({} * {})"),
    ("truediv", "({} / {})"),
    ("pow", "({} ** {})"),
):
    _op, _rop = _binary(_fmt)
    setattr(_Sym, f"__{_name}__", _op)
    setattr(_Sym, f"__r{_name}__", _rop)
_Sym.__neg__ = lambda self: _Sym(f"(-{self.src})")  # type: ignore[attr-defined]
_Sym.__pos__ = lambda self: self  # type: ignore[attr-defined]


class _NotArithmetic(Exception):
    pass


def _as_source(fn: Callable, names: Sequence[str], n_out: int, **params: float) -> Any:
    """Python source for ``fn(*names)`` (a tuple of ``n_out`` sources), or None if not plain
    arithmetic. A constant result comes back as its literal."""
    try:
        out = fn(*(_Sym(n) for n in names), **params)
        outs = out if n_out > 1 else (out,)
        if not isinstance(outs, tuple) or len(outs) != n_out:
            return None
        return tuple(_src(o) for o in outs)
    except (_NotArithmetic, TypeError, ValueError, AttributeError):
        return None


# -- what one node of the graph is


class _Step(NamedTuple):
    """One operation of the graph: its table entry, operands and keyword parameters."""

    kind: str  # "unary" or "binary"
    entry: Any
    operands: tuple  # Values, or floats for constants folded into the op
    params: dict


_BY_SYMBOL = {op.symbol: op for op in BINARY.values()}


def _step_of(node: Value) -> _Step:
    """The table entry and operands of ``node``, from the graph interface."""
    op, parents = node.op, node.parents
    if op in _BY_SYMBOL and len(parents) == 2:
        return _Step("binary", _BY_SYMBOL[op], parents, _NO_PARAMS)
    unary = _unary_label(op) if len(parents) == 1 else None
    if unary is not None:
        return _Step("unary", unary[0], parents, unary[1])
    if op.startswith("**") and len(parents) == 1 and type(node._db) is float:
        # a number exponent, kept beside the edge (the label shows 6 digits of it)
        return _Step("binary", BINARY["pow"], (parents[0], node._db), {})
    raise TraceError(
        f"cannot replay operation {node.describe()}: not an op of the table; "
        "build the function from Value operations only, or do not trace it"
    )


_LABEL = re.compile(r"^([a-z_]+)(?:\((.*)\))?$")
_NO_PARAMS: dict = {}


@lru_cache(maxsize=256)
def _unary_label(op: str) -> tuple[Any, dict] | None:
    """(table entry, parameters) of a unary node's label: "tanh", "leaky_relu(0.2)"."""
    m = _LABEL.match(op)
    if not m or m.group(1) not in UNARY:
        return None
    entry = UNARY[m.group(1)]
    if m.group(2) is None:
        return entry, dict(entry.params)
    # the parameters, in the table's order, as the engines write them
    return entry, dict(zip(entry.params, (float(t) for t in m.group(2).split(","))))


def _partials(step: _Step) -> list[tuple[int, Callable]]:
    """(operand index, the table's formula for d out/d operand) for each operand that
    takes a gradient; each formula reads the operands and then the output."""
    if step.kind == "unary":
        fns = [step.entry.scalar_grad]
    else:
        fns = [step.entry.da, step.entry.db]
    return [
        (i, fn)
        for i, (a, fn) in enumerate(zip(step.operands, fns))
        if isinstance(a, Value) and a.op != "const"
    ]


# -- the compiler


class _Compiler:
    """Turns table formulas into source: inline arithmetic where it is, calls otherwise."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self.templates: dict[tuple, Any] = {}

    def _template(self, fn: Callable, n_args: int, n_out: int, params: dict) -> Any:
        key = (id(fn), n_args, n_out, tuple(params.items()) if params else ())
        found = self.templates.get(key)
        if found is None:
            names = [f"_{i}_" for i in range(n_args)]
            template = _as_source(fn, names, n_out, **params)
            if template is None:  # call the table's function
                name = f"_f{len(self.namespace)}"
                self.namespace[name] = fn
                kw = "".join(f", {k}={v!r}" for k, v in params.items())
                call = f"{name}({', '.join(names)}{kw})"
                template = (call,) if n_out == 1 else tuple(f"{call}[{i}]" for i in range(n_out))
            used = {i for i in range(n_args) if any(names[i] in t for t in template)}
            # "(_0_ * _1_)" becomes "({0} * {1})" for str.format (the sources hold no braces)
            formats = []
            for t in template:
                for i, name in enumerate(names):
                    t = t.replace(name, f"{{{i}}}")
                formats.append(t)
            found = self.templates[key] = (formats, used, fn)  # fn pinned: its id stays its own
        return found

    def uses(self, fn: Callable, n_args: int, n_out: int, params: dict) -> set[int]:
        """Which arguments the formula reads."""
        return self._template(fn, n_args, n_out, params)[1]

    def expr(self, fn: Callable, args: Sequence[str], n_out: int, params: dict) -> list[str]:
        """Source for each of ``fn``'s ``n_out`` results on the argument sources ``args``."""
        return [t.format(*args) for t in self._template(fn, len(args), n_out, params)[0]]


def _literal(x: float) -> str:
    return repr(x) if math.copysign(1.0, x) > 0 else f"({x!r})"


# An expression folds in at most this many operations, and a sum at most this many
# terms, so that the generated source never nests deeper than the parser allows.
_MAX_DEPTH = 12
_MAX_TERMS = 32


def _compile(
    outputs: list[Value], inputs: list[Value], params: list[Value]
) -> tuple[Callable, list[Value], str]:
    """Straight-line replay code: f(input floats, param floats) -> (outputs, grads, input grads).

    Forward: one statement per node in creation order, except that a node read once
    and by no derivative is folded into its reader's expression (same operations in
    the same order, so the same numbers). Backward: one statement per node in reverse
    creation order, its gradient the sum of its readers' terms in the order in which
    `Value.backward` adds them.
    """
    nodes: dict[int, Value] = {}
    for out in outputs:
        for node in topological_order(out):
            nodes[id(node)] = node
    order = sorted(nodes.values(), key=lambda n: n._seq)
    root = outputs[0]
    reached = {id(node) for node in topological_order(root)}
    c = _Compiler()
    leaf_vars = {id(v): f"i{k}" for k, v in enumerate(inputs)}
    leaf_vars.update({id(p): f"p{k}" for k, p in enumerate(params)})

    # what each node is, how often the forward reads it, and whether backward reads it
    steps: dict[int, _Step] = {}
    reads: dict[int, int] = {}
    needed = {id(o) for o in outputs}
    for node in order:
        if not node.parents:
            if id(node) not in leaf_vars and node.op != "const":
                raise TraceError(
                    f"the graph uses the Value {node!r} that is not in params; "
                    "add it to trace(..., params=[...]) or leave params out"
                )
            continue
        step = steps[id(node)] = _step_of(node)
        operands = [a for a in step.operands if isinstance(a, Value)]
        for a in operands:
            reads[id(a)] = reads.get(id(a), 0) + 1
        if id(node) in reached:
            n = len(step.operands)
            for _, fn in _partials(step):
                for i in c.uses(fn, n + 1, 1, step.params):
                    needed.add(id(step.operands[i]) if i < n else id(node))

    var: dict[int, str] = {}
    depth: dict[int, int] = {}
    body: list[str] = []
    for k, node in enumerate(order):
        if not node.parents:
            var[id(node)] = leaf_vars.get(id(node)) or _literal(node.data)
            continue
        step = steps[id(node)]
        args = [var[id(a)] if isinstance(a, Value) else _literal(a) for a in step.operands]
        forward = step.entry.scalar if step.kind == "unary" else step.entry.forward
        (src,) = c.expr(forward, args, 1, step.params)
        d = 1 + max((depth.get(id(a), 0) for a in step.operands if isinstance(a, Value)), default=0)
        if id(node) not in needed and reads.get(id(node)) == 1 and d < _MAX_DEPTH:
            var[id(node)], depth[id(node)] = src, d
        else:
            var[id(node)] = f"n{k}"
            body.append(f"    n{k} = {src}")

    # backward: each node's gradient once, from the terms its readers left for it
    terms: dict[int, list[str]] = {id(root): ["1.0"]}
    grad: dict[int, str] = {}
    for node in reversed(order):
        nid = id(node)
        if nid not in terms or nid not in reached:
            continue
        grad[nid] = g = _sum(terms.pop(nid), body)
        if not node.parents:
            continue
        step = steps[nid]
        args = [var[id(a)] if isinstance(a, Value) else _literal(a) for a in step.operands]
        masks = getattr(step.entry, "masks", False)
        mask_a = getattr(step.entry, "mask_a", None)
        for i, fn in _partials(step):
            (local,) = c.expr(fn, [*args, var[nid]], 1, step.params)
            if local == "1":
                term = g
            elif local == "-1":
                term = f"(-{g})"
            elif masks:  # no gradient passes where the derivative is 0
                d = f"d{len(body)}"
                body.append(f"    {d} = {local}")
                term = f"({d} * {g} if {d} else 0.0)"
            elif i == 0 and mask_a is not None:  # nor to a where the table's mask_a holds
                (cut,) = c.expr(mask_a, args, 1, {})
                term = f"(0.0 if {cut} else ({local}) * {g})"
            else:
                term = f"({local}) * {g}"
            terms.setdefault(id(step.operands[i]), []).append(term)

    def tup(items: list[str]) -> str:
        return "(" + "".join(f"{x}, " for x in items) + ")"

    head = ["def _replay(_inputs, _params):"]
    if inputs:
        head.append(f"    {tup([f'i{k}' for k in range(len(inputs))])} = _inputs")
    if params:
        head.append(f"    {tup([f'p{k}' for k in range(len(params))])} = _params")
    grads = tup([grad.get(id(p), "0.0") for p in params])
    input_grads = tup([grad.get(id(v), "0.0") for v in inputs])
    outs = tup([var[id(o)] for o in outputs])
    source = "\n".join([*head, *body, f"    return ({outs}, {grads}, {input_grads})"])
    exec(compile(source, "<tinygrad_bp trace>", "exec"), c.namespace)
    return c.namespace["_replay"], order, source


def _sum(terms: list[str], body: list[str]) -> str:
    """A name (or literal) for terms[0] + terms[1] + ..., added left to right."""
    if len(terms) == 1 and (terms[0].isidentifier() or terms[0] == "1.0"):
        return terms[0]
    name = f"g{len(body)}"
    acc = terms[0]
    for lo in range(1, max(len(terms), 2), _MAX_TERMS):
        acc = " + ".join([acc, *terms[lo : lo + _MAX_TERMS]])
        body.append(f"    {name} = {acc}")
        acc = name
    return name


def _gather(result: Any, where: str = "the result") -> tuple[Any, list[Value]]:
    """(structure, flat Values) of ``fn``'s result."""
    if isinstance(result, Value):
        return None, [result]
    if isinstance(result, (list, tuple)) and result:
        flat: list[Value] = []
        shape = []
        for i, item in enumerate(result):
            s, f = _gather(item, f"{where}[{i}]")
            shape.append(s)
            flat += f
        return tuple(shape), flat
    if isinstance(result, Tensor):  # traced as Values: no example input was a Tensor
        raise TraceError(
            f"{where} of the traced function is a Tensor, but no example input was: trace "
            "records Tensors when an example input is a Tensor, e.g. trace(fn, Tensor(x)); "
            "for a function of no inputs use TensorTrace(fn)"
        )
    raise TraceError(
        f"{where} of the traced function must be a Value or a non-empty sequence of Values, "
        f"got {type(result).__name__} {result!r:.40}; return the Value(s) it computes"
    )


class Trace:
    """A recorded scalar computation, compiled for replay (see the module docstring)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *example_inputs: Any,
        params: Sequence[Value] | None = None,
        max_nodes: int = MAX_NODES,
    ) -> None:
        self.fn = fn
        # held while a call reads the parameters or adds into their .grad, and while the
        # eager engine sets a call's params= values into them
        self._lock = threading.RLock()
        self._shapes = [_structure(x, _input_name(i)) for i, x in enumerate(example_inputs)]
        flat: list[float] = []
        for i, (x, s) in enumerate(zip(example_inputs, self._shapes)):
            _flatten(x, s, _input_name(i), flat)
        leaves = [_input_leaf(v, k) for k, v in enumerate(flat)]
        pos = [0]
        values = [_unflatten(leaves, s, pos) for s in self._shapes]
        start = next_seq()  # the leaves numbered from here on are made by ``fn``
        result = fn(*values)
        self._out_shape, outputs = _gather(result)
        found = [n for out in outputs for n in topological_order(out)]
        if params is None:
            seen: dict[int, Value] = {}
            for n in found:
                if not n.parents and n.op != "const" and not isinstance(n, _Input):
                    seen[id(n)] = n
            params = sorted(seen.values(), key=lambda n: n._seq)
        self.params: list[Value] = list(params)
        if any(not isinstance(p, Value) for p in self.params):
            bad = next(p for p in self.params if not isinstance(p, Value))
            raise TraceError(
                f"params must be a sequence of Values, got a {type(bad).__name__} {bad!r:.40} "
                "in it; pass the Value parameters, e.g. params=model.parameters()"
            )
        if len({id(p) for p in self.params}) != len(self.params):
            raise TraceError(
                "params names a Value twice (backward() would add its gradient twice); "
                "give each parameter once"
            )
        size = len({id(n) for n in found})
        if size > max_nodes:
            raise TraceError(
                f"the recorded graph has {size:,} nodes, over the limit of {max_nodes:,} for "
                "a trace (compiling takes about a second per 20,000 nodes); trace a smaller "
                f"piece, such as a smaller batch, or pass max_nodes={size} to go on"
            )
        self._replay, order, self.source = _compile(outputs, leaves, self.params)
        reached = {id(n) for n in topological_order(outputs[0])}
        #: whether the first output depends on each parameter (eagerly, .grad stays None if not)
        self._reached = [id(p) in reached for p in self.params]
        #: the recorded operations, in order, with their operands, then the outputs: what
        #: `check` compares
        self.ops: tuple[tuple, ...] = _signature(order, leaves, self.params, outputs, start)
        self.n_nodes = len(order)
        self.n_inputs = len(leaves)

    # -- replay ------------------------------
    def _flat_inputs(self, inputs: tuple) -> list[float]:
        if len(inputs) != len(self._shapes):
            raise TraceError(
                f"the trace takes {len(self._shapes)} inputs, got {len(inputs)}; "
                "pass the same arguments as when tracing"
            )
        flat: list[float] = []
        for i, (x, s) in enumerate(zip(inputs, self._shapes)):
            _flatten(x, s, _input_name(i), flat)
        return flat

    def _param_values(self, params: Sequence[float] | None) -> list[float]:
        if params is None:
            with self._lock:
                return [p.data for p in self.params]
        given = list(params)
        if len(given) != len(self.params):
            raise TraceError(
                f"params has {len(given)} numbers, the trace has {len(self.params)} parameters; "
                f"pass {len(self.params)} numbers"
            )
        values: list[float] = []
        for i, v in enumerate(given):  # each a finite number, or a TraceError naming it
            _flatten(v, None, f"params[{i}]", values)
        return values

    def __call__(self, *inputs: Any, params: Sequence[float] | None = None) -> TraceResult:
        """Outputs and gradients for new inputs (and optionally new parameter values)."""
        flat = self._flat_inputs(inputs)
        values = self._param_values(params)
        if not is_anomaly_enabled():
            try:
                out, grads, in_grads = self._replay(flat, values)
            except (ArithmeticError, ValueError, TypeError):
                pass  # outside an op's domain: the eager engine says where
            else:
                if all(type(x) is float for x in out):  # e.g. not complex from a ** b
                    return self._result(out, list(grads), in_grads)
        return self._eager(flat, values)

    def backward(self, *inputs: Any) -> Any:
        """Replay on new inputs with the parameters' current data; add the gradients to each
        parameter's ``.grad`` as ``loss.backward()`` would. Returns the output."""
        result = self(*inputs)
        with self._lock, WALK_LOCK:  # as a backward walk adds into .grad
            for p, g, reached in zip(self.params, result.grads, self._reached):
                if reached:
                    p.grad = g if p.grad is None else p.grad + g
        return result.output

    def check(self, *inputs: Any) -> None:
        """Rebuild the graph eagerly for ``inputs``; `TraceError` if it is not the recorded one
        (a Python branch on a value took another way)."""
        flat = self._flat_inputs(inputs)
        leaves = [Value(v, role="input") for v in flat]
        start = next_seq()
        outputs, order = self._build(leaves)
        ops = _signature(order, leaves, self.params, outputs, start)
        if ops != self.ops:
            at = next(
                (i for i, (a, b) in enumerate(zip(ops, self.ops)) if a != b),
                min(len(ops), len(self.ops)),
            )
            n, recorded = len(ops) - 1, len(self.ops) - 1  # the last entry: the outputs
            where = "in which nodes it returns" if at == n == recorded else f"at operation {at}"
            raise TraceError(
                f"these inputs build another graph than the recorded one ({n} operations "
                f"against {recorded}, first difference {where}); "
                "the function branches on a value: trace it again for these inputs"
            )

    # -- the eager engine, for checks and for inputs outside an op's domain
    def _build(self, leaves: list[Value]) -> tuple[list[Value], list[Value]]:
        pos = [0]
        values = [_unflatten(leaves, s, pos) for s in self._shapes]
        shape, outputs = _gather(self.fn(*values))
        if shape != self._out_shape:
            raise TraceError(
                f"these inputs give another structure of outputs ({shape!r:.60}) than the trace "
                f"({self._out_shape!r:.60}); trace the function again for these inputs"
            )
        nodes: dict[int, Value] = {}
        for out in outputs:
            for n in topological_order(out):
                nodes[id(n)] = n
        return outputs, sorted(nodes.values(), key=lambda n: n._seq)

    def _eager(self, flat: list[float], values: list[float]) -> TraceResult:
        # ``fn`` reads the parameters themselves: values for one call are set into them,
        # under the lock, so that no other call of this trace reads them
        with self._lock:
            saved = [(p, p.data, p.grad) for p in self.params]
            try:
                for p, v in zip(self.params, values):
                    p.data = v
                    p._clear_grad()
                leaves = [Value(v, f"x{k}", role="input") for k, v in enumerate(flat)]
                outputs = self._build(leaves)[0]
                outputs[0].backward()
                in_grads = tuple(_grad(v) for v in leaves)
                grads = [_grad(p) for p in self.params]
                out = tuple(o.data for o in outputs)
            finally:
                for p, data, g in saved:
                    p.data, p.grad = data, g
        return self._result(out, grads, in_grads)

    def _result(self, out: tuple, grads: list[float], in_grads: tuple) -> TraceResult:
        output = _unflatten(out, self._out_shape, [0])
        pos = [0]
        return TraceResult(output, grads, [_unflatten(in_grads, s, pos) for s in self._shapes])

    def __repr__(self) -> str:
        return (
            f"Trace({getattr(self.fn, '__name__', 'fn')}: {self.n_inputs} inputs, "
            f"{len(self.params)} params, {self.n_nodes} nodes)"
        )


def _signature(
    order: list[Value], inputs: list[Value], params: list[Value], outputs: list[Value], start: int
) -> tuple:
    """Each operation of a graph with what it reads: an earlier operation (by number), an
    input or a parameter (a `_Leaf`), or a constant (by value, with the sign of a zero);
    a number exponent (its label shows 6 digits) by value; then which nodes are the
    outputs. Two graphs with the same signature compute the same function of the inputs
    and parameters. ``start``: the first creation number of the Values ``fn`` made."""
    computed = [n for n in order if n.parents]
    where: dict[int, Any] = {id(n): k for k, n in enumerate(computed)}
    where.update((id(v), _Leaf(v, ("input", k), False)) for k, v in enumerate(inputs))
    where.update((id(p), _Leaf(p, ("param", k), p._seq >= start)) for k, p in enumerate(params))

    def operand(p: Value) -> Any:
        found = where.get(id(p))
        if found is not None:
            return found
        if p.op == "const":
            return ("const", _exact(p.data))
        return _Leaf(p, None, p._seq >= start)  # a Value fn made at this call, not in params

    ops = tuple(
        (
            n.op,
            *(operand(p) for p in n.parents),
            *((_exact(n._db),) if len(n.parents) == 1 and type(n._db) is float else ()),
        )
        for n in computed
    )
    return (*ops, ("outputs", *(operand(o) for o in outputs)))


class _Leaf:
    """An input or parameter of a graph: equal to the one at the same place; a Value that
    ``fn`` made (a weight it creates at each call) also to another made as it was, holding
    the same number now (a replay reads the recorded one's number)."""

    __slots__ = ("leaf", "key", "made")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, leaf: Value, key: tuple | None, made: bool) -> None:
        self.leaf, self.key, self.made = leaf, key, made

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Leaf):
            return False
        if self.key is not None and self.key == other.key:
            return True
        a, b = self.leaf, other.leaf
        return self.made and other.made and a.op == b.op and _exact(a.data) == _exact(b.data)


def _exact(x: float) -> tuple[float, float]:
    """A number as a key that tells 0.0 from -0.0."""
    return x, math.copysign(1.0, x)


def _grad(v: Value) -> float:
    return 0.0 if v.grad is None else v.grad


def _input_leaf(v: float, k: int) -> Value:
    leaf = _Input.__new__(_Input)
    Value.__init__(leaf, v, f"input x{k}", role="input")
    return leaf


def trace(
    fn: Callable[..., Any],
    *example_inputs: Any,
    params: Sequence[Any] | None = None,
    max_nodes: int | None = None,
) -> Any:
    """Run ``fn(*example_inputs)`` once and compile its graph for replay.

    With numbers (or sequences of numbers) the computation is on Values and this
    returns a `Trace`; with Tensors it returns an `engine.tensor_trace.TensorTrace`.
    ``trace(fn, x, y)(x2, y2)`` gives the outputs and the gradients of the first
    output for new inputs; see each module's docstring for the rules. ``max_nodes``:
    the largest graph compiled, by default 100,000 nodes for Values and 20,000 for
    Tensors (each takes a few seconds to compile).
    """
    limit = {} if max_nodes is None else {"max_nodes": max_nodes}
    if any(isinstance(x, Tensor) for x in example_inputs):
        from .tensor_trace import TensorTrace  # it builds on this module

        return TensorTrace(fn, *example_inputs, params=params, **limit)
    return Trace(fn, *example_inputs, params=params, **limit)
