"""Graph node classes that Python's cyclic garbage collector does not track.

Every instance of a class written in Python is tracked by the cyclic collector,
which runs a young collection every 700 new objects and, as they pile up, full
collections over every object of the process. A training step of the Value
engine makes one node per operation (10^4 to 10^6 of them), so the collector
can take as long as the step. A node only points to nodes made before it: its
references cannot form a cycle, and the collector has nothing to find there.

`untracked(cls)` remakes a slotted class with the same attributes and methods
as a class of the C helper `_untracked`, whose instances the collector never
sees. Without the helper (no C compiler at install time, or the environment
variable ``TINYGRAD_BP_PURE_PYTHON=1``) it returns the class unchanged: the
same code runs either way, only the collector's work differs.
"""

from __future__ import annotations

import os
from types import MemberDescriptorType
from typing import TypeVar

try:
    from ._untracked import make_type
except ImportError:  # not built: plain Python classes
    make_type = None

__all__ = ["NATIVE", "untracked"]

#: Whether node classes are untracked (the C helper is built and not switched off).
NATIVE = make_type is not None and os.environ.get("TINYGRAD_BP_PURE_PYTHON", "") in ("", "0")

# What a class statement puts in a class's namespace that is not an attribute to copy.
_NOT_COPIED = {"__slots__", "__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"}

C = TypeVar("C", bound=type)


def untracked(cls: C) -> C:
    """`cls` (every class of its hierarchy slotted, no ``__dict__``) as an untracked class.

    The new class has `cls`'s slots, in order, and every attribute of `cls` and its
    bases but `object`; it does not inherit from them. Its instances can be
    subclassed in Python (a subclass's instances are tracked again).
    """
    if not NATIVE:
        return cls
    chain = cls.__mro__[-2::-1]  # from the base under `object` down to `cls`
    if any("__slots__" not in vars(klass) for klass in chain):
        raise TypeError(f"untracked() needs __slots__ on every class of {cls.__qualname__}")
    slots = tuple(name for klass in chain for name in vars(klass)["__slots__"])
    made = make_type(f"{cls.__module__}.{cls.__name__}", slots)
    for klass in chain:
        for key, attr in vars(klass).items():
            if key in _NOT_COPIED or isinstance(attr, MemberDescriptorType):
                continue
            setattr(made, key, attr)
    made.__qualname__ = cls.__qualname__
    made.__doc__ = cls.__doc__
    made.__slots__ = slots  # read by copy and pickle, as for a slotted class
    return made
