"""``python run.py setup``: a calm, keyboard-only first-run questionnaire.

Each question shows the current answer in [brackets]; Enter keeps it. Answers
are checked with the same rules as config.yaml (``skill.storage.config``), a wrong one
is explained and asked again, and the file is written atomically at the end,
so stopping half way (Ctrl-C) changes nothing. Without a terminal it simply
reads one line per question, and end of input keeps the remaining answers.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from skill.storage import config, paths

MAX_TRIES = 3
CLEAR_WORDS = {"none", "-", "default", "nobody"}


@dataclass(frozen=True)
class Question:
    """One setting to ask about: the words, and how to read the answer."""

    key: str
    text: str | Callable[[], str]  # a callable is asked for the words when the question comes
    read: Callable[[str], Any]


def _yes_no(answer: str) -> bool:
    word = answer.strip().lower()
    if word in ("y", "yes", "yeah", "on", "true"):
        return True
    if word in ("n", "no", "off", "false"):
        return False
    raise config.Invalid("please answer yes or no")


def _names(answer: str) -> list[str]:
    return [] if answer.strip().lower() in CLEAR_WORDS else config.check_names(answer)


def _number(check: Callable[[Any], Any], kind: type) -> Callable[[str], Any]:
    def read(answer: str) -> Any:
        try:
            value = kind(answer.strip())
        except ValueError:
            value = answer.strip()
        return check(value)
    return read


def _optional(check: Callable[[Any], Any]) -> Callable[[str], Any]:
    def read(answer: str) -> Any:
        return None if answer.strip().lower() in CLEAR_WORDS else check(answer)
    return read


def _installed_voices() -> tuple[list[tuple[str, str, str]], set[str]] | None:
    """(voices, variants) from espeak-ng; None when speech output cannot work here."""
    from skill.speech import tts

    try:
        synth = tts.shared_synth()
        return synth.voices(), synth.variants()
    except tts.TtsError:
        return None


def _voice_text() -> str:
    """The voice question, with the voices one can choose from."""
    from skill.speech import tts

    lines = ["Which voice would you like? For example:"]
    for name, (_, _, description) in tts.FRIENDLY_VOICES.items():
        lines.append(f"    {name:<16} {description}")
    installed = _installed_voices()
    if installed is not None:
        for voice in tts.english_voices(installed[0]):
            lines.append(f"    {voice[2].split(',')[0]:<16} {tts.friendly_name(voice)}")
    lines.append("  Any voice from 'python run.py --list-voices' works too\n"
                 "  (type 'default' for the default voice)")
    return "\n".join(lines)


def _voice(answer: str) -> str:
    """A voice that exists here (anything goes when espeak-ng cannot be asked)."""
    from skill.speech import tts

    spec = config.BY_KEY["voice"].check(answer)
    installed = _installed_voices()
    if installed is not None:
        try:
            tts.resolve_voice(spec, *installed)
        except tts.TtsError as error:
            raise config.Invalid(f"{spec!r} cannot be used: {error}") from None
    return spec


QUESTIONS: tuple[Question, ...] = (
    Question("names", "Names of the people taking part, separated by commas\n"
             "  (type 'none' for a solo check-in)", _names),
    Question("setting", "Where will you usually be: bath, sofa, bedside or car?",
             lambda a: config.BY_KEY["setting"].check(a)),
    Question("safe_word", "A safe word that always stops the check-in at once", config.check_safe_word),
    Question("notes", "Offer to keep a short note when a check-in ends? (yes or no)", _yes_no),
    Question("backend", "How should it understand speech? 'auto' (best for most people) uses the\n"
             "  built-in Whisper recognizer, which understands everyday answers; 'vosk' a downloaded\n"
             "  Vosk model; 'pocketsphinx' the small fallback. Type auto, whisper, vosk or pocketsphinx",
             lambda a: config.BY_KEY["backend"].check(a)),
    Question("voice", _voice_text, _optional(_voice)),
    Question("rate", f"Speaking pace in words per minute, {config.RATE_RANGE[0]} to {config.RATE_RANGE[1]}\n"
             "  (type 'default' to let it fit the setting)", _optional(_number(config.check_rate, int))),
    Question("volume", f"Volume, from {config.VOLUME_RANGE[0]} (soft) to {config.VOLUME_RANGE[1]} (full)\n"
             "  (type 'default' to let it fit the setting)", _optional(_number(config.check_volume, float))),
    Question("input_device", "Microphone: a device number or part of its name\n"
             "  (type 'default' for the system's own)", _optional(config.check_device)),
    Question("output_device", "Speaker: a device number or part of its name\n"
             "  (type 'default' for the system's own)", _optional(config.check_device)),
)


class _EndOfInput(Exception):
    """No more answers: keep the rest as they are."""


def _reader(stdin: TextIO, stdout: TextIO) -> Callable[[str], str]:
    """input() on a terminal (line editing), plain line reading otherwise."""
    interactive = stdin is sys.stdin and stdin.isatty() and stdout is sys.stdout

    def ask(prompt: str) -> str:
        if interactive:
            try:
                return input(prompt)
            except EOFError:
                raise _EndOfInput from None
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        if not line:
            stdout.write("\n")
            raise _EndOfInput
        answer = line.rstrip("\r\n")
        stdout.write(answer + "\n")  # echo, so a piped transcript reads naturally
        return answer

    return ask


def interview(current: dict[str, Any], ask: Callable[[str], str], say: Callable[[str], None]) -> dict[str, Any]:
    """Ask every question; returns the new settings (unasked ones kept)."""
    answers = dict(current)
    questions = iter(QUESTIONS)
    try:
        for question in questions:
            text = question.text() if callable(question.text) else question.text
            default = answers.get(question.key)
            shown = config.describe(question.key, default)
            if question.key == "notes":
                shown = "yes" if default else "no"
            for attempt in range(1, MAX_TRIES + 1):
                raw = ask(f"{text} [{shown}]: ")
                if not raw.strip():
                    break
                try:
                    answers[question.key] = question.read(raw)
                    break
                except config.Invalid as error:
                    label = question.key.replace("_", " ")
                    if attempt < MAX_TRIES:
                        say(f"  Hmm, the {label} {error}. Try again, or press Enter to keep {shown}.")
                    else:
                        say(f"  The {label} {error}. Keeping {shown} for now.")
    except _EndOfInput:
        say("(No more answers; keeping the rest as they are.)")
    return answers


def run(config_path: Path, stdin: TextIO, stdout: TextIO) -> int:
    """The whole setup conversation; returns the exit code."""
    def say(line: str) -> None:
        print(line, file=stdout)

    values, problems = config.load(config_path)
    for problem in problems:
        say(str(problem))
    current = {**config.defaults(), **values}
    say("Let's set a few things up. Press Enter to keep the answer in [brackets].")
    say("Press Ctrl-C at any time to leave without changing anything.")
    say("")
    try:
        answers = interview(current, _reader(stdin, stdout), say)
    except KeyboardInterrupt:
        say("\nSetup stopped; nothing was changed.")
        return 130
    try:
        saved = config.save(answers, config_path)
    except OSError as error:
        say(f"setup: could not save the settings to {config_path}: {error.strerror or error}")
        return 1
    say("")
    say(f"Saved to {saved}. Run 'python run.py setup' again at any time to change them.")
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``setup`` command to the main parser's subparsers."""
    parser = subparsers.add_parser(
        "setup",
        help="answer a few questions to save your usual settings",
        description="A short questionnaire that writes config.yaml. Enter keeps each default.",
    )
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="settings file to write (default: config.yaml in the platform's config folder)")
    parser.set_defaults(func=run_cli)
    return parser


def run_cli(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Entry point used by the CLI."""
    given = vars(args).get("config")  # SUPPRESSed when not given
    path = Path(given).expanduser() if given else paths.config_file()
    return run(path, stdin or sys.stdin, stdout or sys.stdout)
