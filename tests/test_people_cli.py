"""What people meet first (issue 10, "What people meet"), through the real program.

- ``--help`` lists what can be said during a check-in, built from dialogs/commands.yaml;
- ``--list-voices`` shows friendly names and English voices first;
- ``--voice female|male|calm`` are real espeak-ng voices, and a missing one is one line;
- ``setup`` offers the voices and explains the recognizer in plain words;
- ``notes delete --all`` asks at a terminal (a real pty), ``--yes`` skips it, and
  without a terminal it refuses in one line;
- ``--flow support`` is not a check-in to start.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skill.shell import cli
from skill.speech import tts
from skill.dialogue.dialog import load_commands
from skill.storage.notes import NotesStore
from tests.soundserver import sound_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "config"),
            "AFTERCARE_DATA_DIR": str(tmp_path / "data"), **extra}


def _run(tmp_path: Path, *args: str, typed: str | None = None, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True,
                          timeout=60, env=_env(tmp_path, **env), cwd=tmp_path,
                          input=typed, stdin=None if typed is not None else subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done


# ---- --help: what you can say ------------------------------------------------------------


def test_help_lists_every_command_from_the_commands_file(tmp_path):
    done = _run(tmp_path, "--help")
    assert done.returncode == 0
    section = done.stdout.split("what you can say during a check-in", 1)[1].split("examples:", 1)[0]
    commands, problems = load_commands(ROOT / "dialogs" / "commands.yaml")
    assert not problems and set(commands) >= {"stop", "pause", "repeat", "back", "skip", "help",
                                              "slower", "quieter"}
    for name, command in commands.items():
        assert f'"{name}"' in section, name
        assert command.help and command.help in section, name
    assert "safe word" in section and '"red"' in section


def test_the_help_section_is_built_from_the_file_not_written_twice(tmp_path):
    (tmp_path / "commands.yaml").write_text(
        "version: 1\ncommands:\n  stop:\n    help: \"finish for tonight\"\n"
        "    phrases: [\"stop\", \"all done now\", \"lights out\", \"that is all\"]\n"
        "  skip:\n    phrases: [\"pass\"]\n")
    text = cli.what_you_can_say(tmp_path)
    assert '"stop", "all done now", "lights out"' in text
    assert "finish for tonight" in text
    assert '"skip"' not in text and '"pass"' not in text.split("skip", 1)[0]
    (tmp_path / "commands.yaml").write_text("version: [\n")
    assert "could not read" in cli.what_you_can_say(tmp_path)


# ---- voices ---------------------------------------------------------------------------------


def test_list_voices_puts_friendly_names_and_english_first(tmp_path):
    done = _run(tmp_path, "--list-voices")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Friendly names")
    for name, (language, variant, _) in tts.FRIENDLY_VOICES.items():
        [line] = [ln for ln in lines if ln.split()[:1] == [name]]
        assert line.endswith(f"/{language}+{variant}"), line
    english = lines.index("English voices (--voice ID or LANGUAGE):")
    others = lines.index("Other languages:")
    assert english < others
    assert "American English" in lines[english + 1] and "en-us" in lines[english + 1]
    assert all("English" in ln for ln in lines[english + 1:others - 1])
    languages = [ln.split()[-1] for ln in lines[others + 1:]]
    assert languages and not any(lang == "en" or lang.startswith("en-") for lang in languages)


def _espeak_data_without(tmp_path: Path, *variants: str) -> Path:
    """A copy of espeak-ng's data folder (links, in tmp_path) missing some voice variants."""
    data = next(line.split("Data at:", 1)[1].strip()
                for line in subprocess.run(["espeak-ng", "--version"], capture_output=True,
                                           text=True).stdout.splitlines() if "Data at:" in line)
    root = tmp_path / "espeak" / "espeak-ng-data"
    root.mkdir(parents=True)
    for entry in Path(data).iterdir():
        if entry.name != "voices":
            (root / entry.name).symlink_to(entry)
    shutil.copytree(Path(data) / "voices", root / "voices", symlinks=True)
    for variant in variants:
        (root / "voices" / "!v" / variant).unlink()
    return root.parent


def test_list_voices_says_which_friendly_voice_is_missing(tmp_path):
    data = _espeak_data_without(tmp_path, "f3")
    done = _run(tmp_path, "--list-voices", ESPEAK_DATA_PATH=str(data))
    assert done.returncode == 0, done.stderr
    [female] = [ln for ln in done.stdout.splitlines() if ln.startswith("  female")]
    assert "not installed" in female and "en-us+f3" in female
    assert "+m3" in next(ln for ln in done.stdout.splitlines() if ln.startswith("  male"))


def _pitches_hz(samples: np.ndarray, rate: int) -> np.ndarray:
    """The fundamental of each voiced 40 ms frame, by autocorrelation (60-400 Hz)."""
    frame = int(0.04 * rate)
    x = samples.astype(np.float64)
    found = []
    for start in range(0, len(x) - frame, frame):
        f = x[start:start + frame]
        if np.sqrt(np.mean(f ** 2)) < 0.3 * np.sqrt(np.mean(x ** 2)):
            continue  # quiet: a pause or a soft consonant
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[frame - 1:]
        lo, hi = int(rate / 400), int(rate / 60)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            found.append(rate / lag)
    assert len(found) >= 20, "too little voiced speech to measure"
    return np.array(found)


def test_friendly_voices_are_real_and_differ():
    """female and calm sound higher than male; calm rises and falls less than female."""
    synth = tts.shared_synth()
    text = ("Hello there. How are you feeling right now? Take a slow breath, and let your shoulders "
            "drop. There's no hurry at all.")
    pitch = {name: _pitches_hz(synth.synthesize(text, tts.VoiceSettings(voice=name)).samples, tts.ESPEAK_RATE)
             for name in ("female", "male", "calm")}
    median = {name: float(np.median(p)) for name, p in pitch.items()}
    spread = {name: float(np.percentile(p, 90) / np.percentile(p, 10)) for name, p in pitch.items()}
    assert median["female"] > 1.4 * median["male"], median
    assert median["calm"] > 1.4 * median["male"], median
    assert spread["calm"] < spread["female"], spread


def test_a_missing_friendly_voice_is_one_line():
    voices = [("gmw/en-us", "English (America)", "en-us"), ("gmw/de", "German", "de")]
    assert tts.resolve_voice("Female", voices, {"f3", "m3"}) == "gmw/en-us+f3"
    with pytest.raises(tts.TtsError) as missing:
        tts.resolve_voice("female", voices, {"m3"})
    assert "female" in str(missing.value) and "f3" in str(missing.value) and "\n" not in str(missing.value)
    with pytest.raises(tts.TtsError, match="en-us voice"):
        tts.resolve_voice("calm", [("gmw/de", "German", "de")], {"f5"})
    assert tts.resolve_voice("en-us+F2", voices, {"f2"}) == "gmw/en-us+f2"  # any voice with a variant
    with pytest.raises(tts.TtsError, match="no voice variant matches 'zz'"):
        tts.resolve_voice("en-us+zz", voices, {"f2"})


@pytest.mark.sound
def test_voice_female_missing_at_the_cli_is_one_line(sound_server, tmp_path):  # noqa: F811
    data = _espeak_data_without(tmp_path, "f3")
    done = _run(tmp_path, "--flow", "quick", "--voice", "female", ESPEAK_DATA_PATH=str(data), **sound_server.env)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("aftercare:")]
    assert len(lines) == 1 and "female" in lines[0] and "f3" in lines[0], done.stderr


# ---- setup ----------------------------------------------------------------------------------


def test_setup_offers_the_voices_and_explains_the_recognizer(tmp_path):
    # names, setting, safe word, notes, recognizer, voice (wrong, then female), the rest kept
    typed = "\n\n\n\n\nzzz-no-such-voice\nfemale\n\n\n\n\n"
    done = _run(tmp_path, "setup", typed=typed)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Voice name" not in out
    voice_question = out.split("Which voice would you like?", 1)[1]
    for name in tts.FRIENDLY_VOICES:
        assert f"    {name} " in voice_question
    assert "en-us" in voice_question and "American English" in voice_question
    assert "built-in Whisper" in out and "Vosk model" in out and "pocketsphinx" in out
    assert "'zzz-no-such-voice' cannot be used" in out
    saved = (tmp_path / "config" / "config.yaml").read_text()
    assert "voice: female" in saved


# ---- notes delete --all ---------------------------------------------------------------------


def _notes(tmp_path: Path, sessions: int = 2) -> Path:
    store = NotesStore(tmp_path / "notes")
    for n in range(sessions):
        store.begin_session("quick", people=["Sam"])
        store.add(f"note {n}")
    return store.root


def _at_a_terminal(tmp_path: Path, args: list[str], answer: str | None) -> tuple[int, str]:
    """Run the program with a real pty as its terminal; answer the question if one is asked."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], stdin=slave, stdout=slave,
                            stderr=slave, env=_env(tmp_path), cwd=tmp_path, close_fds=True)
    os.close(slave)
    seen = b""
    answered = answer is None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the program closed the terminal (EIO)
                    break
                if not chunk:
                    break
                seen += chunk
                if not answered and b"[y/N]" in seen:
                    os.write(master, answer.encode() + b"\n")
                    answered = True
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, seen.decode(errors="replace")


def test_delete_all_asks_at_a_terminal_and_a_no_keeps_everything(tmp_path):
    root = _notes(tmp_path)
    code, screen = _at_a_terminal(tmp_path, ["notes", "delete", "--all", "--notes-dir", str(root)], "n")
    assert code == 0, screen
    assert "Delete the notes of all 2 check-ins" in screen and "cannot be undone" in screen
    assert "Nothing was deleted." in screen
    assert len(NotesStore(root).list()) == 2
    code, screen = _at_a_terminal(tmp_path, ["notes", "delete", "--all", "--notes-dir", str(root)], "yes")
    assert code == 0 and "Deleted all notes (2 sessions)" in screen, screen
    assert NotesStore(root).list() == []


def test_delete_all_with_yes_at_a_terminal_asks_nothing(tmp_path):
    root = _notes(tmp_path)
    code, screen = _at_a_terminal(tmp_path, ["notes", "delete", "--all", "--yes", "--notes-dir", str(root)],
                                  None)
    assert code == 0 and "[y/N]" not in screen and "Deleted all notes" in screen, screen
    assert NotesStore(root).list() == []


def test_delete_all_without_a_terminal_refuses_in_one_line(tmp_path):
    root = _notes(tmp_path)
    done = _run(tmp_path, "notes", "delete", "--all", "--notes-dir", str(root))
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "--yes" in done.stderr and "nothing was deleted" in done.stderr
    assert len(NotesStore(root).list()) == 2
    done = _run(tmp_path, "notes", "delete", "--all", "--yes", "--notes-dir", str(root))
    assert done.returncode == 0 and NotesStore(root).list() == []


# ---- flows ----------------------------------------------------------------------------------


def test_support_is_not_offered_as_a_flow_to_start(tmp_path):
    done = _run(tmp_path, "--text", "--flow", "support")
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert "'support' is not started on its own" in line
    offered = line.split("choose one of:", 1)[1]
    assert "support" not in offered and "aftercare" in offered and "quick" in offered
    done = _run(tmp_path, "--text", "--flow", "nosuch")
    assert done.returncode == 2 and "support" not in done.stderr.split("choose one of:", 1)[1]
    assert "support" not in _run(tmp_path, "--help").stdout.split("--flow NAME", 1)[1].split("\n  --", 1)[0]
