"""Networks you build and train: Tensor modules (`Linear`, `Sequential`, `MLP`), Value
modules (`Neuron`, `Layer`, `ValueMLP`), losses and model files."""

from .layers import MLP, Linear, Sequential
from .losses import LOSSES, bce, half_sse, mse, softmax_cross_entropy
from .module import ModelFileError, Module, read_model_file
from .neurons import Layer, Neuron, ValueMLP

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
