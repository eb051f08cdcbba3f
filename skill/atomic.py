"""Crash-safe file replacement.

A note or a config file must never be left half-written: a crash or power
loss at any instant leaves either the old file or the complete new one. The
recipe is the classic one: write a temporary file in the *same folder* (so the
rename cannot cross file systems), flush and fsync it, rename it over the
target (atomic on POSIX), then fsync the folder so the rename itself is durable.
Temporary files start with ``.`` and end with ``.tmp`` so readers can ignore
(and clean up) the leftovers of a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def fsync_dir(folder: Path) -> None:
    """Make a rename/unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_name(name: str) -> bool:
    """True for the temporary files :func:`write_text` creates."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace ``path`` with ``data`` (file mode ``mode``).

    Raises ``OSError`` on failure; the old file (if any) is then untouched and
    no temporary file is left behind.
    """
    path = Path(path)
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    fsync_dir(folder)


def write_text(path: Path, text: str, mode: int = 0o600) -> None:
    """Atomically replace ``path`` with UTF-8 ``text``."""
    write_bytes(path, text.encode("utf-8"), mode)


def remove(path: Path) -> None:
    """Delete ``path`` durably (missing is fine)."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_dir(path.parent)
