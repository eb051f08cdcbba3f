"""Private means private: notes record whose they are, and reflection keeps to them.

The first tests run the real program (``run.py --text``) as issue 10 item 10
reproduces it: Sam and Alex keep a note; a reflection for Jo and Kim must not
offer it (nor say their names), a reflection for Sam and Alex offers it "from
last time" and says when, and one for Sam alone names whose it is and asks
first. A notes file written before names were kept still lists, shows and
reads. The store and the spoken words are then tested directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from checkin_driver import CliCheckin
from skill.storage import notes
from skill.storage.notes import EarlierNotes, NotesStore
from skill.dialogue.render import Who, render

ROOT = Path(__file__).resolve().parents[1]
NOTE = "a warm blanket and the lamp on next time"
OLD_NOTE = "talk in the car again"
OLD_FILE = f"""# Aftercare notes

- Date: 2025-03-04 21:00
- Flow: aftercare

## Notes

- {OLD_NOTE}
"""


@pytest.fixture
def env(tmp_path):
    return {"AFTERCARE_CONFIG_DIR": str(tmp_path / "config"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}


def _keep_a_note(tmp_path: Path, env: dict, names: str | None) -> None:
    """A real aftercare check-in that keeps NOTE and skips everything else."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)

    def answer(event: dict) -> str:
        if event["event"] == "pause":
            return ""
        if event.get("free_form"):
            return NOTE
        return "yes" if "note" in (event.get("node") or "") else "skip"

    argv = ["--flow", "aftercare", "--seed", "5", "--notes-dir", str(tmp_path / "notes")]
    checkin = CliCheckin(work, argv + (["--names", names] if names else []), env)
    done = checkin.run(answer)
    assert done.returncode == 0, done.stderr
    assert any(e["event"] == "note" and e.get("action") == "saved" for e in checkin.events)


def _run(tmp_path: Path, env: dict, argv: list[str], typed: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), *argv, "--notes-dir", str(tmp_path / "notes")],
                          input=typed, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, **env})
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _reflection(tmp_path, env, names: str | None, typed: str) -> tuple[str, list[str]]:
    """What a reflection check-in said; the typed lines answer its first questions."""
    events = tmp_path / "events.jsonl"
    argv = ["--text", "--flow", "reflection", "--seed", "18", "--events", str(events)]
    done = _run(tmp_path, env, argv + (["--names", names] if names else []), typed)
    assert done.returncode == 0, done.stderr
    nodes = [e["node"] for e in map(json.loads, events.read_text().splitlines()) if e["event"] == "node"]
    offered = [n for n in nodes if n.startswith("notes_offer")]
    return done.stdout, offered


def test_a_note_records_the_names_given(tmp_path, env):
    _keep_a_note(tmp_path, env, "Sam,Alex")
    [kept] = (tmp_path / "notes").iterdir()
    text = kept.read_text()
    assert "- People: Sam, Alex" in text
    assert notes.parse_people(text) == ("Sam", "Alex")
    assert text == notes.render(*notes.parse(text), ("Sam", "Alex")), "the header holds only date, flow, people"
    listed = _run(tmp_path, env, ["notes", "list"], "")
    assert listed.returncode == 0 and listed.stdout.rstrip().endswith("1 note  Sam, Alex")


def test_reflection_never_offers_other_peoples_note(tmp_path, env):
    """The issue's reproduction: Sam and Alex's note is not read to Jo and Kim."""
    _keep_a_note(tmp_path, env, "Sam,Alex")
    said, offered = _reflection(tmp_path, env, "Jo,Kim", "yes\n")
    assert "Jo and Kim" in said
    assert offered == [], "Jo and Kim have no note to be offered"
    assert NOTE not in said
    assert "Sam" not in said and "Alex" not in said, "not even whose note exists may be said"


def test_reflection_offers_the_same_peoples_note_and_says_when(tmp_path, env):
    _keep_a_note(tmp_path, env, "Sam,Alex")
    said, offered = _reflection(tmp_path, env, "alex, SAM", "yes\n")  # any order, any case
    assert offered == ["notes_offer"]
    offer = said.split("\n")[1]
    assert "last time" in offer
    assert "earlier today" in offer or "yesterday" in offer  # a run may straddle midnight
    assert NOTE in said


def test_reflection_names_whose_note_it_is_to_one_of_them_and_asks_first(tmp_path, env):
    _keep_a_note(tmp_path, env, "Sam,Alex")
    said, offered = _reflection(tmp_path, env, "Sam", "no\n")
    assert offered == ["notes_offer_others"]
    assert "Sam and Alex" in said.split("\n")[1]
    assert NOTE not in said
    said, _ = _reflection(tmp_path, env, "Sam", "yes\n")
    assert NOTE in said


def test_a_solo_note_is_offered_only_to_a_solo_check_in(tmp_path, env):
    _keep_a_note(tmp_path, env, None)
    [kept] = (tmp_path / "notes").iterdir()
    assert f"- People: {notes.NO_NAMES}" in kept.read_text()
    said, offered = _reflection(tmp_path, env, "Jo,Kim", "yes\n")
    assert offered == [] and NOTE not in said
    said, offered = _reflection(tmp_path, env, None, "yes\n")
    assert offered == ["notes_offer"] and NOTE in said


def test_an_old_note_without_names_still_lists_shows_and_reads(tmp_path, env):
    folder = tmp_path / "notes"
    folder.mkdir(mode=0o700)
    (folder / "20250304-210000-aftercare.md").write_text(OLD_FILE)
    listed = _run(tmp_path, env, ["notes", "list"], "")
    assert listed.returncode == 0 and "20250304-210000-aftercare" in listed.stdout and "1 note" in listed.stdout
    shown = _run(tmp_path, env, ["notes", "show", "20250304-210000-aftercare"], "")
    assert shown.returncode == 0 and shown.stdout == OLD_FILE
    said, offered = _reflection(tmp_path, env, "Jo,Kim", "yes\n")
    assert offered == ["notes_offer_others"]
    assert "an earlier check-in, on 4 March" in said.split("\n")[1]
    assert OLD_NOTE in said


# ---- the store, directly ---------------------------------------------------


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _keep(store: NotesStore, clock: Clock, when: datetime, people, text: str) -> None:
    clock.now = when
    store.begin_session("aftercare", people=people)
    store.add(text)


def test_earlier_notes_prefer_the_same_people_then_someone_present_then_unknown(tmp_path):
    clock = Clock(datetime(2026, 11, 26, 21, 0))  # a Thursday
    store = NotesStore(tmp_path / "n", now=clock)
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "20250304-210000-aftercare.md").write_text(OLD_FILE)
    _keep(store, clock, datetime(2026, 11, 20, 21, 0), ["Sam", "Alex"], "theirs, older")
    _keep(store, clock, datetime(2026, 11, 24, 22, 0), ["Sam", "Alex"], "theirs")
    _keep(store, clock, datetime(2026, 11, 25, 22, 0), ["Sam", "Jo"], "Sam and Jo's")
    _keep(store, clock, datetime(2026, 11, 26, 8, 0), ["Kim"], "Kim's")
    _keep(store, clock, datetime(2026, 11, 26, 9, 0), [], "solo")
    clock.now = datetime(2026, 11, 26, 21, 0)
    fresh = NotesStore(store.root, now=clock)
    assert fresh.earlier_notes(["Alex", "Sam"]) == EarlierNotes(("theirs",), True, "", "on Tuesday")
    assert fresh.earlier_notes(["Jo"]) == EarlierNotes(("Sam and Jo's",), False, "Sam and Jo", "yesterday")
    assert fresh.earlier_notes(["kim"]) == EarlierNotes(("Kim's",), True, "", "earlier today")
    assert fresh.earlier_notes([]) == EarlierNotes(("solo",), True, "", "earlier today")
    assert fresh.earlier_notes(["Lee"]) == EarlierNotes((OLD_NOTE,), False, "an earlier check-in",
                                                        "on 4 March 2025")
    (store.root / "20250304-210000-aftercare.md").unlink()
    assert fresh.earlier_notes(["Lee"]) == EarlierNotes()


def test_the_running_session_is_never_offered_back(tmp_path):
    clock = Clock(datetime(2026, 11, 26, 21, 0))
    store = NotesStore(tmp_path / "n", now=clock)
    store.begin_session("reflection", people=["Sam"])
    store.add("today's")
    assert store.earlier_notes(["Sam"]) == EarlierNotes()


@pytest.mark.parametrize("kept, expected", [
    ("2026-11-26 00:01", "earlier today"),
    ("2026-11-25 23:59", "yesterday"),
    ("2026-11-20 12:00", "on Friday"),
    ("2026-11-19 12:00", "on 19 November"),
    ("2025-12-31 12:00", "on 31 December 2025"),
    ("2026-11-27 12:00", ""),  # in the future: the clock was changed
    ("last week", ""),  # hand-edited
    ("", ""),
])
def test_when_a_note_was_kept_is_said_plainly(kept, expected):
    assert notes.spoken_when(kept, datetime(2026, 11, 26, 21, 0)) == expected


def test_an_unknown_day_leaves_no_dangling_comma():
    text = "This note is from {notes_from}, {notes_when}. Shall I read it?"
    assert render(text, Who(notes_from="Sam and Alex")) == "This note is from Sam and Alex. Shall I read it?"
    assert render(text, Who(notes_from="Sam and Alex", notes_when="on Tuesday")) == \
        "This note is from Sam and Alex, on Tuesday. Shall I read it?"


def test_people_line_reads_back_and_old_files_have_none():
    assert notes.parse_people(notes.render("d", "f", ["x"], ["Sam", "Alex", "Jo"])) == ("Sam", "Alex", "Jo")
    assert notes.parse_people(notes.render("d", "f", ["x"], [])) == ()
    assert notes.parse_people(OLD_FILE) is None
    assert notes.parse_people(notes.render("d", "f", ["- People: Sam"])) is None, "a note is not a header"
