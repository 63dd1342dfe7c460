"""The slides' 2-layer network: its parameters, their names, and its graph in both engines.

Numbering as in the slides (`numbering`): inputs x1..xn; hidden neurons 1..H;
output neurons H+1..H+O (the 2-3-1 net's output neuron is 4). Hidden weight
w_ik (neuron i, input k) is named ``w{i}{k}``, output weight w_ji ``w{j}{i}``,
biases ``b{i}``; a name whose indices reach 10 separates them with an
underscore (``w12_3``). The activations f and g are any of the op table's
(`tinygrad_bp.engine.ops.ACTIVATIONS`, e.g. ``"leaky_relu(0.2)"``).

    v_i  = sum_k w_ik x_k + b_i        y_h_i = f(v_i)        (hidden)
    v_j  = sum_i w_ji y_h_i + b_j      y_j   = g(v_j)        (output)
    e_j  = d_j - y_j                   E     = 1/2 sum_j e_j^2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.ops import Activation, activation
from ..engine.tensor import Tensor
from ..engine.value import Value
from .numbering import Numbering, pair_name  # noqa: F401 (pair_name: re-exported)

__all__ = ["SlidesGraph", "TwoLayerNet", "pair_name"]


@dataclass
class TwoLayerNet:
    """Weights of an n-H-O network and its two activations.

    `W1[i-1, k-1]` = w_ik (hidden), `b1[i-1]` = b_i, `W2[j-H-1, i-1]` = w_ji
    (output), `b2[j-H-1]` = b_j.
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    hidden: str = "sigmoid"
    output: str = "linear"

    def __post_init__(self) -> None:
        self.W1 = np.array(self.W1, dtype=float, ndmin=2)
        self.b1 = np.array(self.b1, dtype=float).reshape(-1)
        self.W2 = np.array(self.W2, dtype=float, ndmin=2)
        self.b2 = np.array(self.b2, dtype=float).reshape(-1)
        self.hidden = activation(self.hidden).spec
        self.output = activation(self.output).spec
        H, n = self.W1.shape
        O = self.W2.shape[0]
        if self.b1.shape != (H,) or self.W2.shape != (O, H) or self.b2.shape != (O,):
            raise ValueError(
                f"inconsistent shapes: hidden weights {self.W1.shape}, hidden biases "
                f"{self.b1.shape}, output weights {self.W2.shape}, output biases {self.b2.shape}; "
                "expected (H, n), (H,), (O, H) and (O,)"
            )

    @classmethod
    def random(
        cls,
        n_in: int = 2,
        n_hidden: int = 3,
        n_out: int = 1,
        hidden: str = "sigmoid",
        output: str = "linear",
        seed: int = 0,
    ) -> TwoLayerNet:
        """Weights uniform in [-1, 1), drawn from numpy's generator seeded with `seed`."""
        rng = np.random.default_rng(seed)
        return cls(
            rng.uniform(-1, 1, (n_hidden, n_in)),
            rng.uniform(-1, 1, n_hidden),
            rng.uniform(-1, 1, (n_out, n_hidden)),
            rng.uniform(-1, 1, n_out),
            hidden,
            output,
        )

    @property
    def hidden_act(self) -> Activation:
        return activation(self.hidden)

    @property
    def output_act(self) -> Activation:
        return activation(self.output)

    @property
    def numbering(self) -> Numbering:
        return Numbering([self.n_in, self.n_hidden, self.n_out])

    @property
    def n_in(self) -> int:
        return self.W1.shape[1]

    @property
    def n_hidden(self) -> int:
        return self.W1.shape[0]

    @property
    def n_out(self) -> int:
        return self.W2.shape[0]

    # -- names ---------------------------------------------------------------
    def _slots(self) -> list[tuple[str, np.ndarray, tuple[int, ...]]]:
        """(name, array, index) for every parameter, in the slides' order."""
        num = self.numbering
        slots = []
        for layer, (W, b) in enumerate(((self.W1, self.b1), (self.W2, self.b2))):
            for r, c in np.ndindex(W.shape):
                slots.append((num.weight(layer, r, c), W, (r, c)))
            slots += [(num.bias(layer, r), b, (r,)) for r in range(b.size)]
        return slots

    @property
    def parameter_names(self) -> list[str]:
        return [name for name, _, _ in self._slots()]

    def output_neurons(self) -> list[int]:
        return self.numbering.outputs()

    def parameters(self) -> dict[str, float]:
        return {name: float(arr[idx]) for name, arr, idx in self._slots()}

    def gradients_by_name(
        self, dW1: np.ndarray, db1: np.ndarray, dW2: np.ndarray, db2: np.ndarray
    ) -> dict[str, float]:
        """Arrays shaped like the parameters -> {name: value}."""
        by_array = {id(self.W1): dW1, id(self.b1): db1, id(self.W2): dW2, id(self.b2): db2}
        return {name: float(by_array[id(arr)][idx]) for name, arr, idx in self._slots()}

    def copy(self) -> TwoLayerNet:
        return TwoLayerNet(
            self.W1.copy(), self.b1.copy(), self.W2.copy(), self.b2.copy(), self.hidden, self.output
        )

    def perturbed(self, name: str, delta: float) -> TwoLayerNet:
        """A copy with parameter `name` moved by `delta`."""
        net = self.copy()
        for slot, arr, idx in net._slots():
            if slot == name:
                arr[idx] += delta
                return net
        raise KeyError(
            f"no parameter named {name!r}; give one of {', '.join(self.parameter_names)}"
        )

    def step(self, grads: dict[str, float], eta: float) -> None:
        """The online update p(n+1) = p(n) - eta dE/dp, in place."""
        for name, arr, idx in self._slots():
            arr[idx] -= eta * grads[name]

    # -- the graph in each engine -------------------------------------------------
    def value_graph(self, x: np.ndarray, d: np.ndarray) -> SlidesGraph:
        """Build E one number at a time, every node named as in the slides."""
        x = np.asarray(x, dtype=float).reshape(-1)
        d = np.asarray(d, dtype=float).reshape(-1)
        self._check_example(x, d)
        params = {name: Value(float(arr[idx]), name) for name, arr, idx in self._slots()}
        nodes: dict[str, Value] = dict(params)
        xs = [Value(float(xk), f"x{k}", role="input") for k, xk in enumerate(x, 1)]
        for node in xs:
            nodes[node.name] = node
        num = self.numbering
        ys = xs
        for l, (W, act) in enumerate(((self.W1, self.hidden), (self.W2, self.output))):
            outs = []
            for r in range(W.shape[0]):
                j = num.neuron(l, r)
                v = params[num.weight(l, r, 0)] * ys[0]
                for c in range(1, W.shape[1]):
                    v = v + params[num.weight(l, r, c)] * ys[c]
                v = _named(v + params[num.bias(l, r)], num.v(j))
                y = _named(activation(act).apply(v), num.output(j))
                nodes[v.name], nodes[y.name] = v, y
                outs.append(y)
            ys = outs
        E = None
        for r, (j, y) in enumerate(zip(num.outputs(), ys)):
            target = Value(float(d[r]), f"d{j}" if self.n_out > 1 else "d", role="input")
            e = _named(target - y, num.e(j))
            half_sq = 0.5 * e**2
            E = half_sq if E is None else E + half_sq
            nodes.update({e.name: e, target.name: target})
        E.name = "E"
        nodes["E"] = E
        return SlidesGraph(E, params, nodes)

    def tensor_graph(self, x: np.ndarray, d: np.ndarray) -> tuple[Tensor, list[Tensor]]:
        """The slides' matrix form: v = W x + b. Returns E and [W1, b1, W2, b2]."""
        x = np.asarray(x, dtype=float).reshape(-1)
        d = np.asarray(d, dtype=float).reshape(-1)
        self._check_example(x, d)
        W1 = Tensor(self.W1, requires_grad=True, name="W_hidden")
        b1 = Tensor(self.b1, requires_grad=True, name="b_hidden")
        W2 = Tensor(self.W2, requires_grad=True, name="W_output")
        b2 = Tensor(self.b2, requires_grad=True, name="b_output")
        v_h = W1 @ Tensor(x, name="x") + b1
        v_h.name = "v_hidden"
        y_h = activation(self.hidden).apply(v_h)
        y_h.name = "y_h"
        v_o = W2 @ y_h + b2
        v_o.name = "v_output"
        y = activation(self.output).apply(v_o)
        y.name = "y"
        e = Tensor(d, name="d") - y
        e.name = "e"
        E = 0.5 * (e**2).sum()
        E.name = "E"
        return E, [W1, b1, W2, b2]

    def value_gradients(self, x: np.ndarray, d: np.ndarray) -> dict[str, float]:
        graph = self.value_graph(x, d)
        graph.E.backward()
        return {name: p.grad for name, p in graph.params.items()}

    def tensor_gradients(self, x: np.ndarray, d: np.ndarray) -> dict[str, float]:
        E, params = self.tensor_graph(x, d)
        E.backward()
        return self.gradients_by_name(*(p.grad for p in params))

    def _check_example(self, x: np.ndarray, d: np.ndarray) -> None:
        if x.shape != (self.n_in,):
            raise ValueError(
                f"x has {x.size} entries; this network has {self.n_in} inputs: "
                f"give {self.n_in} numbers"
            )
        if d.shape != (self.n_out,):
            raise ValueError(
                f"d has {d.size} entries; this network has {self.n_out} outputs: "
                f"give {self.n_out} targets"
            )


@dataclass
class SlidesGraph:
    """E built from Values: `params` and `nodes` map the slides' names to graph nodes."""

    E: Value
    params: dict[str, Value]
    nodes: dict[str, Value]


def _named(v: Value, name: str) -> Value:
    v.name = name
    return v
