"""The expression language and `verify`: the seeds' slips are flagged, nothing else is."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tinygrad_bp.cli import main
from tinygrad_bp.derivatives.expr import ExpressionError, UndefinedError, parse
from tinygrad_bp.derivatives.verify import VerifyError, verify_rule, verify_step, verify_text

DERIVATIVES = Path(__file__).resolve().parent.parent / "examples" / "derivatives"


@pytest.mark.parametrize(
    "text,x,expected",
    [
        ("sin(x)**2 + cos(x)**2", 0.7, 1.0),
        ("log(x, 2)", 8.0, 3.0),
        ("ln(e)", 3.0, 1.0),
        ("sqrt(abs(-x))", 4.0, 2.0),
        ("coth(x) * tanh(x)", 1.3, 1.0),
        ("sech(x) * cosh(x) + csch(x) * sinh(x)", 0.4, 2.0),
        ("sigmoid(x) + sigmoid(-x)", 2.5, 1.0),
        ("-x**2", 3.0, -9.0),
        ("diff(x**3)", 2.0, 12.0),
        ("diff(sin(x)) - cos(x)", 0.3, 0.0),
        ("pi / 4 - tan(1)**0 * pi / 4", 1.0, 0.0),
    ],
)
def test_expressions_evaluate_to_their_closed_forms(text, x, expected):
    assert parse(text).value(x) == pytest.approx(expected, abs=1e-12)


def test_derivative_by_reverse_mode_against_closed_forms():
    cases = [
        ("coth(x)", lambda x: -1 / math.sinh(x) ** 2),
        ("csch(x)", lambda x: -1 / (math.sinh(x) * math.tanh(x))),
        ("a**x", lambda x: 2.0**x * math.log(2.0)),
        ("log(x, a)", lambda x: 1 / (x * math.log(2.0))),
        ("abs(x)**1.5", lambda x: 1.5 * math.sqrt(abs(x)) * math.copysign(1, x)),
    ]
    for text, closed in cases:
        for x in (0.3, 1.7, -0.8):
            if text == "log(x, a)" and x < 0:
                continue
            assert parse(text).derivative(x, {"a": 2.0}) == pytest.approx(closed(x), rel=1e-12)


def test_outside_the_domain_is_undefined():
    for text, x in [("ln(x)", -1.0), ("1/x", 0.0), ("sqrt(x)", -2.0), ("coth(x)", 0.0),
                    ("exp(x)", 1000.0), ("log(x, 1)", 2.0)]:  # fmt: skip
        with pytest.raises(UndefinedError):
            parse(text).value(x)


@pytest.mark.parametrize(
    "text,piece",
    [
        ("__import__('os').system('ls')", "__import__"),
        ("x.real", "x.real"),
        ("lambda: x", "lambda"),
        ("[x for x in [1]]", "for"),
        ("'abc'", "abc"),
        ("foo(x)", "foo"),
        ("open('f')", "open"),
        ("sin(x, 2)", "sin(x, 2)"),
        ("exp(x=1)", "exp(x=1)"),
        ("x if x else 1", "x if x else 1"),
        ("x[0]", "x[0]"),
        ("x == 1", "x == 1"),
        ("diff(diff(x))", "diff(x)"),
        ("x^2", "**"),
        ("2x", "2*x"),
        ("sin", "sin(x)"),
        ("alpha", "alpha"),
        ("", "empty"),
    ],
)
def test_anything_outside_the_whitelist_is_rejected_by_name(text, piece):
    with pytest.raises(ExpressionError, match=None) as exc:
        parse(text)
    assert piece in str(exc.value)


def test_verify_rule_api():
    wrong = verify_rule("coth(x)", "-cosh(x)**2")
    assert not wrong.ok and wrong.status == "wrong"
    assert wrong.actual == pytest.approx(-1 / math.sinh(wrong.x) ** 2, rel=1e-12)
    assert wrong.claimed == pytest.approx(-(math.cosh(wrong.x) ** 2), rel=1e-12)
    assert verify_rule("coth(x)", "-csch(x)**2").ok
    assert verify_rule("a**x", "a**x * ln(a)").ok
    assert not verify_rule("x**a", "x**(a-1)").ok  # the factor a is missing
    assert verify_step("(x+1)**2", "x**2 + 2*x + 1").ok


def test_measure_zero_identity_and_nowhere_defined_are_not_correct():
    step = verify_step("x**2", "x")  # equal only at 0 and 1
    assert step.status == "wrong"
    nowhere = verify_rule("ln(-1 - x**2)", "1")
    assert nowhere.status == "undetermined" and "nowhere both defined" in nowhere.note
    sparse = verify_rule("sqrt(-x**2)", "0")  # defined only at x = 0, not sampled
    assert not sparse.ok


def test_seeds_table_flags_exactly_the_two_slips():
    verdicts = verify_text((DERIVATIVES / "useful_derivatives.txt").read_text())
    wrong = {v.text for v in verdicts if not v.ok}
    assert wrong == {"d/dx coth(x) = -cosh(x)**2", "d/dx cosh(x) = -cosh(x)*coth(x)"}
    assert all(
        v.ok for v in verify_text((DERIVATIVES / "useful_derivatives_corrected.txt").read_text())
    )


def wrong_lines(name):
    return [v.line for v in verify_text((DERIVATIVES / name).read_text()) if not v.ok]


def test_slides_sigmoid_derivation_flags_its_slips():
    text = (DERIVATIVES / "sigmoid_slides.txt").read_text().splitlines()
    marked = [i for i, line in enumerate(text, 1) if "# slip" in line]
    assert wrong_lines("sigmoid_slides.txt") == marked == [3, 5, 7]


def test_worked_examples_derivations_flag_exactly_the_wrong_line():
    text = (DERIVATIVES / "sigmoid_worked_examples.txt").read_text().splitlines()
    marked = [i for i, line in enumerate(text, 1) if "# slip" in line]
    assert wrong_lines("sigmoid_worked_examples.txt") == marked and len(marked) == 1
    assert wrong_lines("sigmoid_corrected.txt") == []


def test_a_fixed_line_passes():
    text = (DERIVATIVES / "sigmoid_worked_examples.txt").read_text()
    fixed = text.replace(
        "= (1 + exp(-x))/(1+exp(-x))**2 * 1/(1+exp(-x))**2",
        "= (1 + exp(-x))/(1+exp(-x))**2 - 1/(1+exp(-x))**2",
    )
    assert all(v.ok for v in verify_text(fixed))


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_text_and_json(capsys):
    status, out, _ = run(capsys, "verify", str(DERIVATIVES / "useful_derivatives.txt"))
    assert status == 1 and "WRONG at x = 0.5" in out and "true derivative" in out
    status, out, _ = run(capsys, "verify", str(DERIVATIVES / "useful_derivatives.txt"), "--json")
    data = json.loads(out)
    bad = [d for d in data if not d["ok"]]
    assert [d["line"] for d in bad] == [12, 13]
    assert set(bad[0]) >= {"line", "text", "ok", "x", "claimed", "actual"}
    status, _, _ = run(capsys, "verify", str(DERIVATIVES / "sigmoid_corrected.txt"))
    assert status == 0


@pytest.mark.parametrize(
    "content,expect",
    [
        ("", "no rules or derivations"),
        ("# only a comment\n\n", "no rules or derivations"),
        ("d/dx sin(x = cos(x)\n", "line 1"),
        ("d/dx __import__('os') = 1\n", "line 1: unknown function '__import__'"),
        ("d/dx x.real = 1\n", "attribute access"),
        ("d/dx foo(x) = 1\n", "unknown function 'foo'"),
        ("= x\n", "line 1: '= x' continues a derivation"),
        ("x**2\n", "line 1: an expression with no '= ...' step"),
        ("d/dx x = 1 = 1\n", "one '='"),
        ("d/dx diff(x**2) = 2\n", "second derivative"),
        ("sin(x)\n= 'a'\n", "line 2: only real numbers"),
        ("x == 1\n", "line 1"),
    ],
)
def test_unusable_files_exit_2_with_line_and_reason(tmp_path, capsys, content, expect):
    path = tmp_path / "rules.txt"
    path.write_text(content)
    status, out, err = run(capsys, "verify", str(path))
    assert status == 2 and expect in err and "Traceback" not in err and out == ""


def test_missing_file(tmp_path, capsys):
    status, _, err = run(capsys, "verify", str(tmp_path / "none.txt"))
    assert status == 2 and "no such file" in err


def test_verify_error_is_a_value_error():
    with pytest.raises(VerifyError):
        verify_text("")
