"""Text mode end to end through the real CLI: typing, events, Ctrl-C, EOF, closed pipes, odd input."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from checkin_driver import default_signals
from skill.shell.textmode import MAX_LINE, WAITING, read_line

ROOT = Path(__file__).resolve().parent.parent
QUICK_OK = "I'm okay\npretty good thanks\nsome water\nno\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["AFTERCARE_DATA_DIR"] = str(tmp_path / "data")
    e["AFTERCARE_CONFIG_DIR"] = str(tmp_path / "config")
    e.pop("PYTHONWARNINGS", None)
    return e


def run(env, *args: str, stdin: bytes | str = b"", module: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "skill", *args] if module else [sys.executable, str(ROOT / "run.py"), *args]
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(cmd, input=data, capture_output=True, env=env, cwd=ROOT, timeout=120)


def out(r) -> str:
    return r.stdout.decode("utf-8", errors="replace")


def err(r) -> str:
    return r.stderr.decode("utf-8", errors="replace")


def test_quick_check_in_typed(env):
    r = run(env, "--text", "--flow", "quick", "--names", "Sam,Alex", "--seed", "1", stdin=QUICK_OK)
    assert r.returncode == 0, err(r)
    text = out(r)
    assert "Sam," in text and "Alex," in text
    assert "Traceback" not in err(r)
    assert text.strip().splitlines()[-1].startswith(("Thank you", "That's it"))


def test_events_file_shows_every_turn(env, tmp_path):
    events = tmp_path / "events.jsonl"
    r = run(env, "--text", "--flow", "quick", "--names", "Sam,Alex", "--seed", "1", "--events", str(events),
            stdin=QUICK_OK)
    assert r.returncode == 0, err(r)
    records = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = [rec["event"] for rec in records]
    assert {"node", "say", "listen", "heard", "end"} <= set(kinds)
    heard = [rec for rec in records if rec["event"] == "heard"]
    assert [h["text"] for h in heard] == QUICK_OK.splitlines()
    assert heard[0]["intent"] == "okay" and heard[0]["kind"] == "intent" and heard[0]["score"] > 0
    assert heard[2]["intent"] == "water"
    assert records[-1] == {"seq": len(records), "event": "end", "reason": "completed"}
    assert all(rec["seq"] == i for i, rec in enumerate(records, 1))
    says = [rec for rec in records if rec["event"] == "say"]
    assert all(set(rec) >= {"node", "text", "purpose"} for rec in says)


def test_events_to_stdout_keeps_stdout_machine_readable(env):
    r = run(env, "--text", "--flow", "quick", "--seed", "2", "--events", "-", stdin=QUICK_OK)
    assert r.returncode == 0, err(r)
    lines = out(r).splitlines()
    assert lines and all(json.loads(line)["event"] for line in lines)
    assert "How are you" in err(r) or "How" in err(r)


def test_same_seed_same_session(env):
    a = run(env, "--text", "--flow", "quick", "--seed", "9", stdin=QUICK_OK)
    b = run(env, "--text", "--flow", "quick", "--seed", "9", stdin=QUICK_OK)
    assert out(a) == out(b)


def test_eof_ends_kindly(env):
    r = run(env, "--text", "--flow", "quick", "--seed", "1", stdin="I'm okay\n")
    assert r.returncode == 0
    assert "Take good care" in out(r)
    assert "Traceback" not in err(r)


def test_stop_and_safe_word(env, tmp_path):
    events = tmp_path / "e.jsonl"
    r = run(env, "--text", "--flow", "aftercare", "--safe-word", "pineapple", "--events", str(events), "--seed", "1",
            stdin="pineapple\n")
    assert r.returncode == 0
    assert json.loads(events.read_text().splitlines()[-1])["reason"] == "safe_word"
    r = run(env, "--text", "--flow", "precare", "--seed", "1", stdin="stop\n")
    assert r.returncode == 0 and "stop" in out(r).lower()


def test_wait_prints_waiting_line_and_enter_continues(env):
    # aftercare starts with a quiet moment (a wait node) before the first question.
    r = run(env, "--text", "--flow", "aftercare", "--seed", "1", "--names", "Sam,Alex", stdin="\nstop\n")
    assert r.returncode == 0
    text = out(r)
    assert WAITING in text
    assert "Sam," in text.split(WAITING, 1)[1]


def test_blank_lines_are_silence_then_reprompts(env):
    r = run(env, "--text", "--flow", "quick", "--seed", "1", stdin="\n\n\nstop\n")
    assert r.returncode == 0
    text = out(r)
    assert "Take your time" in text or "no hurry" in text.lower()


def test_invalid_utf8_and_huge_lines(env):
    junk = b"\xff\xfe\xfa caf\xe9 \x00\x1b[2J\n" + b"x" * 2_000_000 + b"\n" + b"\n" * 3 + b"stop\n"
    r = run(env, "--text", "--flow", "quick", "--seed", "1", stdin=junk)
    assert r.returncode == 0, err(r)
    assert "Traceback" not in err(r)
    assert "\x1b[2J" not in out(r)


def test_ctrl_c_says_goodbye_and_exits_130(env):
    p = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--text", "--flow", "quick", "--seed", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
                         preexec_fn=default_signals())
    try:
        first = p.stdout.readline()  # the greeting: the session is running and waiting for input
        assert first
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert b"Take good care" in stdout + stderr
    assert b"Traceback" not in stderr


def test_closed_stdout_is_not_a_crash(env):
    p = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--text", "--flow", "quick", "--seed", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    p.stdout.close()  # the reader goes away before anything is printed
    try:
        _, stderr = p.communicate(input=QUICK_OK.encode(), timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0
    assert b"Traceback" not in stderr
    assert b"Take good care" in stderr


def test_python_m_skill_and_unknown_flow(env):
    r = run(env, "--text", "--flow", "nope", module=True)
    assert r.returncode == 2
    assert "there is no check-in called 'nope'" in err(r)
    assert "Traceback" not in err(r)


def test_note_is_kept_in_the_notes_folder(env, tmp_path):
    notes = tmp_path / "notes"
    # The real flows offer a note late; the fixture flow reaches it quickly.
    fixture = ROOT / "tests" / "data" / "dialogs_min"
    r = run(env, "--text", "--dialogs", str(fixture), "--flow", "mini", "--seed", "1", "--notes-dir", str(notes),
            stdin="fine\nfine\nyes\ncontinue\nyes\nmore blankets next time\nyes\n")
    assert r.returncode == 0, err(r)
    assert "I have: more blankets next time. Shall I keep that?" in out(r)
    kept = "".join(p.read_text() for p in notes.glob("*.md"))
    assert "more blankets next time" in kept
    r = run(env, "--text", "--dialogs", str(fixture), "--flow", "mini", "--seed", "1", "--no-notes",
            "--notes-dir", str(tmp_path / "none"), stdin="fine\nfine\nyes\ncontinue\nyes\n")
    assert r.returncode == 0
    assert "Go ahead, say the note." not in out(r)
    assert not (tmp_path / "none").exists() or not list((tmp_path / "none").glob("*.md"))


def test_text_mode_never_imports_audio_libraries(env):
    code = (
        "import sys; sys.argv=['run.py','--text','--flow','quick','--seed','1']\n"
        "from skill.shell.cli import main\n"
        "rc = main()\n"
        "bad = sorted(m for m in ('sounddevice','vosk','pyttsx3','pocketsphinx') if m in sys.modules)\n"
        "print('LOADED', bad, rc, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], input=b"stop\n", capture_output=True, env=env, cwd=ROOT,
                       timeout=120)
    assert b"LOADED [] 0" in r.stderr, r.stderr.decode()


def test_read_line_caps_and_decodes():
    stream = io.BytesIO(b"ok\xff\n" + b"y" * (MAX_LINE * 10) + b"\nlast")
    assert read_line(stream) == "ok\ufffd"
    assert read_line(stream) == "y" * MAX_LINE
    assert read_line(stream) == "last"
    assert read_line(stream) is None


def test_waiting_line_shown_once_per_wait(tmp_path):
    """Lines typed during a quiet wait that are not 'continue' do not repeat the waiting line."""
    from skill.dialogue.validate import load_checked
    from skill.settings import Settings
    from skill.shell import textmode

    bundle, _ = load_checked(ROOT / "dialogs")
    settings = Settings(flow="aftercare", names=("Sam", "Alex"), setting="sofa", safe_word="red", seed=1,
                        events=None, notes_enabled=False, notes_dir=str(tmp_path))
    stdout = io.StringIO()
    rc = textmode.run(settings, bundle, stdin=io.BytesIO(b"hmm\nnot yet\ncontinue\nstop\n"), stdout=stdout)
    assert rc == 0
    assert stdout.getvalue().count(WAITING) == 1
    assert "Sam," in stdout.getvalue()
