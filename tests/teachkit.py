"""Shared helpers of the teacher's-kit tests: random problems and a PyTorch reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tinygrad_bp.engine.ops import activation
from tinygrad_bp.teach.problem import Layer, Problem

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd=None, hashseed: str = "0") -> subprocess.CompletedProcess:
    """`tinygrad-bp ARGS` of this checkout in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED=hashseed)
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_bp", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def error_line(r: subprocess.CompletedProcess) -> str:
    """The one error line of a failed command (argparse adds its usage lines before it)."""
    lines = [line for line in r.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


ACTS = ["sigmoid", "tanh", "linear", "relu", "softplus", "elu", "leaky_relu(0.2)"]


def random_problem(seed: int, loss: str | None = None, mode: str | None = None) -> Problem:
    """A random network of depth 2-4 with random activations, loss, shared and frozen biases."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(2, 5))
    sizes = [int(s) for s in rng.integers(1, 4, depth + 1)]
    loss = loss or str(rng.choice(["half_sse", "sse", "mse", "bce", "softmax_ce"]))
    layers = []
    for k in range(depth):
        name = str(rng.choice(ACTS))
        if k == depth - 1 and loss == "bce":
            name = "sigmoid"
        if k == depth - 1 and loss == "softmax_ce":
            name = "linear"  # y = softmax(v) at the output
        shared = bool(rng.random() < 0.3)
        n = sizes[k + 1]
        b = np.full(n, rng.uniform(-1, 1)) if shared else rng.uniform(-1, 1, n)
        frozen = frozenset(f for f in ("W", "b") if rng.random() < 0.15)
        W = rng.uniform(-1, 1, (n, sizes[k]))
        layers.append(Layer(W, b, activation(name), shared, frozen))
    m = int(rng.integers(1, 3))
    lo = 0.05 if loss == "bce" else -1
    data = tuple((rng.uniform(-1, 1, sizes[0]), rng.uniform(lo, 0.95, sizes[-1])) for _ in range(m))
    return Problem(
        tuple(layers),
        data,
        float(rng.uniform(0.05, 1)),
        loss,
        mode or str(rng.choice(["online", "batch"])),
        int(rng.integers(1, 4)),
    )


def torch_act(torch, act, v):
    F = torch.nn.functional
    p = dict(act.params)
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "linear": lambda t: t,
        "relu": torch.relu,
        "softplus": F.softplus,
        "elu": lambda t: F.elu(t, alpha=p.get("alpha", 1.0)),
        "leaky_relu": lambda t: F.leaky_relu(t, negative_slope=p.get("slope", 0.01)),
    }[act.name](v)


def torch_loss(torch, loss, y, d, v=None, sigmoid=False):
    """E of outputs y = f(v); softmax_ce by log_softmax(v) and bce of sigmoid outputs by
    binary_cross_entropy_with_logits(v): PyTorch's own forms that stay finite where y
    rounds to 0 or 1."""
    F = torch.nn.functional
    if loss == "softmax_ce" and v is not None:
        return -(d * F.log_softmax(v, 0)).sum()
    if loss == "bce" and sigmoid and v is not None:
        return F.binary_cross_entropy_with_logits(v, d, reduction="sum")
    if loss == "half_sse":
        return 0.5 * ((d - y) ** 2).sum()
    if loss == "sse":
        return ((d - y) ** 2).sum()
    if loss == "mse":
        return ((d - y) ** 2).mean()
    if loss == "softmax_ce":
        return -(d * torch.log(y)).sum()
    return -(d * torch.log(y) + (1 - d) * torch.log(1 - y)).sum()


def torch_reference(torch, problem: Problem) -> dict[str, float]:
    """v, y, E, dE/dp and p_new of every pass, by PyTorch autograd and plain SGD."""
    f64 = torch.float64
    params = []
    for layer in problem.layers:
        W = torch.tensor(layer.W, dtype=f64, requires_grad=True)
        b = torch.tensor(
            layer.b[0] if layer.shared_bias else layer.b, dtype=f64, requires_grad=True
        )
        params.append((W, b))
    out: dict[str, float] = {}
    m = len(problem.data)
    for n in range(problem.steps + 1):
        at = f"@{n}" if n else ""
        examples = range(m) if problem.mode == "batch" else [n % m]
        total = 0
        kept = []  # (v, its neuron numbers, tag): delta_j = -dE/dv_j after backward
        for k in examples:
            tag = f"[{k + 1}]" if problem.mode == "batch" and m > 1 else ""
            x, d = problem.data[k]
            a = torch.tensor(x, dtype=f64)
            for l, (layer, (W, b)) in enumerate(zip(problem.layers, params)):
                v = W @ a + b
                v.retain_grad()
                kept.append((v, list(problem.neurons(l)), tag))
                a = torch_act(torch, layer.activation, v)
                if problem.is_output(l) and problem.loss == "softmax_ce":
                    a = torch.softmax(v, 0)
                for r, j in enumerate(problem.neurons(l)):
                    out[f"v{j}{tag}{at}"] = float(v[r].detach())
                    y = f"y{j}" if problem.is_output(l) else f"y_h{j}"
                    out[f"{y}{tag}{at}"] = float(a[r].detach())
            sigmoid = problem.layers[-1].activation.name == "sigmoid"
            E = torch_loss(torch, problem.loss, a, torch.tensor(d, dtype=f64), v, sigmoid)
            out[f"E{tag}{at}"] = float(E.detach())
            total = total + E
        out[f"E{at}"] = float(total.detach())
        if n == problem.steps:
            break
        for W, b in params:
            W.grad = b.grad = None
        total.backward()
        for v, js, tag in kept:
            for r, j in enumerate(js):
                out[f"delta{j}{tag}{at}"] = -float(v.grad[r])
        with torch.no_grad():
            for l, (layer, (W, b)) in enumerate(zip(problem.layers, params)):
                for r, j in enumerate(problem.neurons(l)):
                    for c, i in enumerate(problem.sources(l)):
                        name = f"w{j}{i}" if j < 10 and i < 10 else f"w{j}_{i}"
                        out[f"dE/d{name}{at}"] = float(W.grad[r, c])
                        if "W" not in layer.frozen:
                            out[f"{name}_new{at}"] = float(W[r, c] - problem.eta * W.grad[r, c])
                    if not layer.shared_bias:
                        out[f"dE/db{j}{at}"] = float(b.grad[r])
                        if "b" not in layer.frozen:
                            out[f"b{j}_new{at}"] = float(b[r] - problem.eta * b.grad[r])
                if layer.shared_bias:
                    out[f"dE/db_L{l + 1}{at}"] = float(b.grad)
                    if "b" not in layer.frozen:
                        out[f"b_L{l + 1}_new{at}"] = float(b - problem.eta * b.grad)
                if "W" not in layer.frozen:
                    W -= problem.eta * W.grad
                if "b" not in layer.frozen:
                    b -= problem.eta * b.grad
    return out
