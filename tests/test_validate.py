"""The validator: every malformed file gives its message at the right line, never a traceback.

Each file under tests/data/bad_dialogs/ starts with ``# expect: FRAGMENT``;
the line marked ``#<-`` (or line 1 when none is marked) is where the
problem must be reported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from skill.dialogue.dialog import load_bundle
from skill.dialogue.validate import check_files, errors, load_checked, vocabulary_warnings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BAD = DATA / "bad_dialogs"
MINI = DATA / "dialogs_min"
BAD_FILES = sorted(BAD.rglob("*.yaml"))
LINE_RE = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


def expectation(path: Path) -> tuple[str, int]:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    first = raw.splitlines()[0]
    assert first.startswith("# expect: "), f"{path}: first line must be '# expect: FRAGMENT'"
    line = 1
    for i, text in enumerate(raw.splitlines(), 1):
        if text.rstrip().endswith("#<-"):
            line = i
    return first[len("# expect: "):].strip(), line


def test_enough_bad_files():
    assert len(BAD_FILES) >= 35


@pytest.mark.parametrize("path", BAD_FILES, ids=[str(p.relative_to(BAD)) for p in BAD_FILES])
def test_bad_file_reports_problem_at_line(path: Path):
    fragment, line = expectation(path)
    problems = check_files([path], context=MINI)
    found = errors(problems)
    assert found, f"{path.name}: expected an error containing {fragment!r}, got none"
    formatted = [p.format() for p in found]
    for text in formatted:
        assert LINE_RE.match(text), f"not file:line:column: message -> {text}"
    hits = [p for p in found if fragment in p.message]
    assert hits, f"{path.name}: no error mentions {fragment!r}:\n" + "\n".join(formatted)
    assert any(p.mark.line == line for p in hits), (
        f"{path.name}: {fragment!r} expected at line {line}, reported at "
        f"{[p.mark.line for p in hits]}:\n" + "\n".join(formatted))
    assert all(Path(p.mark.file).resolve() == path.resolve() for p in found)


def test_real_dialogs_are_clean():
    bundle, problems = load_checked(ROOT / "dialogs")
    assert not errors(problems), "\n".join(p.format() for p in problems)
    assert {"aftercare", "precare", "reflection", "quick", "support"} <= set(bundle.flows)


def test_supports_own_close_for_leave_it_there_is_not_flagged():
    _, problems = load_checked(ROOT / "dialogs")
    assert not [p for p in problems if "leave it there" in p.message or "call it a day" in p.message]


def test_fixture_bundle_is_clean():
    _, problems = load_checked(MINI)
    assert not problems, "\n".join(p.format() for p in problems)


def test_all_problems_reported_at_once(tmp_path: Path):
    flow = tmp_path / "many.yaml"
    flow.write_text(
        "version: 1\nflow: many\nstart: hello\nnodes:\n"
        "  hello:\n    sya: [x]\n    say: [\"Hi {nmae}\"]\n    listen:\n      okay: nowhere\n      blah: close\n"
        "  close:\n    say: [\"Bye\"]\n    end: completed\n"
    )
    messages = [p.message for p in check_files([flow], context=MINI)]
    assert any("unknown key 'sya'" in m for m in messages)
    assert any("unknown placeholder" in m for m in messages)
    assert any("'nowhere' is not a node" in m for m in messages)
    assert any("intent 'blah' has no phrases" in m for m in messages)


def test_stop_phrase_in_an_intent_is_a_warning(tmp_path: Path):
    flow = tmp_path / "warn.yaml"
    flow.write_text(
        "version: 1\nflow: warn\nstart: hello\nnodes:\n  hello:\n    say: [\"Hi\"]\n"
        "    intents:\n      finished: [\"we're done\"]\n    listen:\n      finished: close\n"
        "  close:\n    say: [\"Bye\"]\n    end: completed\n")
    problems = check_files([flow], context=MINI)
    assert problems and not errors(problems)
    assert "warning:" in problems[0].format()


def test_soft_stop_phrase_under_an_answer_that_ends_is_the_nodes_own(tmp_path: Path):
    flow = tmp_path / "own.yaml"
    flow.write_text(
        "version: 1\nflow: own\nstart: hello\nnodes:\n  hello:\n    say: [\"Hi\"]\n"
        "    intents:\n      sleepy: [\"let's call it a night\", \"call it a night\"]\n    listen:\n      sleepy: close\n"
        "  close:\n    say: [\"Sleep well.\"]\n    end: stopped\n")
    assert check_files([flow], context=MINI) == []


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cli_check_clean_exit_0():
    r = _cli("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_cli_check_errors_exit_1_lists_all():
    files = [str(p) for p in BAD_FILES[:10]]
    r = _cli("check", "--dialogs", str(MINI), *files)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    lines = [l for l in r.stdout.splitlines() if LINE_RE.match(l)]
    reported = {LINE_RE.match(l).group("file") for l in lines}
    assert len(reported) == 10, r.stdout


def test_cli_check_missing_file():
    r = _cli("check", "no/such/file.yaml")
    assert r.returncode == 1
    assert "no/such/file.yaml:1:1: file not found" in r.stdout
    assert "Traceback" not in r.stderr


def test_cli_check_every_bad_file_without_traceback():
    r = _cli("check", "--dialogs", str(MINI), *[str(p) for p in BAD_FILES])
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr


def test_session_refuses_to_start_with_broken_dialogs(tmp_path: Path):
    for name in ("vocabulary.yaml", "commands.yaml", "mini.yaml", "helper.yaml"):
        (tmp_path / name).write_text((MINI / name).read_text())
    (tmp_path / "mini.yaml").write_text((MINI / "mini.yaml").read_text().replace("next: feel", "next: feeel"))
    r = subprocess.run([sys.executable, str(ROOT / "run.py"), "--text", "--dialogs", str(tmp_path), "--flow", "mini"],
                       input="", capture_output=True, text=True, timeout=120,
                       env={"AFTERCARE_DATA_DIR": str(tmp_path / "d"), "AFTERCARE_CONFIG_DIR": str(tmp_path / "c"),
                            "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    assert "'feeel' is not a node in this flow (did you mean 'feel'?)" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_words_check_is_passed_in():
    """The core knows no speech models: the shell passes the recognizer's word check in."""
    seen: list[list[str]] = []

    def fake(phrases):
        seen.append(list(phrases))
        return ["'zzyzx' is not in the speech model's vocabulary"]

    bundle, _ = load_bundle(MINI)
    assert vocabulary_warnings(bundle, fake) == ["'zzyzx' is not in the speech model's vocabulary"]
    assert "i'm okay" in [p.lower() for p in seen[0]]
    assert seen[0] == sorted(set(seen[0]))  # every phrase once
    assert vocabulary_warnings(bundle, lambda phrases: []) == []

    def broken(phrases):
        raise OSError("model folder vanished")

    assert vocabulary_warnings(bundle, broken) == []  # advice never breaks the check


def test_cli_check_warns_about_words_the_recognizer_does_not_know(tmp_path: Path):
    """End to end: ``check`` asks the real speech model store about every phrase."""
    for name in ("vocabulary.yaml", "commands.yaml", "mini.yaml", "helper.yaml"):
        (tmp_path / name).write_text((MINI / name).read_text())
    vocab = tmp_path / "vocabulary.yaml"
    vocab.write_text(vocab.read_text().replace('"good"]', '"good", "blorptastic"]', 1))
    assert "blorptastic" in vocab.read_text()
    r = _cli("check", "--dialogs", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'does not know the word "blorptastic"' in r.stdout
    assert "Traceback" not in r.stderr


def test_any_named_file_is_checked_whatever_its_name(tmp_path: Path):
    odd = tmp_path / "notes.txt"
    odd.write_text("this: [is not\n")
    problems = check_files([odd], context=MINI)
    assert problems and problems[0].message.startswith("YAML syntax error")
    good = tmp_path / "mini.yml"
    good.write_text((MINI / "mini.yaml").read_text())
    assert check_files([good], context=MINI) == []
