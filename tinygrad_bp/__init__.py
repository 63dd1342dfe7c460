"""tinygrad_bp: a small, fast, honest autograd framework for learning backpropagation.

The engines load with the package; drawing (graphviz), plotting (matplotlib)
and the case-file reader (TOML) load on first use, so `import tinygrad_bp`
stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .engine.autograd import (
    AnomalyError,
    detect_anomaly,
    is_grad_enabled,
    no_grad,
    topological_order,
)
from .engine.gradcheck import GradcheckError, GradcheckReport, gradcheck
from .engine.tensor import ShapeError, Tensor
from .engine.tensor_trace import TensorTrace
from .engine.trace import Trace, TraceError, trace
from .engine.value import Value

__version__ = "0.1.0"

# name -> module that defines it, imported when the name is first used
_LAZY = {
    "draw": ".views.draw",
    "draw_network": ".views.draw",
    "explain": ".views.explain",
    "graph_to_dict": ".views.graph",
    "Verdict": ".derivatives.verify",
    "VerifyError": ".derivatives.verify",
    "verify_file": ".derivatives.verify",
    "verify_rule": ".derivatives.verify",
    "verify_step": ".derivatives.verify",
    "verify_text": ".derivatives.verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tinygrad_bp' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AnomalyError",
    "GradcheckError",
    "GradcheckReport",
    "ShapeError",
    "Tensor",
    "TensorTrace",
    "Trace",
    "TraceError",
    "Value",
    "Verdict",
    "VerifyError",
    "__version__",
    "detect_anomaly",
    "draw",
    "draw_network",
    "explain",
    "gradcheck",
    "graph_to_dict",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
    "trace",
    "verify_file",
    "verify_rule",
    "verify_step",
    "verify_text",
]
