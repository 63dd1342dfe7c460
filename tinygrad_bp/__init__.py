"""tinygrad_bp: a small, fast, honest autograd framework for learning backpropagation."""

from .autograd import AnomalyError, detect_anomaly, is_grad_enabled, no_grad, topological_order
from .gradcheck import GradcheckError, GradcheckReport, gradcheck
from .tensor import ShapeError, Tensor
from .value import Value

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "GradcheckError",
    "GradcheckReport",
    "ShapeError",
    "Tensor",
    "Value",
    "__version__",
    "detect_anomaly",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
]
