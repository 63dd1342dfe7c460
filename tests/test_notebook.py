"""The example notebook runs from top to bottom and every result displays richly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_example_notebook_executes_with_rich_output(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(ROOT / "examples" / "pictures.ipynb", as_version=4)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env_path}" if env_path else str(ROOT)
    try:
        nbclient.NotebookClient(
            nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        if env_path:
            os.environ["PYTHONPATH"] = env_path
        else:
            del os.environ["PYTHONPATH"]
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = [set(o.get("data", {})) for o in outputs]
    assert sum("image/svg+xml" in k for k in kinds) == 3  # three drawings
    assert sum("text/markdown" in k for k in kinds) == 2  # two explanations
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("max abs err" in h for h in html) and any("all agree" in h for h in html)
    md = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert "5" in md and "2 path(s)" in md
