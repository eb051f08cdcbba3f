"""Tests for skill.dialogue.normalize: the same answer must look the same however it was said."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skill.dialogue.normalize import normalize, tokens


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Yes.", "yes"),
        ("YES!", "yes"),
        ("  yes   please  ", "yes please"),
        ("Um, yes.", "yes"),
        ("uh... yeah", "yeah"),
        ("Erm, hmm, no", "no"),
        ("Well, I'm okay", "i am okay"),
        ("I am well", "i am well"),
        ("well", ""),
        ("Well...", ""),
        ("Very well", "very well"),
        ("I'm well, well...", "i am well"),
        ("I'm, like, okay", "i am okay"),
        ("it was like fine", "it was fine"),
        ("like, whatever", "whatever"),
        ("I would like to stop", "i would like to stop"),
        ("I feel like crying", "i feel like crying"),
        ("I'd like that", "i would like that"),
        ("yes, you know", "yes"),
        ("you know, it was nice", "it was nice"),
        ("I don't know", "i do not know"),
        ("do you know what time it is", "do you know what time it is"),
        ("I mean, yes", "yes"),
        ("I'm not sure", "i am not sure"),
        ("I’m not sure", "i am not sure"),  # typographic apostrophe
        ("I`m fine", "i am fine"),
        ("isn't", "is not"),
        ("aren't", "are not"),
        ("wasn't", "was not"),
        ("don't", "do not"),
        ("doesn't", "does not"),
        ("didn't", "did not"),
        ("can't", "can not"),
        ("cannot", "can not"),
        ("won't", "will not"),
        ("shan't", "shall not"),
        ("I wouldn't say I'm okay", "i would not say i am okay"),
        ("couldn't", "could not"),
        ("we're ready", "we are ready"),
        ("they've gone", "they have gone"),
        ("I'll pass", "i will pass"),
        ("it's fine", "it is fine"),
        ("that's enough", "that is enough"),
        ("what's the weather", "what is the weather"),
        ("let's go", "let us go"),
        ("Sam's turn", "sam turn"),
        ("im fine", "i am fine"),
        ("dont know", "do not know"),
        ("idk", "i do not know"),
        ("I do n't know", "i do not know"),
        ("dunno", "do not know"),
        ("kinda", "kind of"),
        ("sorta okay", "sort of okay"),
        ("gonna stop", "going to stop"),
        ("ok", "okay"),
        ("OK!", "okay"),
        ("O.K.", "okay"),
        ("so-so", "so so"),
        ("okay...not really", "okay not really"),
        ("Honestly? Not good.", "honestly not good"),
        ("uh huh", "uhhuh"),
        ("Mm hmm.", "mmhmm"),
        ("mhm", "mmhmm"),
        ("ＹＥＳ", "yes"),  # full-width
        ("Ｉ’ｍ ｏｋａｙ", "i am okay"),
        ("Straße", "strasse"),
        ("🙂 yes", "yes"),
        ("yes — please", "yes please"),
        ("", ""),
        ("   ", ""),
        ("...", ""),
        ("um uh er", ""),
        ("'", ""),
        ("rock'n'roll", "rock n roll"),
        ("'cause", "cause"),
        ("12 o'clock", "12 o clock"),
        ("café", "café"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_negation_is_always_an_explicit_not():
    for raw in ("isn't", "don't", "can't", "won't", "wouldn't", "haven't", "ain't", "NEEDN'T"):
        assert "not" in normalize(raw).split(), raw


def test_tokens():
    assert tokens("Um, I'm NOT okay...") == ("i", "am", "not", "okay")
    assert tokens("") == ()


def test_non_string_input_is_coerced():
    assert normalize(None) == ""  # type: ignore[arg-type]
    assert normalize(42) == "42"  # type: ignore[arg-type]
    assert normalize(["Yes"]) == "yes"  # type: ignore[arg-type]


def test_lone_surrogates_and_control_characters_are_safe():
    assert normalize("\ud800yes\x00") == "yes"
    assert normalize("yes\u200b") == "yes"
    assert normalize("yes\r\nplease\t") == "yes please"


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_is_safe_idempotent_and_clean(text):
    out = normalize(text)
    assert isinstance(out, str)
    assert out == out.strip()
    assert "  " not in out
    assert normalize(out) == out
    assert "'" not in out
    assert out == out.casefold() or not out.isascii()


@given(st.sampled_from(["Yes", "yes", "YES", "yes.", "Yes!", "um, yes", "uh yes", "Yes?", " yes "]))
def test_spellings_of_yes_agree(text):
    assert normalize(text) == "yes"
