"""Soak: 1,000 complete check-ins back to back in one process.

Every flow, every setting, solo / one name / two / three people, notes on
and off, two safe words, random answers drawn from what each node listens
for plus silence, noise and the odd command. Each session runs the real
engine exactly as text mode does (notes kept in a real NotesStore). No
exception, no dead end, and memory growth across the run stays under 5 MB
(measured with tracemalloc after a warm-up; RSS is printed too).
"""

from __future__ import annotations

import collections
import gc
import os
import shutil
import tempfile
from pathlib import Path
import random
import tracemalloc

import psutil
import pytest

from checkin_driver import FLOWS, drive, make_engine, random_policy
from skill.dialogue.conditions import SETTINGS
from skill.storage.notes import NotesStore

SESSIONS = 1000
WARM_UP = 24
LIMIT = 5 * 1024 * 1024
PEOPLE = ([], ["Sam"], ["Sam", "Alex"], ["Sam", "Alex", "Kim"])


def _one(i: int, rng: random.Random, root) -> tuple[str, str]:
    flow = FLOWS[i % len(FLOWS)]
    setting = SETTINGS[(i // len(FLOWS)) % len(SETTINGS)]
    names = PEOPLE[(i // 16) % len(PEOPLE)]
    notes_on = (i // 64) % 2 == 0
    safe_word = "red" if i % 3 else "pineapple"
    store = NotesStore(root) if notes_on else None
    last = list(store.earlier_notes(names).notes) if store else []
    if store:
        store.begin_session(flow)
    engine = make_engine(flow, seed=i, names=list(names), setting=setting, safe_word=safe_word,
                         notes_enabled=notes_on, last_notes=last)
    transcript = drive(engine, random_policy(rng), store, max_turns=3000)
    assert transcript.end in {"completed", "stopped", "safe_word", "not_ready", "no_response"}, transcript.end
    assert engine.finished
    return flow, transcript.end


@pytest.fixture
def notes_root(tmp_path):
    """Notes on a RAM file system when there is one: fsync on this VM's disk
    costs ~50 ms and durability is what test_crash_safety is for; here the
    subject is the engine and the store's bookkeeping over many sessions."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        base = Path(tempfile.mkdtemp(prefix="aftercare-soak-", dir="/dev/shm"))
        yield base / "notes"
        shutil.rmtree(base, ignore_errors=True)
    else:
        yield tmp_path / "notes"


@pytest.mark.slow
def test_a_thousand_checkins_in_one_process(notes_root, capsys):
    rng = random.Random(5)
    root = notes_root
    for i in range(WARM_UP):  # let caches (matcher, normalizer, regexes) fill first
        _one(10_000 + i, rng, root)
    gc.collect()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]

    ends: collections.Counter = collections.Counter()
    per_flow: collections.Counter = collections.Counter()
    completed: collections.Counter = collections.Counter()
    for i in range(SESSIONS):
        flow, end = _one(i, rng, root)
        ends[end] += 1
        per_flow[flow] += 1
        completed[flow] += end == "completed"

    gc.collect()
    traced_after, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = process.memory_info().rss
    growth = traced_after - traced_before
    with capsys.disabled():
        print(f"\nsoak: {SESSIONS} check-ins, ends {dict(ends)}, flows {dict(per_flow)}; "
              f"memory growth {growth / 1024:.1f} KiB (tracemalloc; peak {traced_peak / 1024 / 1024:.1f} MiB), "
              f"RSS {rss_before / 1024 / 1024:.1f} -> {rss_after / 1024 / 1024:.1f} MiB "
              f"({(rss_after - rss_before) / 1024:.0f} KiB)")
    assert sum(ends.values()) == SESSIONS
    assert set(per_flow) == set(FLOWS)
    # Random answers often lead into support, where "leave it for today" ends as
    # "stopped"; still, every flow must have been walked to its warm close many times.
    assert all(completed[flow] >= 10 for flow in FLOWS), dict(completed)
    assert growth < LIMIT, f"memory grew by {growth} bytes"
    assert len(NotesStore(root).list()) > 0, "some sessions should have kept a note"
