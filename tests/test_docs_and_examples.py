"""Every example script and every code block of the README and docs/ runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
# optional dependencies (extras of pyproject.toml) that a doc block may import
OPTIONAL = {"torch": "torch", "matplotlib": "plot"}


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch directory that sees the repository's examples/ (outputs land here)."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "docs" / "images").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, workdir):
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d, "python")], ids=lambda p: p.name)
def test_python_blocks_run(doc, workdir):
    namespace: dict = {"__name__": "__doc_example__"}
    for code in blocks(doc, "python"):
        try:
            exec(compile(code, str(doc), "exec"), namespace)
        except ModuleNotFoundError as exc:
            if exc.name not in OPTIONAL:
                raise
            pytest.skip(f"a block of {doc.name} needs {exc.name} (extra {OPTIONAL[exc.name]})")


def commands(doc: Path) -> list[tuple[str, int]]:
    """Each `tinygrad-bp ...` command of the bash blocks, with its expected exit status."""
    found = []
    for body in blocks(doc, "bash"):
        for line in body.splitlines():
            status = 0
            m = re.search(r"#\s*exit status (\d+)\s*$", line)
            if m:
                status = int(m.group(1))
            line = line.split("#")[0]
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("tinygrad-bp"):
                    found.append((part, status))
    return found


ALL_COMMANDS = [(doc, cmd, st) for doc in DOCS for cmd, st in commands(doc)]


@pytest.mark.parametrize(
    "doc,command,status", ALL_COMMANDS, ids=[f"{d.name}:{c[:50]}" for d, c, _ in ALL_COMMANDS]
)
def test_shell_commands_run(doc, command, status, workdir):
    args = shlex.split(command)[1:]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-m", "tinygrad_bp", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == status, r.stdout[-2000:] + r.stderr[-2000:]


def test_every_subcommand_has_help():
    from tinygrad_bp.cli import COMMANDS

    for name in ["", *COMMANDS]:
        r = subprocess.run(
            [sys.executable, "-m", "tinygrad_bp", *([name] if name else []), "--help"],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0 and "usage: tinygrad-bp" in r.stdout


def test_console_script_and_version():
    exe = Path(sys.executable).parent / "tinygrad-bp"
    if not exe.exists():
        pytest.skip("the console script is not installed next to this Python")
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    from tinygrad_bp import __version__

    assert r.returncode == 0 and r.stdout.strip() == f"tinygrad-bp {__version__}"
