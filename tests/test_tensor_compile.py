"""The eager Tensor engine's compiled backward gives the shared walk's gradients bit for bit,
or leaves the graph to the walk; the C library's heap settings; sigmoid at its overflow edge.

The reference is the shared walk itself (`_replay_backward` patched to decline), central
finite differences or closed forms, and for sigmoid mpmath at 200 bits.
"""

from __future__ import annotations

import copy
import gc
import os
import platform
import subprocess
import sys
import threading
import warnings
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

from tinygrad_bp import Tensor, detect_anomaly, no_grad
from tinygrad_bp.engine import autograd, heap, tensor_compile
from tinygrad_bp.engine import tensor as tensor_module
from tinygrad_bp.engine.autograd import topological_order
from tinygrad_bp.engine.ops import BINARY, UNARY, _sigmoid_array
from tinygrad_bp.engine.tensor import _reshape_kernel

from .conftest import held_by_repeating
from .randgraph import draw_steps

REFUSALS = (ValueError, ZeroDivisionError, OverflowError)
OLD_SLICES = sys.version_info < (3, 12)  # a slice is hashable from Python 3.12 on


# -- helpers ------------------------------


@contextmanager
def compiled_runs():
    """A list that records, for each backward, whether the compiled code ran it."""
    ran: list[bool] = []
    real = tensor_compile.replay_backward

    def spy(root, seed):
        done = real(root, seed)
        ran.append(done)
        return done

    with mock.patch.object(tensor_compile, "_CACHE", {}):
        with mock.patch.object(tensor_module, "_replay_backward", spy):
            yield ran


@contextmanager
def walk_only():
    """Every backward runs the shared walk."""
    with mock.patch.object(tensor_module, "_replay_backward", lambda root, seed: False):
        yield


def same(got, want) -> None:
    """The same gradient, bit for bit: type, dtype, shape, writeable flag, values, signs."""
    if want is None:
        assert got is None
        return
    assert type(got) is type(want), (type(got), type(want))
    assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
    assert got.flags.writeable == want.flags.writeable
    assert np.array_equal(got, want, equal_nan=True), (got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want)), (got, want)


def same_graphs(got: Tensor, want: Tensor) -> None:
    """Every node of two graphs built alike has the same `.grad`; a leaf's is its own."""
    got_nodes, want_nodes = topological_order(got), topological_order(want)
    assert [n.op for n in got_nodes] == [n.op for n in want_nodes]
    for g, w in zip(got_nodes, want_nodes):
        assert g._g is None and w._g is None
        same(g.grad, w.grad)
    grads = [n.grad for n in got_nodes if n.grad is not None]
    for n in got_nodes:
        if n.is_leaf and n.grad is not None:
            assert sum(np.shares_memory(n.grad, g) for g in grads) == 1


# -- 1. random graphs ------------------------------

SHAPES = [(2, 3), (3,), (1, 3), (2, 1), ()]


def wide(t: Tensor) -> Tensor:
    """`t` broadcast to (2, 3), keeping its dtype."""
    return t + np.zeros((2, 3), t.dtype)


STRUCTURAL = {
    "sum": lambda t: t.sum(),
    "sum0": lambda t: t.sum(axis=0),
    "sum-keep": lambda t: t.sum(axis=1, keepdims=True),
    "mean": lambda t: t.mean(),
    "mean-1": lambda t: t.mean(axis=-1, keepdims=True),
    "max1": lambda t: t.max(axis=1),
    "reshape": lambda t: t.reshape(3, 2),
    "T": lambda t: t.T,
    "transpose": lambda t: t.reshape(1, 2, 3).transpose(2, 0, 1),
    "index-int": lambda t: t[1],
    "index-array": lambda t: t[np.array([1, 0, 1]), 1:],
    "log_softmax": lambda t: t.log_softmax(axis=-1),
}
PARAMETERISED = [("leaky_relu", {"slope": 0.2}), ("elu", {"alpha": 0.5})]


@st.composite
def programs(draw):
    """Leaves (shape, dtype, role) and steps on a growing pool of tensors."""
    n = draw(st.integers(1, 4))
    shapes = [(2, 3)] + [draw(st.sampled_from(SHAPES)) for _ in range(n - 1)]
    dtypes = [draw(st.sampled_from(["float64", "float32"])) for _ in range(n)]
    # the first leaf is a parameter; the others a parameter, an input, an input with grad
    roles = ["param"] + [
        draw(st.sampled_from(["param", "input", "input-grad"])) for _ in shapes[1:]
    ]
    kinds = {
        "unary": (st.sampled_from(sorted(UNARY)), 1),
        "param-unary": (st.sampled_from(range(len(PARAMETERISED))), 1),
        "binary": (st.sampled_from(sorted(BINARY)), 2),
        "pow": (st.sampled_from([0, 1, 2, 3, 0.5, -1]), 1),
        "structural": (st.sampled_from(sorted(STRUCTURAL)), 1),
        "matmul": (st.none(), 2),
        "matvec": (st.none(), 2),
        "const": (st.floats(-2, 2), 1),
    }
    steps = draw_steps(draw, n, kinds, max_steps=8)
    root = draw(st.sampled_from(["scalar", "last"]))
    return shapes, dtypes, roles, steps, root


VALUES = st.one_of(st.floats(0.125, 2.0), st.floats(-2.0, 2.0))


def draw_leaves(draw, shapes, dtypes, roles):
    leaves = []
    for shape, dtype, role in zip(shapes, dtypes, roles):
        size = int(np.prod(shape))
        values = np.array(draw(st.lists(VALUES, min_size=size, max_size=size)), dtype)
        leaves.append((values.reshape(shape), role))
    return leaves


def build(steps, leaves, root_kind, seed, twist=None):
    """The program's graph on new leaves; (root, its seed or None, whether the root's graph
    indexes a tensor that requires grad: such graphs are always walked). `twist(k, make)`,
    if given, makes the k-th step's node (``make()`` makes it as the program says)."""
    pool = []
    for data, role in leaves:
        if role == "input-grad":
            pool.append(Tensor(data, role="input", requires_grad=True))
        else:
            pool.append(Tensor(data, role=role))
    indexed = []  # results of indexing a tensor that requires grad

    def make(kind, arg, xs):
        if kind == "unary":
            return getattr(xs[0], arg)()
        if kind == "param-unary":
            name, kw = PARAMETERISED[arg]
            return getattr(xs[0], name)(**kw)
        if kind == "binary":
            return BINARY[arg].forward(xs[0], xs[1])
        if kind == "pow":
            return xs[0] ** arg
        if kind == "structural":
            out = STRUCTURAL[arg](wide(xs[0]))
            if arg.startswith("index") and xs[0].requires_grad:
                indexed.append(out)
            return out
        if kind == "matmul":
            return wide(xs[0]) @ wide(xs[1]).T
        if kind == "matvec":
            out = wide(xs[0])[1] @ wide(xs[1]).T  # a 1-D operand: not written out
            if xs[0].requires_grad:
                indexed.append(out)
            return out
        return arg * xs[0] - 1.0

    for k, (kind, arg, idx) in enumerate(steps):
        xs = [pool[i] for i in idx]
        if twist is None:
            pool.append(make(kind, arg, xs))
        else:
            pool.append(twist(k, lambda kind=kind, arg=arg, xs=xs: make(kind, arg, xs)))
    root, g = pool[-1], None
    if root_kind == "last" and root.requires_grad:
        g = seed(root.shape, root.dtype)
    else:
        root = sum(((p * (k + 1.0)).sum() for k, p in enumerate(pool)), Tensor(0.0))
    reached = {id(n) for n in topological_order(root)}
    return root, g, any(id(t) in reached for t in indexed)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(programs(), st.data())
def test_compiled_backward_is_the_walk_bit_for_bit_on_random_graphs(program, data):
    shapes, dtypes, roles, steps, root_kind = program

    def seed(shape, dtype):
        size = int(np.prod(shape))
        values = data.draw(st.lists(st.floats(-2, 2), min_size=size, max_size=size))
        return np.array(values, dtype).reshape(shape)

    with compiled_runs() as ran:
        for round_ in range(4):
            leaves = draw_leaves(data.draw, shapes, dtypes, roles)
            try:
                with np.errstate(all="ignore"), walk_only():
                    want, g, indexed = build(steps, leaves, root_kind, seed)
                    want.backward(g)
            except REFUSALS:
                reject()  # the engine refused these numbers (log of a negative, ...)
            with np.errstate(all="ignore"):
                got, _, _ = build(steps, leaves, root_kind, lambda *_, g=g: g)
                got.backward(None if g is None else g.copy())
            same_graphs(got, want)
            # compiled from the third build on, unless the graph indexes
            assert ran[-1] == (round_ >= 2 and not indexed), (round_, ran)
        event("compiled" if ran[-1] else "walked (indexing)")


def _twisted(k, make, twists):
    """The k-th node made as `twists[k]` says: as the program says; by another thread;
    as a copy of a computed node added to that node (two operands with one creation
    number); with its ``.data`` rebound (later operations read another array than the
    one it computed)."""
    how = twists[k % len(twists)]
    if how == "thread":
        made = []

        def run():
            try:
                made.append(make())
            except BaseException as error:  # raised here, as if made in this thread
                made.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        return made[0]
    out = make()
    if how == "copy":
        return copy.copy(out) + out
    if how == "rebind":
        out.data = out.data.copy()
    return out


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    programs(),
    st.data(),
    st.lists(st.sampled_from(["as is", "thread", "copy", "rebind"]), min_size=1, max_size=4),
)
def test_compiled_backward_is_the_walk_on_copied_threaded_and_rebound_nodes(program, data, twists):
    """Graphs with nodes made in another thread, copies of computed nodes (sharing their
    creation number) and rebound ``.data``: the C reader reads the key `_structure`
    reads, and the backward (compiled from the third build on where the graph is keyed)
    gives the walk's gradients bit for bit."""
    shapes, dtypes, roles, steps, root_kind = program
    leaves = draw_leaves(data.draw, shapes, dtypes, roles)

    def twist(k, make):
        return _twisted(k, make, twists)

    with compiled_runs() as ran:
        for _ in range(4):
            try:
                with np.errstate(all="ignore"), walk_only():
                    want, g, _ = build(steps, leaves, root_kind, lambda *_: None, twist)
                    want.backward(g)
            except REFUSALS:
                reject()
            with np.errstate(all="ignore"):
                got, _, _ = build(steps, leaves, root_kind, lambda *_: None, twist)
                key = read_with(tensor_compile._read, got, tensor_compile.MAX_NODES)[0]
                assert key == read_with(tensor_compile._structure, got, tensor_compile.MAX_NODES)[0]
                got.backward(g)
            same_graphs(got, want)
    event("compiled" if ran[-1] else "walked")


def test_threads_building_and_walking_graphs_that_share_parameters():
    """Four threads build the same step on shared parameters and run its backward
    (compiled from the third time on; the mode of each thread its own, one of them
    building under no_grad in between): every gradient is added exactly once, as
    the same backwards run one after another add them."""
    rng = np.random.default_rng(5)
    w = Tensor(rng.normal(size=(3, 2)), requires_grad=True)
    b = Tensor(np.zeros(2), requires_grad=True)
    x = Tensor(rng.normal(size=(4, 3)))
    errors = []

    def steps(n):
        try:
            for i in range(n):
                if i % 3 == 0:
                    with no_grad():
                        assert not (x @ w + b).tanh().sum().requires_grad
                ((x @ w + b).tanh() ** 2.0).mean().backward()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=steps, args=(25,)) for _ in range(4)]
    with compiled_runs() as ran:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == [] and any(ran)
    got = w.grad, b.grad
    w.grad = b.grad = None
    with walk_only():
        steps(100)
    assert errors == []
    np.testing.assert_array_equal(got[0], w.grad)
    np.testing.assert_array_equal(got[1], b.grad)


class _OnShape(np.ndarray):
    """An array whose shape, when read, first calls `_OnShape.then` if it is set: Python
    code that reading a graph's structure runs (`on_shape` sets it for a block)."""

    then = None

    @property
    def shape(self):
        if _OnShape.then is not None:
            _OnShape.then()
        return super().shape


@contextmanager
def on_shape(action):
    _OnShape.then = action
    try:
        yield
    finally:
        _OnShape.then = None


def read_with(read, root: Tensor, max_nodes: int) -> tuple:
    nodes = [root]
    try:
        return read(nodes, max_nodes), nodes
    finally:
        for node in nodes:
            node._g = None


@pytest.mark.skipif(
    tensor_compile._read is tensor_compile._structure, reason="the C helper is not built"
)
@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(programs(), st.data(), st.sampled_from([1, 3, 8, 2_000]))
def test_the_c_structure_reader_reads_what_the_python_one_reads(program, data, max_nodes):
    shapes, dtypes, roles, steps, root_kind = program
    leaves = draw_leaves(data.draw, shapes, dtypes, roles)
    with np.errstate(all="ignore"):
        try:
            root, _, _ = build(steps, leaves, root_kind, lambda shape, dtype: None)
        except REFUSALS:
            reject()
    key, nodes = read_with(tensor_compile._read, root, max_nodes)
    want, want_nodes = read_with(tensor_compile._structure, root, max_nodes)
    assert key == want and (key is None or len(nodes) == len(want_nodes))
    if key is not None:
        assert all(a is b for a, b in zip(nodes, want_nodes))
        assert [type(part) for part in key] == [type(part) for part in want]
    assert all(node._g is None for node in topological_order(root))


@pytest.mark.skipif(
    tensor_compile._read is tensor_compile._structure, reason="the C helper is not built"
)
def test_the_c_structure_reader_leaves_odd_nodes_to_the_walk():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    out = (w * 2.0).sum()
    assert read_with(tensor_compile._read, out, 10)[0] is not None
    for attack in (
        lambda n: setattr(n, "_parents", list(n._parents)),  # not a tuple
        lambda n: setattr(n, "_args", ()),  # fewer arrays than operands
        lambda n: setattr(n, "_redo", ()),
        lambda n: setattr(n, "_parents", (object(),)),  # not a Tensor
    ):
        root = (w * 2.0).sum()
        attack(root._parents[0])
        assert read_with(tensor_compile._read, root, 10)[0] is None  # no crash: None

    # an array whose shape, when read, rebinds the attributes of the node being read
    def rebind(node):
        _OnShape.then = None  # once
        node._parents, node._args, node._redo, node._seq = (), (), (), None
        gc.collect()

    for _ in range(3):
        leaf = Tensor(np.ones((2, 2)), requires_grad=True)
        root = leaf * 2.0
        root._args = (root.data.view(_OnShape), root.data)
        with on_shape(lambda root=root: rebind(root)):
            key, nodes = read_with(tensor_compile._read, root.sum(), 10)
        assert key is None or isinstance(key, tuple)
    with pytest.raises(TypeError, match="nodes a list"):
        tensor_compile._read((out,), 10)
    with pytest.raises(TypeError):
        tensor_compile._read([out], "10")


_SWAPPED_NODES = """
import gc
import numpy as np
from tinygrad_bp import Tensor
from tinygrad_bp.engine import tensor_compile

class Swapping(np.ndarray):  # its shape, when read, puts bytes among the nodes being read
    @property
    def shape(self):
        for ref in gc.get_referrers(root):
            if type(ref) is list and ref and ref[0] is root:
                ref[1:] = [bytes(range(16, 250))] * 4
        return super().shape

leaf = Tensor(np.ones((2, 2)), requires_grad=True)
mid = leaf * 2.0
root = (mid * 3.0).sum()
mid._args = (mid._args[0].view(Swapping), *mid._args[1:])
nodes = [root]
print(tensor_compile._read(nodes, 100))
"""


@pytest.mark.skipif(
    tensor_compile._read is tensor_compile._structure, reason="the C helper is not built"
)
def test_the_c_structure_reader_reads_only_nodes_from_its_list():
    """Python code run by the read (a shape) can reach the list of nodes (through
    `gc.get_referrers`) and put anything in it: what is not a node is not read as one."""
    r = subprocess.run(
        [sys.executable, "-c", _SWAPPED_NODES], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and r.stdout == "None\n", (r.returncode, r.stderr[-2000:])


@pytest.mark.skipif(
    tensor_compile._read is tensor_compile._structure, reason="the C helper is not built"
)
@pytest.mark.parametrize(
    "change",
    [
        lambda nodes: nodes.__delitem__(slice(1, None)),  # the nodes found so far dropped
        lambda nodes: nodes.insert(1, nodes[-1]),  # one twice
        lambda nodes: nodes.reverse(),
    ],
)
def test_the_c_structure_reader_keys_no_list_moved_while_it_read(change):
    """Nodes taken out of the list or moved by Python code that the read runs: a place
    in the key would name another node than the one it stood for."""

    def move():
        for ref in gc.get_referrers(root):
            if type(ref) is list and ref and ref[0] is root and len(ref) > 2:
                change(ref)

    leaf = Tensor(np.ones((2, 2)), requires_grad=True)
    mid = leaf * 2.0
    root = (mid * 3.0 + leaf).sum()
    mid._args = (mid._args[0].view(_OnShape), *mid._args[1:])
    nodes = [root]
    try:
        with on_shape(move):
            assert tensor_compile._read(nodes, 100) is None
    finally:
        for node in topological_order(root):
            node._g = None


@pytest.mark.skipif(
    tensor_compile._read is tensor_compile._structure, reason="the C helper is not built"
)
def test_the_c_structure_reader_takes_attribute_names_as_str_only():
    """It looks the names up in each node's class; a str subclass would run its own
    hashing and comparison there."""
    from tinygrad_bp.engine import _untracked

    class Name(str):
        pass

    names = ("_parents", "_redo", "_args", "_seq", "_g", "data")
    assert callable(_untracked.structure_reader(Tensor, names, frozenset()))
    for bad in ((Name("_parents"), *names[1:]), (*names[:5], b"data")):
        with pytest.raises(ValueError, match="str attribute names"):
            _untracked.structure_reader(Tensor, bad, frozenset())


@pytest.mark.skipif(
    tensor_compile._read is tensor_compile._structure, reason="the C helper is not built"
)
def test_the_c_structure_reader_holds_nothing_on_any_path():
    """A key read, each way of giving None, and an error raised by a shape: no
    reference kept to the nodes, their arrays, or the key's parts, and no memory."""
    w = Tensor(np.ones((2, 2)), requires_grad=True)

    def graphs():
        yield (w * 2.0).sum()  # keyed
        yield (w * 2.0).sum()[None]  # an index: not keyed
        out = (w * 2.0).sum()
        out._parents[0]._g = 7  # a mark of another walk
        yield out
        out = (w * 2.0).sum()
        out._parents[0]._args = (w.data.view(_OnShape), *out._parents[0]._args[1:])
        yield out  # RuntimeError
        yield (w * 2.0 * 3.0).sum()  # past max_nodes

    def read_all():
        for root in graphs():
            nodes = [root]
            try:
                tensor_compile._read(nodes, 4)
            except RuntimeError:
                pass
            finally:
                for node in topological_order(root):
                    node._g = None

    def refuse():
        raise RuntimeError("no shape")

    with on_shape(refuse):
        assert held_by_repeating(read_all, w, w.data) < 5_000


class _Doubled(Tensor):
    """A subclass whose `data` reads as twice the array it holds."""

    @property
    def data(self):
        return np.concatenate([Tensor.data.__get__(self)] * 2)

    @data.setter
    def data(self, value):
        Tensor.data.__set__(self, value)


class _Plain(Tensor):
    __slots__ = ("note",)


@pytest.mark.skipif(
    tensor_compile._read is tensor_compile._structure, reason="the C helper is not built"
)
@pytest.mark.parametrize("kind", [_Doubled, _Plain])
def test_the_c_structure_reader_reads_a_subclass_as_the_python_one_does(kind):
    """A Tensor subclass reads its attributes through its own class: where it overrides
    one that the key is read from, the C reader (which reads the slots) leaves the
    graph to the walk; where it overrides none, both read the same key."""
    root = kind(np.ones(2), requires_grad=True)
    want = read_with(tensor_compile._structure, root, 10)[0]
    got = read_with(tensor_compile._read, root, 10)[0]
    assert want[0] == ((4,) if kind is _Doubled else (2,))
    assert got == (None if kind is _Doubled else want)
    leaf = kind(np.ones(3), requires_grad=True)
    out = (leaf * 2.0).sum()
    want = read_with(tensor_compile._structure, out, 10)[0]
    assert read_with(tensor_compile._read, out, 10)[0] == (None if kind is _Doubled else want)


def test_a_backward_run_from_inside_another_is_refused():
    """A backward pass started while another one walks in the same thread (here by
    a shape that the read of the graph's structure reads) would find the nodes they
    share marked by the other (``_g``) and leave them out: gradients silently missing.
    It is refused, and the outer one then still adds the right gradients."""
    p = Tensor(np.ones((2, 2)), requires_grad=True)
    q = Tensor(np.full((2, 2), 3.0), requires_grad=True)
    h = p * q
    root = (h * 2.0).sum()
    inner = (p * 5.0 + h).sum()  # shares p and h
    ran = []

    def reenter():
        _OnShape.then = None  # once
        ran.append(inner)
        inner.backward()

    h._args = (p.data.view(_OnShape), *h._args[1:])
    with on_shape(reenter), pytest.raises(RuntimeError, match="inside another"):
        root.backward()
    assert ran == [inner] and p.grad is None and q.grad is None
    root.backward()  # nothing left marked: d(2 p q)/dp = 2 q, d/dq = 2 p
    np.testing.assert_array_equal(p.grad, np.full((2, 2), 6.0))
    np.testing.assert_array_equal(q.grad, np.full((2, 2), 2.0))
    assert all(node._g is None for node in topological_order(root))


@pytest.mark.parametrize("reader", ["_read", "_structure"])
@pytest.mark.parametrize("mark", [0, 1, 2, -1, 2**70, "pending"])
def test_a_node_marked_by_another_walk_leaves_the_graph_to_the_walk(reader, mark):
    """A `_g` that is not the node's place in this read (left by a backward run from
    inside this one, in the same thread) never stands for it in a key: the key would
    name another node's place, and the compiled backward would read the wrong node."""
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    h = w * 2.0
    root = (h * h).sum()  # places: root 0, h * h 1, h 2, w 3
    assert read_with(getattr(tensor_compile, reader), root, 10)[0] is not None
    h._g = mark
    try:
        key = getattr(tensor_compile, reader)([root], 10)
    finally:
        for node in topological_order(root):
            node._g = None
    assert key is None


# -- 2. repeated backward, retained grads, non-scalar and unary roots ------------------------------


def mlp_graph(rng, dtype=np.float64):
    w = Tensor(rng.standard_normal((3, 4)).astype(dtype), "w", requires_grad=True)
    b = Tensor(rng.standard_normal(4).astype(dtype), "b", requires_grad=True)
    x = Tensor(rng.standard_normal((5, 3)).astype(dtype), "x")
    h = (x @ w + b).tanh()
    return ((h * h).mean() + h.log_softmax().max(axis=1).sum()) * 0.5, (w, b)


def test_backward_again_on_one_graph_accumulates_as_the_walk_does():
    with compiled_runs() as ran:
        got, _ = mlp_graph(np.random.default_rng(1))
        for _ in range(5):
            got.backward()
    assert ran == [False, False, True, True, True]
    want, _ = mlp_graph(np.random.default_rng(1))
    with walk_only():
        for _ in range(5):
            want.backward()
    same_graphs(got, want)


def test_a_grad_kept_from_before_is_added_to():
    def run():
        loss, (w, b) = mlp_graph(np.random.default_rng(2), np.float32)
        w.grad = np.full(w.shape, 0.1, np.float32)
        b.grad = np.full(b.shape, -1e-3)  # a float64 gradient on a float32 parameter
        loss.backward()
        return loss

    with compiled_runs() as ran:
        got = [run() for _ in range(4)]
    assert ran == [False, False, True, True]
    with walk_only():
        want = run()
    same_graphs(got[-1], want)
    assert got[-1].grad.dtype == np.float32


@pytest.mark.parametrize("unary", ["sigmoid", "tanh", "exp", "relu", "abs", "sqrt", "neg"])
def test_backward_with_grad_from_a_non_scalar_unary_root(unary):
    rng = np.random.default_rng(3)
    x0, w0 = rng.uniform(0.1, 1, (4, 3)), rng.standard_normal((3, 2))
    seeds = [rng.standard_normal((4, 2)) for _ in range(4)]

    def run(seed):
        x = Tensor(x0, requires_grad=True)
        w = Tensor(w0, requires_grad=True)
        root = getattr(x @ w.abs(), unary)()
        root.backward(seed)
        return root

    with compiled_runs() as ran:
        got = [run(s) for s in seeds]
    assert ran == [False, False, True, True]
    with walk_only():
        want = [run(s) for s in seeds]
    for g, w in zip(got, want):
        same_graphs(g, w)
    # the caller's seed is copied: the root's .grad does not change it
    assert not np.shares_memory(got[-1].grad, seeds[-1])


def test_a_leaf_root_gets_its_own_copy_of_each_seed():
    p = Tensor(np.arange(3.0), requires_grad=True)
    seed = np.array([1.0, -0.0, 2.0])
    with compiled_runs() as ran:
        for _ in range(4):
            p.backward(seed)
        q = Tensor(5.0, requires_grad=True)
        for _ in range(4):
            q.backward()
    assert ran == [False, False, True, True] * 2
    assert np.array_equal(p.grad, 4 * seed) and p.grad.flags.writeable
    assert q.grad.shape == () and q.grad == 4.0
    seed[0] = 99.0
    assert p.grad[0] == 4.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_training_with_compiled_backwards_is_training_with_the_walk_bit_for_bit(dtype):
    from tinygrad_bp.nn.layers import MLP
    from tinygrad_bp.nn.losses import mse, softmax_cross_entropy
    from tinygrad_bp.nn.optim import SGD

    def train():
        rng = np.random.default_rng(8)
        model = MLP([2, 5, 3], ["leaky_relu(0.2)"], "sigmoid", seed=1, dtype=dtype)
        params = model.parameters()
        opt = SGD(params, lr=0.3, momentum=0.5)
        for step in range(8):
            x = rng.standard_normal((6, 2)).astype(dtype)
            y = model(x)
            if step % 2:
                loss = softmax_cross_entropy(y, rng.integers(0, 3, 6))
            else:
                loss = mse(y, rng.standard_normal((6, 3)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return params

    with compiled_runs() as ran:
        got = train()
    assert ran == [False] * 4 + [True] * 4  # two structures, alternating
    with walk_only():
        want = train()
    for p, q in zip(got, want):
        same(p.data, q.data)
        same(p.grad, q.grad)


def test_a_compiled_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((3, 4))

    def loss(w_data, x_data):
        w = Tensor(w_data, requires_grad=True)
        h = (Tensor(x_data) @ w).sigmoid()
        return (h * h).sum() - h.log_softmax().mean(), w

    with compiled_runs() as ran:
        for _ in range(3):
            out, w = loss(w0, rng.standard_normal((2, 3)))
            out.backward()
    assert ran[-1]
    x = rng.standard_normal((2, 3))
    out, w = loss(w0, x)
    out.backward()
    assert ran[-1]
    eps = 1e-6
    for i in np.ndindex(w0.shape):
        up, down = w0.copy(), w0.copy()
        up[i] += eps
        down[i] -= eps
        fd = (loss(up, x)[0].item() - loss(down, x)[0].item()) / (2 * eps)
        assert abs(w.grad[i] - fd) < 1e-7 * max(1.0, abs(fd)), (i, w.grad[i], fd)


# -- 3. rebound and changed data ------------------------------


def rebinding_graph(rebind):
    p = Tensor([0.5, -1.5, 2.0], requires_grad=True)
    q = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = p.tanh()
    loss = (h * q * p).sum()
    rebind(p, q, h, loss)
    loss.backward()
    return loss, p, q


REBINDS = {
    "nothing": lambda p, q, h, loss: None,
    "a leaf": lambda p, q, h, loss: setattr(p, "data", p.data * 2),
    "another leaf": lambda p, q, h, loss: setattr(q, "data", q.data - 1),
    "an activation": lambda p, q, h, loss: setattr(h, "data", h.data * 2),
    "the root": lambda p, q, h, loss: setattr(loss, "data", loss.data * 2),
}


def changed_after_compiling(change):
    """`rebinding_graph(change)` run by the code compiled from three unchanged graphs (which
    must run), checked against the same graph walked; its p."""
    with compiled_runs() as ran:
        for _ in range(3):
            rebinding_graph(REBINDS["nothing"])
        got, p, _ = rebinding_graph(change)
    assert ran[-1]
    with walk_only():
        want, _, _ = rebinding_graph(change)
    same_graphs(got, want)
    return p


@pytest.mark.parametrize("what", sorted(REBINDS))
def test_rebound_data_gives_the_walks_gradients_from_the_old_arrays(what):
    # the compiled code runs, and reads the arrays each operation was computed from
    p = changed_after_compiling(REBINDS[what])
    # d/dp sum(tanh(p) q p) = q (tanh p + p (1 - tanh^2 p)) at the numbers of the forward
    p0, q0 = np.array([0.5, -1.5, 2.0]), np.array([1.0, 2.0, 3.0])
    closed = q0 * (np.tanh(p0) + p0 * (1 - np.tanh(p0) ** 2))
    assert np.allclose(p.grad, closed, rtol=1e-14)


def test_a_rebound_activation_root_gives_the_walks_gradient_from_its_old_output():
    def run(rebind):
        p = Tensor([0.5, -1.5, 2.0], requires_grad=True)
        root = p.tanh()  # its derivative 1 - y^2 reads its own output y
        if rebind:
            root.data = root.data * 2
        root.backward(np.array([1.0, 2.0, 3.0]))
        return root

    with compiled_runs() as ran:
        for _ in range(3):
            run(False)
        got = run(True)
    assert ran == [False, False, True, True]
    with walk_only():
        want = run(True)
    same_graphs(got, want)
    p0 = np.array([0.5, -1.5, 2.0])
    assert np.allclose(want.parents[0].grad, [1.0, 2.0, 3.0] * (1 - np.tanh(p0) ** 2))


INPLACE = {
    "a leaf": lambda p, q, h, loss: p.data.__imul__(2),
    "an activation": lambda p, q, h, loss: h.data.__imul__(0.5),
}


@pytest.mark.parametrize("what", sorted(INPLACE))
def test_changes_in_place_are_seen_as_the_walk_sees_them(what):
    changed_after_compiling(INPLACE[what])  # the same arrays: compiled


# -- 4. what the compiled code leaves to the walk ------------------------------

UNHASHABLE = {  # (the op, whether the walk keeps it)
    "a list axis": (lambda t: t.sum(axis=[0]), True),
    "a tuple axis": (lambda t: t.sum(axis=(0,)), False),
    # indexing is always walked: as a key True == 1, as an index they differ
    "a list index": (lambda t: t[[1, 0, 1]], True),
    "an array index": (lambda t: t[np.array([1, 0])], True),
    "a slice": (lambda t: t[1:], True),
    "a tuple of ints": (lambda t: t[1, 1], True),
}


@pytest.mark.parametrize("what", sorted(UNHASHABLE))
def test_an_unhashable_fixed_argument_or_an_index_leaves_the_graph_to_the_walk(what):
    op, refused = UNHASHABLE[what]

    def run():
        t = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
        loss = (op(t.tanh()) ** 3).sum()
        loss.backward()
        return loss

    with compiled_runs() as ran:
        got = [run() for _ in range(4)]
    assert ran == [False, False, not refused, not refused]
    with walk_only():
        want = run()
    same_graphs(got[-1], want)


def chain(n: int) -> Tensor:
    """A graph of n + 2 nodes: a leaf, n tanh, a sum."""
    t = Tensor(np.linspace(-1, 1, 4), requires_grad=True)
    for _ in range(n):
        t = t.tanh()
    return t.sum()


def test_graphs_beyond_max_nodes_are_walked():
    with mock.patch.object(tensor_compile, "MAX_NODES", 5), compiled_runs() as ran:
        for n in (3, 4):  # 5 nodes, then 6
            roots = [chain(n) for _ in range(4)]
            for r in roots:
                r.backward()
        assert ran == [False, False, True, True] + [False] * 4
        assert all(n._g is None for r in roots for n in topological_order(r))
    with walk_only():
        want = chain(4)
        want.backward()
    same_graphs(roots[-1], want)


def test_at_most_max_graphs_structures_are_kept():
    with mock.patch.object(tensor_compile, "MAX_GRAPHS", 2), compiled_runs() as ran:
        for _ in range(4):  # three structures in turn: each restarts the cache
            for n in (1, 2, 3):
                chain(n).backward()
                assert len(tensor_compile._CACHE) <= 2
        assert not any(ran)
        for _ in range(3):  # one structure three times in a row compiles
            got = chain(5)
            got.backward()
        assert ran[-3:] == [False, False, True]
    with walk_only():
        want = chain(5)
        want.backward()
    same_graphs(got, want)


def test_inside_a_trace_recording_and_under_detect_anomaly_the_walk_runs():
    with compiled_runs() as ran:
        for _ in range(3):
            mlp_graph(np.random.default_rng(5))[0].backward()
        assert ran == [False, False, True]
        in_trace, _ = mlp_graph(np.random.default_rng(5))
        with autograd._modes(autograd.TRACE, 0):
            in_trace.backward()
        assert ran[-1] is False
        anomalous, _ = mlp_graph(np.random.default_rng(5))
        with detect_anomaly():
            anomalous.backward()
        assert len(ran) == 4  # not asked at all
        quiet, _ = mlp_graph(np.random.default_rng(5))
        with no_grad():
            quiet.backward()
        assert ran[-1] is True
    with walk_only():
        want, _ = mlp_graph(np.random.default_rng(5))
        want.backward()
    for got in (in_trace, anomalous, quiet):
        same_graphs(got, want)


def test_threads_sharing_parameters_add_up_to_the_sequential_sum():
    # integer numbers: every gradient and every sum of them is exact in any order
    steps, n_threads = 50, 8
    rng = np.random.default_rng(6)
    w0, b0 = rng.integers(-3, 4, (3, 2)).astype(float), rng.integers(-3, 4, 2).astype(float)
    batches = [
        [rng.integers(-3, 4, (2 + k % 2, 3)).astype(float) for _ in range(steps)]
        for k in range(n_threads)
    ]

    def work(w, b, xs, errors):
        try:
            for x in xs:
                h = Tensor(x) @ w + b
                (h * h + w.sum() * 2.0 - b).sum().backward()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    w, b = Tensor(w0, requires_grad=True), Tensor(b0, requires_grad=True)
    errors: list = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with compiled_runs() as ran:
            threads = [threading.Thread(target=work, args=(w, b, xs, errors)) for xs in batches]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    # threads interleave the making of nodes, and the key holds the creation order: some
    # interleavings are new structures, walked; the others run compiled code
    assert len(ran) == steps * n_threads and sum(ran) >= len(ran) // 2
    wv, bv = Tensor(w0, requires_grad=True), Tensor(b0, requires_grad=True)
    with walk_only():
        for xs in batches:
            work(wv, bv, xs, errors)
    same(w.grad, wv.grad)
    same(b.grad, bv.grad)


# -- 5. what the structure key tells apart ------------------------------


def param(root: Tensor) -> Tensor:
    """The one leaf of `root`'s graph that requires grad."""
    (found,) = [n for n in topological_order(root) if n.is_leaf and n.requires_grad]
    return found


def compile_then(first, second):
    """`first()` compiled (three builds), then `second()`: its graph, and the same graph
    built and walked."""
    with compiled_runs() as ran:
        for _ in range(3):
            first().backward()
        assert ran == [False, False, True]
        got = second()
        got.backward()
    with walk_only():
        want = second()
        want.backward()
    same_graphs(got, want)
    return got, want, ran[-1]


def test_graphs_that_differ_only_in_sharing_are_told_apart():
    rng = np.random.default_rng(7)
    W, V, X, Y = (rng.standard_normal((2, 2)) for _ in range(4))

    def shared():
        w, x, y = Tensor(W, requires_grad=True), Tensor(X), Tensor(Y)
        return (w @ x + w @ y).sum()

    def apart():
        w, v = Tensor(W, requires_grad=True), Tensor(V, requires_grad=True)
        return (w @ Tensor(X) + v @ Tensor(Y)).sum()

    def twice():  # x used twice, y not at all: the same number of nodes as `shared`
        w, x, y = Tensor(W, requires_grad=True), Tensor(X), Tensor(Y)
        return (w @ x + w @ x).sum() + 0.0 * y.sum()

    compile_then(shared, apart)
    compile_then(apart, shared)
    compile_then(shared, twice)


def test_graphs_that_differ_only_in_the_creation_order_of_branches_are_told_apart():
    # w's gradient is the sum of the three branches' shares in reverse creation order,
    # and that sum is not associative: (1 + 1e16) - 1e16 = 0, (-1e16 + 1e16) + 1 = 1
    numbers = {"x": 1.0, "y": 1e16, "z": -1e16}

    def made_in(order):
        def build():
            w = Tensor([1.0], requires_grad=True)
            terms = {k: w * numbers[k] for k in order}
            return (terms["x"] + terms["y"] + terms["z"]).sum()

        return build

    zyx, _, _ = compile_then(made_in("xyz"), made_in("zyx"))
    xyz, _, _ = compile_then(made_in("zyx"), made_in("xyz"))
    assert param(zyx).grad[0] == 0.0 and param(xyz).grad[0] == 1.0


def test_graphs_that_differ_only_in_dtype_or_shape_are_told_apart():
    def graph(shape, dtype):
        def build():
            a = Tensor(np.linspace(0.1, 2, 6).reshape(2, 3).astype(dtype), requires_grad=True)
            b = Tensor(np.ones(shape, dtype) * 0.7, requires_grad=True)
            return ((a * b).sigmoid() + b).mean()

        return build

    got, _, ran = compile_then(graph((3,), np.float64), graph((3,), np.float32))
    assert got.grad.dtype == np.float32 and ran is False
    compile_then(graph((3,), np.float64), graph((1, 3), np.float64))
    compile_then(graph((1, 3), np.float64), graph((2, 1), np.float64))
    compile_then(graph((2, 3), np.float32), graph((), np.float32))


def test_graphs_that_differ_only_in_which_leaves_need_a_gradient_are_told_apart():
    def graph(x_grad):
        def build():
            x = Tensor([[1.0, 2.0]], requires_grad=x_grad)
            w = Tensor([[0.5], [-1.0]], requires_grad=True)
            return (x @ w).tanh().sum() * (x * w.T).sum()

        return build

    for first, then in ((False, True), (True, False)):
        got, _, _ = compile_then(graph(first), graph(then))
        leaves = [n for n in topological_order(got) if n.is_leaf]
        assert [n.grad is not None for n in leaves] == [n.requires_grad for n in leaves]
        assert sum(n.requires_grad for n in leaves) == 1 + then


def test_a_constant_is_read_by_the_compiled_code_not_frozen_into_it():
    def times(c):
        def build():
            a = Tensor([1.0, -2.0], requires_grad=True)
            return (a * c).sum() + (a**2.0 / c).sum()

        return build

    got, _, ran = compile_then(times(2.0), times(3.0))
    assert ran is True  # the same structure: the number is a leaf
    assert np.array_equal(param(got).grad, 3.0 + 2 * np.array([1.0, -2.0]) / 3.0)


def test_graphs_that_differ_only_in_an_exponent_or_a_parameter_are_told_apart():
    def graph(p, slope):
        def build():
            a = Tensor([1.5, -2.0], requires_grad=True)
            return ((a**p).leaky_relu(slope=slope) * a.elu(alpha=slope)).sum()

        return build

    got, _, _ = compile_then(graph(2, 0.1), graph(3, 0.1))
    got, _, _ = compile_then(graph(2, 0.1), graph(2, 0.3))


# -- 6. an exception inside a compiled backward ------------------------------


def custom_graph(fail):
    """A node made by hand whose VJP raises `fail` when it is set."""
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = a.tanh()

    def vjp(g):
        if fail is not None:
            raise fail
        return (g * 3.0,)

    # a reshape's node (a kernel the compiled code calls) with this VJP
    c = Tensor._result(b.data * 3.0, (b,), vjp, "triple", True, _reshape_kernel, ((2,),), (b.data,))
    return (c * a).sum() + b.sum()


@pytest.mark.parametrize("error", [RuntimeError("boom"), TypeError("boom")])
def test_an_error_inside_a_compiled_backward_leaves_no_trace(error):
    with compiled_runs() as ran:
        for _ in range(3):
            custom_graph(None).backward()
        assert ran == [False, False, True]
        failed = custom_graph(error)
        with pytest.raises(type(error), match="boom"):
            failed.backward()
        assert all(n._g is None for n in topological_order(failed))
        got = custom_graph(None)
        got.backward()
        assert ran[-1] is True
    with walk_only():
        want = custom_graph(None)
        want.backward()
        walked = custom_graph(error)
        with pytest.raises(type(error)):
            walked.backward()
    same_graphs(got, want)
    # raised before any .grad is written (the walk had written some)
    assert all(n.grad is None for n in topological_order(failed))


# -- 7. the heap settings ------------------------------

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
KEEP_HEAP = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('heap', sys.argv[1])\n"
    "heap = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(heap)\n"
    "print(heap.keep_heap(), heap.keep_heap())\n"
)


def keep_heap_in_a_fresh_process(**env: str) -> str:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k != "TINYGRAD_BP_KEEP_MALLOC" and not k.startswith("MALLOC_")
    }
    out = subprocess.run(
        [sys.executable, "-c", KEEP_HEAP, heap.__file__],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "True True"),
        ({"TINYGRAD_BP_KEEP_MALLOC": "0"}, "True True"),
        ({"TINYGRAD_BP_KEEP_MALLOC": "1"}, "False False"),
        ({"MALLOC_TRIM_THRESHOLD_": "131072"}, "False False"),
        ({"MALLOC_MMAP_THRESHOLD_": "131072"}, "False False"),
        ({"MALLOC_TOP_PAD_": "0"}, "False False"),
    ],
)
def test_keep_heap_sets_glibc_thresholds_unless_told_not_to(env, expected):
    assert keep_heap_in_a_fresh_process(**env) == expected


def test_keep_heap_answers_the_same_every_time_in_a_process():
    first = heap.keep_heap()
    assert heap.keep_heap() is first
    assert first == (GLIBC and heap._set_thresholds())


# -- 8. sigmoid at the overflow edge ------------------------------


def sigmoid_reference(x: np.ndarray) -> list:
    import mpmath

    with mpmath.workprec(200):
        return [1 / (1 + mpmath.exp(-mpmath.mpf(float(v)))) for v in x.ravel()]


def ulp_errors(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """|y - sigmoid(x)| in units of the last place of the exact value, where that value is a
    normal number of y's dtype (NaN elsewhere)."""
    import mpmath

    info = np.finfo(y.dtype)
    out = []
    for got, exact in zip(y.ravel(), sigmoid_reference(x)):
        if exact < info.tiny:
            out.append(np.nan)
            continue
        near = y.dtype.type(float(exact))
        with mpmath.workprec(200):
            out.append(float(abs(mpmath.mpf(float(got)) - exact)) / float(np.spacing(near)))
    return np.array(out)


ULP_BOUND = {np.float64: 2.0, np.float32: 3.0}
EDGES = {np.float64: (-750.0, -700.0), np.float32: (-110.0, -80.0)}


def edge_inputs(dtype, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = EDGES[dtype]
    x = np.concatenate([rng.uniform(lo, hi, n), rng.normal(0, 12, n), [lo, hi, 0.0, -0.0]])
    rng.shuffle(x)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [3, 200])  # 2n + 4 entries: 10 and 404 (> 256: in place)
def test_sigmoid_at_the_overflow_edge_is_close_never_nan_and_quiet(dtype, n):
    x = edge_inputs(dtype, n, seed=n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = _sigmoid_array(x)
        t = Tensor(x, requires_grad=True)
        s = t.sigmoid()
        s.sum().backward()
        edge_only = _sigmoid_array(x[x < EDGES[dtype][1]])
        zero_d = np.array([_sigmoid_array(np.array(v)) for v in x[:8]])
    assert y.dtype == dtype and s.data.dtype == dtype and t.grad.dtype == dtype
    assert not np.isnan(y).any() and not np.isnan(t.grad).any() and not np.isnan(edge_only).any()
    assert np.array_equal(s.data, y)
    assert np.array_equal(edge_only, y[x < EDGES[dtype][1]])
    assert ((0 <= y) & (y <= 1)).all()
    assert zero_d.dtype == dtype and not np.isnan(zero_d).any()
    # e^-x, 1 + e^-x and the quotient are each rounded: measured up to 1.5 ulp in float64
    # and 2.4 in float32
    bound = ULP_BOUND[dtype]
    assert not (ulp_errors(zero_d, x[:8]) >= bound).any()
    errors = ulp_errors(y, x)
    normal = ~np.isnan(errors)
    assert normal.sum() > n // 2 and errors[normal].max() < bound, errors[normal].max()
    # where the exact value is below the normal range: off by less than the smallest normal
    tiny = np.finfo(dtype).tiny
    exact = np.array([float(v) for v in sigmoid_reference(x)])
    assert (np.abs(y[~normal] - exact[~normal]) < tiny).all()


# -- bugs found by these tests, each a minimal reproduction ------------------------------


@pytest.mark.parametrize("op", ["sigmoid", "softplus"])
@pytest.mark.parametrize("dtype, x", [("float64", -720.0), ("float32", -100.0)])
def test_the_overflow_edge_is_quiet_under_a_strict_numpy_error_state(op, dtype, x):
    with np.errstate(all="raise"):
        y = getattr(Tensor([x, 1.0], dtype=dtype), op)()
    assert 0 <= y.data[0] < 1e-30


@pytest.mark.parametrize("path", ["walk", "compiled"])
def test_a_0d_gradient_summed_over_backward_passes_is_still_an_array(path):
    q = Tensor(5.0, requires_grad=True)
    with compiled_runs() if path == "compiled" else walk_only():
        for _ in range(4):
            (q * 2.0).backward()
    assert type(q.grad) is np.ndarray and q.grad.flags.writeable


def test_a_parameter_of_minus_zero_is_not_frozen_as_plus_zero():
    def slope(s):
        def build():
            x = Tensor([-1.0, 2.0], requires_grad=True)
            return x.leaky_relu(slope=s).sum()

        return build

    compile_then(slope(0.0), slope(-0.0))


def test_an_index_true_is_not_an_index_one():
    # as a key True == 1; as an index t[True] is t with a new axis: indexing is walked
    def index(i):
        def build():
            t = Tensor([1.0, 2.0, 3.0], requires_grad=True)
            w = Tensor([1.0, 2.0, 4.0], requires_grad=True)
            return t[i] * w

        return build

    def seeded(build):
        def root():
            r = build()
            r.backward(np.arange(1.0, 1.0 + r.size).reshape(r.shape))
            return r

        return root

    with compiled_runs() as ran:
        for _ in range(3):
            seeded(index(1))()
        got = seeded(index(True))()
    assert not any(ran)
    with walk_only():
        want = seeded(index(True))()
    same_graphs(got, want)


def test_an_index_tensor_rebound_to_another_length():
    emb = Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    idx = Tensor([0.0, 1.0, 3.0])

    def step(rows):
        idx.data = np.array(rows)
        emb.grad = w.grad = None
        loss = (emb[idx] @ w).sum()
        loss.backward()
        return emb.grad, w.grad

    with compiled_runs():
        for _ in range(3):
            step([0.0, 1.0, 3.0])
        got = step([1.0, 2.0])
    with walk_only():
        want = step([1.0, 2.0])
    same(got[0], want[0])
    same(got[1], want[1])


@pytest.mark.parametrize("case", ["two operands", "a None gradient"])
def test_a_node_made_with_another_function_is_walked(case):
    def build():
        a = Tensor([1.0, 2.0], requires_grad=True)
        b = Tensor([3.0, 4.0], requires_grad=True)
        if case == "two operands":
            c = Tensor._result(
                a.data * b.data,
                (a, b),
                lambda g: (g * b.data, g * a.data),
                "product",
                True,
                None,
                (),
                (a.data, b.data),
            )
        else:
            c = Tensor._result(a.data, (a,), lambda g: (None,), "stop", True, None, (), (a.data,))
        return (c + b).sum()

    with compiled_runs() as ran:
        for _ in range(4):
            got = build()
            got.backward()
    assert not any(ran)
    with walk_only():
        want = build()
        want.backward()
    same_graphs(got, want)


def test_a_one_number_reduction_that_keeps_its_axes():
    # the gradient of sum(keepdims=True) to shape (1, 1) is an array, not a number
    def build():
        a = Tensor([[0.5, -1.0, 2.0]], requires_grad=True)
        return a.sum(keepdims=True).tanh().mean(axis=1, keepdims=True).sum()

    got, want, compiled = compile_then(build, build)
    assert compiled
    t = np.tanh(1.5)
    assert np.allclose(got.parents[0].parents[0].parents[0].grad, [[1 - t * t] * 3])


# -- the numeric test modules, with every backward compiled ------------------------------

COMPILED_FROM_THE_FIRST_WALK = (
    "import sys, pytest\n"
    "from tinygrad_bp.engine import tensor_compile\n"
    "tensor_compile.COMPILE_AT = 1\n"
    "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *sys.argv[1:]]))\n"
)


def test_the_tensor_tests_pass_with_every_backward_compiled():
    """The Tensor tests against finite differences, PyTorch and closed forms, with the
    compiled code running at every backward instead of from the third walk on."""
    here = os.path.dirname(__file__)
    modules = ["test_tensor_ops.py", "test_fuzz_torch.py", "test_engines_never_lie.py"]
    modules += ["test_fast_paths.py", "test_nn.py"]
    r = subprocess.run(
        [sys.executable, "-c", COMPILED_FROM_THE_FIRST_WALK]
        + [os.path.join(here, m) for m in modules],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.path.dirname(here),
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


@pytest.mark.parametrize("chained", [True, False])
def test_arrays_read_last_in_a_block_that_may_not_run_are_freed_after_it(chained):
    # a chain (G f'(x) in one pass) that may return None, then the table's lines: what
    # was made before the block is deleted after it, what the block made inside it
    from tinygrad_bp.engine.tensor_compile import _free

    lines = [
        "v1 = A",
        "s2 = chain(v1)",
        "if s2 is None:",
        "    d3 = grad(v1)",
        "    s2 = d3 * 2",
        "    if s2 != B:",
        "        s2 = s2 + 1",
        "g4 = s2",
        "names = sorted(locals())",
        "return g4, names",
    ]
    source = "def f(A, B, chain, grad):\n" + "".join(f"    {line}\n" for line in _free(lines))
    scope: dict = {}
    exec(source, scope)
    result, names = scope["f"](
        3, 0, (lambda v: None) if not chained else (lambda v: v + 1), lambda v: v * 10
    )
    assert result == (61 if not chained else 4)
    assert [n for n in names if n[0] in "vsd" and n[1:].isdigit()] == []
