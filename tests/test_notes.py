"""NotesStore: only what was asked for, private, listable, deletable."""

from __future__ import annotations

import argparse
import io
import os
import stat
import subprocess
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skill.storage import atomic, notes
from skill.storage.notes import NotesError, NotesStore


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class Clock:
    """A clock that moves one minute per call, so sessions sort by time."""

    def __init__(self):
        self.now = datetime(2026, 11, 26, 21, 0, 0)

    def __call__(self):
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture(autouse=True)
def no_user_settings(tmp_path, monkeypatch):
    """Never read the real user's config.yaml."""
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def store(tmp_path):
    return NotesStore(tmp_path / "notes", now=Clock())


def test_beginning_a_session_writes_nothing(store):
    store.begin_session("aftercare")
    assert not store.root.exists()
    assert store.list() == []


def test_first_note_creates_private_folder_and_file(store):
    store.begin_session("aftercare")
    note_id = store.add("more blankets next time")
    files = os.listdir(store.root)
    assert len(files) == 1 and files[0].endswith("-aftercare.md")
    assert _mode(store.root) == 0o700
    assert _mode(store.root / files[0]) == 0o600
    assert note_id.endswith("#1")
    text = (store.root / files[0]).read_text()
    assert "- Date: 2026-11-26 21:01" in text
    assert "- Flow: aftercare" in text
    assert "- more blankets next time" in text


def test_file_holds_only_header_and_note_text(store):
    store.begin_session("quick")
    store.add("water and a snack")
    text = store.show(store.list()[0].session_id)
    assert text == notes.render("2026-11-26 21:01", "quick", ["water and a snack"])


def test_delete_last_forgets_only_the_last_note(store):
    session = store.begin_session("aftercare")
    store.add("first")
    store.add("second")
    assert store.delete_last() is True
    assert list(store.list()[0].notes) == ["first"]
    assert session.notes == ["first"]


def test_forgetting_the_only_note_removes_the_file(store):
    store.begin_session("aftercare")
    store.add("only one")
    store.delete_last()
    assert os.listdir(store.root) == []
    assert store.delete_last() is False


def test_note_text_becomes_one_line(store):
    store.begin_session("aftercare")
    store.add("  two\nlines\tand   spaces ")
    assert list(store.list()[0].notes) == ["two lines and spaces"]


def test_empty_note_is_refused(store):
    store.begin_session("aftercare")
    with pytest.raises(NotesError):
        store.add("   ")
    assert not store.root.exists()


def test_earlier_notes_skip_current_and_empty_sessions(store):
    store.begin_session("aftercare")
    store.add("a")
    store.add("b")
    store.begin_session("quick")  # kept nothing
    store.begin_session("reflection")
    assert store.earlier_notes([]).notes == ("a", "b")
    store.add("c")
    assert store.earlier_notes([]).notes == ("a", "b")
    assert NotesStore(store.root).earlier_notes([]).notes == ("c",)


def test_no_earlier_notes_gives_nothing(store):
    assert store.earlier_notes([]).notes == ()


def test_list_show_delete_and_delete_all(store):
    for flow in ("aftercare", "precare", "quick"):
        store.begin_session(flow)
        store.add(f"note for {flow}")
    ids = [info.session_id for info in store.list()]
    assert [i.split("-")[-1] for i in ids] == ["aftercare", "precare", "quick"]
    assert "note for precare" in store.show(ids[1])
    store.delete(ids[1])
    assert [info.session_id for info in store.list()] == [ids[0], ids[2]]
    assert store.delete_all() == 2
    assert store.list() == []
    assert os.listdir(store.root) == []


@pytest.mark.parametrize("bad", ["nope", "../etc/passwd", "", ".hidden", "a/b"])
def test_unknown_or_unsafe_ids_are_refused(store, bad):
    store.begin_session("quick")
    store.add("x")
    with pytest.raises(NotesError, match="no notes with id"):
        store.show(bad)
    with pytest.raises(NotesError):
        store.delete(bad)


def test_same_second_sessions_get_distinct_files(tmp_path):
    fixed = datetime(2026, 1, 1, 12, 0, 0)
    store = NotesStore(tmp_path, now=lambda: fixed)
    for _ in range(3):
        store.begin_session("quick")
        store.add("same second")
    assert len(store.list()) == 3


def test_existing_open_folder_is_tightened(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o755)
    store = NotesStore(folder)
    store.add("x")
    assert _mode(folder) == 0o700


def test_crash_leftovers_are_ignored_and_cleaned(store):
    """Stale temp files go: an old one of unknown origin, and one whose writer has
    exited. A fresh one of a running process (maybe a neighbour's save) stays."""
    store.root.mkdir(parents=True)
    old = store.root / ".20261126-210000-quick.md.abc.tmp"
    old.write_text("half a no")
    os.utime(old, (1, 1))
    child = subprocess.Popen(["true"])  # a real process id that no longer runs
    child.wait()
    dead_pid = child.pid
    ns = atomic.owner_tag().split("-")[0]
    dead = store.root / f".20261126-210001-quick.md.{ns}-{dead_pid}.abcd1234.tmp"
    dead.write_text("half a yes")
    live = store.root / f".20261126-210002-quick.md.{ns}-1.abcd1234.tmp"  # pid 1 always runs
    live.write_text("being written")
    fresh = store.root / ".20261126-210003-quick.md.xyz.tmp"
    fresh.write_text("unknown, young")
    assert store.list() == []
    store.begin_session("quick")
    store.add("x")
    assert not old.exists() and not dead.exists()
    assert live.exists() and fresh.exists()


def test_os_error_becomes_one_line_notes_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = NotesStore(blocker / "notes")
    store.begin_session("quick")
    with pytest.raises(NotesError) as caught:
        store.add("x")
    assert "\n" not in str(caught.value)
    assert str(blocker) in str(caught.value)
    assert store.current.notes == []


def test_unreadable_listing_is_a_notes_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotesError):
        NotesStore(blocker).list()


@given(st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=6))
@settings(max_examples=100, deadline=None)
def test_render_parse_round_trip(texts):
    cleaned = [notes.clean_note(t) for t in texts]
    cleaned = [c for c in cleaned if c]
    date, flow, parsed = notes.parse(notes.render("2026-11-26 21:00", "aftercare", cleaned))
    assert (date, flow, parsed) == ("2026-11-26 21:00", "aftercare", cleaned)


# ---- CLI ---------------------------------------------------------------------


def _cli(argv, root):
    parser = argparse.ArgumentParser(prog="aftercare")
    sub = parser.add_subparsers(dest="command")
    notes.register_cli(sub)
    args = parser.parse_args(argv + ["--notes-dir", str(root)])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_list_when_empty(tmp_path):
    code, out, err = _cli(["notes", "list"], tmp_path / "n")
    assert code == 0 and "No notes are kept" in out and str(tmp_path / "n") in out and err == ""


def test_cli_list_show_delete(store):
    store.begin_session("aftercare")
    store.add("keep the lamp on")
    store.add("tea")
    session_id = store.list()[0].session_id
    code, out, _ = _cli(["notes", "list"], store.root)
    assert code == 0 and session_id in out and "2 notes" in out
    code, out, _ = _cli(["notes", "show", session_id], store.root)
    assert code == 0 and "keep the lamp on" in out
    code, out, _ = _cli(["notes", "delete", session_id], store.root)
    assert code == 0 and store.list() == []


def test_cli_delete_all(store):
    for flow in ("quick", "aftercare"):
        store.begin_session(flow)
        store.add("x")
    code, out, _ = _cli(["notes", "delete", "--all", "--yes"], store.root)
    assert code == 0 and "2 sessions" in out and store.list() == []


@pytest.mark.parametrize("argv, code", [
    (["notes", "show", "nope"], 1),
    (["notes", "delete", "nope"], 1),
    (["notes", "delete"], 2),
    (["notes", "delete", "x", "--all"], 2),
])
def test_cli_bad_ids_give_one_line(tmp_path, argv, code):
    got, out, err = _cli(argv, tmp_path)
    assert got == code
    assert out == "" and len(err.strip().splitlines()) == 1


def test_cli_uses_the_notes_dir_from_the_settings_file(tmp_path, store):
    store.begin_session("quick")
    store.add("from the settings")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(f"notes_dir: {store.root}\n")
    parser = argparse.ArgumentParser(prog="aftercare")
    notes.register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["notes", "list"])
    out, err = io.StringIO(), io.StringIO()
    assert args.func(args, out=out, err=err) == 0
    assert "1 note" in out.getvalue() and err.getvalue() == ""


def test_escape_codes_in_a_hand_edited_note_are_never_read_back(tmp_path):
    """A note read back by the reflection flow (spoken or printed) is plain text."""
    root = tmp_path / "notes"
    root.mkdir()
    (root / "20260101-000000-aftercare.md").write_text(
        "# Aftercare notes\n\n- Date: 2026-01-01 00:00\n- Flow: aftercare\n\n## Notes\n\n"
        "- tea\x1b[2J\x1b]0;title\x07 later\u202e\n")
    store = NotesStore(root)
    assert store.earlier_notes([]).notes == ("tea [2J ]0;title later",)
