"""The benchmark scripts run and check their engines against each other before timing.

Each script asserts, before it times anything, that every engine it compares
computes the same loss (and, for the traced step, the same gradients bit for
bit); here each runs once with the fewest repeats, so a change that breaks a
script or makes the engines disagree fails the suite. No timing is asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args", "says"),
    [
        ("bench_value.py", ["--repeats", "1", "--block", "1", "--chain", "3000"], "bytes/node"),
        ("bench_trace.py", ["--repeats", "1"], "replay"),
        ("bench_tensor.py", ["--repeats", "20"], "784-256-10"),
        ("bench_grade.py", ["--students", "12", "--repeat", "1"], "12"),
    ],
)
def test_a_benchmark_runs_and_its_engines_agree(script, args, says):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert says in done.stdout
    assert "target" in done.stdout or script == "bench_grade.py"
