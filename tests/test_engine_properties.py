"""Property tests: random answers never crash the engine or strand anyone, and "stop" always ends.

Runs over every real flow (and the fixture flow), every setting, solo and
one to three people, with answers drawn from every phrase the dialogues
know, global commands, free text, silence, timeouts and note results.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skill.dialogue.conditions import SETTINGS
from skill.dialogue.engine import Engine
from skill.dialogue.protocol import End, Heard, Listen, NoteFailed, NoteSaved, SaveNote, Say, SessionContext, Silence, Timeout, Wait
from skill.dialogue.validate import errors, load_checked

ROOT = Path(__file__).resolve().parent.parent
AWAITING = (Listen, Wait, End, SaveNote)


def _bundle(path):
    b, problems = load_checked(path)
    assert not errors(problems)
    return b


REAL = _bundle(ROOT / "dialogs")
MINI = _bundle(Path(__file__).resolve().parent / "data" / "dialogs_min")
TARGETS = [(REAL, f) for f in sorted(REAL.flows)] + [(MINI, "mini")]


def _phrases(bundle) -> list[str]:
    out: set[str] = set()
    for phrases in bundle.vocabulary.values():
        out.update(phrases)
    for flow in bundle.flows.values():
        for phrases in flow.intents.values():
            out.update(phrases)
        for node in flow.nodes.values():
            for phrases in node.intents.values():
                out.update(phrases)
    for name, cmd in bundle.commands.items():
        if name != "stop":
            out.update(cmd.phrases)
    # Never say a stop phrase (or the safe word) by accident: the run would just end early.
    stop = REAL.commands["stop"].phrases + MINI.commands["stop"].phrases
    return sorted(p for p in out if not any(s.lower() in p.lower().split() or s.lower() == p.lower() for s in stop)
                  and "red" not in p.lower().split())


PHRASES = sorted(set(_phrases(REAL)) | set(_phrases(MINI)))

events = st.one_of(
    st.sampled_from(PHRASES).map(lambda t: Heard(t, 1.0)),
    st.sampled_from(PHRASES).map(lambda t: Heard(t, 0.3)),
    st.text(max_size=40).map(lambda t: Heard(t, 1.0)),
    st.sampled_from(["continue", "yes", "no", "I'm okay", "not sure", "again", "skip", "go back", ""]).map(Heard),
    st.just(Silence()),
    st.just(Timeout()),
    st.just(NoteSaved("n")),
    st.just(NoteFailed("disk full")),
)
sessions = st.tuples(
    st.sampled_from(TARGETS),
    st.sampled_from(SETTINGS),
    st.sampled_from([[], ["Sam"], ["Sam", "Alex"], ["Sam", "Alex", "Kim"]]),
    st.booleans(),
    st.booleans(),
    st.integers(min_value=0, max_value=2**31),
)


def _engine(session) -> Engine:
    (bundle, flow), setting, names, notes, has_last, seed = session
    ctx = SessionContext(names=list(names), setting=setting, notes_enabled=notes,
                         last_notes=["More blankets next time."] if has_last else [])
    return Engine(bundle, flow, ctx, seed=seed)


def _check(actions, engine: Engine) -> None:
    for a in actions:
        if isinstance(a, Say):
            assert a.text.strip()
            assert "{" not in a.text and "}" not in a.text, a.text
    if not engine.finished:
        assert actions, "no action while the session is running"
        assert isinstance(actions[-1], AWAITING), actions
    else:
        assert isinstance(actions[-1], End) if actions else True


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions, st.lists(events, max_size=40))
def test_random_answers_never_crash_or_dead_end(session, script):
    engine = _engine(session)
    actions = engine.start()
    _check(actions, engine)
    for event in script:
        if engine.finished:
            assert engine.handle(event) == []
            break
        actions = engine.handle(event)
        _check(actions, engine)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions, st.lists(events, max_size=25), st.sampled_from(["stop", "Stop.", "that's enough", "red", "we're done"]))
def test_stop_from_anywhere_ends_on_that_turn(session, script, stop_word):
    engine = _engine(session)
    engine.start()
    for event in script:
        if engine.finished:
            break
        engine.handle(event)
    if engine.finished:
        return
    node = engine.node
    actions = engine.handle(Heard(stop_word, 1.0))
    assert engine.finished, f"'{stop_word}' at {node} did not end the session: {actions}"
    assert actions[-1] == End("safe_word" if stop_word == "red" else "stopped")
    assert isinstance(actions[-2], Say) and actions[-2].purpose == "goodbye"


@settings(max_examples=60, deadline=None)
@given(sessions)
def test_silence_alone_never_strands_anyone(session):
    """Nobody says anything: the engine keeps waiting patiently or closes kindly, forever safe."""
    engine = _engine(session)
    actions = engine.start()
    for _ in range(60):
        if engine.finished:
            break
        last = actions[-1]
        event = Timeout() if isinstance(last, Wait) else NoteSaved() if isinstance(last, SaveNote) else Silence()
        actions = engine.handle(event)
        _check(actions, engine)
