"""Value nodes the cyclic garbage collector does not track (`engine/untracked.py`).

With the C helper built, building a graph costs the collector nothing, every
field of a freed node is released (tracemalloc comes back to where it was), a
chain far deeper than the C stack is freed, and the pure-Python classes give
bit-for-bit the same numbers.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bp import Tensor, Value
from tinygrad_bp.engine.untracked import NATIVE, blank_maker, untracked

from .conftest import held_by_repeating

ROOT = Path(__file__).resolve().parent.parent
native = pytest.mark.skipif(not NATIVE, reason="the C helper is not built")


def _python(
    code: str, *, pure: str | None = None, timeout: int = 60
) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh interpreter; `pure` sets TINYGRAD_BP_PURE_PYTHON."""
    env = os.environ if pure is None else {**os.environ, "TINYGRAD_BP_PURE_PYTHON": pure}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_ci_builds_the_helper():
    """The benchmarks' figures assume the helper; the CI machine has a compiler."""
    if os.environ.get("CI") != "true":
        pytest.skip("checked in CI only")
    assert NATIVE


def _graph(n: int) -> Value:
    w, b, v = Value(0.5, "w"), Value(0.1, "b"), Value(0.3, "x", role="input")
    for _ in range(n):
        v = (v * w + b).relu() * 1.5 - 0.25
    return v


@native
def test_nodes_are_not_tracked():
    leaf = Value(1.0)
    out = (leaf * 2.0 + leaf).tanh()
    assert not gc.is_tracked(leaf) and not gc.is_tracked(out)


@native
def test_tensor_nodes_are_not_tracked():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    out = (w @ np.ones((2, 1)) + 1.0).sigmoid().sum()
    out.backward()
    assert not gc.is_tracked(w) and not gc.is_tracked(out)


def test_a_freed_tensor_graph_releases_every_array():
    """Values, gradients, the arrays kept for the views and the compiled backward, and the
    closures: everything a trained graph holds goes back when it is dropped."""
    w = Tensor(np.ones((300, 300)), requires_grad=True)

    def build():
        out = None
        for _ in range(4):  # the third and fourth walks run the compiled backward
            w.grad = None
            h = (w * 2.0 + 1.0).tanh()
            out = (h @ h).mean()
            out.backward()
        w.grad = None  # the parameter's own gradient stays with it
        return out

    build()  # compiles, and fills numpy's and the cache's own stores first
    assert _held_after(build) < 50_000  # one 300 x 300 array is 720,000 bytes


@native
def test_building_a_graph_triggers_no_collection():
    collections = []

    def watch(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(watch)
    try:
        root = _graph(20_000)  # 100,000 nodes: about 140 young collections if tracked
        root.backward()
    finally:
        gc.callbacks.remove(watch)
    assert collections == []


def _held_after(build, collect: bool = False) -> int:
    """Bytes still allocated after `build()`'s result is dropped (and, if `collect`, the
    collector has run)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = build()
        assert tracemalloc.get_traced_memory()[0] - before > 100_000  # it did hold memory
        del result
        if collect:
            gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def _trained():
    root = _graph(2000)
    root.backward()
    str(root.parents)  # unfolds a folded constant into a node of its own
    return root


def test_a_freed_graph_releases_every_field():
    """Values, gradients, names, operands and unfolded constants all go back."""
    assert _held_after(_trained) < 10_000  # a free list keeps about 3 kB


def test_a_subclass_node_is_freed_too():
    class Named(Value):
        __slots__ = ("note",)

    def build():
        x = Named(2.0)
        x.note = "x" * 500_000
        return (x * x).exp()

    assert _held_after(build) < 10_000


@pytest.mark.parametrize("finalizer", ["", "Value.__del__ = lambda self: None\n"])
def test_a_chain_deeper_than_the_c_stack_is_freed(finalizer):
    code = (
        "from tinygrad_bp import Value\n"
        f"{finalizer}"
        "w, b, v = Value(0.5), Value(0.1), Value(0.3)\n"
        "for _ in range(2_000_000):\n"
        "    v = (v * w + b).relu()\n"
        "del v\n"
        "print('freed')\n"
    )
    r = _python(code, timeout=120)
    assert r.returncode == 0 and r.stdout == "freed\n", r.stderr[-2000:]


def test_copy_and_pickle_keep_every_field():
    a = Value(2.0, "a", role="input")
    out = a * 3.0
    for twin in (copy.copy(out), pickle.loads(pickle.dumps(out))):
        assert (twin.data, twin.op, twin.name) == (6.0, "*", None)
        assert twin.parents[0].data == 2.0 and twin.local_grads == (3.0, 2.0)


class _Base:
    __slots__ = ("a",)


class _Plain(_Base):
    __slots__ = ("b", "c")


@pytest.mark.parametrize("cls", [Value, _Plain, untracked(_Plain)], ids=["Value", "plain", "made"])
def test_a_blank_node_has_every_slot_none(cls):
    node = blank_maker(cls)()
    assert type(node) is cls
    names = ("a", "b", "c") if "Plain" in cls.__name__ else ("data", "grad", "name", "_a", "_b")
    assert all(getattr(node, name) is None for name in names)
    assert not gc.is_tracked(node) or not NATIVE or cls is _Plain


def _refused(cls: type, why: str) -> None:
    """`untracked(cls)` refuses with a TypeError matching `why` (without the helper it
    returns `cls` unchanged)."""
    if NATIVE:
        with pytest.raises(TypeError, match=why):
            untracked(cls)
    else:
        assert untracked(cls) is cls


def test_untracked_needs_slots():
    class Loose:
        pass

    _refused(Loose, "needs __slots__")


def test_the_pure_python_classes_give_the_same_numbers():
    code = (
        "import sys\n"
        "from tinygrad_bp import Value\n"
        "from tinygrad_bp.engine.untracked import NATIVE\n"
        "assert not NATIVE\n"
        "w, b, v = Value(0.5), Value(0.1), Value(0.3)\n"
        "for i in range(200):\n"
        "    v = ((v * w + b).tanh() * 1.5 - 0.25) ** 2 / (1.0 + w)\n"
        "v.backward()\n"
        "print(repr([v.data, w.grad, b.grad]))\n"
    )
    r = _python(code, pure="1")
    assert r.returncode == 0, r.stderr[-2000:]
    w, b, v = Value(0.5), Value(0.1), Value(0.3)
    for _ in range(200):
        v = ((v * w + b).tanh() * 1.5 - 0.25) ** 2 / (1.0 + w)
    v.backward()
    assert r.stdout.strip() == repr([v.data, w.grad, b.grad])


def _pass_without_the_helper(*files: str) -> None:
    """The test modules `files` pass in a fresh interpreter without the C helper."""
    env = {**os.environ, "TINYGRAD_BP_PURE_PYTHON": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *(str(ROOT / "tests" / f) for f in files)],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:]


@native
def test_the_value_tests_pass_on_the_pure_python_classes():
    """The engine's own tests, run again on the classes a machine without a compiler gets."""
    _pass_without_the_helper("test_value_engine.py", "test_value_ops.py",
                             "test_value_properties.py", "test_trace.py",
                             "test_engine_threads.py")  # fmt: skip


def test_the_helper_compiles_without_a_warning(tmp_path):
    """-Wall -Wextra -Werror on the Python running the tests (CI runs several versions)."""
    import shutil
    import sysconfig

    compiler = shutil.which("gcc") or shutil.which("cc")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not (Path(include) / "Python.h").exists():
        pytest.skip("no C compiler or no Python headers")
    source = ROOT / "tinygrad_bp" / "engine" / "_untracked.c"
    r = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{include}",
         str(source), "-o", str(tmp_path / "_untracked.so")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]


def test_value_keeps_its_place_in_the_class_hierarchy():
    """The remade class is a subclass of `Node`, as the class statement says, with or
    without the helper: isinstance, the MRO and type hints read the same."""
    import typing

    from tinygrad_bp.engine.autograd import Node
    from tinygrad_bp.engine.tensor import Tensor

    assert [c.__name__ for c in Value.__mro__] == ["Value", "Node", "object"]
    assert isinstance(Value(1.0), Node) and isinstance(Tensor([1.0]), Node)
    assert Value in Node.__subclasses__() and Tensor in Node.__subclasses__()
    assert set(typing.get_type_hints(Value)) == {"_parents", "_op", "_g"}  # Node's, inherited
    assert "__annotations__" not in vars(Value) or not vars(Value)["__annotations__"]
    assert not gc.is_tracked(Value(1.0)) or not NATIVE


class _Private:
    __slots__ = ("__secret", "plain")

    def __init__(self) -> None:
        self.__secret = 7
        self.plain = 1

    def secret(self) -> int:
        return self.__secret


def test_a_private_slot_keeps_its_mangled_name():
    """``__slots__ = ("__secret",)`` makes the attribute ``_Private__secret``."""
    made = untracked(_Private)
    assert made().secret() == 7
    assert blank_maker(made)()._Private__secret is None


@pytest.mark.parametrize("slot", ["__weakref__", "__dict__"])
def test_a_class_with_weakref_or_dict_slots_is_refused(slot):
    """An untracked class holds only plain attributes: weak references and a __dict__
    would silently be missing."""
    loose = type("Loose", (), {"__slots__": ("a", slot)})
    _refused(loose, slot)


def test_a_blank_of_a_class_without_slots_of_its_own():
    class Empty:
        __slots__ = ()

    assert type(blank_maker(Empty)()) is Empty


def test_class_assignment_between_value_and_a_subclass_is_as_documented():
    """docs/errors-and-limits.md: refused with the helper (a subclass's nodes are
    tracked, Value's are not), allowed without it; between subclasses it works."""

    class Sub(Value):
        __slots__ = ()

    class Other(Value):
        __slots__ = ()

    node = Value(1.0) * 2.0
    if NATIVE:
        with pytest.raises(TypeError, match="deallocator differs"):
            node.__class__ = Sub
    else:
        node.__class__ = Sub
        assert type(node) is Sub
    sub = Sub(3.0)
    sub.__class__ = Other
    assert type(sub) is Other and (sub * 2.0).data == 6.0


def test_the_api_reference_reads_value_and_node_as_classes():
    """mkdocstrings reads the source (griffe): remaking the classes must leave them
    classes there, with their methods, not module attributes."""
    griffe = pytest.importorskip("griffe")
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    engine = loader.load("tinygrad_bp.engine")
    value, node = engine["value"]["Value"], engine["autograd"]["Node"]
    assert value.is_class and node.is_class
    assert "backward" in value.members and "zero_grad" in node.members


class _Finalized:
    __slots__ = ("a", "tag")
    freed: list = []
    kept: list = []

    def __del__(self) -> None:
        _Finalized.freed.append(self.tag)
        if self.tag == "keep":
            _Finalized.kept.append(self)  # resurrected: it must stay whole


def test_del_runs_on_an_untracked_class_as_on_a_plain_one():
    """__del__ written in the class, or set on it later, runs once per freed node, for a
    chain too; a node it resurrects keeps its attributes."""
    made = untracked(_Finalized)
    _Finalized.freed.clear()
    head = None
    for i in range(1000):
        node = made()
        node.a, node.tag = head, i
        head = node
    del node, head
    assert sorted(_Finalized.freed) == list(range(1000))
    keep = made()
    keep.a, keep.tag = made(), "keep"
    keep.a.a, keep.a.tag = None, "inner"
    del keep
    survivor = _Finalized.kept.pop()
    assert survivor.tag == "keep" and survivor.a.tag == "inner"
    survivor.tag = "done"
    del survivor

    class Later:
        __slots__ = ("a",)

    later = untracked(Later)
    calls = []
    later.__del__ = lambda self: calls.append(self.a)
    node = later()
    node.a = 5
    del node
    assert calls == [5]


def test_the_collector_sees_the_value_attributes_of_a_tracked_subclass():
    """A subclass's nodes are tracked: a cycle through one of Value's own attributes of
    such a node is collected as without the helper, and the class can go too."""
    import weakref

    def make():
        class Sub(Value):
            __slots__ = ("note",)

        node = Sub(1.0)
        node.grad = [node]
        Sub.default = Sub(0.0)  # an instance held by its own class
        return weakref.ref(Sub), any(type(r) is list for r in gc.get_referents(node))

    alive, sees_grad = make()
    assert sees_grad
    gc.collect()
    assert alive() is None


@native
def test_a_refused_make_type_keeps_no_memory():
    from tinygrad_bp.engine import _untracked

    def refuse():
        refused = 0
        for _ in range(200):
            for bad in (("ok", 1), ("ok",) * 65, ("ok", "\udc80")):
                try:
                    _untracked.make_type("m.Bad", bad)
                except (TypeError, ValueError):
                    refused += 1
        assert refused == 600
        return list(range(30_000))  # _held_after wants to see memory held while it runs

    refuse()  # first calls cache what they may
    assert _held_after(refuse) < 2_000


_INTROSPECTION = """
import copy, inspect, json, pickle, pydoc, typing
from tinygrad_bp import Value
from tinygrad_bp.engine.autograd import Node
v = Value(2.0, "v")
out = (v * 3.0 + v).tanh()
def error(f):
    try:
        f()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
print(json.dumps({
    "help": pydoc.render_doc(Value, renderer=pydoc.plaintext),
    "mro": [c.__qualname__ for c in Value.__mro__],
    "node": isinstance(out, Node),
    "dir": dir(out),
    "vars": sorted(vars(Value)),
    "hints": sorted(typing.get_type_hints(Value)),
    "signature": str(inspect.signature(Value)),
    "repr": [repr(out), repr(copy.deepcopy(out)), repr(pickle.loads(pickle.dumps(out)))],
    "errors": [error(lambda: setattr(v, "foo", 1)), error(lambda: v.foo),
               error(lambda: vars(v)), error(lambda: Value()), error(lambda: v + "x")],
}))
"""


@native
def test_introspection_reads_the_same_without_the_helper():
    """help(Value), the MRO, dir(), type hints, the signature, repr and error messages."""
    runs = []
    for pure in ("0", "1"):
        r = _python(_INTROSPECTION, pure=pure)
        assert r.returncode == 0, r.stderr[-2000:]
        runs.append(json.loads(r.stdout))
    native_run, pure_run = runs
    for key in pure_run:
        assert native_run[key] == pure_run[key], key


def test_threads_build_backpropagate_and_free_graphs_sharing_parameters():
    """Frees run while other threads build and walk (a subclass's __del__ hands the
    interpreter to another thread in the middle of freeing a chain); the parameters'
    gradients are the sum of every thread's, as when the same work runs in one thread."""
    import math
    import threading
    import time

    class Yielding(Value):
        __slots__ = ()

        def __del__(self) -> None:
            time.sleep(0)

    def work(params, k, errors):
        try:
            for _ in range(20):
                v = Yielding(0.3)
                for i in range(200):
                    v = (v * params[i % 4] + params[(i + k) % 4]).tanh()
                    if i % 40 == 0:
                        v = Yielding(0.0) + v
                v.backward()
                del v
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    def grads(threaded):
        params = [Value(0.2 * i - 0.3) for i in range(4)]
        errors = []
        runs = [(params, k, errors) for k in range(4)]
        if threaded:
            threads = [threading.Thread(target=work, args=run) for run in runs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            for run in runs:
                work(*run)
        assert errors == []
        return [p.grad for p in params]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threaded = grads(True)
    finally:
        sys.setswitchinterval(interval)
    for got, want in zip(threaded, grads(False)):
        assert math.isclose(got, want, rel_tol=1e-9)


def test_a_helper_built_from_an_older_source_is_not_used():
    """A compiled helper left from before the C file changed (an editable install not
    rebuilt) must not break the import: the engine runs on the plain classes."""
    code = (
        "import sys, types\n"
        "old = types.ModuleType('tinygrad_bp.engine._untracked')\n"
        "def make_type(name, slots):\n"
        "    raise AssertionError('an old helper was called')\n"
        "old.make_type = make_type\n"
        "sys.modules[old.__name__] = old\n"
        "from tinygrad_bp import Value\n"
        "from tinygrad_bp.engine.untracked import NATIVE\n"
        "v = Value(2.0)\n"
        "(v * v).backward()\n"
        "print(NATIVE, v.grad)\n"
    )
    r = _python(code)
    assert r.returncode == 0 and r.stdout == "False 4.0\n", r.stderr[-2000:]


def test_a_class_with_its_own_metaclass_is_refused():
    """The remade class's metaclass is `type`: an ABC would silently lose its checks."""
    import abc

    class Shape(abc.ABC):
        __slots__ = ("a",)

        @abc.abstractmethod
        def area(self) -> float: ...

    _refused(Shape, "metaclass")


def _drawn_and_explained():
    from tinygrad_bp import draw, explain
    from tinygrad_bp.views.graph import graph_to_dict

    w = Value(0.5, "w")
    root = _graph(3) * w
    root.backward()
    return root, str(draw(root).source), explain(root, w), graph_to_dict(root), _graph(3000)


def _refused_half_way():
    from tinygrad_bp import AnomalyError, detect_anomaly

    root = _graph(3000)
    errors = []
    with detect_anomaly():
        for scale in (1e308, 1.0):
            try:
                (root * scale * 1e308).exp()
            except (AnomalyError, ArithmeticError, ValueError) as exc:
                errors.append(type(exc))
    assert errors
    return root, errors


def _traced():
    from tinygrad_bp import trace

    def step(x, w):
        v = x
        for _ in range(300):
            v = (v * w + 0.1).tanh()
        return v

    traced = trace(step, 0.3, 0.5)
    return traced, traced(0.2, 0.4)


@pytest.mark.parametrize("build", [_drawn_and_explained, _refused_half_way, _traced])
def test_every_kind_of_graph_is_given_back(build):
    """Drawings and exports of a graph, ops refused half-way under detect_anomaly, and
    traces (their input leaves are a subclass) hold nothing once dropped."""
    build()  # first calls fill the caches they may
    # a trace holds reference cycles of its own (not through nodes): collected
    assert _held_after(build, collect=True) < 20_000


def test_a_free_threaded_build_uses_the_plain_classes():
    """The helper frees a chain by reading and setting reference counts, which a
    free-threaded interpreter (abiflags "t") splits between threads."""
    code = (
        "import sys\n"
        "sys.abiflags = 't'\n"
        "from tinygrad_bp import Value\n"
        "from tinygrad_bp.engine.untracked import NATIVE\n"
        "print(NATIVE, type(Value(1.0) * 2.0).__mro__[1].__name__)\n"
    )
    r = _python(code)
    assert r.returncode == 0 and r.stdout == "False Node\n", r.stderr[-2000:]


def _every_slot(node) -> dict:
    names = {n for klass in type(node).__mro__ for n in getattr(klass, "__slots__", ())}
    return {n: getattr(node, n) for n in sorted(names) if n not in ("__weakref__", "__dict__")}


def _same_value(a, b) -> bool:
    if isinstance(b, np.ndarray):  # a scalar or subclass made into a new array each time
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(b, tuple):
        return type(a) is tuple and len(a) == len(b) and all(map(_same_value, a, b))
    return a is b or (type(a) is type(b) and a == b)


def _same_node(made, want) -> None:
    """`made` and `want` hold the same attributes (`want` made right after `made`)."""
    got, expected = _every_slot(made), _every_slot(want)
    assert got.keys() == expected.keys()
    assert got.pop("_seq") + 1 == expected.pop("_seq")
    for name, value in expected.items():
        assert _same_value(got[name], value), name
    if want._args is not None:  # a recorded node: its arrays, then its result
        assert made._args[-1] is made.data and want._args[-1] is want.data


_RESULT_ARGS = [
    # (data, parents, vjp, op, grad, kernel, static, args): the common case, then each
    # case the C recorder leaves to Tensor._result
    lambda a, b, k: (a.data + b.data, (a, b), k, "+", True, k, ("static",), (a.data, b.data)),
    lambda a, b, k: (a.data + b.data, (a, b), k, "+", False, k, (), (a.data, b.data)),
    lambda a, b, k: (np.float64(2.5), (a,), k, "sum", True, k, (None,), (a.data,)),
    lambda a, b, k: (a.data.view(_Array), (a,), k, "neg", True, k, (), (a.data,)),
    lambda a, b, k: (a.data * 2, (a,), k, "*2", 1, k, (), (a.data,)),
    lambda a, b, k: (a.data * 2, (a,), k, "*2", True, k, (), [a.data]),
]


class _Array(np.ndarray):
    pass


@native
@pytest.mark.parametrize("case", range(len(_RESULT_ARGS)))
@pytest.mark.parametrize("mode", ["record", "no_grad", "anomaly"])
def test_the_c_recorder_makes_the_node_tensor_result_makes(case, mode):
    from tinygrad_bp import detect_anomaly, no_grad
    from tinygrad_bp.engine import tensor

    assert tensor._node is not Tensor._result  # the helper's one-call node
    a = Tensor(np.arange(3.0), requires_grad=True)
    b = Tensor(np.ones(3))
    args = _RESULT_ARGS[case](a, b, len)
    if mode == "record":
        made, want = tensor._node(*args), Tensor._result(*args)
    else:
        with {"no_grad": no_grad, "anomaly": detect_anomaly}[mode]():
            made, want = tensor._node(*args), Tensor._result(*args)
    _same_node(made, want)
    assert not gc.is_tracked(made)


@native
def test_the_c_recorder_is_what_a_trace_and_a_thread_see():
    from tinygrad_bp import trace
    from tinygrad_bp.engine import tensor

    w = Tensor(np.array([[0.5, -1.0]]), requires_grad=True)
    step = trace(lambda x: (w @ x).tanh().sum(), Tensor(np.ones((2, 1))))
    out, _ = step.backward(Tensor(np.ones((2, 1)))), None
    assert np.isfinite(out.item())
    # a thread's mode is its own: no_grad in one thread, recording in the other
    import threading

    seen = {}

    def other():
        seen["node"] = tensor._node(np.ones(2), (w,), None, "x", True, len, (), (w.data,))

    from tinygrad_bp import no_grad

    with no_grad():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        here = tensor._node(np.ones(2), (w,), None, "x", True, len, (), (w.data,))
    assert seen["node"].requires_grad is True and seen["node"]._parents == (w,)
    assert here.requires_grad is False and here._parents == ()


@native
def test_the_c_recorder_keeps_no_reference_of_its_own():
    from tinygrad_bp.engine import tensor

    data, a = np.ones(4), Tensor(np.ones(4), requires_grad=True)
    before = (sys.getrefcount(data), sys.getrefcount(a), sys.getrefcount(a.data))
    for _ in range(1000):
        tensor._node(data, (a,), None, "x", True, len, ("s",), (a.data,))
    assert (sys.getrefcount(data), sys.getrefcount(a), sys.getrefcount(a.data)) == before

    def build():
        for _ in range(20_000):
            tensor._node(np.ones(2), (a,), None, "x", True, len, ("s",), (a.data,))
        return list(range(30_000))

    build()
    assert _held_after(build) < 2_000


@native
def test_the_c_recorder_leaves_keywords_and_a_wide_mode_to_tensor_result():
    """What `Tensor._result` takes, the recorder takes: keyword arguments, and a mode
    int wider than a C long (a bit of its own set on top of the engine's)."""
    from tinygrad_bp.engine import tensor
    from tinygrad_bp.engine.autograd import _MODE, RECORD

    a = Tensor(np.arange(3.0), requires_grad=True)
    names = ("data", "parents", "vjp", "op", "grad", "kernel", "static", "args")
    kw = dict(zip(names, _RESULT_ARGS[0](a, a, len)))
    _same_node(tensor._node(**kw), Tensor._result(**kw))
    token = _MODE.set(RECORD | 1 << 80)
    try:
        _same_node(tensor._node(*kw.values()), Tensor._result(*kw.values()))
    finally:
        _MODE.reset(token)
    with pytest.raises(TypeError):  # as Tensor._result refuses them
        tensor._node(*kw.values(), extra=1)


@native
def test_the_c_recorder_holds_nothing_on_any_path():
    """No reference is kept by a recorded node made, by a case left to `Tensor._result`,
    or by a call refused."""
    from tinygrad_bp.engine import tensor
    from tinygrad_bp.engine.autograd import _MODE, RECORD

    data, a = np.ones(4), Tensor(np.ones(4), requires_grad=True)
    calls = [
        lambda: tensor._node(data, (a,), None, "x", True, len, ("s",), (a.data,)),
        lambda: tensor._node(data, (a,), None, "x", False, len, ("s",), (a.data,)),
        lambda: tensor._node(data, (a,), None, "x", True, len, ("s",), [a.data]),
        lambda: tensor._node(data, (a,), None, "x", grad=True, kernel=len, static=(), args=()),
    ]

    def every_path():
        for call in calls:
            call()
        try:
            tensor._node(data, (a,), None)
        except TypeError:  # from Tensor._result: too few arguments
            pass
        else:
            raise AssertionError("too few arguments taken")
        token = _MODE.set(RECORD | 1 << 80)
        calls[0]()
        _MODE.reset(token)

    assert held_by_repeating(every_path, data, a, a.data) < 5_000


@native
def test_a_node_the_c_recorder_made_copies_and_pickles_as_tensor_result_s():
    from tinygrad_bp.engine import tensor

    a = Tensor(np.arange(3.0), requires_grad=True)
    args = _RESULT_ARGS[0](a, a, len)
    made, want = tensor._node(*args), Tensor._result(*args)
    _same_node(copy.copy(made), copy.copy(want))
    deep_made, deep_want = copy.deepcopy(made), copy.deepcopy(want)
    assert deep_made._seq + 1 == deep_want._seq and deep_made._parents[0] is not a
    np.testing.assert_array_equal(deep_made.data, deep_want.data)
    assert not gc.is_tracked(deep_made) and not gc.is_tracked(copy.copy(made))
    back_made, back_want = (pickle.loads(pickle.dumps(n)) for n in (made, want))
    assert back_made._seq + 1 == back_want._seq and not gc.is_tracked(back_made)
    for name in ("data", "_args", "_redo", "_op", "requires_grad", "_g", "grad"):
        assert repr(getattr(back_made, name)) == repr(getattr(back_want, name)), name


@native
def test_the_c_recorder_refuses_what_it_cannot_make():
    from contextvars import ContextVar

    from tinygrad_bp.engine import _untracked
    from tinygrad_bp.engine.autograd import next_seq

    mode = ContextVar("m", default=1)
    names = ("data", "_op", "_seq", "requires_grad", "_parents", "_vjp", "_redo", "_args")
    args = (np.ndarray, mode, 1, 6, next_seq, len)
    with pytest.raises(ValueError, match="8 attribute names"):
        _untracked.recorder(Tensor, names[:7], *args)
    with pytest.raises(ValueError, match="not an attribute"):
        _untracked.recorder(Tensor, (*names[:7], "shape"), *args)
    with pytest.raises(TypeError, match="made by make_type"):
        _untracked.recorder(int, names, *args)
    with pytest.raises(TypeError, match="ContextVar"):
        _untracked.recorder(Tensor, names, np.ndarray, 1, 1, 6, next_seq, len)


@native
def test_the_tensor_tests_pass_without_the_helper():
    """The Tensor tests, run again where every node is made by `Tensor._result` and every
    graph's structure read by `tensor_compile._structure`."""
    _pass_without_the_helper("test_tensor_ops.py", "test_engines_never_lie.py",
                             "test_tensor_compile.py")  # fmt: skip
