"""The contract between the pure dialogue engine and the world around it.

The engine takes *events* (what happened: something was heard, nobody spoke,
a pause ran out, a note was or was not kept) and returns *actions* (what to do
next: say this, listen for these phrases, wait, keep a note, end). It never
touches a microphone, a speaker, a clock or a file: the text mode, the speech
loop and the tests are all thin shells that turn actions into I/O and I/O
back into events. Keeping this file small and stable is what lets every shell
share one engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from skill.settings import SAFE_WORD, SETTING

# --------------------------------------------------------------------------
# Events: shell -> engine
# --------------------------------------------------------------------------


# Confidence bands for a Heard event (0..1), shared by the recognizers (which
# set them) and the engine (which acts on them). Text mode sends 1.0.
#   >= CONFIDENCE_ACCEPT: take the answer as heard;
#   CONFIDENCE_CONFIRM .. CONFIDENCE_ACCEPT: confirm the best guess in a few
#     words with a yes/no ("Just to be sure, are you okay?"), never for stop;
#   below CONFIDENCE_CONFIRM: ask again, restating the question.
# A recognizer that doubts its own transcript (for example a negation it may
# have dropped) reports a confidence inside the middle band.
CONFIDENCE_ACCEPT = 0.75
CONFIDENCE_CONFIRM = 0.5


@dataclass(frozen=True)
class Heard:
    """A final transcript of one utterance, with the recognizer's confidence (0..1).

    Text mode sends confidence 1.0. The engine applies its own confidence
    floor and asks a short clarifying question below it rather than guess.
    """

    text: str
    confidence: float = 1.0


@dataclass(frozen=True)
class Silence:
    """Nobody answered within the Listen action's timeout.

    The shell starts that timer when the assistant *stops speaking* (and
    restarts it while someone is mid-utterance), never when the prompt started.
    """


@dataclass(frozen=True)
class Timeout:
    """A Wait action's time ran out without anyone asking to continue."""


@dataclass(frozen=True)
class NoteSaved:
    """The shell kept the note from the last SaveNote action."""

    note_id: str = ""


@dataclass(frozen=True)
class NoteFailed:
    """The shell could not keep the note (disk full, read-only, ...).

    The engine says so kindly and carries on; nothing earlier is lost.
    """

    reason: str = ""


Event = Union[Heard, Silence, Timeout, NoteSaved, NoteFailed]

# --------------------------------------------------------------------------
# Actions: engine -> shell
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class EnterNode:
    """Informational: the engine moved to a node (for the event log and tests)."""

    node: str
    person: str | None = None


@dataclass(frozen=True)
class Say:
    """Speak (or print) this text.

    ``purpose`` is one of: prompt, reprompt, reply, help, clarify, readback,
    goodbye. Shells may use it, e.g. to interrupt only prompts.
    """

    text: str
    node: str = ""
    purpose: str = "prompt"


@dataclass(frozen=True)
class Listen:
    """Listen for one utterance.

    ``phrases`` is the closed grammar for this turn: the node's expected
    phrases plus every global command, already normalized. A recognizer that
    supports grammars restricts itself to these (keeping a rejection path for
    out-of-grammar speech). ``free_form`` is True for dictation (notes), where
    no grammar applies. ``timeout`` is the no-input time in seconds, counted
    from when the assistant stops speaking.
    """

    node: str
    phrases: tuple[str, ...] = ()
    free_form: bool = False
    timeout: float = 12.0


@dataclass(frozen=True)
class Wait:
    """Stay quiet for up to ``seconds``, still listening for ``phrases``.

    Ends with a Timeout event, or earlier with a Heard event (e.g. "I'm back",
    "continue", or a stop word).
    """

    seconds: float
    node: str = ""
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SaveNote:
    """Keep this note text (only ever sent after the person said yes to it)."""

    text: str
    flow: str = ""


@dataclass(frozen=True)
class DeleteNote:
    """Forget the note kept most recently in this session ("forget that")."""


@dataclass(frozen=True)
class Adjust:
    """Change delivery: ``what`` is "rate" or "volume"; ``step`` is +1 or -1."""

    what: str
    step: int


@dataclass(frozen=True)
class End:
    """The session is over. ``reason`` is one of: completed, stopped,
    safe_word, not_ready, no_response, error."""

    reason: str


Action = Union[EnterNode, Say, Listen, Wait, SaveNote, DeleteNote, Adjust, End]


@dataclass
class SessionContext:
    """Everything the engine may know about the session, given at start.

    ``names`` is empty for a solo session; one name is also solo-with-a-name;
    two or more names make per-person turns ask each person by name.
    ``last_notes`` are the texts of the previous session's notes (the shell
    loads them; only read aloud after the person says yes).
    ``last_notes_ours`` is False when those notes are not from exactly the
    people present (the flow then names ``last_notes_from`` and asks first);
    ``last_notes_when`` says when they were kept ("on Tuesday"; "" unknown).
    """

    names: list[str] = field(default_factory=list)
    setting: str = SETTING
    safe_word: str = SAFE_WORD
    notes_enabled: bool = True
    last_notes: list[str] = field(default_factory=list)
    last_notes_ours: bool = True
    last_notes_from: str = ""
    last_notes_when: str = ""
    support_line: str = ""  # said when someone may not be safe (config.yaml: support_line)
