"""Shared test helpers."""

from __future__ import annotations

import math
import os

import pytest


def central_difference(f, x: float, eps: float = 1e-6) -> float:
    """(f(x + eps) - f(x - eps)) / (2 eps), computed with plain floats."""
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.fixture
def torch():
    """PyTorch, or a clean skip where it is not installed."""
    return pytest.importorskip("torch")


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
