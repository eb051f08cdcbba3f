"""python run.py setup: Enter keeps defaults, bad answers are asked again,
the file is written only at the end, and it works without a terminal."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from skill.storage import config
from skill.shell import setup

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, lines, existing: str | None = None):
    target = tmp_path / "cfg" / "config.yaml"
    if existing is not None:
        target.parent.mkdir()
        target.write_text(existing)
    out = io.StringIO()
    code = setup.run(target, io.StringIO("".join(line + "\n" for line in lines)), out)
    return code, target, out.getvalue()


def _saved(target):
    values, problems = config.load(target)
    assert problems == []
    return values


def test_enter_everywhere_writes_the_defaults(tmp_path):
    code, target, out = _run(tmp_path, [""] * len(setup.QUESTIONS))
    assert code == 0
    assert _saved(target) == {"names": [], "safe_word": "red", "setting": "sofa",
                              "backend": "auto", "notes": True}
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    assert "[sofa]" in out and "[red]" in out


def test_answers_are_saved(tmp_path):
    answers = ["Sam, Alex", "bath", "pineapple", "no", "pocketsphinx", "en-us", "130", "0.5", "2", "USB"]
    code, target, _ = _run(tmp_path, answers)
    assert code == 0
    assert _saved(target) == {"names": ["Sam", "Alex"], "setting": "bath", "safe_word": "pineapple",
                              "notes": False, "backend": "pocketsphinx", "voice": "en-us", "rate": 130,
                              "volume": 0.5, "input_device": 2, "output_device": "USB"}


def test_a_wrong_answer_is_explained_and_asked_again(tmp_path):
    code, target, out = _run(tmp_path, ["", "kitchen", "bedsid", "bedside"])
    assert code == 0
    assert "did you mean 'bedside'" in out
    assert out.count("Where will you usually be") == 3
    assert _saved(target)["setting"] == "bedside"


def test_three_wrong_answers_keep_the_default_and_move_on(tmp_path):
    code, target, out = _run(tmp_path, ["", "", "yes", "okay", "no", "", ""])
    assert code == 0
    assert "Keeping red for now" in out
    assert _saved(target)["safe_word"] == "red"


def test_end_of_input_keeps_the_rest(tmp_path):
    code, target, out = _run(tmp_path, ["Kim"])
    assert code == 0 and "keeping the rest" in out
    assert _saved(target)["names"] == ["Kim"]


def test_existing_values_are_the_defaults_and_survive(tmp_path):
    existing = "names: [Sam]\nsetting: car\nrate: 120\nmodel: /opt/model\n"
    code, target, out = _run(tmp_path, [""] * len(setup.QUESTIONS), existing)
    assert code == 0
    assert "[Sam]" in out and "[car]" in out and "[120]" in out
    saved = _saved(target)
    assert saved["model"] == "/opt/model" and saved["rate"] == 120 and saved["setting"] == "car"


def test_default_word_clears_an_optional_answer(tmp_path):
    existing = "names: [Sam]\nrate: 120\ninput_device: 3\n"
    lines = ["none", "", "", "", "", "", "default", "", "default", ""]
    code, target, _ = _run(tmp_path, lines, existing)
    saved = _saved(target)
    assert saved["names"] == [] and "rate" not in saved and "input_device" not in saved


def test_ctrl_c_changes_nothing(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("setting: car\n")

    class Interrupting(io.StringIO):
        def readline(self, *a):
            raise KeyboardInterrupt

    out = io.StringIO()
    assert setup.run(target, Interrupting(), out) == 130
    assert "nothing was changed" in out.getvalue()
    assert target.read_text() == "setting: car\n"


def test_unwritable_location_is_one_line_exit_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = io.StringIO()
    code = setup.run(blocker / "config.yaml", io.StringIO(""), out)
    assert code == 1
    assert out.getvalue().strip().splitlines()[-1].startswith("setup: could not save the settings")


def test_without_a_tty_through_the_real_cli(tmp_path):
    """The command as a person runs it, with answers piped in."""
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "setup"], input="Sam,Alex\ncar\n",
                          capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["names"] == ["Sam", "Alex"] and saved["setting"] == "car"
