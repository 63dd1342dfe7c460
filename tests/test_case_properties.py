"""Properties of `check` on random case files: truth against PyTorch, true claims ok,
each slip of the catalogue diagnosed, the numbers computed from a slip `follows`."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp.slides.case import Case, judge, true_values

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

try:
    import torch
except ImportError:  # the PyTorch cross-check skips; the other properties still run
    torch = None

ACTS = ["sigmoid", "tanh", "linear", "softplus", "elu", "leaky_relu(0.2)"]


def random_case(seed: int) -> dict:
    """A random network (2-4 layers of weights), loss, biases, mode and steps, as TOML data."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(2, 5))
    sizes = [int(s) for s in rng.integers(1, 4, depth + 1)]
    loss = str(rng.choice(["half_sse", "sse", "mse", "bce", "softmax_ce"]))
    if loss == "softmax_ce":
        sizes[-1] = max(sizes[-1], 2)
    layers = []
    for l in range(depth):
        last = l == depth - 1
        act = str(rng.choice(ACTS))
        if last and loss == "bce":
            act = "sigmoid"
        if last and loss == "softmax_ce":
            act = "linear"
        W = np.round(rng.uniform(-1, 1, (sizes[l + 1], sizes[l])), 2).tolist()
        shared = rng.random() < 0.3
        b = (
            float(np.round(rng.uniform(-1, 1), 2))
            if shared
            else np.round(rng.uniform(-1, 1, sizes[l + 1]), 2).tolist()
        )
        layer = {"W": W, "b": b, "activation": act}
        if rng.random() < 0.2:
            layer["frozen"] = ["b"]
        layers.append(layer)
    data = []
    for _ in range(int(rng.integers(1, 3))):
        x = np.round(rng.uniform(-1, 1, sizes[0]), 2).tolist()
        if loss == "softmax_ce":
            d = [0.0] * sizes[-1]
            d[int(rng.integers(sizes[-1]))] = 1.0
        elif loss == "bce":
            d = np.round(rng.uniform(0, 1, sizes[-1]), 2).tolist()
        else:
            d = np.round(rng.uniform(-1, 1, sizes[-1]), 2).tolist()
        data.append({"x": x, "d": d})
    network = {
        "loss": loss,
        "eta": float(np.round(rng.uniform(0.1, 0.9), 2)),
        "mode": str(rng.choice(["online", "batch"])),
        "steps": int(rng.integers(1, 4)),
    }
    return {"network": network, "layer": layers, "data": data}


def toml(d: dict) -> str:
    """TOML text of a case dict."""

    def value(v):
        if isinstance(v, str):
            return '"' + v + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(t) for t in v) + "]"
        if isinstance(v, float):
            return format(v, ".12g") if math.isfinite(v) else "nan"
        return str(v)

    lines = ["[network]"] + [f"{k} = {value(v)}" for k, v in d["network"].items()]
    for table in ("layer", "data"):
        for t in d[table]:
            lines += [f"[[{table}]]"] + [f"{k} = {value(v)}" for k, v in t.items()]
    # claims with 13 significant digits written out (trailing zeros too): a precise number
    lines += ["[claims]"] + [f'"{k}" = {float(v):.12e}' for k, v in d.get("claims", {}).items()]
    return "\n".join(lines) + "\n"


def load(d: dict) -> Case:
    text = toml(d)
    return Case.from_dict(tomllib.loads(text), raw=text)


def torch_truth(d: dict) -> tuple[list[dict[str, float]], list[float]]:
    """Parameters after each update and E of each pass, by PyTorch autograd (independent)."""
    net = d["network"]
    acts = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "linear": lambda v: v,
        "softplus": torch.nn.functional.softplus,
        "elu": torch.nn.functional.elu,
        "leaky_relu(0.2)": lambda v: torch.nn.functional.leaky_relu(v, 0.2),
    }
    f64 = torch.float64
    Ws = [torch.tensor(layer["W"], dtype=f64, requires_grad=True) for layer in d["layer"]]
    bs = [
        torch.tensor(np.atleast_1d(layer["b"]), dtype=f64, requires_grad=True)
        for layer in d["layer"]
    ]
    xs = [torch.tensor(e["x"], dtype=f64) for e in d["data"]]
    ds = [torch.tensor(e["d"], dtype=f64) for e in d["data"]]

    def loss_of(x, t):
        y = x
        for layer, W, b in zip(d["layer"], Ws, bs):
            y = acts[layer["activation"]](W @ y + b)
        if net["loss"] == "half_sse":
            return 0.5 * ((t - y) ** 2).sum()
        if net["loss"] == "sse":
            return ((t - y) ** 2).sum()
        if net["loss"] == "mse":
            return ((t - y) ** 2).mean()
        if net["loss"] == "bce":
            return torch.nn.functional.binary_cross_entropy(y, t, reduction="sum")
        return -(t * torch.log_softmax(y, 0)).sum()

    Es, grads = [], []
    for n in range(net["steps"] + 1):
        idx = range(len(xs)) if net["mode"] == "batch" else [n % len(xs)]
        E = sum(loss_of(xs[k], ds[k]) for k in idx)
        for p in Ws + bs:
            p.grad = None
        E.backward()
        Es.append(E.item())
        grads.append([p.grad.clone() for p in Ws + bs])
        with torch.no_grad():
            for layer, W, b in zip(d["layer"], Ws, bs):
                if "W" not in layer.get("frozen", []):
                    W -= net["eta"] * W.grad
                if "b" not in layer.get("frozen", []):
                    b -= net["eta"] * b.grad
    return grads, Es


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6))
def test_truth_matches_pytorch_over_several_updates(seed):
    d = random_case(seed)
    case = load(d)
    truth = true_values(case)
    grads, Es = torch_truth(d)
    g = case.quantities
    for n, E in enumerate(Es):
        assert truth[g.name("E", "", n)] == pytest.approx(E, rel=1e-9, abs=1e-12)
    slots = case.network.slots()
    depth = len(d["layer"])
    for name, l, kind, idx in slots:
        t = grads[0][l if kind == "W" else depth + l]
        expected = t[idx].item() if kind == "W" else t[idx[0]].item()
        assert truth[f"dE/d{name}"] == pytest.approx(expected, rel=1e-8, abs=1e-11), name


def claims_of(case: Case, truth: dict[str, float]) -> dict[str, float]:
    """True claims of every quantity of the first pass and its update, and E of the last."""
    g = case.quantities
    out = {
        k: v
        for k, v in truth.items()
        if g.nodes[k].kind != "given" and g.nodes[k].order[0] == 0 and math.isfinite(v)
    }
    last = g.name("E", "", case.steps)
    out[last] = truth[last]
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_true_claims_are_all_ok(seed):
    d = random_case(seed)
    truth = true_values(load(d))
    d["claims"] = claims_of(load(d), truth)
    result = judge(load(d))
    bad = [(v.claim.name, v.status) for v in result.verdicts if v.status != "ok"]
    assert not bad
    assert result.exit_status == 0


def slipped(case: Case, truth: dict[str, float], rng) -> list[tuple[str, float, str, dict]]:
    """(claim, slipped value, slip id, later claims recomputed from it), worked out here."""
    g = case.quantities
    out = []
    eta = case.eta
    for p in case.network.parameter_names:
        grad, delta, new = f"dE/d{p}", f"Delta_{p}", g.param(p, 1)
        frozen = case.network.frozen(p)
        if not frozen:
            wrong = -truth[grad]
            later = {delta: -eta * wrong, new: truth[p] - eta * wrong}
            out.append((grad, wrong, "sign", later))
            wrong = -truth[grad]
            out.append((delta, wrong, "dropped_eta", {new: truth[p] + wrong}))
        layer_of = {n: l for n, l, _, _ in case.network.slots()}
        others = [o for o in case.network.parameter_names if o != p and layer_of[o] == layer_of[p]]
        if others:
            o = others[int(rng.integers(len(others)))]
            out.append((new, truth[o] + truth[delta], "wrong_old_value", {}))
        node = g.nodes.get(grad)
        if node is not None and node.kind == "grad" and len(node.inputs) == 2:
            for other in node.info.get("other_inputs", [])[:1]:
                wrong = -truth[node.inputs[0]] * truth[other]
                later = {} if frozen else {delta: -eta * wrong}
                out.append((grad, wrong, "wrong_input", later))
    if case.network.loss == "half_sse":
        E = g.name("E", "", 0)
        if g.nodes[E].kind == "E":
            out.append((E, 2 * truth[E], "missing_half", {}))
    for name, q in g.nodes.items():
        if q.order and q.order[0] != 0:
            continue
        if q.kind == "fprime":
            v, y = q.inputs
            out.append((name, truth[y], "wrong_derivative", {}))
        if q.kind == "delta" and q.info.get("hidden"):
            K = (len(q.inputs) - 1) // 2
            fp, ds = q.inputs[0], q.inputs[1 + K :]
            y = truth[q.info["own_y"]]
            out.append((name, truth[fp] * sum(y * truth[k] for k in ds), "value_for_weight", {}))
            new = [truth[w] for w in q.info["new_w"]]
            out.append(
                (
                    name,
                    truth[fp] * sum(w * truth[k] for w, k in zip(new, ds)),
                    "updated_weights",
                    {},
                )
            )
    return out


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6))
def test_each_slip_is_diagnosed_and_what_follows_from_it_follows(seed):
    d = random_case(seed)
    case = load(d)
    truth = true_values(case)
    base = claims_of(case, truth)
    rng = np.random.default_rng(seed)
    cases = slipped(case, truth, rng)
    rng.shuffle(cases)
    checked = 0
    for name, wrong, slip, later in cases[:6]:
        ref = truth[name]
        if not math.isfinite(wrong) or abs(wrong - ref) <= 1e-6 * max(1.0, abs(ref)):
            continue  # this slip changes nothing here
        claims = dict(base)
        claims[name] = wrong
        claims.update(later)
        d["claims"] = claims
        result = judge(load(d))
        by_name = {v.claim.key: v for v in result.verdicts}
        v = by_name[name]
        assert v.status == "wrong", (name, slip, v.status, v.explanation)
        assert slip in v.slips or any(slip in c.ids for c in v.diagnoses), (name, slip, v.slips)
        for after, value in later.items():
            if abs(value - truth[after]) > 1e-6 * max(1.0, abs(truth[after])):
                w = by_name[after]
                assert w.status == "follows", (after, w.status, w.explanation)
        assert result.exit_status == 1
        checked += 1
