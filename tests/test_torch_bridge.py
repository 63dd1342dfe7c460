"""The PyTorch bridge: outputs and every gradient equal to 1e-12 in float64, both ways."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tinygrad_bp import nn

torch = pytest.importorskip("torch")

ACTS = ["sigmoid", "tanh", "relu", "softplus", "linear", "elu(0.6)", "leaky_relu(0.2)"]


def engine_has(spec):
    name = spec.split("(")[0]
    return all(
        hasattr(p, name)
        for p in (nn.ValueMLP([1, 1]).parameters()[0], nn.MLP([1, 1]).net.modules[0].W)
    )


def ours(model, X, d):
    """Outputs, and the gradients of mse(outputs, d) as [dW1, db1, dW2, ...]."""
    model.zero_grad()
    if isinstance(model, nn.ValueMLP):
        out = model.forward_batch(X)
        nn.mse(out, d).backward()
        grads = []
        for layer in model.layer_list:
            grads.append(np.array([[w.grad for w in n.w] for n in layer.neurons]))
            grads.append(np.array([n.b.grad for n in layer.neurons]))
        return np.array([[v.data for v in row] for row in out]), grads
    out = model(X)
    nn.mse(out, d).backward()
    return out.data, [g for m in model.net.modules for g in (m.W.grad, m.b.grad)]


def theirs(seq, X, d):
    for p in seq.parameters():
        p.grad = None
    out = seq(torch.from_numpy(X))
    torch.nn.functional.mse_loss(out, torch.from_numpy(d)).backward()
    return out.detach().numpy(), [p.grad.numpy() for p in seq.parameters()]


def assert_same(a, b, rtol=1e-12):
    (out_a, grads_a), (out_b, grads_b) = a, b
    np.testing.assert_allclose(out_a, out_b, rtol=rtol, atol=1e-15)
    assert len(grads_a) == len(grads_b)
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_allclose(ga, gb, rtol=rtol, atol=1e-15)


DATA = np.random.default_rng(0).uniform(-3, 3, (6, 3))
TARGET = np.random.default_rng(1).uniform(-1, 1, (6, 2))


@pytest.mark.parametrize("cls", [nn.MLP, nn.ValueMLP])
@pytest.mark.parametrize("act", ACTS)
def test_to_torch_gives_the_same_outputs_and_gradients(cls, act):
    if not engine_has(act):
        pytest.skip(f"the engines have no {act} method yet")
    model = cls([3, 4, 3, 2], [act, "tanh"], act, seed=1)
    seq = model.to_torch()
    assert isinstance(seq, torch.nn.Sequential) and len(seq) == 6
    assert all(p.dtype == torch.float64 for p in seq.parameters())
    assert_same(ours(model, DATA, TARGET), theirs(seq, DATA, TARGET))


def torch_net(*modules):
    torch.manual_seed(0)
    return torch.nn.Sequential(*modules).double()


@pytest.mark.parametrize("cls", [nn.MLP, nn.ValueMLP])
def test_from_torch_gives_the_same_outputs_and_gradients(cls):
    L = torch.nn.Linear
    candidates = [
        torch_net(L(3, 5), torch.nn.Tanh(), L(5, 4), torch.nn.Sigmoid(), L(4, 2)),
        torch_net(L(3, 4), torch.nn.ReLU(), L(4, 2), torch.nn.Identity()),
        torch_net(L(3, 4), torch.nn.Softplus(), L(4, 2)),
        torch_net(L(3, 4), torch.nn.LeakyReLU(0.3), L(4, 4), torch.nn.ELU(0.5), L(4, 2)),
    ]
    rectifiers = (torch.nn.ELU, torch.nn.LeakyReLU)
    for seq in candidates:
        if any(isinstance(m, rectifiers) for m in seq) and not engine_has("elu"):
            continue  # the engines have no elu/leaky_relu methods yet
        model = cls.from_torch(seq)
        assert type(model) is cls and model.dtype == "float64"
        assert_same(ours(model, DATA, TARGET), theirs(seq, DATA, TARGET))
        again = model.to_torch()
        assert_same(theirs(again, DATA, TARGET), theirs(seq, DATA, TARGET), rtol=1e-12)


def test_activations_and_their_parameters_cross_over():
    L = torch.nn.Linear
    seq = torch_net(L(3, 4), torch.nn.LeakyReLU(0.3), L(4, 4), torch.nn.ELU(0.5), L(4, 2))
    model = nn.MLP.from_torch(seq)
    assert model.activations == ["leaky_relu(0.3)", "elu(0.5)", "linear"]
    assert model.sizes == [3, 4, 4, 2]
    back = model.to_torch()
    assert back[1].negative_slope == 0.3 and back[3].alpha == 0.5
    assert isinstance(back[5], torch.nn.Identity)


def test_float32_stays_float32():
    model = nn.MLP([3, 4, 2], "tanh", dtype="float32", seed=0)
    seq = model.to_torch()
    assert all(p.dtype == torch.float32 for p in seq.parameters())
    X = DATA.astype(np.float32)
    np.testing.assert_allclose(seq(torch.from_numpy(X)).detach().numpy(), model(X).data, rtol=1e-6)
    back = nn.MLP.from_torch(seq)
    assert back.dtype == "float32"
    np.testing.assert_array_equal(back.layers()[0][0], model.layers()[0][0])
    assert nn.ValueMLP.from_torch(seq).dtype == "float64"


@pytest.mark.parametrize(
    "modules,expect",
    [
        (lambda: [torch.nn.Linear(3, 4), torch.nn.Dropout()], r"layer 1 \(Dropout\) is not supp"),
        (lambda: [torch.nn.Linear(3, 4), torch.nn.GELU()], r"layer 1 \(GELU\)"),
        (lambda: [torch.nn.Tanh(), torch.nn.Linear(3, 4)], r"layer 0 \(Tanh\) must follow"),
        (
            lambda: [torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.ReLU()],
            r"layer 2 \(ReLU\) must follow",
        ),
        (lambda: [torch.nn.Linear(3, 4, bias=False)], r"layer 0 \(Linear\) has no bias"),
        (
            lambda: [torch.nn.Linear(3, 4), torch.nn.Linear(5, 2)],
            r"layer 1 \(Linear\) takes 5 inputs, but the layer before gives 4",
        ),
        (lambda: [torch.nn.Linear(3, 4), torch.nn.Softplus(beta=2)], "beta=2"),
        (lambda: [], "no Linear layer"),
    ],
)
def test_unsupported_torch_models_are_refused_naming_the_layer(modules, expect):
    with pytest.raises(ValueError, match=expect):
        nn.MLP.from_torch(torch.nn.Sequential(*modules()))


def test_only_a_sequential_is_accepted():
    with pytest.raises(TypeError, match="Sequential, got Linear"):
        nn.MLP.from_torch(torch.nn.Linear(2, 2))


def test_linear_layers_without_activation_between_are_linear():
    seq = torch_net(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    model = nn.MLP.from_torch(seq)
    assert model.activations == ["linear", "linear"]
    assert_same(ours(model, DATA, TARGET), theirs(seq, DATA, TARGET))


def test_importing_the_package_does_not_import_torch():
    code = "import tinygrad_bp, tinygrad_bp.nn, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
