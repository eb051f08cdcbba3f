"""Text mode: the same check-in in a terminal, prompts printed and answers typed.

A thin shell around the pure engine. Typed answers are sent as Heard with
confidence 1.0; an empty line is silence. During a quiet wait, Enter (or
"continue") carries on. Whatever happens to the terminal (Ctrl-C, end of
input, a closed output pipe, invalid UTF-8, enormous lines) the person gets
a kind goodbye and never a traceback: exit 0 for a normal end, 130 for
Ctrl-C.

With ``--events -`` the JSON Lines event stream owns standard output and the
conversation itself is printed to standard error.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from typing import IO, Any, BinaryIO

from skill.dialogue.dialog import Bundle
from skill.dialogue.engine import Engine
from skill.storage.eventlog import EventLog, EventLogRefused, open_private
from skill.storage.notes import EarlierNotes, NotesError
from skill.dialogue.protocol import (
    Action,
    DeleteNote,
    End,
    Event,
    Heard,
    Listen,
    NoteFailed,
    NoteSaved,
    SaveNote,
    Say,
    SessionContext,
    Silence,
    Wait,
)

log = logging.getLogger(__name__)

MAX_LINE = 4000  # characters kept from one typed line; the rest is dropped
_READ_CHUNK = 65536
WAITING = "(waiting quietly \u2014 press Enter or type 'continue' when ready)"
GOODBYE = "Okay, we'll stop here. Take good care of yourselves."
GOODBYE_SOLO = "Okay, we'll stop here. Take good care of yourself."
SORRY = "I'm sorry, something went wrong on my side. Let's stop here. Take good care."


class _OutputClosed(Exception):
    """Whoever reads our output has gone away."""


def read_line(stream: BinaryIO) -> str | None:
    """One line from a byte stream: decoded leniently, capped, without the newline.

    Returns None at end of input. Reads in chunks so a gigantic line never
    fills memory.
    """
    first = stream.readline(_READ_CHUNK)
    if not first:
        return None
    data = first
    while not data.endswith(b"\n"):
        more = stream.readline(_READ_CHUNK)
        if not more:
            break
        if len(data) < MAX_LINE * 4:
            data += more
        elif more.endswith(b"\n"):
            break
    text = data.decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() or ch == " " else " " for ch in text.rstrip("\r\n"))
    return text[:MAX_LINE]


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return [str(n).strip() for n in value if str(n).strip()]


class _Notes:
    """The notes folder, if notes are on; failures become NoteFailed, never a crash."""

    def __init__(self, args: argparse.Namespace, flow: str) -> None:
        self.store: Any = None
        self.enabled = getattr(args, "notes_enabled", True) is not False
        if not self.enabled or importlib.util.find_spec("skill.storage.notes") is None:
            return
        try:
            from skill.storage.notes import NotesStore

            self.store = NotesStore(getattr(args, "notes_dir", None) or None)
            self.store.begin_session(flow, people=_names(getattr(args, "names", None)))
        except Exception as exc:  # an unusable notes folder must not stop a check-in
            log.warning("notes unavailable: %s", exc)
            self.store = None

    def earlier(self, names: list[str]) -> EarlierNotes:
        """The earlier notes these people may be offered (none if unreadable)."""
        if self.store is None:
            return EarlierNotes()
        try:
            return self.store.earlier_notes(names)
        except Exception as exc:
            log.warning("could not read earlier notes: %s", exc)
            return EarlierNotes()

    def save(self, text: str) -> Event:
        if self.store is None:
            return NoteFailed("notes are not available")
        try:
            return NoteSaved(str(self.store.add(text)))
        except NotesError as exc:  # one line that says why: permission, disk full, read-only
            log.warning("%s", exc)
            return NoteFailed(str(exc))
        except Exception as exc:  # never the text: an exception's message might quote it
            log.warning("could not keep a note: %s", exc.__class__.__name__)
            return NoteFailed(exc.__class__.__name__)

    def delete_last(self) -> None:
        if self.store is not None:
            try:
                self.store.delete_last()
            except Exception as exc:
                log.warning("could not forget the note: %s", exc.__class__.__name__)


class TextSession:
    """Runs one engine against a terminal (or any pair of streams)."""

    def __init__(self, engine: Engine, stdin: BinaryIO, out: IO[str], events: EventLog,
                 notes: _Notes, interactive: bool = False) -> None:
        self.engine = engine
        self.stdin = stdin
        self.out = out
        self.events = events
        self.notes = notes
        self.interactive = interactive
        self._waiting: Wait | None = None
        self._shown_since_wait = True

    def show(self, text: str, end: str = "\n") -> None:
        self._shown_since_wait = True
        try:
            self.out.write(text + end)
            self.out.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise _OutputClosed() from exc

    def ask(self) -> str | None:
        if self.interactive:
            self.show("> ", end="")
        return read_line(self.stdin)

    def run(self) -> int:
        """Returns the exit code; raises _OutputClosed / KeyboardInterrupt for the caller."""
        actions = self.engine.start()
        while True:
            event = self.perform(actions)
            if event is None:
                return 0
            node = self.engine.node
            actions = self.engine.handle(event)
            if isinstance(event, Heard):
                self.events.heard(event.text, self.engine.last_match, node)
            elif isinstance(event, Silence):
                self.events.silence(node)

    def perform(self, actions: list[Action]) -> Event | None:
        """Carry out actions; returns the next event, or None when the session ended."""
        event: Event | None = None
        for action in actions:
            self.events.action(action)
            if isinstance(action, Say):
                self.show(action.text)
            elif isinstance(action, Listen):
                line = self.ask()
                if line is None:
                    return self.eof()
                event = Heard(line, 1.0) if line.strip() else Silence()
            elif isinstance(action, Wait):
                if not (action == self._waiting and not self._shown_since_wait):
                    self.show(WAITING)  # once per wait, not after every ignored line
                self._waiting = action
                self._shown_since_wait = False
                line = self.ask()
                if line is None:
                    return self.eof()
                event = Heard(line if line.strip() else "continue", 1.0)
            elif isinstance(action, SaveNote):
                event = self.notes.save(action.text)
                self.events.note_result(isinstance(event, NoteSaved))
            elif isinstance(action, DeleteNote):
                self.notes.delete_last()
            elif isinstance(action, End):
                return None
        if event is None:  # the engine always ends with an awaiting action; be safe anyway
            log.error("engine returned no action to wait on; ending")
            self.show(SORRY)
            return None
        return event

    def eof(self) -> None:
        self.show("")
        self.show(GOODBYE_SOLO if self.engine.solo else GOODBYE)
        self.events.write({"event": "end", "reason": "stopped"})
        return None


def context_from_args(args: argparse.Namespace, notes: _Notes) -> SessionContext:
    names = _names(getattr(args, "names", None))
    earlier = notes.earlier(names)
    return SessionContext(
        names=names,
        setting=getattr(args, "setting", None) or "sofa",
        safe_word=getattr(args, "safe_word", None) or "red",
        notes_enabled=notes.enabled and notes.store is not None,
        last_notes=list(earlier.notes),
        last_notes_ours=earlier.ours,
        last_notes_from=earlier.whose,
        last_notes_when=earlier.when,
        support_line=getattr(args, "support_line", None) or "",
    )




def run(args: argparse.Namespace, bundle: Bundle, stdin: BinaryIO | None = None,
        stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run a check-in in the terminal. Returns the exit code (0, or 130 on Ctrl-C)."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stderr = stderr if stderr is not None else sys.stderr
    flow = getattr(args, "flow", None) or "aftercare"
    try:
        events_stream, owns_stdout = open_private(getattr(args, "events", None))
    except EventLogRefused as exc:
        stderr.write(f"{exc}\n")
        return 2
    out = stdout if stdout is not None else (stderr if owns_stdout else sys.stdout)
    notes = _Notes(args, flow)
    context = context_from_args(args, notes)
    seed = getattr(args, "seed", None)
    engine = Engine(bundle, flow, context, seed=seed if seed is not None else 0)
    try:
        interactive = bool(stdin.isatty())
    except (AttributeError, ValueError):
        interactive = False
    session = TextSession(engine, stdin, out, EventLog(events_stream), notes, interactive)
    try:
        return session.run()
    except KeyboardInterrupt:
        _last_words(out, stderr, "\n" + (GOODBYE_SOLO if engine.solo else GOODBYE))
        session.events.write({"event": "end", "reason": "stopped"})
        return 130
    except _OutputClosed:
        _silence_stdout()
        _last_words(stderr, None, GOODBYE_SOLO if engine.solo else GOODBYE)
        return 0
    except Exception:  # never a traceback in front of someone mid-check-in
        log.exception("text mode failed")
        _last_words(out, stderr, SORRY)
        session.events.write({"event": "end", "reason": "error"})
        return 1
    finally:
        if events_stream is not None and not owns_stdout:
            try:
                events_stream.close()
            except OSError:
                pass


def _last_words(primary: IO[str], fallback: IO[str] | None, text: str) -> None:
    for stream in (primary, fallback):
        if stream is None:
            continue
        try:
            stream.write(text + "\n")
            stream.flush()
            return
        except (OSError, ValueError):
            continue


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail loudly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
