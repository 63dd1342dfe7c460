"""Hostile inputs to the pictures, the JSON export, `draw` and `predict`.

Each test states what the format's own rules or an independent computation say
the output must be.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import nn
from tinygrad_bp.cli import main
from tinygrad_bp.engine.tensor import Tensor
from tinygrad_bp.engine.value import Value
from tinygrad_bp.nn.modelfile import read_model, write_model
from tinygrad_bp.views.draw import draw
from tinygrad_bp.views.graph import graph_to_dict
from tinygrad_bp.views.render import has_dot, has_wasm

SVG = "{http://www.w3.org/2000/svg}"


def strict_json(text: str):
    """JSON as RFC 8259 has it: NaN, Infinity and -Infinity are not numbers."""

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def no_nonfinite(obj) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(no_nonfinite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(no_nonfinite(v) for v in obj)
    return True


# -- names holding character entities: Graphviz decodes them in labels --------------


@pytest.mark.skipif(not (has_dot() or has_wasm()), reason="no Graphviz to render SVG")
@pytest.mark.parametrize("name", ["&#1;", "&#xD800;", "&amp;", "&lt;b&gt;", "x&#x1F;y", "&"])
def test_a_name_with_an_entity_is_drawn_as_written_and_the_svg_is_xml(name):
    a, b = Value(2.0, name), Value(3.0, "b")
    c = a * b
    c.backward()
    svg = draw(c, title=name).pipe("svg")
    root = ET.fromstring(svg)  # well-formed XML, valid UTF-8
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert f"param {name}" in texts
    assert name in texts  # the title


# -- graph_to_dict: NaN and infinity are null, as its documentation says ------------


def test_graph_to_dict_writes_nonfinite_tensor_entries_and_edge_factors_as_null():
    a = Tensor(np.array([1e300, 1.0]), requires_grad=True)
    with np.errstate(over="ignore"):
        out = (a * a).sum()  # 1e300 * 1e300 overflows to inf in the first entry
        out.backward()
    d = graph_to_dict(out)
    strict_json(json.dumps(d))  # the documented layout is JSON as it is
    assert no_nonfinite(d)
    square = next(n for n in d["nodes"] if n["op"] == "*")
    assert square["value"] == [None, 1.0]

    x = Value(0.0, "x")
    y = x**0.5  # d(sqrt x)/dx = 1/(2 sqrt x) is infinite at 0
    y.backward()
    d = graph_to_dict(y)
    strict_json(json.dumps(d))
    assert d["edges"] == [{"source": 0, "target": 1, "local": None}]


# -- draw: the file is what its flag asks for ----------------------------------------


def test_draw_html_refuses_a_file_that_is_not_a_page(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", "--format", "dot", "--html", "steps.svg"]) == 2
    err = capsys.readouterr().err
    assert "--html steps.svg" in err and ".html" in err
    assert not (tmp_path / "steps.svg").exists()


@pytest.mark.parametrize("argv", [["--format", "json"], ["-o", "net.html"]])
def test_draw_network_view_in_a_graph_only_format_names_the_flags(tmp_path, capsys, argv):
    assert main(["draw", "--view", "network", "--out-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert "--view" in err and "--format" in err
    assert (
        "(draw_network)" not in err and "draw(root)" not in err
    )  # Python names: nothing on the command line


# -- predict: numbers as CSV writes them, the header only on the first line ----------


@pytest.fixture
def model_file(tmp_path):
    model = nn.MLP([2, 3, 1], "tanh", seed=0)
    path = tmp_path / "m.npz"
    model.save(path)
    W1, b1 = model.layers()[0][:2]
    W2, b2 = model.layers()[1][:2]

    def forward(X):
        return np.tanh(np.asarray(X) @ np.asarray(W1).T + np.asarray(b1).reshape(-1)) @ np.asarray(
            W2
        ).T + np.asarray(b2).reshape(-1)

    return path, forward


def predict_cli(capsys, model, tmp_path, text: str):
    csv = tmp_path / "in.csv"
    csv.write_text(text, encoding="utf-8")
    status = main(["predict", str(model), str(csv), "--json"])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("field", ["1_0", "\uff11", "\u0661", "1 0", "0x1"])
def test_predict_refuses_what_python_reads_but_csv_does_not(tmp_path, capsys, model_file, field):
    status, out, err = predict_cli(capsys, model_file[0], tmp_path, f"0,1\n{field},0\n")
    assert status == 2 and out == ""
    assert "line 2" in err and "not a number" in err


def test_predict_reads_only_the_first_line_as_a_header(tmp_path, capsys, model_file):
    status, out, err = predict_cli(capsys, model_file[0], tmp_path, "x1,x2\nfoo,bar\n1,2\n")
    assert status == 2 and "line 2" in err and "'foo' is not a number" in err


def test_predict_reads_quoted_numbers_crlf_and_a_bom(tmp_path, capsys, model_file):
    path, forward = model_file
    status, out, _ = predict_cli(
        capsys, path, tmp_path, '\ufeff"x1","x2"\r\n"0.5",-1\r\n2,"3e-1"\r\n'
    )
    assert status == 0
    got = np.array(strict_json(out)["outputs"])
    np.testing.assert_allclose(got, forward([[0.5, -1.0], [2.0, 0.3]]), rtol=1e-12)


def test_predict_overflow_is_one_note_and_null_in_json(tmp_path, capsys):
    path = tmp_path / "m.npz"
    nn.MLP([1, 1], "linear", seed=0).save(path)
    spec, arrays = read_model(path)
    write_model(path, spec, {"layer1.weight": np.array([[4.0]]), "layer1.bias": np.array([0.5])})
    status, out, err = predict_cli(capsys, path, tmp_path, "1e308\n-2\n")  # 4e308 overflows
    assert status == 0
    assert strict_json(out)["outputs"] == [[None], [4.0 * -2 + 0.5]]
    assert "Warning" not in err and "1 output overflowed" in err


# -- the process's streams: a locale without ∂, closed stdin and stdout --------------


def cli(*args: str, env: dict | None = None, shell_suffix: str = "", cwd=None):
    """`python -m tinygrad_bp ARGS` (the module is the command) in a shell."""
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "tinygrad_bp", *args])
    return subprocess.run(
        ["sh", "-c", command + shell_suffix],
        capture_output=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=60,
    )


def test_explain_prints_in_an_ascii_locale(tmp_path):
    ascii_env = {"LC_ALL": "C", "PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0"}
    got = cli("draw", "--explain", "--format", "dot", "--out-dir", str(tmp_path), env=ascii_env)
    assert got.returncode == 0, got.stderr
    assert b"\\u2202E/\\u2202e4" in got.stdout  # the symbol escaped, the line kept
    # the fixed example of `draw`: dE/dw11 = -(d - y) w41 s'(v1) x1, E = (d - y)^2 / 2
    W1, b1 = np.array([[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]]), np.array([0.1, 0.3, -0.1])
    w2, b2, x, d = np.array([0.7, -0.8, 0.9]), 0.1, np.array([1.0, 0.5]), 0.5
    h = 1 / (1 + np.exp(-(W1 @ x + b1)))
    expected = -(d - (w2 @ h + b2)) * w2[0] * h[0] * (1 - h[0]) * x[0]
    assert f"dE/dw11 = {expected:.6g}".encode() in got.stdout


def test_closed_stdin_and_stdout_are_one_line_errors(tmp_path, model_file):
    got = cli("predict", str(model_file[0]), "-", shell_suffix=" <&-")
    assert got.returncode == 2 and b"Traceback" not in got.stderr
    assert b"standard input is closed" in got.stderr
    got = cli("draw", "--format", "dot", "--out-dir", str(tmp_path), shell_suffix=" >&-")
    assert got.returncode == 2 and b"Traceback" not in got.stderr
    assert b"standard output is closed" in got.stderr


# -- chain-rule Markdown and LaTeX with hostile names ---------------------------------

HOSTILE = "<img src=x onerror=alert(1)>"


def test_explanation_markdown_carries_no_html_from_names():
    markdown = pytest.importorskip("markdown")
    from html.parser import HTMLParser

    from tinygrad_bp.views.explain import explain

    a, b = Value(2.0, HOSTILE), Value(3.0, "*b*_[c](d)")
    out = a * b
    out.name = "$E$"
    out.backward()
    text = explain(out, a).markdown()
    assert "<" not in text  # CommonMark passes a raw < ... > through as HTML

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.text = set(), []

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)

        def handle_data(self, data):
            self.text.append(data)

    # the prose lines (math is left to the notebook's MathJax, which a front end protects)
    for md in (text, explain(out, b).markdown()):
        prose = "\n\n".join(line for line in md.splitlines() if "$" not in line.replace("\\$", ""))
        page = Tags()
        page.feed(markdown.markdown(prose))
        assert page.tags <= {"p", "strong"}, page.tags
        assert "*b*_[c](d)" in "".join(page.text) or md == text
    page = Tags()
    page.feed(markdown.markdown(text))
    assert f"{HOSTILE}.grad = 3" in "".join(page.text)  # shown as written, da(ab)/da = b = 3


def test_explanation_latex_uses_no_text_accents_in_math():
    from tinygrad_bp.views.explain import explain

    a = Value(2.0, "a~^b")
    out = a * 3.0
    out.backward()
    tex = explain(out, a).latex()
    # \~ and \^ are text-mode accents: LaTeX stops with "invalid in math mode"
    assert "\\~" not in tex and "\\^" not in tex
    assert "a\\sim{}\\wedge{}b" in tex


def test_small_tensor_entries_are_shown_like_scalars_without_minus_zero():
    t = Tensor(np.array([-0.0, -1e-9, 0.123456, -2.5e7]), requires_grad=True, name="t")
    source = draw((t * 1.0).sum()).source
    # each entry as format(v, ".4g") shows it, -0 as 0 (a Value node shows 0.123456 as 0.1235)
    assert "= [0,-1e-09,0.1235,-2.5e+07]" in source
    assert "-0," not in source and "-0." not in source


@pytest.mark.parametrize("version", ['"1"', "NaN", "true", "null"])
def test_a_version_that_is_not_a_number_is_called_corrupt_not_newer(tmp_path, version):
    from tinygrad_bp.nn.modelfile import ModelFileError

    path = tmp_path / "m.npz"
    nn.MLP([1, 1], "linear", seed=0).save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__meta__"]))
    text = json.dumps(meta).replace('"version": 1', f'"version": {version}')
    np.savez(path, **{**arrays, "__meta__": np.array(text)})
    with pytest.raises(ModelFileError, match="corrupt") as info:
        read_model(path)
    assert "newer" not in str(info.value) and "older" not in str(info.value)


# -- train: no run of hours without asking, no plot written over the model ------------


def test_train_refuses_a_run_of_hours_naming_the_flags(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "xor", "--epochs", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert "hours" in err and "--epochs" in err and "--force" in err
    assert not (tmp_path / "out").exists()


def test_train_refuses_save_and_plot_on_one_file(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.png").write_bytes(b"keep")
    argv = ["train", "--data", "xor", "--layers", "2,4,1", "--epochs", "2"]
    assert main([*argv, "--save", "old.png", "--plot", "./old.png"]) == 2
    assert "--save and --plot" in capsys.readouterr().err
    assert (tmp_path / "old.png").read_bytes() == b"keep"


# -- writing files: a folder as the target, a folder that is not there ----------------


def test_atomic_write_names_the_target_not_its_temporary_file(tmp_path):
    from tinygrad_bp.files import atomic_write

    (tmp_path / "pic.svg").mkdir()
    with pytest.raises(IsADirectoryError, match="pic.svg is a folder") as info:
        atomic_write(tmp_path / "pic.svg", "x")
    assert ".tmp" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="cannot write .*nowhere.*check the folder") as info:
        atomic_write(tmp_path / "nowhere" / "pic.svg", "x")
    assert ".tmp" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic.svg"]  # nothing left behind


def test_draw_writes_nothing_when_one_target_is_a_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "page.html").mkdir()
    assert main(["draw", "--format", "dot", "-o", "g.dot", "--html", "page.html"]) == 2
    assert "page.html is a folder" in capsys.readouterr().err
    assert not (tmp_path / "g.dot").exists()


def test_decision_region_of_three_logits_is_where_class_1_wins_the_argmax():
    from tinygrad_bp.views.plot import _boundary

    model = nn.MLP([2, 3], "linear", seed=0)
    # logits (0, x1, 5): class 1 wins only where x1 > 5, class 2 everywhere else
    model.load_state_dict(
        {
            "layer1.weight": np.array([[0.0, 0], [1, 0], [0, 0]]),
            "layer1.bias": np.array([0, 0, 5.0]),
        }
    )

    class Axes:
        def contourf(self, gx, gy, region, **kw):
            self.gx, self.region = gx, region

        def __getattr__(self, name):
            return lambda *a, **k: None

    ax = Axes()
    X = np.array([[-1.0, -1.0], [8.0, 1.0]])
    _boundary(ax, model, X, np.array([0, 1]), "ce", "")
    np.testing.assert_array_equal(ax.region, ax.gx > 5)  # argmax of (0, x1, 5) is 1


# -- predict on large inputs: a bulk reader, the same numbers, a row limit ------------

CSV_NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(
        r"[+-]?(?:[0-9]{1,25}\.?[0-9]{0,25}|\.[0-9]{1,25})(?:[eE][+-]?[0-9]{1,3})?", fullmatch=True
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(CSV_NUMBER, CSV_NUMBER), min_size=1, max_size=20), st.booleans())
def test_bulk_reader_gives_float_of_every_field(rows, header):
    from tinygrad_bp.commands.predict import parse_csv

    text = ("x1,x2\n" if header else "") + "".join(f"{a}, {b}\r\n" for a, b in rows)
    expected = np.array([[float(a), float(b)] for a, b in rows])
    if not np.isfinite(expected).all():  # 1e999: refused, naming the line
        with pytest.raises(ValueError, match="NaN or infinity"):
            parse_csv(text, 2, "in.csv")
        return
    got = parse_csv(text, 2, "in.csv")
    assert got.tobytes() == expected.tobytes()  # bit for bit, -0.0 included
    # a comment line sends the same rows through the line-by-line reader
    assert parse_csv("# rows\n" + text, 2, "in.csv").tobytes() == expected.tobytes()


def test_bulk_reader_errors_still_name_the_line():
    from tinygrad_bp.commands.predict import parse_csv

    with pytest.raises(ValueError, match="line 3: 1 columns"):
        parse_csv("1,2\n3,4\n5\n", 2, "in.csv")
    with pytest.raises(ValueError, match=r"line 2: '1e5e5' is not a number"):
        parse_csv("1,2\n1e5e5,4\n", 2, "in.csv")


def test_predict_refuses_more_rows_than_its_limit_naming_the_flag(tmp_path, capsys, model_file):
    csv = tmp_path / "in.csv"
    csv.write_text("x1,x2\n" + "0.5,1\n" * 11)
    assert main(["predict", str(model_file[0]), str(csv), "--max-rows", "10"]) == 2
    err = capsys.readouterr().err
    assert "12 lines" in err and "10 rows" in err and "--max-rows" in err
    assert main(["predict", str(model_file[0]), str(csv), "--max-rows", "11"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "y1" and len(out) == 12
    assert float(out[1]) == model_file[1]([[0.5, 1.0]])[0, 0]


def test_a_constant_minus_zero_is_labelled_0():
    from tinygrad_bp.views.graph import read_graph

    x = Value(2.0, "x")
    out = x * -0.0
    assert read_graph(out).labels()[-1] == "(x*0)"
    assert "-0" not in draw(out).source


def test_draw_format_agrees_with_the_other_spellings_of_its_extension(tmp_path, capsys):
    for name, kind in (("g.gv", "dot"), ("page.htm", "html")):
        assert main(["draw", "-o", str(tmp_path / name), "--format", kind]) == 0
    assert (tmp_path / "g.gv").read_text().startswith("digraph")
    assert (tmp_path / "page.htm").read_text().startswith("<!DOCTYPE html>")


def test_draw_into_a_folder_that_is_a_file_names_the_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").write_text("a file, not a folder")
    assert main(["draw", "--format", "dot"]) == 2
    err = capsys.readouterr().err
    assert "cannot make the folder out" in err and "--out-dir" in err
    assert (tmp_path / "out").read_text() == "a file, not a folder"


@pytest.mark.parametrize("max_mb", ["1e300", "1e308"])
def test_predict_takes_an_enormous_size_limit_as_no_limit(tmp_path, capsys, model_file, max_mb):
    csv = tmp_path / "in.csv"
    csv.write_text("0.5,1\n")
    assert main(["predict", str(model_file[0]), str(csv), "--max-mb", max_mb]) == 0
    out = capsys.readouterr().out.splitlines()
    assert float(out[1]) == model_file[1]([[0.5, 1.0]])[0, 0]


def test_read_at_most_reads_pieces_up_to_one_byte_over_the_limit():
    import io

    from tinygrad_bp.files import read_at_most

    data = bytes(range(256)) * 1000
    assert read_at_most(io.BytesIO(data), 10**300) == data
    assert read_at_most(io.BytesIO(data), 999) == data[:1000]
    assert read_at_most(io.BytesIO(b""), 0) == b""


def test_predict_row_limit_counts_lines_ended_by_a_lone_carriage_return(
    tmp_path, capsys, model_file
):
    csv = tmp_path / "in.csv"
    csv.write_bytes(b"0,1\r1,0\r2,2\r")  # three rows, old Mac line ends
    assert main(["predict", str(model_file[0]), str(csv), "--max-rows", "1"]) == 2
    assert "3 lines" in capsys.readouterr().err
    assert main(["predict", str(model_file[0]), str(csv), "--max-rows", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_atomic_write_through_a_symbolic_link_replaces_the_file_it_points_to(tmp_path):
    from tinygrad_bp.files import atomic_write

    target = tmp_path / "data" / "model.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "model.json"
    link.symlink_to(target)
    assert atomic_write(link, "new") == link
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.json"]  # no temporary left
