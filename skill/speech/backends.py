"""Choose and create a recognizer backend.

``auto`` picks, in this order (why: docs/speech.md, "Choosing a backend"):

1. Vosk, when a model folder is named with ``--model`` (the person chose it);
2. Whisper tiny.en, when its pinned wheel is installed and its files match
   their SHA-256 (it is a dependency, so a normal install has it): on
   natural-sounding voices it understands far more than the grammars do;
3. Vosk, when an English Vosk model is installed in the models folder
   (``--backend vosk`` always uses it, and it is the choice for a language
   Whisper tiny.en does not speak);
4. PocketSphinx, built in, which needs nothing, so the program always starts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from skill.speech.endpoint import DEFAULT_SILENCE, EndpointConfig
from skill.speech.recognizer import Recognizer, RecognizerError, spellings

log = logging.getLogger(__name__)

BACKENDS = ("auto", "whisper", "vosk", "pocketsphinx")


def choose(backend: str = "auto", model: str | Path | None = None,
           models_dir: str | Path | None = None) -> tuple[str, Path | None, str]:
    """(backend, Vosk model folder or None, why) for a request; see the module doc.

    Pure apart from looking at installed files; ``models list`` shows its answer.
    Raises RecognizerError for an unknown backend or a Vosk request without a model.
    """
    from skill.speech import models as model_store
    from skill.speech import recognizer_whisper

    choice = (backend or "auto").strip().lower()
    if choice == "sphinx":
        choice = "pocketsphinx"
    if choice not in BACKENDS:
        raise RecognizerError(f"unknown recognizer {backend!r}: choose auto, whisper, vosk or pocketsphinx")
    if choice == "pocketsphinx":
        return "pocketsphinx", None, "asked for"
    if choice == "whisper":
        return "whisper", None, "asked for"
    if model:
        return "vosk", Path(model).expanduser(), "model given with --model"
    folder = Path(models_dir) if models_dir else model_store.default_models_dir()
    english = model_store.find_english_model(folder)
    if choice == "vosk":
        if english is None:
            raise RecognizerError(
                f"no English Vosk model in {folder}: run 'python run.py models download', "
                "place one by hand (see models/README.md), or pass --model PATH")
        return "vosk", english, f"asked for; English Vosk model found in {folder}"
    whisper_problem = recognizer_whisper.model_problem()
    if whisper_problem is None:
        why = "built in, understands the most on natural voices"
        if english is not None:
            why += f" (the Vosk model {english.name} is used with --backend vosk)"
        return "whisper", None, why
    if english is not None:
        return "vosk", english, f"English Vosk model found in {folder} ({whisper_problem})"
    return "pocketsphinx", None, (f"{whisper_problem}; no English Vosk model in {folder}")


def endpoint_config(endpoint_silence: float = DEFAULT_SILENCE,
                    max_utterance: float | None = None) -> EndpointConfig:
    """An EndpointConfig with the user's trailing-silence setting (seconds)."""
    if not 0.1 <= endpoint_silence <= 5.0:
        raise RecognizerError(f"endpoint silence {endpoint_silence} s is out of range: use 0.1 to 5 seconds")
    if max_utterance is None:
        return EndpointConfig(silence=endpoint_silence)
    return EndpointConfig(silence=endpoint_silence, max_utterance=max_utterance)


def make_recognizer(backend: str = "auto", model: str | Path | None = None,
                    models_dir: str | Path | None = None,
                    endpoint_silence: float = DEFAULT_SILENCE,
                    max_utterance: float | None = None,
                    stop_phrases: Sequence[str] = (), safe_word: str = "") -> Recognizer:
    """Create the recognizer the user asked for (one clear RecognizerError if impossible).

    backend: "auto" | "whisper" | "vosk" | "pocketsphinx" ("sphinx" also accepted).
    model: a Vosk model folder; implies Vosk under "auto".
    models_dir: where installed models live (default: skill.speech.models.default_models_dir()).
    endpoint_silence: seconds of trailing quiet that end an utterance.
    stop_phrases: the stop command's phrases and the session's safe word. A
      missed stop is a safety failure while a false one only ends the check-in
      gently, so the out-of-grammar check is most lenient with them
      (PocketSphinx: STOP_RATIO_MIN; Vosk: kept below the confidence floor;
      Whisper: scored against short transcripts, see recognizer_whisper).
    safe_word: the session's safe word (also among ``stop_phrases``); Whisper
      gives it the widest margin of all (SAFE_WORD_MARGIN).
    """
    from skill.speech import models as model_store

    choice, model_path, why = choose(backend, model, models_dir)
    endpoint = endpoint_config(endpoint_silence, max_utterance)

    if choice == "pocketsphinx":
        log.info("recognizer: PocketSphinx (%s)", why)
        return _sphinx(endpoint, stop_phrases)
    if choice == "whisper":
        log.info("recognizer: Whisper tiny.en (%s)", why)
        from skill.speech.recognizer_whisper import WhisperRecognizer, plain_words
        rec = WhisperRecognizer(endpoint=endpoint)
        rec.stop_phrases = spellings(stop_phrases, plain_words)
        rec.safe_words = spellings((safe_word,), plain_words) if safe_word else set()
        return rec
    assert model_path is not None
    problem = model_store.model_problem(model_path)
    if problem:
        raise RecognizerError(f"Vosk model folder {model_path}: {problem}")
    log.info("recognizer: Vosk with %s (%s)", model_path.name, why)
    from skill.speech.recognizer_vosk import VoskRecognizer, normalize_phrase
    rec = VoskRecognizer(model_path, endpoint=endpoint)
    rec.never_reject = spellings(stop_phrases, normalize_phrase)
    return rec


def _sphinx(endpoint: EndpointConfig, stop_phrases: Sequence[str] = ()) -> Recognizer:
    from skill.speech.recognizer_sphinx import SphinxRecognizer, normalize_phrase
    rec = SphinxRecognizer(endpoint=endpoint)
    rec.stop_phrases = spellings(stop_phrases, normalize_phrase)
    return rec
