"""The ``--events FILE`` log holds what was said, so it is opened privately:
0600 whatever the umask, never through a symbolic link, never into a file
owned by someone else, never into a device; a pipe and ``-`` still work.
Every refusal is one line, exit code 2, and nothing is written anywhere.

Each test runs the real program (``run.py --text``) as a child process.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from checkin_driver import ROOT

SECRET = "I feel awful and ashamed"


def _run(tmp_path: Path, events: str, umask: int = 0o022, stdin: str = f"{SECRET}\n"):
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"),
           "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "--text", "--flow", "quick", "--seed", "1",
                           "--no-notes", "--events", events], input=stdin, capture_output=True, text=True,
                          env=env, cwd=tmp_path, preexec_fn=lambda: os.umask(umask), timeout=60)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _one_refusal(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("--events:"), done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert SECRET not in done.stdout


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_new_event_log_is_private_whatever_the_umask(tmp_path, umask):
    log = tmp_path / "ev.jsonl"
    done = _run(tmp_path, str(log), umask)
    assert done.returncode == 0, done.stderr
    assert _mode(log) == 0o600
    assert SECRET in log.read_text()  # it does hold what was typed: hence the care


def test_an_existing_own_log_is_truncated_and_tightened(tmp_path):
    log = tmp_path / "ev.jsonl"
    log.write_text("old contents\n" * 100)
    os.chmod(log, 0o644)
    done = _run(tmp_path, str(log))
    assert done.returncode == 0, done.stderr
    assert _mode(log) == 0o600
    assert "old contents" not in log.read_text()
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    important = tmp_path / "important"
    important.write_text("precious\n")
    os.chmod(important, 0o644)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "ev.jsonl").symlink_to(important)
    done = _run(tmp_path, str(shared / "ev.jsonl"))
    _one_refusal(done, "symbolic link")
    assert important.read_text() == "precious\n"
    assert _mode(important) == 0o644


def test_a_dangling_symlink_is_refused_and_nothing_is_created(tmp_path):
    (tmp_path / "ev.jsonl").symlink_to(tmp_path / "would-be-created")
    done = _run(tmp_path, str(tmp_path / "ev.jsonl"))
    _one_refusal(done, "symbolic link")
    assert not (tmp_path / "would-be-created").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user; CI runs as root")
def test_a_file_owned_by_another_user_is_refused(tmp_path):
    """Another user made the file beforehand, world-readable, to read what is said."""
    nobody = pwd.getpwnam("nobody")
    trap = tmp_path / "ev.jsonl"
    trap.write_text("")
    os.chown(trap, nobody.pw_uid, nobody.pw_gid)
    os.chmod(trap, 0o666)
    done = _run(tmp_path, str(trap))
    _one_refusal(done, "another user")
    assert trap.read_text() == ""
    assert os.stat(trap).st_uid == nobody.pw_uid


def test_a_device_is_refused(tmp_path):
    done = _run(tmp_path, "/dev/null")
    _one_refusal(done, "not a regular file")


def test_a_pipe_still_works(tmp_path):
    fifo = tmp_path / "ev.fifo"
    os.mkfifo(fifo, 0o600)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    done = _run(tmp_path, str(fifo))
    reader.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert SECRET in got[0].decode()


def test_dash_still_means_standard_output(tmp_path):
    done = _run(tmp_path, "-")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert any(r.get("text") == SECRET for r in records)


def test_the_spoken_check_in_refuses_the_same_way_before_opening_any_device(tmp_path):
    important = tmp_path / "important"
    important.write_text("precious\n")
    (tmp_path / "ev.jsonl").symlink_to(important)
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "--flow", "quick", "--events",
                           str(tmp_path / "ev.jsonl")], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    _one_refusal(done, "symbolic link")
    assert important.read_text() == "precious\n"
