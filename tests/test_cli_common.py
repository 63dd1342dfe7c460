"""What every command of the command line does alike: help, usage errors, exit statuses, pipes.

Every test iterates over `tinygrad_bp.cli.COMMANDS`, so a command added later is
covered without a change here. Exit statuses (see docs/errors-and-limits.md): 0
success, 1 a check found something wrong, 2 a usage or input error or a closed
output, 130 interrupted.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tinygrad_bp.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@functools.cache
def scratch() -> Path:
    """A folder that sees the repository's examples/; what commands write lands here."""
    folder = Path(tempfile.mkdtemp(prefix="cli-common-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "examples").symlink_to(ROOT / "examples")
    return folder


def run(*args: str, stdout=subprocess.PIPE, script: bool = False) -> subprocess.CompletedProcess:
    """`python -m tinygrad_bp ARGS` (or the console script), in a scratch folder."""
    exe = [_script()] if script else [sys.executable, "-m", "tinygrad_bp"]
    return subprocess.run(
        [*exe, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, env=ENV, cwd=scratch(),
        timeout=120,
    )  # fmt: skip


def _script() -> str:
    exe = Path(sys.executable).parent / "tinygrad-bp"
    found = str(exe) if exe.exists() else shutil.which("tinygrad-bp")
    if not found:
        pytest.skip("the tinygrad-bp console script is not installed")
    return found


def one_line_error(r: subprocess.CompletedProcess, usage: bool = True) -> str:
    """Exit status 2 and one line on stderr; a usage error reads 'tinygrad-bp ...: error: ...'."""
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tinygrad-bp"), r.stderr
    assert "error: " in r.stderr or not usage, r.stderr
    return r.stderr


def documented_json_call(command: str) -> list[str] | None:
    """The first `tinygrad-bp COMMAND ... --json` line of the docs, as arguments."""
    pattern = re.compile(rf"^tinygrad-bp {command} (.*--json.*?)\s*(#.*)?$", re.M)
    for doc in DOCS:
        m = pattern.search(doc.read_text())
        if m:
            return [command, *m.group(1).split()]
    return None


@functools.cache
def help_of(command: str) -> subprocess.CompletedProcess:
    return run(command, "--help")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_0(command):
    r = help_of(command)
    assert r.returncode == 0 and r.stdout.startswith(f"usage: tinygrad-bp {command}")
    assert r.stderr == ""


# Commands without --json, and why; a command printing numbers must not be here for long.
NO_JSON = {
    "draw": "writes a picture and prints no numbers",
    "train": "prints losses but has no --json yet",
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_printing_numbers_has_json(command):
    has_json = "--json" in help_of(command).stdout
    if command in NO_JSON and not has_json:
        pytest.skip(NO_JSON[command])
    assert has_json


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_flag_is_one_line_exit_2(command):
    positionals: list[str] = []
    err = one_line_error(run(command, "--no-such-flag"))
    while "required" in err and len(positionals) < 6:  # required arguments are named first
        missing = err.split("required:", 1)[1].split()[0].rstrip(",")
        positionals += [missing, "some-file"] if missing.startswith("--") else ["some-file"]
        err = one_line_error(run(command, *positionals, "--no-such-flag"))
    # a required option (grade --key) is named before an unknown flag: still one line, exit 2
    assert ("--no-such-flag" in err or "required: --" in err) and "--help" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_value_of_a_flag_is_one_line_exit_2(command):
    # limits (--max-...), seeds, digits and tolerances are numbers: a word there is a usage error
    numeric = re.findall(r"(--(?:max-[a-z-]+|seed|digits|rtol))\b", help_of(command).stdout)
    flag = numeric[0] if numeric else None
    if flag is None:
        pytest.skip(f"{command} has none of the flags this test knows")
    err = one_line_error(run(command, flag, "many"))
    assert flag in err


def test_unknown_command_and_bare_call():
    err = one_line_error(run("no-such-command"))
    assert "invalid choice" in err and all(c in err for c in COMMANDS)
    r = run()
    assert r.returncode == 2 and r.stdout == "" and "usage: tinygrad-bp" in r.stderr
    assert all(c in r.stderr for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_python_m_and_the_script_agree(command):
    a, b = run(command, "--no-such-flag"), run(command, "--no-such-flag", script=True)
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)
    if command == COMMANDS[0]:
        assert run(command, "--help", script=True).stdout == help_of(command).stdout


def closed_pipe(args: list[str]) -> subprocess.CompletedProcess:
    """Run with standard output a pipe whose reading end is already closed (`| head -c 0`)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return run(*args, stdout=write)
    finally:
        os.close(write)


@pytest.mark.parametrize("command", COMMANDS)
def test_closed_output_ends_quietly(command):
    args = documented_json_call(command) or [command, "--help"]
    r = closed_pipe(args)
    assert r.returncode in (0, 2), r.stderr
    # no traceback, no "Exception ignored" at exit (a note such as "wrote report/..." may stay)
    assert "Traceback" not in r.stderr and "Exception" not in r.stderr, r.stderr


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], *([c, "--help"] for c in COMMANDS)], ids=" ".join
)
def test_help_and_version_into_a_closed_pipe_exit_0_quietly(args):
    """As argparse does from Python 3.11 on, whose help swallows a closed output (3.10's not)."""
    r = closed_pipe(args)
    assert (r.returncode, r.stderr) == (0, "")


def test_output_closed_after_one_byte():
    """`tinygrad-bp verify ... --json | head -c 1`: the reader goes away mid-output."""
    args = documented_json_call("verify")
    assert args is not None
    p = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_bp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        cwd=scratch(),
    )
    assert p.stdout.read(1) == b"["
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) in (0, 1, 2) and err == "", err


def test_input_errors_from_a_command_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a command writes lands here
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\x00\x01binary")
    for command in COMMANDS:
        try:
            status = main([command, str(path)])
        except SystemExit as exc:  # a command without a file argument: a usage error
            status = exc.code
        err = capsys.readouterr().err
        assert status in (0, 1, 2) and "Traceback" not in err
        if status == 2:
            assert err.count("\n") == 1 and err.startswith("tinygrad-bp"), err


def test_interrupt_is_130(monkeypatch, capsys, tmp_path):
    from tinygrad_bp.commands import verify

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "verify_file", interrupted)
    assert main(["verify", str(tmp_path / "any.txt")]) == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.mark.parametrize(
    "error,status",
    [(ValueError("bad value"), 2), (OSError("disk full"), 2), (ZeroDivisionError("x"), 2)],
)
def test_errors_of_a_command_become_one_line(monkeypatch, capsys, tmp_path, error, status):
    from tinygrad_bp.commands import verify

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(verify, "verify_file", fail)
    assert main(["verify", str(tmp_path / "any.txt")]) == status
    err = capsys.readouterr().err
    assert err == f"tinygrad-bp: error: {error}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_limit_flag_is_in_the_errors_and_limits_page(command):
    page = (ROOT / "docs" / "errors-and-limits.md").read_text()
    flags = set(re.findall(r"--max-[a-z-]+|--force\b", help_of(command).stdout))
    missing = [f for f in sorted(flags) if f"`{command} {f}" not in page]
    assert not missing, f"docs/errors-and-limits.md has no row for {command} {missing}"
