"""The slides' closed-form backprop rules, written with numpy and no autodiff.

Cost E = 1/2 sum_j e_j^2, e_j = d_j - y_j; online update p(n+1) = p(n) + Delta p(n)
with Delta p = -eta dE/dp. With f the hidden and g the output activation, and
their derivatives from the activation's own value:

    sigmoid: f'(v) = f(v) (1 - f(v))      tanh: f'(v) = 1 - f(v)^2      linear: f'(v) = 1

the slides' four rules are

    (1) output weights:  dE/dw_ji = -e_j g'(v_j) y_h_i
    (2) output biases:   dE/db_j  = -e_j g'(v_j)
    (3) hidden weights:  dE/dw_ik = -sum_j e_j g'(v_j) w_ji f'(v_i) x_k
    (4) hidden biases:   dE/db_i  = -sum_j e_j g'(v_j) w_ji f'(v_i)

(the slides' single output sums over one j). `delta_rule` is the same in matrix
form for any depth: delta_L = -e * g'(v_L), delta_l = (W_{l+1}^T delta_{l+1}) * f'(v_l),
dE/dW_l = delta_l y_{l-1}^T, dE/db_l = delta_l.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .twolayer import TwoLayerNet, pair_name

__all__ = [
    "activate",
    "delta_rule",
    "derivative_from_output",
    "forward",
    "four_rules",
    "numeric_gradients",
]


def activate(name: str, v: np.ndarray) -> np.ndarray:
    """f(v) for sigmoid, tanh or linear."""
    if name == "sigmoid":
        with np.errstate(over="ignore"):  # e^-v = inf gives exactly 0
            return 1.0 / (1.0 + np.exp(-v))
    if name == "tanh":
        return np.tanh(v)
    if name == "linear":
        return np.array(v, dtype=float)
    raise ValueError(f"unknown activation {name!r}")


def derivative_from_output(name: str, y: np.ndarray) -> np.ndarray:
    """f'(v) written with y = f(v): sigmoid y (1 - y), tanh 1 - y^2, linear 1."""
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "tanh":
        return 1.0 - y * y
    if name == "linear":
        return np.ones_like(y)
    raise ValueError(f"unknown activation {name!r}")


def forward(net: TwoLayerNet, x: np.ndarray, d: np.ndarray) -> dict[str, float]:
    """Every forward quantity by name: v_i, y_h_i, v_j, y_j, e_j and E."""
    x = np.asarray(x, dtype=float).reshape(-1)
    d = np.asarray(d, dtype=float).reshape(-1)
    H = net.n_hidden
    out: dict[str, float] = {}
    y_h = []
    for i in range(1, H + 1):
        v = sum(net.W1[i - 1, k - 1] * x[k - 1] for k in range(1, net.n_in + 1)) + net.b1[i - 1]
        out[f"v{i}"] = float(v)
        y_h.append(float(activate(net.hidden, np.float64(v))))
        out[f"y_h{i}"] = y_h[-1]
    E = 0.0
    for j in net.output_neurons():
        r = j - H - 1
        v = sum(net.W2[r, i - 1] * y_h[i - 1] for i in range(1, H + 1)) + net.b2[r]
        y = float(activate(net.output, np.float64(v)))
        e = float(d[r] - y)
        out[f"v{j}"], out[f"y{j}"], out[f"e{j}"] = float(v), y, e
        E += 0.5 * e * e
    out["E"] = E
    return out


def four_rules(net: TwoLayerNet, x: np.ndarray, d: np.ndarray) -> dict[str, float]:
    """dE/dp for every parameter by the slides' rules (1)-(4), one scalar formula each."""
    x = np.asarray(x, dtype=float).reshape(-1)
    q = forward(net, x, d)
    H = net.n_hidden
    grads: dict[str, float] = {}
    outs = net.output_neurons()
    # g'(v_j) from y_j, f'(v_i) from y_h_i
    g_prime = {j: float(derivative_from_output(net.output, np.float64(q[f"y{j}"]))) for j in outs}
    f_prime = {
        i: float(derivative_from_output(net.hidden, np.float64(q[f"y_h{i}"])))
        for i in range(1, H + 1)
    }
    for i in range(1, H + 1):  # (3) hidden weights and (4) hidden biases
        back = sum(q[f"e{j}"] * g_prime[j] * net.W2[j - H - 1, i - 1] for j in outs)
        for k in range(1, net.n_in + 1):
            grads[pair_name("w", i, k)] = -back * f_prime[i] * x[k - 1]
        grads[f"b{i}"] = -back * f_prime[i]
    for j in outs:  # (1) output weights and (2) output biases
        for i in range(1, H + 1):
            grads[pair_name("w", j, i)] = -q[f"e{j}"] * g_prime[j] * q[f"y_h{i}"]
        grads[f"b{j}"] = -q[f"e{j}"] * g_prime[j]
    return {name: float(grads[name]) for name in net.parameter_names}


def delta_rule(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activations: Sequence[str],
    x: np.ndarray,
    d: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The general delta rule in matrix form for an MLP of any depth.

    `weights[l]` has shape (n_out, n_in), `activations[l]` is that layer's f.
    Returns (dE/dW for each layer, dE/db for each layer) for E = 1/2 |d - y|^2.
    """
    if not (len(weights) == len(biases) == len(activations)):
        raise ValueError("weights, biases and activations need one entry per layer")
    ys = [np.asarray(x, dtype=float).reshape(-1)]
    for W, b, act in zip(weights, biases, activations):
        ys.append(activate(act, W @ ys[-1] + b))
    e = np.asarray(d, dtype=float).reshape(-1) - ys[-1]
    delta = -e * derivative_from_output(activations[-1], ys[-1])
    dWs: list[np.ndarray] = []
    dbs: list[np.ndarray] = []
    for layer in range(len(weights) - 1, -1, -1):
        dWs.append(np.outer(delta, ys[layer]))
        dbs.append(delta.copy())
        if layer:
            delta = (weights[layer].T @ delta) * derivative_from_output(
                activations[layer - 1], ys[layer]
            )
    return dWs[::-1], dbs[::-1]


def numeric_gradients(
    net: TwoLayerNet, x: np.ndarray, d: np.ndarray, eps: float = 1e-6
) -> dict[str, float]:
    """Central finite differences of E for every parameter (independent of both rules)."""
    return {
        name: (
            forward(net.perturbed(name, eps), x, d)["E"]
            - forward(net.perturbed(name, -eps), x, d)["E"]
        )
        / (2 * eps)
        for name in net.parameter_names
    }
