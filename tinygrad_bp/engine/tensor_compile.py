"""Straight-line numpy code for a recorded Tensor graph: the replay of a traced step, and
the eager engine's backward for a graph it has built before.

A graph is written as steps (`_Step`), one per operation in creation order: its
kernel (the function of plain arrays that the Tensor method calls, in
`engine.tensor`) with its fixed arguments, and its operands as slots, numbered
places for arrays. An operation that is one numpy expression with nothing to
refuse (``a + b``, a 2-D ``a @ b``, an activation, ``sum``) is written out, with
its backward; any other calls its kernel, and in the backward its
vector-Jacobian product. The backward visits the steps in reverse creation
order and sums each gradient in the order the shared walk
(`autograd.Node._run_backward`) sums it, so the numbers are the walk's, bit for
bit. Each array is deleted after its last use.

* `compile_replay` writes a traced step (`engine.tensor_trace`): the forward on
  new arrays, then the backward.
* `replay_backward` is `Tensor.backward`'s faster walk. A training loop builds
  the same graph at every step; the graph's structure (each operation's kernel,
  fixed arguments, shape, dtype and operands, each leaf's shape and dtype) keys
  a cache of compiled backwards. A structure is compiled the third time it is
  walked (at most `MAX_NODES` nodes; at most `MAX_GRAPHS` structures are kept),
  and its backward then runs as one function on the graph's own arrays, with no
  call per node. It reads the arrays each operation was computed from (kept by
  the node), as the walk's vector-Jacobian products do. A graph that indexes, or
  holds a node made by hand, is always walked (see `_KEYED`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import fpstate
from .autograd import _MODE, _SEQ, TRACE
from .ops import BINARY
from .tensor import (
    _EVERY_AXIS,
    Tensor,
    _add_reduce,
    _added,
    _binary_kernel,
    _fit,
    _index_kernel,
    _log_softmax_kernel,
    _matmul_kernel,
    _max_kernel,
    _mean_kernel,
    _one,
    _pow_kernel,
    _reshape_kernel,
    _setflags,
    _spread,
    _sum_kernel,
    _tensor_index_kernel,
    _times,
    _transpose_kernel,
    _unary_kernel,
)
from .trace import TraceError
from .untracked import structure_reader

__all__ = ["MAX_GRAPHS", "MAX_NODES", "compile_replay", "replay_backward"]

#: the largest graph whose backward the eager engine compiles: a compile takes about
#: 0.12 ms per node (a quarter of a second here), which a walk of the compiled code
#: pays back within some 60 steps
MAX_NODES = 2_000
#: the most graph structures whose compiled backward is kept (then the cache restarts)
MAX_GRAPHS = 256
#: a structure is compiled when it is walked this many times
COMPILE_AT = 3


class _Step(NamedTuple):
    """One recorded operation: its kernel and fixed arguments, its slot, its operands'
    slots, whether it requires grad, its value and its operands' when recorded (for
    their shapes and dtypes), and the names of the arrays its backward reads, its
    operands' then its own (``v{n}``: in a traced step the slots' arrays; in an eager
    graph the arrays the operation was computed from)."""

    kernel: Callable
    static: tuple
    slot: int
    ins: tuple[int, ...]
    needs: bool
    out: np.ndarray
    args: tuple[np.ndarray, ...]
    vals: tuple[int, ...]


_ARITHMETIC = {BINARY[k]: sym for k, sym in (("add", "+"), ("sub", "-"), ("mul", "*"))}


class _Code:
    """Lines of Python and the objects they name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"ndarray": np.ndarray, "asarray": np.asarray}
        self.ids: dict[int, str] = {}

    def name(self, obj: Any) -> str:
        """A global name for ``obj`` in the generated code."""
        key = self.ids.get(id(obj))
        if key is None:
            key = self.ids[id(obj)] = f"K{len(self.ids)}"
            self.names[key] = obj
        return key

    def __call__(self, line: str) -> None:
        self.lines.append(line)


def _inline(step: _Step) -> bool:
    """Whether a step's kernel is one numpy expression with nothing to refuse, written out
    in the code (its backward too); the others call the kernel and its VJP."""
    kernel, static = step.kernel, step.static
    if kernel is _binary_kernel:
        return static[0] in _ARITHMETIC
    if kernel is _unary_kernel:
        return not static[0].refuse
    if kernel is _matmul_kernel:
        return step.args[0].ndim == 2 and step.args[1].ndim == 2
    if kernel is _pow_kernel:
        return static[0] == 2.0
    return kernel in (_sum_kernel, _mean_kernel)


def _forward(step: _Step, code: _Code) -> bool:
    """Emit the forward of one step: the expression where it is `_inline`, else the kernel's
    call. Returns whether it is inline."""
    k, (a, *rest) = step.slot, step.ins
    b = rest[0] if rest else None
    kernel, static = step.kernel, step.static
    inline = _inline(step)
    if not inline:
        operands = ", ".join(f"v{j}" for j in step.ins)
        code(f"v{k}, f{k} = {code.name(kernel)}({operands}, *{code.name(static)})[:2]")
        if kernel in (_index_kernel, _tensor_index_kernel):  # the index is read at each call
            shape = code.name(step.out.shape)
            code(f"if v{k}.shape != {shape}:")
            code(f"    {code.name(_index_changed)}(v{k}.shape, {shape})")
    elif kernel is _binary_kernel:
        code(f"v{k} = v{a} {_ARITHMETIC[static[0]]} v{b}")
    elif kernel is _unary_kernel:
        op, args = static
        extra = f", *{code.name(args)}" if args else ""
        code(f"v{k} = {code.name(op.array)}(v{a}{extra})")
        if step.out.ndim == 0:  # numpy gives a scalar for a 0-d input
            code(f"v{k} = asarray(v{k})")
        xt = code.name(step.args[0].dtype)
        code(f"if v{k}.dtype is not {xt} and v{k}.dtype != {xt}:")
        code(f"    v{k} = v{k}.astype({xt})")
    elif kernel is _matmul_kernel:
        code(f"v{k} = v{a} @ v{b}")
    elif kernel is _pow_kernel:
        code(f"v{k} = v{a} * v{a}")
    else:  # sum, mean
        axis, axes, keepdims = static[:3]
        scale = f" / {code.name(static[3])}" if kernel is _mean_kernel else ""
        where = "None" if axis is None else code.name(axes)
        kept = code.name(keepdims)
        code(f"v{k} = {code.name(_add_reduce)}(v{a}, {where}, keepdims={kept}){scale}")
    if step.out.ndim == 0 and kernel is not _unary_kernel:  # numpy gives 0-d results as scalars
        code(f"if type(v{k}) is not ndarray:")
        code(f"    v{k} = asarray(v{k})")
    return inline


def _shares(
    step: _Step, inline: bool, seed: bool, code: _Code, live: bool = False
) -> list[tuple[int, str, bool]]:
    """Emit the backward of one step (its gradient is g{slot}); returns, for each operand
    that takes a gradient, (its slot, the expression of its share, whether that
    expression makes a fresh array: one the operand may keep without a copy). ``seed``:
    the step is the root, whose gradient is the seed array. ``live``: an activation's
    parameters are read from its node (``p{slot}``), not written into the code."""
    k, kernel, static, g = step.slot, step.kernel, step.static, f"g{step.slot}"
    if step.out.ndim == 0 and not seed:  # a sum to shape () gives a numpy scalar
        code(f"if type({g}) is not ndarray:")
        code(f"    {g} = {code.name(np.array)}({g})")
    if not inline:
        code(f"r{k} = f{k}({g})")
        needs = _needs(step)
        return [(j, f"r{k}[{i}]", False) for i, j in enumerate(step.ins) if needs[i]]
    fit = code.name(_fit)
    shares = []

    def fitted(i: int, expr: str, fresh: bool) -> tuple[int, str, bool]:
        arg = step.args[i]
        if arg.dtype != step.out.dtype:
            shape, dtype = code.name(arg.shape), code.name(arg.dtype)
            return step.ins[i], f"{fit}({expr}, {shape}, {dtype})", True
        if arg.shape != step.out.shape:  # `_fit`'s sums, over the axes these shapes fix
            return step.ins[i], _summed_back(expr, step.out.shape, arg.shape, code), True
        return step.ins[i], expr, fresh

    if kernel is _binary_kernel:
        op, need_a, need_b = static
        a, b = step.ins
        va, vb = step.vals[:2]
        parts = {"+": (g, g), "-": (g, f"-{g}"), "*": (f"{g} * v{vb}", f"{g} * v{va}")}
        ea, eb = parts[_ARITHMETIC[op]]
        if need_a:
            shares.append(fitted(0, ea, ea != g))
        if need_b:
            shares.append(fitted(1, eb, eb != g))
    elif kernel is _unary_kernel:
        op, args = static
        keep_x, keep_y = op.keeps
        a = step.ins[0]
        extra = (f", *p{k}" if live else f", *{code.name(args)}") if args else ""
        x = f"v{step.vals[0]}" if keep_x else "None"
        y = f"v{step.vals[-1]}" if keep_y else "None"
        if op.chain is not None:  # G f'(x) in one pass where it can, else the lines below
            code(f"s{k} = {code.name(op.chain)}({g}, v{step.vals[-1]})")
            code(f"if s{k} is None:")
        start = len(code.lines)
        code(f"d{k} = {code.name(op.grad)}({x}, {y}{extra})")
        if op.masks:
            code(f"s{k} = {code.name(np.where)}(d{k} != 0, {g} * d{k}, 0)")
        elif step.out.size >= 4096:  # into the derivative's own array, if it is fresh
            code(f"s{k} = {code.name(_times)}(d{k}, {g}, {x}, {y})")
        else:
            code(f"s{k} = {g} * d{k}")
        xt = code.name(step.args[0].dtype)
        code(f"if s{k}.dtype != {xt}:")
        code(f"    s{k} = s{k}.astype({xt})")
        if op.chain is not None:
            code.lines[start:] = ["    " + line for line in code.lines[start:]]
        shares.append((a, f"s{k}", True))
    elif kernel is _matmul_kernel:
        (a, b), (va, vb) = step.ins, step.vals[:2]
        for i, (j, expr) in enumerate(((a, f"{g} @ v{vb}.T"), (b, f"v{va}.T @ {g}"))):
            if static[i]:
                arg = step.args[i]
                if arg.dtype != step.out.dtype:  # a 2-D product has the operand's shape
                    expr = f"{fit}({expr}, {code.name(arg.shape)}, {code.name(arg.dtype)})"
                shares.append((j, expr, True))
    elif kernel is _pow_kernel:
        a = step.ins[0]
        da = code.name(BINARY["pow"].da)
        shares.append((a, f"{g} * {da}(v{step.vals[0]}, 2.0, None)", True))
    else:  # sum, mean
        spread, shape = code.name(_spread), code.name(step.args[0].shape)
        axes, keepdims = code.name(static[1]), code.name(static[2])
        scaled = f"{g} / {code.name(static[3])}" if kernel is _mean_kernel else g
        if step.out.size == 1:  # `_spread` of one number: its array filled with it
            dtype = step.out.dtype
            if kernel is _mean_kernel and dtype != np.float64:  # G / n rounded in G's dtype
                code(f"r{k} = {scaled}")
                scaled = f"r{k}.item()"
            elif kernel is _mean_kernel:  # a Python float is a float64: no numpy call
                scaled = f"{g}.item() / {code.name(static[3])}"
            else:
                scaled = f"{g}.item()"
            code(f"s{k} = {code.name(np.empty)}({shape}, {code.name(dtype)})")
            code(f"s{k}.fill({scaled})")  # (G may have kept its axes)
            shares.append((step.ins[0], f"s{k}", True))
        else:
            shares.append((step.ins[0], f"{spread}({scaled}, {shape}, {axes}, {keepdims})", True))
    return shares


def _summed_back(expr: str, have: tuple[int, ...], shape: tuple[int, ...], code: _Code) -> str:
    """`_fit` of a gradient of shape `have` to `shape` (one dtype), written out: the same
    sums over the leading axes broadcasting added, then over the axes it stretched."""
    extra = len(have) - len(shape)
    if extra:
        expr = f"{code.name(_add_reduce)}({expr}, {code.name(_EVERY_AXIS[extra])})"
        have = have[extra:]
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and have[i] != 1)
    if axes:
        expr = f"{code.name(_add_reduce)}({expr}, {code.name(axes)}, None, None, True)"
    return expr


def _needs(step: _Step) -> tuple[bool, ...]:
    """Which operands a kernel's VJP gives a gradient (the rest get None)."""
    kernel, static = step.kernel, step.static
    if kernel is _binary_kernel:
        return static[1], static[2]
    if kernel is _matmul_kernel:
        return static
    return (True,)


def _index_changed(shape: tuple[int, ...], recorded: tuple[int, ...]) -> None:
    raise TraceError(
        f"an index array the traced function uses was changed: it now selects shape {shape}, "
        f"the trace was recorded with {recorded}; trace again"
    )


def _root_value(steps: list[_Step], root: int) -> np.ndarray:
    for step in steps:
        if step.slot == root:
            return step.out
    raise TraceError(
        "the first result of the traced function is a leaf (an input or a parameter) itself; "
        "return a loss computed from them"
    )


def _free(lines: list[str], stop: int | None = None) -> list[str]:
    """``del`` each array after the line that reads it last, so that, as in a hand-written
    step, an array lives only while the rest of the step needs it (none from line `stop`
    on: the function ends soon after). An array made before an ``if`` block, which may
    not run, and last read inside it is deleted after the block."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        for name in re.findall(r"\b[vgfrds]\d+\b", line):
            first.setdefault(name, i)
            last[name] = i
    depth = [len(line) - len(line.lstrip()) for line in lines]
    is_if = [line.lstrip().startswith("if ") for line in lines]
    within: list[int | None] = []  # the outermost `if` block around each line
    ends: dict[int, int] = {}  # a block's opening line -> its last line
    opened: list[int] = []
    for i, line in enumerate(lines):
        while opened and depth[opened[-1]] >= depth[i]:
            ends[opened.pop()] = i - 1
        within.append(next((h for h in opened if is_if[h]), None))
        if line.rstrip().endswith(":"):
            opened.append(i)
    for h in opened:
        ends[h] = len(lines) - 1
    dying: dict[int, dict[int, list[str]]] = {}
    for name, at in last.items():
        if stop is not None and at >= stop:
            continue
        block = within[at] if within[at] is not None else at if is_if[at] else None
        if block is not None and within[first[name]] != block:
            dying.setdefault(ends[block], {}).setdefault(depth[block], []).append(name)
        elif not lines[at].lstrip().startswith(("return", "if ", "with ")):
            dying.setdefault(at, {}).setdefault(depth[at], []).append(name)
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        for indent, names in sorted(dying.get(i, {}).items(), reverse=True):
            out.append(f"{' ' * indent}del {', '.join(sorted(names))}")
    return out


def _backward(
    steps: list[_Step], root: int, seed: str, code: _Code, quiet: bool = True, live: bool = False
) -> dict[int, bool]:
    """Emit the backward of `steps` from the root's slot, whose gradient is the expression
    `seed` (with numpy's floating-point warnings off if `quiet`; else the caller has
    turned them off; ``live`` as in `_shares`); returns, for each slot a gradient
    reaches, whether its array is fresh (one nothing else holds)."""
    reached = {root}
    for step in reversed(steps):  # which nodes a gradient reaches, and how
        if step.slot in reached and step.needs:
            reached.update(j for j, need in zip(step.ins, _needs(step)) if need)
    fresh: dict[int, bool] = {root: False}
    code(f"g{root} = {seed}")
    if quiet:
        code(f"with {code.name(fpstate.quiet)}():")
    body_start = len(code.lines)
    for step in reversed(steps):
        if step.slot not in reached or not step.needs:
            continue
        for j, expr, new in _shares(step, _inline(step), step.slot == root, code, live):
            if j in fresh:
                code(f"g{j} = g{j} + {expr}")
                fresh[j] = True
            else:
                code(f"g{j} = {expr}")
                fresh[j] = new
    if quiet:
        body = code.lines[body_start:] or ["pass"]
        code.lines[body_start:] = ["    " + line for line in body]
    return fresh


def _function(name: str, params: str, code: _Code, stop: int | None = None) -> tuple[Callable, str]:
    """The function ``name(params)`` whose body is `code` (arrays deleted after their last
    use before line `stop`), and its source."""
    lines = _free(code.lines, stop)
    source = f"def {name}({params}):\n" + "".join(f"    {line}\n" for line in lines)
    namespace = dict(code.names)
    exec(compile(source, f"<tensor {name}>", "exec"), namespace)
    return namespace[name], source


def compile_replay(
    steps: list[_Step], n_leaves: int, out_slots: list[int]
) -> tuple[Callable[[list[np.ndarray]], tuple[list[np.ndarray], list[Any]]], str]:
    """One straight-line function: V (the leaves' arrays) -> (outputs, gradients of the
    first output reaching each leaf, None where none does)."""
    code = _Code()
    code(f"{', '.join(f'v{j}' for j in range(n_leaves))}{',' if n_leaves == 1 else ''} = V")
    for step in steps:
        _forward(step, code)
    root = out_slots[0]
    fresh = _backward(steps, root, code.name(_one(_root_value(steps, root))), code)
    for j in range(n_leaves):  # a leaf keeps its own array, as the eager walk's copy
        if j in fresh and not fresh[j]:
            code(f"g{j} = g{j}.copy()")
    outs = ", ".join(f"v{j}" for j in out_slots)
    leaf_grads = ", ".join(f"g{j}" if j in fresh else "None" for j in range(n_leaves))
    code(f"return [{outs}], [{leaf_grads}]")
    return _function("replay", "V", code)


# -- the eager engine's backward, compiled per graph structure ------------------------------

_CACHE: dict[tuple, Any] = {}  # structure -> times walked (an int), or its compiled backward

# The kernels whose fixed arguments and operands' shapes fix their results' shapes and
# whose keys compare as they act. Not indexing: its shapes follow an index Tensor's
# numbers (and the key would keep the Tensor alive), and ``True == 1`` as a key but not
# as an index. Not a node made by hand with another function.
_KEYED = frozenset(
    {
        _binary_kernel,
        _unary_kernel,
        _pow_kernel,
        _matmul_kernel,
        _sum_kernel,
        _mean_kernel,
        _max_kernel,
        _reshape_kernel,
        _transpose_kernel,
        _log_softmax_kernel,
    }
)


def replay_backward(root: Any, seed: np.ndarray) -> bool:
    """`Tensor._replay`: the backward from `root` by the compiled code of its graph's
    structure, adding into every reached node's ``.grad`` as the shared walk does. False
    (nothing done) if the structure is not compiled yet, or cannot be (an unhashable
    fixed argument, more than `MAX_NODES` nodes, an operation outside `_KEYED`, a trace
    being recorded)."""
    if _MODE.get() & TRACE:
        return False
    nodes = [root]
    done = False
    try:
        key = _read(nodes, MAX_NODES)
        if key is None:
            return False
        try:
            entry = _CACHE.get(key)
        except TypeError:  # a fixed argument that is a list, a slice, an array
            return False
        if entry is None or type(entry) is int:
            seen = (entry or 0) + 1
            if entry is None and len(_CACHE) >= MAX_GRAPHS:
                _CACHE.clear()
            if seen < COMPILE_AT:
                _CACHE[key] = seen
                return False
            entry = _CACHE[key] = _compile_backward(nodes)[0]
        entry(nodes, seed)  # which sets every ``_g`` back to None at its end
        done = True
        return True
    finally:
        if not done:
            for node in nodes:
                node._g = None


def _structure(nodes: list, max_nodes: int) -> tuple | None:
    """Collect the nodes reachable from ``nodes[0]`` into `nodes` in the order they are
    found, each ``_g`` its place there, and return the graph's key: the root's shape and
    dtype (the seed's), then for each node in that order None for a leaf, else its
    kernel and fixed arguments and, for each operand, its place and either (a computed
    operand) minus the number of nodes made from it to this one, which fixes the
    creation order in which the walk sums gradients, or (a leaf) the shape and dtype of
    the array the operation read. None past `max_nodes` nodes, for a graph with an
    operation outside `_KEYED`, or when an operation read another array than its
    computed operand's result (a ``.data`` rebound in between)."""
    root = nodes[0].data  # the seed's shape and dtype
    parts: list = [root.shape, root.dtype]
    add = parts.append
    push = nodes.append
    nodes[0]._g = 0
    found = 1
    for node in nodes:  # grows while it is read
        ps = node._parents
        if not ps:
            add(None)
            continue
        redo = node._redo
        if redo[0] not in _KEYED:
            return None
        add(redo)
        seq = node._seq
        args = node._args
        i = 0
        for p in ps:
            a = args[i]
            i += 1
            j = p._g
            if j is None:
                if found >= max_nodes:
                    return None
                j = p._g = found
                found += 1
                push(p)
            elif type(j) is not int or not 0 <= j < found or nodes[j] is not p:
                return None  # marked by another walk (a backward run from inside this one)
            add(j)
            if p._parents:
                if p._args[-1] is not a:
                    return None
                add(p._seq - seq)  # negative, where a place is not
            else:
                add(a.shape)
                add(a.dtype)
    return tuple(parts)


# `_structure` in one C call where the helper is built (`untracked.structure_reader`)
_read = structure_reader(
    Tensor, ("_parents", "_redo", "_args", "_seq", "_g", "data"), _KEYED, _structure
)


def _compile_backward(nodes: list) -> tuple[Callable[[list, np.ndarray], None], str]:
    """``backward(N, G)`` for graphs of this structure: N the nodes in the order
    `_structure` found them (root first), G the root's gradient; adds each reached
    node's gradient into its ``.grad`` (a computed node's made read-only, a leaf's its
    own array), as the shared walk does. It reads each operation's operands (and an
    activation's output) from the arrays the operation was computed from, its
    ``_args``, as the walk's vector-Jacobian products do."""
    steps = []
    reads = []  # (the name's number, the node's place, the position in its _args)
    walked = sorted(nodes, key=_SEQ, reverse=True)  # the walk's order, ties as found
    for n in reversed(walked):
        if not n._parents:
            continue
        vals = tuple(range(len(nodes) + len(reads), len(nodes) + len(reads) + len(n._args)))
        reads += [(v, n._g, i) for i, v in enumerate(vals)]
        ins = tuple(p._g for p in n._parents)
        out, args = n._args[-1], n._args[: len(ins)]
        steps.append(_Step(*n._redo, n._g, ins, True, out, args, vals))
    code = _Code()
    # Tensor.backward runs quietly; an activation's parameters vary within a structure
    # (the key cannot tell -0.0 from 0.0)
    fresh = _backward(steps, 0, "G", code, quiet=False, live=True)
    setflags, array = code.name(_setflags), code.name(np.array)
    stop = len(code.lines)
    scalar = {j for step in steps for j, a in zip(step.ins, step.args) if not a.ndim}
    added = code.name(_added)
    for j in sorted(fresh):
        if nodes[j]._parents:  # passed on to its operands: read-only, as the walk makes it
            code(f"{setflags}(g{j}, False)")
        elif j in scalar:  # a sum to shape () gives a numpy scalar
            code(f"g{j} = {array}(g{j})")
        elif not fresh[j]:  # a leaf keeps its own array
            code(f"g{j} = g{j}.copy()")
        code(f"n{j} = N[{j}]")
        code(f"h{j} = n{j}.grad")
        code(f"n{j}.grad = g{j} if h{j} is None else {added}(h{j}, g{j})")
        code(f"n{j}._g = None")
    for j in range(len(nodes)):
        if j not in fresh:
            code(f"N[{j}]._g = None")
    body = code.lines
    used = {int(m) for m in re.findall(r"\bv(\d+)\b", "\n".join(body))}
    calls = sorted({int(m) for m in re.findall(r"\bf(\d+)\b", "\n".join(body))})
    prologue = [f"v{v} = N[{k}]._args[{i}]" for v, k, i in reads if v in used]
    prologue += [f"f{k} = N[{k}]._vjp" for k in calls]
    params = sorted({int(m) for m in re.findall(r"\bp(\d+)\b", "\n".join(body))})
    prologue += [f"p{k} = N[{k}]._redo[1][1]" for k in params]
    code.lines = prologue + body
    return _function("backward", "N, G", code, stop + len(prologue))
