"""Data sets, training (both engines, side by side), and the train command."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tinygrad_bp import nn, no_grad
from tinygrad_bp.cli import main
from tinygrad_bp.nn import data
from tinygrad_bp.nn.optim import SGD, Adam
from tinygrad_bp.nn.train import evaluate, fit, score, split


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


@pytest.mark.parametrize("engine", ["value", "tensor"])
@pytest.mark.parametrize("traced", [False, True])
def test_fit_inside_no_grad_is_refused_and_trains_nothing(engine, traced):
    """Eager and traced alike: the traced step used to train inside no_grad()."""
    X, y = data.moons(n=16, seed=0)
    make = nn.ValueMLP if engine == "value" else nn.MLP
    model = make([2, 3, 1], "tanh", seed=0)
    before = [np.copy(w) for w in model.layers()[0]]
    with no_grad(), pytest.raises(RuntimeError, match=r"inside no_grad\(\)"):
        fit(model, X, y, "mse", SGD(model.parameters(), 0.1), epochs=1, trace=traced)
    for old, new in zip(before, model.layers()[0]):
        np.testing.assert_array_equal(old, new)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def figure(out, name):
    """The number after `name` in the train report ("held-out accuracy   97.5%")."""
    return float(out.split(name)[1].split()[0].rstrip("%"))


def test_train_command_reports_saves_and_plots(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    args = ["train", "--data", "moons", "--layers", "2,16,16,1", "--activation", "tanh",
            "--loss", "bce", "--optimizer", "adam", "--lr", "0.05", "--epochs", "60",
            "--seed", "0", "--save", "--plot"]  # fmt: skip
    status, out, err = run(capsys, *args)
    assert status == 0, err
    assert "on 160 of 200 moons samples (40 held out)" in out
    for name in ["training loss", "training accuracy", "held-out loss", "held-out accuracy"]:
        assert name in out
    assert figure(out, "training accuracy") >= 95.0 and figure(out, "held-out accuracy") >= 90
    assert "epoch 60/60" in err
    assert (tmp_path / "out" / "training.png").read_bytes()[:4] == b"\x89PNG"
    loaded = nn.MLP.load(tmp_path / "out" / "model.npz")
    X, y = data.moons(seed=0)
    X_train, y_train, X_held, y_held = split(X, y, 0.2, seed=0)
    assert score(loaded, X_held, y_held, "bce")[1] == figure(out, "held-out accuracy") / 100
    assert evaluate(loaded, X_train, y_train, "bce") == pytest.approx(
        figure(out, "training loss"), abs=5e-6
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing in the current folder


def test_train_json_and_holdout_zero(capsys):
    import json

    status, out, err = run(capsys, "train", "--data", "xor", "--epochs", "5", "--holdout", "0",
                           "--json")  # fmt: skip
    assert status == 0 and err == ""  # no progress lines when the output is for a program
    report = json.loads(out)
    assert report["samples"] == {"training": 4, "held_out": 0}
    assert set(report["results"]) == {"training_loss", "training_accuracy"}
    assert len(report["training_loss_per_epoch"]) == 5


def test_held_out_split_is_disjoint_and_seeded():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    a = split(X, y, 0.3, seed=1)
    assert [len(part) for part in a] == [7, 7, 3, 3]
    assert sorted(np.r_[a[1], a[3]]) == list(range(10))
    assert all(np.array_equal(p, q) for p, q in zip(a, split(X, y, 0.3, seed=1)))


def test_history_records_gradient_norms_per_layer():
    X, y = data.moons(n=32, seed=0)
    m = nn.MLP([2, 4, 3, 1], "sigmoid", seed=0)
    hist = fit(m, X, y, "bce", SGD(m.parameters(), 0.1), epochs=2, batch_size=32,
               snapshot_epochs=(0, 2))  # fmt: skip
    assert len(hist.grad_norms) == 2 and len(hist.grad_norms[0]) == 3
    # one batch per epoch: epoch 2's norms are those of the gradient at the epoch-1 weights
    again = nn.MLP([2, 4, 3, 1], "sigmoid", seed=0)
    fit(again, X, y, "bce", SGD(again.parameters(), 0.1), epochs=1, batch_size=32)
    rng = np.random.default_rng(0)
    rng.permutation(32)
    idx = rng.permutation(32)
    again.zero_grad()
    nn.bce(again(X[idx]), y[idx].reshape(-1, 1)).backward()
    expected = [np.linalg.norm(mod.W.grad) for mod in again.net.modules]
    np.testing.assert_allclose(hist.grad_norms[1], expected, rtol=1e-12)
    assert set(hist.snapshots) == {0, 2}
    initial = nn.MLP([2, 4, 3, 1], "sigmoid", seed=0).layers()[0][0]
    np.testing.assert_array_equal(hist.snapshots[0]["layer1.weight"], initial)


def test_train_sine_regression(capsys):
    status, out, _ = run(capsys, "train", "--data", "sine", "--epochs", "100", "--lr", "0.02")
    assert status == 0
    assert figure(out, "held-out mse") < 0.05


@pytest.mark.parametrize(
    "args,expect",
    [
        (["--layers", "3,4,1"], "starts with 3 inputs"),
        (["--data", "sine", "--loss", "bce"], "needs class labels"),
        (["--layers", "2,4,2", "--loss", "bce"], "one output"),
        (["--samples", "100000", "--engine", "value"], "use --engine tensor"),
        (["--samples", "100000000"], "over the limit of 1,000,000; use fewer, or --force"),
        (["--layers", "2,5000,5000,1"], "parameters, over the limit"),
        (
            ["--lr", "1e300", "--optimizer", "sgd", "--activation", "linear"],
            "diverged (learning rate too large?); nothing was saved; try a smaller --lr",
        ),
    ],
)
def test_train_bad_arguments_exit_2(capsys, args, expect, tmp_path):
    status, _, err = run(capsys, "train", *args, "--save", str(tmp_path / "m.npz"))
    assert status == 2 and expect in err
    assert err.startswith("tinygrad-bp: error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--layers", "2,x"],
        ["--lr", "-1"],
        ["--lr", "inf"],
        ["--lr", "nan"],
        ["--engine", "gpu"],
        ["--seed", "-1"],
        ["--noise", "nan"],
        ["--noise", "-0.1"],
        ["--epochs", "0"],
        ["--holdout", "1"],
        ["--activation", "softsign"],
        ["--activation", "leaky_relu(x)"],
    ],
)
def test_train_argparse_errors_exit_2(capsys, args):
    with pytest.raises(SystemExit) as exc:
        main(["train", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert args[0] in err and "Traceback" not in err


def test_plot_without_matplotlib_is_refused_before_training(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from tinygrad_bp.cli import main\n"
        f"sys.exit(main(['train', '--epochs', '2', '--plot', r'{tmp_path / 'p.png'}']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2 and "pip install 'tinygrad-bp[plot]'" in r.stderr
    assert "epoch" not in r.stderr and r.stdout == ""


def test_big_moons_with_the_tensor_engine(capsys):
    status, out, _ = run(capsys, "train", "--samples", "100000", "--batch-size", "256",
                         "--epochs", "2")  # fmt: skip
    assert status == 0
    assert figure(out, "held-out accuracy") > 95


@pytest.mark.parametrize("act", ["leaky_relu(0.2)", "elu(0.5)", "softplus"])
def test_train_takes_every_activation_and_saves_it(tmp_path, capsys, act):
    name = act.split("(")[0]
    if not hasattr(nn.MLP([1, 1]).net.modules[0].W, name):
        pytest.skip(f"the engine has no {name} method yet")
    path = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", "--activation", act, "--epochs", "3", "--save",
                           str(path))  # fmt: skip
    assert status == 0, err
    assert nn.MLP.load(path).activations == [act, act, "linear"]


@pytest.mark.parametrize("trace", [False, True])
def test_fit_refuses_targets_that_do_not_match_the_examples(trace):
    X = np.random.default_rng(0).normal(size=(10, 2))
    cases = [
        (nn.MLP([2, 3, 1], seed=0), np.zeros(12), "mse", "12 targets for 10 examples"),
        (nn.MLP([2, 3, 1], seed=0), np.zeros(8), "mse", "8 targets for 10 examples"),
        (nn.MLP([2, 3, 2], seed=0), np.zeros(10), "mse", "2 target numbers per example"),
        (nn.MLP([2, 3, 2], seed=0), np.zeros(12), "ce", "1 class label per example"),
    ]
    for model, y, loss, message in cases:
        with pytest.raises(ValueError, match=message):
            fit(model, X, y, loss, SGD(model.parameters()), epochs=1, trace=trace)


@pytest.mark.parametrize("loss,layers", [("bce", "2,4,1"), ("ce", "2,4,2")])
def test_train_refuses_a_sigmoid_output_under_a_squashing_loss(loss, layers, capsys):
    # bce and ce take logits: a sigmoid output layer would squash them twice
    argv = ["train", "--data", "xor", "--loss", loss, "--layers", layers, "--epochs", "1"]
    assert main(argv + ["--output-activation", "sigmoid"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "squashed twice" in err and "--output-activation" in err
    assert main(argv + ["--json"]) == 0  # the default linear output trains
