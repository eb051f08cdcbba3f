"""A full disk or a read-only notes folder: the note is not kept, the person
is told so kindly, the check-in carries on, and nothing earlier is lost.

Mechanisms (each test prints the one it used):

- disk full: a real 64 KB tmpfs mounted for the test (needs root with
  CAP_SYS_ADMIN, as on the project machines and in CI containers run as
  root); where mounting is refused, a real per-process file-size limit
  (RLIMIT_FSIZE, the kernel then fails writes with EFBIG) in a child process.
  The RLIMIT_FSIZE variant also always runs on its own.
- read-only folder: as root, permission bits do not stop writes, so a tmpfs
  remounted read-only (EROFS); where mounting is refused and we are root, a
  child that drops to the ``nobody`` user in front of a 0500 folder; as a
  normal user, chmod 0500.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import resource
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from checkin_driver import CliCheckin, drive, make_engine, note_policy
from skill.storage.notes import NotesError, NotesStore

EARLIER = "the earlier note that must survive"
NEW = "a new note that cannot fit " + "x" * 2000


def _mount_tmpfs(where: Path, size: str = "64k") -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount") or os.environ.get("AFTERCARE_TEST_NO_MOUNT"):
        return False  # (the variable lets a developer exercise the fallbacks on a machine that can mount)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "64k"):
    mounted = _mount_tmpfs(where, size)
    try:
        yield mounted
    finally:
        if mounted:
            _umount(where)


def _fill(folder: Path) -> None:
    """Write filler until the file system says it is full."""
    for n in range(10_000):
        fd = os.open(folder / f"filler{n}", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * (4096 if n == 0 else 256))
        except OSError as error:
            assert error.errno == errno.ENOSPC
        finally:
            os.close(fd)
        if os.path.getsize(folder / f"filler{n}") == 0:
            return


@pytest.fixture
def public_tmp():
    """A folder the ``nobody`` user can reach (pytest's own tmp is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="aftercare-ro-"))
    os.chmod(base, 0o755)
    yield base
    subprocess.run(["umount", "-l", str(base / "disk")], capture_output=True) if os.geteuid() == 0 else None
    shutil.rmtree(base, ignore_errors=True)


def _keep_earlier(root: Path) -> tuple[NotesStore, bytes]:
    store = NotesStore(root)
    transcript = drive(make_engine("aftercare", seed=1, names=["Sam", "Alex"]), note_policy(EARLIER), store)
    assert transcript.notes_saved == 1 and transcript.end == "completed"
    [info] = store.list()
    return store, info.path.read_bytes()


def _assert_nothing_lost(root: Path, earlier_bytes: bytes) -> None:
    store = NotesStore(root)
    infos = store.list()
    assert len(infos) == 1, [i.session_id for i in infos]
    assert infos[0].path.read_bytes() == earlier_bytes
    assert store.earlier_notes(["Sam", "Alex"]).notes == (EARLIER,)
    assert not [n for n in os.listdir(root) if n.startswith(".")], "temporary files left behind"


def _session_survives_failed_note(root: Path) -> None:
    transcript = drive(make_engine("aftercare", seed=2, names=["Sam", "Alex"]), note_policy(NEW), NotesStore(root))
    assert transcript.notes_failed == 1 and transcript.notes_saved == 0
    assert transcript.end == "completed"  # the check-in went on to its warm close
    told = " ".join(transcript.failure_replies).lower()
    assert "couldn't keep" in told or "could not keep" in told or "wasn't able" in told, told


# --------------------------------------------------------------------------
# Disk full
# --------------------------------------------------------------------------


def _disk_full_with_fsize_limit(root: Path) -> None:
    """Run the failing session in a child whose files may not exceed 1 KB."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
            _session_survives_failed_note(root)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_disk_full_on_a_small_tmpfs(tmp_path, capsys):
    disk = tmp_path / "disk"
    with tmpfs(disk) as mounted:
        root = disk / "notes"
        _, earlier = _keep_earlier(root)
        if mounted:
            _fill(disk)
            with pytest.raises(NotesError) as caught:
                NotesStore(root).add(NEW)
            assert "No space left" in str(caught.value) and "\n" not in str(caught.value)
            _session_survives_failed_note(root)
            mechanism = "tmpfs size=64k, filled to ENOSPC"
        else:
            _disk_full_with_fsize_limit(root)
            mechanism = "RLIMIT_FSIZE=1024 (mounting a tmpfs was refused here)"
        _assert_nothing_lost(root, earlier)
    with capsys.disabled():
        print(f"\ndisk full simulated with: {mechanism}")


def test_disk_full_by_file_size_limit(tmp_path):
    root = tmp_path / "notes"
    _, earlier = _keep_earlier(root)
    _disk_full_with_fsize_limit(root)
    _assert_nothing_lost(root, earlier)


def test_full_disk_while_updating_a_session_keeps_its_earlier_note(tmp_path):
    disk = tmp_path / "disk"
    with tmpfs(disk) as mounted:
        root = disk / "notes"
        store = NotesStore(root)
        session = store.begin_session("aftercare")
        store.add(EARLIER)
        before = session.path.read_bytes()
        if mounted:
            _fill(disk)
            with pytest.raises(NotesError):
                store.add(NEW)
        else:  # the same fault through RLIMIT_FSIZE, in a child
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
                try:
                    store.add(NEW)
                    os._exit(1)
                except NotesError:
                    os._exit(0 if store.current.notes == [EARLIER] else 2)
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 0
        assert session.path.read_bytes() == before
        assert store.current.notes == [EARLIER]
        assert [n for n in os.listdir(root) if n.startswith(".")] == []


# --------------------------------------------------------------------------
# Read-only notes folder
# --------------------------------------------------------------------------


def _remount_ro(where: Path) -> bool:
    return subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True).returncode == 0


def _as_nobody(root: Path, check) -> None:
    """Run ``check(root)`` in a child that is the unprivileged ``nobody`` user."""
    nobody = pwd.getpwnam("nobody")
    for path in [root, *root.iterdir()]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chmod(root, 0o500)  # its parents are 0755 (see public_tmp); never touch anything above
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            check(root)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.chmod(root, 0o700)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _read_only_checks(root: Path) -> None:
    _session_survives_failed_note(root)
    store = NotesStore(root)
    with pytest.raises(NotesError) as caught:
        store.delete_all()
    assert "\n" not in str(caught.value)
    assert store.earlier_notes(["Sam", "Alex"]).notes == (EARLIER,)


def test_read_only_notes_folder(public_tmp, capsys):
    disk = public_tmp / "disk"
    with tmpfs(disk, "1m") as mounted:
        root = disk / "notes"
        _, earlier = _keep_earlier(root)
        if mounted and _remount_ro(disk):
            mechanism = "tmpfs remounted read-only (EROFS)"
            _read_only_checks(root)
        elif os.geteuid() == 0:
            mechanism = "folder mode 0500 owned by nobody, written by a child running as nobody"
            _as_nobody(root, _read_only_checks)
        else:
            mechanism = "chmod 0500 as a normal user"
            os.chmod(root, 0o500)
            try:
                _read_only_checks(root)
            finally:
                os.chmod(root, 0o700)
        _assert_nothing_lost(root, earlier)
    with capsys.disabled():
        print(f"\nread-only notes folder simulated with: {mechanism}")


def test_read_only_folder_for_the_unprivileged_user(public_tmp):
    """The permission path too, whatever the mount situation."""
    root = public_tmp / "notes"
    _, earlier = _keep_earlier(root)
    if os.geteuid() == 0:
        _as_nobody(root, _read_only_checks)
    else:
        os.chmod(root, 0o500)
        try:
            _read_only_checks(root)
        finally:
            os.chmod(root, 0o700)
    _assert_nothing_lost(root, earlier)


# --------------------------------------------------------------------------
# Through the real program
# --------------------------------------------------------------------------


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


def test_real_text_mode_says_it_could_not_keep_the_note_and_goes_on(tmp_path, capsys):
    disk = tmp_path / "disk"
    with tmpfs(disk, "1m") as mounted:
        root = disk / "notes"
        _, earlier = _keep_earlier(root)
        limit = None
        if mounted:
            assert _remount_ro(disk)
            mechanism = "read-only tmpfs"
        elif os.geteuid() == 0:
            limit = _limit_file_size  # root ignores mode bits: make the disk "full" instead
            mechanism = "RLIMIT_FSIZE"
        else:
            os.chmod(root, 0o500)
            mechanism = "chmod 0500"

        def answer(event: dict) -> str:
            if event["event"] == "pause":
                return ""
            if event.get("free_form"):
                return NEW
            return "yes" if "note" in (event.get("node") or "") else "skip"

        work = tmp_path / "work"
        work.mkdir()
        env = {"AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
        checkin = CliCheckin(work, ["--flow", "aftercare", "--seed", "4", "--names", "Sam,Alex",
                                    "--notes-dir", str(root)], env, preexec_fn=limit)
        done = checkin.run(answer)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert "couldn't keep that note" in done.stdout.lower() or "could not keep" in done.stdout.lower()
        assert {"event": "note", "action": "failed"} in [
            {k: e.get(k) for k in ("event", "action")} for e in checkin.events]
        assert [e["reason"] for e in checkin.events if e["event"] == "end"] == ["completed"]
        if not mounted:
            os.chmod(root, 0o700)
        _assert_nothing_lost(root, earlier)
    with capsys.disabled():
        print(f"\nreal text mode, note refused by: {mechanism}")
