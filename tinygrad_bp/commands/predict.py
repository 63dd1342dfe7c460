"""`tinygrad-bp predict MODEL INPUT.csv|-`: run a saved model on new inputs."""

from __future__ import annotations

import argparse
import io
import re
import sys
import warnings

import numpy as np

from ..files import FileLimitError, MiB, read_at_most, read_text
from ..formatting import dumps
from ..nn.modelfile import ENGINE_NAMES
from ..nn.module import load_model
from ..nn.train import estimate_value_seconds, predict
from .args import positive

DEFAULT_MAX_MB = 64.0
DEFAULT_MAX_ROWS = 1_000_000
VALUE_LIMIT_SECONDS = 60.0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="run a saved model (train --save) on inputs from a CSV file",
        description="Read a model file written by `tinygrad-bp train --save` or model.save(), "
        "run it on every row of INPUT (a CSV file of numbers, one example per line, one "
        "column per model input; '-' reads standard input; a header line naming the "
        "columns and lines starting with # are skipped) and print the outputs as CSV "
        "(y1, y2, ...; every number with all its digits) or --json.",
    )
    p.add_argument("model", metavar="MODEL", help="model file (.npz)")
    p.add_argument("input", metavar="INPUT.csv", help="CSV file of inputs, or - for stdin")
    p.add_argument("--json", action="store_true", help="print the outputs as JSON")
    p.add_argument(
        "--engine",
        choices=("saved", *ENGINE_NAMES),
        default="saved",
        help="engine to run the model with (saved: the one recorded in the file)",
    )
    p.add_argument(
        "--max-mb",
        type=positive(float),
        default=DEFAULT_MAX_MB,
        help=f"largest model file and input accepted, in MiB ({DEFAULT_MAX_MB:g})",
    )
    p.add_argument(
        "--max-rows",
        type=positive(int),
        default=DEFAULT_MAX_ROWS,
        help=f"most lines of INPUT read, a header aside ({DEFAULT_MAX_ROWS:,}: a few seconds)",
    )
    p.set_defaults(run=run)


def read_input(source: str, limit: int) -> str:
    """The text of INPUT (or stdin for '-'), refusing more than `limit` bytes."""
    if source != "-":
        return read_text(source, limit, "input", "--max-mb")
    if sys.stdin is None:
        raise FileLimitError("standard input is closed; give INPUT.csv as a file name")
    data = read_at_most(sys.stdin.buffer, limit)
    if len(data) > limit:
        raise FileLimitError(
            f"standard input: over the limit of {limit / MiB:g} MiB; raise it with --max-mb"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileLimitError(
            "standard input: not UTF-8 text (binary data?); give CSV rows of numbers saved as UTF-8"
        ) from None


def parse_csv(text: str, n_inputs: int, source: str) -> np.ndarray:
    """Rows of `n_inputs` finite numbers; a header (the first line) and # comments are skipped.

    A number is written as in CSV files: ASCII digits, an optional sign, point
    and exponent (``-1.5e-3``), optionally in double quotes; Python's own extras
    (``1_000``, non-ASCII digits) are not numbers here.
    """
    bulk = _bulk(text, n_inputs)
    if bulk is not None:
        return bulk
    rows = []
    first = True
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [_unquote(f.strip()) for f in line.split(",")]
        header, first = first, False
        try:
            values = [_number(f) for f in fields]
        except ValueError:
            if header and _is_header(fields, n_inputs):
                continue
            bad = next(f for f in fields if not _is_number(f))
            raise ValueError(
                f"{source}, line {number}: {bad!r} is not a number; give comma-separated "
                "numbers like 0.5,-1"
            ) from None
        if len(values) != n_inputs:
            raise ValueError(
                f"{source}, line {number}: {len(values)} columns, the model takes "
                f"{n_inputs} inputs; give {n_inputs} comma-separated numbers per line"
            )
        if not np.isfinite(values).all():
            raise ValueError(
                f"{source}, line {number}: {line[:40]!r} holds NaN or infinity; give finite numbers"
            )
        rows.append(values)
    if not rows:
        raise ValueError(
            f"{source}: no rows of numbers (empty or only comments); give one line of "
            f"{n_inputs} comma-separated numbers per sample"
        )
    return np.array(rows, dtype=float)


# Text of nothing but such numbers, commas and line ends: numpy's C reader reads it
# as float() would (the same correctly rounded decimal conversion), in one pass.
_NOT_PLAIN = re.compile(r"[^0-9eE+\-.,\r\n \t]")


def _bulk(text: str, n_inputs: int) -> np.ndarray | None:
    """The rows of a file of plain numbers (after an optional header), else None.

    None sends the file to the line-by-line reader, which names the line at fault.
    """
    first, _, rest = text.partition("\n")
    if _NOT_PLAIN.search(first):
        if not _is_header([_unquote(f.strip()) for f in first.split(",")], n_inputs):
            return None
        text = rest
    if _NOT_PLAIN.search(text):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns about an empty file
            X = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=float, comments=None)
    except ValueError:
        return None
    if X.shape[0] == 0 or X.shape[1] != n_inputs or not np.isfinite(X).all():
        return None
    return X


_NUMBER = re.compile(
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)", re.I | re.A
)


def _unquote(field: str) -> str:
    return field[1:-1].strip() if len(field) >= 2 and field[0] == field[-1] == '"' else field


def _is_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text))


def _number(text: str) -> float:
    if not _is_number(text):
        raise ValueError(text)
    return float(text)


def _is_header(fields: list[str], n_inputs: int) -> bool:
    """A header line: one name per column, none of them a number."""
    return len(fields) == n_inputs and not any(map(_is_number, fields))


def run(args: argparse.Namespace) -> int:
    limit = int(min(args.max_mb, 2.0**60) * MiB)  # past 2^60 MiB, any file fits
    engine = None if args.engine == "saved" else args.engine
    model = load_model(args.model, limit, engine, raise_hint="raise it with --max-mb")
    source = "standard input" if args.input == "-" else args.input
    text = read_input(args.input, limit)
    ends = max(text.count("\n"), text.count("\r"))  # \r alone ends lines too (old Macs)
    lines = ends + (not text.endswith(("\n", "\r")))
    if lines > args.max_rows + 1:  # a header may come on top
        raise ValueError(
            f"{source}: {lines:,} lines, over the limit of {args.max_rows:,} rows (a few "
            "seconds); raise it with --max-rows, or split the file"
        )
    X = parse_csv(text, model.sizes[0], source)
    if model.engine == "value":
        seconds = estimate_value_seconds(model.sizes, len(X), 1) / 2  # forward only
        if seconds > VALUE_LIMIT_SECONDS:
            raise ValueError(
                f"the Value engine would take about {seconds:.0f} s for {len(X):,} rows; "
                "use --engine tensor (same numbers to rounding, in seconds)"
            )
    with np.errstate(over="ignore", invalid="ignore"):  # told once below, not per operation
        out = predict(model, X)
    bad = int((~np.isfinite(out)).sum())
    if bad:
        print(
            f"note: {bad} output{'s' * (bad != 1)} overflowed to infinity or NaN (inputs too "
            "large for the model?); --json writes them as null",
            file=sys.stderr,
        )
    if args.json:
        described = f"{model.describe()} {model.dtype}"
        print(dumps({"model": described, "engine": model.engine, "outputs": out}))
        return 0
    # every digit (repr), and + 0.0 turns -0.0 into 0 as fmt does
    lines = [",".join(map(repr, row)) for row in (out + 0.0).tolist()]
    sys.stdout.write("\n".join([",".join(f"y{j}" for j in range(1, out.shape[1] + 1)), *lines]))
    sys.stdout.write("\n")
    return 0
