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


def statuses(data):
    return {c["name"]: (c["status"], c["slips"]) for c in data["claims"]}


def test_check_judges_the_worked_example_as_the_notes_err(capsys):
    status, out, _ = run(capsys, "check", str(CASES / "worked_example_1.toml"), "--json")
    data = json.loads(out)
    assert status == 1
    got = statuses(data)
    assert got["y_in"] == ("rounding", [])  # 0.58 used for 0.587
    assert got["E"] == ("follows", [])  # 1/2 0.18^2 from the claimed e
    assert got["dE/dw2"] == ("wrong", ["arithmetic"])
    assert got["w2_new"] == ("wrong", ["wrong_old_value", "sign"])
    assert {k for k, (s, _) in got.items() if s == "ok"} == {
        "h_in", "h_out", "y_out", "e", "dE/dw_h", "w_h_new", "dE/dw1", "Delta_w1", "w1_new",
    }  # fmt: skip
    # the true values, worked out here independently of the package
    v1 = 0.25 * 0.5 + 0.3 * 1.1 - 0.1
    h = sigmoid(v1)
    y = sigmoid(0.33 * h + 0.3)
    back = (0.8 - y) * y * (1 - y)
    dw12 = -back * 0.33 * h * (1 - h) * 1.1
    true = {c["name"]: c["true"] for c in data["claims"]}
    assert true["dE/dw2"] == pytest.approx(dw12, rel=1e-12)
    assert true["w2_new"] == pytest.approx(0.3 - 0.25 * dw12, rel=1e-12)
    assert true["dE/dw_h"] == pytest.approx(-back * h, rel=1e-12)
    assert data["forward"]["E"] == pytest.approx(0.5 * (0.8 - y) ** 2, rel=1e-12)
    assert data["agree"] is True
    assert {"network", "data", "forward", "backward", "parameters", "claims", "summary"} <= set(
        data
    )
    assert data["summary"] == {"ok": 9, "follows": 1, "rounding": 1, "wrong": 2}
    w11 = data["parameters"]["w11"]
    assert set(w11["gradient"]) == {"rules", "value_engine", "numeric"}
    assert w11["new"] == pytest.approx(0.25 - 0.25 * w11["gradient"]["rules"], rel=1e-14)
    assert data["forward"]["y_h1"] == pytest.approx(h, rel=1e-14)
    assert data["backward"]["delta2"] == pytest.approx(back, rel=1e-12)


def test_check_with_rtol_zero_leaves_no_rounding(capsys):
    status, out, _ = run(
        capsys, "check", str(CASES / "worked_example_1.toml"), "--json", "--rtol", "0"
    )
    got = statuses(json.loads(out))
    assert got["y_in"] == ("wrong", ["arithmetic"])


def test_strict_fails_on_rounding(tmp_path, capsys):
    text = (CASES / "worked_example_1.toml").read_text()
    path = tmp_path / "c.toml"
    path.write_text(text.replace('"dE/dw2" = -0.004223', "").replace("w2_new = 0.24894425", ""))
    assert run(capsys, "check", str(path))[0] == 0
    assert run(capsys, "check", str(path), "--strict")[0] == 1


@pytest.mark.parametrize(
    "case,wrong",
    [("linear_2_2_1.toml", {"dE/dw22"}), ("tanh_1_1_2.toml", set()), ("sigmoid_2_2_2.toml", set())],
)
def test_own_cases(capsys, case, wrong):
    status, out, _ = run(capsys, "check", str(CASES / case), "--json")
    data = json.loads(out)
    assert {c["name"] for c in data["claims"] if c["status"] != "ok"} == wrong
    assert status == (1 if wrong else 0)


def test_check_prints_a_readable_report(capsys):
    status, out, _ = run(capsys, "check", str(CASES / "worked_example_1.toml"))
    assert "WRONG" in out and "dE/dw2 (dE/dw12)" in out and "2 wrong" in out
    assert out.index("forward:") < out.index("backward:") < out.index("update:")


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
        (lambda s: s.replace("[network]", "[net]"), "did you mean [network]"),
        (lambda s: s.replace("[claims]", "[claim]"), "did you mean [claims]"),
        (lambda s: s.replace("eta = 0.25", "etta = 0.25"), "did you mean 'eta'"),
        (lambda s: s.replace("W = [[0.25, 0.3]]", "W = [[0.25]]"), "number 1 W"),
        (lambda s: s.replace("W = [[0.33]]", "W = [[0.33, 1.0]]"), "number 2 W"),
        (lambda s: s.replace("d = [0.8]", "d = [0.8, 0.1]"), "[[data]] number 1 d"),
        (lambda s: s.replace("x = [0.5, 1.1]", 'x = [0.5, "a"]'), "[[data]] number 1 x"),
        (lambda s: s.replace("h_in = 0.355", "v9 = 0.355"), "'v9'"),
        (lambda s: s.replace("eta = 0.25", ""), "[network] eta"),
        (lambda s: s.replace("b = [-0.1]", "b = [-0.1, 0.2]"), "number 1 b"),
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
