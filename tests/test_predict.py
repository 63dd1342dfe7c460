"""`tinygrad-bp predict`: saved models on new inputs, exactly; every bad input refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import nn
from tinygrad_bp.cli import main
from tinygrad_bp.nn.data import moons
from tinygrad_bp.nn.train import predict


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def numpy_forward(path, X):
    """An independent forward pass from the raw arrays of a tanh/linear file."""
    with np.load(path, allow_pickle=False) as f:
        W1, b1, W2, b2, W3, b3 = (
            f[k] for k in ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias",
                           "layer3.weight", "layer3.bias"]
        )  # fmt: skip
    return np.tanh(np.tanh(X @ W1.T + b1) @ W2.T + b2) @ W3.T + b3


@pytest.mark.parametrize("engine", ["tensor", "value"])
def test_train_save_then_predict_round_trips_exactly(tmp_path, capsys, monkeypatch, engine):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "train", "--epochs", "3", "--samples", "40", "--engine", engine,
                         "--save")  # fmt: skip
    assert status == 0, err
    X = moons(n=25, seed=9)[0]
    X[0] = [-0.0, 1e-300]
    np.savetxt("in.csv", X, delimiter=",", header="x1,x2", fmt="%.17g")
    status, out, err = run(capsys, "predict", "out/model.npz", "in.csv")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "y1" and len(lines) == 26 and "-0," not in out
    printed = np.array([float(v) for v in lines[1:]])
    model = nn.load_model("out/model.npz")
    assert type(model).engine == engine
    np.testing.assert_array_equal(printed, predict(model, X)[:, 0])  # every digit
    np.testing.assert_allclose(printed, numpy_forward("out/model.npz", X)[:, 0], rtol=1e-12)
    status, out, _ = run(capsys, "predict", "out/model.npz", "in.csv", "--json")
    report = json.loads(out)
    assert report["engine"] == engine and report["model"].startswith("2-16-16-1 tanh")
    np.testing.assert_array_equal(np.array(report["outputs"])[:, 0], printed)


def test_predict_reads_standard_input(tmp_path):
    path = nn.MLP([3, 4, 2], "sigmoid", seed=1).save(tmp_path / "m.npz")
    r = subprocess.run(
        [sys.executable, "-m", "tinygrad_bp", "predict", str(path), "-"],
        input="# three inputs\n1,2,3\n\n-1, 0.5 ,0\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert r.returncode == 0, r.stderr
    out = np.loadtxt(io.StringIO(r.stdout), delimiter=",", skiprows=1)
    expected = predict(nn.MLP.load(path), np.array([[1, 2, 3], [-1, 0.5, 0]]))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "text,expect",
    [
        ("1,2,3\n", "line 1: 3 columns, the model takes 2 inputs"),
        ("1,2\n3\n", "line 2: 1 columns"),
        ("1,nan\n", "line 1: '1,nan' holds NaN or infinity"),
        ("1,1e999\n", "line 1: '1,1e999' holds NaN or infinity"),
        ("1,2\nx,3\n", "line 2: 'x' is not a number"),
        ("a,b\n", "no rows of numbers"),
        ("", "no rows of numbers"),
        ("1;2\n", "'1;2' is not a number"),
    ],
)
def test_bad_inputs_are_refused_in_one_line(tmp_path, capsys, text, expect):
    path = nn.MLP([2, 3, 1]).save(tmp_path / "m.npz")
    (tmp_path / "in.csv").write_text(text)
    status, out, err = run(capsys, "predict", str(path), str(tmp_path / "in.csv"))
    assert status == 2 and out == "" and expect in err
    assert err.startswith("tinygrad-bp: error:") and len(err.splitlines()) == 1


def test_binary_huge_and_special_files_are_refused(tmp_path, capsys):
    path = nn.MLP([2, 3, 1]).save(tmp_path / "m.npz")
    (tmp_path / "bin.csv").write_bytes(b"1,2\x00\xff")
    big = tmp_path / "big.csv"
    big.write_text("1,2\n" * 100_000)
    cases = [
        ((str(path), str(tmp_path / "bin.csv")), "binary file"),
        ((str(path), str(big), "--max-mb", "0.25"), "262144 bytes; raise it with --max-mb"),
        ((str(path), str(tmp_path)), "is a directory"),
        ((str(tmp_path / "bin.csv"), str(big)), "not an .npz archive"),
        ((str(path), str(big), "--max-mb", "0.001"), "raise it with --max-mb"),
    ]
    if os.path.exists("/dev/zero"):
        cases.append(((str(path), "/dev/zero"), "not a regular file"))
    for argv, expect in cases:
        status, _, err = run(capsys, "predict", *argv)
        assert status == 2 and expect in err, (argv, err)
    status, out, _ = run(capsys, "predict", str(path), str(big), "--max-mb", "0.5", "--json")
    assert status == 0 and len(json.loads(out)["outputs"]) == 100_000


def test_the_value_engine_refuses_inputs_that_would_take_minutes(tmp_path, capsys):
    path = nn.ValueMLP([2, 64, 64, 1]).save(tmp_path / "v.npz")
    big = tmp_path / "big.csv"
    big.write_text("1,2\n" * 10_000)
    status, _, err = run(capsys, "predict", str(path), str(big))
    assert status == 2 and "--engine tensor" in err
    status, out, _ = run(capsys, "predict", str(path), str(big), "--engine", "tensor")
    assert status == 0 and out.count("\n") == 10_001


def test_negative_zero_is_never_printed(tmp_path, capsys):
    model = nn.MLP([1, 1], "linear", "relu")
    model.load_state_dict({"layer1.weight": np.array([[1.0]]), "layer1.bias": np.array([0.0])})
    assert str(predict(model, np.array([[-2.0]]))[0, 0]) in ("0.0", "-0.0")
    path = model.save(tmp_path / "relu.npz")
    (tmp_path / "in.csv").write_text("-2\n-0.0\n")
    for extra in ([], ["--json"]):
        status, out, _ = run(capsys, "predict", str(path), str(tmp_path / "in.csv"), *extra)
        assert status == 0 and "-0" not in out


def test_the_example_model_classifies_the_moons():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "examples" / "models"
    model = nn.load_model(root / "moons.npz")
    assert model.describe() == "2-16-16-1 tanh/tanh/linear" and model.dtype == "float64"
    X, y = moons(n=500, seed=123)  # points it never saw
    assert np.mean((predict(model, X)[:, 0] > 0) == (y > 0.5)) > 0.97


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=3))
def test_printed_numbers_read_back_exactly(values):
    from tinygrad_bp.commands.predict import parse_csv
    from tinygrad_bp.formatting import fmt

    line = ",".join(fmt(v, "") for v in values)
    back = parse_csv(line + "\n", len(values), "text")[0]
    assert [float(v) for v in back] == [v + 0.0 for v in values]  # -0.0 is printed as 0
    assert not any(t.startswith("-") and float(t) == 0 for t in line.split(","))
