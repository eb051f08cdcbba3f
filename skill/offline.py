"""The offline promise, enforced: no network during a session.

A check-in is private, so nothing may leave the machine while one runs. An
audit hook (:func:`sys.addaudithook`, PEP 578) sees every socket connection
and name lookup Python code attempts; while a session is guarded those are
recorded and refused. Only ``models download`` runs unguarded.

Audit hooks cannot be removed, so one hook is installed per process and a
module-level flag switches it on and off. Local (AF_UNIX) connections are
recorded but allowed: they never leave the machine.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Audit events that reach the network (or resolve a name to do so).
NETWORK_EVENTS = frozenset({
    "socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind",
    "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "socket.getnameinfo", "socket.__new__",
})
_LOCAL_FAMILIES = {getattr(socket, "AF_UNIX", -1)}


class OfflineViolation(PermissionError):
    """Raised inside the code that tried to use the network mid-session."""


@dataclass
class Guard:
    """What the hook saw while active."""

    active: bool = False
    attempts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_guard = Guard()
_installed = False


def _describe(event: str, args: tuple) -> str | None:
    """One line about a network attempt, or None when it is local/harmless."""
    if event == "socket.__new__":
        family = args[1] if len(args) > 1 else None
        if family in _LOCAL_FAMILIES or family == -1:
            return None
        return f"{event} family={family}"
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
        sock = args[0] if args else None
        if getattr(sock, "family", None) in _LOCAL_FAMILIES:
            return None
        address = args[1] if len(args) > 1 else ""
        return f"{event} {address!r}"
    host = args[0] if args else ""
    return f"{event} {host!r}"


def _hook(event: str, args: tuple) -> None:
    if not _guard.active or event not in NETWORK_EVENTS:
        return
    what = _describe(event, args)
    if what is None:
        return
    with _guard.lock:
        _guard.attempts.append(what)
    log.error("blocked a network attempt during a session: %s", event)
    if event != "socket.__new__":
        raise OfflineViolation(f"network use is not allowed during a session ({event})")


def install() -> None:
    """Install the audit hook once per process."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


@contextlib.contextmanager
def session_guard():
    """Guard a session: yields the :class:`Guard` whose ``attempts`` list
    every network attempt made inside (each one also refused)."""
    install()
    with _guard.lock:
        _guard.attempts = []
    previous = _guard.active
    _guard.active = True
    try:
        yield _guard
    finally:
        _guard.active = previous


def attempts() -> list[str]:
    """Network attempts seen by the current (or last) guarded session."""
    with _guard.lock:
        return list(_guard.attempts)


def report() -> dict:
    """An event-log record summarizing the guard, written at session end."""
    seen = attempts()
    return {"event": "offline", "network_attempts": len(seen), "blocked": seen}
