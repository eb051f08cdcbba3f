"""Danger, small needs and the feelings vocabulary (dialogs/care.yaml,
dialogs/feelings.yaml), read by the real matcher and engine.

The phrasings here go well beyond the examples in issue 10: the danger path
must catch what people actually say, and everyday aftercare talk must not
set it off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skill.dialogue.care import load_care, load_feelings
from skill.dialogue.conditions import SETTINGS
from skill.dialogue.engine import Engine, Mode
from skill.dialogue.matcher import analyze
from skill.dialogue.protocol import End, Heard, Listen, NoteSaved, SaveNote, Say, SessionContext, Silence, Wait
from skill.dialogue.validate import check_files, errors, load_checked
from tests.test_engine_properties import REAL, events

ROOT = Path(__file__).resolve().parent.parent
DIALOGS = ROOT / "dialogs"
#: The phrasings, kept as data beside the dialogues.
PHRASINGS = yaml.safe_load((DIALOGS / "tests" / "phrasings" / "care.yaml").read_text(encoding="utf-8"))
DANGER: dict[str, list[str]] = PHRASINGS["danger"]
NEGATED: list[str] = PHRASINGS["danger_negated"]
EVERYDAY: list[str] = PHRASINGS["not_danger"]
NEEDS: list[str] = PHRASINGS["needs"]
FEEL: dict[str, list[str]] = PHRASINGS["feelings_at_how_are_you"]
STOP: list[str] = PHRASINGS["stop"]
NOT_STOP: list[str] = PHRASINGS["not_stop"]
CONTEXT = [(c["flow"], c["node"], c["say"], str(c["means"])) for c in PHRASINGS["same_words_other_questions"]]
BUNDLE, _PROBLEMS = load_checked(DIALOGS)
CARE = BUNDLE.care
FEELINGS = BUNDLE.feelings


def says(actions) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def test_data_files_load_cleanly():
    assert not errors(_PROBLEMS), [p.format() for p in errors(_PROBLEMS)]
    assert CARE is not None and FEELINGS is not None


# --------------------------------------------------------------------------
# Danger phrasings
# --------------------------------------------------------------------------





@pytest.mark.parametrize("kind,text", [(k, t) for k, ts in DANGER.items() for t in ts])
def test_danger_is_caught(kind, text):
    spotted = CARE.danger_in(analyze(text).words)
    assert spotted is not None, f"missed: {text!r}"
    assert (spotted.kind, spotted.negated) == (kind, False), (text, spotted)


@pytest.mark.parametrize("text", NEGATED)
def test_a_negated_mention_still_gets_a_gentle_check(text):
    spotted = CARE.danger_in(analyze(text).words)
    assert spotted is not None and spotted.negated and spotted.go_to == "safety.check", (text, spotted)


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_aftercare_talk_is_not_danger(text):
    assert CARE.danger_in(analyze(text).words) is None, text




@pytest.mark.parametrize("text", NEEDS)
def test_small_needs(text):
    words = analyze(text).words
    assert CARE.danger_in(words) is None and CARE.need_in(words), text


def test_a_negated_need_is_not_a_need():
    assert not CARE.need_in(analyze("I don't need the loo").words)


# --------------------------------------------------------------------------
# Feelings vocabulary, through the real matcher at real questions
# --------------------------------------------------------------------------


def answer(flow: str, node: str, text: str):
    e = Engine(BUNDLE, flow, SessionContext(names=["Sam", "Alex"]))
    n = BUNDLE.flows[flow].nodes[node]
    return e.matcher.match(text, e._intents(n), 1.0, e._listen_commands())




@pytest.mark.parametrize("want,text", [(w, t) for w, ts in FEEL.items() for t in ts])
def test_feelings_at_how_are_you(want, text):
    m = answer("aftercare", "feel", text)
    assert (m.kind, m.name) == ("intent", want), (text, m)


@pytest.mark.parametrize("text", ["the weather is nice today", "order a pizza", "what time is it"])
def test_unrelated_sentences_stay_unclear(text):
    assert answer("aftercare", "feel", text).kind != "intent"


@pytest.mark.parametrize("text", ["please call my mother", "please pass the remote", "please turn the heating up"])
def test_a_please_is_not_a_yes(text):
    """"please do" is a yes; the "please" of any request is not ("please call
    my mother" was taken as yes at a yes/no question)."""
    assert answer("precare", "another_day_offer", text).kind != "intent"
    assert answer("precare", "another_day_offer", "please do").name == "yes"


@pytest.mark.parametrize("flow,node,text,want", CONTEXT)
def test_the_same_words_mean_different_things_at_different_questions(flow, node, text, want):
    m = answer(flow, node, text)
    assert (m.kind, m.name) == ("intent", want), (flow, node, text, m)


# --------------------------------------------------------------------------
# Stop only when asked for
# --------------------------------------------------------------------------



@pytest.mark.parametrize("text", NOT_STOP)
def test_stop_in_a_sentence_that_is_not_a_request(text):
    m = answer("aftercare", "feel", text)
    assert not (m.kind == "command" and m.name in ("stop", "safe_word")), (text, m)


@pytest.mark.parametrize("text", STOP)
def test_a_request_to_stop_stops(text):
    m = answer("aftercare", "feel", text)
    assert (m.kind, m.name) == ("command", "stop"), (text, m)


@pytest.mark.parametrize("text", ["let's call it a day", "leave it there"])
def test_a_node_that_ends_in_its_own_words_keeps_its_soft_stop_phrase(text):
    # Support's own close (water, warmth, someone you trust) rather than the plain stop reply.
    assert (answer("support", "after", text).kind, answer("support", "after", text).name) == ("intent", "leave_it")
    assert BUNDLE.flows["support"].nodes["after"].listen["leave_it"].next == "stopped"
    assert BUNDLE.flows["support"].nodes["stopped"].end == "stopped"
    m = answer("aftercare", "feel", text)
    assert (m.kind, m.name) == ("command", "stop"), m


@pytest.mark.parametrize("text", ["stop", "we're done", "please stop, let's call it a day", "red"])
def test_a_hard_stop_or_the_safe_word_is_never_a_nodes_own(text):
    m = answer("support", "after", text)
    assert m.kind == "command" and m.name in ("stop", "safe_word"), m


# --------------------------------------------------------------------------
# The engine: danger from anywhere, needs, dictation, confidence, groups
# --------------------------------------------------------------------------


def engine(flow="aftercare", names=("Sam", "Alex"), support_line=""):
    e = Engine(BUNDLE, flow, SessionContext(names=list(names), support_line=support_line), seed=3)
    e.start()
    return e


def to_note(e: Engine) -> None:
    for text in ["continue", "good", "good", "continue", "no", "no", "no", "continue", "yes"]:
        e.handle(Heard(text))
    assert e.mode is Mode.NOTE, e.node


def test_danger_during_a_quiet_wait_and_going_on_comes_back():
    e = engine()
    e.handle(Heard("continue"))
    e.handle(Heard("good"))
    e.handle(Heard("good"))
    assert e.node == "felt_good" and e.mode is Mode.WAIT
    acts = e.handle(Heard("he hurt me"))
    assert e.node == "safety.offer" and "not your fault" in " ".join(says(acts))
    assert "blame" not in " ".join(says(acts))
    e.handle(Heard("go on"))
    assert e.node == "felt_good"


def test_the_configured_support_line_is_named():
    e = engine(support_line="the Nightline")
    e.handle(Heard("continue"))
    acts = e.handle(Heard("I want to disappear"))
    assert "the Nightline" in " ".join(says(acts))


def test_danger_with_a_stop_says_the_safety_words_then_stops():
    e = engine()
    e.handle(Heard("continue"))
    acts = e.handle(Heard("stop, I feel unsafe"))
    assert "safety" in " ".join(says(acts)).lower() and acts[-1] == End("stopped")


def test_a_body_emergency_stops_with_the_emergency_number():
    e = engine()
    acts = e.handle(Heard("my chest hurts"))  # during the opening breath
    assert "emergency number" in " ".join(says(acts)) and acts[-1] == End("stopped")


def test_dictation_only_stops_on_a_stop_said_alone():
    e = engine()
    to_note(e)
    acts = e.handle(Heard("I want more time to come down before we stop touching"))
    assert e.mode is Mode.CONFIRM and "before we stop touching" in " ".join(says(acts))
    e.handle(Heard("again"))
    acts = e.handle(Heard("red"))
    assert acts[-1] == End("safe_word")


def test_stop_alone_during_dictation_stops():
    e = engine()
    to_note(e)
    assert e.handle(Heard("stop"))[-1] == End("stopped")


def test_a_small_need_pauses_then_asks_the_same_person_again():
    e = engine()
    e.handle(Heard("continue"))
    e.handle(Heard("good"))
    acts = e.handle(Heard("I need to pee"))
    assert isinstance(acts[-1], Wait) and e.mode is Mode.PAUSE
    acts = e.handle(Heard("okay"))
    assert e.node == "feel" and any("Alex" in t for t in says(acts))


def test_middle_confidence_confirms_the_guess_then_acts_on_yes():
    e = engine()
    e.handle(Heard("continue"))
    acts = e.handle(Heard("I'm okay", confidence=0.6))
    assert says(acts) == ["Just to be sure: you're okay?"]
    acts = e.handle(Heard("yes"))
    assert any("Alex" in t for t in says(acts))


def test_middle_confidence_no_asks_again_restating():
    e = engine()
    question = says(e.handle(Heard("continue")))[-1]
    e.handle(Heard("I'm okay", confidence=0.6))
    acts = e.handle(Heard("no"))
    assert e.node == "feel" and says(acts) and says(acts)[-1] != question and "Sam" in says(acts)[-1]


def test_middle_confidence_never_confirms_stop_danger_or_support():
    e = engine()
    e.handle(Heard("continue"))
    assert e.handle(Heard("I'm not okay", confidence=0.6)) and e.node == "support.choose"
    e = engine()
    e.handle(Heard("continue"))
    e.handle(Heard("I feel unsafe", confidence=0.6))
    assert e.node == "safety.offer"
    e = engine()
    assert e.handle(Heard("stop", confidence=0.6))[-1] == End("stopped")


def test_a_group_answer_said_for_oneself_lets_the_others_answer():
    e = engine()
    for text in ["continue", "good", "good", "continue"]:
        e.handle(Heard(text))
    assert e.node == "sit_right"
    acts = e.handle(Heard("no, not for me"))
    assert e.node == "sit_right" and "anyone else" in " ".join(says(acts)).lower()
    e.handle(Heard("no"))  # the second person
    assert e.node == "jealousy"


def test_a_group_answer_for_everyone_moves_on():
    e = engine()
    for text in ["continue", "good", "good", "continue"]:
        e.handle(Heard(text))
    e.handle(Heard("no, we're both fine"))
    assert e.node == "jealousy"


def test_silence_after_anyone_else_moves_on():
    e = engine()
    for text in ["continue", "good", "good", "continue", "no, I'm fine"]:
        e.handle(Heard(text))
    e.handle(Silence())
    assert e.node == "jealousy"


def test_an_opening_answer_is_taken_at_once():
    e = engine(names=("Sam", "Alex", "Jo"))
    for text in ["continue", "good", "good", "good", "continue"]:
        e.handle(Heard(text))
    e.handle(Heard("there was one thing"))
    assert e.node == "sit_right_share"


def test_the_session_can_always_be_finished_from_the_safety_flow():
    e = engine()
    e.handle(Heard("continue"))
    e.handle(Heard("I froze"))
    for _ in range(6):
        acts = e.handle(Silence())
        assert isinstance(acts[-1], (Listen, Wait))
    assert e.handle(Heard("stop"))[-1] == End("stopped")


# --------------------------------------------------------------------------
# check: lengths, restating reprompts, honest hints; bad data files
# --------------------------------------------------------------------------


def _copy_dialogs(tmp_path: Path) -> Path:
    d = tmp_path / "dialogs"
    d.mkdir()
    for p in DIALOGS.glob("*.yaml"):
        (d / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    return d


def test_real_dialogues_have_no_wording_warnings():
    warnings = [p.format() for p in _PROBLEMS if p.severity == "warning"
                and ("words" in p.message or "hint" in p.message or "restate" in p.message)]
    assert warnings == []


def test_check_warns_on_long_prompts_bad_hints_and_verbatim_reprompts(tmp_path):
    d = _copy_dialogs(tmp_path)
    quick = d / "quick.yaml"
    text = quick.read_text(encoding="utf-8")
    text = text.replace('"Take your time. Is there anything else? Yes or no is fine."',
                        '"Take your time."\n        - "Is there anything else?"')
    text = text.replace('help: "You could say you\'re okay, tired, not okay, or not sure. If you need some support, just say so."',
                        'help: "You can say yes, no, or not sure."', 1)
    text = text.replace('"Hi {names}. Just a quick check-in, two minutes at most. There\'s still no rush."',
                        '"Hi {names}. ' + "This is a very long greeting that goes on and on " * 3 + '"')
    quick.write_text(text, encoding="utf-8")
    found = [p.format() for p in check_files([quick], context=d)]
    assert any("words; keep it to 30" in f for f in found), found
    assert any("restate the question" in f and "anything_else" in f for f in found), found
    assert any("offers 'yes'" in f and "'feel'" in f for f in found), found


def test_bad_care_and_feelings_files_are_one_line_each(tmp_path):
    care = tmp_path / "care.yaml"
    care.write_text("version: 1\ndanger:\n  body:\n    phrases: [\"x\"]\n  lava: {go_to: a.b, phrases: [y]}\n",
                    encoding="utf-8")
    _, problems = load_care(care, "care.yaml")
    text = [p.format() for p in problems]
    assert any("care.yaml:4" in t and "go_to" in t for t in text), text
    assert any("care.yaml:5" in t and "'lava' is not a kind of danger" in t for t in text), text
    feel = tmp_path / "feelings.yaml"
    feel.write_text("version: 1\nfeelings:\n  glad:\n    mild: [happy]\n  okay:\n    medium: [fine]\n",
                    encoding="utf-8")
    _, problems = load_feelings(feel, "feelings.yaml")
    text = [p.format() for p in problems]
    assert any("feelings.yaml:3" in t and "'glad' is not a reading" in t for t in text), text
    assert any("feelings.yaml:6" in t and "strong or mild" in t for t in text), text
    assert any("lands_on" in t for t in text), text


def test_a_go_to_that_is_not_a_node_is_reported(tmp_path):
    d = _copy_dialogs(tmp_path)
    care = d / "care.yaml"
    care.write_text(care.read_text(encoding="utf-8").replace("go_to: safety.body", "go_to: safety.bodyy"),
                    encoding="utf-8")
    _, problems = load_checked(d)
    assert any("safety.bodyy" in p.message for p in errors(problems))


def test_a_note_kept_by_the_group_is_not_asked_twice():
    e = engine()
    to_note(e)
    acts = e.handle(Heard("more blankets next time"))
    acts = e.handle(Heard("yes"))
    assert isinstance(acts[-1], SaveNote)
    acts = e.handle(NoteSaved("n"))
    assert e.node == "note_kept_check"
    e.handle(Heard("keep it"))
    assert e.finished  # ask_everyone: false here


@pytest.mark.parametrize("phrase", ["continue", "yes", "okay", "ready", "go on", "carry on", "we're done talking",
                                    "I'm done talking", "keep going", "I'm back"])
def test_at_a_wait_everyday_words_carry_on(phrase):
    e = engine()
    assert e.node == "settle" and e.mode is Mode.WAIT
    e.handle(Heard(phrase))
    assert e.node == "feel", phrase


def test_we_re_done_on_its_own_at_a_wait_still_stops():
    e = engine()
    assert e.handle(Heard("we're done"))[-1] == End("stopped")


# Danger is heard from every node, in every mode, like the safe word.
real_sessions = st.tuples(
    st.sampled_from(sorted(f for f in REAL.flows if f not in ("safety",))),
    st.sampled_from(SETTINGS),
    st.sampled_from([[], ["Sam"], ["Sam", "Alex"], ["Sam", "Alex", "Kim"]]),
    st.booleans(),
    st.integers(min_value=0, max_value=2**31),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(real_sessions, st.lists(events, max_size=25),
       st.sampled_from(["I want to hurt myself", "I feel unsafe with him", "he didn't stop when I asked",
                        "I can't breathe"]))
def test_danger_from_anywhere_goes_to_safety_on_that_turn(session, script, said):
    flow, setting, names, notes, seed = session
    e = Engine(BUNDLE, flow, SessionContext(names=list(names), setting=setting, notes_enabled=notes), seed=seed)
    e.start()
    for event in script:
        if e.finished:
            return
        e.handle(event)
    if e.finished:
        return
    acts = e.handle(Heard(said))
    spoken = " ".join(says(acts)).lower()
    assert "blame" not in spoken and "catch that" not in spoken, spoken
    if said == "I can't breathe":
        assert e.finished and "emergency number" in spoken
    else:
        assert not e.finished and (e.node or "").startswith("safety."), (e.node, spoken)


def test_a_long_heartfelt_answer_is_still_read():
    text = ("honestly it was a really long evening and so much happened and I keep going over it in my head "
            "and I think I am mostly okay but there was a moment in the middle where I felt kind of small and "
            "ashamed and I did not know how to say it and then it passed but it is still sitting with me a bit "
            "now if that makes sense")
    assert len(text.split()) > 60
    m = answer("aftercare", "feel", text)
    assert (m.kind, m.name) == ("intent", "not_okay"), m


def test_say_continue_is_varied():
    """'Say continue when you're ready' was in 34 of 223 spoken lines; now at most a few."""
    lines = [v.text for f in BUNDLE.flows.values() for n in f.nodes.values() for v in n.say + n.say_solo]
    same = [t for t in lines if "say continue when you're ready" in t.lower()]
    assert len(same) * 10 <= len(lines), (len(same), len(lines))
