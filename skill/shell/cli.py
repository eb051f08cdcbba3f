"""The command line: ``python run.py``, ``python -m skill`` and ``aftercare`` all land here.

The default action runs a check-in (spoken, or typed with ``--text``).
Subcommands: ``check`` (validate dialogue files) plus those the modules in
:data:`SUBCOMMAND_MODULES` register (``register_cli``). The modules in
:data:`OPTION_MODULES` add run options (``add_arguments``). The saved config
is merged under the command line into one :class:`skill.settings.Settings`
(``skill.storage.config.apply``); nothing after that sees argparse.
Text mode never opens the audio stack.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, NoReturn, Sequence

from skill.dialogue.conditions import SETTINGS
from skill.settings import SAFE_WORD, Settings
from skill.shell import devices, hardening, setup
from skill.speech import models
from skill.storage import config, notes

#: Modules that add subcommands: each provides ``register_cli(subparsers)``
#: and sets ``func`` (args -> exit code) on its parser.
SUBCOMMAND_MODULES: tuple[ModuleType, ...] = (models, notes, setup)
#: Modules that add options to the default (check-in) command: ``add_arguments(parser)``.
OPTION_MODULES: tuple[ModuleType, ...] = (devices, config)

log = logging.getLogger("skill")

DESCRIPTION = """\
A calm, offline, hands-free companion for an aftercare check-in.
It asks a few gentle questions, listens, and keeps a short note only if you say yes.
Say "stop" or your safe word at any time to end at once."""

EPILOG = """\
examples:
  python run.py --text                         type instead of speaking
  python run.py --text --names "Sam,Alex" --setting bath
  python run.py --flow quick                   a two-minute spoken check-in
  python run.py check                          check the dialogue files
  python run.py check dialogs/quick.yaml       check one file

exit codes: 0 done, 1 error (or problems found by check), 2 bad usage, 130 Ctrl-C"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one clear line (not the usage block)."""

    #: Text put before the epilog, built only when the help is shown.
    help_extra: Callable[[], str] | None = None

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    def format_help(self) -> str:
        if self.help_extra is None:
            return super().format_help()
        base = self.epilog
        self.epilog = self.help_extra() + ("\n\n" + base if base else "")
        try:
            return super().format_help()
        finally:
            self.epilog = base


#: Example phrases shown per command in --help, besides the command's own word.
HELP_EXAMPLES = 2


def _examples(name: str, phrases: Sequence[str]) -> list[str]:
    """The command's own word, then a few longer phrases that share no word with each other."""
    chosen = [name] if name in phrases else []
    used: set[str] = set()
    for phrase in phrases:
        if len(chosen) >= HELP_EXAMPLES + 1:
            break
        words = set(phrase.lower().split())
        if len(words) > 1 and not words & used:
            chosen.append(phrase)
            used |= words
    return chosen


def what_you_can_say(directory: Path | None = None) -> str:
    """The commands from dialogs/commands.yaml, for --help (never duplicated here)."""
    from skill.dialogue.dialog import load_commands

    directory = directory or _dialogs_dir(None)
    commands, problems = load_commands(directory / "commands.yaml")
    lines = ["what you can say during a check-in, at any question:"]
    if not commands:
        return lines[0] + f"\n  (could not read {directory / 'commands.yaml'}; run 'python run.py check')"
    safe_word = SAFE_WORD
    for name, command in commands.items():
        examples = ", ".join(f'"{p}"' for p in _examples(name, command.phrases))
        lines.append(f"  {examples}")
        if command.help:
            lines.append(f"      {command.help}")
        if name == "stop":
            lines.append(f'  your safe word ("{safe_word}" unless you chose another with --safe-word or setup)')
            lines.append("      always ends the check-in at once")
    lines.append("In text mode, type them; an empty line counts as saying nothing.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The whole CLI in one parser (tests inspect it)."""
    parser = _Parser(
        prog="aftercare",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.help_extra = what_you_can_say
    run = parser.add_argument_group("check-in options")
    run.add_argument("--text", action="store_true",
                     help="type the answers instead of speaking; questions are printed")
    run.add_argument("--flow", default="aftercare", metavar="NAME",
                     help="which check-in: aftercare (default), precare, reflection, quick")
    run.add_argument("--setting", choices=SETTINGS, default=None,
                     help="where you are, so suggestions fit (default: sofa)")
    run.add_argument("--names", default=None, metavar="NAMES",
                     help='first names, comma-separated, e.g. "Sam,Alex" (none: a solo check-in)')
    run.add_argument("--safe-word", dest="safe_word", default=None, metavar="WORD",
                     help=f"a word that always ends the session at once (default: {SAFE_WORD})")
    run.add_argument("--seed", type=int, default=None, metavar="N",
                     help="fix the random choice of wording, to repeat a session exactly")
    run.add_argument("--events", default=None, metavar="FILE",
                     help="write a JSON Lines event log to FILE ('-' for standard output). "
                          "It includes what was heard: the only place heard text is ever "
                          "written, and only when you ask for it, so keep it private")
    run.add_argument("--dialogs", default=None, metavar="DIR",
                     help="folder with the dialogue files (default: the project's dialogs/)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more diagnostics on standard error (never what was said)")
    for module in OPTION_MODULES:
        module.add_arguments(parser)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                title="commands (default: start a check-in)")
    check = sub.add_parser(
        "check",
        help="check dialogue files and list every problem as file:line:column",
        description="Check dialogue files. Lists every problem at once as file:line:column: message. "
                    "Exit code 0 when clean, 1 when there are errors.",
    )
    check.add_argument("files", nargs="*", metavar="FILE",
                       help="files to check (default: every dialogs/*.yaml)")
    check.add_argument("--dialogs", default=argparse.SUPPRESS, metavar="DIR",
                       help="folder whose vocabulary, commands and flows the files may use "
                            "(default: the project's dialogs/)")
    check.set_defaults(func=cmd_check)
    for module in SUBCOMMAND_MODULES:
        module.register_cli(sub)
    return parser


def _dialogs_dir(given: str | None) -> Path:
    from skill.dialogue.validate import default_dialogs_dir

    return Path(given) if given else default_dialogs_dir()


def cmd_check(args: argparse.Namespace) -> int:
    """``check [FILES...]``: print every problem; exit 0 clean, 1 with errors."""
    from skill.dialogue.dialog import load_bundle
    from skill.dialogue.validate import check_files, errors, vocabulary_warnings
    from skill.speech.models import unknown_words_warning

    directory = _dialogs_dir(vars(args).get("dialogs"))  # check's --dialogs is SUPPRESSed when not given
    files = [Path(f) for f in args.files] or sorted(directory.glob("*.yaml"))
    if not files:
        print(f"{directory}: no dialogue files found", file=sys.stderr)
        return 1
    problems = check_files(files, context=directory)
    for p in problems:
        print(p.format())
    # Optional: words the offline speech models do not know (warnings only).
    dirs = sorted({f.parent for f in files if f.is_file()})
    for d in dirs:
        bundle, _ = load_bundle(d)
        for line in vocabulary_warnings(bundle, unknown_words_warning):
            print(f"warning: {line}")
    n_err = len(errors(problems))
    n_warn = len(problems) - n_err
    if n_err:
        print(f"{n_err} error(s), {n_warn} warning(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    print(f"{len(files)} file(s) checked: no errors" + (f", {n_warn} warning(s)" if n_warn else ""),
          file=sys.stderr)
    return 0


def run_session(args: argparse.Namespace) -> int:
    """The default action: merge the settings, load and check the dialogues, then run a check-in."""
    return run_check_in(config.apply(args))


def run_check_in(settings: Settings) -> int:
    """Load and check the dialogues, then run a check-in (typed or spoken)."""
    from skill.dialogue.validate import errors, load_checked

    directory = _dialogs_dir(settings.dialogs)
    if not directory.is_dir():
        print(f"--dialogs: {directory}: folder not found; point it at a folder of dialogue files "
              f"(the project's dialogs/ is used when --dialogs is left out)", file=sys.stderr)
        return 2
    bundle, problems = load_checked(directory)
    bad = errors(problems)
    if bad:
        for p in bad:
            print(p.format(), file=sys.stderr)
        print(f"The dialogue files in {directory} have {len(bad)} problem(s); fix them "
              f"(see 'python run.py check') and start again.", file=sys.stderr)
        return 1
    startable = ", ".join(sorted(name for name, flow in bundle.flows.items() if flow.startable))
    if settings.flow not in bundle.flows:
        print(f"--flow: there is no check-in called '{settings.flow}'; choose one of: {startable}", file=sys.stderr)
        return 2
    if not bundle.flows[settings.flow].startable:
        print(f"--flow: '{settings.flow}' is not started on its own (a check-in turns to it when someone "
              f"needs it); choose one of: {startable}", file=sys.stderr)
        return 2
    if settings.text:
        from skill.shell import offline, textmode

        with offline.session_guard():  # no network in any session (voice_loop does the same)
            return textmode.run(settings, bundle)
    from skill.shell import voice_loop

    return int(voice_loop.run(settings, bundle) or 0)


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code and never shows a traceback."""
    hardening.harden()  # no core dumps; SIGTERM/SIGHUP end the program like Ctrl-C
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        _setup_logging(args.verbose)
        func = vars(args).get("func")  # set by the subcommand chosen, if any
        if func is not None:
            return hardening.exit_code(int(func(args) or 0))
        return hardening.exit_code(run_session(args))
    except KeyboardInterrupt:
        try:
            print("\nOkay, stopping here. Take good care.", file=sys.stderr)
        except (OSError, ValueError):
            pass
        return hardening.exit_code(130)
    except SystemExit as exc:  # argparse and config report bad usage this way
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except BrokenPipeError:
        return 0
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        print(f"aftercare: unexpected error: {exc.__class__.__name__}: {exc} (run with -vv for details)",
              file=sys.stderr)
        return 1
