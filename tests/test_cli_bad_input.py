"""Absurd command lines: one clear line, a non-zero exit, never a traceback.

Each case runs the real program (``run.py``) in a child process. Where
argparse itself rejects a value it prints its usage synopsis first; the test
then requires exactly one error line after it.
"""

from __future__ import annotations

import io
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "AFTERCARE_DATA_DIR": str(tmp_path / "data"),
            "AFTERCARE_CONFIG_DIR": str(tmp_path / "config")}


def _run(argv, env, stdin="") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *argv], input=stdin, text=True,
                          capture_output=True, env=env, timeout=60, cwd=ROOT)


def _error_lines(stderr: str) -> list[str]:
    """stderr without argparse's usage synopsis (which comes first, then indented lines)."""
    lines = stderr.splitlines()
    if lines and lines[0].startswith("usage:"):
        lines = lines[1:]
        while lines and lines[0].startswith(" "):
            lines = lines[1:]
    return [line for line in lines if line.strip()]


CASES = [
    # (argv, stdin, words the one line must contain)
    (["--text", "--rate", "-5"], "", ["--rate", "90", "220"]),
    (["--text", "--rate", "100000"], "", ["--rate"]),
    (["--text", "--rate", "fast"], "", ["--rate", "fast"]),
    (["--text", "--volume", "-1"], "", ["--volume"]),
    (["--text", "--volume", "99"], "", ["--volume"]),
    (["--text", "--flow", "nope"], "", ["--flow", "nope", "aftercare"]),
    (["--text", "--flow", "../../etc/passwd"], "", ["--flow"]),
    (["--text", "--setting", "kitchen"], "", ["--setting", "kitchen"]),
    (["--text", "--names", "Sam,{partner}"], "", ["--names"]),
    (["--text", "--names", "A,B,C,D,E,F,G,H,I"], "", ["--names", "8"]),
    (["--text", "--names", "Sam,sam"], "", ["--names", "twice"]),
    (["--text", "--safe-word", ""], "", ["--safe-word", "empty"]),
    (["--text", "--safe-word", "yes"], "", ["--safe-word"]),
    (["--text", "--safe-word", "please stop this right now"], "", ["--safe-word"]),
    (["--text", "--seed", "soon"], "", ["--seed"]),
    (["--text", "--input-device", "-2"], "", ["--input-device"]),
    (["--text", "--backend", "alexa"], "", ["--backend", "alexa"]),
    (["--text", "--config", "/nonexistent/config.yaml"], "", ["--config", "/nonexistent/config.yaml"]),
    (["--text", "--events", "/nonexistent/folder/events.jsonl"], "", ["--events", "/nonexistent"]),
    (["--frobnicate"], "", ["--frobnicate"]),
    (["notes", "show", "nope"], "", ["nope", "notes list"]),
    (["notes", "show", "../../etc/passwd"], "", ["notes list"]),
    (["notes", "delete"], "", ["--all"]),
    (["notes", "delete", "x", "--all"], "", ["--all"]),
    (["notes", "frobnicate"], "", ["frobnicate"]),
]


@pytest.mark.parametrize("argv, stdin, words", CASES, ids=[" ".join(c[0]) or "empty" for c in CASES])
def test_absurd_values_give_one_clear_line(env, argv, stdin, words):
    done = _run(argv, env, stdin)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = _error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_missing_dialogue_folder_is_reported_and_stops(env, tmp_path):
    done = _run(["--text", "--dialogs", str(tmp_path / "nowhere")], env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    first = done.stderr.splitlines()[0]
    assert str(tmp_path / "nowhere") in first and "not found" in first


def test_a_file_given_as_the_notes_folder(env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = _run(["notes", "list", "--notes-dir", str(blocker)], env)
    assert done.returncode == 1
    assert _error_lines(done.stderr) == [f"notes: could not read the notes in {blocker}: Not a directory"]


def test_bad_config_file_warns_and_the_check_in_still_runs(env, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.yaml").write_text("setting: kitchen\nrate: -3\n")
    done = _run(["--text", "--flow", "quick", "--seed", "1"], env, stdin="stop\n")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{config / 'config.yaml'}:1: setting must be one of" in done.stderr
    assert f"{config / 'config.yaml'}:2: rate must be from 90 to 220" in done.stderr


# ---- unreadable folders -------------------------------------------------------------


def _as_unprivileged(argv: list[str]) -> tuple[int, str]:
    """The real CLI in a process that permission bits apply to.

    As root (which ignores permission bits) a forked child drops to ``nobody``
    after the program is imported; as a normal user, a plain child process.
    """
    if os.geteuid() != 0:
        done = subprocess.run([sys.executable, str(ROOT / "run.py"), *argv], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
        return done.returncode, done.stderr
    # Everything the program imports lazily must be loaded before dropping
    # privileges: the interpreter's own files may be out of nobody's reach.
    import concurrent.futures  # noqa: F401

    from skill.shell import cli, textmode
    from skill.dialogue import engine, validate  # noqa: F401

    cli.build_parser()
    validate.load_checked(validate.default_dialogs_dir())

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.close(read_fd)
            os.dup2(write_fd, 2)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0, closefd=False), write_through=True)
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            code = cli.main(argv)
        finally:
            os._exit(code if isinstance(code, int) else 98)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        err = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status), err


@pytest.fixture
def locked(tmp_path):
    """A world-reachable parent holding a folder nobody but root may read."""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="aftercare-locked-"))
    os.chmod(base, 0o755)
    folder = base / "locked"
    folder.mkdir()
    (folder / "quick.yaml").write_text("version: 1\n")
    os.chmod(folder, 0o000)
    yield folder
    os.chmod(folder, 0o700)
    shutil.rmtree(base, ignore_errors=True)


def test_unreadable_notes_folder(locked, monkeypatch, tmp_path):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(locked.parent / "config"))
    code, err = _as_unprivileged(["notes", "list", "--notes-dir", str(locked)])
    assert code == 1
    assert "Traceback" not in err
    assert _error_lines(err) == [f"notes: could not read the notes in {locked}: Permission denied"]


def test_unreadable_dialogue_folder(locked, monkeypatch, tmp_path):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(locked.parent / "config"))
    code, err = _as_unprivileged(["--text", "--dialogs", str(locked)])
    assert code != 0
    assert "Traceback" not in err
    assert str(locked) in err.splitlines()[0]
