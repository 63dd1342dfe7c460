"""Networks you build and train: Tensor modules (`Linear`, `Sequential`, `MLP`), Value
modules (`Neuron`, `Layer`, `ValueMLP`), losses, model files and the PyTorch bridge."""

from .layers import MLP, Linear, Sequential
from .losses import LOSSES, bce, half_sse, mse, softmax_cross_entropy
from .modelfile import ModelFileError, ModelSpec
from .module import Module, load_model
from .neurons import Layer, Neuron, ValueMLP

__all__ = [
    "LOSSES",
    "MLP",
    "Layer",
    "Linear",
    "ModelFileError",
    "ModelSpec",
    "Module",
    "Neuron",
    "Sequential",
    "ValueMLP",
    "bce",
    "half_sse",
    "load_model",
    "mse",
    "softmax_cross_entropy",
]
