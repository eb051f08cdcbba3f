"""Every setting of a check-in, with its default written once.

Where does a value come from? The command line wins; what it leaves out
comes from the settings file (``config.yaml``, written by ``python run.py
setup`` or by hand); what neither gives is the default below.
:func:`skill.storage.config.apply` does that merge and hands back one frozen
:class:`Settings`; the shells (text and voice) and the session opener
(:mod:`skill.shell.session`) read only that value, never ``argparse``.

This module is pure and imports nothing from the packages, so the dialogue
core may use the same defaults (``SAFE_WORD``, ``SETTING``) for its own
dataclasses without knowing about files or the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The word that always ends a check-in at once, unless another is chosen.
SAFE_WORD = "red"
#: Where the people are, so suggestions fit; one of conditions.SETTINGS.
SETTING = "sofa"
#: The check-in started when none is named.
FLOW = "aftercare"
#: The speech recognizer chosen when none is named.
BACKEND = "auto"

#: Between names written on one line ("Sam, Alex"): --names, setup, a notes file's header.
NAME_SEPARATOR = ","

Device = int | str | None  # a device number or part of its name; None: the system's default


@dataclass(frozen=True)
class Settings:
    """One check-in's settings, after the command line and the file are merged.

    The first group can live in the settings file (see FIELDS in
    skill.storage.config); the rest are given on the command line only.
    ``None`` means "not chosen": the shell picks a fitting value (a pace and
    volume for the setting, the system's device, the installed model, ...).
    """

    # ---- in config.yaml and on the command line
    names: tuple[str, ...] = ()
    safe_word: str = SAFE_WORD
    setting: str = SETTING
    voice: str | None = None
    rate: int | None = None
    volume: float | None = None
    input_device: Device = None
    output_device: Device = None
    backend: str = BACKEND
    model: str | None = None
    notes_enabled: bool = True
    notes_dir: str | None = None
    support_line: str | None = None
    # ---- command line only
    flow: str = FLOW
    seed: int | None = None  # None: a fresh random seed per session (see skill.shell.session)
    events: str | None = None  # --events FILE ('-': standard output)
    dialogs: str | None = None  # None: the project's dialogs/
    text: bool = False
    chime: bool = True
    endpoint_silence: float | None = None
    debug_transcripts: bool = False
    list_voices: bool = False
    list_devices: bool = False


def split_names(text: str) -> list[str]:
    """Names written on one line, as typed ("Sam, Alex"); empty parts are kept for the caller to judge."""
    return [part.strip() for part in text.split(NAME_SEPARATOR)]
