"""The condition language: parsing, evaluation, errors with offsets, and no way to run code."""

from __future__ import annotations

import pytest

from skill.dialogue.conditions import CondEnv, ConditionError, answer_nodes, evaluate, parse, tokenize


def env(**kw) -> CondEnv:
    base = dict(setting="sofa", people=2, answers={"feel": {"okay", "unsure"}}, has_notes=False, notes=True)
    base.update(kw)
    return CondEnv(**base)


@pytest.mark.parametrize("text, expected", [
    ("setting == sofa", True),
    ("setting == bath", False),
    ("setting != bath", True),
    ("setting in [bath, sofa]", True),
    ("setting in [bath, car]", False),
    ("setting == 'sofa'", True),
    ('setting == "sofa"', True),
    ("people >= 2", True),
    ("people > 2", False),
    ("people < 3", True),
    ("people <= 1", False),
    ("people == 2", True),
    ("people != 2", False),
    ("people", True),
    ("answer.feel == okay", True),
    ("answer.feel == not_okay", False),
    ("answer.feel != not_okay", True),
    ("answer.feel in [not_okay, unsure]", True),
    ("answer.feel", True),
    ("answer.other", False),
    ("has_notes", False),
    ("not has_notes", True),
    ("notes", True),
    ("not (setting == car) and people == 2", True),
    ("setting == car or people == 2", True),
    ("setting == car or people == 3", False),
    ("not not notes", True),
    ("(setting == sofa or setting == bath) and not has_notes", True),
    ("setting == bath or setting == sofa and people == 3", False),  # and binds tighter
    ("answer.support.choose == breathe", False),
])
def test_evaluate(text, expected):
    assert evaluate(parse(text), env()) is expected


def test_precedence_and_binds_tighter_than_or():
    # true or (false and false) -> true
    assert evaluate(parse("setting == sofa or setting == bath and people == 9"), env()) is True


def test_solo_people_zero():
    assert evaluate(parse("people"), env(people=0)) is False
    assert evaluate(parse("people == 0"), env(people=0)) is True


@pytest.mark.parametrize("text, fragment, offset", [
    ("", "empty condition", 0),
    ("setting = bath", "use '=='", 8),
    ("setings == bath", "unknown name 'setings' (did you mean 'setting'?)", 0),
    ("setting == tub", "'tub' is not a setting", 8),
    ("setting > bath", "only be compared with ==, != or in", 8),
    ("people >= two", "people is a number", 7),
    ("has_notes == yes", "'has_notes' is true or false on its own", 10),
    ("setting", "compare 'setting' with a value", 7),
    ("not (setting == bath", "missing ')'", 20),
    ("setting in bath", "'in' needs a list", 11),
    ("setting in [bath, sofa", "missing ']'", 22),
    ("setting == bath and", "expected a name", 19),
    ("setting == bath people == 2", "unexpected 'people'", 16),
    ("answer == okay", "write answer.NODE", 0),
    ("answer.feel > okay", "an answer can only be compared", 12),
    ("answer.feel == 3", "compare an answer with an intent name", 12),
    ("setting == 'bath", "unclosed quote", 11),
    ("__import__('os').system('ls')", "unexpected character '.'", 16),
    ("__import__ == os", "unknown name '__import__'", 0),
    ("setting == bath; rm", "unexpected character ';'", 15),
])
def test_errors_have_message_and_offset(text, fragment, offset):
    with pytest.raises(ConditionError) as info:
        parse(text)
    assert fragment in info.value.message
    assert info.value.offset == offset


def test_never_evaluates_python():
    # A name that would be dangerous under eval is just an unknown name here.
    for text in ("open('x')", "lambda: 1", "1 if True else 0", "[x for x in y]"):
        with pytest.raises(ConditionError):
            parse(text)


def test_tokenize_offsets():
    toks = tokenize("people >= 2")
    assert [(t.kind, t.offset) for t in toks] == [("name", 0), ("op", 7), ("number", 10), ("end", 11)]


def test_answer_nodes():
    cond = parse("answer.feel == okay and not answer.good in [yes]")
    assert [v.answer_node for v in answer_nodes(cond)] == ["feel", "good"]


def test_non_text_condition():
    with pytest.raises(ConditionError):
        parse(42)  # type: ignore[arg-type]


def test_note_kept_is_a_flag():
    assert evaluate(parse("note_kept"), CondEnv(note_kept=True))
    assert not evaluate(parse("note_kept"), CondEnv())
    assert evaluate(parse("not note_kept and notes"), CondEnv())
    with pytest.raises(ConditionError):
        parse("note_kept == yes")
