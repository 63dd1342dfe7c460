"""Case files: the examples check as their comments say; the strict schema; hostile input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinygrad_bp.cli import main
from tinygrad_bp.slides.case import CaseError, judge, last_digit_unit, load_case
from tinygrad_bp.slides.judge import agrees

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "examples" / "cases"


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def verdicts(name: str) -> dict[str, tuple[str, list[str]]]:
    result = judge(load_case(CASES / name))
    return {v.claim.name: (v.status, v.slips) for v in result.verdicts}


def not_ok(name: str) -> dict[str, tuple[str, list[str]]]:
    return {k: v for k, v in verdicts(name).items() if v[0] != "ok"}


def test_worked_example_2_the_textbook_net():
    assert not_ok("worked_example_2.toml") == {
        "f'(y_in)": ("wrong", ["wrong_derivative"]),
        "dE/dw11": ("wrong", ["value_for_weight"]),
    }


def test_worked_example_2_has_the_textbook_forward_values():
    truth = judge(load_case(CASES / "worked_example_2.toml")).comparison.forward
    assert round(truth["y_h1"], 3) == 0.332
    assert round(truth["y_h2"], 3) == 0.525
    assert round(truth["y3"], 3) == 0.474


def test_deep_tanh_softmax():
    assert not_ok("deep_tanh_softmax.toml") == {
        "f'(v4)": ("wrong", ["wrong_derivative"]),
        "delta4": ("follows", []),
        "dE/dw32": ("wrong", ["sign"]),
    }


def test_batch_two_examples():
    assert not_ok("batch_two_examples.toml") == {
        "Delta_w21": ("wrong", ["dropped_eta"]),
        "w21_new": ("follows", []),
        "w31_new": ("wrong", ["sign"]),
    }


def test_v1_linear_case_with_its_slip():
    assert not_ok("linear_2_2_1.toml") == {"dE/dw22": ("wrong", ["wrong_input"])}


@pytest.mark.parametrize("name", ["slides_2_3_1.toml", "tanh_1_1_2.toml", "sigmoid_2_2_2.toml"])
def test_v1_files_still_all_ok(name):
    assert not_ok(name) == {}


def test_every_example_case_file_is_covered():
    covered = {
        "worked_example_1.toml",
        "worked_example_2.toml",
        "deep_tanh_softmax.toml",
        "batch_two_examples.toml",
        "slides_2_3_1.toml",
        "tanh_1_1_2.toml",
        "sigmoid_2_2_2.toml",
        "linear_2_2_1.toml",
    }
    assert {p.name for p in CASES.glob("*.toml")} == covered


# -- the loose claims of the old tolerance are flagged -------------------------------------
LOOSE = """
[network]
eta = 0.5
[[layer]]
W = [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]]
b = [0.1, 0.3, -0.1]
activation = "sigmoid"
[[layer]]
W = [[0.7, -0.8, 0.9]]
b = [0.1]
activation = "linear"
[[data]]
x = [1.0, 0.5]
d = [0.5]
[claims]
"""


@pytest.mark.parametrize("claim", ["w41_new = 1", "E = 0", '"dE/dw11" = 0.0', "y_h1 = 1"])
def test_a_round_number_is_not_a_free_pass(tmp_path, claim):
    path = tmp_path / "c.toml"
    path.write_text(LOOSE + claim + "\n")
    (v,) = judge(load_case(path)).verdicts
    assert v.status == "wrong"


def test_one_unit_of_the_last_digit_is_ok(tmp_path):
    path = tmp_path / "c.toml"
    # by hand: v1 = 0.1 + 0.1 + 0.1 = 0.3, y_h1 = 1 / (1 + e^-0.3) = 0.574443
    path.write_text(LOOSE + "v1 = 0.3\ny_h1 = 0.574\ny_h2 = 0.6\n")
    got = {v.claim.name: v.status for v in judge(load_case(path)).verdicts}
    assert got == {"v1": "ok", "y_h1": "ok", "y_h2": "ok"}  # y_h2 = 0.598688


# -- strict schema ------------------------------------------------------------------------
GOOD = (CASES / "worked_example_1.toml").read_text()
ETA = "\neta = 0.25\n"


@pytest.mark.parametrize(
    "mutate,expect",
    [
        (lambda s: s.replace("[[layer]]", "[[layers]]", 1), "did you mean [layer]"),
        (lambda s: s.replace("activation", "activaton", 1), "did you mean 'activation'"),
        (lambda s: s.replace('loss = "half_sse"', 'loss = "l2"'), "expected one of half_sse"),
        (lambda s: s.replace(ETA, ETA + 'mode = "mini"\n'), "online or batch"),
        (lambda s: s.replace(ETA, ETA + "steps = -1\n"), "steps"),
        (lambda s: s.replace('w1 = "w11"', 'w1 = "w99"'), "[names] w1"),
        (lambda s: s.replace("e = 0.18", '"e@3" = 0.18'), "steps = 1"),
        (lambda s: s.replace("e = 0.18", "etta = 0.18"), "[claims] etta"),
        (lambda s: s.replace('activation = "sigmoid"', 'activation = "softmax"', 1), "softmax"),
        (lambda s: s.replace("b = [-0.1]", 'b = [-0.1]\nfrozen = ["bias"]'), "frozen"),
        (lambda s: s.replace(ETA, "\neta = 1" + "0" * 400 + "\n"), "too large"),
        (lambda s: s.replace("h_in = 0.355", "h_in = 0.0e99999"), "exponent"),
        (lambda s: s.replace("h_in = 0.355", "h_in = nan"), "finite"),
        (lambda s: s.replace("h_in = 0.355", "h_in = true"), "expected a number"),
        (lambda s: s.replace("h_in = 0.355", "h.in = 0.355"), "quote names"),
        (lambda s: s.replace(ETA, "\neta = " + "[" * 3000 + "]" * 3000 + "\n"), "nested"),
    ],
)
def test_bad_case_files_one_clear_line_exit_2(tmp_path, capsys, mutate, expect):
    path = tmp_path / "case.toml"
    path.write_text(mutate(GOOD))
    status, out, err = run(capsys, "check", str(path))
    assert status == 2, err
    assert expect in err and str(path) in err
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""


def test_errors_name_the_line(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(GOOD.replace("e = 0.18", "etta = 0.18"))
    line = 1 + GOOD.splitlines().index("e = 0.18                 # y - y_out")
    with pytest.raises(CaseError, match=f"case.toml:{line}:"):
        load_case(path)


def test_batch_needs_the_example_named(tmp_path):
    text = (CASES / "batch_two_examples.toml").read_text()
    path = tmp_path / "b.toml"
    path.write_text(text.replace('"y3[1]" = 2', "y3 = 2"))
    with pytest.raises(CaseError, match=r"say which example, e.g. y3\[1\]"):
        load_case(path)


# -- hostile files and arguments --------------------------------------------------------------
@pytest.mark.parametrize(
    "content,expect",
    [
        (b"\x00\x01binary", "binary"),
        (b"\xff\xfe latin-1 \xe9", "not UTF-8"),
        (b"", "empty"),
        (b"# just a comment\n", "empty"),
        (b"a" * (2 << 20), "over the limit of 1 MiB"),
        (b"[network\n", "not a valid TOML"),
    ],
)
def test_hostile_case_files(tmp_path, capsys, content, expect):
    path = tmp_path / "case.toml"
    path.write_bytes(content)
    start = time.perf_counter()
    status, out, err = run(capsys, "check", str(path))
    assert status == 2 and expect in err and "Traceback" not in err
    assert time.perf_counter() - start < 10


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_dev_zero_answer_at_once(tmp_path):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for target in (str(fifo), "/dev/zero"):
        r = subprocess.run(
            [sys.executable, "-m", "tinygrad_bp", "check", target],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert r.returncode == 2 and "not a regular file" in r.stderr
        assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["check"],
        ["check", "missing.toml"],
        ["check", "CASE", "--rtol", "nan"],
        ["check", "CASE", "--rtol", "-0.1"],
        ["check", "CASE", "--max-bytes", "0"],
        ["check", "CASE", "--max-quantities", "10"],
        ["compare", "--eta", "nan"],
        ["compare", "--eta", "inf"],
        ["compare", "--eta", "-1"],
        ["compare", "--sizes", ""],
        ["compare", "--sizes", "1,1,1,1"],
        ["compare", "--seed", "-1"],
        ["compare", "--hidden", ""],
        ["compare", "--hidden", "elu(nan)"],
        ["compare", "--max-params", "-5"],
        ["compare", "--sizes", "200,200,200"],
    ],
)
def test_cli_abuse_exits_2_without_a_traceback(capsys, argv):
    argv = [str(CASES / "worked_example_1.toml") if a == "CASE" else a for a in argv]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        status = exc.code
    _, err = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in err and err.strip()


def test_json_output_has_no_nan(tmp_path, capsys):
    # bce with an output that saturates (y rounds to 1): E = 900 * sigmoid(800) = 900, finite
    path = tmp_path / "c.toml"
    path.write_text(
        '[network]\nloss = "bce"\neta = 0.1\n[[layer]]\nW = [[800.0]]\nb = [0.0]\n'
        'activation = "sigmoid"\n[[layer]]\nW = [[900.0]]\nb = [0.0]\nactivation = "sigmoid"\n'
        "[[data]]\nx = [1.0]\nd = [0.0]\n[claims]\nE = 1\n"
    )
    status, out, _ = run(capsys, "check", str(path), "--json")
    assert "NaN" not in out and "Infinity" not in out
    json.loads(out)
    assert status in (0, 1)


def test_the_walkthrough_shows_the_real_output():
    doc = (ROOT / "docs" / "case-examples.md").read_text()
    blocks = re.findall(r"```text\n(case (examples/cases/\S+?):.*?)\n```", doc, re.S)
    assert len(blocks) == 4
    for text, path in blocks:
        r = subprocess.run(
            [sys.executable, "-m", "tinygrad_bp", "check", path],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
        assert r.stdout.rstrip() == text


def test_softmax_outputs_have_no_fprime(tmp_path):
    text = (CASES / "deep_tanh_softmax.toml").read_text()
    path = tmp_path / "s.toml"
    path.write_text(text.replace("delta5 = 0.661", '"f\'(v5)" = 0.2'))
    with pytest.raises(CaseError, match="no f'\\(v\\) of their own; claim delta5"):
        load_case(path)


def test_json_claims_carry_the_judgement(capsys):
    status, out, _ = run(capsys, "check", str(CASES / "batch_two_examples.toml"), "--json")
    claims = {c["name"]: c for c in json.loads(out)["claims"]}
    for c in claims.values():
        assert {"status", "true", "follows_from", "slips", "explanation"} <= set(c)
    assert claims["w21_new"]["follows_from"] == ["Delta_w21"]
    assert claims["w21_new"]["true"] == pytest.approx(0.25 - 0.1 * 12)  # worked by hand
    assert claims["Delta_w21"]["slips"] == ["dropped_eta"]


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: abs(x) > 1e-3),
    st.integers(0, 6),
)
def test_the_precision_written(x, decimals):
    text = f"{x:.{decimals}f}"
    written = float(text)
    unit = 10.0**-decimals
    assume(abs(x) >= 10 * unit)  # else the 10% cap decides
    assume(unit >= 1e-8 * abs(x))  # finer than that is floating-point noise
    assert agrees(written, last_digit_unit(text), x)
    assert not agrees(written + 2.5 * unit, last_digit_unit(text), x)
