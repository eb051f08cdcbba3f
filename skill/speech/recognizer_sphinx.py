"""PocketSphinx backend: the embedded recognizer that needs no download.

Per turn a JSGF grammar of the node's phrases (``bestpath=False`` so the
last word is kept), or the wheel's default language model for dictation.
Utterance boundaries come from ``skill.speech.endpoint`` so both backends end
turns alike. Nothing is written to disk: grammars go in as strings.

Out-of-grammar speech: a closed grammar always answers with *some* phrase
("the weather is nice today" -> "yes"), so a reject step is needed. What
was measured and why this one was chosen: docs/rejection.md.
"""

from __future__ import annotations

import logging
import math
import random
import re
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from skill.speech.endpoint import Endpointer, EndpointConfig, FRAME
from skill.speech.recognizer import RecognizerError, Result, Word, known_phrases, spellings

if TYPE_CHECKING:
    from pocketsphinx import Decoder, Segment

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# How out-of-grammar speech is rejected (measured; see docs/rejection.md).
REJECT_RATIO_MIN = -15.0
# Phrases whose false acceptance is harmless get a lenient floor: a false
# "continue", "repeat" or "help" only resumes or repeats. In-grammar
# "continue" (en-us+f3) measured -20.1.
PRIORITY_RATIO_MIN = -21.0
PRIORITY_PHRASES = ("continue", "go on", "i am back", "we are back", "i'm back", "we're back",
                    "repeat", "repeat that", "say that again", "help", "what can i say")
# Stop phrases and the safe word (the shell passes them, see backends.py):
# a missed stop is a safety failure while a false one ends the check-in
# gently, so they get a lenient floor, but not none. Measured with
# bench/rejection.py on two samples of the benchmark corpus (927 utterances,
# 74 of them stop phrases or the safe word; tuning log 7), safety misroutes
# (missed stops, plus 2 negated answers heard as yes that no floor changes) /
# other speech taken as a stop:
#   never rejected 20 / 53 (sentences at ratio -41 ended the session)
#   -25: 21 / 26    -23: 22 / 23    -21: 25 / 19    -19: 27 / 16    -15: 35 / 8
# -25 keeps the stops that "never rejected" keeps, less one, for half the
# false stops.
STOP_RATIO_MIN = -25.0
# Grammar searches kept ready, least recently used dropped first. Each costs
# about 9 MB once it has decoded speech (measured over 200 benchmark
# utterances at 20 nodes: peak RSS 214 MB keeping 8, 176 MB keeping 4);
# rebuilding one takes about 8 ms at the start of a turn, before listening.
MAX_GRAMMARS = 4
# Extra PocketSphinx settings for every decoder (tuning: bench --option decoder_options=...).
DECODER_OPTIONS: dict = {}

_WORD_RE = re.compile(r"[a-z']+")


def normalize_phrase(phrase: str) -> str:
    """Lowercase, straighten apostrophes, keep only words (what JSGF accepts)."""
    text = phrase.lower().replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(_WORD_RE.findall(text))


def jsgf_for(phrases: Sequence[str]) -> str:
    """A one-rule JSGF grammar accepting exactly one of ``phrases``.

    Written as a word trie: phrases that start alike ("i am okay", "i am
    fine") share those words, so the decoder tracks "i am" once instead of
    once per phrase. The weights keep every phrase equally likely, as in a
    flat list. Measured on 120 benchmark utterances: the same answers for
    117 (the 3 others out-of-scope speech), 26% less CPU in that decoder.
    """
    if not any(p.split() for p in phrases):
        raise ValueError("a grammar needs at least one phrase")
    end = ""
    root: dict = {}
    for phrase in phrases:
        node = root
        for word in phrase.split():
            node = node.setdefault(word, {})
        node[end] = {}

    def count(node: dict) -> int:
        return sum(1 if key == end else count(child) for key, child in node.items())

    def expand(node: dict) -> str:
        alts = []
        for key, child in node.items():
            if key == end:
                alts.append((1, "<NULL>"))
            elif list(child) == [end]:
                alts.append((1, key))
            else:
                alts.append((count(child), f"{key} {expand(child)}"))
        if len(alts) == 1:
            return f"( {alts[0][1]} )"
        return "( " + " | ".join(f"/{n}/ {body}" for n, body in alts) + " )"

    return f"#JSGF V1.0;\ngrammar turn;\npublic <turn> = {expand(root)};\n"


def _comfort_noise(seconds: float = 1.0, level: float = 40.0, seed: int = 7) -> array:
    """A fixed, very low noise floor (about -58 dBFS).

    Why: PocketSphinx's live feature normalisation misbehaves on digital
    silence (a virtual microphone or padded test audio delivers exact
    zeros): measured, "no" became "" and "i am okay" became "yes". Real
    microphones never deliver zeros, and this floor is far below them.
    """
    rnd = random.Random(seed)
    return array("h", (int(rnd.gauss(0.0, level)) for _ in range(int(seconds * SAMPLE_RATE))))


def _log_score(value: float) -> float:
    """PocketSphinx's Python API hands scores out as 1.0001**score; undo that."""
    return math.log(max(value, 1e-300)) / _LOG_BASE


_LOG_BASE = math.log(1.0001)


def acoustic_score(segs: Sequence[Segment]) -> tuple[float, int]:
    """(acoustic score, frames) of a decoder's best path: the score in
    PocketSphinx's log-1.0001 units, frames of 10 ms up to its last segment;
    (-inf, 0) for no path."""
    if not segs:
        return -math.inf, 0
    return sum(_log_score(seg.ascore) for seg in segs), max(seg.end_frame for seg in segs) + 1


class Listener(Protocol):
    """A decoder fed beside the recognizer's own (``SphinxRecognizer.companions``);
    a ``pocketsphinx.Decoder`` is one."""

    def start_utt(self) -> None: ...

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> int: ...

    def end_utt(self) -> None: ...


@dataclass(frozen=True)
class Scores:
    """What the decoders made of one utterance, before the reject check.

    Scores are acoustic, in PocketSphinx's log-1.0001 units (see
    :func:`acoustic_score`); ``phones`` is None when the phone loop did not
    run (free-form turn, or ``reject="none"``).
    """

    text: str                 # the best path ("" = nothing)
    confidence: float         # mean word posterior of that path
    words: tuple[Word, ...]
    frames: int               # 10 ms frames of the best path
    grammar: float            # acoustic score of the best path
    phones: float | None      # acoustic score of the phone loop

    @property
    def ratio(self) -> float:
        """(best path - phone loop) per frame, as the reject check uses it:
        near 0 = the phrase fits; -inf when either is missing."""
        if self.phones is None or not self.frames or math.isinf(self.grammar) or math.isinf(self.phones):
            return -math.inf
        return (self.grammar - self.phones) / self.frames


@dataclass
class _Turn:
    phrases: tuple[str, ...] | None
    search: str | None  # grammar search name, None = free-form
    in_utt: bool = False
    utt_start: float = 0.0


class SphinxRecognizer:
    """Recognizer protocol over pocketsphinx 5 (see skill.speech.recognizer).

    ``reject``: "phone-ratio" (default, see docs/rejection.md) or "none" (closed
    grammar only: for measurements).

    Hooks for measurements (``bench/rejection.py``; the product uses none):
    ``companions``, decoders fed exactly the audio the recognizer's own get
    (after the endpointer and the comfort-noise floor), started and ended
    with each utterance; :meth:`new_decoder` makes one with this
    recognizer's model and options; ``last_scores`` holds the
    :class:`Scores` of the last utterance, before the reject check.
    """

    name = "pocketsphinx"
    sample_rate = SAMPLE_RATE

    def __init__(self, endpoint: EndpointConfig | None = None, reject: str = "phone-ratio",
                 ratio_min: float = REJECT_RATIO_MIN,
                 priority_phrases: Sequence[str] = PRIORITY_PHRASES,
                 stop_ratio_min: float = STOP_RATIO_MIN, max_grammars: int = MAX_GRAMMARS,
                 decoder_options: dict | None = None, companions: Sequence[Listener] = ()):
        if reject not in ("phone-ratio", "none"):
            raise RecognizerError(f"unknown reject method {reject!r}: use phone-ratio or none")
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError as exc:  # pragma: no cover - depends on install
            raise RecognizerError("pocketsphinx is not installed: pip install pocketsphinx==5.1.1") from exc
        self._Decoder = Decoder
        self._options = dict(DECODER_OPTIONS if decoder_options is None else decoder_options)
        self._model_dir = Path(get_model_path()) / "en-us"
        self._main = self.new_decoder()
        self._phones: Decoder | None = None  # phone-loop decoder for the reject check
        self._free_ready = False
        self.reject = reject
        self.ratio_min = ratio_min
        self.stop_ratio_min = stop_ratio_min
        # phrases judged with PRIORITY_RATIO_MIN
        self.priority_phrases = spellings(priority_phrases, normalize_phrase)
        # Stop phrases and the safe word, judged with STOP_RATIO_MIN; the shell
        # fills this in every spelling the grammar may use (see backends.py).
        self.stop_phrases: set[str] = set()
        self.max_grammars = max(1, max_grammars)
        self._endpointer = Endpointer(endpoint, SAMPLE_RATE)
        self._searches: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self._made = 0
        self._warned: set[str] = set()
        self._noise = np.asarray(_comfort_noise(), dtype=np.int32)
        self._noise_pos = 0
        self._turn = _Turn(None, None)
        self._active: list[Decoder] = []
        self.companions: list[Listener] = list(companions)
        self.last_scores: Scores | None = None
        if reject == "phone-ratio":
            # built now (about 0.3 s) so the first answer is not kept waiting;
            # the language model for dictation (0.7 s, 70 MB) loads on first use
            self._ensure_phones()

    def new_decoder(self) -> Decoder:
        """A fresh decoder with this recognizer's model and options (no search yet)."""
        try:
            return self._Decoder(bestpath=False, lm=None, loglevel="FATAL", **self._options)
        except Exception as exc:  # pocketsphinx raises RuntimeError/ValueError
            raise RecognizerError(f"PocketSphinx could not load its model: {exc}") from exc

    # -- vocabulary -------------------------------------------------------
    def known_words(self) -> set[str] | None:
        """None: the 130k-word dictionary is not worth listing; use ``knows``."""
        return None

    def knows(self, word: str) -> bool:
        return self._main.lookup_word(word) is not None

    def usable_phrases(self, phrases: Sequence[str]) -> tuple[str, ...]:
        """Normalized phrases whose words are all in the dictionary.

        Phrases with unknown words are skipped (warning once per word), so
        a dialogue typo never crashes a turn.
        """
        return known_phrases(phrases, normalize_phrase, self.knows, self._warned, "PocketSphinx")

    @property
    def grammar(self) -> tuple[str, ...] | None:
        """This turn's grammar phrases as the decoder has them (None: free-form)."""
        return self._turn.phrases

    # -- turn -------------------------------------------------------------
    def start(self, phrases: Sequence[str] | None) -> None:
        self._abort_utt()
        self._endpointer.reset()
        usable = self.usable_phrases(phrases) if phrases is not None else ()
        if phrases is not None and not usable:
            log.warning("no usable grammar phrases for this turn; listening free-form")
        if not usable:
            self._turn = _Turn(None, None)
            self._ensure_free()
            return
        self._turn = _Turn(usable, self._search_for(usable))

    def _search_for(self, phrases: tuple[str, ...]) -> str:
        """The decoder search for this grammar, least recently used ones dropped."""
        key = tuple(sorted(phrases))
        name = self._searches.get(key)
        if name is not None:
            self._searches.move_to_end(key)
            return name
        while len(self._searches) >= self.max_grammars:  # bound memory (MAX_GRAMMARS)
            _, old_name = self._searches.popitem(last=False)
            self._main.remove_search(old_name)
        self._made += 1
        name = f"turn{self._made}"
        try:
            self._main.add_jsgf_string(name, jsgf_for(key))
        except Exception as exc:
            raise RecognizerError(f"PocketSphinx could not build a grammar for this turn: {exc}") from exc
        self._searches[key] = name
        return name

    def _ensure_free(self) -> None:
        if not self._free_ready:
            try:
                self._main.add_lm_file("_free", str(self._model_dir / "en-us.lm.bin"))
            except Exception as exc:
                raise RecognizerError(f"PocketSphinx could not load its language model: {exc}") from exc
            self._free_ready = True

    def _ensure_phones(self) -> None:
        if self._phones is None:
            phones = self.new_decoder()
            try:
                phones.add_allphone_file("_phones", str(self._model_dir / "en-us-phone.lm.bin"))
                phones.activate_search("_phones")
            except Exception as exc:
                raise RecognizerError(f"PocketSphinx could not load its phone model: {exc}") from exc
            self._phones = phones

    def feed(self, pcm: bytes) -> Result | None:
        update = self._endpointer.feed(pcm)
        if update.started:
            self._begin_utt()
        if update.audio and self._turn.in_utt:
            self._process(update.audio)
        if update.ended and self._turn.in_utt:
            return self._finish(update.speech_end)
        return None

    @property
    def endpoint(self) -> EndpointConfig:
        """The end-of-turn settings this recognizer's endpointer uses."""
        return self._endpointer.config

    @property
    def in_speech(self) -> bool:
        return self._turn.in_utt

    def partial(self) -> str:
        if not self._turn.in_utt:
            return ""
        hyp = self._main.hyp()
        return hyp.hypstr if hyp is not None else ""

    def flush(self) -> Result | None:
        if not self._turn.in_utt:
            return None
        return self._finish(self._endpointer.elapsed)

    # -- internals --------------------------------------------------------
    def _begin_utt(self) -> None:
        search = self._turn.search
        self._main.activate_search(search or "_free")
        self._active = [self._main]
        if search is not None and self.reject == "phone-ratio":
            self._active.append(self._phones)
        for decoder in self._listening():
            decoder.start_utt()
        self._turn.in_utt = True
        self._turn.utt_start = self._endpointer.utterance_start

    def _process(self, audio: bytes) -> None:
        data = self._with_floor(audio)
        for decoder in self._listening():
            decoder.process_raw(data, False, False)

    def _with_floor(self, audio: bytes) -> bytes:
        """``audio`` plus the comfort-noise floor (numpy: a Python loop over
        the samples cost more than the phone-loop decoder's share of a turn)."""
        samples = np.frombuffer(audio, dtype="<i2").astype(np.int32)
        n = len(self._noise)
        idx = (self._noise_pos + np.arange(len(samples))) % n
        self._noise_pos = (self._noise_pos + len(samples)) % n
        mixed = np.clip(samples + self._noise[idx], -32768, 32767)
        return mixed.astype("<i2").tobytes()

    def _abort_utt(self) -> None:
        if self._turn.in_utt:
            for decoder in self._listening():
                decoder.end_utt()
            self._turn.in_utt = False

    def _listening(self) -> list[Listener]:
        return [*self._active, *self.companions]

    def _finish(self, speech_end: float | None) -> Result:
        for decoder in self._listening():
            decoder.end_utt()
        self._turn.in_utt = False
        scores = self.last_scores = self._scores()
        text, confidence = scores.text, scores.confidence
        if self._turn.search is not None and text and scores.phones is not None:
            ratio = scores.ratio
            log.debug("reject check: ratio %.1f", ratio)
            if ratio < self.floor_for(text):
                log.info("utterance rejected as outside the grammar (ratio %.1f)", ratio)
                return Result("", confidence, (), speech_end)
        log.info("heard %d words", len(text.split()) if text else 0)
        return Result(text, confidence, scores.words, speech_end)

    def _scores(self) -> Scores:
        hyp = self._main.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        segs = list(self._main.seg() or ())
        words = self._words(segs)
        grammar, frames = acoustic_score(segs)
        phones = None
        if self._phones is not None and self._phones in self._active:
            phones, _ = acoustic_score(list(self._phones.seg() or ()))
        confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
        return Scores(text, confidence, tuple(words), frames, grammar, phones)

    def floor_for(self, text: str) -> float:
        """The acoustic-ratio floor below which ``text`` counts as out of grammar."""
        if text in self.stop_phrases:
            return min(self.stop_ratio_min, self.ratio_min)
        if text in self.priority_phrases:
            return min(PRIORITY_RATIO_MIN, self.ratio_min)
        return self.ratio_min

    def _words(self, segs: Sequence[Segment]) -> list[Word]:
        out: list[Word] = []
        for seg in segs:
            word = seg.word
            if word.startswith("<") or word.startswith("[") or word == "(NULL)":
                continue
            word = re.sub(r"\(\d+\)$", "", word)  # alternate pronunciations: "the(2)"
            out.append(Word(word, float(seg.prob), self._turn.utt_start + seg.start_frame * FRAME,
                            self._turn.utt_start + (seg.end_frame + 1) * FRAME))
        return out
