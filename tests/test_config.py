"""config.yaml: every fault is one line with its line number, never a crash."""

from __future__ import annotations

import argparse
import dataclasses
import os
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from skill.settings import Settings
from skill.storage import config

BAD = Path(__file__).parent / "data" / "bad_configs"
EXPECTED = yaml.safe_load((BAD / "expected.txt").read_text())
BAD_FILES = sorted(p.name for p in BAD.glob("*.yaml"))


def test_there_are_at_least_twenty_bad_configs_all_with_expectations():
    assert len(BAD_FILES) >= 20
    assert sorted(EXPECTED) == BAD_FILES


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_config_gives_its_exact_lines(name):
    values, problems = config.parse((BAD / name).read_bytes(), "config.yaml")
    assert [str(p) for p in problems] == EXPECTED[name]
    for line in EXPECTED[name]:
        assert line.startswith("config.yaml:") and "\n" not in line
        assert "(using default" in line or "(ignored)" in line


def _parser() -> argparse.ArgumentParser:
    """The flags the rest of the CLI defines, with None meaning 'not given'."""
    parser = argparse.ArgumentParser()
    for flag in ("--names", "--setting", "--safe-word", "--voice", "--backend", "--model",
                 "--input-device", "--output-device"):
        parser.add_argument(flag, default=None)
    parser.add_argument("--rate", type=int, default=None)
    parser.add_argument("--volume", type=float, default=None)
    config.add_arguments(parser)
    return parser


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_config_through_apply_uses_defaults_and_warns(tmp_path, name):
    target = tmp_path / "config.yaml"
    target.write_bytes((BAD / name).read_bytes())
    args = _parser().parse_args(["--config", str(target)])
    warnings: list[str] = []
    used = config.values_of(config.apply(args, warn=warnings.append))
    assert warnings == [line.replace("config.yaml", str(target), 1) for line in EXPECTED[name]]
    good, _ = config.parse(target.read_bytes())
    assert set(used) == set(config.BY_KEY) - {"version"}
    for key, value in used.items():
        assert value == good.get(key, config.BY_KEY[key].default), key


def test_apply_reports_on_stderr_by_default(tmp_path, capsys):
    target = tmp_path / "config.yaml"
    target.write_text("setting: sofa\nrate: fast\n")
    args = _parser().parse_args(["--config", str(target)])
    used = config.apply(args)
    err = capsys.readouterr().err
    assert err == (f"{target}:2: rate must be a whole number of words per minute from 90 to 220, "
                   "not 'fast' (using default a calm pace for the setting)\n")
    assert used.rate is None and used.setting == "sofa"


def test_file_fills_what_the_cli_left_out_and_cli_wins(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("names: [Sam, Alex]\nsetting: bath\nrate: 120\nnotes: false\nsafe_word: Banana\n")
    args = _parser().parse_args(["--config", str(target), "--setting", "car", "--rate", "200"])
    used = config.apply(args, warn=pytest.fail)
    assert used.names == ("Sam", "Alex")
    assert used.setting == "car" and used.rate == 200
    assert used.notes_enabled is False
    assert used.safe_word == "banana"
    assert config.values_of(used)["setting"] == "car"


def test_no_notes_flag_wins_over_file(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("notes: true\n")
    args = _parser().parse_args(["--config", str(target), "--no-notes"])
    assert config.apply(args, warn=pytest.fail).notes_enabled is False


def test_defaults_without_any_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path / "none"))
    args = _parser().parse_args([])
    used = config.apply(args, warn=pytest.fail)
    assert config.values_of(used) == {k: v for k, v in config.defaults().items() if k != "version"}
    assert used == Settings()
    assert used.debug_transcripts is False and used.names == ()


def test_default_location_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path))
    (tmp_path / "config.yaml").write_text("setting: bedside\n")
    args = _parser().parse_args([])
    assert config.apply(args, warn=pytest.fail).setting == "bedside"


def test_missing_explicit_config_is_one_line_exit_2(tmp_path, capsys):
    args = _parser().parse_args(["--config", str(tmp_path / "nope.yaml")])
    with pytest.raises(SystemExit) as caught:
        config.apply(args)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nope.yaml" in err


@pytest.mark.parametrize("argv, flag", [
    (["--rate", "-5"], "--rate"),
    (["--rate", "100000"], "--rate"),
    (["--rate", "0"], "--rate"),
    (["--volume", "-1"], "--volume"),
    (["--volume", "7.5"], "--volume"),
    (["--setting", "kitchen"], "--setting"),
    (["--names", "Sam,{partner}"], "--names"),
    (["--safe-word", "yes"], "--safe-word"),
    (["--backend", "alexa"], "--backend"),
    (["--input-device", "-3"], "--input-device"),
])
def test_absurd_cli_values_are_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, flag):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path))
    args = _parser().parse_args(argv)
    with pytest.raises(SystemExit) as caught:
        config.apply(args)
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(flag + ":")


def test_folder_instead_of_file_is_reported_not_fatal(tmp_path):
    (tmp_path / "config.yaml").mkdir()
    values, problems = config.load(tmp_path / "config.yaml")
    assert values == {} and len(problems) == 1 and "is a folder" in str(problems[0])


def test_oversized_file_is_reported_not_parsed():
    values, problems = config.parse(b"# x\n" * 20000)
    assert values == {} and "larger than 64 KB" in str(problems[0])


def test_save_is_private_and_reads_back(tmp_path):
    target = tmp_path / "cfg" / "config.yaml"
    values = {**config.defaults(), "names": ["Sam", "Zoë"], "safe_word": "pineapple", "notes": False,
              "rate": 120, "volume": 0.5}
    config.save(values, target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    read, problems = config.parse(target.read_bytes())
    assert problems == []
    assert read == {k: v for k, v in values.items() if v is not None and k != "version"}


_names = st.lists(st.sampled_from(["Sam", "Alex", "Kim", "Zoë", "Jo-Anne", "O'Neil", "Ana María"]),
                  max_size=4, unique=True)


@given(
    names=_names,
    setting=st.sampled_from(config.SETTINGS),
    safe=st.sampled_from(["red", "pineapple", "traffic light", "no", "yes", "off", "null", "true"]),
    rate=st.integers(*config.RATE_RANGE),
    volume=st.floats(*config.VOLUME_RANGE, allow_nan=False),
    device=st.one_of(st.none(), st.integers(0, 40), st.sampled_from(["pulse", "USB Mic", "123abc", "null"])),
    backend=st.sampled_from(config.BACKENDS),
    notes=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_any_valid_settings_survive_a_round_trip(names, setting, safe, rate, volume, device, backend, notes):
    if safe in config.RESERVED_SAFE_WORDS:
        safe = "red"
    values = {**config.defaults(), "names": names, "setting": setting, "safe_word": safe, "rate": rate,
              "volume": volume, "input_device": device, "backend": backend, "notes": notes}
    read, problems = config.parse(config.render(values).encode())
    assert problems == []
    assert read == {k: v for k, v in values.items() if v is not None and k != "version"}


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_random_bytes_never_crash(data):
    values, problems = config.parse(data)
    for problem in problems:
        assert "\n" not in str(problem)
    for key, value in values.items():
        assert config.BY_KEY[key].check(value) == value


@given(st.text(alphabet=st.sampled_from(list("abc:[]{}-,'\"#&*!|> \n\t0123456789.")), max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_yaml_like_text_never_crashes(text):
    values, problems = config.parse(text.encode())
    for problem in problems:
        assert "\n" not in str(problem)


def test_ranges_and_backends_agree_with_the_voice_loop():
    """config mirrors these so that reading settings needs no audio libraries."""
    from skill.speech import backends, tts

    assert config.RATE_RANGE == tts.RATE_RANGE
    assert config.VOLUME_RANGE == tts.VOLUME_RANGE
    assert set(config.BACKENDS) == set(backends.BACKENDS)


def test_unset_rate_and_volume_stay_none_so_the_setting_can_pace_them(tmp_path, monkeypatch):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path))
    args = _parser().parse_args([])
    used = config.apply(args, warn=pytest.fail)
    assert used.rate is None and used.volume is None and used.backend == "auto"


def test_the_documented_example_config_is_valid():
    """The example in docs/settings.md must parse without a single problem."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text()
    example = doc.split("```yaml", 1)[1].split("```", 1)[0]
    values, problems = config.parse(example.encode())
    assert problems == []
    assert set(values) == set(config.BY_KEY) - {"version"}


def test_debug_transcripts_only_ever_reach_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path))
    args = _parser().parse_args(["--debug-transcripts"])
    warnings: list[str] = []
    used = config.apply(args, warn=warnings.append)  # under pytest, stderr is captured: not a terminal
    assert used.debug_transcripts is False
    assert warnings == ["--debug-transcripts: ignored, because standard error is not a terminal"]


def test_debug_transcripts_stay_on_at_a_terminal(tmp_path, monkeypatch):
    class Tty:
        def isatty(self):
            return True

    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(config.sys, "stderr", Tty())
    args = _parser().parse_args(["--debug-transcripts"])
    assert config.apply(args, warn=pytest.fail).debug_transcripts is True


def test_every_file_setting_has_its_default_in_settings():
    """A default is written once: config's defaults are the Settings defaults."""
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    for field_ in config.FIELDS[1:]:
        default = list(fields[field_.dest]) if isinstance(fields[field_.dest], tuple) else fields[field_.dest]
        assert field_.default == default, field_.key


def test_command_line_only_options_are_copied_into_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path))
    parser = _parser()
    parser.add_argument("--flow", default="aftercare")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-chime", dest="chime", action="store_false", default=True)
    used = config.apply(parser.parse_args(["--flow", "quick", "--seed", "7", "--no-chime"]), warn=pytest.fail)
    assert (used.flow, used.seed, used.chime) == ("quick", 7, False)
    assert config.apply(parser.parse_args([]), warn=pytest.fail).seed is None
