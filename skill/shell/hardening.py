"""Process-wide protections set once at start (``skill.shell.cli.main``).

- No core dumps: a crash must not write the process memory (which holds what
  was typed or said, and notes) to a file. ``RLIMIT_CORE`` goes to 0, and the
  process is marked not dumpable (``PR_SET_DUMPABLE`` 0), which also covers a
  core pattern that pipes to a program (the kernel ignores RLIMIT_CORE then)
  and keeps other processes of the same user from reading its memory.
- SIGTERM and SIGHUP (a closed terminal) are handled like Ctrl-C: they raise
  :class:`Terminated` (a ``KeyboardInterrupt``), so every ``finally`` runs and
  a save or download in progress removes its temporary file instead of
  leaving a copy of a note (or half a model) behind.
"""

from __future__ import annotations

import ctypes
import logging
import resource
import signal

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
#: Signals that end the program the way Ctrl-C does.
TERMINATING = (signal.SIGTERM, signal.SIGHUP)

received: int | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; handled exactly like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _libc():
    """The C library already loaded into this process (no search, no subprocess)."""
    return ctypes.CDLL(None, use_errno=True)


def no_core_dumps() -> None:
    """RLIMIT_CORE 0 and PR_SET_DUMPABLE 0 where available.

    The soft limit is what the kernel obeys; the hard limit is left as it is,
    because lowering it cannot be undone without CAP_SYS_RESOURCE, and tests
    call :func:`skill.shell.cli.main` inside the test process itself.
    """
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (ValueError, OSError) as exc:  # pragma: no cover - refused by the system
        log.debug("could not set RLIMIT_CORE: %s", exc)
    try:
        libc = _libc()
        if libc is not None and libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:  # pragma: no cover
            log.debug("prctl(PR_SET_DUMPABLE) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:  # pragma: no cover - not Linux
        log.debug("prctl unavailable: %s", exc)


def dumpable() -> int | None:
    """The process's dumpable flag (for tests and diagnostics); None where unknown."""
    try:
        libc = _libc()
        return int(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) if libc is not None else None
    except (OSError, AttributeError):  # pragma: no cover
        return None


def _raise(signum: int, frame: object) -> None:
    global received
    received = signum
    raise Terminated(signum)


def handle_termination() -> None:
    """SIGTERM and SIGHUP raise :class:`Terminated` (main thread only)."""
    for sig in TERMINATING:
        try:
            if signal.getsignal(sig) is signal.SIG_IGN and sig == signal.SIGHUP:
                continue  # started under nohup: keep ignoring hang-ups
            signal.signal(sig, _raise)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            pass


def harden() -> None:
    no_core_dumps()
    handle_termination()


def exit_code(default: int) -> int:
    """128 + the terminating signal, if one arrived; else ``default``."""
    return 128 + received if received is not None else default
