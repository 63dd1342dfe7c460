"""Shared test helpers."""

from __future__ import annotations

import math
import os
import sys
import tracemalloc

import pytest


def central_difference(f, x: float, eps: float = 1e-6) -> float:
    """(f(x + eps) - f(x - eps)) / (2 eps), computed with plain floats."""
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.fixture
def torch():
    """PyTorch, or a clean skip where it is not installed."""
    return pytest.importorskip("torch")


def held_by_repeating(run, *kept, repeats: int = 300) -> int:
    """Bytes still allocated after `run()` ran `repeats` more times (once before, and three
    times under tracemalloc, for what first calls cache); asserts that it left the
    reference counts of the objects `kept` as they were."""
    run()
    before = [sys.getrefcount(obj) for obj in kept]
    tracemalloc.start()
    try:
        for _ in range(3):
            run()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(repeats):
            run()
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(obj) for obj in kept] == before, "a reference was kept"
    return held


def close(a: float, b: float, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def pytest_addoption(parser):
    parser.addoption(
        "--long",
        action="store_true",
        help="run the long fuzz suites (10^4 cases each, minutes) instead of the CI size",
    )


def pytest_configure(config):
    if config.getoption("--long"):
        # read by the fuzz tests when they are collected
        os.environ["TINYGRAD_BP_FUZZ_EXAMPLES"] = "10000"
