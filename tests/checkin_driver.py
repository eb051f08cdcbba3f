"""Drive whole check-ins for the reliability and privacy tests.

Two drivers, both with answers chosen *per turn* from what the engine is
listening for:

- :func:`drive` runs the real engine in-process through the protocol, doing
  exactly what text mode does with each action (notes go to a real
  ``NotesStore``); fast enough for a 1,000-session soak.
- :class:`CliCheckin` runs the real program (``run.py --text``) in a child
  process and reads its ``--events`` stream from a FIFO, answering each
  ``listen``/``pause`` on stdin; this is what a person at a terminal does.
"""

from __future__ import annotations

import functools
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from skill.dialogue.engine import Engine, Mode
from skill.dialogue.normalize import normalize
from skill.storage.notes import NotesError, NotesStore
from skill.dialogue.protocol import (
    DeleteNote,
    End,
    Heard,
    Listen,
    NoteFailed,
    NoteSaved,
    SaveNote,
    Say,
    SessionContext,
    Silence,
    Timeout,
    Wait,
)

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ("aftercare", "precare", "reflection", "quick")


@functools.lru_cache(maxsize=1)
def bundle():
    """The real dialogues, loaded and checked once."""
    from skill.dialogue.validate import default_dialogs_dir, errors, load_checked

    loaded, problems = load_checked(default_dialogs_dir())
    assert not errors(problems), [p.format() for p in errors(problems)]
    return loaded


def command_phrases(name: str) -> set[str]:
    """A command's phrases, normalized as the phrases a Listen carries are
    ("that's enough" -> "that is enough"), so the two compare."""
    command = bundle().commands.get(name)
    return {normalize(p) for p in command.phrases} if command else set()


@dataclass
class Transcript:
    """What happened in one driven session."""

    end: str | None = None
    turns: int = 0
    said: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    notes_saved: int = 0
    notes_failed: int = 0
    failure_replies: list[str] = field(default_factory=list)


Policy = Callable[[Engine, Listen | Wait], object]


class DeadEnd(AssertionError):
    """The engine gave nothing to wait on, or a session never ended."""


def drive(engine: Engine, policy: Policy, store: NotesStore | None = None, max_turns: int = 2000) -> Transcript:
    """Run one session to its End, as text mode would."""
    result = Transcript()
    actions = engine.start()
    while True:
        event = None
        for action in actions:
            if isinstance(action, Say):
                result.said.append(action.text)
                if event is not None and isinstance(event, NoteFailed):
                    result.failure_replies.append(action.text)
            elif isinstance(action, (Listen, Wait)):
                event = policy(engine, action)
            elif isinstance(action, SaveNote):
                try:
                    event = NoteSaved(store.add(action.text)) if store else NoteFailed("notes off")
                    result.notes_saved += 1
                except NotesError as error:
                    event = NoteFailed(str(error))
                    result.notes_failed += 1
            elif isinstance(action, DeleteNote):
                if store:
                    try:
                        store.delete_last()
                    except NotesError:
                        pass
            elif isinstance(action, End):
                result.end = action.reason
                return result
        if event is None:
            raise DeadEnd(f"no Listen/Wait/End at node {engine.node}: {actions!r}")
        if isinstance(event, Heard):
            result.heard.append(event.text)
        result.turns += 1
        if result.turns > max_turns:
            raise DeadEnd(f"no end after {max_turns} turns (at {engine.node})")
        actions = engine.handle(event)
        if isinstance(event, NoteFailed):
            result.failure_replies += [a.text for a in actions if isinstance(a, Say)]


def note_policy(note_text: str) -> Policy:
    """Skip every question, but say yes to a note and dictate ``note_text``."""

    def answer(engine: Engine, action: Listen | Wait) -> object:
        if isinstance(action, Wait):
            return Timeout()
        if action.free_form:
            return Heard(note_text)
        node = engine.node or ""
        if "note" in node or engine.mode is Mode.CONFIRM:
            return Heard("yes")
        return Heard("skip")

    return answer


NOISE = [
    "", "what's the weather like", "um", "hmm well", "asdf qwerty", "not not okay", "ça va 😊",
    "yes no maybe", "I don't know, maybe", "the cat is on the roof", "12345", "!!!", "okay?",
    "no, I'm not fine", "la " * 300, "\u200b", "purple elephant", "YES", "Okay.",
]


def random_policy(rng: random.Random, stop_rate: float = 0.01) -> Policy:
    """Mostly a phrase the node expects, sometimes silence, noise or a command.

    Commands that end the session (stop, the safe word) are drawn rarely so
    most sessions run their whole course.
    """
    enders = command_phrases("stop")
    loops = command_phrases("back") | command_phrases("repeat") | command_phrases("pause")

    def answer(engine: Engine, action: Listen | Wait) -> object:
        if isinstance(action, Wait):
            roll = rng.random()
            if roll < 0.5:
                return Timeout()
            if roll < 0.9 or not action.phrases:
                return Heard("continue")
            return Heard(rng.choice(action.phrases))
        if action.free_form:
            return Heard(rng.choice(["more blankets next time", "call tomorrow", "", "tea", "um"]))
        roll = rng.random()
        if roll < stop_rate:
            return Heard(rng.choice(sorted(enders | {engine.ctx.safe_word})))
        if roll < 0.08:
            return Silence()
        if roll < 0.16:
            return Heard(rng.choice(NOISE))
        safe_word = normalize(engine.ctx.safe_word)
        phrases = [p for p in action.phrases if normalize(p) not in enders | loops and normalize(p) != safe_word]
        if roll < 0.18:  # now and then a loop command (back, repeat, pause); an ender only at stop_rate
            phrases = [p for p in action.phrases if normalize(p) not in enders and normalize(p) != safe_word]
        text = rng.choice(phrases) if phrases else "yes"
        if rng.random() < 0.1:
            text = rng.choice(["um ", "well ", "", "so "]) + text + rng.choice(["", ".", "!", " I think"])
        return Heard(text)

    return answer


def make_engine(flow: str, seed: int, **context) -> Engine:
    return Engine(bundle(), flow, SessionContext(**context), seed=seed)


# --------------------------------------------------------------------------
# The real program in a child process
# --------------------------------------------------------------------------


def default_signals(then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` that gives the child the default handling of SIGINT
    and SIGHUP, then runs ``then``.

    A child inherits ignored signals: under ``nohup`` SIGHUP is ignored, and a
    command put in the background by a shell without job control ignores
    SIGINT. The program rightly keeps those (a hang-up under nohup is not a
    reason to stop), so a test that sends them must not depend on how the
    test run itself was started.
    """
    def reset() -> None:
        for sig in (signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        if then is not None:
            then()
    return reset


class CliCheckin:
    """``run.py --text ...`` answered turn by turn through its event stream."""

    def __init__(self, workdir: Path, argv: list[str], env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None):
        self.preexec_fn = preexec_fn
        self.workdir = workdir
        self.fifo = workdir / "events.fifo"
        if not self.fifo.exists():
            os.mkfifo(self.fifo, 0o600)
        self.argv = [sys.executable, str(ROOT / "run.py"), "--text", "--events", str(self.fifo), *argv]
        self.env = {**os.environ, **(env or {})}
        self.events: list[dict] = []

    def run(self, answer: Callable[[dict], str], timeout: float = 90.0) -> subprocess.CompletedProcess:
        """Answer every listen/pause event with ``answer(event)``; returns the finished process."""
        proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env, cwd=self.workdir, text=True,
                                preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + timeout
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        buffer = b""
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    if proc.poll() is not None:
                        break
                    time.sleep(0.01)
                    continue
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = json.loads(line)
                    self.events.append(event)
                    if event.get("event") in ("listen", "pause") and proc.poll() is None:
                        try:
                            proc.stdin.write(answer(event) + "\n")
                            proc.stdin.flush()
                        except BrokenPipeError:
                            pass
            else:
                proc.kill()
                raise AssertionError("the check-in did not finish in time")
        finally:
            os.close(fd)
        out, err = proc.communicate(timeout=30)
        return subprocess.CompletedProcess(self.argv, proc.returncode, out, err)


def note_keeping_answers(workdir: Path, flow: str, seed: int, note: str,
                         env: dict[str, str] | None = None) -> list[str]:
    """The typed answers that keep one note, ``note``, in ``flow`` with ``seed``:
    recorded once by answering the real program turn by turn (yes at a note
    question, the note when dictating, skip elsewhere), to be replayed later."""
    workdir.mkdir()
    answers: list[str] = []

    def answer(event: dict) -> str:
        if event["event"] == "pause":
            text = ""
        elif event.get("free_form"):
            text = note
        else:
            text = "yes" if "note" in (event.get("node") or "") else "skip"
        answers.append(text)
        return text

    done = CliCheckin(workdir, ["--flow", flow, "--seed", str(seed), "--notes-dir", str(workdir / "notes")],
                      env).run(answer)
    assert done.returncode == 0, done.stderr
    return answers
