"""Grading a class: the example class's known slips, malformed files reported one by one,
the report files escaped, the command's output and errors."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.teachkit import error_line, run_cli
from tinygrad_bp.teach.grade import Key, KeyFolder, grade_class, submission_files, write_report
from tinygrad_bp.teach.problem import read_problem
from tinygrad_bp.teach.solve import solve

ROOT = Path(__file__).resolve().parent.parent
CLASS = ROOT / "examples" / "class"
KEY = CLASS / "key.toml"


@pytest.fixture(scope="module")
def report():
    return grade_class(Key(KEY), submission_files(CLASS, KEY))


def verdicts(report, student):
    (sub,) = [s for s in report.submissions if s.student == student]
    return {v.claim.key: v for v in sub.judgements}, sub


def test_the_notes_own_slips(report):
    v, _ = verdicts(report, "ben")
    assert v["v2"].status == "rounding"  # y_in from h_out = 0.58
    assert v["E"].status == "follows"  # from e = 0.18
    assert v["dE/dw12"].status == "wrong" and v["dE/dw12"].slips == ["arithmetic"]
    assert v["w12@1"].status == "wrong"
    assert set(v["w12@1"].slips) == {"wrong_old_value", "sign"}
    assert v["w12@1"].claim.name == "w2_new"  # judged in the student's own notation


def test_a_slip_and_what_follows_from_it(report):
    v, _ = verdicts(report, "cleo")  # e2 = y2 - d2
    assert v["e2"].status == "wrong" and "sign" in v["e2"].slips
    later = [k for k in v if k not in ("v1", "y_h1", "v2", "y2", "e2", "f'(v2)", "f'(v1)")]
    assert later and all(v[k].status == "follows" for k in later if k != "E")
    v, _ = verdicts(report, "ivan")  # v1 added up wrong
    assert v["v1"].status == "wrong" and v["v1"].slips == ["arithmetic"]
    assert v["y_h1"].status == "follows" and v["v2"].status == "follows"


@pytest.mark.parametrize(
    "student,quantity,slip",
    [
        ("dev", "w11@1", "dropped_eta"),
        ("dev", "b2@1", "dropped_eta"),
        ("finn", "f'(v2)", "wrong_derivative"),
        ("gus", "f'(v1)", "wrong_derivative"),
    ],
)
def test_known_slips(report, student, quantity, slip):
    v, _ = verdicts(report, student)
    assert v[quantity].status == "wrong" and slip in v[quantity].slips


def test_scores_and_class_tables(report):
    rows = {r["student"]: r for r in report.student_rows()}
    assert rows["ada"]["score"] == 1.0 and rows["ada"]["wrong"] == 0
    v, sub = verdicts(report, "hana")
    assert v["v2"].status == "rounding" and sub.counts["wrong"] == 0
    assert rows["hana"]["score"] == pytest.approx(1 - 0.5 / len(sub.judgements))
    assert rows["jo"]["score"] is None and "[claim]" in rows["jo"]["error"]
    eve, _ = verdicts(report, "eve")
    assert eve["E"].status == "wrong" and "missing_half" in eve["E"].slips
    assert eve["w21@1"].status == "ok"
    quantities = {r["quantity"]: r for r in report.quantity_table()}
    assert quantities["w2_new (w12@1)"]["wrong"] == 2  # ben and dev, in the key's notation
    assert quantities["dE/dw2 (dE/dw12)"]["wrong"] == 1
    slips = {r["slip"]: r["students"] for r in report.slip_table()}
    assert slips["wrong_derivative"] == 2 and slips["dropped_eta"] == 1


def test_truth_claims_all_ok_and_one_slip_is_found(tmp_path):
    problem, _ = read_problem(KEY)
    claims = solve(problem).claims(5)
    good = "[claims]\n" + "\n".join(f'"{k}" = {v}' for k, v in claims.items()) + "\n"
    (tmp_path / "good.toml").write_text(good)
    flipped = dict(
        claims,
        delta1=claims["delta1"].lstrip("-")
        if claims["delta1"].startswith("-")
        else "-" + claims["delta1"],
    )
    (tmp_path / "flip.toml").write_text(
        "[claims]\n" + "\n".join(f'"{k}" = {v}' for k, v in flipped.items() if k == "delta1") + "\n"
    )
    rep = grade_class(Key(KEY), submission_files(tmp_path))
    good_sub = [s for s in rep.submissions if s.student == "good"][0]
    assert {v.status for v in good_sub.judgements} == {"ok"}
    (flip,) = [s for s in rep.submissions if s.student == "flip"][0].judgements
    assert flip.status == "wrong" and "sign" in flip.slips


def test_malformed_files_are_reported_one_by_one(tmp_path):
    shutil.copy(CLASS / "ada.toml", tmp_path / "ok.toml")
    (tmp_path / "binary.toml").write_bytes(b"\x00\xff\x00")
    (tmp_path / "latin1.toml").write_bytes("[claims]\nv1 = 0.355 # caf\xe9\n".encode("latin-1"))
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "big.toml").write_text("# " + "x" * (2 << 20))
    (tmp_path / "bad.toml").write_text("[claims\nv1 = ")
    (tmp_path / "text.toml").write_text('[claims]\nv1 = "0.355"\n')
    (tmp_path / "typo.toml").write_text("[claims]\nv11 = 0.355\n")
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "dir.toml").mkdir()
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "notes.txt").write_text("not a submission")
    rep = grade_class(Key(KEY), submission_files(tmp_path))
    errors = {s.student: s.error for s in rep.submissions}
    assert errors.pop("ok") == ""
    assert "binary" in errors["binary"] and "UTF-8" in errors["latin1"]
    assert "no [claims]" in errors["empty"] and "limit" in errors["big"]
    assert "TOML" in errors["bad"] or "Expected" in errors["bad"] or errors["bad"]
    assert "number" in errors["text"] and "v11" in errors["typo"]
    assert "directory" in errors["dir"] and "not a regular file" in errors["fifo"]
    assert all(errors.values()), errors
    assert "notes" not in errors


def test_report_files_escaped_and_safe(tmp_path):
    sub = tmp_path / "subs"
    sub.mkdir()
    shutil.copy(CLASS / "ben.toml", sub / "=HYPERLINK(1)&<img src=x onerror=1>.toml")
    out = tmp_path / "report"
    write_report(grade_class(Key(KEY), submission_files(sub)), out)
    rows = list(csv.DictReader((out / "students.csv").open()))
    assert rows[0]["student"].startswith("'=")  # not a spreadsheet formula
    page = (out / "report.html").read_text()
    assert "<img" not in page and "&lt;img src=x onerror=1&gt;" in page
    assert "<svg" in page and "<script" not in page
    ET.fromstring(page.replace("<!DOCTYPE html>", ""))  # well-formed
    data = json.loads((out / "report.json").read_text())
    assert "NaN" not in (out / "report.json").read_text()
    assert data["students"][0]["wrong_claims"]


def test_grade_command(tmp_path):
    r = run_cli("grade", str(CLASS), "--key", str(KEY), "--json", "-o", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["students"]) == 10 and data["malformed"][0]["file"].endswith("jo.toml")
    assert {p.name for p in (tmp_path / "r").iterdir()} == {
        "students.csv",
        "quantities.csv",
        "slips.csv",
        "report.json",
        "report.html",
    }
    r = run_cli("grade", str(CLASS), "--key", str(KEY), "--progress")
    assert r.returncode == 0 and "graded 10/10" in r.stderr and "ben" in r.stdout


@pytest.mark.parametrize(
    "args,words",
    [
        (["grade", "examples/class", "--key", "nope.toml"], "no such file"),
        (["grade", "nowhere", "--key", "examples/class/key.toml"], "not a folder"),
        (["grade", "examples/class", "--key", "examples/class/ben.toml"], "[network]: missing"),
        (
            ["grade", "examples/class", "--key", "examples/class/key.toml", "--max-files", "3"],
            "--max-files",
        ),
    ],
)
def test_grade_errors(args, words):
    assert words in error_line(run_cli(*args, cwd=ROOT))


def test_one_key_per_student(tmp_path):
    """Sheets with other numbers per student: each file judged against its own key."""
    r = run_cli("exercise", "--students", "3", "--seed", "2", "-o", "sheets", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sheets, subs = tmp_path / "sheets", tmp_path / "subs"
    subs.mkdir()
    answers = (sheets / "key-student001-problem01.toml").read_text().split("[claims]")[1]
    for name in ("student001-problem01", "student002-problem01", "student009-problem01"):
        (subs / f"{name}.toml").write_text("[claims]" + answers)  # student 1's answers
    rep = grade_class(KeyFolder(sheets), submission_files(subs, sheets))
    rows = {r["student"]: r for r in rep.student_rows()}
    assert rows["student001-problem01"]["score"] == 1.0
    assert rows["student002-problem01"]["wrong"] > 5  # other numbers, other answers
    assert "no key key-student009-problem01.toml" in rows["student009-problem01"]["error"]
    # the keys' own folder can hold the submissions too: the keys are not graded
    (sheets / "student001-problem01.toml").write_text("[claims]" + answers)
    r = run_cli("grade", str(sheets), "--key", str(sheets), "--json")
    assert r.returncode == 0, r.stderr
    assert [s["student"] for s in json.loads(r.stdout)["students"]] == ["student001-problem01"]


def test_a_quantity_claimed_twice_counts_once_by_its_worst_verdict(tmp_path):
    # v1 = 0.25 * 0.5 + 0.3 * 1.1 - 0.1 = 0.355 (the key's first neuron, by hand)
    (tmp_path / "echo.toml").write_text(
        '[names]\nh_in = "v1"\na = "v1"\nb = "v1"\n'
        "[claims]\nv1 = 0.355\nh_in = 0.355\na = 0.355\nb = 0.355\n"
        '"dE/dw11" = 5.0\n'
    )
    (tmp_path / "hedge.toml").write_text('[names]\nh_in = "v1"\n[claims]\nv1 = 0.355\nh_in = 0.5\n')
    rep = grade_class(Key(KEY), submission_files(tmp_path))
    rows = {r["student"]: r for r in rep.student_rows()}
    assert rows["echo"]["score"] == 0.5 and rows["echo"]["claims"] == 2
    assert rows["echo"]["ok"] == 1 and rows["echo"]["wrong"] == 1
    assert rows["hedge"]["score"] == 0.0 and rows["hedge"]["wrong"] == 1
    (v1,) = [q for q in rep.quantity_table() if q["quantity"] == "h_in (v1)"]
    assert v1["claimed_by"] == 2 and v1["ok"] == 1 and v1["wrong"] == 1
    assert "claimed more than once" in rep.summary()


def test_arithmetic_names_the_inputs_that_were_not_written_down(tmp_path):
    # dE/dw11 = -delta1 * x1: delta1 not written down, so the slip may be in it
    (tmp_path / "lone.toml").write_text('[claims]\n"dE/dw11" = 5.0\nv1 = 0.355\n')
    (tmp_path / "slip.toml").write_text("[claims]\nv1 = 0.365\n")
    rep = grade_class(Key(KEY), submission_files(tmp_path))
    v, _ = verdicts(rep, "lone")
    assert v["dE/dw11"].slips == ["arithmetic"]
    assert "or a slip in delta1 (not written down)" in v["dE/dw11"].explanation
    assert "right inputs" not in v["dE/dw11"].explanation
    # v1 = w11 x1 + w12 x2 + b1: every input given, so the inputs were right
    v, _ = verdicts(rep, "slip")
    assert v["v1"].explanation == "right formula, right inputs, multiplied out wrong"


def test_an_imperfect_score_is_never_shown_as_100_or_0_percent(tmp_path):
    from tinygrad_bp.slides.case import Verdict
    from tinygrad_bp.teach.grade import ClassReport, Submission

    def sub(name, statuses):
        s = Submission(f"{name}.toml")
        s.judgements = [Verdict(_Claim(f"q{k}"), st, 0.0, 0.0, []) for k, st in enumerate(statuses)]
        return s

    class _Claim:
        def __init__(self, key):
            self.key = self.name = key
            self.text = "0"

    # 399 right and 1 wrong of 400: 99.75%; 1 right of 400: 0.25%
    subs = [sub("almost", ["ok"] * 399 + ["wrong"]), sub("barely", ["ok"] + ["wrong"] * 399)]
    rep = ClassReport(Key(KEY), subs, 0.5, 0.02)
    rows = {r["student"]: r for r in rep.student_rows()}
    assert 0.99 <= rows["almost"]["score"] < 1 and 0 < rows["barely"]["score"] <= 0.01
    text = rep.summary()
    assert re.search(r"almost +99% ", text) and re.search(r"barely +1% ", text)
    assert "100%" not in text and " 0% " not in text
