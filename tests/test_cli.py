"""The CLI frame: one parser, pluggable subcommands and options, clean exit codes."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from skill.shell import cli

ROOT = Path(__file__).resolve().parent.parent


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_parser_has_run_options_and_check():
    parser = cli.build_parser()
    args = parser.parse_args(["--text", "--flow", "quick", "--setting", "bath", "--names", "Sam,Alex",
                              "--seed", "4", "--safe-word", "orange", "--events", "-"])
    assert (args.text, args.flow, args.setting, args.names, args.seed, args.safe_word, args.events) == (
        True, "quick", "bath", "Sam,Alex", 4, "orange", "-")
    assert args.command is None
    subs = _subcommands(parser)
    assert "check" in subs
    args = parser.parse_args(["check", "a.yaml", "b.yaml"])
    assert args.func is cli.cmd_check and args.files == ["a.yaml", "b.yaml"]


def test_registered_modules_add_their_subcommands():
    subs = _subcommands(cli.build_parser())
    assert {"check", "notes", "setup", "models"} <= set(subs)
    for module, name in (("skill.storage.notes", "notes"), ("skill.shell.setup", "setup"),
                         ("skill.speech.models", "models")):
        assert importlib.import_module(module) in cli.SUBCOMMAND_MODULES
        assert subs[name].get_default("func") is importlib.import_module(module).run_cli


def test_option_modules_add_their_options():
    parser = cli.build_parser()
    flags = {flag for action in parser._actions for flag in action.option_strings}
    assert {"--voice", "--list-devices", "--input-device", "--backend"} <= flags  # skill.shell.devices
    assert {"--config", "--notes-dir", "--no-notes", "--debug-transcripts"} <= flags  # skill.storage.config


def test_a_module_can_register_a_subcommand(monkeypatch, tmp_path):
    pkg = tmp_path / "extra_cli_mod.py"
    pkg.write_text(
        "def register_cli(sub):\n"
        "    p = sub.add_parser('hello', help='say hello')\n"
        "    p.set_defaults(func=lambda args: 7)\n"
        "def add_arguments(parser):\n"
        "    parser.add_argument('--colour', default='blue')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    extra = importlib.import_module("extra_cli_mod")
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (extra,))
    monkeypatch.setattr(cli, "OPTION_MODULES", (extra,))
    assert cli.build_parser().parse_args([]).colour == "blue"
    assert cli.main(["hello"]) == 7


def test_bad_usage_is_exit_2_without_traceback(capsys):
    assert cli.main(["--setting", "kitchen"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "Traceback" not in err


def test_help_reads_well(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for word in ("--text", "--flow", "--setting", "--names", "--safe-word", "--seed", "--events", "check"):
        assert word in text


@pytest.mark.parametrize("entry", [["run.py"], ["-m", "skill"]])
def test_entry_points_reach_the_same_cli(entry):
    args = [str(ROOT / entry[0])] if entry == ["run.py"] else entry
    r = subprocess.run([sys.executable, *args, "check"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no errors" in r.stderr


def test_console_script_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'aftercare = "skill.shell.cli:main"' in text


@pytest.mark.parametrize("argv", [["--setting", "kitchen"], ["--seed", "x"], ["--frobnicate"], ["notes", "frob"]])
def test_usage_mistakes_are_one_line_without_the_usage_block(argv, capsys):
    from skill.shell.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "usage:" not in err and "--help" in err
