"""The JSON Lines event stream (``--events FILE`` or ``-``): how tests and tools watch a session.

One JSON object per line, each with an ``event`` field naming its kind. The
field names are a stable interface documented in docs/event-log.md; add
fields, never rename them. Building a record is pure (:func:`record`);
:class:`EventLog` only writes, and goes quiet instead of crashing when the
reader goes away (a closed pipe must not end someone's check-in).

Note the ``heard`` record carries the typed or recognized text: the stream
is only written when asked for, and nothing else ever writes heard text.
"""

from __future__ import annotations

import json
import logging
from typing import IO, Any

from skill.protocol import Action, Adjust, DeleteNote, End, EnterNode, Listen, SaveNote, Say, Wait

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
