"""SIGKILL at random instants while notes are being saved never tears a file.

A child process keeps one session's notes file busy (adding notes of varying
size, sometimes forgetting the last one), announcing on a pipe the SHA-256 of
each version just *before* it writes it. The parent kills it with SIGKILL after
a random short delay, 200+ times in a row on the same folder, and after every
kill finds the notes file either absent, the version it held before that
child started, or one of the complete versions the child announced: never
anything else. Leftover temporary files are allowed only as hidden ``.tmp``
files, which the store ignores when listing and removes on its next write.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time

import pytest

from skill.storage import atomic, notes
from skill.storage.notes import NotesSession, NotesStore

KILLS = 220
SESSION_ID = "20260101-000000-crash"
FLOW = "aftercare"
DATE = "2026-01-01 00:00"


def _note(k: int, rng: random.Random) -> str:
    """A self-checking note: its body is derived from its number and length."""
    size = rng.choice([10, 200, 1_500, 3_900])  # under notes.MAX_NOTE_CHARS
    body = hashlib.sha256(str(k).encode()).hexdigest() * (size // 64 + 1)
    return f"n{k}:{size}:{body[:size]}:end"


def _well_formed(note: str) -> bool:
    try:
        head, size, body, tail = note.split(":")
        k = int(head[1:])
        return (tail == "end" and len(body) == int(size)
                and body == (hashlib.sha256(str(k).encode()).hexdigest() * (int(size) // 64 + 1))[: int(size)])
    except ValueError:
        return False


def _digest(text: str | None) -> str:
    return "absent" if text is None else hashlib.sha256(text.encode()).hexdigest()


def _child(root: str, seed: int, pipe_w: int) -> None:
    """Edit the one session file forever (until killed)."""
    rng = random.Random(seed)
    store = NotesStore(root)
    path = store.root / f"{SESSION_ID}.md"
    existing = notes.parse(path.read_text())[2] if path.exists() else []
    session = NotesSession(store, SESSION_ID, FLOW, DATE, list(existing), written=bool(existing))
    store.current = session
    k = seed * 1000
    while True:
        if len(session.notes) < 3 or (len(session.notes) < 40 and rng.random() < 0.7):
            k += 1
            text = _note(k, rng)
            after = session.notes + [text]
            os.write(pipe_w, (_digest(notes.render(DATE, FLOW, after)) + "\n").encode())
            session.add(text)
        else:
            after = session.notes[:-1]
            upcoming = notes.render(DATE, FLOW, after) if after else None
            os.write(pipe_w, (_digest(upcoming) + "\n").encode())
            session.delete_last()


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            return b"".join(chunks).decode()
        chunks.append(data)


@pytest.mark.slow
def test_sigkill_during_note_saving_never_tears_a_file(tmp_path):
    root = tmp_path / "notes"
    path = root / f"{SESSION_ID}.md"
    rng = random.Random(20261126)
    stats = {"kills": 0, "absent": 0, "old": 0, "new": 0, "temp_left": 0, "versions": set()}
    for round_no in range(1, KILLS + 1):
        before = path.read_text() if path.exists() else None
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns into pytest
            try:
                os.close(read_fd)
                _child(str(root), round_no, write_fd)
            finally:
                os._exit(0)
        os.close(write_fd)
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        announced = set(_read_all(read_fd).split())
        os.close(read_fd)
        stats["kills"] += 1

        after = path.read_text() if path.exists() else None
        digest = _digest(after)
        assert digest == _digest(before) or digest in announced, f"torn or unknown file after kill {round_no}"
        if after is None:
            stats["absent"] += 1
        else:
            date, flow, kept = notes.parse(after)
            assert (date, flow) == (DATE, FLOW)
            assert all(_well_formed(n) for n in kept)
            assert after == notes.render(DATE, FLOW, kept)
            stats["versions"].add(digest)
            stats["old" if digest == _digest(before) else "new"] += 1
        if root.exists():
            leftovers = [n for n in os.listdir(root) if atomic.is_temp_name(n)]
            stats["temp_left"] += bool(leftovers)
            assert [n for n in os.listdir(root) if not atomic.is_temp_name(n)] in ([], [path.name])
            listed = NotesStore(root).list()
            assert [i.session_id for i in listed] == ([SESSION_ID] if after is not None else [])

    print(f"\ncrash safety: {stats['kills']} SIGKILLs; file absent {stats['absent']}, old version "
          f"{stats['old']}, new complete version {stats['new']}; killed mid-write (temp file left) "
          f"{stats['temp_left']}; {len(stats['versions'])} distinct versions seen; torn files 0")
    assert stats["kills"] >= 200
    assert stats["temp_left"] >= 10, "kills should land inside the write window"
    assert stats["new"] >= 50
    # The next write of a fresh store sweeps the leftovers away.
    store = NotesStore(root)
    store.begin_session("quick")
    store.add("after the storm")
    assert not [n for n in os.listdir(root) if atomic.is_temp_name(n)]
