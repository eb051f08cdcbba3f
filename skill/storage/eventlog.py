"""The JSON Lines event stream (``--events FILE`` or ``-``): how tests and tools watch a session.

One JSON object per line, each with an ``event`` field naming its kind. The
field names are a stable interface documented in docs/event-log.md; add
fields, never rename them. Building a record is pure (:func:`record`);
:class:`EventLog` only writes, and goes quiet instead of crashing when the
reader goes away (a closed pipe must not end someone's check-in).

Note the ``heard`` record carries the typed or recognized text: the stream
is only written when asked for, and nothing else ever writes heard text.
So the file is opened privately (:func:`open_private`): created 0600 whatever
the umask, never through a symbolic link (``O_NOFOLLOW``), never a file
owned by another user, and never anything but a regular file or a pipe
(``-`` is standard output). A refusal is one line and the session does not start.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import sys
from typing import IO, Any

from skill.dialogue.protocol import Action, Adjust, DeleteNote, End, EnterNode, Listen, SaveNote, Say, Wait

log = logging.getLogger(__name__)


def record(action: Action) -> dict[str, Any] | None:
    """The event-log record for one engine action (None: not logged)."""
    if isinstance(action, EnterNode):
        return {"event": "node", "node": action.node, "person": action.person}
    if isinstance(action, Say):
        return {"event": "say", "node": action.node, "text": action.text, "purpose": action.purpose}
    if isinstance(action, Listen):
        return {"event": "listen", "node": action.node, "timeout": action.timeout,
                "free_form": action.free_form, "phrases": len(action.phrases)}
    if isinstance(action, Wait):
        return {"event": "pause", "node": action.node, "seconds": action.seconds}
    if isinstance(action, SaveNote):
        return {"event": "note", "action": "save", "flow": action.flow}
    if isinstance(action, DeleteNote):
        return {"event": "note", "action": "delete"}
    if isinstance(action, Adjust):
        return {"event": "adjust", "what": action.what, "step": action.step}
    if isinstance(action, End):
        return {"event": "end", "reason": action.reason}
    return None


def heard_record(text: str, match: Any, node: str | None) -> dict[str, Any]:
    """``heard``: what was typed/said, the matched intent or command, and its score."""
    kind = getattr(match, "kind", None)
    name = getattr(match, "name", None)
    return {
        "event": "heard",
        "node": node,
        "text": text,
        "kind": kind,
        "intent": name if kind in ("intent", "command") else None,
        "score": getattr(match, "score", None),
        "alternatives": list(getattr(match, "alternatives", ()) or ()),
    }


class EventLogRefused(Exception):
    """The ``--events`` target is not safe to write; the message is one line."""


def open_private(target: str | None) -> tuple[IO[str] | None, bool]:
    """Open the ``--events`` target: (stream or None, writes to standard output).

    A regular file is created 0600 (an existing one of ours is truncated and
    tightened to 0600); a FIFO is allowed (a reader watching live); ``-`` is
    standard output. Refused with :class:`EventLogRefused`: a symbolic link,
    a file or pipe owned by another user, and anything else (device, socket,
    folder).
    """
    if not target:
        return None, False
    if target == "-":
        return sys.stdout, True
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        before = os.lstat(target)
    except FileNotFoundError:
        before = None
    except OSError as exc:
        raise EventLogRefused(f"--events: cannot write to {target}: {exc.strerror or exc}") from None
    if before is not None:
        why = _refusal(before)
        if why:
            raise EventLogRefused(f"--events: refusing {target}: {why}")
    try:
        fd = os.open(target, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last part is a symbolic link (it appeared meanwhile)
            raise EventLogRefused(f"--events: refusing {target}: it is a symbolic link; "
                                  "give the path of the file itself") from None
        raise EventLogRefused(f"--events: cannot write to {target}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        why = _refusal(info)
        if why:
            raise EventLogRefused(f"--events: refusing {target}: {why}")
        if stat.S_ISREG(info.st_mode):
            os.ftruncate(fd, 0)
            if stat.S_IMODE(info.st_mode) & 0o077:
                os.fchmod(fd, 0o600)
        return os.fdopen(fd, "w", encoding="utf-8", buffering=1), False
    except BaseException:
        os.close(fd)
        raise


def _refusal(info: os.stat_result) -> str | None:
    """Why a file must not receive the event log (None: it may)."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link; give the path of the file itself"
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        return "it is not a regular file or a pipe (use '-' for standard output)"
    if info.st_uid != os.geteuid():
        return ("it belongs to another user, who could read what was said; "
                "remove it or choose a new file name")
    return None


class EventLog:
    """Writes records as JSON Lines to a stream; silently stops if the stream breaks."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.seq = 0

    def write(self, rec: dict[str, Any] | None) -> None:
        if rec is None or self.stream is None:
            return
        self.seq += 1
        line = json.dumps({"seq": self.seq, **rec}, ensure_ascii=False)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError) as exc:  # closed pipe / closed file
            log.warning("event log stopped: %s", exc.__class__.__name__)
            self.stream = None

    def action(self, action: Action) -> None:
        self.write(record(action))

    def heard(self, text: str, match: Any, node: str | None) -> None:
        self.write(heard_record(text, match, node))

    def silence(self, node: str | None) -> None:
        self.write({"event": "silence", "node": node})

    def note_result(self, ok: bool) -> None:
        self.write({"event": "note", "action": "saved" if ok else "failed"})
