"""Every wing's errors name the offending value, what was expected, and what to do.

Each row triggers one error with an input chosen here and lists substrings read off
that input: the value (its repr, shape, type or name) and the words or flag of the
remedy. The exception type is part of the contract (callers catch it), so it is
checked too.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bp import Tensor, Value, detect_anomaly
from tinygrad_bp.cli import main
from tinygrad_bp.derivatives.expr import ExpressionError, parse
from tinygrad_bp.derivatives.limits import Limits
from tinygrad_bp.derivatives.verify import VerifyError, verify_text
from tinygrad_bp.engine.autograd import AnomalyError
from tinygrad_bp.engine.gradcheck import gradcheck
from tinygrad_bp.engine.ops import activation
from tinygrad_bp.engine.tensor import ShapeError
from tinygrad_bp.engine.trace import TraceError, trace
from tinygrad_bp.files import FileLimitError
from tinygrad_bp.nn import MLP, ModelFileError, mse, softmax_cross_entropy
from tinygrad_bp.nn.data import moons
from tinygrad_bp.nn.optim import SGD, Adam
from tinygrad_bp.nn.train import fit
from tinygrad_bp.slides.case import CaseError, load_case
from tinygrad_bp.slides.twolayer import TwoLayerNet
from tinygrad_bp.teach.exercise import make_exercises
from tinygrad_bp.views.draw import draw, draw_network
from tinygrad_bp.views.explain import explain
from tinygrad_bp.views.render import RenderError, render

CASE = """\
[network]
eta = 0.1

[[layer]]
W = [[1.0, 0.0]]
b = [0.0]
activation = "linear"

[[data]]
x = [1.0, 2.0]
d = [1.0]
"""


def _case(tmp_path: Path, old: str = "", new: str = "") -> Path:
    path = tmp_path / "case.toml"
    path.write_text(CASE.replace(old, new) if old else CASE)
    return path


def _junk_model(tmp_path: Path) -> Path:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not a zip archive")
    return path


def _graph():
    a = Value(2.0, "a")
    b = Value(3.0, "b")
    return a * b + a


def _param(*shape, dtype="float64"):
    return Tensor(np.ones(shape), requires_grad=True, dtype=dtype)


# (id, action(tmp_path), exception type, substrings naming the value, substring of the remedy)
PYTHON = [
    # -- engine: Value ------------------------------------------------------------
    ("value-text", lambda t: Value("abc"), TypeError, ["str", "'abc'"], "pass e.g. 0.5"),
    ("value-huge-int", lambda t: Value(10**400), ValueError, ["1000000000"], "scale it down"),
    ("value-role", lambda t: Value(1.0, role="weight"), ValueError, ["'weight'"], "role='input'"),
    ("value-plus-text", lambda t: Value(1.0) + "x", TypeError, ["str", "'x'"], "use a number"),
    ("value-plus-nan", lambda t: Value(1.0) + math.nan, ValueError, ["nan"], "use a finite"),
    (
        "value-pow-negative-base",
        lambda t: Value(-2.0) ** Value(0.5),
        ValueError,
        ["a=-2.0", "b=0.5"],
        "use a number exponent",
    ),
    ("value-log-zero", lambda t: Value(0.0).log(), ValueError, ["log(0.0)"], "keep the input"),
    # -- engine: Tensor -----------------------------------------------------------
    ("tensor-text", lambda t: Tensor("abc"), TypeError, ["str", "'abc'"], "float(text)"),
    ("tensor-ragged", lambda t: Tensor([[1, 2], [3]]), TypeError, ["shape"], "equal length"),
    ("tensor-dtype", lambda t: Tensor([1.0], dtype="int32"), TypeError, ["int32"], "'float64'"),
    (
        "tensor-nan",
        lambda t: Tensor([1.0, math.nan]),
        ValueError,
        ["(2,)", "1 of 2"],
        "clean the input",
    ),
    (
        "tensor-matmul",
        lambda t: Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3))),
        ShapeError,
        ["(2, 3) and (2, 3)", "3 and 2"],
        "reshape or transpose",
    ),
    (
        "tensor-broadcast",
        lambda t: Tensor(np.ones((2, 3))) + Tensor(np.ones(4)),
        ShapeError,
        ["(2, 3) and (4,)"],
        "reshape or transpose",
    ),
    ("tensor-axis", lambda t: Tensor(np.ones(3)).sum(axis=2), ShapeError, ["axis 2"], "-1..0"),
    (
        "tensor-reshape",
        lambda t: Tensor(np.ones(6)).reshape(4, 2),
        ShapeError,
        ["(6,)", "(4, 2)"],
        "give a shape with as many",
    ),
    ("tensor-item", lambda t: Tensor(np.ones(3)).item(), ValueError, ["(3,)"], "t[0].item()"),
    ("tensor-pow-text", lambda t: Tensor([1.0]) ** "2", TypeError, ["str", "'2'"], "t ** 2"),
    (
        "tensor-backward-vector",
        lambda t: _param(3).backward(),
        ShapeError,
        ["(3,)"],
        "np.ones((3,))",
    ),
    (
        "tensor-backward-no-grad",
        lambda t: Tensor(np.ones(3)).sum().backward(),
        RuntimeError,
        ["'sum'"],
        "requires_grad=True",
    ),
    ("tensor-log", lambda t: Tensor([2.0, -1.0]).log(), ValueError, ["-1.0", "[1]"], "positive"),
    (
        "tensor-anomaly",
        lambda t: _anomalous_product(),
        AnomalyError,
        ["'*'", "(2,)"],
        "scale them down",
    ),
    # -- engine: ops, gradcheck, trace ---------------------------------------------
    ("activation-unknown", lambda t: activation("swish"), ValueError, ["'swish'"], "tanh"),
    (
        "activation-param",
        lambda t: activation("leaky_relu(x)"),
        ValueError,
        ["'x'", "slope"],
        "leaky_relu(0.01)",
    ),
    ("activation-type", lambda t: activation(3), TypeError, ["int", "3"], "give one of"),
    (
        "gradcheck-number",
        lambda t: gradcheck(lambda x: x, 3.0),
        TypeError,
        ["float", "3.0"],
        "requires_grad=True",
    ),
    (
        "gradcheck-float32",
        lambda t: gradcheck(lambda x: x.sum(), _param(2, dtype="float32")),
        TypeError,
        ["float32"],
        "dtype='float64'",
    ),
    (
        "trace-text-input",
        lambda t: trace(lambda x: x * 2.0, "two"),
        TraceError,
        ["str", "'two'"],
        "pass e.g. 0.5",
    ),
    # -- nn --------------------------------------------------------------------------
    (
        "mlp-input-shape",
        lambda t: MLP([2, 3, 1])(np.ones((4, 3))),
        ValueError,
        ["(batch, 2)", "(4, 3)"],
        "pass 2 features",
    ),
    ("mlp-sizes", lambda t: MLP([2, 0, 1]), ValueError, ["[2, 0, 1]"], "pass e.g. [2, 3, 1]"),
    ("mlp-dtype", lambda t: MLP([2, 1], dtype="float16"), ValueError, ["'float16'"], "float64"),
    (
        "loss-targets",
        lambda t: mse(Tensor(np.ones((2, 1))), [1.0, 2.0, 3.0]),
        ValueError,
        ["(3,)", "(2, 1)"],
        "one target per output",
    ),
    (
        "loss-labels",
        lambda t: softmax_cross_entropy(Tensor(np.ones((2, 3))), [0, 5]),
        ValueError,
        ["0..2", "..5"],
        "relabel",
    ),
    ("optim-empty", lambda t: SGD([], lr=0.1), ValueError, ["empty"], "model.parameters()"),
    ("optim-lr", lambda t: SGD([_param(1)], lr=-1.0), ValueError, ["-1.0"], "lr=0.1"),
    (
        "optim-betas",
        lambda t: Adam([_param(1)], betas=(1.0, 0.9)),
        ValueError,
        ["(1.0, 0.9)"],
        "betas=(0.9, 0.999)",
    ),
    ("data-samples", lambda t: moons(n=0), ValueError, ["got 0"], "n=200"),
    (
        "fit-loss",
        lambda t: fit(MLP([2, 1]), np.ones((2, 2)), np.ones(2), "hinge", SGD([_param(1)]), 1, 1),
        ValueError,
        ["'hinge'"],
        "give one of",
    ),
    (
        "model-file-junk",
        lambda t: MLP.load(_junk_model(t)),
        ModelFileError,
        ["junk.npz"],
        "model.save",
    ),
    (
        "model-file-missing",
        lambda t: MLP.load(t / "gone.npz"),
        ModelFileError,
        ["gone.npz", "no such file"],
        "check the name",
    ),
    # -- slides ------------------------------------------------------------------------
    (
        "case-nan-eta",
        lambda t: load_case(_case(t, "eta = 0.1", "eta = nan")),
        CaseError,
        ["case.toml:2", "eta", "nan"],
        "write e.g.",
    ),
    (
        "case-mode",
        lambda t: load_case(_case(t, "eta = 0.1", 'eta = 0.1\nmode = "mini"')),
        CaseError,
        ["'mini'"],
        'mode = "online"',
    ),
    (
        "case-missing-W",
        lambda t: load_case(_case(t, "W = [[1.0, 0.0]]\n")),
        CaseError,
        ["[[layer]] number 1", "W is missing"],
        "W = [[",
    ),
    (
        "case-size",
        lambda t: load_case(_case(t), max_bytes=10),
        FileLimitError,
        ["case.toml", "over the limit"],
        "max_bytes=",
    ),
    (
        "twolayer-parameter",
        lambda t: TwoLayerNet.random().perturbed("w99", 0.1),
        KeyError,
        ["'w99'"],
        "give one of",
    ),
    (
        "twolayer-example",
        lambda t: TwoLayerNet.random().value_gradients(np.ones(3), np.ones(1)),
        ValueError,
        ["x has 3 entries", "2 inputs"],
        "give 2 numbers",
    ),
    # -- views -----------------------------------------------------------------------
    ("draw-text", lambda t: draw("loss"), TypeError, ["str", "'loss'"], "draw(loss)"),
    ("draw-network", lambda t: draw_network(42), TypeError, ["int"], "draw(root)"),
    ("render-format", lambda t: render("digraph {}", "gif"), RenderError, ["'gif'"], "svg"),
    ("explain-name", lambda t: explain(_graph(), "c"), KeyError, ["'c'"], "a, b"),
    # -- derivatives ---------------------------------------------------------------------
    ("expr-type", lambda t: parse(3), ExpressionError, ["int", "3"], "'x**2 + 1'"),
    ("expr-caret", lambda t: parse("x^2"), ExpressionError, ["'x^2'"], "**"),
    ("expr-function", lambda t: parse("foo(x)"), ExpressionError, ["'foo'"], "exp"),
    ("expr-lambda", lambda t: parse("lambda: x"), ExpressionError, ["'lambda: x'"], "in x"),
    ("expr-call", lambda t: parse("(2*x)(3)"), ExpressionError, ["'2*x'"], "sigmoid"),
    ("verify-step-first", lambda t: verify_text("= x"), VerifyError, ["'= x'"], "start with"),
    ("verify-empty", lambda t: verify_text("# nothing"), VerifyError, ["empty"], "d/dx x**2"),
    (
        "limits-bad",
        lambda t: Limits(max_depth=0),
        ValueError,
        ["got 0", "Limits(max_depth=...)"],
        "whole number >= 1",
    ),
    # -- teach -------------------------------------------------------------------------
    (
        "exercise-sizes",
        lambda t: make_exercises([2], ["tanh"], 0),
        ValueError,
        ["[2]"],
        "like 2,2,1",
    ),
]


def _anomalous_product():
    with detect_anomaly(), np.errstate(over="ignore"):
        return Tensor([1e308, 1.0]) * 10.0


@pytest.mark.parametrize(
    "action,kind,values,remedy", [row[1:] for row in PYTHON], ids=[row[0] for row in PYTHON]
)
def test_python_errors_name_value_and_remedy(tmp_path, action, kind, values, remedy):
    with pytest.raises(kind) as info:
        action(tmp_path)
    message = str(info.value.args[0]) if isinstance(info.value, KeyError) else str(info.value)
    for value in values:
        assert value in message, f"{value!r} missing from: {message}"
    assert remedy in message, f"remedy {remedy!r} missing from: {message}"


def _model(tmp_path: Path) -> str:
    return str(MLP([2, 3, 1]).save(tmp_path / "m.npz"))


def _csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "in.csv"
    path.write_text(text)
    return str(path)


def _rules(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.txt"
    path.write_text(text)
    return str(path)


# (id, argv(tmp_path), substrings naming the value, substring of the remedy: a flag or step)
CLI = [
    ("train-lr", lambda t: ["train", "--lr", "nan"], ["--lr", "'nan'"], "give e.g. 0.1"),
    (
        "train-loss-data",
        lambda t: ["train", "--data", "sine", "--loss", "bce"],
        ["--loss bce", "--data sine"],
        "--loss mse",
    ),
    (
        "train-layers",
        lambda t: ["train", "--data", "xor", "--layers", "3,4,1"],
        ["--layers starts with 3", "has 2"],
        "start --layers with 2",
    ),
    (
        "train-ce-outputs",
        lambda t: ["train", "--data", "moons", "--loss", "ce", "--layers", "2,4,1"],
        ["got 1"],
        "--loss bce",
    ),
    (
        "draw-view",
        lambda t: ["draw", "--view", "network", "--highlight", "w11"],
        ["--view network"],
        "--view graph",
    ),
    (
        "draw-size",
        lambda t: ["draw", "--sizes", "200,200,200", "-o", str(t / "x.svg")],
        ["--sizes 200,200,200"],
        "raise --max-nodes",
    ),
    (
        "draw-highlight",
        lambda t: ["draw", "--highlight", "w99", "-o", str(t / "x.svg")],
        ["'w99'"],
        "w31",
    ),
    ("check-missing", lambda t: ["check", str(t / "nope.toml")], ["nope.toml"], "check the name"),
    (
        "check-size",
        lambda t: ["check", str(_case(t)), "--max-bytes", "10"],
        ["case.toml", "over the limit"],
        "raise it with --max-bytes",
    ),
    ("check-rtol", lambda t: ["check", "x.toml", "--rtol", "5"], ["--rtol", "'5'"], "0.02"),
    (
        "predict-text",
        lambda t: ["predict", _model(t), _csv(t, "1,2\n1,x\n")],
        ["line 2", "'x'"],
        "comma-separated",
    ),
    (
        "predict-columns",
        lambda t: ["predict", _model(t), _csv(t, "1,2,3\n")],
        ["3 columns"],
        "give 2 comma-separated numbers",
    ),
    (
        "verify-caret",
        lambda t: ["verify", _rules(t, "d/dx x^2 = 2*x\n")],
        ["line 1", "'x^2'"],
        "write powers with **",
    ),
    (
        "verify-digits",
        lambda t: ["verify", _rules(t, "d/dx x = " + "9" * 40 + "\n")],
        ["99999", "40"],
        "--max-digits",
    ),
    (
        "exercise-layers",
        lambda t: ["exercise", "--layers", "30,30,30", "-o", str(t / "ex")],
        ["--layers 30,30,30"],
        "give a smaller network",
    ),
]


@pytest.mark.parametrize(
    "argv,values,remedy", [row[1:] for row in CLI], ids=[row[0] for row in CLI]
)
def test_cli_errors_name_value_and_flag(tmp_path, capsys, argv, values, remedy):
    try:
        status = main(argv(tmp_path))
    except SystemExit as exc:  # argparse's own exit
        status = exc.code
    out, err = capsys.readouterr()
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for value in values:
        assert value in err, f"{value!r} missing from: {err}"
    assert remedy in err, f"remedy {remedy!r} missing from: {err}"


def test_the_table_covers_every_wing():
    """At least 40 errors, from each wing of the package."""
    ids = [row[0] for row in PYTHON] + [row[0] for row in CLI]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    wings = {
        "value-", "tensor-", "activation-", "mlp-", "loss-", "optim-", "model-file-", "case-",
        "twolayer-", "draw", "render-", "explain-", "expr-", "verify-", "exercise-", "train-",
        "check-", "predict-",
    }  # fmt: skip
    assert all(any(i.startswith(w) for i in ids) for w in wings)
