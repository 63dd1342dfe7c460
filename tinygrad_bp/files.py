"""Reading and writing files safely: every read has a size limit, every write is atomic.

Every file the package reads (case files, derivations, models, data) goes
through `read_bytes` / `read_text`, which refuse directories, FIFOs and devices
(a FIFO would block forever, ``/dev/zero`` never ends) and anything larger than
the limit named in the message. Every file it writes goes through
`atomic_write`: the data goes to a temporary file in the same folder, which
then replaces the target in one step, so a failure part-way never destroys the
old file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileLimitError", "MiB", "atomic_write", "read_at_most", "read_bytes", "read_text"]

MiB = 1 << 20


class FileLimitError(ValueError):
    """A file that cannot be read: missing, not a regular file, too large, or not text."""


def _size_words(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n} bytes"


def read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Up to `limit` + 1 bytes of `stream` (one more tells it is over the limit), read in
    pieces: a limit of 10^300 bytes reads what is there instead of asking for that much."""
    chunks, total = [], 0
    while total <= limit:
        chunk = stream.read(min(1 << 24, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_bytes(
    path: str | os.PathLike, limit: int, what: str = "file", raise_with: str = ""
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or a clear `FileLimitError`.

    `raise_with` (a flag like ``--max-bytes``) is named in the message of a file
    over the limit.
    """
    how = f"; raise it with {raise_with}" if raise_with else "; give a smaller file"
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise FileLimitError(f"{what} {p}: no such file; check the name and folder") from None
    except OSError as exc:
        raise FileLimitError(
            f"{what} {p}: cannot read ({exc.strerror or exc}); check its permissions"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise FileLimitError(f"{what} {p}: is a directory, expected a file; give a file in it")
    if not stat.S_ISREG(st.st_mode):
        raise FileLimitError(
            f"{what} {p}: not a regular file (a pipe, socket or device); give a saved file"
        )
    if st.st_size > limit:
        raise FileLimitError(
            f"{what} {p}: {_size_words(st.st_size)} is over the limit of {_size_words(limit)}{how}"
        )
    try:
        with open(p, "rb") as f:
            data = read_at_most(f, limit)
    except OSError as exc:
        raise FileLimitError(
            f"{what} {p}: cannot read ({exc.strerror or exc}); check its permissions"
        ) from None
    if len(data) > limit:  # grew while we read it
        raise FileLimitError(f"{what} {p}: over the limit of {_size_words(limit)}{how}")
    return data


def read_text(path: str | os.PathLike, limit: int, what: str = "file", raise_with: str = "") -> str:
    """The UTF-8 text of a file of at most `limit` bytes; binary or non-UTF-8 files refused."""
    data = read_bytes(path, limit, what, raise_with)
    if b"\x00" in data:
        raise FileLimitError(
            f"{what} {path}: a binary file (it contains NUL bytes), expected text; "
            "give a text file saved as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileLimitError(
            f"{what} {path}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x}); "
            "save it as UTF-8"
        ) from None


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` to `path` through a temporary file and a rename; returns the path.

    Either the whole new file is there afterwards or the old one is untouched. A
    symbolic link is followed: the file it points to is replaced. Raises `OSError`
    (with the path) when the folder cannot be written.
    """
    given = p = Path(path)
    if p.is_symlink():  # write where the link points: the link stays a link
        p = Path(os.path.realpath(p))
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a folder, expected a file name; give a file name in it")
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise type(exc)(
            f"cannot write {p} ({exc.strerror or exc}); check the folder exists and is writable"
        ) from None
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.chmod(tmp, _existing_mode(p) or (0o666 & ~_umask()))
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return given


def _umask() -> int:
    """The process's umask, read without changing it where the system shows it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _existing_mode(p: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(p).st_mode)
    except OSError:
        return None
