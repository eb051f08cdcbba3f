"""The recognizer seam: one small interface, several real backends.

A backend is fed 16-bit mono PCM in blocks of 0.1-0.2 s and decides for
itself where an utterance ends (Vosk from its model's endpoint rules,
PocketSphinx from its voice-activity endpointer). Per turn the shell calls
``start`` with the node's phrases as a closed grammar, or ``None`` for
free-form dictation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence


@dataclass(frozen=True)
class Word:
    """One recognized word with its confidence (0..1) and timing in seconds
    from the start of the turn."""

    text: str
    confidence: float
    start: float
    end: float


@dataclass(frozen=True)
class Result:
    """A final result for one utterance.

    ``text`` is empty when speech was heard but rejected as outside the
    grammar (or unintelligible); the shell then reports it to the engine as
    unclear, never as a guess. ``speech_end`` is the time (seconds from the
    start of the turn) at which the speech itself ended, so latency can be
    split into end-of-speech detection and processing.
    """

    text: str
    confidence: float
    words: tuple[Word, ...] = field(default_factory=tuple)
    speech_end: float | None = None


class Recognizer(Protocol):
    """What every backend provides."""

    name: str
    sample_rate: int

    def start(self, phrases: Sequence[str] | None) -> None:
        """Begin a new turn. ``phrases``: closed grammar; ``None``: free-form."""

    def feed(self, pcm: bytes) -> Result | None:
        """Feed one block of int16 mono PCM at ``sample_rate``.

        Returns a Result when an utterance has ended, else None.
        """

    def partial(self) -> str:
        """The current partial transcript (may be empty)."""

    @property
    def in_speech(self) -> bool:
        """True while an utterance is under way (begun, not yet ended), even before a partial shows."""

    def flush(self) -> Result | None:
        """End the turn now (e.g. the timeout ran out) and return any final result."""

    def known_words(self) -> set[str] | None:
        """The model's vocabulary, or None when it cannot be listed."""


class RecognizerSource(Protocol):
    """Where the voice loop gets its recognizer: loading may take seconds, so it can start early."""

    def begin(self) -> None:
        """Start loading in the background, if not started yet (returns at once)."""

    def ready(self) -> bool:
        """True once :meth:`get` will not wait (loaded, or failed)."""

    def get(self) -> Recognizer:
        """The recognizer, waiting for the load; raises what the load raised."""


class RecognizerError(Exception):
    """A backend could not be created or failed; the message is one clear line."""


def known_phrases(phrases: Sequence[str], normalize: Callable[[str], str],
                  knows: Callable[[str], bool], warned: set[str], backend: str) -> tuple[str, ...]:
    """Normalized phrases whose words the model knows, without repeats.

    Phrases with unknown words are skipped (one warning per word), because a
    grammar engine would otherwise fail or silently drop the unknown word,
    turning "not okay" into "okay". ``warned`` remembers words already named.
    """
    kept: list[str] = []
    for phrase in phrases:
        norm = normalize(phrase)
        if not norm:
            continue
        missing = [w for w in norm.split() if not knows(w)]
        for word in missing:
            if word not in warned:
                warned.add(word)
                logging.getLogger(__name__).warning(
                    "%s does not know the word %r; phrases using it are skipped", backend, word)
        if not missing and norm not in kept:
            kept.append(norm)
    return tuple(kept)


def spellings(phrases: Sequence[str], normalize_phrase: Callable[[str], str]) -> set[str]:
    """Every form in which a recognizer may hand back one of ``phrases``.

    The engine writes grammars with the matcher's normalizer (contractions
    expanded: "I'm done" -> "i am done"), while a phrase set by hand keeps
    them; a set of stop phrases must hold both, or "i am done" would not be
    recognised as a stop phrase.
    """
    from skill.dialogue.normalize import normalize
    out = {normalize_phrase(form) for p in phrases for form in (p, normalize(p))}
    return out - {""}
