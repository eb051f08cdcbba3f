"""``notes list`` and ``notes delete --all`` on a folder with odd entries, a
symlinked notes folder, escape codes in notes, and a failed save that says
why. Every test runs the real CLI in a child process on real files.

``delete --all`` handles what it can and names what it could not; one bad
entry (a dangling symlink, an unreadable file, a folder) never protects the
real notes around it.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from checkin_driver import ROOT, CliCheckin
from skill.storage.notes import NotesStore

NOTES = ["keep the lamp on", "tea afterwards", "more blankets"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"),
            "AFTERCARE_DATA_DIR": str(tmp_path / "data")}


def _cli(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *argv], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=60)


def _keep(root: Path, texts=NOTES) -> None:
    for i, text in enumerate(texts):
        store = NotesStore(root)
        store.begin_session(f"flow{i}")
        store.add(text)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_dangling_symlink_does_not_stop_delete_all_or_list(tmp_path):
    root = tmp_path / "notes"
    _keep(root)
    (root / "zz.md").symlink_to("/nonexistent")
    listed = _cli(tmp_path, "notes", "list", "--notes-dir", str(root))
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert len(_lines(listed.stdout)) == 3  # every real session is listed
    assert _lines(listed.stderr) == ["notes: not listed: zz.md: a symbolic link, not a notes file"]
    done = _cli(tmp_path, "notes", "delete", "--all", "--yes", "--notes-dir", str(root))
    assert done.returncode == 0, done.stderr
    assert "3 sessions" in done.stdout
    assert os.listdir(root) == []  # the link went too (never its target)


def test_a_folder_named_like_a_note_is_named_and_the_rest_deleted(tmp_path):
    root = tmp_path / "notes"
    _keep(root)
    (root / "odd.md").mkdir()
    done = _cli(tmp_path, "notes", "delete", "--all", "--yes", "--notes-dir", str(root))
    assert done.returncode == 1
    [line] = _lines(done.stderr)
    assert line.startswith("notes: deleted 3 sessions, but could not delete: odd.md (a folder")
    assert os.listdir(root) == ["odd.md"]


def test_a_pipe_or_a_huge_file_named_like_a_note_never_hangs_list(tmp_path):
    root = tmp_path / "notes"
    _keep(root)
    os.mkfifo(root / "pipe.md", 0o600)  # reading it would wait for a writer for ever
    with open(root / "huge.md", "wb") as f:
        f.truncate(5 * 1024 * 1024 * 1024)  # 5 GB (sparse): more than a notes file can be
    listed = _cli(tmp_path, "notes", "list", "--notes-dir", str(root))
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert len(_lines(listed.stdout)) == 3
    assert sorted(_lines(listed.stderr)) == [
        "notes: not listed: huge.md: is 5242880 KB, more than the 4096 KB allowed; is it the right file?",
        "notes: not listed: pipe.md: is not a regular file (a pipe or a device?)"]
    done = _cli(tmp_path, "notes", "delete", "--all", "--yes", "--notes-dir", str(root))
    assert done.returncode == 0 and os.listdir(root) == []


# ---- an unreadable note: permission bits need a non-root process ------------


def _as_owner_of(root: Path, argv: list[str], tmp_path: Path) -> tuple[int, str, str]:
    """The real CLI in a process that permission bits apply to (as root: a child
    that drops to ``nobody``, who owns ``root``; otherwise a plain child)."""
    if os.geteuid() != 0:
        done = _cli(tmp_path, *argv)
        return done.returncode, done.stdout, done.stderr
    from skill.shell import cli
    from skill.storage import config  # noqa: F401  (imported before dropping privileges)

    cli.build_parser()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0, closefd=False), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0, closefd=False), write_through=True)
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.environ["AFTERCARE_CONFIG_DIR"] = str(root.parent / "cfg")
            code = cli.main(argv)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code if isinstance(code, int) else 98)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r) as out_pipe, os.fdopen(err_r) as err_pipe:
        _, status = os.waitpid(pid, 0)
        return os.WEXITSTATUS(status), out_pipe.read(), err_pipe.read()


@pytest.fixture
def shared_root():
    """A notes folder in a world-reachable place (pytest's tmp is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="aftercare-notes-"))
    os.chmod(base, 0o755)
    yield base / "notes"
    shutil.rmtree(base, ignore_errors=True)


def _unreadable_note(root: Path) -> None:
    _keep(root)
    bad = root / "20260101-000000-hand-edited.md"
    bad.write_text("# Aftercare notes\n\n## Notes\n\n- private\n")
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in [root, *root.iterdir()]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chmod(bad, 0o000)


def test_an_unreadable_note_is_named_by_list_and_still_deleted(shared_root, tmp_path):
    _unreadable_note(shared_root)
    code, out, err = _as_owner_of(shared_root, ["notes", "list", "--notes-dir", str(shared_root)], tmp_path)
    assert code == 1 and "Traceback" not in err, err
    assert len(_lines(out)) == 3
    assert _lines(err) == ["notes: not listed: 20260101-000000-hand-edited.md: could not be read: "
                           "Permission denied"]
    code, out, err = _as_owner_of(shared_root, ["notes", "delete", "--all", "--yes", "--notes-dir", str(shared_root)],
                                  tmp_path)
    assert code == 0, err
    assert "4 sessions" in out
    assert os.listdir(shared_root) == []


# ---- the notes folder itself -------------------------------------------------


def test_a_symlinked_notes_folder_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.chmod(target, 0o755)
    (target / "someone-elses.md").write_text("# not a note\n")
    link = tmp_path / "notes"
    link.symlink_to(target)
    for argv in (["notes", "list"], ["notes", "delete", "--all", "--yes"]):
        done = _cli(tmp_path, *argv, "--notes-dir", str(link))
        assert done.returncode == 1
        [line] = _lines(done.stderr)
        assert "is a symbolic link" in line and str(target) in line, line
    assert (target / "someone-elses.md").exists()
    assert os.stat(target).st_mode & 0o777 == 0o755  # never chmod-ed through the link
    # A check-in told to keep a note there says it could not, and why.
    store = NotesStore(link)
    store.begin_session("quick")
    with pytest.raises(Exception, match="symbolic link"):
        store.add("x")
    assert os.listdir(target) == ["someone-elses.md"]


# ---- escape codes never reach the terminal ------------------------------------

ESC = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"


def test_escape_codes_in_notes_and_notes_dir_are_shown_harmlessly(tmp_path):
    """In ``list`` (and when read back in a check-in) they become spaces, as in
    typed input; ``show`` prints the file as it is, with each one visible as
    ``\\x1b``; a folder name holding one is shown the same way."""
    root = tmp_path / f"notes{ESC}"
    root.mkdir()
    (root / "20260101-000000-quick.md").write_text(
        f"# Aftercare notes\n\n- Date: 2026{ESC}\n- Flow: quick{ESC}\n\n## Notes\n\n- hello{ESC} there\n")
    listed = _cli(tmp_path, "notes", "list", "--notes-dir", str(root))
    shown = _cli(tmp_path, "notes", "show", "20260101-000000-quick", "--notes-dir", str(root))
    empty = tmp_path / f"empty{ESC}"
    none = _cli(tmp_path, "notes", "list", "--notes-dir", str(empty))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.yaml").write_text(f'notes_dir: "{empty}"\n'.replace("\x1b", "\\e")
                                                  .replace("\x07", "\\a"))
    configured = _cli(tmp_path, "notes", "list")
    for done in (listed, shown, none, configured):
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout + done.stderr
    assert "20260101-000000-quick" in listed.stdout and "1 note" in listed.stdout
    assert "hello\\x1b" in shown.stdout and "\\x1b" in none.stdout
    assert "\\x1b" in configured.stdout and "No notes are kept" in configured.stdout


# ---- a failed save says why ----------------------------------------------------


def _keep_a_note_in(tmp_path: Path, root: Path, preexec=None) -> subprocess.CompletedProcess:
    def answer(event: dict) -> str:
        if event["event"] == "pause":
            return ""
        if event.get("free_form"):
            return "a note that cannot be kept"
        return "yes" if "note" in (event.get("node") or "") else "skip"

    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = {"AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    return CliCheckin(work, ["--flow", "aftercare", "--seed", "4", "--notes-dir", str(root)], env,
                      preexec_fn=preexec).run(answer)


def _limit_file_size() -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


def test_a_failed_save_says_why_in_one_line(tmp_path):
    """The disk refuses the write (a real file-size limit: EFBIG, what a full
    disk looks like to one process); the warning names the folder and the reason."""
    root = tmp_path / "notes"
    done = _keep_a_note_in(tmp_path, root, _limit_file_size)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "could not keep" in line]
    assert len(warnings) == 1, done.stderr
    assert str(root) in warnings[0] and "larger than this system allows" in warnings[0], warnings[0]
    assert "NotesError" not in done.stderr and "a note that cannot be kept" not in done.stderr


def test_a_failed_save_in_a_folder_that_is_a_file_says_why(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = _keep_a_note_in(tmp_path, blocker / "notes")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "could not keep" in line]
    assert len(warnings) == 1 and "Not a directory" in warnings[0], done.stderr
