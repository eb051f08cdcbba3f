"""Where the program keeps its few files.

One place decides this so the notes store, the config and the tests agree.
Tests (and anyone who wants the files elsewhere) set ``AFTERCARE_DATA_DIR`` /
``AFTERCARE_CONFIG_DIR``; otherwise the platform's user folders are used
(``~/.local/share/aftercare`` and ``~/.config/aftercare`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "aftercare"
DATA_ENV = "AFTERCARE_DATA_DIR"
CONFIG_ENV = "AFTERCARE_CONFIG_DIR"


def _from_env(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """The user data folder (holds ``notes/``)."""
    return _from_env(DATA_ENV) or platformdirs.user_data_path(APP_NAME, appauthor=False)


def config_dir() -> Path:
    """The user config folder (holds ``config.yaml``)."""
    return _from_env(CONFIG_ENV) or platformdirs.user_config_path(APP_NAME, appauthor=False)


def notes_dir() -> Path:
    """Default notes folder; ``--notes-dir`` overrides it."""
    return data_dir() / "notes"


def config_file() -> Path:
    """Default config file; ``--config`` overrides it."""
    return config_dir() / "config.yaml"
