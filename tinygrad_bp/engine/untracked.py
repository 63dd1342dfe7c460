"""Graph node classes that Python's cyclic garbage collector does not track.

Every instance of a class written in Python is tracked by the cyclic collector,
which runs a young collection every 700 new objects and, as they pile up, full
collections over every object of the process. A training step of the Value
engine makes one node per operation (10^4 to 10^6 of them), so the collector
can take as long as the step. A node only points to nodes made before it: its
references cannot form a cycle, and the collector has nothing to find there.

`untracked(cls)` remakes a slotted class with the same attributes and methods
as a class of the C helper `_untracked`, whose instances the collector never
sees; `blank_maker(cls)` gives the fastest way to make an instance with every
slot None, which the engine then fills in. Without the helper (no C compiler
at install time, or the environment variable ``TINYGRAD_BP_PURE_PYTHON=1``)
`untracked` returns the class unchanged: the same code runs either way, only
the collector's work differs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from types import MemberDescriptorType
from typing import Any, TypeVar

# The helper's interface, as `_untracked.API` states it. A helper compiled from an older
# C file (an editable install not rebuilt since) is not used: `pip install .` again.
_API = 4

# The helper frees a chain of nodes by reading and setting reference counts, which a
# free-threaded interpreter (abiflags "t", Python 3.13+) splits between threads.
_FREE_THREADED = "t" in getattr(sys, "abiflags", "")

_untracked = None
if not _FREE_THREADED:
    try:
        from . import _untracked
    except ImportError:  # not built: plain Python classes
        pass
if getattr(_untracked, "API", None) != _API:
    _untracked = None

__all__ = ["NATIVE", "PURE_PYTHON", "blank_maker", "recorder", "structure_reader", "untracked"]

#: Whether the C helpers are switched off (``TINYGRAD_BP_PURE_PYTHON=1``): the engines then
#: run the Python code they stand for.
PURE_PYTHON = os.environ.get("TINYGRAD_BP_PURE_PYTHON", "") not in ("", "0")

#: Whether node classes are untracked (the C helper is built and not switched off).
NATIVE = _untracked is not None and not PURE_PYTHON

# Slots that ask the interpreter for a weak reference list or a __dict__, not an attribute.
_SPECIAL = {"__weakref__", "__dict__"}

# What a class statement puts in a class's namespace that is not an attribute to copy.
_NOT_COPIED = {"__slots__", "__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"}

C = TypeVar("C", bound=type)

# The classes `untracked` made: a class remade later inherits from the nearest of them.
_MADE: set[type] = set()


def untracked(cls: C) -> C:
    """`cls` (every class of its hierarchy slotted, no ``__dict__``) as an untracked class.

    The new class inherits from the nearest base remade by `untracked` (so
    ``Value.__mro__`` and `isinstance` read as in the class statement), and has the
    slots and every attribute of `cls` and of its bases below that one, which it
    does not inherit from. Its instances can be subclassed in Python (a subclass's
    instances are tracked again).
    """
    if not NATIVE:
        return cls
    if type(cls) is not type:
        raise TypeError(
            f"{cls.__qualname__} has the metaclass {type(cls).__qualname__}, which an untracked "
            "class cannot keep; give it none"
        )
    mro = cls.__mro__
    base = next((klass for klass in mro[1:] if klass in _MADE), object)
    chain = mro[mro.index(base) - 1 :: -1]  # from the class under `base` down to `cls`
    slots = _slots(chain)
    special = _SPECIAL.intersection(slots)
    if special:
        raise TypeError(
            f"{cls.__qualname__} has the slot {special.pop()}, which an untracked class "
            "cannot provide; remove it from __slots__"
        )
    name = f"{cls.__module__}.{cls.__name__}"
    made = _untracked.make_type(name, slots, None if base is object else base)
    for klass in chain:
        for key, attr in vars(klass).items():
            if key in _NOT_COPIED or isinstance(attr, MemberDescriptorType):
                continue
            setattr(made, key, attr)
    made.__qualname__ = cls.__qualname__
    made.__doc__ = cls.__doc__
    made.__slots__ = slots  # read by copy and pickle, as for a slotted class
    _MADE.add(made)
    return made


def blank_maker(cls: type) -> Callable[[], object]:
    """A function of no arguments that returns a new `cls` with every slot None.

    For a class made by `untracked` the C helper does it in one call; otherwise a
    compiled Python function stores the Nones.
    """
    if NATIVE:
        try:
            return _untracked.blank_maker(cls)
        except TypeError:  # not one of the helper's classes
            pass
    names = [name for name in _slots(cls.__mro__[-2::-1]) if name not in _SPECIAL]
    stores = "".join(f"out.{name} = " for name in names)
    source = f"def blank():\n    out = new(cls)\n    {stores}None\n    return out\n"
    scope = {"new": object.__new__, "cls": cls}
    exec(source, scope)
    return scope["blank"]


def recorder(
    cls: type,
    fields: tuple[str, ...],
    array_type: type,
    mode: ContextVar[int],
    record: int,
    slow: int,
    next_seq: Callable[[], int],
    fallback: Callable[..., Any],
) -> Callable[..., Any]:
    """`fallback`, or a C function with its result in its common case, in one call.

    ``fallback(data, parents, vjp, op, grad, kernel, static, args)`` makes an
    operation's node. Where grad is True, data an instance of exactly `array_type`,
    args a tuple, and `mode` holds the bit `record` and none of the bits `slow`, the
    C function makes the `cls` itself: the attributes named by `fields` get data,
    op, ``next_seq()``, True, parents, vjp, ``(kernel, static)`` and ``(*args,
    data)``, every other attribute None. In every other case it calls `fallback`.
    Without the helper, or for a class it did not make, this returns `fallback`.
    """
    if NATIVE:
        try:
            return _untracked.recorder(
                cls, fields, array_type, mode, record, slow, next_seq, fallback
            )
        except TypeError:  # not one of the helper's classes
            pass
    return fallback


def structure_reader(
    cls: type, fields: tuple[str, ...], keyed: frozenset, fallback: Callable[..., Any]
) -> Callable[..., Any]:
    """`fallback`, or the C function that computes what it computes.

    ``fallback(nodes, max_nodes)`` is `tensor_compile._structure`: the key of the
    graph of ``nodes[0]``, whose operations' kernels are in `keyed`, read through
    the attributes that `fields` names (the parents, the kernel and fixed
    arguments, the arrays read, the creation number, the place, the value).
    Without the helper, or for a class it did not make, this returns `fallback`.
    """
    if NATIVE:
        try:
            return _untracked.structure_reader(cls, fields, keyed)
        except TypeError:  # not one of the helper's classes
            pass
    return fallback


def _slots(chain: tuple[type, ...]) -> tuple[str, ...]:
    """Every slot of the classes of `chain` (a base first, then its subclasses)."""
    if any("__slots__" not in vars(klass) for klass in chain):
        raise TypeError(f"{chain[-1].__qualname__} needs __slots__ on every class of its hierarchy")
    return tuple(_mangled(klass, name) for klass in chain for name in _own_slots(klass))


def _own_slots(klass: type) -> tuple[str, ...]:
    names = vars(klass)["__slots__"]
    return (names,) if isinstance(names, str) else tuple(names)


def _mangled(klass: type, name: str) -> str:
    """The attribute a slot named `name` in `klass` makes: ``__x`` in ``Foo`` is ``_Foo__x``."""
    owner = klass.__name__.lstrip("_")
    if name.startswith("__") and not name.endswith("__") and owner:
        return f"_{owner}{name}"
    return name
