"""What every model shares: architecture, parameters, zero_grad, state_dict, files, PyTorch."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.ops import Activation
from .init import check_dtype, check_sizes, init_layers, layer_activations
from .modelfile import DEFAULT_MAX_BYTES, ModelFileError, ModelSpec, read_model, write_model

__all__ = ["ModelFileError", "Module", "load_model"]

#: The model class of each engine, by the name model files record.
ENGINES: dict[str, type[Module]] = {}


class _constructor:
    """A class method that refuses to be called on an instance (where it would look like it
    loads into that instance but return a new model instead)."""

    def __init__(self, f) -> None:
        self.f = f
        functools.update_wrapper(self, f)

    def __get__(self, obj, cls):
        if obj is not None:
            name = self.f.__name__

            def refuse(*args, **kwargs):
                raise TypeError(
                    f"{cls.__name__}.{name}(...) builds a new model; call it on the class "
                    f"({cls.__name__}.{name}), or use model.load_state_from(path) to load "
                    "weights into this model"
                )

            return refuse
        return functools.partial(self.f, cls)


class Module:
    """Base of the models. Subclasses set `engine` and provide `_build()`, `layers()`,
    `_assign()`, `named_parameters()` and `layer_weights()`."""

    engine: str = ""
    sizes: list[int]
    acts: list[Activation]
    dtype: str

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.engine:
            ENGINES[cls.engine] = cls

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Activation | Sequence[str | Activation] = "tanh",
        output: str | Activation = "linear",
        seed: int = 0,
        dtype: str = "float64",
    ) -> None:
        """`sizes` inputs first; `activation` for the hidden layers (a name such as
        ``"tanh"`` or ``"leaky_relu(0.2)"``, or one per hidden layer), `output` for the
        last; weights drawn by `init_layers` from `seed`."""
        self.sizes = check_sizes(sizes)
        self.acts = layer_activations(len(self.sizes) - 1, activation, output)
        self.dtype = self._check_dtype(dtype)
        self._build(init_layers(self.sizes, self.acts, seed))

    @classmethod
    def _check_dtype(cls, dtype: Any) -> str:
        return check_dtype(dtype)

    @property
    def activations(self) -> list[str]:
        """The layers' activations as text: ``["tanh", "leaky_relu(0.2)", "linear"]``."""
        return [a.spec for a in self.acts]

    def _build(self, initial: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Make the layers from the initial (W, b) of every layer."""
        raise NotImplementedError

    def layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """(W of shape (out, in), b of shape (out,), activation) per layer, as arrays."""
        raise NotImplementedError

    def _assign(self, layer: int, W: np.ndarray, b: np.ndarray) -> None:
        raise NotImplementedError

    def layer_weights(self) -> list[list]:
        """The weight parameters (not the biases) of each layer."""
        raise NotImplementedError

    def parameters(self) -> list:
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def weight_grad_norms(self) -> list[float]:
        """||dE/dW|| (Frobenius) of each layer's weights; 0 where no gradient arrived."""
        norms = []
        for params in self.layer_weights():
            total = 0.0
            for p in params:
                g = p.grad
                if g is not None:
                    total += float(np.vdot(g, g)) if isinstance(g, np.ndarray) else g * g
            norms.append(total**0.5)
        return norms

    def describe(self) -> str:
        return "-".join(map(str, self.sizes)) + " " + "/".join(self.activations)

    @property
    def spec(self) -> ModelSpec:
        """The architecture as a model file records it."""
        return ModelSpec(self.engine, tuple(self.sizes), tuple(self.acts), self.dtype)

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{"layer1.weight": W (out, in), "layer1.bias": b (out,), ...}, alike for both engines."""
        state = {}
        for i, (W, b, _) in enumerate(self.layers(), 1):
            state[f"layer{i}.weight"] = np.array(W, dtype=self.dtype)
            state[f"layer{i}.bias"] = np.array(b, dtype=self.dtype).reshape(-1)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray], source: str = "state_dict") -> None:
        """Load weights; every key and shape is checked before anything changes."""
        expected = self.state_dict()
        missing = [k for k in expected if k not in state]
        extra = [k for k in state if k not in expected]
        if missing or extra:
            raise ModelFileError(
                f"{source}: does not fit this model ({self.describe()}): "
                + (f"missing {', '.join(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected {', '.join(extra)}" if extra else "")
                + "; pass the state_dict() of a model with this architecture"
            )
        arrays = {}
        for key, want in expected.items():
            got = np.asarray(state[key])
            if got.shape != want.shape:
                raise ModelFileError(
                    f"{source}: {key} has shape {got.shape}, this model ({self.describe()}) "
                    f"needs {want.shape}; pass weights of that shape"
                )
            if got.dtype.kind not in "fiu" or not np.isfinite(got).all():
                raise ModelFileError(
                    f"{source}: {key} ({got.dtype} {got.shape}) must hold finite numbers; "
                    "pass finite float weights"
                )
            arrays[key] = got.astype(self.dtype)
        for i in range(1, len(self.sizes)):
            self._assign(i - 1, arrays[f"layer{i}.weight"], arrays[f"layer{i}.bias"])

    # -- files ---------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the weights and the architecture to a model file (.npz, format in
        docs/model-files.md), atomically: a failure part-way leaves the old file intact."""
        return write_model(path, self.spec, self.state_dict())

    @_constructor
    def load(cls, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Module:
        """Rebuild the saved network (sizes, activations, dtype) from its file alone:
        `MLP.load(path)` or `ValueMLP.load(path)` (either engine reads either's files)."""
        spec, arrays = read_model(path, max_bytes)
        return cls._from_arrays(spec, arrays)

    def load_state_from(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """Load a saved model's weights into this model, which must have its architecture;
        on any problem the model is left as it was."""
        spec, arrays = read_model(path, max_bytes)
        if spec.sizes != tuple(self.sizes) or spec.activations != tuple(self.acts):
            raise ModelFileError(
                f"{path}: holds a {spec.describe()} network, this model is "
                f"{self.describe()} {self.dtype}; rebuild the saved one with "
                f"{type(self).__name__}.load(path)"
            )
        self.load_state_dict(arrays, source=str(path))

    @classmethod
    def _from_arrays(cls, spec: ModelSpec, arrays: dict[str, np.ndarray]) -> Module:
        model = cls.__new__(cls)
        model.sizes = list(spec.sizes)
        model.acts = list(spec.activations)
        model.dtype = cls._check_dtype(spec.dtype)
        model._build(
            [
                (
                    np.asarray(arrays[f"layer{i}.weight"], dtype=model.dtype),
                    np.asarray(arrays[f"layer{i}.bias"], dtype=model.dtype),
                )
                for i in range(1, len(spec.sizes))
            ]
        )
        return model

    def copy(self, engine: str | None = None) -> Module:
        """A new model with this one's architecture and weights, on `engine` ("tensor" or
        "value"; default: this model's)."""
        if engine is not None and engine not in ENGINES:
            raise ValueError(
                f"engine must be one of {', '.join(ENGINES)}, got {engine!r}; pass e.g. "
                "engine='tensor'"
            )
        return ENGINES[engine or self.engine]._from_arrays(self.spec, self.state_dict())

    # -- PyTorch -------------------------------------------------------------------
    def to_torch(self):
        """An equivalent `torch.nn.Sequential` of Linear and activation modules, in this
        model's dtype (needs the `torch` extra)."""
        from .torch_bridge import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, seq) -> Module:
        """Convert a `torch.nn.Sequential` of Linear layers and supported activations."""
        from .torch_bridge import from_torch

        spec, arrays = from_torch(seq, cls.engine)
        return cls._from_arrays(spec, arrays)


def load_model(
    path: str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    engine: str | None = None,
    raise_hint: str = "raise it with max_bytes=",
) -> Module:
    """Rebuild a saved model with the engine its file records (an `MLP` or a `ValueMLP`),
    or with `engine` ("tensor" or "value") when given."""
    spec, arrays = read_model(path, max_bytes, raise_hint)
    if engine is not None and engine not in ENGINES:
        raise ValueError(
            f"engine must be one of {', '.join(ENGINES)}, got {engine!r}; pass e.g. engine='tensor'"
        )
    return ENGINES[engine or spec.engine]._from_arrays(spec, arrays)
