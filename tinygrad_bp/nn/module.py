"""What every model shares: parameters, zero_grad, state_dict and .npz files."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .init import check_sizes, init_layers, layer_activations

__all__ = ["Module", "ModelFileError"]


class ModelFileError(ValueError):
    """A model file is missing, unreadable, corrupt or made for another architecture."""


class Module:
    """Base of the models. Subclasses provide `_build()`, `layers()`, `_assign()` and
    `named_parameters()`."""

    sizes: list[int]
    activations: list[str]

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "tanh",
        output: str = "linear",
        seed: int = 0,
    ) -> None:
        """`sizes` inputs first; `activation` for the hidden layers (a name, or one per hidden
        layer), `output` for the last; weights drawn by `init_layers` from `seed`."""
        self.sizes = check_sizes(sizes)
        self.activations = layer_activations(len(self.sizes) - 1, activation, output)
        self._build(init_layers(self.sizes, self.activations, seed))

    def _build(self, initial: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Make the layers from the initial (W, b) of every layer."""
        raise NotImplementedError

    def layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """(W of shape (out, in), b of shape (out,), activation) per layer, as arrays."""
        raise NotImplementedError

    def _assign(self, layer: int, W: np.ndarray, b: np.ndarray) -> None:
        raise NotImplementedError

    def parameters(self) -> list:
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> list[tuple[str, object]]:
        raise NotImplementedError

    def zero_grad(self) -> None:
        for p in self.parameters():
            p._clear_grad()

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{"layer1.weight": W (out, in), "layer1.bias": b (out,), ...}, alike for both engines."""
        state = {}
        for i, (W, b, _) in enumerate(self.layers(), 1):
            state[f"layer{i}.weight"] = np.array(W, dtype=float)
            state[f"layer{i}.bias"] = np.array(b, dtype=float).reshape(-1)
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
            )
        arrays = {}
        for key, want in expected.items():
            got = np.asarray(state[key])
            if got.shape != want.shape:
                raise ModelFileError(
                    f"{source}: {key} has shape {got.shape}, this model ({self.describe()}) "
                    f"needs {want.shape}"
                )
            if got.dtype.kind not in "fiu" or not np.isfinite(got).all():
                raise ModelFileError(f"{source}: {key} must hold finite numbers")
            arrays[key] = got.astype(float)
        for i in range(1, len(self.sizes)):
            self._assign(i - 1, arrays[f"layer{i}.weight"], arrays[f"layer{i}.bias"])

    def describe(self) -> str:
        return "-".join(map(str, self.sizes)) + " " + "/".join(self.activations)

    def save(self, path: str | Path) -> Path:
        """Write the weights and the architecture to an .npz file (no pickles)."""
        path = Path(path)
        meta = json.dumps({"sizes": self.sizes, "activations": self.activations})
        try:
            with open(path, "wb") as f:
                np.savez(f, __meta__=np.array(meta), **self.state_dict())
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
        return path

    def load(self, path: str | Path) -> None:
        """Load weights from `save`'s file; on any problem the model is left as it was."""
        self.load_state_dict(read_model_file(path)[1], source=str(path))


def read_model_file(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of a model file, or a ModelFileError naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ModelFileError(
            f"{path}: not a readable .npz model file (truncated or corrupt?): {exc}"
        ) from None
    if "__meta__" not in arrays:
        raise ModelFileError(f"{path}: not a tinygrad_bp model file (no architecture record)")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
        sizes, acts = meta["sizes"], meta["activations"]
    except (ValueError, KeyError, TypeError):
        raise ModelFileError(f"{path}: the architecture record is corrupt") from None
    return {"sizes": sizes, "activations": acts}, arrays
