"""tinygrad_bp: a small, fast, honest autograd framework for learning backpropagation."""

from .autograd import AnomalyError, detect_anomaly, is_grad_enabled, no_grad, topological_order
from .chainrule import explain
from .draw import draw, draw_network
from .gradcheck import GradcheckError, GradcheckReport, gradcheck
from .tensor import ShapeError, Tensor
from .value import Value
from .verify import Verdict, VerifyError, verify_file, verify_rule, verify_step, verify_text

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "GradcheckError",
    "GradcheckReport",
    "ShapeError",
    "Tensor",
    "Value",
    "Verdict",
    "VerifyError",
    "__version__",
    "detect_anomaly",
    "draw",
    "draw_network",
    "explain",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
    "verify_file",
    "verify_rule",
    "verify_step",
    "verify_text",
]
