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

import logging
import os
import sys
from typing import IO, BinaryIO

from skill.dialogue.dialog import Bundle
from skill.dialogue.engine import Engine
from skill.dialogue.protocol import (
    Action,
    DeleteNote,
    End,
    Event,
    Heard,
    Listen,
    NoteSaved,
    SaveNote,
    Say,
    Silence,
    Wait,
)
from skill.settings import Settings
from skill.shell.session import event_log, forget_last_note, keep_note, open_session
from skill.storage.eventlog import EventLog, EventLogRefused
from skill.storage.notes import NotesStore

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


class TextSession:
    """Runs one engine against a terminal (or any pair of streams)."""

    def __init__(self, engine: Engine, stdin: BinaryIO, out: IO[str], events: EventLog,
                 notes: NotesStore | None, interactive: bool = False) -> None:
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
                event = keep_note(self.notes, action.text)
                self.events.note_result(isinstance(event, NoteSaved))
            elif isinstance(action, DeleteNote):
                forget_last_note(self.notes)
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


def run(settings: Settings, bundle: Bundle, stdin: BinaryIO | None = None,
        stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run a check-in in the terminal. Returns the exit code (0, or 130 on Ctrl-C)."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stderr = stderr if stderr is not None else sys.stderr
    try:
        with event_log(settings.events) as (events, owns_stdout):
            out = stdout if stdout is not None else (stderr if owns_stdout else sys.stdout)
            return _run(settings, bundle, stdin, out, stderr, events)
    except EventLogRefused as exc:
        stderr.write(f"{exc}\n")
        return 2


def _run(settings: Settings, bundle: Bundle, stdin: BinaryIO, out: IO[str], stderr: IO[str],
         events: EventLog) -> int:
    opened = open_session(settings, bundle)
    engine = opened.engine
    try:
        interactive = bool(stdin.isatty())
    except (AttributeError, ValueError):
        interactive = False
    session = TextSession(engine, stdin, out, events, opened.notes, interactive)
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
