"""Crash-safe file replacement, safe with several processes in one folder.

A note or a config file must never be left half-written: a crash or power
loss at any instant leaves either the old file or the complete new one. The
recipe is the classic one: write a temporary file in the *same folder* (so the
rename cannot cross file systems), flush and fsync it, rename it over the
target (atomic on POSIX), then fsync the folder so the rename itself is durable.

A *new* file is published with ``link()`` instead of a rename: it fails when
the name is taken, so two processes can never pick the same name and
silently overwrite each other (:func:`write_new_bytes`).

Temporary files start with ``.`` and end with ``.tmp`` so readers ignore
them. Their names carry the writer's process id (``.NAME.OWNER.RANDOM.tmp``,
OWNER being ``PIDNS-PID``), so a clean-up removes only leftovers that are
surely dead: its own (not in progress), those of a process that no longer
runs, or any older than :data:`STALE_AFTER` seconds (:func:`sweep`). A
running neighbour's temp file is never touched.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Callable

TEMP_SUFFIX = ".tmp"
#: A temporary file lives for milliseconds; one older than this is a leftover.
STALE_AFTER = 60.0
#: Test hook: a folder holding the FIFOs ``reached`` and ``go`` (see :func:`pause_for_tests`).
TEST_HOOK_ENV = "AFTERCARE_TEST_SAVE_HOOK"

_in_progress: set[str] = set()
_paused = False


def fsync_dir(folder: Path) -> None:
    """Make a rename/unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_name(name: str) -> bool:
    """True for the temporary files this module creates."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def owner_tag() -> str:
    """``PIDNS-PID``: who wrote a temporary file (see :func:`is_stale`)."""
    return f"{_pid_namespace()}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parse_owner(tag: str) -> tuple[str, int] | None:
    """``PIDNS-PID`` -> (pid namespace, pid); None when ``tag`` is not one."""
    ns, _, pid = tag.partition("-")
    return (ns, int(pid)) if pid.isdigit() and ns.isdigit() else None


def abandoned(path: str, owner: tuple[str, int] | None, now: float | None = None) -> bool:
    """Nobody will finish this temporary file: ours and not in progress, its
    writer (same pid namespace) no longer runs, or older than STALE_AFTER."""
    if owner is not None and owner[0] == _pid_namespace():
        if owner[1] == os.getpid():
            return path not in _in_progress
        if not _alive(owner[1]):
            return True
    try:
        age = (time.time() if now is None else now) - os.lstat(path).st_mtime
    except OSError:
        return False
    return age > STALE_AFTER


def is_stale(folder: Path, name: str, now: float | None = None) -> bool:
    """A temp file of :func:`temp_name` that nobody is writing (see :func:`abandoned`)."""
    if not is_temp_name(name):
        return False
    parts = name.rsplit(".", 3)
    owner = parse_owner(parts[1]) if len(parts) == 4 else None
    return abandoned(str(Path(folder) / name), owner, now)


def sweep(folder: Path) -> int:
    """Remove stale temporary files (regular files only) in ``folder``; quiet on errors."""
    return remove_entries(folder, lambda entry: is_stale(Path(folder), entry.name))


def remove_entries(folder: Path, pick: Callable[[os.DirEntry], bool], files_only: bool = True) -> int:
    """Remove the entries of ``folder`` that ``pick`` chooses; how many went.

    ``files_only``: regular files only (anything else is left); else any
    entry, a folder with all it holds. Quiet on errors: a clean-up never
    stops the program.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not pick(entry):
            continue
        try:
            if entry.is_dir(follow_symlinks=False) and not files_only:
                shutil.rmtree(entry.path)
            elif entry.is_file(follow_symlinks=False) or not files_only:
                os.unlink(entry.path)
            else:
                continue
            removed += 1
        except OSError:
            pass
    return removed


def temp_name(target_name: str) -> str:
    return f".{target_name}.{owner_tag()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def pause_for_tests(tmp_path: str) -> None:
    """Test hook: once per process, when ``AFTERCARE_TEST_SAVE_HOOK`` names a folder,
    announce ``PID TEMPFILE`` on its FIFO ``reached`` and wait for one byte on
    its FIFO ``go``. Lets tests act (signal, race) at a known instant of a save.
    """
    global _paused
    hook = os.environ.get(TEST_HOOK_ENV)
    if not hook or _paused:
        return
    _paused = True
    with open(os.path.join(hook, "reached"), "w", encoding="utf-8") as reached:
        reached.write(f"{os.getpid()} {tmp_path}\n")
    fd = os.open(os.path.join(hook, "go"), os.O_RDONLY)
    try:
        os.read(fd, 1)
    finally:
        os.close(fd)


class Staged:
    """A complete, fsynced temporary file in ``folder``, ready to be published.

    Use as a context manager: whatever happens, the temporary file is gone
    afterwards (published under its final name, or removed).
    """

    def __init__(self, folder: Path, target_name: str, data: bytes, mode: int = 0o600) -> None:
        self.folder = Path(folder)
        self.path = self.folder / temp_name(target_name)
        _in_progress.add(str(self.path))
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_CLOEXEC", 0), mode)
        except BaseException:
            _in_progress.discard(str(self.path))
            raise
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), mode)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            self.discard()
            raise

    def __enter__(self) -> "Staged":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        _in_progress.discard(str(self.path))

    def replace(self, target: Path) -> None:
        """Atomically put the staged file at ``target`` (replacing any file there)."""
        os.replace(self.path, target)
        _in_progress.discard(str(self.path))
        fsync_dir(self.folder)

    def publish_new(self, target: Path) -> None:
        """Atomically create ``target`` from the staged file; FileExistsError if taken."""
        try:
            os.link(self.path, target, follow_symlinks=False)
        except FileExistsError:
            raise
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise
            # No hard links here (FAT, some network file systems): claim the name exclusively first.
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
            self.replace(target)
            return
        self.discard()
        fsync_dir(self.folder)


def write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace ``path`` with ``data`` (file mode ``mode``).

    Raises ``OSError`` on failure; the old file (if any) is then untouched and
    no temporary file is left behind.
    """
    path = Path(path)
    with Staged(path.parent, path.name, data, mode) as staged:
        staged.replace(path)


def write_new_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically create ``path`` with ``data``; ``FileExistsError`` if it exists."""
    path = Path(path)
    with Staged(path.parent, path.name, data, mode) as staged:
        staged.publish_new(path)


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
