"""`tinygrad-bp compare` and `tinygrad-bp check`, run as a user runs them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tinygrad_bp.cli import main
from tinygrad_bp.slides.case import last_digit_unit

CASES = Path(__file__).resolve().parent.parent / "examples" / "cases"


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_compare_default_net_agrees(capsys):
    status, out, _ = run(capsys, "compare")
    assert status == 0
    assert "AGREE" in out
    for name in ["w11", "w43", "b4"]:
        assert f"\n{name} " in out


def test_compare_json_has_every_parameter(capsys):
    status, out, _ = run(
        capsys, "compare", "--sizes", "3,4,2", "--hidden", "tanh", "--output", "sigmoid", "--json"
    )
    data = json.loads(out)
    assert status == 0 and data["agree"] is True
    assert len(data["parameters"]) == 3 * 4 + 4 + 4 * 2 + 2
    row = data["parameters"]["w51"]
    assert row["gradient"]["value_engine"] == pytest.approx(row["gradient"]["numeric"], rel=1e-6)
    assert row["delta"] == pytest.approx(-0.5 * row["gradient"]["rules"])


@pytest.mark.parametrize(
    "bad",
    [
        ["--sizes", "2,3"],
        ["--sizes", "a,b,c"],
        ["--hidden", "softmax"],
        ["--hidden", "leaky_relu(a)"],
        ["--eta", "-1"],
    ],
)
def test_compare_bad_arguments_exit_2(capsys, bad):
    with pytest.raises(SystemExit) as exc:
        main(["compare", *bad])
    assert exc.value.code == 2


def sigmoid(v):
    return 1 / (1 + math.exp(-v))


def test_check_flags_exactly_the_slips_of_the_worked_example(capsys):
    status, out, _ = run(capsys, "check", str(CASES / "worked_example_1.toml"), "--json")
    data = json.loads(out)
    assert status == 1
    wrong = {c["name"] for c in data["claims"] if not c["ok"]}
    assert wrong == {"dE/dw12", "w12_new"}
    # the true values, worked out here independently of the package
    v1 = 0.25 * 0.5 + 0.3 * 1.1 - 0.1
    h = sigmoid(v1)
    y = sigmoid(0.33 * h + 0.3)
    back = (0.8 - y) * y * (1 - y)
    dw12 = -back * 0.33 * h * (1 - h) * 1.1
    actual = {c["name"]: c["actual"] for c in data["claims"]}
    assert actual["dE/dw12"] == pytest.approx(dw12, rel=1e-12)
    assert actual["w12_new"] == pytest.approx(0.3 - 0.25 * dw12, rel=1e-12)
    assert actual["dE/dw21"] == pytest.approx(-back * h, rel=1e-12)
    assert data["E"] == pytest.approx(0.5 * (0.8 - y) ** 2, rel=1e-12)
    assert data["agree"] is True
    assert set(data) == {"forward", "E", "parameters", "claims", "agree"}
    assert set(data["parameters"]["w11"]) >= {
        "value",
        "autodiff",
        "rules",
        "numeric",
        "delta",
        "new",
    }
    assert data["forward"]["y_h1"] == pytest.approx(h, rel=1e-14)


def test_check_with_a_tighter_tolerance_flags_more(capsys):
    status, out, _ = run(
        capsys, "check", str(CASES / "worked_example_1.toml"), "--json", "--rtol", "0"
    )
    wrong = {c["name"] for c in json.loads(out)["claims"] if not c["ok"]}
    # 0.491 (off by 0.003) and 0.0162 (off by 0.00019) now fail the last-digit rule alone
    assert {"v2", "E", "dE/dw12", "w12_new"} <= wrong


@pytest.mark.parametrize(
    "case,wrong",
    [("linear_2_2_1.toml", {"dE/dw22"}), ("tanh_1_1_2.toml", set()), ("sigmoid_2_2_2.toml", set())],
)
def test_own_cases(capsys, case, wrong):
    status, out, _ = run(capsys, "check", str(CASES / case), "--json")
    data = json.loads(out)
    assert {c["name"] for c in data["claims"] if not c["ok"]} == wrong
    assert status == (1 if wrong else 0)


def test_check_prints_a_readable_report(capsys):
    status, out, _ = run(capsys, "check", str(CASES / "worked_example_1.toml"))
    assert "WRONG" in out and "dE/dw12" in out and "2 wrong" in out


@pytest.mark.parametrize(
    "text,unit",
    [("0.587", 1e-3), ("-0.024", 1e-3), ("2", 1.0), ("1.6e-3", 1e-4), ("0.25042", 1e-5)],
)
def test_last_digit_unit(text, unit):
    assert last_digit_unit(text) == pytest.approx(unit)


GOOD = (CASES / "worked_example_1.toml").read_text()


@pytest.mark.parametrize(
    "mutate,expect",
    [
        (lambda s: s.replace("[network]", "[net]"), "missing section [network]"),
        (lambda s: s.replace('hidden = "sigmoid"', 'hidden = "softmax"'), "[network] hidden"),
        (lambda s: s.replace("hidden = [[0.25, 0.3]]", "hidden = [[0.25]]"), "[weights] hidden"),
        (lambda s: s.replace("output = [[0.33]]", "output = [[0.33, 1.0]]"), "[weights] output"),
        (lambda s: s.replace("d = [0.8]", "d = [0.8, 0.1]"), "[input] d"),
        (lambda s: s.replace("x = [0.5, 1.1]", 'x = [0.5, "a"]'), "[input] x[1]"),
        (lambda s: s.replace("v1 = 0.355", "v9 = 0.355"), "'v9'"),
        (lambda s: s.replace("eta = 0.25", ""), "[network] eta"),
        (
            lambda s: s.replace("hidden_bias = [-0.1]", "hidden_bias = -0.1"),
            "[weights] hidden_bias",
        ),
        (lambda s: s + "\n[[[", "not a valid TOML"),
        (lambda s: "just some text", "not a valid TOML"),
    ],
)
def test_bad_case_files_get_one_clear_message_and_exit_2(tmp_path, capsys, mutate, expect):
    path = tmp_path / "case.toml"
    path.write_text(mutate(GOOD))
    status, out, err = run(capsys, "check", str(path))
    assert status == 2
    assert str(path) in err and expect in err
    assert "Traceback" not in err and out == ""


def test_missing_case_file(tmp_path, capsys):
    status, _, err = run(capsys, "check", str(tmp_path / "nope.toml"))
    assert status == 2 and "no such file" in err
