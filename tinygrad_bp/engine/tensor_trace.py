"""Record a Tensor computation once, replay it on new arrays: `trace(fn, *example_tensors)`.

A training step builds the same Tensor graph every time; only the arrays change.
`trace` runs ``fn`` once on the example tensors and keeps, for every operation,
its kernel (the function of plain arrays that the Tensor method itself calls,
in `engine.tensor`) and its fixed arguments. A replay calls those kernels on the
new arrays in the recorded order, then their vector-Jacobian products in reverse
order, summing each gradient in the order `Tensor.backward` sums it. It makes no
graph nodes and keeps each array only while a later step needs it, so it runs
close to hand-written numpy; the numbers are the eager engine's, bit for bit.

    step = trace(fn, x, d)                       # x, d: example Tensors
    out, grads, input_grads = step(x2, d2)       # parameters' current .data
    loss = step.backward(x2, d2)                 # p.grad += d loss / d p, as loss.backward()

Inputs are Tensors, or arrays of the recorded shapes (converted to the recorded
dtypes); ``fn`` receives Tensors with the example's role and ``requires_grad``.
The parameters are the leaves that require grad and are not inputs, in creation
order (or as given by ``params=``), read from their ``.data`` at each replay, so
an optimizer's in-place updates are seen. Other Tensors that ``fn`` reads from
outside are read from the same objects at each replay: a changed ``.data`` is
seen, a name bound to another Tensor is not. ``fn`` returns a Tensor or a
sequence of Tensors; the gradients are those of the first, which must hold one
number.

What cannot replay, and is refused: inputs of another shape or count
(`TraceError` naming the input and both shapes); ``fn`` reading an input's
numbers while tracing (``x.item()``, ``x.numpy()``, indexing with a Tensor
computed from the inputs), since those numbers would be frozen into the trace; a
Tensor computed outside ``fn`` that requires grad (its graph lies outside the
trace). A Python branch on ``x.data`` cannot be seen: `TensorTrace.check`
rebuilds the graph for given inputs and raises `TraceError` if it differs. An
input outside an op's domain raises the eager engine's error for that op. Under
`detect_anomaly()` a replay runs the eager engine, which checks every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import _MODE, RECORD, TRACE, is_anomaly_enabled, topological_order
from .tensor import Tensor, _as_array, _one, _quietly
from .trace import MAX_NODES, TraceError, TraceResult

__all__ = ["TensorTrace"]


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
            t = Tensor(x.data, x.name, requires_grad=x.requires_grad, role="input")
            return t
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
    """A recorded Tensor computation, replayed kernel by kernel (see the module docstring)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *example_inputs: Any,
        params: Sequence[Tensor] | None = None,
        max_nodes: int = MAX_NODES,
    ) -> None:
        self.fn = fn
        self._examples = [
            _input_tensor(x, None, f"input {i}") for i, x in enumerate(example_inputs)
        ]
        self._in_sequence, outputs = self._record(self._examples)
        nodes: dict[int, Tensor] = {}
        for out in outputs:
            for n in topological_order(out):
                nodes[id(n)] = n
        if len(nodes) > max_nodes:
            raise TraceError(
                f"the recorded graph has {len(nodes):,} nodes, over the limit of {max_nodes:,} "
                f"for a trace; trace a smaller piece, or pass max_nodes={len(nodes)} to go on"
            )
        order = sorted(nodes.values(), key=lambda n: n._seq)
        inputs = {id(t): i for i, t in enumerate(self._examples)}
        computed = [n for n in order if n._parents]
        for n in computed:
            if getattr(n, "_redo", None) is None:
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
        self._consts = consts
        self._n_leaves = len(self._examples) + len(self.params) + len(consts)
        #: (kernel, fixed arguments, slots of the operands) of each operation, in order
        self._program = [(*n._redo, tuple(slot[id(p)] for p in n._parents)) for n in computed]
        self._needs = [n.requires_grad for n in computed]
        self._out_slots = [slot[id(o)] for o in outputs]
        self.ops: tuple[tuple[str, tuple[int, ...], str], ...] = tuple(
            (n._op, n.data.shape, str(n.data.dtype)) for n in computed
        )
        self.n_nodes = len(order)

    def _record(self, leaves: list[Tensor]) -> tuple[bool, list[Tensor]]:
        token = _MODE.set(_MODE.get() | RECORD | TRACE)
        try:
            result = self.fn(*leaves)
        finally:
            _MODE.reset(token)
        is_seq, outputs = _outputs(result)
        if outputs[0].data.size != 1:
            raise TraceError(
                f"the first result of the traced function has shape {outputs[0].data.shape}; "
                "its gradients need one number: return a loss (e.g. .sum() or .mean()) first"
            )
        return is_seq, outputs

    # -- replay ------------------------------
    def _arrays(self, inputs: tuple) -> list[np.ndarray]:
        if len(inputs) != len(self._examples):
            raise TraceError(
                f"the trace takes {len(self._examples)} inputs, got {len(inputs)}; "
                "pass the same arguments as when tracing"
            )
        return [
            _input_array(x, like, f"input {i}")
            for i, (x, like) in enumerate(zip(inputs, self._examples))
        ]

    def _replay(self, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], list[Any]]:
        """The outputs, and the gradient of the first reaching each leaf (None if none does)."""
        vals = [*arrays, *(p.data for p in self.params), *(c.data for c in self._consts)]
        push = vals.append
        vjps = []
        keep = vjps.append
        for kernel, static, ins in self._program:
            out, vjp, _ = kernel(*[vals[j] for j in ins], *static)
            push(out if type(out) is np.ndarray else np.asarray(out))
            keep(vjp)
        outs = [vals[j] for j in self._out_slots]
        n_leaves = self._n_leaves
        grads: list[Any] = [None] * len(vals)
        del vals  # from here on each array lives only while a VJP needs it
        grads[self._out_slots[0]] = _one(outs[0])
        _quietly(self._backward, grads, vjps, n_leaves)
        return outs, grads[:n_leaves]

    def _backward(self, grads: list[Any], vjps: list[Any], n_leaves: int) -> None:
        program, needs = self._program, self._needs
        for i in range(len(program) - 1, -1, -1):
            k = n_leaves + i
            g = grads[k]
            vjp = vjps[i]
            vjps[i] = grads[k] = None
            if g is None or not needs[i]:
                continue
            if type(g) is not np.ndarray:  # a numpy scalar from a sum to shape ()
                g = np.array(g)
            g.flags.writeable = False  # passed on to the operands, as the eager walk does
            for j, pg in zip(program[i][2], vjp(g)):
                if pg is None:
                    continue
                acc = grads[j]
                grads[j] = pg if acc is None else acc + pg

    def __call__(self, *inputs: Any, params: Sequence[Any] | None = None) -> TraceResult:
        """Outputs and gradients for new inputs; ``params`` gives other parameter values
        (arrays of the parameters' shapes) for this call only."""
        arrays = self._arrays(inputs)
        if params is not None:
            values = list(params)
            if len(values) != len(self.params):
                raise TraceError(
                    f"params has {len(values)} arrays, the trace has {len(self.params)} "
                    f"parameters; pass {len(self.params)} arrays"
                )
            saved = [p.data for p in self.params]
            try:
                for i, (p, v) in enumerate(zip(self.params, values)):
                    p.data = _input_array(v, p, f"params[{i}]", as_input=False)
                return self(*arrays)
            finally:
                for p, data in zip(self.params, saved):
                    p.data = data
        outs, found = self._run(arrays)
        n_in = len(self._examples)
        grads = [
            np.zeros_like(p.data) if g is None else _own(g)
            for p, g in zip(self.params, found[n_in:])
        ]
        in_grads = [
            (np.zeros_like(a) if g is None else _own(g)) if like.requires_grad else None
            for a, g, like in zip(arrays, found[:n_in], self._examples)
        ]
        return TraceResult(self._shape(outs), grads, in_grads)

    def backward(self, *inputs: Any) -> Any:
        """Replay on new inputs with the parameters' current data; add the gradients into
        each parameter's (and each input Tensor's) ``.grad`` as ``backward()`` would.
        Returns the output arrays (read-only), shaped as ``fn``'s result."""
        arrays = self._arrays(inputs)
        outs, grads = self._run(arrays)
        n_in = len(self._examples)
        targets = [*(x if isinstance(x, Tensor) else None for x in inputs), *self.params]
        for t, g in zip(targets, [*grads[:n_in], *grads[n_in : n_in + len(self.params)]]):
            if t is not None and g is not None:
                g = _own(g)
                t.grad = g if t.grad is None else t.grad + g
        return self._shape(outs)

    def _run(self, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], list[Any]]:
        if is_anomaly_enabled():
            return self._eager(arrays)
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
        _, outputs = self._record(leaves)
        nodes: dict[int, Tensor] = {}
        for out in outputs:
            for n in topological_order(out):
                nodes[id(n)] = n
        ops = tuple(
            (n._op, n.data.shape, str(n.data.dtype))
            for n in sorted(nodes.values(), key=lambda n: n._seq)
            if n._parents
        )
        if ops != self.ops:
            at = next(
                (i for i, (a, b) in enumerate(zip(ops, self.ops)) if a != b),
                min(len(ops), len(self.ops)),
            )
            raise TraceError(
                f"these inputs build another graph than the recorded one ({len(ops)} operations "
                f"against {len(self.ops)}, first difference at operation {at}); the function "
                "branches on a value: trace it again for these inputs"
            )

    # -- the eager engine, under detect_anomaly()
    def _eager(self, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], list[Any]]:
        leaves = [
            Tensor(a, like.name, requires_grad=like.requires_grad, role="input")
            for a, like in zip(arrays, self._examples)
        ]
        saved = [p.grad for p in self.params]
        try:
            for p in self.params:
                p.grad = None
            outputs = _outputs(self.fn(*leaves))[1]
            outputs[0].backward()
            grads = [*(t.grad for t in leaves), *(p.grad for p in self.params)]
        finally:
            for p, g in zip(self.params, saved):
                p.grad = g
        return [o.data for o in outputs], grads

    def __repr__(self) -> str:
        return (
            f"TensorTrace({getattr(self.fn, '__name__', 'fn')}: {len(self._examples)} inputs, "
            f"{len(self.params)} params, {len(self._program)} operations)"
        )


def _own(g: Any) -> np.ndarray:
    """A gradient array the caller may keep and change: a passed-on (read-only) one is copied."""
    if type(g) is not np.ndarray:
        return np.array(g)
    return g if g.flags.writeable else g.copy()
