"""Data sets, training (both engines, side by side), and the train command."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tinygrad_bp import nn
from tinygrad_bp.cli import main
from tinygrad_bp.nn import data
from tinygrad_bp.nn.optim import SGD, Adam
from tinygrad_bp.nn.train import fit, score


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_datasets_are_seeded_and_shaped(name):
    make = data.DATASETS[name]
    X, y = make(n=40, seed=1)
    X2, y2 = make(n=40, seed=1)
    assert X.shape[0] == y.shape[0] == 40 and np.array_equal(X, X2) and np.array_equal(y, y2)
    if name != "sine":
        assert set(np.unique(y)) <= {0.0, 1.0}


def test_xor_truth_table_and_sine_values():
    X, y = data.xor()
    assert np.array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(float))
    x, t = data.sine(n=50, noise=0.0)
    np.testing.assert_allclose(t, np.sin(x[:, 0]))


def test_moons_lie_on_their_half_circles():
    X, y = data.moons(n=100, noise=0.0)
    upper = X[y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    lower = X[y == 1]
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)


def test_xor_with_values_learns():
    X, y = data.xor()
    model = nn.ValueMLP([2, 4, 1], "tanh", "linear", seed=0)
    hist = fit(model, X, y, "bce", Adam(model.parameters(), 0.1), epochs=150, batch_size=4)
    assert hist.losses[-1] < 0.05 * hist.losses[0]
    assert score(model, X, y, "bce") == ("accuracy", 1.0)


def test_both_engines_train_identically():
    X, y = data.moons(n=40, seed=0)
    mv = nn.ValueMLP([2, 5, 1], "tanh", seed=0)
    mt = nn.MLP([2, 5, 1], "tanh", seed=0)
    hv = fit(mv, X, y, "bce", SGD(mv.parameters(), 0.2), epochs=3, batch_size=8)
    ht = fit(mt, X, y, "bce", SGD(mt.parameters(), 0.2), epochs=3, batch_size=8)
    np.testing.assert_allclose(hv.losses, ht.losses, rtol=1e-12)
    np.testing.assert_allclose(mv.layers()[0][0], mt.layers()[0][0], rtol=1e-11)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_train_command_saves_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    args = ["train", "--data", "moons", "--layers", "2,16,16,1", "--activation", "tanh",
            "--loss", "bce", "--optimizer", "adam", "--lr", "0.05", "--epochs", "60",
            "--seed", "0", "--save", str(tmp_path / "m.npz"),
            "--plot", str(tmp_path / "c.png")]  # fmt: skip
    status, out, err = run(capsys, *args)
    assert status == 0, err
    accuracy = float(out.split("training accuracy ")[1].split("%")[0])
    assert accuracy >= 95.0
    assert "epoch 60/60" in err
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    loaded = nn.MLP.load(tmp_path / "m.npz")
    X, y = data.moons(seed=0)
    assert score(loaded, X, y, "bce")[1] == pytest.approx(accuracy / 100, abs=1e-3)


def test_train_sine_regression(capsys):
    status, out, _ = run(capsys, "train", "--data", "sine", "--epochs", "100", "--lr", "0.02")
    assert status == 0
    assert float(out.split("training mse ")[1]) < 0.05


@pytest.mark.parametrize(
    "args,expect",
    [
        (["--layers", "3,4,1"], "starts with 3 inputs"),
        (["--data", "sine", "--loss", "bce"], "needs class labels"),
        (["--layers", "2,4,2", "--loss", "bce"], "one output"),
        (["--samples", "100000", "--engine", "value"], "use --engine tensor"),
    ],
)
def test_train_bad_arguments_exit_2(capsys, args, expect):
    status, _, err = run(capsys, "train", *args)
    assert status == 2 and expect in err


@pytest.mark.parametrize("args", [["--layers", "2,x"], ["--lr", "-1"], ["--engine", "gpu"]])
def test_train_argparse_errors_exit_2(capsys, args):
    with pytest.raises(SystemExit) as exc:
        main(["train", *args])
    assert exc.value.code == 2


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from tinygrad_bp.cli import main\n"
        f"sys.exit(main(['train', '--epochs', '2', '--plot', r'{tmp_path / 'p.png'}']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and "pip install 'tinygrad-bp[plot]'" in r.stderr


def test_big_moons_with_the_tensor_engine(capsys):
    status, out, _ = run(capsys, "train", "--samples", "100000", "--batch-size", "256",
                         "--epochs", "2")  # fmt: skip
    assert status == 0
    assert float(out.split("training accuracy ")[1].split("%")[0]) > 95
