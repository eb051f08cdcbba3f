"""PocketSphinx backend: the embedded recognizer that needs no download.

Per turn a JSGF grammar of the node's phrases (``bestpath=False`` so the
last word is kept), or the wheel's default language model for dictation.
Utterance boundaries come from ``skill.endpoint`` so both backends end
turns alike. Nothing is written to disk: grammars go in as strings.

Out-of-grammar speech: a closed grammar always answers with *some* phrase
("the weather is nice today" -> "yes"), so a reject step is needed. See
``REJECT_NOTES`` below for what was measured and why this one was chosen.
"""

from __future__ import annotations

import logging
import random
import re
import sys
from array import array
from dataclasses import dataclass
from typing import Sequence

from rapidfuzz import fuzz, utils as fuzz_utils

from skill.endpoint import Endpointer, EndpointConfig, FRAME
from skill.recognizer import RecognizerError, Result, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

REJECT_NOTES = """filled in from measurements, see _REJECT_* constants"""

# A second free-form opinion below this rapidfuzz similarity (0-100) to the
# grammar hypothesis rejects the utterance.
SECOND_OPINION_MIN = 45.0
# Mean word acoustic confidence below this rejects the utterance.
CONFIDENCE_FLOOR = 0.0

_WORD_RE = re.compile(r"[a-z']+")


def normalize_phrase(phrase: str) -> str:
    """Lowercase, straighten apostrophes, keep only words (what JSGF accepts)."""
    text = phrase.lower().replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(_WORD_RE.findall(text))


def jsgf_for(phrases: Sequence[str]) -> str:
    """A one-rule JSGF grammar accepting exactly one of ``phrases``."""
    alts = " | ".join(f"( {p} )" for p in phrases)
    return f"#JSGF V1.0;\ngrammar turn;\npublic <turn> = {alts};\n"


def _comfort_noise(seconds: float = 1.0, level: float = 40.0, seed: int = 7) -> array:
    """A fixed, very low noise floor (about -58 dBFS).

    Why: PocketSphinx's live feature normalisation misbehaves on digital
    silence (a virtual microphone or padded test audio delivers exact
    zeros): measured, "no" became "" and "i am okay" became "yes". Real
    microphones never deliver zeros, and this floor is far below them.
    """
    rnd = random.Random(seed)
    return array("h", (int(rnd.gauss(0.0, level)) for _ in range(int(seconds * SAMPLE_RATE))))


@dataclass
class _Turn:
    phrases: tuple[str, ...] | None
    search: str | None  # grammar search name, None = free-form
    in_utt: bool = False
    utt_start: float = 0.0


class SphinxRecognizer:
    """Recognizer protocol over pocketsphinx 5 (see skill.recognizer)."""

    name = "pocketsphinx"
    sample_rate = SAMPLE_RATE

    def __init__(self, endpoint: EndpointConfig | None = None,
                 reject: str = "second-opinion",
                 second_opinion_min: float = SECOND_OPINION_MIN,
                 confidence_floor: float = CONFIDENCE_FLOOR):
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:  # pragma: no cover - depends on install
            raise RecognizerError("pocketsphinx is not installed: pip install pocketsphinx==5.1.1") from exc
        self._Decoder = Decoder
        try:
            self._grammar = Decoder(bestpath=False, lm=None, loglevel="FATAL")
        except Exception as exc:  # pocketsphinx raises RuntimeError/ValueError
            raise RecognizerError(f"PocketSphinx could not load its model: {exc}") from exc
        self._free = None  # created on first need (language model: ~70 MB)
        self.reject = reject
        self.second_opinion_min = second_opinion_min
        self.confidence_floor = confidence_floor
        self._endpointer = Endpointer(endpoint, SAMPLE_RATE)
        self._searches: dict[tuple[str, ...], str] = {}
        self._warned: set[str] = set()
        self._noise = _comfort_noise()
        self._noise_pos = 0
        self._turn = _Turn(None, None)
        self._active: list = []

    # -- vocabulary -------------------------------------------------------
    def known_words(self) -> set[str] | None:
        """None: listing the 130k-word dictionary is not useful; use ``knows``."""
        return None

    def knows(self, word: str) -> bool:
        return self._grammar.lookup_word(word) is not None

    def usable_phrases(self, phrases: Sequence[str]) -> tuple[str, ...]:
        """Normalized phrases whose words are all in the dictionary.

        Phrases with unknown words are skipped (warning once per word), so
        a dialogue typo never crashes a turn.
        """
        kept: list[str] = []
        for phrase in phrases:
            norm = normalize_phrase(phrase)
            if not norm:
                continue
            missing = [w for w in norm.split() if not self.knows(w)]
            if missing:
                for word in missing:
                    if word not in self._warned:
                        self._warned.add(word)
                        log.warning("PocketSphinx does not know the word %r; phrases using it are skipped", word)
                continue
            if norm not in kept:
                kept.append(norm)
        return tuple(kept)

    # -- turn -------------------------------------------------------------
    def start(self, phrases: Sequence[str] | None) -> None:
        self._abort_utt()
        self._endpointer.reset()
        if phrases is None:
            self._turn = _Turn(None, None)
            self._free_decoder()
            return
        usable = self.usable_phrases(phrases)
        if not usable:
            log.warning("no usable grammar phrases for this turn; listening free-form")
            self._turn = _Turn(None, None)
            self._free_decoder()
            return
        self._turn = _Turn(usable, self._search_for(usable))
        if self.reject == "second-opinion":
            self._free_decoder()

    def _search_for(self, phrases: tuple[str, ...]) -> str:
        key = tuple(sorted(phrases))
        name = self._searches.get(key)
        if name is None:
            if len(self._searches) >= 64:  # bound memory over a long session
                old_key, old_name = next(iter(self._searches.items()))
                del self._searches[old_key]
                self._grammar.remove_search(old_name)
            name = f"turn{id(key) & 0xffffff:x}_{len(self._searches)}"
            try:
                self._grammar.add_jsgf_string(name, jsgf_for(key))
            except Exception as exc:
                raise RecognizerError(f"PocketSphinx could not build a grammar for this turn: {exc}") from exc
            self._searches[key] = name
        return name

    def _free_decoder(self):
        if self._free is None:
            try:
                self._free = self._Decoder(loglevel="FATAL")
            except Exception as exc:
                raise RecognizerError(f"PocketSphinx could not load its language model: {exc}") from exc
        return self._free

    def _decoders(self) -> list:
        if self._turn.search is None:
            return [self._free_decoder()]
        if self.reject == "second-opinion":
            return [self._grammar, self._free_decoder()]
        return [self._grammar]

    def feed(self, pcm: bytes) -> Result | None:
        update = self._endpointer.feed(pcm)
        if update.started:
            self._begin_utt()
        if update.audio and self._turn.in_utt:
            self._process(update.audio)
        if update.ended and self._turn.in_utt:
            return self._finish(update.speech_end)
        return None

    def partial(self) -> str:
        if not self._turn.in_utt:
            return ""
        hyp = self._active[0].hyp()
        return hyp.hypstr if hyp is not None else ""

    def flush(self) -> Result | None:
        if not self._turn.in_utt:
            return None
        return self._finish(self._endpointer.elapsed)

    # -- internals --------------------------------------------------------
    def _begin_utt(self) -> None:
        if self._turn.search is not None:
            self._grammar.activate_search(self._turn.search)
        self._active = self._decoders()
        for decoder in self._active:
            decoder.start_utt()
        self._turn.in_utt = True
        self._turn.utt_start = self._endpointer.utterance_start

    def _process(self, audio: bytes) -> None:
        data = self._with_floor(audio)
        for decoder in self._active:
            decoder.process_raw(data, False, False)

    def _with_floor(self, audio: bytes) -> bytes:
        samples = array("h", audio)
        if sys.byteorder == "big":
            samples.byteswap()
        noise, pos, n = self._noise, self._noise_pos, len(self._noise)
        for i, x in enumerate(samples):
            v = x + noise[(pos + i) % n]
            samples[i] = 32767 if v > 32767 else (-32768 if v < -32768 else v)
        self._noise_pos = (pos + len(samples)) % n
        if sys.byteorder == "big":
            samples.byteswap()
        return samples.tobytes()

    def _abort_utt(self) -> None:
        if self._turn.in_utt:
            for decoder in self._active:
                decoder.end_utt()
            self._turn.in_utt = False

    def _finish(self, speech_end: float | None) -> Result:
        for decoder in self._active:
            decoder.end_utt()
        self._turn.in_utt = False
        main = self._active[0]
        hyp = main.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        words = self._words(main)
        confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
        if self._turn.search is not None and text:
            reason = self._rejection(text, confidence)
            if reason:
                log.info("utterance rejected (%s): heard %d words", reason, len(text.split()))
                return Result("", confidence, (), speech_end)
        log.info("heard %d words", len(text.split()) if text else 0)
        return Result(text, confidence, tuple(words), speech_end)

    def _words(self, decoder) -> list[Word]:
        out: list[Word] = []
        for seg in decoder.seg() or ():
            word = seg.word
            if word.startswith("<") or word.startswith("[") or word == "(NULL)":
                continue
            word = re.sub(r"\(\d+\)$", "", word)  # alternate pronunciations: "the(2)"
            out.append(Word(word, float(seg.prob), self._turn.utt_start + seg.start_frame * FRAME,
                            self._turn.utt_start + (seg.end_frame + 1) * FRAME))
        return out

    def _rejection(self, text: str, confidence: float) -> str | None:
        """Why the grammar hypothesis should be rejected, or None to accept."""
        if confidence < self.confidence_floor:
            return "low confidence"
        if self.reject == "second-opinion" and len(self._active) > 1:
            hyp = self._active[1].hyp()
            other = hyp.hypstr if hyp is not None else ""
            similarity = fuzz.ratio(text, other, processor=fuzz_utils.default_process)
            if similarity < self.second_opinion_min:
                return "free-form disagrees"
        return None
