"""Networks you build and train: Tensor modules (`Linear`, `Sequential`, `MLP`), Value
modules (`Neuron`, `Layer`, `ValueMLP` = `nn.value.MLP`), losses and model files."""

from . import value
from .losses import LOSSES, bce, half_sse, mse, softmax_cross_entropy
from .module import ModelFileError, Module, read_model_file
from .tensor import MLP, Linear, Sequential
from .value import MLP as ValueMLP
from .value import Layer, Neuron

__all__ = [
    "LOSSES",
    "MLP",
    "Layer",
    "Linear",
    "ModelFileError",
    "Module",
    "Neuron",
    "Sequential",
    "ValueMLP",
    "bce",
    "half_sse",
    "mse",
    "read_model_file",
    "softmax_cross_entropy",
    "value",
]
