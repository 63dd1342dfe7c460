"""The docs build as a site with `mkdocs build --strict` (skipped without the docs extra)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the docs extra's versions need Python 3.11+"
)
@pytest.mark.skipif(
    not all(map(_installed, NEEDED)), reason="needs the docs extra: pip install -e '.[docs]'"
)
def test_mkdocs_build_strict(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-q",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(tmp_path / "site"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    site = tmp_path / "site"
    assert (site / "model-files" / "index.html").exists()
    reference = (site / "reference" / "index.html").read_text()
    assert "load_state_from" in reference and "to_torch" in reference  # from the docstrings
    # Value's page is its class's, methods included (not one line for a rebound name)
    assert 'id="tinygrad_bp.engine.value.Value.backward"' in reference
    assert 'id="tinygrad_bp.engine.tensor.Tensor.backward"' in reference  # remade the same way
