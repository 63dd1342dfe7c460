"""`compare`: the fixed example network, every activation of the op table, the size limit."""

from __future__ import annotations

import json
import math
import time

import pytest

from tinygrad_bp.cli import main
from tinygrad_bp.engine.ops import ACTIVATIONS


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_fixed_example_numbers_worked_out_by_hand(capsys):
    status, out, _ = run(capsys, "compare", "--json")
    data = json.loads(out)
    assert status == 0 and data["agree"] is True
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    v = [0.1 * 1 + 0.2 * 0.5 + 0.1, -0.3 * 1 + 0.4 * 0.5 + 0.3, 0.5 * 1 - 0.6 * 0.5 - 0.1]
    y_h = [s(t) for t in v]
    y = 0.7 * y_h[0] - 0.8 * y_h[1] + 0.9 * y_h[2] + 0.1
    e = 0.5 - y
    assert data["forward"]["y4"] == pytest.approx(y, rel=1e-14)
    assert data["forward"]["E"] == pytest.approx(0.5 * e * e, rel=1e-13)
    w11 = data["parameters"]["w11"]
    by_hand = -e * 0.7 * y_h[0] * (1 - y_h[0]) * 1.0
    assert set(w11["gradient"]) == {"value_engine", "tensor_engine", "rules", "numeric"}
    assert w11["gradient"]["rules"] == pytest.approx(by_hand, rel=1e-12)
    assert w11["new"] == pytest.approx(0.1 - 0.5 * by_hand, rel=1e-12)
    assert data["backward"]["delta4"] == pytest.approx(e, rel=1e-13)


@pytest.mark.parametrize("act", [*ACTIVATIONS, "leaky_relu(0.2)", "elu(0.5)"])
def test_every_activation_end_to_end_against_torch(capsys, torch, act):
    argv = ["compare", "--hidden", act, "--output", act, "--seed", "3", "--json"]
    status, out, _ = run(capsys, *argv)
    data = json.loads(out)
    assert status == 0 and data["agree"] is True
    name, _, param = act.partition("(")
    fn = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "linear": lambda v: v,
        "relu": torch.relu,
        "softplus": torch.nn.functional.softplus,
        "elu": torch.nn.functional.elu,
        "leaky_relu": torch.nn.functional.leaky_relu,
    }[name]
    if param:
        value = float(param.rstrip(")"))
        key = "alpha" if name == "elu" else "negative_slope"
        base = fn
        fn = lambda v: base(v, **{key: value})  # noqa: E731
    params = data["parameters"]
    sizes = data["network"]["sizes"]
    f64 = torch.float64
    t = {k: torch.tensor(p["value"], dtype=f64, requires_grad=True) for k, p in params.items()}
    x = torch.tensor(data["data"][0]["x"], dtype=torch.float64)
    d = torch.tensor(data["data"][0]["d"], dtype=torch.float64)
    n, h, o = sizes
    hidden = range(1, h + 1)
    W1 = torch.stack([torch.stack([t[f"w{i}{k}"] for k in range(1, n + 1)]) for i in hidden])
    b1 = torch.stack([t[f"b{i}"] for i in range(1, h + 1)])
    outs = range(h + 1, h + o + 1)
    W2 = torch.stack([torch.stack([t[f"w{j}{i}"] for i in range(1, h + 1)]) for j in outs])
    b2 = torch.stack([t[f"b{j}"] for j in outs])
    y = fn(W2 @ fn(W1 @ x + b1) + b2)
    E = 0.5 * ((d - y) ** 2).sum()
    E.backward()
    assert data["forward"]["E"] == pytest.approx(E.item(), rel=1e-12)
    for k, p in params.items():
        assert p["gradient"]["value_engine"] == pytest.approx(t[k].grad.item(), rel=1e-9, abs=1e-14)


def test_big_network_refused_fast_with_the_flag_named(capsys):
    start = time.perf_counter()
    status, out, err = run(capsys, "compare", "--sizes", "300,300,300", "--seed", "1")
    assert status == 2 and "--max-params" in err and "180600" in err and out == ""
    assert time.perf_counter() - start < 10


def test_a_net_at_the_limit_takes_seconds_not_minutes_and_agrees(capsys):
    # 19999 parameters; E is large, so finite differences carry more rounding
    start = time.perf_counter()
    status, out, _ = run(capsys, "compare", "--sizes", "100,99,100", "--seed", "1", "--json")
    assert status == 0 and json.loads(out)["agree"] is True
    assert time.perf_counter() - start < 60  # it took minutes when finite differences were O(P^2)
