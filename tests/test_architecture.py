"""The layout keeps its promises: a light import, and each activation named in one place."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_bp.engine.ops import ACTIVATIONS, UNARY

PACKAGE = Path(__file__).resolve().parent.parent / "tinygrad_bp"
WINGS = ("engine", "nn", "slides", "views", "derivatives", "teach", "commands")


def test_import_is_light():
    code = (
        "import sys, tinygrad_bp\n"
        "heavy = [m for m in ('graphviz', 'matplotlib', 'tomllib', 'tomli', 'torch') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "", f"import tinygrad_bp loaded {r.stdout.strip()}"


def test_every_wing_is_a_package():
    for wing in WINGS:
        assert (PACKAGE / wing / "__init__.py").exists(), wing


@pytest.mark.parametrize("name", ["softplus", "elu", "leaky_relu"])
def test_an_activation_is_named_only_in_the_op_table(name):
    """Adding an activation is one entry: no other module lists it or defines it.

    Calling it (`z.softplus()`) is fine; a string "softplus" (a list of names, a
    branch on a name) or a `def softplus` (a second statement of its rule) is not.
    """
    assert name in ACTIVATIONS and name in UNARY
    listed = re.compile(rf"""(["']{name}["'])|(def {name}\b)""")
    found = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "ops.py" and listed.search(p.read_text())
    ]
    assert found == [], f"{name!r} is spelled out in {found}"
