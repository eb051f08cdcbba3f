"""Atomic replacement: the new file complete, private, and no debris on failure."""

from __future__ import annotations

import os
import stat

import pytest

from skill.storage import atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_creates_private_file_with_exact_content(tmp_path):
    target = tmp_path / "a.md"
    atomic.write_text(target, "hello\nthere\n")
    assert target.read_text() == "hello\nthere\n"
    assert _mode(target) == 0o600
    assert os.listdir(tmp_path) == ["a.md"]


def test_replace_keeps_only_new_content_and_no_temp(tmp_path):
    target = tmp_path / "a.md"
    atomic.write_text(target, "old " * 1000)
    atomic.write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["a.md"]


def test_existing_loose_mode_is_replaced_by_0600(tmp_path):
    target = tmp_path / "a.md"
    target.write_text("old")
    os.chmod(target, 0o644)
    atomic.write_text(target, "new")
    assert _mode(target) == 0o600


def test_failed_rename_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "a.md"
    atomic.write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic.write_text(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.md"]


def test_temp_file_is_made_in_the_target_folder(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.dirname(src))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    atomic.write_text(tmp_path / "x.md", "x")
    assert seen == [str(tmp_path)]


def test_temp_names_are_recognisable():
    assert atomic.is_temp_name(".note.md.abc123.tmp")
    assert not atomic.is_temp_name("note.md")
    assert not atomic.is_temp_name(".hidden.md")


def test_remove_is_quiet_for_missing_files(tmp_path):
    atomic.remove(tmp_path / "missing")
    (tmp_path / "x").write_text("x")
    atomic.remove(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_folder_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        atomic.write_text(tmp_path / "nope" / "x.md", "x")


def test_write_new_never_replaces_an_existing_file(tmp_path):
    target = tmp_path / "a.md"
    atomic.write_new_bytes(target, b"first")
    with pytest.raises(FileExistsError):
        atomic.write_new_bytes(target, b"second")
    assert target.read_bytes() == b"first"
    assert _mode(target) == 0o600
    assert os.listdir(tmp_path) == ["a.md"]  # no temporary file left either way


def test_temp_names_carry_the_writer_and_only_dead_ones_are_stale(tmp_path):
    name = atomic.temp_name("a.md")
    assert atomic.is_temp_name(name) and f".{atomic.owner_tag()}." in name
    (tmp_path / name).write_text("ours, not in progress")
    neighbour = f".a.md.{atomic.owner_tag().split('-')[0]}-1.abcd.tmp"  # pid 1 always runs
    (tmp_path / neighbour).write_text("a running process's save")
    assert atomic.sweep(tmp_path) == 1
    assert os.listdir(tmp_path) == [neighbour]
    os.utime(tmp_path / neighbour, (1, 1))  # ... unless it is far older than any save takes
    assert atomic.sweep(tmp_path) == 1 and os.listdir(tmp_path) == []
