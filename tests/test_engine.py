"""The pure engine on a small fixture flow (tests/data/dialogs_min) with the real matcher."""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path

import pytest

from skill.dialogue.dialog import MAX_REPROMPTS
from skill.dialogue.engine import (
    AT_START,
    ERROR_GOODBYE,
    NO_NOTE_TO_FORGET,
    NOTE_CONFIRM_AGAIN,
    NOTE_FAILED,
    NOTE_LEFT_OUT,
    NOTE_SAVED,
    Engine,
    EngineError,
    Mode,
)
from skill.dialogue.protocol import (
    Adjust,
    DeleteNote,
    End,
    EnterNode,
    Heard,
    Listen,
    NoteFailed,
    NoteSaved,
    SaveNote,
    Say,
    SessionContext,
    Silence,
    Timeout,
    Wait,
)
from skill.dialogue.validate import errors, load_checked

MINI = Path(__file__).resolve().parent / "data" / "dialogs_min"


@pytest.fixture(scope="module")
def bundle():
    b, problems = load_checked(MINI)
    assert not errors(problems)
    return b


def make(bundle, names=("Sam", "Alex"), seed=1, **ctx) -> Engine:
    return Engine(bundle, "mini", SessionContext(names=list(names), **ctx), seed=seed)


def says(actions) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def last(actions):
    return actions[-1]


def to_drink(e: Engine):
    e.start()
    e.handle(Heard("fine"))
    return e.handle(Heard("good"))


def test_start_greets_and_asks_first_person(bundle):
    e = make(bundle)
    acts = e.start()
    assert acts[0] == EnterNode("hello", None)
    assert says(acts)[0] in ("Hello Sam and Alex.", "Hi Sam and Alex.")
    assert EnterNode("feel", "Sam") in acts
    assert says(acts)[1].startswith("Sam, how")
    listen = last(acts)
    assert isinstance(listen, Listen) and listen.node == "feel" and not listen.free_form
    assert "i am okay" in listen.phrases  # normalized
    assert "stop" in listen.phrases and "give us a minute" in listen.phrases and "red" in listen.phrases
    assert e.node == "feel" and not e.finished


def test_deterministic_under_seed(bundle):
    script = ["fine", "I'm not sure", "yes", "continue", "no", "stop"]

    def run(seed):
        e = make(bundle, seed=seed)
        out = [e.start()]
        for line in script:
            out.append(e.handle(Heard(line)))
        return out

    assert run(7) == run(7)
    assert any(run(s) != run(7) for s in range(8, 20))


def test_never_the_same_variation_twice_in_a_row(bundle):
    """Every prompt said at 'feel' (for either person, on every visit) differs from the one before."""
    e = make(bundle, seed=3)
    seen = [says(e.start())[-1]]
    for _ in range(12):
        seen.append(says(e.handle(Heard("fine")))[-1])  # Alex's turn
        e.handle(Heard("fine"))  # -> drink
        seen.append(says(e.handle(Heard("go back")))[-1])  # Sam again
    body = [s.split(", ", 1)[1] for s in seen]
    for a, b in zip(body, body[1:]):
        assert a != b, seen
    assert set(body) == {"how are you?", "how do you feel?"}


def test_per_person_priority_first_listed_wins(bundle):
    e = make(bundle)
    e.start()
    acts = e.handle(Heard("I'm okay"))
    # Each person's answer gets its own short reply, then the next person is asked.
    assert says(acts)[0] in ("Good to hear.", "I'm glad.")
    assert EnterNode("feel", "Alex") in acts and says(acts)[1].startswith("Alex, how")
    acts = e.handle(Heard("not sure"))
    assert says(acts)[0] == "That's alright."
    assert e.node == "drink"  # unsure is listed before okay: its transition is followed


def test_now_transition_goes_at_once_and_resumes(bundle):
    e = make(bundle)
    e.start()
    acts = e.handle(Heard("I'm not okay"))
    assert EnterNode("helper.start", None) in acts
    assert e.node == "helper.start"
    assert not any(isinstance(a, EnterNode) and a.person == "Alex" for a in acts)
    acts = e.handle(Heard("keep checking in"))
    # Support for one person comes back to the next person, not past them.
    assert e.node == "feel" and EnterNode("feel", "Alex") in acts
    assert isinstance(last(acts), Listen)
    e.handle(Heard("I'm okay"))
    assert e.node == "drink"  # where the support would have come back to


def test_sub_flow_can_end_session(bundle):
    e = make(bundle)
    e.start()
    e.handle(Heard("upset"))
    acts = e.handle(Heard("call it a day"))
    assert says(acts)[:2] == ["Of course.", "Take good care."]
    assert last(acts) == End("stopped") and e.finished


def test_solo_uses_say_solo_and_no_person(bundle):
    e = make(bundle, names=())
    acts = e.start()
    assert "Hello there." in says(acts) or "Hi there." in says(acts)
    assert "How are you?" in says(acts)
    assert EnterNode("feel", None) in acts
    e.handle(Heard("fine"))
    assert e.node == "drink"


def test_one_name_is_solo_with_name(bundle):
    e = make(bundle, names=("Kim",))
    acts = e.start()
    assert says(acts)[0].endswith("Kim.")
    assert "How are you?" in says(acts)
    e.handle(Heard("fine"))
    assert e.node == "drink"


@pytest.mark.parametrize("setting, word, timeout", [
    ("bath", "in the bath", 15.0), ("sofa", "glass of water", 10.0),
    ("bedside", "glass of water", 12.5), ("car", "glass of water", 10.0),
])
def test_setting_conditions_and_pace(bundle, setting, word, timeout):
    e = make(bundle, setting=setting)
    acts = to_drink(e)
    assert any(word in t for t in says(acts))
    assert last(acts).timeout == timeout


def test_stop_and_safe_word_end_on_that_turn(bundle):
    e = make(bundle)
    e.start()
    acts = e.handle(Heard("stop"))
    assert acts[-1] == End("stopped")
    assert acts[-2] == Say("Okay, we'll stop here. Be gentle with yourselves.", "feel", "goodbye")
    assert e.handle(Heard("hello")) == []
    e = make(bundle, safe_word="pineapple")
    to_drink(e)
    acts = e.handle(Heard("pineapple"))
    assert acts[-1] == End("safe_word") and isinstance(acts[-2], Say)


def test_pause_waits_then_reasks(bundle):
    e = make(bundle)
    first = says(e.start())[-1]
    acts = e.handle(Heard("give us a minute"))
    assert says(acts) == ["Of course. I'll wait quietly."]
    wait = last(acts)
    assert isinstance(wait, Wait) and wait.seconds == 120
    assert "continue" in wait.phrases and "stop" in wait.phrases and "red" in wait.phrases
    assert e.handle(Heard("hmm")) == [wait]  # anything else: keep waiting quietly
    acts = e.handle(Heard("we're back"))
    assert says(acts) == ["Welcome back.", first]
    assert isinstance(last(acts), Listen)
    e.handle(Heard("pause"))
    acts = e.handle(Timeout())
    assert says(acts) == [first] and isinstance(last(acts), Listen)


def test_repeat_back_skip_help(bundle):
    e = make(bundle)
    first = says(e.start())[-1]
    acts = e.handle(Heard("say that again"))
    assert says(acts) == [first] and isinstance(last(acts), Listen)
    acts = e.handle(Heard("back"))
    assert AT_START in says(acts)
    acts = e.handle(Heard("help"))
    assert says(acts) == ["You could say okay or not okay."]
    acts = e.handle(Heard("skip"))  # skips Sam only
    assert e.node == "feel" and EnterNode("feel", "Alex") in acts
    acts = e.handle(Heard("go back"))  # back one person
    assert EnterNode("feel", "Sam") in acts and AT_START not in says(acts)
    e.handle(Heard("skip"))
    acts = e.handle(Heard("skip"))  # nobody answered: last non-now transition (okay) -> drink
    assert e.node == "drink"
    acts = e.handle(Heard("help"))  # default help from the intents
    assert "yes" in says(acts)[0] and "stop" in says(acts)[0]
    acts = e.handle(Heard("go back"))
    assert e.node == "feel"
    assert EnterNode("feel", "Sam") in acts


def test_adjust_commands(bundle):
    e = make(bundle)
    e.start()
    for phrase, adj in [("slower", Adjust("rate", -1)), ("speed up", Adjust("rate", 1)),
                        ("too loud", Adjust("volume", -1)), ("speak up", Adjust("volume", 1))]:
        acts = e.handle(Heard(phrase))
        assert acts[0] == adj
        assert isinstance(acts[1], Say) and isinstance(last(acts), Listen)
        assert e.node == "feel"


def test_silence_escalates_then_waits_then_closes(bundle):
    e = make(bundle)
    question = says(e.start())[-1]
    texts = [says(e.handle(Silence())) for _ in range(3)]
    assert texts[0] == ["Take your time."]
    # The second reprompt restates the question, never word for word.
    assert texts[1][0].startswith("No hurry. Sam, how") and question not in texts[1][0]
    # The third names answers this question accepts.
    assert texts[2] == ["You can say okay or not okay."]  # from the node's help
    acts = e.handle(Silence())
    assert says(acts) == [] and isinstance(last(acts), Wait)
    assert "i am okay" in last(acts).phrases
    acts = e.handle(Heard("I'm okay"))  # an answer during the quiet wait counts
    assert EnterNode("feel", "Alex") in acts
    for _ in range(4):
        acts = e.handle(Silence())
    acts = e.handle(Timeout())
    assert last(acts) == End("no_response") and says(acts)


def test_unclear_escalates_then_ends_kindly(bundle):
    e = make(bundle)
    e.start()
    assert says(e.handle(Heard("what's the weather like"))) == ["Sorry, I didn't catch that."]
    assert says(e.handle(Heard("purple elephants")))[0].startswith("Let me ask another way. Sam, how")
    acts = e.handle(Heard("banana bread"))
    assert last(acts) == End("no_response")


def test_low_confidence_is_not_a_guess(bundle):
    e = make(bundle)
    e.start()
    acts = e.handle(Heard("I'm okay", confidence=0.1))
    # Asked again, restating the question in other words.
    assert e.node == "feel" and says(acts) == ["Sorry, I didn't catch that. Sam, how do you feel?"]
    acts = e.handle(Heard("stop", confidence=0.1))  # safety is honoured even then
    assert last(acts) == End("stopped")


class _AmbiguousMatcher:
    def match(self, text, intents, confidence=1.0, allowed_commands=None, **how):
        from skill.dialogue.matcher import Match

        return Match("ambiguous", None, 85.0, ("okay", "not_okay"))


def test_ambiguous_asks_a_clarifying_question(bundle):
    e = Engine(bundle, "mini", SessionContext(names=["Sam"]), seed=1, matcher=_AmbiguousMatcher())
    e.start()
    acts = e.handle(Heard("mumble"))
    assert says(acts) == ["Sorry, did you mean I'm okay or not okay?"]
    assert isinstance(last(acts), Listen) and e.node == "feel"


def _to_offer(e: Engine):
    to_drink(e)
    e.handle(Heard("yes"))  # -> rest (wait)
    return e.handle(Heard("continue"))  # -> offer


def test_wait_node_continue_and_timeout(bundle):
    e = make(bundle)
    to_drink(e)
    acts = e.handle(Heard("no"))
    assert e.node == "rest" and isinstance(last(acts), Wait) and last(acts).seconds == 30
    acts = e.handle(Timeout())
    assert e.node == "offer"


def test_note_keep_redo_and_forget(bundle):
    e = make(bundle)
    _to_offer(e)
    acts = e.handle(Heard("yes"))
    assert e.node == "dictate" and isinstance(last(acts), Listen) and last(acts).free_form
    acts = e.handle(Heard("more blankets next time"))
    assert says(acts) == ["I have: more blankets next time. Shall I keep that?"]
    acts = e.handle(Heard("again"))
    assert isinstance(last(acts), Listen) and last(acts).free_form
    e.handle(Heard("more blankets and tea next time"))
    acts = e.handle(Heard("yes"))
    assert acts == [SaveNote("more blankets and tea next time", "mini")]
    acts = e.handle(NoteSaved("n1"))
    assert NOTE_SAVED in says(acts)
    assert e.finished and last(acts) == End("completed")


def test_note_failure_is_kind_and_carries_on(bundle):
    e = make(bundle)
    _to_offer(e)
    e.handle(Heard("yes"))
    e.handle(Heard("call each other tomorrow"))
    e.handle(Heard("yes"))
    acts = e.handle(NoteFailed("disk full"))
    assert NOTE_FAILED in says(acts)
    assert last(acts) == End("completed")


def test_note_declined(bundle):
    e = make(bundle)
    _to_offer(e)
    e.handle(Heard("yes"))
    e.handle(Heard("something private"))
    acts = e.handle(Heard("no"))
    assert not any(isinstance(a, SaveNote) for a in acts)
    assert last(acts) == End("completed")


def test_modes_along_a_check_in(bundle):
    e = make(bundle)
    assert e.mode is Mode.NEW
    e.start()
    assert e.mode is Mode.LISTEN and e.mode == "listen" and str(e.mode) == "listen"
    n = make(bundle)
    _to_offer(n)
    assert n.mode is Mode.LISTEN
    n.handle(Heard("pause"))
    assert n.mode is Mode.PAUSE and n.paused_from is Mode.LISTEN
    n.handle(Heard("continue"))
    assert n.mode is Mode.LISTEN
    n.handle(Heard("yes"))
    assert n.mode is Mode.NOTE
    n.handle(Heard("tea next time"))
    assert n.mode is Mode.CONFIRM
    n.handle(Heard("yes"))
    assert n.mode is Mode.SAVING
    n.handle(NoteSaved("n1"))
    assert n.mode is Mode.ENDED and n.finished


def test_every_live_mode_has_a_handler_for_each_event(bundle):
    """NEW and ENDED are handled by handle() itself; every other mode answers
    Heard, Silence and Timeout and knows the action that keeps it going."""
    e = make(bundle)
    live = set(Mode) - {Mode.NEW, Mode.ENDED}
    assert set(e._handlers) == live
    for mode in live:
        h = e._handlers[mode]
        assert all(callable(f) for f in h), mode


def test_a_readback_nobody_can_answer_leaves_the_note_out(bundle):
    e = make(bundle)
    _to_offer(e)
    e.handle(Heard("yes"))
    e.handle(Heard("more blankets"))
    for _ in range(MAX_REPROMPTS - 1):
        acts = e.handle(Heard("purple elephants"))
        assert says(acts) == [NOTE_CONFIRM_AGAIN] and isinstance(last(acts), Listen)
    acts = e.handle(Heard("purple elephants"))
    assert NOTE_LEFT_OUT in says(acts) and not any(isinstance(a, SaveNote) for a in acts)
    assert e.mode is not Mode.CONFIRM


def test_a_target_that_went_missing_ends_kindly(bundle):
    """The validator refuses such dialogues; if one slips through, the engine says goodbye."""
    broken = copy.deepcopy(bundle)
    broken.flows["mini"].nodes["drink"].listen["yes"] = dataclasses.replace(
        broken.flows["mini"].nodes["drink"].listen["yes"], next="nowhere")
    e = make(broken)
    to_drink(e)
    acts = e.handle(Heard("yes"))
    assert says(acts)[-1] == ERROR_GOODBYE and last(acts) == End("error") and e.mode is Mode.ENDED


def test_a_branch_with_no_arm_that_holds_ends_kindly(bundle):
    broken = copy.deepcopy(bundle)
    route = broken.flows["mini"].nodes["route"]
    route.branch = tuple(arm for arm in route.branch if arm.cond is not None)  # no else
    e = make(broken)
    _to_offer(e)
    acts = e.handle(Heard("no"))  # -> route, where nothing holds
    assert says(acts)[-1] == ERROR_GOODBYE and last(acts) == End("error")


def test_forget(bundle):
    e = make(bundle)
    e.start()
    acts = e.handle(Heard("forget that"))
    assert says(acts) == [NO_NOTE_TO_FORGET] and not any(isinstance(a, DeleteNote) for a in acts)
    e.notes_saved = 1
    acts = e.handle(Heard("delete that"))
    assert acts[0] == DeleteNote() and isinstance(last(acts), Listen)


def test_notes_disabled_skips_the_note_node(bundle):
    e = make(bundle, notes_enabled=False)
    _to_offer(e)
    acts = e.handle(Heard("yes"))
    assert EnterNode("dictate", None) in acts
    assert not any(isinstance(a, Listen) and a.free_form for a in acts)
    assert last(acts) == End("completed")


def test_skip_uses_node_skip(bundle):
    e = make(bundle, last_notes=["Talk in the car."])
    _to_offer(e)
    acts = e.handle(Heard("skip"))
    # route -> has_notes -> read the notes
    assert "Talk in the car." in says(acts)
    assert last(acts) == End("completed")


def test_branch_on_earlier_answer(bundle):
    e = make(bundle, names=())
    e.start()
    e.handle(Heard("I'm not okay"))  # -> helper
    e.handle(Heard("go on with it"))  # resume -> drink
    e.handle(Heard("no"))
    e.handle(Heard("continue"))
    acts = e.handle(Heard("no"))  # offer -> route -> answer.feel == not_okay
    assert "Thank you for staying with it. Be gentle with yourselves." in says(acts)


def test_heard_is_logged_without_text(bundle, caplog):
    e = make(bundle)
    e.start()
    with caplog.at_level(logging.INFO, logger="skill.dialogue.engine"):
        e.handle(Heard("I'm okay thanks"))
    messages = [r.getMessage() for r in caplog.records if r.name == "skill.dialogue.engine"]
    assert messages == ["heard 3 words, intent=okay"]
    assert all("thanks" not in m for m in messages)


def test_unknown_flow(bundle):
    with pytest.raises(EngineError):
        Engine(bundle, "nope", SessionContext(), seed=0)


def test_every_turn_ends_with_an_awaiting_action(bundle):
    e = make(bundle)
    acts = e.start()
    for line in ["fine", "good", "yes", "continue", "yes", "keep dancing", "yes"]:
        assert isinstance(last(acts), (Listen, Wait, End, SaveNote))
        acts = e.handle(Heard(line))
    assert isinstance(last(acts), SaveNote)


def test_unanswered_save_is_never_asked_twice(bundle):
    """A shell that forgets to answer SaveNote gets no second SaveNote (no duplicate notes)."""
    e = make(bundle)
    _to_offer(e)
    e.handle(Heard("yes"))
    e.handle(Heard("bring the heater"))
    assert isinstance(last(e.handle(Heard("yes"))), SaveNote)
    acts = e.handle(Silence())
    assert not any(isinstance(a, SaveNote) for a in acts)
    assert last(acts) == End("completed")


def test_back_out_of_a_sub_flow(bundle):
    e = make(bundle)
    e.start()
    e.handle(Heard("I'm not okay"))
    assert e.node == "helper.start"
    e.handle(Heard("go back"))
    assert e.node == "feel" and e.resume_stack == []
