"""Run every conversation test in dialogs/tests/*.yaml against the real engine and matcher.

Format (docs/dialogs.md, "Conversation tests"): each test has a name, a
setting (or ``settings: all`` / a list), ``names`` or ``solo: true``, a seed,
optional ``safe_word``, ``notes: false``, ``last_notes``, and ``turns``.
A turn may send ``user: TEXT`` (``silence`` sends a Silence event) and then
checks ``expect_intent`` (what the matcher made of it), ``expect_node`` (where
the engine is now; ``FLOW.NODE`` or just ``NODE``) and ``expect_say`` (words
that must appear in what was said since the previous turn). ``expect_end`` is
the reason the session must have ended with (``null``: still running).
A ``SaveNote`` is answered with ``NoteSaved``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from skill.dialogue.conditions import SETTINGS
from skill.dialogue.engine import Engine, Mode
from skill.dialogue.protocol import End, Heard, NoteSaved, SaveNote, Say, SessionContext, Silence, Timeout
from skill.dialogue.validate import errors, load_checked
from skill.dialogue.yamlpos import as_word

ROOT = Path(__file__).resolve().parent.parent
DIALOGS = ROOT / "dialogs"
TEST_KEYS = {"name", "setting", "settings", "names", "solo", "seed", "safe_word", "notes", "last_notes",
             "last_notes_from", "last_notes_when",
             "turns", "expect_end"}
TURN_KEYS = {"user", "expect_intent", "expect_node", "expect_say"}


@dataclass
class Case:
    flow: str
    name: str
    setting: str
    spec: dict[str, Any]
    file: str
    problems: list[str] = field(default_factory=list)


def _settings(spec: dict[str, Any]) -> list[str]:
    s = spec.get("settings")
    if s == "all":
        return list(SETTINGS)
    if isinstance(s, list):
        return [str(x) for x in s]
    return [str(spec.get("setting", "sofa"))]


def collect() -> list[Case]:
    cases: list[Case] = []
    for path in sorted((DIALOGS / "tests").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        flow = doc.get("flow", path.stem)
        for spec in doc.get("tests", []):
            for setting in _settings(spec):
                cases.append(Case(flow, str(spec.get("name")), setting, spec, path.name))
    return cases


CASES = collect()


@pytest.fixture(scope="module")
def bundle():
    b, problems = load_checked(DIALOGS)
    assert not errors(problems), "\n".join(p.format() for p in errors(problems))
    return b


def run_case(bundle, case: Case) -> None:
    spec = case.spec
    unknown = set(spec) - TEST_KEYS
    assert not unknown, f"{case.file}: test '{case.name}' has unknown keys {sorted(unknown)}"
    names = [] if spec.get("solo") else [str(n) for n in spec.get("names", [])]
    ctx = SessionContext(
        names=names,
        setting=case.setting,
        safe_word=str(spec.get("safe_word", "red")),
        notes_enabled=spec.get("notes", True) is not False,
        last_notes=[str(n) for n in spec.get("last_notes", [])],
        last_notes_ours="last_notes_from" not in spec,
        last_notes_from=str(spec.get("last_notes_from", "")),
        last_notes_when=str(spec.get("last_notes_when", "")),
    )
    engine = Engine(bundle, case.flow, ctx, seed=int(spec.get("seed", 0)))
    transcript: list[str] = []
    said: list[str] = []
    ended: list[str] = []

    def absorb(actions) -> None:
        pending = list(actions)
        while pending:
            a = pending.pop(0)
            if isinstance(a, Say):
                said.append(a.text)
                transcript.append(f"  assistant [{a.node}]: {a.text}")
            elif isinstance(a, End):
                ended.append(a.reason)
                transcript.append(f"  (end: {a.reason})")
            elif isinstance(a, SaveNote):
                pending.extend(engine.handle(NoteSaved("test")))

    absorb(engine.start())
    for i, turn in enumerate(spec.get("turns", []), 1):
        where = f"{case.file}: '{case.name}' [{case.setting}] turn {i}"
        unknown = set(turn) - TURN_KEYS
        assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
        if "user" in turn:
            assert not engine.finished, f"{where}: the session already ended\n" + "\n".join(transcript)
            said.clear()
            text = as_word(turn["user"])
            transcript.append(f"  user: {text}")
            event = Silence() if text == "silence" else Timeout() if text == "timeout" else Heard(text, 1.0)
            absorb(engine.handle(event))
        context = "\n".join(transcript[-12:])
        if "expect_intent" in turn:
            got = engine.last_match.name if engine.last_match is not None else None
            want = as_word(turn["expect_intent"])
            assert got == want, f"{where}: expected intent {want!r}, matcher said {engine.last_match}\n{context}"
        if "expect_node" in turn:
            want = str(turn["expect_node"])
            node = engine.node or ""
            assert want in (node, node.rpartition(".")[2]), f"{where}: expected node {want!r}, at {node!r}\n{context}"
        if "expect_say" in turn:
            words = turn["expect_say"]
            words = [words] if isinstance(words, str) else words
            spoken = " ".join(said).lower()
            for w in words:
                assert str(w).lower() in spoken, f"{where}: expected {w!r} in what was said\n{context}"
    if "expect_end" in spec:
        want = spec["expect_end"]
        if want is None:
            assert not engine.finished, f"{case.file}: '{case.name}' should still be running, ended {ended}"
        else:
            assert ended and ended[-1] == want, (
                f"{case.file}: '{case.name}' [{case.setting}]: expected end {want!r}, got {ended or 'no end'}\n"
                + "\n".join(transcript[-12:]))


def test_conversation_files_exist():
    assert CASES, "no conversation tests found in dialogs/tests/"
    flows = {c.flow for c in CASES}
    for flow in ("aftercare", "precare", "reflection", "quick", "support"):
        assert flow in flows, f"no conversation tests for flow {flow}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.flow}: {c.name} [{c.setting}]" for c in CASES])
def test_conversation(bundle, case: Case):
    run_case(bundle, case)


def test_runner_can_fail(bundle):
    """The runner must notice a wrong expectation (tests that cannot fail prove nothing)."""
    case = Case("quick", "deliberately wrong", "sofa",
                {"names": ["Sam", "Alex"], "seed": 1, "turns": [{"expect_node": "close"}]}, "inline")
    with pytest.raises(AssertionError):
        run_case(bundle, case)


def _calm_answer(engine: Engine, action) -> Heard:
    """The last-listed plain answer at a node (the calm path), as its first example phrase."""
    if engine.mode is Mode.CONFIRM:
        return Heard("yes")
    if action.free_form:
        return Heard("a little more time together next time")
    node = engine._node()
    plain = [i for i, t in node.listen.items() if not t.now]
    intent = plain[-1]
    return Heard(engine.bundle.intent_phrases(node, intent)[0])


@pytest.mark.parametrize("people", [[], ["Sam"], ["Sam", "Alex"], ["Sam", "Alex", "Kim"]],
                         ids=["solo", "one", "two", "three"])
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("flow", ["aftercare", "precare", "reflection", "quick"])
def test_every_flow_reaches_an_end_on_the_calm_path(bundle, flow, setting, people):
    """Every flow, every setting, solo to three people: plain answers lead to a kind end."""
    from skill.dialogue.protocol import Listen, Wait

    engine = Engine(bundle, flow, SessionContext(names=list(people), setting=setting,
                                                 last_notes=["More blankets."]), seed=len(people))
    actions = engine.start()
    spoken: list[str] = []
    for _ in range(200):
        spoken += [a.text for a in actions if isinstance(a, Say)]
        last = actions[-1]
        if isinstance(last, End):
            break
        if isinstance(last, Wait):
            event = Heard("continue")
        elif isinstance(last, SaveNote):
            event = NoteSaved("n")
        else:
            assert isinstance(last, Listen)
            event = _calm_answer(engine, last)
        actions = engine.handle(event)
    assert engine.finished, f"{flow} did not end within 200 turns"
    assert engine.end_reason in ("completed", "not_ready"), (engine.end_reason, spoken[-3:])
    for text in spoken:
        assert "{" not in text and "  " not in text, text
        if not people:
            assert "Sam" not in text
