"""One Settings value, and one session opener for both shells."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest

from skill.dialogue.matcher import Matcher
from skill.dialogue.protocol import SessionContext
from skill.dialogue.render import Who
from skill.dialogue.validate import errors, load_checked
from skill.settings import SAFE_WORD, SETTING, Settings, split_names
from skill.shell import session
from skill.storage.notes import NotesStore

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / "skill"


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().safe_word = "blue"  # type: ignore[misc]


def test_the_core_uses_the_same_defaults():
    assert Settings().safe_word == SessionContext().safe_word == Who().safe_word == SAFE_WORD
    assert Matcher({}).safe_word == SAFE_WORD
    assert Settings().setting == SessionContext().setting == Who().setting == SETTING


def test_the_default_safe_word_is_written_once():
    written = [f"{path.relative_to(ROOT)}:{n}" for path in sorted(SKILL.rglob("*.py"))
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"""[=:]\s*["']red["']|or ["']red["']""", line)]
    assert len(written) == 1 and written[0].startswith("skill/settings.py:"), written


def test_nothing_reads_settings_by_probing_argparse():
    probes = [str(path.relative_to(ROOT)) for path in SKILL.rglob("*.py")
              if "getattr(args" in path.read_text(encoding="utf-8")]
    assert probes == []


def test_names_are_split_from_commas_keeping_empty_parts_for_the_caller():
    assert split_names(" Sam ,Alex") == ["Sam", "Alex"]
    assert split_names("Sam,,Alex") == ["Sam", "", "Alex"]


@pytest.fixture(scope="module")
def bundle():
    loaded, problems = load_checked(ROOT / "dialogs")
    assert errors(problems) == []
    return loaded


def test_the_opener_builds_context_engine_and_notes_from_settings(bundle, tmp_path):
    settings = Settings(names=("Sam", "Alex"), safe_word="pineapple", setting="bath", flow="quick", seed=4,
                        notes_dir=str(tmp_path / "notes"), support_line="Robin on 0101")
    opened = session.open_session(settings, bundle)
    assert opened.context.names == ["Sam", "Alex"]
    assert (opened.context.safe_word, opened.context.setting) == ("pineapple", "bath")
    assert opened.context.support_line == "Robin on 0101" and opened.context.notes_enabled
    assert isinstance(opened.notes, NotesStore) and opened.notes.root == tmp_path / "notes"
    assert opened.engine.main_flow == "quick" and opened.engine.ctx is opened.context
    # the same settings give the same session, word for word
    again = session.open_session(settings, bundle)
    assert again.engine.start() == session.open_session(settings, bundle).engine.start()


def test_notes_off_means_no_store_and_none_offered(bundle, tmp_path):
    opened = session.open_session(Settings(notes_enabled=False, notes_dir=str(tmp_path)), bundle)
    assert opened.notes is None and opened.context.notes_enabled is False
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_notes_folder_turns_notes_off_with_one_warning(bundle, caplog):
    with caplog.at_level(logging.WARNING, logger="skill.shell.session"):
        opened = session.open_session(Settings(notes_dir="~no_such_user_anywhere/notes"), bundle)
    assert opened.notes is None and opened.context.notes_enabled is False
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["notes unavailable"]
    assert opened.engine.start()  # the check-in goes on without notes


def test_seed_given_is_kept_and_a_missing_one_is_drawn():
    assert session.seed_for(Settings(seed=11)) == 11
    assert isinstance(session.seed_for(Settings()), int)
