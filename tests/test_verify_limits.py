"""`verify` never hangs and never crashes: every input answers or refuses, naming the limit."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygrad_bp.cli import main
from tinygrad_bp.derivatives.expr import ExpressionError, UndefinedError, parse
from tinygrad_bp.derivatives.limits import Limits
from tinygrad_bp.derivatives.verify import POINTS, VerifyError, verify_file, verify_text

ROOT = Path(__file__).resolve().parent.parent
# Time bounds are in CPU seconds of this process (time.process_time), which a busy
# machine does not stretch; only the FIFO test, where a bug would block, uses the clock.


def cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def refused(capsys, tmp_path, content: str | bytes, *flags: str) -> str:
    """Run `verify` on a file with `content`; it must exit 2 with one line on stderr."""
    path = tmp_path / "rules.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    start = time.process_time()
    status, out, err = cli(capsys, "verify", str(path), *flags)
    assert time.process_time() - start < 5
    assert status == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("tinygrad-bp: error: ")
    return err


@pytest.mark.parametrize(
    "content,message,flag",
    [
        ("d/dx x = " + "9" * 400, "numbers in a derivation have at most 30 digits", "--max-digits"),
        ("d/dx x = 0.1" + "1" * 40, "at most 30 digits", "--max-digits"),
        (
            "d/dx " + "+".join(["x"] * 3000) + " = 3000",
            "5,999 characters is too long",
            "--max-chars",
        ),
        ("d/dx " + "-" * 1500 + "x = 1", "nested too deeply", "--max-depth"),
        ("d/dx " + "x*(" * 150 + "x" + ")" * 150 + " = 1", "nested too deeply", "--max-depth"),
        ("d/dx " + "sin(" * 120 + "x" + ")" * 120 + " = 1", "nested too deeply", "--max-depth"),
        ("d/dx sin(x) = cos(x)\n" * 5000, "node evaluations", "--max-work"),
    ],
    ids=["digits", "decimals", "chars", "unary", "parens", "calls", "work"],
)
def test_each_limit_is_named_with_its_flag(capsys, tmp_path, content, message, flag):
    err = refused(capsys, tmp_path, content)
    assert message in err and flag in err


def test_raising_a_limit_lets_the_input_through(capsys, tmp_path):
    path = tmp_path / "rules.txt"
    path.write_text("d/dx x = 0.1" + "1" * 40 + "\n")
    status, out, _ = cli(capsys, "verify", str(path), "--max-digits", "50")
    assert status == 1 and "WRONG" in out  # d/dx x is 1, not 0.111...
    path.write_text("d/dx " + "x*(" * 150 + "x" + ")" * 150 + " = 151*x**150\n")
    status, out, _ = cli(capsys, "verify", str(path), "--max-depth", "400")
    assert status == 0


def test_numbers_beyond_float64_are_named():
    for text in ("10**10**10", "1e400", "x + 1e999", "2.0**5000 * x", "0x" + "f" * 300):
        with pytest.raises(ExpressionError, match="float64|at most"):
            parse(text, Limits(max_digits=1000))
    with pytest.raises(ExpressionError, match="no real value"):
        parse("x + 1/0")
    with pytest.raises(ExpressionError, match="no real value"):
        parse("log(-1) * x")


def test_deep_nesting_past_a_raised_limit_is_still_an_error():
    limits = Limits(max_chars=200_000, max_depth=10**6)
    for text in ("-" * 100_000 + "x", "(" * 5000 + "x" + ")" * 5000):
        with pytest.raises(ExpressionError):
            parse(text, limits)
    with pytest.raises(VerifyError):
        verify_text("d/dx " + "sin(" * 3000 + "x" + ")" * 3000 + " = 1", limits)


def test_thousands_of_terms_answer_quickly_or_are_refused():
    limits = Limits(max_chars=100_000)
    terms = "+".join(["x"] * 20_000)
    if sys.version_info >= (3, 11):
        with pytest.raises(ExpressionError, match="more terms or levels of nesting than Python"):
            parse(terms, limits)
    else:  # 3.10's parser takes 20,000 terms; checking them is refused by the work limit
        with pytest.raises(VerifyError, match=r"the limit is 500,000; raise it .*max_work"):
            verify_text(f"d/dx {terms} = 20000", limits)
    start = time.process_time()
    (v,) = verify_text("d/dx " + " + ".join(f"{k}*x" for k in range(1, 1001)) + " = 500500", limits)
    assert v.ok and time.process_time() - start < 5


def test_many_constants_are_sampled_not_enumerated():
    start = time.process_time()
    rule = "d/dx a*b*c*d*f*g*h*k*m*n*p*q*x = a*b*c*d*f*g*h*k*m*n*p*q"
    (v,) = verify_text(rule)
    assert v.ok and "27 of the 531,441 combinations" in v.note
    assert time.process_time() - start < 5
    (wrong,) = verify_text(rule[:-2])  # the factor q is missing on the right
    assert wrong.status == "wrong"
    (more,) = verify_text(rule, Limits(max_combinations=100))
    assert more.ok and more.points == 100 * len(POINTS)
    assert len(verify_text("d/dx a*b*c*x = a*b*c")[0].note) == 0  # 27 = 3**3: all tried


def test_limits_must_be_positive_whole_numbers():
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="max_work"):
            Limits(max_work=bad)


def test_limit_flags_reject_bad_values(capsys, tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("d/dx x = 1\n")
    for value in ("0", "-3", "1e3", "many", "nan"):
        with pytest.raises(SystemExit) as exc:
            main(["verify", str(path), "--max-work", value])
        assert exc.value.code == 2
        assert "--max-work" in capsys.readouterr().err


def test_every_limit_has_a_flag():
    from dataclasses import fields

    from tinygrad_bp.commands.verify import LIMIT_HELP

    assert set(LIMIT_HELP) == {f.name for f in fields(Limits)} - {"cli"}


# -- files ------------------------------


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "no rules or derivations"),
        (b"d/dx x = 1\x00\n", "binary"),
        (b"d/dx x = \xff\xfe1\n", "not UTF-8"),
        (bytes(range(256)) * 4, "binary"),
    ],
)
def test_unusable_files(capsys, tmp_path, content, message):
    assert message in refused(capsys, tmp_path, content)


def test_file_over_the_size_limit(capsys, tmp_path):
    err = refused(capsys, tmp_path, "d/dx x = 1\n" * 200_000)
    assert "over the limit of 1 MiB" in err and "--max-bytes" in err
    err = refused(capsys, tmp_path, "d/dx x = 1\n" * 20, "--max-bytes", "100")
    assert "over the limit of 100 bytes" in err


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory", "missing"])
def test_special_files_are_refused_at_once(capsys, tmp_path, kind):
    path = {"fifo": tmp_path / "pipe", "dev_zero": Path("/dev/zero")}.get(kind, tmp_path)
    if kind == "fifo":
        os.mkfifo(path)
    if kind == "missing":
        path = tmp_path / "none.txt"
    start = time.perf_counter()
    status, out, err = cli(capsys, "verify", str(path))
    assert time.perf_counter() - start < 10  # wall clock: a FIFO would block, not spin
    assert status == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(VerifyError):
        verify_file(path)


# -- output ------------------------------


def test_json_has_no_nan_infinity_or_negative_zero(capsys, tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("d/dx x**2 = -0.0*x\nd/dx ln(-1 - x**2) = 1\nd/dx x = 1\n")
    status, out, _ = cli(capsys, "verify", str(path), "--json")
    assert status == 1
    numbers = "".join(line for line in out.splitlines() if '"text"' not in line)
    assert not re.search(r"NaN|Infinity|-0(?![.\d]*[1-9])", numbers)
    data = json.loads(out)
    assert data[0]["claimed"] == 0.0 and data[0]["actual"] == 1.0  # at x = 0.5
    assert [d["status"] for d in data] == ["wrong", "undetermined", "correct"]
    status, out, _ = cli(capsys, "verify", str(path))
    assert "claimed 0," in out and "claimed -0" not in out


# -- fuzzing the expression language ------------------------------

ALPHABET = "x+-*/()., 0123456789eEa_^=<>%@!~&|[]{}'\"\\\n\t\x00éπ" + "sincoexplgqrtbhdfu"
FUNCS = ["sin", "exp", "log", "sqrt", "leaky_relu", "elu", "softplus", "relu", "diff", "coth"]


def _numbers():
    return st.one_of(
        st.integers(-(10**40), 10**40).map(str),
        st.floats(allow_nan=False).map(repr),
        st.sampled_from(["1e308", "1e-320", "0", "0.0", "5e-324", "1_000", "0x1f", "1j"]),
    )


def _expressions():
    leaves = st.one_of(_numbers(), st.sampled_from(["x", "a", "e", "pi", "alpha", "x.real"]))

    def grow(inner):
        binop = st.tuples(inner, st.sampled_from("+ - * / ** % // @ << == and".split()), inner)
        call = st.tuples(
            st.sampled_from(FUNCS),
            st.lists(inner, max_size=3),
            st.lists(st.tuples(st.sampled_from(["slope", "alpha", "base"]), inner), max_size=2),
        )
        return st.one_of(
            binop.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda s: f"-{s}"),
            call.map(lambda t: f"{t[0]}({', '.join([*t[1], *(f'{k}={v}' for k, v in t[2])])})"),
        )

    return st.recursive(leaves, grow, max_leaves=12)


def _parse_or_refuse(text: str):
    start = time.process_time()
    try:
        expr = parse(text)
    except ExpressionError:
        expr = None
    assert time.process_time() - start < 5  # a moment, with room for a busy machine
    return expr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(ALPHABET, max_size=60))
def test_random_text_parses_or_raises_expression_error(text):
    _parse_or_refuse(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions(), st.sampled_from([-2.5, -1e-300, 0.5, 3.0, 1e300]))
def test_random_expressions_evaluate_or_say_why(text, x):
    expr = _parse_or_refuse(text)
    if expr is None:
        return
    constants = {c: 2.0 for c in expr.constants}
    for method in (expr.value, expr.derivative):
        try:
            out = method(x, constants)
        except (UndefinedError, ExpressionError):
            continue
        assert isinstance(out, float) and math.isfinite(out)


def test_never_eval():
    source = (ROOT / "tinygrad_bp" / "derivatives" / "expr.py").read_text()
    source = source.replace("def compile(", "")
    assert not re.search(r"(?<![.\w])(eval|exec|compile|__import__)\(", source)


def test_python_m_and_script_agree_on_a_refusal(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("d/dx x = " + "9" * 400 + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-m", "tinygrad_bp", "verify", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2 and "--max-digits" in r.stderr and "Traceback" not in r.stderr


def _files():
    expr = _expressions()
    line = st.one_of(
        st.tuples(expr, expr).map(lambda t: f"d/dx {t[0]} = {t[1]}"),
        expr.map(lambda e: f"= {e}"),
        expr,
        st.sampled_from(["", "# comment", "=", "d/dx", "d/dx x = 1 = 1"]),
    )
    return st.lists(line, max_size=6).map("\n".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files())
def test_random_files_give_verdicts_or_a_verify_error(text):
    try:
        verdicts = verify_text(text)
    except VerifyError as exc:
        assert str(exc).count("\n") == 0
        return
    for v in verdicts:
        assert v.status in ("correct", "wrong", "undetermined")
        json.dumps(v.to_dict(), allow_nan=False)
        v.describe()
