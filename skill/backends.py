"""Choose and create a recognizer backend.

``auto`` prefers Vosk when an English Vosk model is installed (or a model
folder is named with ``--model``), because a full model understands more
than grammars; otherwise the embedded PocketSphinx recognizer, which needs
no download, so the program always starts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from skill.endpoint import DEFAULT_SILENCE, EndpointConfig
from skill.recognizer import Recognizer, RecognizerError, spellings

log = logging.getLogger(__name__)

BACKENDS = ("auto", "vosk", "pocketsphinx")


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
                    stop_phrases: Sequence[str] = ()) -> Recognizer:
    """Create the recognizer the user asked for (one clear RecognizerError if impossible).

    backend: "auto" | "vosk" | "pocketsphinx" ("sphinx" also accepted).
    model: a Vosk model folder; implies Vosk under "auto".
    models_dir: where installed models live (default: skill.models.default_models_dir()).
    endpoint_silence: seconds of trailing quiet that end an utterance.
    stop_phrases: the stop command's phrases and the session's safe word. A
      missed stop is a safety failure while a false one only ends the check-in
      gently, so the out-of-grammar check is most lenient with them
      (PocketSphinx: STOP_RATIO_MIN; Vosk: kept below the confidence floor).
    """
    from skill import models as model_store

    choice = (backend or "auto").strip().lower()
    if choice == "sphinx":
        choice = "pocketsphinx"
    if choice not in BACKENDS:
        raise RecognizerError(f"unknown recognizer {backend!r}: choose auto, vosk or pocketsphinx")
    endpoint = endpoint_config(endpoint_silence, max_utterance)

    if choice == "pocketsphinx":
        log.info("recognizer: PocketSphinx (asked for)")
        return _sphinx(endpoint, stop_phrases)

    model_path: Path | None = Path(model).expanduser() if model else None
    why = "model given with --model"
    if model_path is None:
        folder = Path(models_dir) if models_dir else model_store.default_models_dir()
        model_path = model_store.find_english_model(folder)
        why = f"English Vosk model found in {folder}"
        if model_path is None:
            if choice == "vosk":
                raise RecognizerError(
                    f"no English Vosk model in {folder}: run 'python run.py models download', "
                    "place one by hand (see models/README.md), or pass --model PATH")
            log.info("recognizer: PocketSphinx (no English Vosk model in %s; "
                     "'python run.py models download' adds one)", folder)
            return _sphinx(endpoint, stop_phrases)
    problem = model_store.model_problem(model_path)
    if problem:
        raise RecognizerError(f"Vosk model folder {model_path}: {problem}")
    log.info("recognizer: Vosk with %s (%s)", model_path.name, why)
    from skill.recognizer_vosk import VoskRecognizer, normalize_phrase
    rec = VoskRecognizer(model_path, endpoint=endpoint)
    rec.never_reject = spellings(stop_phrases, normalize_phrase)
    return rec


def _sphinx(endpoint: EndpointConfig, stop_phrases: Sequence[str] = ()) -> Recognizer:
    from skill.recognizer_sphinx import SphinxRecognizer, normalize_phrase
    rec = SphinxRecognizer(endpoint=endpoint)
    rec.stop_phrases = spellings(stop_phrases, normalize_phrase)
    return rec
