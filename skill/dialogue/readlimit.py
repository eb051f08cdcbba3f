"""Read a small file safely: regular files only, a fixed size at most.

Dialogue files and the settings file are small; a huge file, ``/dev/zero``
or a named pipe must never cost minutes or gigabytes, or hang. The file is
opened without blocking, checked with ``fstat`` *before* anything is read,
and never read past ``limit + 1`` bytes (a file that grows while read is
still caught).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def read_bounded(path: Path | str, limit: int, follow_symlinks: bool = True) -> bytes:
    """At most ``limit`` bytes of a regular file.

    Raises ``OSError`` when it cannot be opened (``IsADirectoryError`` for a
    folder; ``errno.ELOOP`` for a symbolic link when ``follow_symlinks`` is
    False) and ``ValueError`` with a short reason (completing "FILE ...") for
    a pipe, a device or a file larger than ``limit``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a regular file (a pipe or a device?)")
        if info.st_size > limit:
            raise ValueError(f"is {info.st_size // 1024} KB, more than the {limit // 1024} KB allowed; "
                             "is it the right file?")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"is more than the {limit // 1024} KB allowed; is it the right file?")
        return b"".join(chunks)
    finally:
        os.close(fd)
