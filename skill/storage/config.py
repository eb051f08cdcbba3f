"""Settings that persist: a small YAML file, always overridden by the CLI.

The file lives in the platform's config folder (``~/.config/aftercare/
config.yaml`` on Linux), is written by ``python run.py setup`` or by hand, and
holds only preferences (names, safe word, setting, voice, devices, ...), never
anything said in a session. A hand-edited file will sometimes be wrong; a
wrong value must never stop a check-in, so each problem is reported as one
line (``config.yaml:LINE: message (using default X)``) and the default is used.

Integration: ``add_arguments(parser)`` adds ``--config``, ``--notes-dir``,
``--no-notes`` and ``--debug-transcripts``; ``apply(args)`` turns the command
line and the file into one :class:`skill.settings.Settings`: every setting the
command line did not give (``None``) comes from the file, then from the
defaults (written once, in skill/settings.py), and what the command line did
give is validated (one line, exit 2). Nothing after ``apply`` sees argparse.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from skill.dialogue.conditions import SETTINGS
from skill.dialogue.readlimit import read_bounded
from skill.settings import Settings, split_names
from skill.storage import atomic, paths

_DEFAULT = Settings()
# These mirror skill.speech.backends.BACKENDS and skill.speech.tts.RATE_RANGE/VOLUME_RANGE
# (tests/test_config.py checks they agree) without importing audio libraries.
BACKENDS = ("auto", "whisper", "vosk", "pocketsphinx")
RATE_RANGE = (90, 220)
VOLUME_RANGE = (0.15, 1.0)
MAX_BYTES = 64 * 1024
MAX_NAMES = 8
RESERVED_SAFE_WORDS = {"yes", "no", "okay", "ok", "continue", "help", "repeat", "pause"}
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")
_WORD_RE = re.compile(r"^[^\W\d_]+(?:['\-][^\W\d_]+)*$")


class Invalid(ValueError):
    """A value that cannot be used; the message completes 'KEY ...'."""


@dataclass(frozen=True)
class Problem:
    """One line to show: where, what, and what is used instead."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


# --------------------------------------------------------------------------
# Checks: raw YAML/CLI value -> clean value, or Invalid
# --------------------------------------------------------------------------


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Invalid(f"must be {what}, not {_show(value)}")
    return str(value).strip()


def check_names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items = split_names(value)
    elif isinstance(value, list):
        items = value
    else:
        raise Invalid(f"must be a list of first names, like [Sam, Alex], not {_show(value)}")
    names: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str):
            raise Invalid(f"must be a list of first names, but {_show(item)} is not a name")
        name = " ".join(item.split())
        if not name:
            if isinstance(value, str) and value.strip() == "":
                continue
            raise Invalid("has an empty name in it")
        if len(name) > 30 or not _NAME_RE.match(name):
            raise Invalid(f"has {name[:40]!r}, which does not look like a name (letters, spaces, - and ' only)")
        if name.lower() in (n.lower() for n in names):
            raise Invalid(f"has {name!r} twice")
        names.append(name)
    if len(names) > MAX_NAMES:
        raise Invalid(f"has {len(names)} names; at most {MAX_NAMES} people can take part")
    return names


def check_safe_word(value: Any) -> str:
    if isinstance(value, bool):
        raise Invalid("must be a word; put it in quotes if it looks like yes or no")
    word = " ".join(_text(value, "a word or two").lower().split())
    if not word:
        raise Invalid("is empty")
    if len(word) > 30 or len(word.split()) > 3 or not all(_WORD_RE.match(w) for w in word.split()):
        raise Invalid(f"must be one to three plain words, not {word[:40]!r}")
    if word in RESERVED_SAFE_WORDS:
        raise Invalid(f"cannot be {word!r}: that is an everyday answer")
    return word


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        choice = _text(value, "one of " + ", ".join(options)).lower()
        if choice in options:
            return choice
        close = difflib.get_close_matches(choice, options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise Invalid(f"must be one of {', '.join(options)}, not {choice[:40]!r}{hint}")
    return check


def check_rate(value: Any) -> int:
    low, high = RATE_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise Invalid(f"must be a whole number of words per minute from {low} to {high}, not {_show(value)}")
    if not low <= value <= high:
        raise Invalid(f"must be from {low} to {high} words per minute, not {_show(value)}")
    return int(value)


def check_volume(value: Any) -> float:
    low, high = VOLUME_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise Invalid(f"must be a number from {low} (soft) to {high} (full), not {_show(value)}")
    if not low <= value <= high:
        raise Invalid(f"must be from {low} to {high}, not {_show(value)}")
    return float(value)


def check_device(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise Invalid(f"must be a device number (0 or more) or part of its name, not {value}")
        return value
    text = _text(value, "a device number or part of its name")
    if not text:
        raise Invalid("is empty; leave it out to use the system's default device")
    if re.fullmatch(r"-\d+", text):
        raise Invalid(f"must be a device number (0 or more) or part of its name, not {text}")
    return int(text) if text.isdigit() else text


def _optional_text(what: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        text = _text(value, what)
        if not text:
            raise Invalid("is empty; leave it out to use the default")
        if len(text) > 1000 or "\x00" in text:
            raise Invalid(f"must be {what}")
        return text
    return check


def check_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("on", "off", "true", "false", "yes", "no"):
        return value.strip().lower() in ("on", "true", "yes")
    raise Invalid(f"must be true or false, not {_show(value)}")


def check_version(value: Any) -> int:
    if value != 1 or isinstance(value, bool):
        raise Invalid(f"must be 1, not {_show(value)}")
    return 1


@dataclass(frozen=True)
class Field:
    """One setting: its YAML key, its name in Settings (and argparse dest), default and check."""

    key: str
    dest: str
    default: Any
    check: Callable[[Any], Any]
    nullable: bool = False


FIELDS: tuple[Field, ...] = (
    Field("version", "config_version", 1, check_version),
    Field("names", "names", list(_DEFAULT.names), check_names, nullable=True),
    Field("safe_word", "safe_word", _DEFAULT.safe_word, check_safe_word),
    Field("setting", "setting", _DEFAULT.setting, _choice(SETTINGS)),
    Field("voice", "voice", _DEFAULT.voice, _optional_text("a voice name"), nullable=True),
    Field("rate", "rate", _DEFAULT.rate, check_rate),
    Field("volume", "volume", _DEFAULT.volume, check_volume),
    Field("input_device", "input_device", _DEFAULT.input_device, check_device, nullable=True),
    Field("output_device", "output_device", _DEFAULT.output_device, check_device, nullable=True),
    Field("backend", "backend", _DEFAULT.backend, _choice(BACKENDS)),
    Field("model", "model", _DEFAULT.model, _optional_text("a folder path"), nullable=True),
    Field("notes", "notes_enabled", _DEFAULT.notes_enabled, check_bool),
    Field("notes_dir", "notes_dir", _DEFAULT.notes_dir, _optional_text("a folder path"), nullable=True),
    Field("support_line", "support_line", _DEFAULT.support_line, _optional_text("a support line to name"),
          nullable=True),
)
BY_KEY = {f.key: f for f in FIELDS}
#: The CLI flag of each setting, for messages about command-line values.
FLAGS = {
    "names": "--names", "safe_word": "--safe-word", "setting": "--setting", "voice": "--voice",
    "rate": "--rate", "volume": "--volume", "input_device": "--input-device",
    "output_device": "--output-device", "backend": "--backend", "model": "--model",
    "notes": "--no-notes", "notes_dir": "--notes-dir",
}


def defaults() -> dict[str, Any]:
    """Every setting at its default."""
    return {f.key: (list(f.default) if isinstance(f.default, list) else f.default) for f in FIELDS}


def describe(key: str, value: Any) -> str:
    """A value as a person would read it, for '(using default X)' and setup."""
    if key == "notes":
        return "on" if value else "off"
    if value is None:
        return {"voice": "the default voice", "model": "the installed model",
                "rate": "a calm pace for the setting", "volume": "a soft volume for the setting",
                "notes_dir": "the platform data folder",
                "support_line": "none (a general wording)"}.get(key, "system device")
    if isinstance(value, list):
        return ", ".join(value) if value else "none (solo)"
    return str(value)


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a key: value block"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------
# Reading a config file (pure: text in, values and problems out)
# --------------------------------------------------------------------------


def parse(data: bytes, path: str = "config.yaml") -> tuple[dict[str, Any], list[Problem]]:
    """Settings found in ``data`` (only the valid ones) and one Problem per fault."""
    problems: list[Problem] = []
    whole = "(using defaults for the whole file)"
    if len(data) > MAX_BYTES:
        return {}, [Problem(path, None, f"file is larger than {MAX_BYTES // 1024} KB; is it the right file? {whole}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return {}, [Problem(path, line, f"not UTF-8 text; save the file as UTF-8 {whole}")]
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        if root is None:
            return {}, []
        if not isinstance(root, yaml.MappingNode):
            kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
            return {}, [Problem(path, root.start_mark.line + 1,
                                f"expected 'key: value' lines like 'setting: sofa', found {kind} {whole}")]
        pairs = [(k, v, loader.construct_object(k, deep=True), loader.construct_object(v, deep=True))
                 for k, v in root.value]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(error, "problem", None) or getattr(error, "reason", None) or str(error).splitlines()[0]
        if isinstance(error, yaml.reader.ReaderError):
            line = text[: error.position].count("\n") + 1
            what = f"character {error.character:#06x} is not allowed ({what})"
        return {}, [Problem(path, line, f"YAML syntax error: {what} {whole}")]
    except (RecursionError, TypeError, ValueError) as error:
        return {}, [Problem(path, None, f"could not read the settings ({type(error).__name__}) {whole}")]
    finally:
        if loader is not None:
            loader.dispose()

    values: dict[str, Any] = {}
    seen: set[str] = set()
    for key_node, value_node, key, value in pairs:
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            problems.append(Problem(path, line, f"{_show(key)} is not a setting name (ignored)"))
            continue
        field_ = BY_KEY.get(key) or BY_KEY.get(key.strip().lower().replace("-", "_").replace(" ", "_"))
        if field_ is None:
            close = difflib.get_close_matches(key.lower(), list(BY_KEY), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known settings: {', '.join(BY_KEY)}"
            problems.append(Problem(path, line, f"unknown setting '{key[:40]}'{hint} (ignored)"))
            continue
        if field_.key in seen:
            problems.append(Problem(path, line, f"{field_.key} is set twice; keeping the first one (ignored)"))
            continue
        seen.add(field_.key)
        fallback = f"(using default {describe(field_.key, field_.default)})"
        if value is None and not field_.nullable:
            problems.append(Problem(path, value_node.start_mark.line + 1, f"{field_.key} is empty {fallback}"))
            continue
        try:
            values[field_.key] = field_.check(value)
        except Invalid as error:
            problems.append(Problem(path, value_node.start_mark.line + 1, f"{field_.key} {error} {fallback}"))
    values.pop("version", None)
    return values, problems


def load(path: Path) -> tuple[dict[str, Any], list[Problem]]:
    """Settings from the file at ``path`` (missing file: none, no problem)."""
    try:
        data = read_bounded(Path(path), MAX_BYTES)
    except FileNotFoundError:
        return {}, []
    except IsADirectoryError:
        return {}, [Problem(str(path), None, "is a folder, not a settings file (using defaults for every setting)")]
    except OSError as error:
        return {}, [Problem(str(path), None, f"could not be read: {error.strerror} (using defaults for every setting)")]
    except ValueError as error:
        return {}, [Problem(str(path), None, f"{error}, not a settings file (using defaults for every setting)")]
    return parse(data, str(path))


# --------------------------------------------------------------------------
# Writing (setup) and the command line
# --------------------------------------------------------------------------


def render(values: dict[str, Any]) -> str:
    """A readable config.yaml with a short comment header."""
    lines = [
        "# Aftercare settings. Edit by hand, or run: python run.py setup",
        "# Any command-line flag overrides what is written here.",
        "# Only preferences are kept here, never anything said in a session.",
        "version: 1",
    ]
    for field_ in FIELDS[1:]:
        value = values.get(field_.key, field_.default)
        if value is None:
            continue
        dumped = yaml.safe_dump({field_.key: value}, default_flow_style=True, allow_unicode=True, width=1000)
        lines.append(dumped.strip()[1:-1].strip())
    return "\n".join(lines) + "\n"


def save(values: dict[str, Any], path: Path | None = None) -> Path:
    """Write the config atomically (folder 0700, file 0600). Raises OSError."""
    path = Path(path) if path else paths.config_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic.write_text(path, render(values))
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags this module owns (defaults are None: 'not given')."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="settings file (default: config.yaml in the platform's config folder)")
    parser.add_argument("--notes-dir", metavar="DIR", default=None,
                        help="folder for the notes you ask to keep (default: the platform's data folder)")
    parser.add_argument("--no-notes", dest="notes_enabled", action="store_const", const=False, default=None,
                        help="never offer to keep a note")
    parser.add_argument("--debug-transcripts", action="store_true", default=False,
                        help="developer aid: print what was heard to this terminal only (never to a file)")


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def apply(args: argparse.Namespace, warn: Callable[[str], None] | None = None) -> Settings:
    """The command line and the settings file merged into one :class:`Settings`.

    The command line always wins; what it leaves out (``None``) comes from
    the file, then from the defaults. Problems in the file are reported
    through ``warn`` (default: one line each on stderr) and never stop the
    program; an impossible command-line value, or a ``--config`` file that
    does not exist, is one line on stderr and exit code 2. Options that live
    only on the command line (``--flow``, ``--seed``, ...) are copied as given.
    """
    warn = warn or (lambda line: print(line, file=sys.stderr))
    given_args = vars(args)  # the one place that reads the parsed command line
    given = given_args.get("config")
    path = Path(given).expanduser() if given else paths.config_file()
    if given and not os.path.lexists(path):
        _fail(f"--config: {given}: no such file (run 'python run.py setup' to create one)")
    file_values, problems = load(path)
    for problem in problems:
        warn(str(problem))
    chosen: dict[str, Any] = {}
    for field_ in FIELDS[1:]:
        cli_value = given_args.get(field_.dest)
        if cli_value is not None:
            try:
                value = field_.check(cli_value)
            except Invalid as error:
                flag = FLAGS.get(field_.key, "--" + field_.key.replace("_", "-"))
                _fail(f"{flag}: {field_.key.replace('_', ' ')} {error}")
        elif field_.key in file_values:
            value = file_values[field_.key]
        else:
            value = field_.default
        chosen[field_.dest] = tuple(value) if isinstance(value, list) else value
    for name in _COMMAND_LINE_ONLY:
        if given_args.get(name) is not None:
            chosen[name] = given_args[name]
    if chosen.get("debug_transcripts") and not _is_terminal(sys.stderr):
        # Heard text may only ever reach a person's own screen, never a file or a pipe.
        warn("--debug-transcripts: ignored, because standard error is not a terminal")
        chosen["debug_transcripts"] = False
    return Settings(**chosen)


#: Settings given only on the command line (not in config.yaml).
_COMMAND_LINE_ONLY = tuple(f.name for f in dataclasses.fields(Settings)
                           if f.name not in {field_.dest for field_ in FIELDS})


def values_of(settings: Settings) -> dict[str, Any]:
    """The file settings in ``settings`` by their config.yaml key (as ``parse`` gives them)."""
    out: dict[str, Any] = {}
    for field_ in FIELDS[1:]:
        value = vars(settings)[field_.dest]
        out[field_.key] = list(value) if isinstance(value, tuple) else value
    return out


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
