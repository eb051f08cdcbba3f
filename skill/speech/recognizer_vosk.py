"""Vosk backend: a full Kaldi model from ``models/`` (or the Korean model in tests).

Per turn a grammar of the node's phrases plus ``[unk]`` where the model
knows it, or free-form for dictation. vosk 0.3.45 has no endpointer API,
so utterance boundaries come from ``skill.speech.endpoint`` (same as PocketSphinx)
and each utterance gets a fresh KaldiRecognizer (cheap: about 1 ms), which
also keeps word times relative to the turn.

Rejection: Vosk's grammar is a word loop and snaps out-of-grammar speech
onto listed words (vosk-api issue 1339). A result is rejected when it is
only ``[unk]``, when it is not exactly one of the turn's phrases (a loop of
several phrases is how unrelated speech comes out when the model has no
``[unk]``, as with the Korean model), or when the mean word confidence is
below the floor.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from skill.speech.endpoint import Endpointer, EndpointConfig
from skill.speech.models import model_words
from skill.speech.recognizer import RecognizerError, Result, Word, known_phrases

if TYPE_CHECKING:
    from vosk import KaldiRecognizer, Model

log = logging.getLogger(__name__)

UNK = "[unk]"
# Mean word confidence below this rejects. Measured with the Korean model on
# espeak-ng: in-grammar answers 0.41-1.0 (espeak's "ko" voice saying 그만 is
# the weak one: 0.41-0.78 over repeats, Kaldi's dither makes runs differ);
# single-phrase snaps of unrelated speech came out at 1.0, so the floor only
# catches mumbles; [unk] and the exact-phrase rule do the real rejecting.
CONFIDENCE_FLOOR = 0.35

_models: dict[Path, Model] = {}
_models_lock = threading.Lock()


def load_model(path: Path) -> Model:
    """A vosk.Model for ``path``, loaded once per process (loading takes seconds)."""
    key = Path(path).resolve()
    with _models_lock:
        model = _models.get(key)
        if model is None:
            import vosk
            vosk.SetLogLevel(-1)  # Kaldi logs to stderr; we filter vocabulary ourselves
            try:
                model = vosk.Model(str(key))
            except Exception as exc:
                raise RecognizerError(f"Vosk could not load the model in {key}: it looks corrupt; "
                                      "download it again or see models/README.md") from exc
            _models[key] = model
        return model


def normalize_phrase(phrase: str) -> str:
    """Lowercase and collapse spaces; keep letters of every script and apostrophes."""
    text = phrase.lower().replace("\u2019", "'").replace("\u2018", "'")
    kept = "".join(ch if (ch.isalnum() or ch in "' ") else " " for ch in text)
    return " ".join(kept.split())


class VoskRecognizer:
    """Recognizer protocol over vosk 0.3.45 (see skill.speech.recognizer)."""

    name = "vosk"

    def __init__(self, model_path: str | Path, sample_rate: int = 16000,
                 endpoint: EndpointConfig | None = None,
                 confidence_floor: float = CONFIDENCE_FLOOR):
        import vosk  # noqa: F401  (fail early with a clear message below)
        self.model_path = Path(model_path)
        self.sample_rate = sample_rate
        self.confidence_floor = confidence_floor
        # Stop phrases and the safe word: kept even below the confidence floor.
        self.never_reject: set[str] = set()
        self._model = load_model(self.model_path)
        self._words = model_words(self.model_path)
        self._has_unk = self.knows(UNK)
        self._endpointer = Endpointer(endpoint, sample_rate)
        self._phrases: tuple[str, ...] | None = None
        self._grammar: str | None = None
        self._rec: KaldiRecognizer | None = None
        self._utt_start = 0.0
        self._pieces: list[dict] = []
        self._warned: set[str] = set()

    # -- vocabulary -------------------------------------------------------
    def known_words(self) -> set[str] | None:
        return set(self._words) if self._words is not None else None

    def knows(self, word: str) -> bool:
        if self._words is not None:
            return word in self._words
        return self._model.vosk_model_find_word(word) >= 0

    def usable_phrases(self, phrases: Sequence[str]) -> tuple[str, ...]:
        """Normalized phrases whose words the model knows (Vosk would silently
        drop the others' unknown words, turning "not okay" into "okay")."""
        return known_phrases(phrases, normalize_phrase, self.knows, self._warned, "the Vosk model")

    # -- turn -------------------------------------------------------------
    def start(self, phrases: Sequence[str] | None) -> None:
        self._rec = None
        self._pieces = []
        self._endpointer.reset()
        if phrases is None:
            self._phrases, self._grammar = None, None
            return
        usable = self.usable_phrases(phrases)
        if not usable:
            log.warning("no usable grammar phrases for this turn; listening free-form")
            self._phrases, self._grammar = None, None
            return
        self._phrases = usable
        items = list(usable) + ([UNK] if self._has_unk else [])
        self._grammar = json.dumps(items, ensure_ascii=False)

    def feed(self, pcm: bytes) -> Result | None:
        update = self._endpointer.feed(pcm)
        if update.started:
            self._begin_utt()
        if update.audio and self._rec is not None:
            if self._rec.AcceptWaveform(update.audio):
                # Vosk's own endpoint rule fired inside our utterance: keep its words
                self._pieces.append(json.loads(self._rec.Result()))
        if update.ended and self._rec is not None:
            return self._finish(update.speech_end)
        return None

    @property
    def endpoint(self) -> EndpointConfig:
        """The end-of-turn settings this recognizer's endpointer uses."""
        return self._endpointer.config

    @property
    def in_speech(self) -> bool:
        return self._rec is not None

    def partial(self) -> str:
        if self._rec is None:
            return ""
        done = " ".join(p.get("text", "") for p in self._pieces)
        now = json.loads(self._rec.PartialResult()).get("partial", "")
        return " ".join(t for t in (done, now) if t).replace(UNK, "").strip()

    def flush(self) -> Result | None:
        if self._rec is None:
            return None
        return self._finish(self._endpointer.elapsed)

    # -- internals --------------------------------------------------------
    def _begin_utt(self) -> None:
        import vosk
        if self._grammar is None:
            rec = vosk.KaldiRecognizer(self._model, self.sample_rate)
        else:
            rec = vosk.KaldiRecognizer(self._model, self.sample_rate, self._grammar)
        rec.SetWords(True)
        self._rec = rec
        self._pieces = []
        self._utt_start = self._endpointer.utterance_start

    def _finish(self, speech_end: float | None) -> Result:
        self._pieces.append(json.loads(self._rec.FinalResult()))
        self._rec = None
        raw = [w for piece in self._pieces for w in piece.get("result", [])]
        self._pieces = []
        words = tuple(Word(w["word"], float(w.get("conf", 0.0)), self._utt_start + float(w.get("start", 0.0)),
                           self._utt_start + float(w.get("end", 0.0))) for w in raw)
        return self.judge(words, speech_end)

    def judge(self, words: tuple[Word, ...], speech_end: float | None) -> Result:
        """Accept or reject one utterance's words (pure; see the module doc)."""
        heard = tuple(w for w in words if w.text != UNK)
        text = " ".join(w.text for w in heard)
        confidence = sum(w.confidence for w in heard) / len(heard) if heard else 0.0
        if self._phrases is None:
            log.info("heard %d words", len(heard))
            return Result(text, confidence, heard, speech_end)
        reason = None
        if not heard:
            reason = "only unknown speech" if words else "nothing recognized"
        elif len(heard) < len(words):
            reason = "partly outside the grammar"
        elif text not in self._phrases:
            reason = "not one of the phrases"
        elif confidence < self.confidence_floor and text not in self.never_reject:
            reason = "low confidence"  # a stop phrase or the safe word is honoured even then
        if reason:
            log.info("utterance rejected (%s): heard %d words", reason, len(words))
            return Result("", confidence, (), speech_end)
        log.info("heard %d words", len(heard))
        return Result(text, confidence, heard, speech_end)
