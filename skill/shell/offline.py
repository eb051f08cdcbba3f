"""The offline promise, enforced: no network during a session.

A check-in is private, so nothing may leave the machine while one runs. An
audit hook (:func:`sys.addaudithook`, PEP 578) sees every socket connection
and name lookup Python code attempts; while a session is guarded those are
recorded and refused. Only ``models download`` runs unguarded.

Audit hooks cannot be removed, so one hook is installed per process and a
module-level flag switches it on and off.

What counts: anything that could carry data off the machine (connect, send,
name lookups, binding a non-loopback address) is refused and recorded, even
to 127.0.0.1 (a local proxy could forward it). What does not: AF_UNIX
sockets, creating a socket, and binding one to a loopback address with
nothing sent. The last is what ``import vosk`` does: vosk imports requests,
whose urllib3 probes for IPv6 at import time by binding a socket to ``::1``.
Such events are listed as ``local`` in the report, so they stay visible.
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
    "socket.getnameinfo",
})
_LOCAL_FAMILIES = {getattr(socket, "AF_UNIX", -1)}
_LOOPBACK = ("127.", "::1", "localhost")


class OfflineViolation(PermissionError):
    """Raised inside the code that tried to use the network mid-session."""


@dataclass
class Guard:
    """What the hook saw while active."""

    active: bool = False
    attempts: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_guard = Guard()
_installed = False


def _describe(event: str, args: tuple) -> tuple[str, bool] | None:
    """(one line about the event, is it network use?) or None when it is an
    AF_UNIX socket (never leaves the machine)."""
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
        sock = args[0] if args else None
        if getattr(sock, "family", None) in _LOCAL_FAMILIES:
            return None
        address = args[1] if len(args) > 1 else ""
        if event == "socket.bind":
            host = str(address[0] if isinstance(address, tuple) and address else address)
            return f"{event} {address!r}", not host.startswith(_LOOPBACK)
        return f"{event} {address!r}", True
    host = args[0] if args else ""
    return f"{event} {host!r}", True


def _hook(event: str, args: tuple) -> None:
    if not _guard.active or event not in NETWORK_EVENTS:
        return
    seen = _describe(event, args)
    if seen is None:
        return
    what, network = seen
    with _guard.lock:
        (_guard.attempts if network else _guard.local).append(what)
    if not network:
        log.debug("allowed local socket use during a session: %s", what)
        return
    log.error("blocked a network attempt during a session: %s", event)
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
        _guard.local = []
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
    with _guard.lock:
        local = list(_guard.local)
    return {"event": "offline", "network_attempts": len(seen), "blocked": seen, "local": local}
