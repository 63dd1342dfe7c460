"""The slides' closed-form backprop rules, written with numpy and no autodiff.

Cost E = 1/2 sum_j e_j^2, e_j = d_j - y_j; online update p(n+1) = p(n) + Delta p(n)
with Delta p = -eta dE/dp. With f the hidden and g the output activation, and
their derivatives from the activation's own value:

    sigmoid: f'(v) = f(v) (1 - f(v))      tanh: f'(v) = 1 - f(v)^2      linear: f'(v) = 1
    (and the op table's f' for relu, softplus, elu, leaky_relu)

the slides' four rules are

    (1) output weights:  dE/dw_ji = -e_j g'(v_j) y_h_i
    (2) output biases:   dE/db_j  = -e_j g'(v_j)
    (3) hidden weights:  dE/dw_ik = -sum_j e_j g'(v_j) w_ji f'(v_i) x_k
    (4) hidden biases:   dE/db_i  = -sum_j e_j g'(v_j) w_ji f'(v_i)

(the slides' single output sums over one j). f and f' come from the op table
(`tinygrad_bp.engine.ops`), so every activation there has its rules here.
`delta_rule` is the same in matrix form for any depth: delta_L = -e * g'(v_L),
delta_l = (W_{l+1}^T delta_{l+1}) * f'(v_l), dE/dW_l = delta_l y_{l-1}^T, dE/db_l = delta_l.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..engine.ops import activation
from .twolayer import TwoLayerNet

__all__ = [
    "activate",
    "central_differences",
    "delta_rule",
    "derivative",
    "forward",
    "four_rules",
    "numeric_gradients",
]


def activate(spec: str, v: np.ndarray) -> np.ndarray:
    """f(v) for any activation of the op table (``"tanh"``, ``"leaky_relu(0.2)"``)."""
    return activation(spec).f(np.asarray(v, dtype=float))


def derivative(spec: str, v: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """f'(v), from v and (when given) y = f(v): sigmoid y (1 - y), tanh 1 - y^2, linear 1, ..."""
    v = np.asarray(v, dtype=float)
    return np.asarray(activation(spec).df(v, None if y is None else np.asarray(y, dtype=float)))


def forward(net: TwoLayerNet, x: np.ndarray, d: np.ndarray) -> dict[str, float]:
    """Every forward quantity by name: v_i, y_h_i, v_j, y_j, e_j and E."""
    x = np.asarray(x, dtype=float).reshape(-1)
    d = np.asarray(d, dtype=float).reshape(-1)
    H = net.n_hidden
    num = net.numbering
    out: dict[str, float] = {}
    y_h = []
    for i in range(1, H + 1):
        v = sum(net.W1[i - 1, k - 1] * x[k - 1] for k in range(1, net.n_in + 1)) + net.b1[i - 1]
        out[num.v(i)] = float(v)
        y_h.append(float(net.hidden_act.f(float(v))))
        out[num.output(i)] = y_h[-1]
    E = 0.0
    for j in net.output_neurons():
        r = j - H - 1
        v = sum(net.W2[r, i - 1] * y_h[i - 1] for i in range(1, H + 1)) + net.b2[r]
        y = float(net.output_act.f(float(v)))
        e = float(d[r] - y)
        out[num.v(j)], out[num.output(j)], out[num.e(j)] = float(v), y, e
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
    num = net.numbering
    y, v, e = (lambda j: q[num.output(j)]), (lambda j: q[num.v(j)]), (lambda j: q[num.e(j)])
    g_prime = {j: float(net.output_act.df(v(j), y(j))) for j in outs}
    f_prime = {i: float(net.hidden_act.df(v(i), y(i))) for i in range(1, H + 1)}
    for i in range(1, H + 1):  # (3) hidden weights and (4) hidden biases
        back = sum(e(j) * g_prime[j] * net.W2[j - H - 1, i - 1] for j in outs)
        for k in range(1, net.n_in + 1):
            grads[num.weight(0, i - 1, k - 1)] = -back * f_prime[i] * x[k - 1]
        grads[num.bias(0, i - 1)] = -back * f_prime[i]
    for j in outs:  # (1) output weights and (2) output biases
        for i in range(1, H + 1):
            grads[num.weight(1, j - H - 1, i - 1)] = -e(j) * g_prime[j] * y(i)
        grads[num.bias(1, j - H - 1)] = -e(j) * g_prime[j]
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
        raise ValueError(
            "weights, biases and activations need one entry per layer, got "
            f"{len(weights)}, {len(biases)} and {len(activations)}; give one of each per layer"
        )
    ys = [np.asarray(x, dtype=float).reshape(-1)]
    vs = []
    for W, b, act in zip(weights, biases, activations):
        vs.append(W @ ys[-1] + b)
        ys.append(activate(act, vs[-1]))
    e = np.asarray(d, dtype=float).reshape(-1) - ys[-1]
    delta = -e * derivative(activations[-1], vs[-1], ys[-1])
    dWs: list[np.ndarray] = []
    dbs: list[np.ndarray] = []
    for layer in range(len(weights) - 1, -1, -1):
        dWs.append(np.outer(delta, ys[layer]))
        dbs.append(delta.copy())
        if layer:
            delta = (weights[layer].T @ delta) * derivative(
                activations[layer - 1], vs[layer - 1], ys[layer]
            )
    return dWs[::-1], dbs[::-1]


def numeric_gradients(
    net: TwoLayerNet, x: np.ndarray, d: np.ndarray, eps: float = 1e-6
) -> dict[str, float]:
    """Central finite differences of E for every parameter (independent of both rules)."""
    x = np.asarray(x, dtype=float).reshape(-1)
    d = np.asarray(d, dtype=float).reshape(-1)
    shapes = [net.W1.shape, net.b1.shape, net.W2.shape, net.b2.shape]
    theta = np.concatenate([a.ravel() for a in (net.W1, net.b1, net.W2, net.b2)])
    acts = (net.hidden_act, net.output_act)

    def loss(thetas: np.ndarray) -> np.ndarray:
        W1, b1, W2, b2 = _unflatten(thetas, shapes)
        y = acts[0].f(np.einsum("bhn,n->bh", W1, x) + b1)
        y = acts[1].f(np.einsum("boh,bh->bo", W2, y) + b2)
        return 0.5 * np.sum((d - y) ** 2, axis=1)

    grads = central_differences(loss, theta, eps)
    order = [name for name, _, _ in net._slots()]
    return dict(zip(order, map(float, grads)))


def _unflatten(thetas: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Rows of `thetas` (B, P) cut into arrays of the given shapes, each (B, *shape)."""
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(thetas[:, start : start + size].reshape(len(thetas), *shape))
        start += size
    return out


# Rows of perturbed parameter vectors evaluated at once (bounds the memory to ~32 MB).
_FD_CELLS = 4_000_000


def central_differences(
    loss: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """dL/dtheta_k = (L(theta + h e_k) - L(theta - h e_k)) / (2 h) for every k, with the
    step h = eps max(1, |theta_k|) relative to a large parameter (a step of 1e-6 on 1e10
    is lost: 1e10 + 1e-6 rounds to 1e10) and 2 h the difference of the two points as
    float64 holds them.

    `loss` maps a batch of parameter vectors (B, P) to their losses (B,); the
    perturbed vectors go through it in chunks, so the work is 2P forward passes
    done as a few numpy operations.
    """
    theta = np.asarray(theta, dtype=float).reshape(-1)
    P = theta.size
    grads = np.empty(P)
    step = eps * np.maximum(1.0, np.abs(theta))
    chunk = max(1, _FD_CELLS // max(P, 1))
    for start in range(0, P, chunk):
        idx = np.arange(start, min(P, start + chunk))
        at = np.arange(len(idx))
        up, down = theta[idx] + step[idx], theta[idx] - step[idx]
        rows = np.repeat(theta[None, :], len(idx), axis=0)
        rows[at, idx] = up
        plus = loss(rows)
        rows[at, idx] = down
        grads[idx] = (plus - loss(rows)) / (up - down)
    return grads
