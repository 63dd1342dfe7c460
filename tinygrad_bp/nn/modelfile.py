"""The model file: an ``.npz`` archive of the weights and a JSON record of the architecture.

Format version 1 (see docs/model-files.md). Members, each a ``.npy`` array:

* ``__meta__``: a 0-d string array holding JSON
  ``{"format": "tinygrad_bp model", "version": 1, "engine": "tensor" | "value",
  "sizes": [2, 16, 1], "activations": [{"name": "tanh", "params": {}}, ...],
  "dtype": "float64" | "float32"}``;
* ``layer{i}.weight`` (out, in) and ``layer{i}.bias`` (out,) for i = 1, 2, ..., in
  the recorded dtype.

Reading never unpickles and never trusts the archive: the file size, the
unpacked size of every member (from the zip directory, before anything is
inflated) and the size each array header declares are checked against a limit
first. Every problem is a `ModelFileError` naming the file.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.ops import ACTIVATIONS, UNARY, Activation
from ..files import MiB, atomic_write, read_bytes
from .init import DTYPES, check_sizes

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMAT",
    "VERSION",
    "ModelFileError",
    "ModelSpec",
    "read_model",
    "write_model",
]

FORMAT = "tinygrad_bp model"
VERSION = 1
DEFAULT_MAX_BYTES = 64 * MiB
MAX_MEMBERS = 1000
#: the remedy for a file that is not a readable model
RESAVE = "give a file written by model.save or tinygrad-bp train --save"
ENGINE_NAMES = ("tensor", "value")


class ModelFileError(ValueError):
    """A model file is missing, unreadable, corrupt, too large or made for another network."""


@dataclass(frozen=True)
class ModelSpec:
    """What a model file says about its network."""

    engine: str
    sizes: tuple[int, ...]
    activations: tuple[Activation, ...]
    dtype: str

    def describe(self) -> str:
        """``"2-16-1 tanh/linear float64"`` (long networks shortened with "...")."""
        sizes = _short([str(n) for n in self.sizes], "-")
        acts = _short([a.spec for a in self.activations], "/")
        return f"{sizes} {acts} {self.dtype}"

    def keys(self) -> list[str]:
        return [f"layer{i}.{p}" for i in range(1, len(self.sizes)) for p in ("weight", "bias")]

    def shape(self, key: str) -> tuple[int, ...]:
        i = int(key[5 : key.index(".")])
        n_in, n_out = self.sizes[i - 1], self.sizes[i]
        return (n_out, n_in) if key.endswith("weight") else (n_out,)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "engine": self.engine,
                "sizes": list(self.sizes),
                "activations": [
                    {"name": a.name, "params": dict(a.params)} for a in self.activations
                ],
                "dtype": self.dtype,
            }
        )


def write_model(path: str | os.PathLike, spec: ModelSpec, state: dict[str, np.ndarray]) -> Path:
    """Write the archive atomically: the old file stays intact if anything fails."""
    path = Path(path)
    for key, arr in state.items():
        if not np.isfinite(arr).all():
            raise ModelFileError(
                f"{path}: not saved: {key} holds NaN or infinity (the training diverged?); "
                "train again with a smaller learning rate"
            )
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.array(spec.to_json()), **state)
    try:
        return atomic_write(path, buf.getvalue())
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot write ({exc.strerror or exc}); check the folder exists and is writable"
        ) from None


def read_model(
    path: str | os.PathLike,
    max_bytes: int = DEFAULT_MAX_BYTES,
    raise_hint: str = "raise it with max_bytes=",
) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """(spec, arrays) of a model file whose arrays fit its recorded architecture."""
    path = Path(path)
    try:
        data = read_bytes(path, max_bytes, "model file", raise_hint.removeprefix("raise it with "))
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    arrays = _members(path, data, max_bytes, raise_hint)
    if "__meta__" not in arrays:
        raise ModelFileError(
            f"{path}: not a tinygrad_bp model file (no architecture record); {RESAVE}"
        )
    spec = _spec(path, arrays.pop("__meta__"))
    missing = [k for k in spec.keys() if k not in arrays]
    extra = [k for k in arrays if k not in spec.keys()]
    if missing or extra:
        raise ModelFileError(
            f"{path}: the weights do not fit the recorded {spec.describe()} network: "
            + "; ".join(
                part
                for part in (
                    f"missing {_some(missing)}" if missing else "",
                    f"unexpected {_some(extra)}" if extra else "",
                )
                if part
            )
            + f"; {RESAVE}"
        )
    for key in spec.keys():
        arr = arrays[key]
        if arr.shape != spec.shape(key) or arr.dtype.name != spec.dtype:
            raise ModelFileError(
                f"{path}: {key} is {arr.dtype.name} {arr.shape}, the recorded "
                f"{spec.describe()} network needs {spec.dtype} {spec.shape(key)}; {RESAVE}"
            )
        if not np.isfinite(arr).all():
            raise ModelFileError(
                f"{path}: {key} holds NaN or infinity, expected finite weights; {RESAVE}"
            )
    return spec, arrays


def _short(parts: list[str], sep: str, most: int = 10) -> str:
    if len(parts) <= most:
        return sep.join(parts)
    return sep.join([*parts[:4], "...", *parts[-2:]]) + f" ({len(parts)})"


def _some(names: list[str], most: int = 6) -> str:
    """The first few names, and how many more."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(repr(n) if not n.isprintable() else n for n in names[:most]) + more


def _members(path: Path, data: bytes, max_bytes: int, raise_hint: str) -> dict[str, np.ndarray]:
    if data.startswith(b"\x93NUMPY"):
        raise ModelFileError(
            f"{path}: a single .npy array, not a model file (an .npz archive); {RESAVE}"
        )
    if not data.startswith(b"PK"):
        raise ModelFileError(
            f"{path}: not a model file (not an .npz archive; truncated or corrupt?); {RESAVE}"
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(
                f"{path}: {len(infos)} members, a model file has far fewer (at most "
                f"{MAX_MEMBERS}); {RESAVE}"
            )
        total = sum(info.file_size for info in infos)
        if total > max_bytes:
            raise ModelFileError(
                f"{path}: would unpack to {total / MiB:.4g} MiB, over the limit of "
                f"{max_bytes / MiB:.4g} MiB (a zip bomb?); {raise_hint}"
            )
        arrays = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ModelFileError(
                    f"{path}: unexpected member {info.filename!r}, expected .npy arrays; {RESAVE}"
                )
            with zf.open(info) as f:
                arrays[info.filename[:-4]] = _read_npy(f, info.file_size)
        return arrays
    except ModelFileError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise ModelFileError(
            f"{path}: not a readable .npz model file (truncated or corrupt?): {exc}; {RESAVE}"
        ) from None


def _read_npy(f, declared: int) -> np.ndarray:
    """One .npy member, its size checked against the zip's declaration before reading."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in "fU":
        raise ValueError(f"an array of {dtype} (only float arrays and the record are read)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > declared:
        raise ValueError(f"an array header claims {nbytes} bytes in a member of {declared}")
    raw = f.read(nbytes)
    if len(raw) != nbytes:
        raise EOFError(f"expected {nbytes} bytes of array data, got {len(raw)}")
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.newbyteorder("="))


def _spec(path: Path, meta: np.ndarray) -> ModelSpec:
    try:
        record = json.loads(str(meta.item()) if meta.dtype.kind == "U" else "")
    except (ValueError, TypeError, RecursionError):
        raise ModelFileError(
            f"{path}: the architecture record is not JSON (corrupt?); {RESAVE}"
        ) from None
    if not isinstance(record, dict):
        raise ModelFileError(
            f"{path}: the architecture record is corrupt ({type(record).__name__}, expected "
            f"an object); {RESAVE}"
        )
    version = record.get("version", 0)
    if record.get("format", FORMAT) != FORMAT:
        raise ModelFileError(
            f"{path}: not a tinygrad_bp model file (format {record.get('format')!r:.40}, "
            f"expected {FORMAT!r}); {RESAVE}"
        )
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != version:
        raise ModelFileError(
            f"{path}: the architecture record is corrupt (version {version!r:.40}, expected "
            f"the whole number {VERSION}); {RESAVE}"
        )
    if version != VERSION:
        age = "older" if version < VERSION else "newer"
        raise ModelFileError(
            f"{path}: model file format version {version} ({age}); this tinygrad_bp reads "
            f"version {VERSION} only"
            + (": re-save the model with this version" if age == "older" else ": upgrade it")
        )
    try:
        engine, dtype = record["engine"], record["dtype"]
        sizes = tuple(check_sizes(record["sizes"]))
        acts = tuple(_activation(a) for a in record["activations"])
        if engine not in ENGINE_NAMES:
            raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINE_NAMES)}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        if len(acts) != len(sizes) - 1:
            raise ValueError(f"{len(sizes) - 1} layers with {len(acts)} activations")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: the architecture record is corrupt ({exc}); {RESAVE}"
        ) from None
    return ModelSpec(engine, sizes, acts, dtype)


def _activation(record: dict) -> Activation:
    name, params = record["name"], record["params"]
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    op = UNARY[name]
    if not isinstance(params, dict) or set(params) != set(op.params):
        raise ValueError(f"{name} takes {sorted(op.params) or 'no parameters'}")
    values = []
    for key in op.params:
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name}: {key} must be a finite number")
        values.append((key, float(v)))
    return Activation(op, tuple(values))
