"""No copies of a note outside the notes: not in a temporary file left by a
signal, not in a core dump, and no half download left in the models folder.

Real processes, real signals, sent at a known instant: the program's save
hook (``save_hook.py``) holds a session inside its save, with the temporary
file holding the whole note on disk, until the test has sent its signal.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from checkin_driver import ROOT, default_signals, note_keeping_answers
from save_hook import SaveHook
from skill.storage import atomic
from skill.storage.notes import NotesStore

NOTE = "the private words of a note"


def _script(tmp_path: Path) -> list[str]:
    """Typed answers that keep one note in the aftercare check-in (recorded once)."""
    env = {"AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    return note_keeping_answers(tmp_path / "record", "aftercare", 3, NOTE, env)


def _session(tmp_path: Path, root: Path, hook: SaveHook, preexec=None) -> subprocess.Popen:
    answers = tmp_path / "answers.txt"
    answers.write_text("\n".join(_script(tmp_path)) + "\n")
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"),
           "AFTERCARE_DATA_DIR": str(tmp_path / "data"), **hook.env}
    with open(answers, "rb") as stdin:
        return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--text", "--flow", "aftercare",
                                 "--seed", "3", "--notes-dir", str(root)], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=tmp_path, text=True,
                                preexec_fn=default_signals(preexec))


def _paused_in_save(proc: subprocess.Popen, hook: SaveHook) -> Path:
    paused = hook.wait(1, [proc])
    assert paused, "the session should pause inside its save (test hook)"
    [(pid, temp)] = paused
    assert pid == proc.pid
    temp_path = Path(temp)
    assert NOTE in temp_path.read_text(), "the temporary file holds the whole note"
    return temp_path


def _hidden(root: Path) -> list[str]:
    return [n for n in os.listdir(root) if n.startswith(".")] if root.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_a_save_leaves_no_copy_of_the_note(tmp_path, sig):
    root = tmp_path / "notes"
    hook = SaveHook(tmp_path / "hook")
    proc = _session(tmp_path, root, hook)
    try:
        temp = _paused_in_save(proc, hook)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        hook.close()
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "Traceback" not in err
    assert not temp.exists()
    assert _hidden(root) == [], "a hidden temporary file with the note was left behind"
    assert NotesStore(root).list() == []  # the save did not finish, and nothing else holds the note


def _killed_in_save(tmp_path: Path, root: Path) -> Path:
    """A session killed (SIGKILL) inside its save; returns the temporary file it left."""
    hook = SaveHook(tmp_path / "hook")
    proc = _session(tmp_path, root, hook)
    try:
        temp = _paused_in_save(proc, hook)
        proc.kill()
        proc.wait(timeout=60)
    finally:
        hook.close()
    assert temp.exists()
    return temp


def test_a_killed_saves_temporary_file_is_swept_at_the_next_start(tmp_path):
    """SIGKILL cannot be handled; the next start of the program removes what it left."""
    root = tmp_path / "notes"
    temp = _killed_in_save(tmp_path, root)
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg")}
    listed = subprocess.run([sys.executable, str(ROOT / "run.py"), "notes", "list", "--notes-dir", str(root)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert not temp.exists() and _hidden(root) == []


def test_a_new_session_sweeps_a_killed_sessions_temporary_file(tmp_path):
    root = tmp_path / "notes"
    temp = _killed_in_save(tmp_path, root)
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "d")}
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "--text", "--flow", "quick", "--notes-dir",
                           str(root)], input="", capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not temp.exists() and _hidden(root) == []


# ---- core dumps -----------------------------------------------------------------


def _allow_core_dumps() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def test_a_crash_writes_no_core_dump(tmp_path):
    """Started with core dumps allowed (as a careless shell would), crashed
    while holding the note in memory: no core file, and the kernel says none
    was dumped."""
    if resource.getrlimit(resource.RLIMIT_CORE)[1] == 0:
        pytest.skip("this machine's hard limit forbids core dumps to every process, so none can be provoked")
    root = tmp_path / "notes"
    hook = SaveHook(tmp_path / "hook")
    proc = _session(tmp_path, root, hook, preexec=_allow_core_dumps)
    try:
        _paused_in_save(proc, hook)
        with open(f"/proc/{proc.pid}/limits", encoding="ascii") as limits:
            core = next(line for line in limits if line.startswith("Max core file size"))
        assert core.split()[4] == "0", core  # the soft limit, which the kernel obeys
        os.kill(proc.pid, signal.SIGSEGV)
        _, status = os.waitpid(proc.pid, 0)
        proc.returncode = -signal.SIGSEGV  # reaped here, so that the status keeps its core-dump bit
    finally:
        if proc.returncode is None:
            proc.kill()
        hook.close()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV
    assert not os.WCOREDUMP(status), "the kernel wrote a core dump"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("core")]


# ---- a download cut by a signal ------------------------------------------------------


class _StallingServer:
    """Sends the headers and half the body, then waits until told to go on."""

    def __init__(self, body: bytes) -> None:
        self.halfway = threading.Event()
        self.go_on = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    outer.halfway.set()
                    outer.go_on.wait(60)
                    self.wfile.write(body[len(body) // 2:])
                except OSError:
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.go_on.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_download_cut_by_a_signal_leaves_nothing(tmp_path, sig):
    body = os.urandom(300_000)
    server = _StallingServer(body)
    folder = tmp_path / "models"
    try:
        proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "models", "download", "--name", "m",
                                 "--url", server.url, "--sha256", hashlib.sha256(body).hexdigest(),
                                 "--models-dir", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=default_signals())
        assert server.halfway.wait(60), "the download never started"
        assert [p.name for p in folder.iterdir() if p.name.startswith(".download-")], "no partial file yet?"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        server.close()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "nothing was installed" in err
    assert list(folder.iterdir()) == []


def test_leftovers_of_killed_downloads_are_swept_at_the_next_start(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    ns = atomic.owner_tag().split("-")[0]
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = [folder / f".download-{ns}-{gone.pid}-abc.zip", folder / f".unpack-{ns}-{gone.pid}-abc"]
    dead[0].write_bytes(b"half a zip")
    dead[1].mkdir()
    (dead[1] / "am").mkdir()
    old = folder / ".download-k2j3h4.zip"  # made before names held the process id
    old.write_bytes(b"old")
    os.utime(old, (1, 1))
    live = folder / f".download-{ns}-1-abc.zip"  # pid 1 always runs: a download in progress
    live.write_bytes(b"in progress")
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg")}
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "models", "list", "--models-dir", str(folder)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == [live.name]
