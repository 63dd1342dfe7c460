"""Record a Tensor computation once, replay it on new arrays: `trace(fn, *example_tensors)`.

A training step builds the same Tensor graph every time; only the arrays change.
`trace` runs ``fn`` once on the example tensors and keeps, for every operation,
its kernel (the function of plain arrays that the Tensor method itself calls,
in `engine.tensor`) and its fixed arguments, and compiles them into one
straight-line function: the forward in the recorded order, then the backward in
reverse order, each gradient summed in the order `Tensor.backward` sums it. An
operation that is one numpy expression with nothing to refuse (``a + b``, a 2-D
``a @ b``, an activation, ``sum``) is written out; any other calls its kernel
and then its vector-Jacobian product. The replay makes no graph node and deletes
each array after its last use, so it runs close to hand-written numpy; the
numbers are the eager engine's, bit for bit. ``step.source`` is the code.

    step = trace(fn, x, d)                       # x, d: example Tensors
    out, grads, input_grads = step(x2, d2)       # parameters' current .data
    loss = step.backward(x2, d2)                 # p.grad += d loss / d p, as loss.backward()

Inputs are Tensors, or arrays of the recorded shapes (converted to the recorded
dtypes); ``fn`` receives Tensors with the example's role and ``requires_grad``. The
parameters are the leaves that require grad and are not inputs, in creation order
(or as given by ``params=``), read from their ``.data`` at each replay, so an
optimizer's in-place updates are seen. Other Tensors that ``fn`` reads from outside
are read from the same objects at each replay: a changed ``.data`` is seen, a name
bound to another Tensor is not; numbers and numpy arrays that ``fn`` combines with
Tensors are copied when tracing (a later change to them is not seen), but an index
array (``x[mask]``) is read at each replay, as eagerly. ``t.detach()`` is replayed
on the new numbers. ``fn`` returns a Tensor or a sequence of Tensors; the gradients
are those of the first, which must hold one number.

What cannot replay, and is refused: inputs of another shape or count (`TraceError`
naming the input and both shapes); ``fn`` reading an input's numbers while tracing
(``x.item()``, ``x.numpy()``, ``Tensor(x)``, indexing with a Tensor computed from
the inputs, calling a trace), since those numbers would be frozen into the trace; a
Tensor computed outside ``fn`` that requires grad (its graph lies outside the trace);
a parameter or constant whose shape, dtype or ``requires_grad`` changed since
tracing, or an index array that now selects another shape (the code was compiled
for them). A Python branch on ``x.data`` cannot be seen: `TensorTrace.check` rebuilds
the graph for given inputs and raises `TraceError` if it differs. An input outside an
op's domain raises the eager engine's error for that op. Under `detect_anomaly()` a
replay runs the eager engine, which checks every step; with ``params=`` it sets the
values into the parameters for that call (other calls of the trace, in any thread,
wait for it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import _MODE, ANOMALY, RECORD, TRACE, WALK_LOCK, next_seq, topological_order
from .heap import keep_heap
from .tensor import Tensor, _added, _as_array
from .tensor_compile import _Step, compile_replay
from .trace import TraceError, TraceResult

__all__ = ["TensorTrace"]

#: the most graph nodes a Tensor trace compiles by default (about three seconds and a few
#: hundred megabytes of Python's compiler); a Tensor graph has a few nodes per layer
MAX_NODES = 20_000


def _outputs(result: Any) -> tuple[bool, list[Tensor]]:
    """(whether ``fn`` returned a sequence, its Tensors)."""
    if isinstance(result, Tensor):
        return False, [result]
    if isinstance(result, (list, tuple)) and result and all(isinstance(t, Tensor) for t in result):
        return True, list(result)
    raise TraceError(
        "the traced function must return a Tensor or a non-empty sequence of Tensors, got "
        f"{type(result).__name__} {result!r:.40}; return the Tensor(s) it computes"
    )


def _input_tensor(x: Any, like: Tensor | None, where: str) -> Tensor:
    """A fresh leaf for one input: a copy of ``x`` with the role and dtype of ``like``."""
    if like is None:  # at trace time: keep the example's own role and dtype
        if isinstance(x, Tensor):
            return Tensor(x.data, x.name, requires_grad=x.requires_grad, role="input")
        return Tensor(x, where, role="input")
    return Tensor(
        _input_array(x, like, where), like.name, requires_grad=like.requires_grad, role="input"
    )


def _input_array(x: Any, like: Tensor, where: str, *, as_input: bool = True) -> np.ndarray:
    """The array of a new input (or parameter value), checked against the recorded one."""
    if isinstance(x, Tensor):
        arr = x.data
        if as_input and x.requires_grad != like.requires_grad:
            raise TraceError(
                f"{where} has requires_grad={x.requires_grad}, the trace was recorded with "
                f"{like.requires_grad}; pass a Tensor like the example, or trace again"
            )
    else:
        try:
            arr = _as_array(x, like.data.dtype, where)
        except TypeError as exc:
            raise TraceError(str(exc)) from None
        if not np.isfinite(arr).all():
            raise TraceError(
                f"{where} contains NaN or infinity ({int((~np.isfinite(arr)).sum())} of "
                f"{arr.size} entries), expected finite numbers; clean the input first"
            )
    if arr.shape != like.data.shape or arr.dtype != like.data.dtype:
        raise TraceError(
            f"{where} has shape {arr.shape} and dtype {arr.dtype}, the trace was recorded with "
            f"{like.data.shape} and {like.data.dtype}; pass arrays of the recorded shapes, "
            "or trace again for these"
        )
    return arr


class TensorTrace:
    """A recorded Tensor computation, compiled for replay (see the module docstring)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *example_inputs: Any,
        params: Sequence[Tensor] | None = None,
        max_nodes: int = MAX_NODES,
    ) -> None:
        self.fn = fn
        # held while a call reads the parameters or adds into their .grad, and while the
        # eager engine (under detect_anomaly) sets a call's params= values into them
        self._lock = threading.RLock()
        self._examples = [
            _input_tensor(x, None, f"input {i}") for i, x in enumerate(example_inputs)
        ]
        start = next_seq()  # the leaves numbered from here on are made by ``fn``
        self._in_sequence, outputs = self._record(self._examples)
        nodes = _graph(outputs)
        if len(nodes) > max_nodes:
            raise TraceError(
                f"the recorded graph has {len(nodes):,} nodes, over the limit of {max_nodes:,} "
                "for a Tensor trace (compiling takes about a second and 100 MB per 6,000 "
                f"nodes); trace a smaller piece, or pass max_nodes={len(nodes)} to go on"
            )
        order = sorted(nodes.values(), key=lambda n: n._seq)
        inputs = {id(t): i for i, t in enumerate(self._examples)}
        computed = [n for n in order if n._parents]
        for n in computed:
            if n._seq < start:  # its kernel ran before the trace started
                raise TraceError(
                    f"the traced function uses a Tensor computed outside it (op '{n._op}', "
                    f"shape {n.data.shape}) that requires grad; its graph lies outside the "
                    "trace: compute it inside the function"
                )
        leaves = [n for n in order if not n._parents and id(n) not in inputs]
        found = [n for n in leaves if n.requires_grad]
        if params is None:
            self.params: list[Tensor] = found
        else:
            self.params = list(params)
            for p in self.params:
                if not isinstance(p, Tensor):
                    raise TraceError(
                        f"params must be a sequence of Tensors, got a {type(p).__name__} "
                        f"{p!r:.40} in it; pass e.g. params=model.parameters()"
                    )
            given = {id(p) for p in self.params}
            if len(given) != len(self.params):
                raise TraceError("params names a Tensor twice; give each parameter once")
            missing = [n for n in found if id(n) not in given]
            if missing:
                raise TraceError(
                    f"the graph reaches a Tensor that requires grad (shape "
                    f"{missing[0].data.shape}) that is not in params; add it to params, or "
                    "leave params out to take every one the graph reaches"
                )
        consts = [n for n in leaves if not n.requires_grad]
        slot: dict[int, int] = {}
        for k, n in enumerate([*self._examples, *self.params, *consts, *computed]):
            slot.setdefault(id(n), k)
        self._read = [*self.params, *consts]  # the Tensors whose .data each call reads
        #: the shape, dtype and requires_grad of each of them: the code is compiled for them
        self._specs = [(t.data.shape, t.data.dtype, t.requires_grad) for t in self._read]
        self._n_leaves = len(self._examples) + len(self.params) + len(consts)
        out_slots = [slot[id(o)] for o in outputs]
        steps = []
        for k, n in enumerate(computed, self._n_leaves):
            ins = tuple(slot[id(p)] for p in n._parents)
            args = tuple(p.data for p in n._parents)
            steps.append(_Step(*n._redo, k, ins, n.requires_grad, n.data, args, (*ins, k)))
        self._replay, self.source = compile_replay(steps, self._n_leaves, out_slots)
        self._signature = _signature(order, self._examples, start, outputs)
        self.n_nodes = len(order)

    def _record(self, leaves: list[Tensor]) -> tuple[bool, list[Tensor]]:
        token = _MODE.set(_MODE.get() | RECORD | TRACE)
        try:
            result = self.fn(*leaves)
        finally:
            _MODE.reset(token)
        is_seq, outputs = _outputs(result)
        if not outputs[0].requires_grad:
            raise TraceError(
                "the first result of the traced function does not depend on anything that "
                "requires grad; create the parameters with requires_grad=True"
            )
        if outputs[0].data.size != 1:
            raise TraceError(
                f"the first result of the traced function has shape {outputs[0].data.shape}; "
                "its gradients need one number: return a loss (e.g. .sum() or .mean()) first"
            )
        return is_seq, outputs

    # -- replay ------------------------------
    def _arrays(self, inputs: tuple) -> list[np.ndarray]:
        if _MODE.get() & TRACE:
            raise TraceError(
                "a trace called inside a traced function hands out numbers (of its inputs "
                "and parameters) that would be frozen into the outer trace; call its "
                "function itself there"
            )
        if len(inputs) != len(self._examples):
            raise TraceError(
                f"the trace takes {len(self._examples)} inputs, got {len(inputs)}; "
                "pass the same arguments as when tracing"
            )
        arrays = []
        for i, (x, like) in enumerate(zip(inputs, self._examples)):
            if (  # the common case, checked without a call: a Tensor like the example
                type(x) is Tensor
                and x.data.shape == like.data.shape
                and x.data.dtype is like.data.dtype
                and x.requires_grad is like.requires_grad
            ):
                arrays.append(x.data)
            else:
                arrays.append(_input_array(x, like, f"input {i}"))
        return arrays

    def __call__(self, *inputs: Any, params: Sequence[Any] | None = None) -> TraceResult:
        """Outputs and gradients for new inputs; ``params`` gives other parameter values
        (arrays of the parameters' shapes) for this call only."""
        arrays = self._arrays(inputs)
        values = None
        if params is not None:
            values = list(params)
            if len(values) != len(self.params):
                raise TraceError(
                    f"params has {len(values)} arrays, the trace has {len(self.params)} "
                    f"parameters; pass {len(self.params)} arrays"
                )
            values = [
                _input_array(v, p, f"params[{i}]", as_input=False)
                for i, (p, v) in enumerate(zip(self.params, values))
            ]
        outs, found = self._run(arrays, values)
        n_in = len(self._examples)
        grads = [
            np.zeros_like(p.data) if g is None else _array(g)
            for p, g in zip(self.params, found[n_in:])
        ]
        in_grads = [
            (np.zeros_like(a) if g is None else _array(g)) if like.requires_grad else None
            for a, g, like in zip(arrays, found[:n_in], self._examples)
        ]
        return TraceResult(self._shape(outs), grads, in_grads)

    def backward(self, *inputs: Any) -> Any:
        """Replay on new inputs with the parameters' current data; add the gradients into
        each parameter's (and each input Tensor's) ``.grad`` as ``backward()`` would.
        Returns the output arrays (read-only), shaped as ``fn``'s result."""
        outs, grads = self._run(self._arrays(inputs))
        targets = [x if isinstance(x, Tensor) else None for x in inputs]
        targets += self.params
        with self._lock, WALK_LOCK:  # as a backward walk adds into .grad
            for t, g in zip(targets, grads):
                if t is not None and g is not None:
                    g = _array(g)
                    t.grad = g if t.grad is None else _added(t.grad, g)
        return self._shape(outs)

    def _run(
        self, arrays: list[np.ndarray], values: list[np.ndarray] | None = None
    ) -> tuple[list[np.ndarray], list[Any]]:
        """The outputs, and the gradient of the first output reaching each input and
        parameter (None where none does): arrays no one else holds. ``values``: the
        parameters' arrays for this call (checked), else their ``.data``."""
        keep_heap()
        if _MODE.get() & ANOMALY:
            return self._eager(arrays, values)
        leaves = self._read
        with self._lock:
            if values is None:
                datas = [t.data for t in leaves]
            else:
                datas = values + [t.data for t in leaves[len(values) :]]
        for t, data, (shape, dtype, grad) in zip(leaves, datas, self._specs):
            if data.shape != shape or data.dtype is not dtype:
                raise TraceError(
                    f"a Tensor the trace reads ({t.describe()}) now holds shape {data.shape} "
                    f"and dtype {data.dtype}, the trace was recorded with {shape} and {dtype}; "
                    "trace again"
                )
            if t.requires_grad != grad:
                raise TraceError(
                    f"a Tensor the trace reads ({t.describe()}, shape {shape}) now has "
                    f"requires_grad={t.requires_grad}, the trace was recorded with {grad}; "
                    "trace again"
                )
            arrays.append(data)
        return self._replay(arrays)

    def _shape(self, outs: list[np.ndarray]) -> Any:
        views = []
        for o in outs:
            v = o.view()
            v.flags.writeable = False
            views.append(v)
        return views if self._in_sequence else views[0]

    def check(self, *inputs: Any) -> None:
        """Rebuild the graph eagerly for ``inputs``; `TraceError` if it is not the recorded one
        (a Python branch on a value took another way)."""
        self._arrays(inputs)  # the count, shapes and dtypes
        leaves = [
            _input_tensor(x, like, f"input {i}")
            for i, (x, like) in enumerate(zip(inputs, self._examples))
        ]
        start = next_seq()
        _, outputs = self._record(leaves)
        order = sorted(_graph(outputs).values(), key=lambda n: n._seq)
        signature = _signature(order, leaves, start, outputs)
        if signature != self._signature:
            at = next(
                (i for i, (a, b) in enumerate(zip(signature, self._signature)) if a != b),
                min(len(signature), len(self._signature)),
            )
            what = self._signature[at][0] if at < len(self._signature) else "the end"
            raise TraceError(
                f"these inputs build another graph than the recorded one ({len(order)} nodes "
                f"against {self.n_nodes}, first difference at operation {at}, recorded as "
                f"{what!r}); the function branches on a value: trace it again for these inputs"
            )

    # -- the eager engine, under detect_anomaly()
    def _eager(
        self, arrays: list[np.ndarray], values: list[np.ndarray] | None
    ) -> tuple[list[np.ndarray], list[Any]]:
        # ``fn`` reads the parameters themselves: values for one call are set into them,
        # under the lock, so that no other call of this trace reads them
        leaves = [
            Tensor(a, like.name, requires_grad=like.requires_grad, role="input")
            for a, like in zip(arrays, self._examples)
        ]
        with self._lock:
            saved = [p.grad for p in self.params]
            datas = [p.data for p in self.params]
            token = _MODE.set((_MODE.get() | RECORD) & ~TRACE)  # recording, as when traced
            try:
                for i, p in enumerate(self.params):
                    p.grad = None
                    if values is not None:
                        p.data = values[i]
                outputs = _outputs(self.fn(*leaves))[1]
                outputs[0].backward()
                grads = [*(t.grad for t in leaves), *(p.grad for p in self.params)]
            finally:
                _MODE.reset(token)
                for p, g, data in zip(self.params, saved, datas):
                    p.grad, p.data = g, data
        return [o.data for o in outputs], grads

    def __repr__(self) -> str:
        return (
            f"TensorTrace({getattr(self.fn, '__name__', 'fn')}: {len(self._examples)} inputs, "
            f"{len(self.params)} params, {len(self._signature) - 1} operations)"
        )


def _graph(outputs: list[Tensor]) -> dict[int, Tensor]:
    """Every node the outputs are computed from, by id."""
    nodes: dict[int, Tensor] = {}
    for out in outputs:
        for n in topological_order(out):
            nodes[id(n)] = n
    return nodes


class _Numbers:
    """An array that compares equal to another of the same shape, dtype and numbers (a
    zero's sign included: 0.0 and -0.0 give gradients of other signs)."""

    __slots__ = ("array",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __eq__(self, other: object) -> bool:
        a, b = self.array, getattr(other, "array", None)
        return (
            isinstance(other, _Numbers)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a, b)
            and np.array_equal(np.signbit(a), np.signbit(b))
        )


class _Leaf:
    """A leaf of the graph: equal to itself, and to another made by ``fn`` as it was (a number
    it combined with a Tensor) if it holds the same numbers."""

    __slots__ = ("leaf", "made")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, leaf: Tensor, made: bool) -> None:
        self.leaf, self.made = leaf, made

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Leaf):
            return False
        a, b = self.leaf, other.leaf
        return a is b or (
            self.made
            and other.made
            and a.requires_grad == b.requires_grad
            and _Numbers(a.data) == _Numbers(b.data)
        )


class _Live:
    """A list argument (an index), read at each replay: compares by what it holds when
    compared, as `_Numbers` does for an array."""

    __slots__ = ("items",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, items: list) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Live) and _static(tuple(self.items)) == _static(
            tuple(other.items)
        )


def _static(x: Any) -> Any:
    """An operation's fixed arguments in a form that compares by value."""
    if isinstance(x, np.ndarray):
        return _Numbers(x)
    if isinstance(x, list):
        return _Live(x)
    if isinstance(x, tuple):
        return tuple(_static(v) for v in x)
    if isinstance(x, slice):
        return ("slice", x.start, x.stop, x.step)
    if isinstance(x, Tensor):  # an index Tensor, read at each replay
        return ("tensor", id(x))
    return x


def _signature(order: list[Tensor], inputs: list[Tensor], start: int, outputs: list[Tensor]):
    """What a replay depends on: each operation in order, with its fixed arguments and its
    operands (an earlier operation by number, an input by number, another leaf as a
    `_Leaf`), and the outputs."""
    where: dict[int, Any] = {id(t): ("input", i) for i, t in enumerate(inputs)}
    signature: list[tuple] = []
    for n in order:
        if id(n) in where:
            continue
        if not n._parents:
            where[id(n)] = ("leaf", _Leaf(n, n._seq >= start))
            continue
        kernel, static = getattr(n, "_redo", None) or (None, ())
        parents = tuple(where[id(p)] for p in n._parents)
        where[id(n)] = ("op", len(signature))
        signature.append((n._op, n.data.shape, n.data.dtype, kernel, _static(static), parents))
    signature.append(("outputs", tuple(where[id(o)] for o in outputs)))
    return signature


def _array(g: Any) -> np.ndarray:
    """A leaf's gradient as an array (a sum to shape () gives a numpy scalar). It is the
    caller's own: the compiled code copies one it passes on, and the eager run's are fresh."""
    return g if type(g) is np.ndarray else np.array(g)
