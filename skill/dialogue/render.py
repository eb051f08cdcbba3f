"""Fill placeholders in what the assistant says, with natural wording.

Only eight placeholders exist ({name}, {names}, {partner}, {setting},
{safe_word}, {support_line}, and for earlier notes {notes_from} and
{notes_when}); anything else is caught by the validator, and here it is left
as written rather than crash mid-session. Wording adapts to who is there:
nobody named reads "Hello there", two people read "Sam and Alex", and a
question addressed "{name}, ..." to nobody in particular just drops the
address instead of saying "you, how are you?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from skill.settings import SAFE_WORD, SETTING

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: {notes_from} for earlier notes whose file does not say whose they are.
UNKNOWN_NOTES_FROM = "an earlier check-in"
#: {support_line} when none is configured (config.yaml: support_line). No
#: country's numbers are built in.
SUPPORT_LINE_UNSET = "your local crisis line"


def join_names(names: Sequence[str]) -> str:
    """"Sam", "Sam and Alex", "Sam, Alex and Kim"; "" for nobody."""
    names = [n for n in names if n]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def join_words(words: Sequence[str], conj: str = "or") -> str:
    """"a", "a or b", "a, b or c" (for help and clarifying questions)."""
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conj} " + words[-1]


@dataclass(frozen=True)
class Who:
    """Who the sentence is for: everyone named, and the person whose turn it is."""

    names: tuple[str, ...] = field(default_factory=tuple)
    person: str | None = None
    setting: str = SETTING
    safe_word: str = SAFE_WORD
    notes_from: str = ""  # whose earlier notes are offered: "Sam and Alex"
    notes_when: str = ""  # when they were kept: "on Tuesday"; "" unknown
    support_line: str = ""


def render(text: str, who: Who) -> str:
    """Fill the placeholders in ``text`` for ``who``."""
    names = [n for n in who.names if n]
    if not names:
        # "Thank you, {names}." reads better as "Thank you." than "Thank you, there."
        text = re.sub(r",\s*\{names\}", "", text)
    if not who.notes_when:
        # "..., {notes_when}." reads "...." rather than "..., ." when the date is unknown.
        text = re.sub(r",?\s*\{notes_when\}", "", text)
    person = who.person or (names[0] if len(names) == 1 else None)
    if person is None:
        # "{name}, how are you?" -> "How are you?"
        text = re.sub(r"^\s*\{name\}\s*,\s*(\w)", lambda m: m.group(1).upper(), text)
        text = re.sub(r"([.!?]\s+)\{name\}\s*,\s*(\w)", lambda m: m.group(1) + m.group(2).upper(), text)
        text = re.sub(r",\s*\{name\}(?=[.!?,])", "", text)

    def value(m: re.Match[str]) -> str:
        key = m.group(1).strip()
        if key == "name":
            return person or "you"
        if key == "names":
            return join_names(names) or "there"
        if key == "partner":
            if person and len(names) == 2 and person in names:
                return names[1] if names[0] == person else names[0]
            return "your partner"
        if key == "setting":
            return who.setting
        if key == "safe_word":
            return who.safe_word
        if key == "notes_from":
            return who.notes_from or UNKNOWN_NOTES_FROM
        if key == "notes_when":
            return who.notes_when
        if key == "support_line":
            return who.support_line.strip() or SUPPORT_LINE_UNSET
        return m.group(0)

    return _PLACEHOLDER.sub(value, text)


_SAY_RE = re.compile(r"\bsay\s+(?:things\s+like\s+)?(.+)", re.IGNORECASE)
_CUT_RE = re.compile(r"\s+(?:if|when|whenever|to|at any time|any time|for|in your)\b.*$", re.IGNORECASE)
_NOT_ANSWERS = {"so", "it", "that", "them", "what", "the note", "help"}


def offered_answers(text: str) -> list[str]:
    """The answers a hint offers: "You can say yes, no, or not sure." -> yes, no, not sure.

    Only sentences with "say ..."; {choices} is filled from the node itself,
    so it is never checked.
    """
    out: list[str] = []
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        if "{" in sentence:
            continue
        m = _SAY_RE.search(sentence)
        if not m:
            continue
        rest = m.group(1).rstrip(".?! ")
        for part in re.split(r",\s*|\s+or\s+", rest):
            part = _CUT_RE.sub("", part.strip()).strip()
            part = re.sub(r"^(?:or|just|then|and)\s+", "", part, flags=re.IGNORECASE)
            if part and part.lower() not in _NOT_ANSWERS and not part.lower().startswith(("it ", "that ")):
                out.append(part)
    return out
