"""Tests for skill.dialogue.matcher: the labelled utterance set plus focused rules.

The labelled set (tests/data/utterances.yaml) is the tuning ground for the
threshold and margin; the focused tests pin the safety rules (stop, safe
word, negation, hedging) so a later tweak cannot quietly break them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from skill.dialogue.dialog import COMMAND_NAMES, load_bundle
from skill.dialogue.matcher import (
    DEFAULT_AFFIRMATIVE,
    HEDGES,
    NEGATORS,
    SAFETY_COMMANDS,
    Match,
    Matcher,
    analyze,
)
from skill.dialogue.yamlpos import as_word

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = ROOT / "tests" / "data" / "utterances.yaml"

# The shipped commands, vocabulary and feelings, read by the one loader a session uses.
BUNDLE, _ = load_bundle(ROOT / "dialogs")
COMMAND_PHRASES = BUNDLE.command_phrases()
VOCAB: dict[str, tuple[str, ...]] = BUNDLE.vocabulary
FEELINGS = BUNDLE.feelings
# The labelled set is read as a session reads it: with the shipped feelings vocabulary.
MATCHER = Matcher(COMMAND_PHRASES, affirmative=BUNDLE.affirmative, feelings=FEELINGS,
                  stop_alone=BUNDLE.stop_alone)
#: Affirmative intent -> counterpart, as a session's matcher resolves vocabulary.yaml's list.
AFFIRMATIVE = MATCHER.affirmative
#: Commands heard at a question: all but "continue", as in the engine.
AT_A_QUESTION = frozenset(COMMAND_PHRASES) - {"continue"}


def node_intents(spec) -> dict[str, list[str]]:
    """A case's intents: a list of vocabulary names, or a mapping of local intents."""
    if isinstance(spec, dict):
        return {as_word(k): list(v) for k, v in spec.items()}
    return {as_word(n): list(VOCAB[as_word(n)]) for n in spec}


def _cases():
    doc = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    cases = doc["cases"]
    return [
        pytest.param(c, id=f"{i:03d}-{c['text'][:40]}-{as_word(c['expect'])}")
        for i, c in enumerate(cases)
    ]


CASES = _cases()
_MATCHERS: dict[str, Matcher] = {"red": MATCHER}


def _matcher(safe_word: str) -> Matcher:
    if safe_word not in _MATCHERS:
        _MATCHERS[safe_word] = Matcher(COMMAND_PHRASES, safe_word=safe_word, affirmative=BUNDLE.affirmative,
                                       feelings=FEELINGS)
    return _MATCHERS[safe_word]


def verdict(m: Match) -> str:
    if m.kind == "command":
        return f"command:{m.name}"
    if m.kind == "intent":
        return str(m.name)
    return m.kind


# --------------------------------------------------------------------------
# The labelled set
# --------------------------------------------------------------------------


def test_labelled_set_is_big_and_covers_the_brief():
    doc = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    cases = doc["cases"]
    assert len(cases) >= 250
    expects = [as_word(c["expect"]) for c in cases]
    assert sum(e == "unclear" for e in expects) >= 25
    assert sum(e.startswith("command:") for e in expects) >= 40
    qualified = [c for c in cases if analyze(c["text"]).negated or analyze(c["text"]).hedged]
    assert len(qualified) >= 50
    assert any("confidence" in c for c in cases)


@pytest.mark.parametrize("case", CASES)
def test_labelled_utterance(case):
    intents = node_intents(case["intents"])
    expect = as_word(case["expect"])
    # "continue" only counts during a wait or a pause; the cases for it are read there.
    allowed = None if str(case["expect"]) == "command:continue" else AT_A_QUESTION
    m = _matcher(case.get("safe_word", "red")).match(
        case["text"], intents, confidence=case.get("confidence", 1.0), allowed_commands=allowed
    )
    got = verdict(m)
    if expect == "ambiguous-or-unclear":
        assert m.kind in ("ambiguous", "unclear"), m
    else:
        assert got == expect, m
    # Whatever the label, a negated or hedged utterance never yields an affirmative intent.
    a = analyze(case["text"])
    if (a.negated or a.hedged) and m.kind == "intent":
        assert m.name not in AFFIRMATIVE, m


# --------------------------------------------------------------------------
# Focused rules
# --------------------------------------------------------------------------

FEEL = node_intents(["okay", "not_okay", "unsure", "support"])
YES_NO = node_intents(["yes", "no"])


@pytest.mark.parametrize(
    "text",
    ["stop", "please stop", "stop now", "can we stop", "I want to stop", "Stop!",
     "no no stop", "okay, stop it", "I'd really like to stop now", "stop please, I'm done"],
)
@pytest.mark.parametrize("confidence", [1.0, 0.1])
def test_stop_is_biased_toward_safety(text, confidence):
    for intents in (FEEL, YES_NO, {}):
        assert MATCHER.match(text, intents, confidence=confidence) == Match("command", "stop", 100.0)


def test_stop_and_safe_word_ignore_allowed_commands():
    assert MATCHER.match("stop", FEEL, allowed_commands=()).name == "stop"
    assert MATCHER.match("red", FEEL, allowed_commands=()).name == "safe_word"
    assert MATCHER.match("pause", FEEL, allowed_commands=()).kind == "unclear"
    assert MATCHER.match("pause", FEEL, allowed_commands={"pause"}).name == "pause"
    assert MATCHER.match("slower", FEEL, allowed_commands={"pause"}).kind == "unclear"


def test_safe_word_is_configurable_and_whole_word():
    m = Matcher(COMMAND_PHRASES, safe_word="Blue Moon")
    assert m.match("blue moon", FEEL).name == "safe_word"
    assert m.match("uh, BLUE MOON!", FEEL).name == "safe_word"
    assert m.match("blue", FEEL).name != "safe_word"
    assert m.match("red", FEEL).kind == "unclear"
    assert MATCHER.match("I feel bored", FEEL).name != "safe_word"  # 'red' inside a word
    assert MATCHER.match("reddish", FEEL).name != "safe_word"


@pytest.mark.parametrize("text, stops", [
    ("good night", True), ("okay, good night", True), ("good night everyone", True),
    ("bye", True), ("bye now", True), ("that'll do", True),
    ("we had a good night", False), ("a good night", False), ("good night and thank you so much", False),
    ("that will do nicely", False), ("bye the way", False),
])
def test_a_stop_said_only_alone_needs_the_whole_answer(text, stops):
    """``alone:`` phrases stop as the whole answer, give or take a lead ("okay")
    or one last word ("everyone"), never as part of a sentence."""
    m = Matcher({"stop": ["stop", "good night", "bye", "that'll do"]}, stop_alone=["good night", "bye", "that'll do"])
    got = m.match(text, {"okay": ["good", "nice"]})
    assert ((got.kind, got.name) == ("command", "stop")) is stops, (text, got)
    assert (m.is_safety(text) is not None) is False  # never found inside a sentence


def test_negated_stop_is_not_a_command():
    assert MATCHER.match("I can't stop crying", FEEL) != Match("command", "stop", 100.0)
    assert MATCHER.match("please don't stop", YES_NO).kind != "command"


def test_other_commands_need_the_whole_utterance():
    assert MATCHER.match("go back", FEEL).name == "back"
    assert MATCHER.match("I want to go back to bed", FEEL).kind != "command"
    assert MATCHER.match("help", FEEL).name == "help"
    assert MATCHER.match("I need help", FEEL) == Match("intent", "support", 100.0)


def test_a_nodes_exact_phrase_beats_a_non_safety_command():
    ready = node_intents(["ready", "not_ready"])
    assert MATCHER.match("we're ready", ready).name == "ready"
    assert MATCHER.match("we're ready", YES_NO).name == "continue"
    note = node_intents(["keep", "redo", "no"])
    assert MATCHER.match("say it again", note).name == "redo"
    assert MATCHER.match("say it again", YES_NO).name == "repeat"


@pytest.mark.parametrize(
    "text",
    ["not okay", "I'm not sure", "not really", "I don't think so", "no, I'm not fine",
     "I wouldn't say I'm okay", "I'm okay... not really", "not feeling great",
     "never okay", "I'm hardly fine", "barely okay", "nothing good", "maybe good",
     "I guess I'm fine", "kind of okay", "sort of good", "probably okay", "yes... maybe"],
)
def test_negated_or_hedged_never_affirmative(text):
    for names in (["okay", "not_okay", "unsure"], ["yes", "no"], ["okay"], ["yes"],
                  ["ready", "not_ready"], ["keep", "redo"]):
        m = MATCHER.match(text, node_intents(names))
        assert not (m.kind == "intent" and m.name in DEFAULT_AFFIRMATIVE), (text, names, m)


def test_negated_affirmative_goes_to_its_counterpart_or_unclear():
    assert MATCHER.match("I wouldn't say I'm okay", FEEL).name == "not_okay"
    assert MATCHER.match("I'm not ready", node_intents(["ready", "not_ready"])).name == "not_ready"
    # No not_okay here: the feelings vocabulary lands a clear "not okay" on support, never on okay.
    assert MATCHER.match("I wouldn't say I'm okay", node_intents(["okay", "support"])).name == "support"
    assert MATCHER.match("I wouldn't say I'm okay", node_intents(["okay", "yes"])).kind == "unclear"


def test_hedged_affirmative_goes_to_unsure_or_unclear():
    assert MATCHER.match("I guess I'm okay", FEEL).name == "unsure"
    assert MATCHER.match("I guess I'm okay", node_intents(["okay", "not_okay"])).kind == "unclear"


def test_a_phrase_said_exactly_wins_over_near_misses():
    intents = {"more_time": ["we need to talk more"], "support": ["I need to talk"]}
    assert MATCHER.match("We need to talk more.", intents) == Match("intent", "more_time", 100.0)
    assert MATCHER.match("I need to talk", intents) == Match("intent", "support", 100.0)
    both = {"a": ["hold me"], "b": ["hold me", "a hug"]}
    assert MATCHER.match("hold me", both) == Match("ambiguous", None, 100.0, ("a", "b"))


def test_an_exact_affirmative_phrase_still_obeys_polarity():
    # A flow author listing "not bad" under okay cannot make a negated answer affirmative.
    intents = {"okay": ["fine", "not bad"], "not_okay": ["not okay"]}
    assert MATCHER.match("not bad", intents).name != "okay"


def test_affirmative_list_is_configurable():
    intents = {"fine": ["fine", "all good"], "bad": ["not fine"]}
    plain = Matcher(COMMAND_PHRASES, affirmative={"fine": "bad"})
    assert plain.match("I'm not all good", intents).name == "bad"
    assert plain.match("all good", intents).name == "fine"
    as_list = Matcher(COMMAND_PHRASES, affirmative=["yes", "okay"])
    assert as_list.affirmative == {"yes": "no", "okay": "not_okay"}
    assert as_list.match("I'm not okay", FEEL).name == "not_okay"
    assert as_list.match("I'm not ready", node_intents(["ready", "not_ready"])).name == "not_ready"
    # "ready" is not affirmative for this matcher: a negated answer may still not match it.
    assert as_list.match("not ready", {"ready": ["ready"]}).kind == "unclear"


def test_close_scores_are_ambiguous_with_alternatives():
    intents = {"tea": ["a cup of tea"], "tee": ["a cup of tee"]}
    m = MATCHER.match("a cup of tea please", intents)
    assert m.kind in ("intent", "ambiguous")
    m = MATCHER.match("cup", {"tea": ["cup of tea"], "coffee": ["cup of coffee"]})
    assert m.kind in ("ambiguous", "unclear")
    if m.kind == "ambiguous":
        assert set(m.alternatives) == {"tea", "coffee"}
        assert m.name is None


def test_threshold_and_margin_are_parameters():
    strict = Matcher(COMMAND_PHRASES, threshold=99.5)
    assert strict.match("pretty good thanks mate", FEEL).kind == "unclear"
    assert strict.match("pretty good", FEEL).name == "okay"
    lenient = Matcher(COMMAND_PHRASES, margin=0.0)
    assert lenient.match("I'm okay", FEEL).kind == "intent"


def test_confidence_floor_is_a_parameter():
    m = Matcher(COMMAND_PHRASES, confidence_floor=0.9)
    assert m.match("yes", YES_NO, confidence=0.8).kind == "unclear"
    assert m.match("stop", YES_NO, confidence=0.8).name == "stop"


def test_accepts_plain_dicts_and_tuples():
    m = Matcher({"stop": ("stop",), "pause": ["pause", "hold on"]})
    assert m.match("hold on", {"yes": ("yes",)}).name == "pause"
    assert m.match("yes", {"yes": ("yes",)}).name == "yes"
    assert m.match("stop", {}).name == "stop"


def test_word_shapes():
    assert analyze("unhappy").words == ("not", "happy")
    assert analyze("insecure").negated
    assert not analyze("understand").negated
    assert analyze("okayish").hedged
    assert not analyze("finish").hedged and analyze("finish").words == ("finish",)
    assert not analyze("rubbish").hedged
    assert analyze("nooo").words == ("no",)
    assert analyze("sure, why not").negated is False
    assert analyze("could be better").polarity == (True, False)


def test_very_long_speech_is_unclear_but_stop_still_counts():
    long = "I am okay and the weather is lovely today " * 500
    assert MATCHER.match(long, FEEL).kind == "unclear"
    assert MATCHER.match(long + " stop", FEEL).name == "stop"
    assert MATCHER.match("red " + long, FEEL).name == "safe_word"


def test_match_is_frozen_and_hashable():
    m = MATCHER.match("yes", YES_NO)
    assert hash(m) == hash(Match("intent", "yes", 100.0))
    with pytest.raises(AttributeError):
        m.kind = "x"  # type: ignore[misc]


@given(st.text(max_size=200), st.floats(min_value=0, max_value=1))
@settings(max_examples=200, deadline=None)
def test_any_text_gives_a_valid_match(text, confidence):
    m = MATCHER.match(text, FEEL, confidence=confidence)
    assert m.kind in ("command", "intent", "unclear", "ambiguous")
    assert 0.0 <= m.score <= 100.0
    if m.kind == "command":
        assert m.name in set(COMMAND_NAMES) | SAFETY_COMMANDS
    elif m.kind == "intent":
        assert m.name in FEEL
    else:
        assert m.name is None


AFFIRMATIVE_WORDS = sorted(
    {p for name in ("okay", "yes", "ready", "keep") for p in VOCAB[name]}
)
TEMPLATES = [
    "i am not {x}", "not really {x}", "i do not think i am {x}", "i'm not {x}",
    "{x}? not really", "not {x}", "i wouldn't say {x}", "never {x}", "maybe {x}",
    "i guess {x}", "kind of {x}", "not sure {x}", "{x}, i don't know", "no, not {x}",
    "i don't feel {x}", "i'm not sure i'm {x}", "probably {x}", "i can't say {x}",
    "{x} i suppose", "hardly {x}", "nooo {x}", "am i {x}", "i'd be lying if i said i was {x}",
    "meh, {x}", "the opposite of {x}", "{x}-ish", "i wish i was {x}", "i want to be {x}",
    "i am anything but {x}", "far from {x}", "i used to be {x}", "{x}... not", "i reckon {x}",
]


@given(
    st.sampled_from(TEMPLATES),
    st.sampled_from(AFFIRMATIVE_WORDS),
    st.sampled_from(["", "um ", "well, ", "honestly "]),
    st.sampled_from(["", ".", "...", "?", "!"]),
)
@settings(max_examples=400, deadline=None)
def test_negated_or_hedged_templates_never_match_affirmative(template, word, lead, trail):
    text = lead + template.format(x=word) + trail
    for names in (["okay", "not_okay", "unsure", "support"], ["yes", "no"],
                  ["ready", "not_ready", "unsure"], ["keep", "redo", "no"], ["okay", "yes"]):
        m = MATCHER.match(text, node_intents(names))
        assert not (m.kind == "intent" and m.name in AFFIRMATIVE), (text, names, m)


@given(
    st.sampled_from(AFFIRMATIVE_WORDS),
    st.sampled_from(sorted(NEGATORS) + [" ".join(h) for h in HEDGES] + ["n't", "isn't", "don't"]),
    st.integers(min_value=0, max_value=6),
)
@settings(max_examples=400, deadline=None)
def test_a_negator_or_hedge_anywhere_blocks_affirmative(phrase, qualifier, where):
    words = phrase.split()
    where = min(where, len(words))
    text = " ".join(words[:where] + [qualifier] + words[where:])
    a = analyze(text)
    assert a.negated or a.hedged, text
    for names in (["okay", "not_okay", "unsure"], ["yes", "no"], ["ready", "not_ready"], ["keep", "redo", "no"]):
        m = MATCHER.match(text, node_intents(names))
        assert not (m.kind == "intent" and m.name in AFFIRMATIVE), (text, names, m)


# --------------------------------------------------------------------------
# The shipped vocabulary
# --------------------------------------------------------------------------


def test_shipped_vocabulary_affirmative_is_the_default():
    """vocabulary.yaml lists the affirmative answers; their counterparts are the defaults.
    (What the loader reads from the shipped files is tested in test_dialog_loader.py.)"""
    assert AFFIRMATIVE == dict(DEFAULT_AFFIRMATIVE)
    assert set(COMMAND_PHRASES) == set(COMMAND_NAMES)


def test_affirmative_phrases_are_plain():
    # A negated/hedged phrase in an affirmative intent could never match; it would be a mistake.
    for name in AFFIRMATIVE:
        for phrase in VOCAB[name]:
            a = analyze(phrase)
            assert not (a.negated or a.hedged), (name, phrase)


def test_every_vocabulary_phrase_matches_its_own_intent_alone():
    for name, phrases in VOCAB.items():
        for phrase in phrases:
            m = MATCHER.match(phrase, {name: phrases})
            if m.kind == "command":
                continue  # e.g. "say it again" outside a readback node is "repeat"
            assert (m.kind, m.name) == ("intent", name), (phrase, m)


@pytest.mark.parametrize("name", sorted(COMMAND_PHRASES))
def test_every_command_phrase_is_its_command_at_any_node(name):
    for phrase in COMMAND_PHRASES[name]:
        for intents in (FEEL, YES_NO, {}):
            m = MATCHER.match(phrase, intents)
            # A node's own exact phrase may win over a non-safety command
            # ("help me" is support at a feelings question).
            if m.kind == "intent" and name != "stop":
                assert m.name in intents, (phrase, m)
                continue
            assert (m.kind, m.name) == ("command", name), (phrase, intents.keys(), m)


def test_every_phrase_of_every_shipped_node_is_understood_there():
    """Integration with the real dialogues: each listed phrase, said at its node, is its intent.

    Fails when two answers at one node share a phrase, or when one answer's
    phrase is really a command (that answer could never be given).
    """
    from skill.dialogue.dialog import load_bundle

    bundle, _ = load_bundle(ROOT / "dialogs")
    assert bundle.flows, "no flows loaded"
    commands = {n: list(c.phrases) for n, c in bundle.commands.items() if c.phrases}
    matcher = Matcher(commands, affirmative=bundle.affirmative)
    problems = []
    for fname, flow in bundle.flows.items():
        for nid, node in flow.nodes.items():
            intents = {i: bundle.intent_phrases(node, i) for i in node.listen}
            intents = {i: p for i, p in intents.items() if p}
            for intent, phrases in intents.items():
                for phrase in phrases:
                    m = matcher.match(phrase, intents)
                    if (m.kind, m.name) != ("intent", intent):
                        problems.append(f"{fname}.{nid}: {phrase!r} ({intent}) -> {m}")
    assert not problems, "\n".join(problems[:20])


def test_match_time_is_small_report_only(capsys):
    """Measure (never assert) the time per match; the numbers go in the report."""
    texts = ["I'm okay", "not feeling great", "what's the weather like", "could you say that again",
             "I guess I'm a bit upset", "yes please"]
    MATCHER.match("warm up", FEEL)
    times = []
    for i in range(50):
        for t in texts:
            start = time.perf_counter()
            MATCHER.match(f"{t} {i}", FEEL)  # a new text each time: no cache hit
            times.append(time.perf_counter() - start)
    times.sort()
    median, p90 = times[len(times) // 2] * 1000, times[int(len(times) * 0.9)] * 1000
    with capsys.disabled():
        print(f"\n[matcher] median {median:.3f} ms, p90 {p90:.3f} ms per uncached match ({len(times)} matches)")
