"""Several sessions saving into one notes folder at the same moment: every
session told "kept" has its note on disk, and no session's clean-up ever
removes another session's save in progress.

Real processes and real files throughout. Sessions are lined up at a barrier
(a pipe, or the program's save hook, see ``save_hook.py``) so they really do
save at the same instant; nothing depends on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from datetime import datetime
from pathlib import Path

import pytest

from checkin_driver import ROOT, note_keeping_answers
from save_hook import SaveHook
from skill.storage import atomic, notes
from skill.storage.notes import NotesStore

SAME_SECOND = datetime(2026, 12, 2, 12, 0, 0)


def _all_notes(root: Path) -> list[str]:
    kept: list[str] = []
    for info in NotesStore(root).list():
        kept += info.notes
    return kept


def test_sessions_saving_in_the_same_second_all_keep_their_notes(tmp_path):
    """Forked sessions with the same clock (so the same file name), released
    together through a pipe, many rounds: none loses a note, none fails."""
    root = tmp_path / "notes"
    rounds, sessions = 20, 6
    expected: list[str] = []
    for round_no in range(rounds):
        read_fd, write_fd = os.pipe()
        pids = []
        for i in range(sessions):
            pid = os.fork()
            if pid == 0:  # a session: never returns into pytest
                code = 1
                try:
                    os.close(write_fd)
                    store = NotesStore(root, now=lambda: SAME_SECOND)
                    store.begin_session("aftercare")
                    os.read(read_fd, 1)  # the barrier: every session saves at once
                    store.add(f"round {round_no} session {i} first")
                    store.add(f"round {round_no} session {i} second")
                    code = 0
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)
            pids.append(pid)
        os.close(read_fd)
        os.write(write_fd, b"x" * sessions)
        os.close(write_fd)
        codes = [os.WEXITSTATUS(os.waitpid(pid, 0)[1]) for pid in pids]
        assert codes == [0] * sessions, f"round {round_no}: a session could not keep its note"
        expected += [f"round {round_no} session {i} {which}" for i in range(sessions) for which in ("first", "second")]
        assert sorted(_all_notes(root)) == sorted(expected), f"round {round_no}: a kept note is missing"
    files = [n for n in os.listdir(root) if n.endswith(".md")]
    assert len(files) == rounds * sessions
    assert not [n for n in os.listdir(root) if atomic.is_temp_name(n)]
    print(f"\n{rounds} rounds x {sessions} sessions in the same second: {len(files)} files, "
          f"{len(expected)} notes, none lost")


# --------------------------------------------------------------------------
# The real program: several `run.py --text` sessions on one folder
# --------------------------------------------------------------------------


def _script(tmp_path: Path, flow: str, seed: int) -> list[str]:
    """The typed answers that keep one note in ``flow`` (recorded once, turn by turn);
    the note is the placeholder "NOTE", replaced by each session's own."""
    env = {"AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    answers = note_keeping_answers(tmp_path / "record", flow, seed, "NOTE", env)
    assert _all_notes(tmp_path / "record" / "notes") == ["NOTE"], "the recorded answers should keep exactly one note"
    return answers


def _start(root: Path, script: list[str], note: str, seed: int, env: dict[str, str]) -> subprocess.Popen:
    argv = [sys.executable, str(ROOT / "run.py"), "--text", "--flow", "aftercare", "--seed", str(seed),
            "--notes-dir", str(root)]
    answers = root.parent / f"answers-{abs(hash(note))}.txt"
    answers.write_text("\n".join(note if a == "NOTE" else a for a in script) + "\n")
    with open(answers, "rb") as stdin:
        return subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **env}, text=True)


def _told_kept(stdout: str) -> bool:
    return "kept" in stdout.lower() and "couldn't keep" not in stdout.lower()


@pytest.mark.slow
def test_real_sessions_saving_together_keep_every_note(tmp_path):
    """Four real text sessions per round, all paused inside their save and
    released together, five rounds: every session says it kept the note, and
    every note is on disk."""
    script = _script(tmp_path, "aftercare", seed=3)
    root = tmp_path / "shared-notes"
    env = {"AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    rounds, sessions = 5, 4
    expected: list[str] = []
    for round_no in range(rounds):
        hook = SaveHook(tmp_path / f"hook{round_no}")
        procs = [_start(root, script, f"round {round_no} person {i}", 3, {**env, **hook.env})
                 for i in range(sessions)]
        try:
            paused = hook.wait(sessions, procs)
            assert len(paused) == sessions, "every session should pause inside its save (test hook)"
            hook.release(sessions)
            results = [p.communicate(timeout=60) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            hook.close()
        for p, (out, err) in zip(procs, results):
            assert p.returncode == 0, err
            assert _told_kept(out), out
        expected += [f"round {round_no} person {i}" for i in range(sessions)]
        assert sorted(_all_notes(root)) == sorted(expected), f"round {round_no}: a kept note is missing"
    assert not [n for n in os.listdir(root) if atomic.is_temp_name(n)]


def test_a_neighbours_clean_up_never_removes_a_save_in_progress(tmp_path):
    """Session A is paused inside its save (its temporary file written); session
    B starts, keeps a note and ends; then A goes on: A's note is kept too."""
    script = _script(tmp_path, "aftercare", seed=3)
    root = tmp_path / "shared-notes"
    env = {"AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    hook = SaveHook(tmp_path / "hook")
    first = _start(root, script, "the first person's note", 3, {**env, **hook.env})
    try:
        [(pid, temp)] = hook.wait(1, [first])
        assert pid == first.pid and Path(temp).exists()
        second = _start(root, script, "the second person's note", 3, env)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0 and _told_kept(out), err
        assert Path(temp).exists(), "the second session removed the first one's save in progress"
        hook.release()
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
        hook.close()
    assert first.returncode == 0 and _told_kept(out), err
    assert sorted(_all_notes(root)) == ["the first person's note", "the second person's note"]
    assert not [n for n in os.listdir(root) if atomic.is_temp_name(n)]
    assert notes.NotesStore(root).scan()[1] == []
