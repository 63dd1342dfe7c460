"""The PyTorch bridge: a model here <-> a `torch.nn.Sequential` of Linear and activations.

torch is imported inside the functions (the optional extra ``tinygrad-bp[torch]``).
A layer ``y = f(x W^T + b)`` maps to ``Linear(in, out)`` (same W of shape (out, in),
same b) followed by f's module: Identity (linear), Sigmoid, Tanh, ReLU,
Softplus, ELU(alpha), LeakyReLU(negative_slope). `to_torch` gives Softplus a
threshold of 40, where its switch to the identity is exact in float64 (torch's
default of 20 differs from ln(1 + e^v) by up to 2e-9 above 20).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.ops import UNARY, Activation
from .modelfile import ModelSpec

__all__ = ["from_torch", "to_torch"]

SOFTPLUS_THRESHOLD = 40.0


def _torch_module(nn: Any, act: Activation):
    """The torch module of an activation, named by its entry of the op table."""
    if act.op.torch is None:
        with_torch = ", ".join(op.name for op in UNARY.values() if op.torch is not None)
        raise ValueError(
            f"activation {act.spec} has no PyTorch module; use one of {with_torch} to convert"
        )
    cls_name, keywords = act.op.torch
    kwargs = {keywords[name]: value for name, value in act.params}
    cls = getattr(nn, cls_name)
    if cls is nn.Softplus:
        kwargs.update(beta=1.0, threshold=SOFTPLUS_THRESHOLD)
    return cls(**kwargs)


def _activation(nn: Any, index: int, module: Any) -> Activation:
    """The activation of a torch module, or a clear error naming the layer."""
    kind = type(module)
    if kind is nn.Softplus and module.beta != 1:
        raise ValueError(
            f"layer {index} (Softplus) has beta={module.beta}; only beta=1 is supported: "
            "use nn.Softplus() with the default beta"
        )
    for op in UNARY.values():
        if op.torch is not None and getattr(nn, op.torch[0], None) is kind:
            params = tuple((name, float(getattr(module, key))) for name, key in op.torch[1].items())
            return Activation(op, params)
    supported = ", ".join(op.torch[0] for op in UNARY.values() if op.torch is not None)
    raise ValueError(
        f"layer {index} ({kind.__name__}) is not supported: a tinygrad_bp MLP is made of "
        f"Linear layers, each followed by at most one of {supported}; replace or remove it"
    )


def to_torch(model) -> Any:
    """An equivalent `torch.nn.Sequential` (Linear, activation, Linear, activation, ...)
    holding copies of the weights, in the model's dtype."""
    import torch

    dtype = getattr(torch, model.dtype)
    modules = []
    for (W, b, _), act in zip(model.layers(), model.acts):
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(W, dtype=model.dtype)))
            linear.bias.copy_(torch.from_numpy(np.array(b, dtype=model.dtype)))
        modules += [linear, _torch_module(torch.nn, act)]
    return torch.nn.Sequential(*modules)


def from_torch(seq: Any, engine: str) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """(spec, weights) of a `torch.nn.Sequential` of Linear layers, each followed by at
    most one supported activation (none: linear); anything else is an error naming it."""
    import torch

    nn = torch.nn
    if not isinstance(seq, nn.Sequential):
        raise TypeError(
            f"from_torch takes a torch.nn.Sequential, got {type(seq).__name__}; "
            "wrap the layers in nn.Sequential(...)"
        )
    layers: list[list] = []  # [W, b, activation or None]
    for index, module in enumerate(seq):
        if isinstance(module, nn.Linear):
            if module.bias is None:
                raise ValueError(
                    f"layer {index} (Linear) has no bias; tinygrad_bp layers always have one: "
                    "build it with bias=True"
                )
            W = module.weight.detach().cpu().numpy().copy()
            b = module.bias.detach().cpu().numpy().copy()
            if layers and layers[-1][0].shape[0] != W.shape[1]:
                raise ValueError(
                    f"layer {index} (Linear) takes {W.shape[1]} inputs, but the layer before "
                    f"gives {layers[-1][0].shape[0]}; make the sizes agree"
                )
            layers.append([W, b, None])
            continue
        act = _activation(nn, index, module)
        if not layers or layers[-1][2] is not None:
            raise ValueError(
                f"layer {index} ({type(module).__name__}) must follow a Linear layer "
                "(one activation per Linear); put a Linear layer before it"
            )
        layers[-1][2] = act
    if not layers:
        raise ValueError(
            f"the Sequential holds no Linear layer ({len(seq)} modules); add at least one nn.Linear"
        )
    dtypes = {str(W.dtype) for W, b, _ in layers} | {str(b.dtype) for W, b, _ in layers}
    if len(dtypes) != 1 or not dtypes <= {"float32", "float64"}:
        raise ValueError(
            f"the weights must be all float32 or all float64, got {sorted(dtypes)}; "
            "convert the model with .double() or .float()"
        )
    dtype = "float64" if engine == "value" else dtypes.pop()
    sizes = (layers[0][0].shape[1], *(W.shape[0] for W, _, _ in layers))
    acts = tuple(act or Activation(UNARY["linear"]) for _, _, act in layers)
    arrays = {}
    for i, (W, b, _) in enumerate(layers, 1):
        arrays[f"layer{i}.weight"] = W.astype(dtype)
        arrays[f"layer{i}.bias"] = b.astype(dtype)
    for key, arr in arrays.items():
        if not np.isfinite(arr).all():
            raise ValueError(
                f"{key} of the torch model holds NaN or infinity; give a model with finite weights"
            )
    return ModelSpec(engine, sizes, acts, dtype), arrays
