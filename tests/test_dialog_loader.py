"""Loading dialogue files: the model, positions for every key, YAML quirks, bundles, the docs' example."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from skill.dialogue.dialog import (
    COMMAND_NAMES,
    Bundle,
    load_affirmative,
    load_bundle,
    load_commands,
    load_flow,
    load_vocabulary,
)
from skill.dialogue.validate import check_files, errors
from skill.dialogue.yamlpos import YList, YMap, load

ROOT = Path(__file__).resolve().parent.parent
MINI = Path(__file__).resolve().parent / "data" / "dialogs_min"


def test_positions_for_keys_and_values():
    doc, problems = load("f.yaml", "a: 1\nb:\n  c: [x, 'y']\n  d: hello\n")
    assert not problems
    assert isinstance(doc, YMap)
    assert (doc.kmark("a").line, doc.kmark("a").col) == (1, 1)
    assert (doc.kmark("b").line, doc.kmark("b").col) == (2, 1)
    inner = doc["b"]
    assert (inner.kmark("d").line, inner.kmark("d").col) == (4, 3)
    assert (inner.vmark("d").line, inner.vmark("d").col) == (4, 6)
    lst = inner["c"]
    assert isinstance(lst, YList)
    assert [m.col for m in lst.imarks] == [7, 10]
    assert lst.imarks[1].quoted and lst.imarks[1].at(0).col == 11
    assert str(inner.kmark("c")) == "f.yaml:3:3"


def test_yaml_12_words_stay_words():
    doc, _ = load("f.yaml", "yes: no\non: off\nt: true\nf: False\nn: ~\ni: 12\nx: 1.5\ns: '12'\n")
    assert doc["yes"] == "no"
    assert doc["on"] == "off"
    assert doc["t"] is True and doc["f"] is False and doc["n"] is None
    assert doc["i"] == 12 and doc["x"] == 1.5 and doc["s"] == "12"


def test_duplicate_keys_reported():
    _, problems = load("f.yaml", "a: 1\nb: 2\na: 3\n")
    assert len(problems) == 1
    assert problems[0].mark.line == 3
    assert "duplicate key 'a' (first given at line 1)" in problems[0].message


def test_syntax_error_has_position():
    value, problems = load("f.yaml", "a: [1, 2\nb: 3\n")
    assert value is None
    assert problems[0].message.startswith("YAML syntax error")
    assert problems[0].mark.line >= 1


def test_flow_model_from_fixture():
    flow, problems = load_flow(MINI / "mini.yaml")
    assert not problems
    assert flow is not None
    assert flow.name == "mini" and flow.start == "hello" and flow.timeout == 10
    feel = flow.nodes["feel"]
    assert feel.for_each and feel.step == "listen"
    assert list(feel.listen) == ["not_okay", "unsure", "okay"]  # order is priority
    t = feel.listen["not_okay"]
    assert (t.next, t.resume, t.now) == ("helper.start", "drink", True)
    assert [v.text for v in feel.listen["okay"].say] == ["Good to hear.", "I'm glad."]
    assert feel.mark.line == 17
    assert flow.nodes["rest"].wait_seconds == 30 and flow.nodes["rest"].then == "offer"
    assert flow.nodes["offer"].skip == "route"
    route = flow.nodes["route"]
    assert [a.next for a in route.branch] == ["gentle_close", "last", "close"]
    assert route.branch[-1].cond is None
    drink = flow.nodes["drink"]
    assert drink.say[0].when is not None and drink.say[0].when_text == "setting == bath"
    assert list(drink.listen) == ["yes", "no"]
    assert flow.on_unclear is not None and flow.on_unclear.then == "end"
    assert flow.on_silence is not None and len(flow.on_silence.reprompts) == 3


def test_vocabulary_and_commands():
    intents, marks, problems = load_vocabulary(MINI / "vocabulary.yaml")
    assert not problems
    assert intents["yes"] == ("yes", "yeah", "sure")
    assert marks["okay"].line == 6
    commands, problems = load_commands(MINI / "commands.yaml")
    assert not problems
    assert commands["pause"].seconds == 120
    assert "give us a minute" in commands["pause"].phrases
    assert commands["stop"].reply[0].text.startswith("Okay, we'll stop")


def test_shipped_commands_and_vocabulary():
    """The shipped files (moved here from the matcher's tests when its second loader went)."""
    commands, problems = load_commands(ROOT / "dialogs" / "commands.yaml")
    assert not problems
    assert set(commands) == set(COMMAND_NAMES)
    assert all(c.reply and c.phrases for c in commands.values())
    assert "stop" in commands["stop"].phrases
    intents, _, problems = load_vocabulary(ROOT / "dialogs" / "vocabulary.yaml")
    assert not problems
    for name in ("yes", "no", "okay", "not_okay", "unsure", "support", "keep", "redo", "ready", "not_ready"):
        # Some near-duplicates ("I'm not okay", "not okay") are kept on
        # purpose: the phrases are also the speech recognizer's grammar.
        assert 15 <= len(intents[name]) <= 40, name
    assert load_affirmative(ROOT / "dialogs" / "vocabulary.yaml") == ["yes", "okay", "ready", "keep"]


def test_bare_yes_and_no_are_words_not_booleans(tmp_path: Path):
    """YAML 1.1 would read unquoted yes/no as true/false; the loader reads them as the words."""
    vocab = tmp_path / "vocabulary.yaml"
    vocab.write_text("version: 1\nintents:\n  yes: [yes, yeah]\n  no: [no]\naffirmative: [yes]\n")
    intents, _, problems = load_vocabulary(vocab)
    assert not problems
    assert intents == {"yes": ("yes", "yeah"), "no": ("no",)}
    assert load_affirmative(vocab) == ["yes"]
    vocab.write_text("version: 1\nintents:\n  fine: [fine]\naffirmative: {fine: null}\n")
    assert load_affirmative(vocab) == {"fine": None}


@pytest.mark.parametrize(
    "text, fragment, line",
    [
        ("version: 2\ncommands: {}\n", "unsupported version 2", 1),
        ("version: 1\n", "missing 'commands:'", 1),
        ("version: 1\ncommands:\n  dance:\n    phrases: [dance]\n", "unknown command 'dance'", 3),
        ("version: 1\ncommands:\n  stop:\n    phrases: []\n", "has no phrases", 4),
        ("version: 1\ncommands:\n  stop:\n    phrases: ['  ...  ']\n", "no words left after normalizing", 4),
        ("version: 1\ncommands:\n  pause:\n    phrases: [p]\n    seconds: -1\n", "must be more than 0", 5),
        ("version: 1\ncommands:\n  stop: 5\n", "must be a mapping", 3),
        ("version: 1\ncommands:\n  stop:\n    reply: Okay.\n", "needs 'phrases'", 4),
        ("version: 1\ncommands:\n  pause:\n    phrases: [pause]\n    alone: [wait]\n", "'alone' is only for the stop", 5),
        ("version: 1\ncommands:\n  stop:\n    phrases: [stop]\n    alone: []\n", "has no phrases", 5),
    ],
)
def test_bad_commands_give_one_clear_line(tmp_path: Path, text: str, fragment: str, line: int):
    path = tmp_path / "commands.yaml"
    path.write_text(text)
    _, problems = load_commands(path)
    assert problems and fragment in problems[0].message, [p.format() for p in problems]
    assert problems[0].mark.line == line and "\n" not in problems[0].format()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("version: 1\nintents:\n  yes: [unclosed\n", "YAML syntax error"),
        ("- a\n- b\n", "must be a mapping"),
        ("version: 1\n", "missing 'intents:'"),
        ("version: 1\nintents:\n  a: [a]\naffirmative: a\n", "'affirmative' must be a list"),
        ("version: 1\nintents:\n  a: ['?!']\n", "no words left after normalizing"),
    ],
)
def test_bad_vocabulary_gives_one_clear_line(tmp_path: Path, text: str, fragment: str):
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text)
    _, _, problems = load_vocabulary(path)
    assert problems and fragment in problems[0].message, [p.format() for p in problems]
    assert problems[0].format().startswith(f"{path}:") and "\n" not in problems[0].format()


def test_a_missing_commands_file_is_a_problem_not_a_crash(tmp_path: Path):
    _, problems = load_commands(tmp_path / "missing.yaml")
    assert problems and "cannot read the file" in problems[0].format()


def test_bundle_loads_everything_and_resolves_cross_flow():
    bundle, problems = load_bundle(MINI)
    assert not problems
    assert set(bundle.flows) == {"mini", "helper"}
    assert bundle.affirmative == ["yes", "okay"]
    assert bundle.resolve("mini", "helper.start") == ("helper", "start")
    assert bundle.resolve("mini", "feel") == ("mini", "feel")
    assert bundle.resolve("mini", "nowhere") is None
    feel = bundle.flows["mini"].nodes["feel"]
    assert bundle.intent_phrases(feel, "okay") == ("I'm okay", "fine", "good")
    start = bundle.flows["helper"].nodes["start"]
    assert bundle.intent_phrases(start, "go_on") == ("go on with it", "keep checking in")
    assert bundle.intent_phrases(start, "missing") is None


def test_real_bundle_loads():
    bundle, problems = load_bundle(ROOT / "dialogs")
    assert not errors(problems), "\n".join(p.format() for p in problems)
    assert isinstance(bundle, Bundle)
    assert bundle.vocabulary and bundle.commands
    for flow in bundle.flows.values():
        assert flow.start in flow.nodes


def test_missing_folder_is_a_problem_not_a_crash(tmp_path: Path):
    bundle, problems = load_bundle(tmp_path / "nope")
    assert not bundle.flows
    assert problems and "not found" in problems[0].message


def _doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "dialogs.md").read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_docs_flow_example_is_valid(tmp_path: Path):
    """The first YAML example in docs/dialogs.md is a complete flow; it must pass the checker."""
    first = _doc_blocks()[0]
    target = tmp_path / "quick.yaml"
    target.write_text(first, encoding="utf-8")
    # Borrow the real vocabulary, commands and the support flow it calls.
    for name in ("vocabulary.yaml", "commands.yaml", "support.yaml"):
        shutil.copy(ROOT / "dialogs" / name, tmp_path / name)
    problems = check_files([target], context=tmp_path)
    assert not errors(problems), "\n".join(p.format() for p in problems)
    flow, _ = load_flow(target)
    assert flow is not None and flow.nodes["feel"].for_each


def test_docs_vocabulary_and_commands_examples_load(tmp_path: Path):
    blocks = _doc_blocks()
    vocab = next(b for b in blocks if b.startswith("version: 1\nintents:"))
    (tmp_path / "vocabulary.yaml").write_text(vocab)
    intents, _, problems = load_vocabulary(tmp_path / "vocabulary.yaml")
    assert not problems and "not_okay" in intents
    cmds = next(b for b in blocks if b.startswith("version: 1\ncommands:"))
    cmds = cmds.replace("  ...\n", "")
    (tmp_path / "commands.yaml").write_text(cmds)
    commands, problems = load_commands(tmp_path / "commands.yaml")
    assert not problems and commands["pause"].seconds == 300


def test_schema_matches_the_loader():
    """docs/dialog.schema.json (for editors) must know exactly the keys the loader accepts."""
    import json

    from skill.dialogue.dialog import END_REASONS, FLOW_KEYS, NODE_KEYS, TRANSITION_KEYS

    schema = json.loads((ROOT / "docs" / "dialog.schema.json").read_text())
    assert set(schema["properties"]) == set(FLOW_KEYS)
    node = schema["$defs"]["node"]
    assert set(node["properties"]) == set(NODE_KEYS)
    assert node["properties"]["end"]["enum"] == list(END_REASONS)
    transition = schema["$defs"]["transition"]["oneOf"][1]
    assert set(transition["properties"]) == set(TRANSITION_KEYS)


def test_alias_bomb_is_refused_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join(f"*{chr(96 + i)}" for _ in range(10)) + "]\n"
    value, problems = load("bomb.yaml", bomb)
    assert value is None and "too much data" in problems[0].message


def test_deep_nesting_is_a_problem_not_a_crash():
    value, problems = load("deep.yaml", "[" * 5000 + "]" * 5000)
    assert problems
