"""Decide what an utterance meant at one node: a global command, an intent, or "not sure".

Why this is more than a fuzzy score: "I'm not okay" is a character or two away
from "I'm okay", so a similarity score alone would happily say *okay*. The
matcher therefore works in three layers, in this order:

1. **Safety commands**: the safe word anywhere, and "stop" (or "that's
   enough", "we're done", ...) anywhere unless it is itself negated ("I can't
   stop crying"). Honoured even at low recognizer confidence and even when
   the node does not allow other commands.
2. **Other commands** (pause, repeat, back, ...) only when the utterance *is*
   the command, give or take politeness ("could you repeat that please") and
   one extra word. So "I want to go back to bed" is an answer, not "back".
   A node's own phrase said exactly wins over a non-safety command (so
   "we're ready" at a readiness question is the answer *ready*).
3. **Intents**, scored with rapidfuzz, but only against phrases whose
   *polarity* agrees with the utterance: an utterance with a negator
   (not, no, never, ...) can only match phrases that are negated too, and a
   hedged one (not sure, maybe, I guess, ...) only hedged phrases. Affirmative
   intents (yes, okay, ready, keep) are never the answer to a negated or
   hedged utterance; when the words under the negation name an affirmative
   intent ("I wouldn't say I'm okay"), the answer becomes its counterpart
   (not_okay), and under a hedge it becomes ``unsure``; when the node has no
   such intent, the answer is ``unclear`` and the engine asks again.

Everything here is pure and deterministic.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from skill.settings import SAFE_WORD

from .normalize import normalize

__all__ = [
    "Match",
    "Matcher",
    "analyze",
    "DEFAULT_AFFIRMATIVE",
    "SAFETY_COMMANDS",
    "DEFAULT_THRESHOLD",
    "DEFAULT_MARGIN",
    "DEFAULT_CONFIDENCE_FLOOR",
]

log = logging.getLogger(__name__)

# Tuned on tests/data/utterances.yaml; see docs/understanding.md.
DEFAULT_THRESHOLD = 82.0
DEFAULT_MARGIN = 8.0
DEFAULT_CONFIDENCE_FLOOR = 0.5
_COMMAND_THRESHOLD = 90.0
#: A phrase matched at least this well stands against the feelings vocabulary.
EXACT_ENOUGH = 95.0
_MAX_WORDS = 60
#: A long, heartfelt answer is still read for feelings, up to this many words.
_MAX_FEELING_WORDS = 150

SAFETY_COMMANDS = frozenset({"stop", "safe_word"})
#: Words that make a stop phrase unmistakable. A softer way of ending ("let's
#: call it a day") may be listed by a node as its own answer when that answer
#: ends the check-in too, in its own words (support's gentle close; the
#: validator checks that it ends); a phrase holding one of these words, or
#: the safe word, is always the stop command.
HARD_STOP_WORDS = frozenset({"stop", "quit", "end", "enough", "done", "finish", "finished", "goodbye"})

# Affirmative intent -> its negative counterpart (None: no counterpart).
DEFAULT_AFFIRMATIVE: Mapping[str, str | None] = {
    "yes": "no",
    "okay": "not_okay",
    "ready": "not_ready",
    "keep": "no",
}
_UNSURE = "unsure"

# --------------------------------------------------------------------------
# Polarity analysis
# --------------------------------------------------------------------------

NEGATORS = frozenset(
    "not no never nothing none nobody nope nah naw hardly barely scarcely neither nor "
    "nowhere".split()
)
# Multi-word negations that contain no negator word ("could be better" is
# not a hedged "better").
_NEGATION_PHRASES = (
    ("far", "from"),
    ("anything", "but"),
    ("less", "than"),
    ("could", "be", "better"),
    ("could", "have", "been", "better"),
    ("been", "better"),
    ("have", "felt", "better"),  # "I've felt better"
    ("seen", "better", "days"),
    ("wish",),  # "I wish I was okay"
    ("opposite", "of"),
    ("be", "lying"),  # "I'd be lying if I said I was okay"
    ("used", "to", "be"),  # "I used to be happy"
    ("used", "to", "feel"),
)
HEDGES: tuple[tuple[str, ...], ...] = tuple(
    tuple(h.split())
    for h in (
        "not sure", "unsure", "maybe", "perhaps", "i guess", "i suppose", "kind of",
        "sort of", "not really", "i do not know", "do not know", "not certain",
        "uncertain", "i do not think so", "do not think so", "probably",
        "i think so", "possibly", "might be", "could be", "hard to say",
        "not quite", "so so", "more or less", "i am not certain", "no idea",
        "who knows", "i wonder", "somewhat", "ish", "i hope so", "hopefully",
        "i think", "i believe", "i reckon", "i hope", "meh", "am i", "are we",
        # Wanting, trying or expecting to be fine is not being fine now.
        "want to be", "wanted to be", "trying to be", "try to be", "pretending",
        "pretend", "should be", "will be", "going to be", "supposed to be",
        "ought to be", "mostly", "fairly", "reasonably", "partly", "almost", "nearly",
    )
)
# Idioms whose "no"/"not" does not negate the answer ("sure, why not").
_IDIOMS = {
    ("why", "not"): "why_not",
    ("no", "problem"): "no_problem",
    ("no", "worries"): "no_worries",
    ("not", "a", "problem"): "no_problem",
    ("no", "doubt"): "no_doubt",
    # "Never better", "couldn't be better": as good as it gets, not a negation
    # (only as the answer's last words, see _LAST_IDIOMS).
    ("never", "better"): "great",
    ("never", "felt", "better"): "great",
    ("never", "been", "better"): "great",
    ("could", "not", "be", "better"): "great",
    ("could", "not", "feel", "better"): "great",
    # ... and "never felt worse", "couldn't be worse": as bad as it gets.
    ("never", "worse"): "awful",
    ("never", "felt", "worse"): "awful",
    ("never", "been", "worse"): "awful",
    ("could", "not", "be", "worse"): "awful",
    # "I can't stop smiling" means "I keep smiling": not a negation, not a stop.
    ("can", "not", "stop"): "keep",
    ("could", "not", "stop"): "keep",
    # "I could use some support", "I could do with a hug": a need, said softly.
    ("could", "use"): "need",
    ("could", "really", "use"): "need",
    ("could", "do", "with"): "need",
    ("could", "really", "do", "with"): "need",
}
# Idioms that are only themselves at the end of an answer (give or take a
# "thanks" or "honestly"): "never better now" is not "never better".
_LAST_IDIOMS = frozenset(k for k, v in _IDIOMS.items() if v in ("great", "awful"))
_AFTER_LAST_IDIOM = frozenset({"thanks", "thank", "you", "honestly", "really", "actually"})
# A leading no that is the answer when more no follows ("no, not tonight").
_NO_PARTICLES = frozenset({"no", "nope", "nah", "naw"})
# Said first, before "I ..." or "we ...", these answer the question and do
# not negate what follows ("nothing, we're good"; but "nothing feels right").
_NOTHING_THEN = frozenset({"nothing", "none"})
# Words that carry no meaning for telling answers apart; dropped from the
# comparison key (both sides), never from the polarity analysis.
_STOPWORDS = frozenset(
    "i me my we us our you your am is are was were be been being feel feeling "
    "feels felt it its this the a an very pretty just thanks thank bit little slightly do does did "
    "would if say said to "
    "both and but of so actually honestly totally please why_not no_problem no_worries no_doubt".split()
)
# Politeness around a command that does not change it.
_POLITE_PREFIXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in sorted(
        (
            "please", "can we", "could we", "can you", "could you", "would you",
            "will you", "let us", "i want to", "we want to", "i would like to",
            "we would like to", "i would like you to", "i need you to", "just",
            "okay", "oh", "sorry", "now", "then", "so", "hey", "all right",
            "right", "yeah", "and", "actually", "um",
        ),
        key=lambda p: -len(p),
    )
)
_POLITE_SUFFIXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in sorted(
        ("please", "now", "thanks", "thank you", "for me", "for us", "again", "then",
         "okay", "a bit", "a little", "a little bit", "right now", "for now", "here",
         "a sec", "a second", "a minute", "a moment", "for a moment", "for a second",
         "for a minute", "for a bit", "a tick"),
        key=lambda p: -len(p),
    )
)


def _find(seq: Sequence[str], sub: Sequence[str], start: int = 0) -> int:
    """Index of the first contiguous occurrence of ``sub`` in ``seq``, or -1."""
    n = len(sub)
    if n == 0:
        return -1
    first = sub[0]
    for i in range(start, len(seq) - n + 1):
        if seq[i] == first and tuple(seq[i : i + n]) == tuple(sub):
            return i
    return -1


# Positive words that a prefix turns negative ("unhappy", "insecure",
# "disconnected"). Letter-wise "unhappy" is close to "happy", so such words
# are split into "not happy" before matching.
_POSITIVE_STEMS = frozenset(
    "happy well safe settled comfortable sure ready loved cared grounded relaxed "
    "easy okay ok fine connected content contented satisfied secure calm good heard "
    "seen supported certain steady stable balanced wanted rested peaceful".split()
)
_NEGATIVE_PREFIXES = ("un", "dis", "in", "im", "non")
_ISH_STEMS = _POSITIVE_STEMS | {"better", "warm", "great", "alright", "bad", "sad", "low", "tired"}


_ELONGATED = (
    (re.compile(r"^n+o+$"), "no"),  # "nooo"
    (re.compile(r"^n+o+t+$"), "not"),
    (re.compile(r"^y+e+s+$"), "yes"),  # "yesss"
)


def _split_prefix(word: str) -> tuple[str, ...]:
    for pattern, plain in _ELONGATED:
        if pattern.match(word):
            return (plain,)
    if word.endswith("ish") and word[:-3] in _ISH_STEMS:  # "okayish", not "finish"
        return (word[:-3], "ish")
    for prefix in _NEGATIVE_PREFIXES:
        if word.startswith(prefix) and word[len(prefix) :] in _POSITIVE_STEMS:
            return ("not", word[len(prefix) :])
    return (word,)


def _join_idioms(words: Sequence[str]) -> list[str]:
    words = [part for w in words for part in _split_prefix(w)]
    out: list[str] = []
    i = 0
    while i < len(words):
        for idiom, token in _IDIOMS.items():
            if tuple(words[i : i + len(idiom)]) == idiom and not (
                    idiom in _LAST_IDIOMS and not set(words[i + len(idiom):]) <= _AFTER_LAST_IDIOM):
                out.append(token)
                i += len(idiom)
                break
        else:
            out.append(words[i])
            i += 1
    return out


@dataclass(frozen=True)
class Analysis:
    """What matching needs to know about one text.

    ``key`` is the comparison string (content words); ``core_key`` is the same
    with negators and hedges removed ("what is being negated").
    """

    words: tuple[str, ...]
    negated: bool
    hedged: bool
    key: str
    core_key: str
    strong_negation: bool = False  # a negator outside any hedge ("I think I'm *not* okay")
    dehedged_key: str = ""  # without the hedge words ("kind of disconnected" -> "not connected")
    soft_negation: bool = False  # the hedge itself says no ("not really", "not sure")
    polarity: tuple[bool, bool] = (False, False)  # (negated, hedged), what phrases must agree on


def _key(words: Sequence[str], fallback: bool = True) -> str:
    """Content words, run through rapidfuzz's default_process once, here."""
    content = [w for w in words if w not in _STOPWORDS]
    return default_process(" ".join(content or (words if fallback else ())))


def analyze(text: str) -> Analysis:
    """Normalize ``text`` and find its negation/hedging (see module docstring)."""
    words = _join_idioms(normalize(text).split())
    if len(words) >= 3 and words[0] in _NOTHING_THEN and words[1] in ("i", "we"):
        words[0] = "no"  # "nothing, I'm fine" is "no, I'm fine": the answer, then how one is
    hedge_mask = [False] * len(words)
    for hedge in HEDGES:
        pos = _find(words, hedge)
        while pos >= 0:
            for j in range(pos, pos + len(hedge)):
                hedge_mask[j] = True
            pos = _find(words, hedge, pos + 1)
    neg_mask = [w in NEGATORS for w in words]
    for phrase in _NEGATION_PHRASES:
        pos = _find(words, phrase)
        while pos >= 0:
            for j in range(pos, pos + len(phrase)):
                neg_mask[j] = True
                hedge_mask[j] = False  # "could be better" is a plain negative
            pos = _find(words, phrase, pos + 1)
    hedged = any(hedge_mask)
    negated = any(neg_mask)
    core = [w for w, h, n in zip(words, hedge_mask, neg_mask) if not (h or n)]
    return Analysis(
        words=tuple(words),
        negated=negated,
        hedged=hedged,
        key=_key(words),
        core_key=_key(core, fallback=False),
        strong_negation=any(n and not h for n, h in zip(neg_mask, hedge_mask)),
        dehedged_key=_key([w for w, h in zip(words, hedge_mask) if not h], fallback=False),
        soft_negation=any(n and h for n, h in zip(neg_mask, hedge_mask)),
        polarity=(negated, hedged),
    )


_analyze_cached = functools.lru_cache(maxsize=16384)(analyze)


def _score(utterance_key: str, phrase_key: str) -> float:
    """Similarity 0..100 of two keys: close spelling, same words, or the phrase inside.

    ``token_set_ratio`` gives 100 whenever the phrase's words are a subset of
    the utterance's; it is damped by how much of the utterance the phrase
    covers, so "okay, what's the weather" does not count as a clear *okay*.
    """
    if not utterance_key or not phrase_key:
        return 0.0
    if utterance_key == phrase_key:
        return 100.0
    # Keys were already through default_process (see _key).
    ratio = fuzz.ratio(utterance_key, phrase_key)
    sort = fuzz.token_sort_ratio(utterance_key, phrase_key)
    tset = fuzz.token_set_ratio(utterance_key, phrase_key)
    lu, lp = len(utterance_key), len(phrase_key)
    if lp <= lu:
        # The phrase inside a longer utterance: the rest may be anything.
        guard = 0.75 + 0.25 * lp / lu
    else:
        # A fragment of a longer phrase ("okay" of "tell me it's okay").
        guard = 0.6 + 0.4 * lu / lp
    return max(ratio, sort, tset * guard)


# --------------------------------------------------------------------------
# Is a "stop" in a sentence a request to stop?
# --------------------------------------------------------------------------

# "before we stop", "when it stops": stopping is talked about, not asked for.
_TIME_WORDS = frozenset("before when after until till once whenever if unless".split())
_PRONOUNS = frozenset("i we you he she they it him her them us me".split())
# "I asked him to stop", "she told them to stop": a story, not a request.
_TELLING = frozenset("asked told begged made make".split())
# Words that may sit between a "not" and the stop it negates:
# "did not want it to stop", "do not stop", "would not ever stop".
_UNDER_NOT = frozenset("it him her them you we i he she they ever really just even want wanted wanting "
                       "like mean meant going to need have had let".split())
# "we're done talking", "I'm finished sharing": done with that part, not with the check-in.
_DONE_WORDS = frozenset({"done", "finished", "enough"})
# "I'm done with my tea": finished with a thing of one's own, not the check-in.
_OWN = frozenset("my your his her our their".split())
# "I don't want to continue feeling like this": a way of being, not the check-in.
_GOING_ON = frozenset({"continue", "on", "going"})
_A_WAY_OF_BEING = frozenset({"feeling", "being", "like", "hurting"})
# "switch off", "pack it in", "tap out" ask the companion to stop only when
# nothing follows but words like these ("switch off now"); "switch off the
# light", "pack it in the bag", "talked out of it" are about something else.
_PARTICLES = frozenset({"off", "in", "out"})
_OFF_TAIL = frozenset({"now", "please", "thanks", "thank", "then", "for", "tonight", "here", "there"})
# Said before a stop that is still "on its own": "no, stop", "okay stop".
_ALONE_LEADS = frozenset({"no", "okay", "oh", "please", "right"})
# The one word that may follow a stop said only as the whole answer:
# "good night everyone", "bye now" (but "that will do nicely" is no stop).
_ALONE_TAIL = frozenset({"now", "then", "everyone", "everybody", "all", "both", "guys", "love", "darling",
                         "babe", "thanks", "tonight", "bye", "night", "folks", "sweetheart"})


def stop_is_requested(words: Sequence[str], pos: int, length: int) -> bool:
    """Whether the stop phrase (or safe word) at ``words[pos:pos+length]`` asks to stop.

    Biased toward yes: only clear signs say otherwise. A "not"/"never"
    governing it ("I didn't want it to stop", "don't stop"), a time word
    ("before we stop touching"), a story ("I asked him to stop"), "done"
    followed by an activity ("we're done talking") or by a thing of one's own
    ("I'm done with my tea") or a way of being ("done with feeling like
    this"), going on in a way of being ("I don't want to continue feeling
    like this"), or "off", "in" or "out" followed by a thing ("switch off the
    light", "pack it in the bag").
    """
    before = list(words[max(0, pos - 5) : pos])
    for j in range(len(before) - 1, -1, -1):
        if before[j] in ("not", "never"):
            between = before[j + 1 :]
            if all(w in _UNDER_NOT for w in between):
                return False
            break
    if before and before[-1] in _TIME_WORDS:
        return False
    if len(before) >= 2 and before[-2] in _TIME_WORDS and before[-1] in _PRONOUNS:
        return False
    if len(before) >= 3 and before[-1] == "to" and before[-2] in _PRONOUNS and before[-3] in _TELLING:
        return False
    after = words[pos + length : pos + length + 2]
    last = words[pos + length - 1]
    if last in _DONE_WORDS and after and after[0].endswith("ing"):
        return False
    if last in _DONE_WORDS and len(after) == 2 and after[0] == "with" \
            and (after[1] in _OWN or after[1] in _A_WAY_OF_BEING):
        return False  # "done with my tea", "done with feeling like this"
    if last in _PARTICLES and after and after[0] not in _OFF_TAIL:
        return False
    if last in _GOING_ON and after and after[0] in _A_WAY_OF_BEING:
        return False
    return True


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """The matcher's verdict for one utterance.

    ``kind`` is "command" (``name`` = a command, incl. "safe_word"),
    "danger" (``name`` = the kind, see :mod:`skill.dialogue.care`; ``go_to`` where
    to go), "need" (a small bodily need), "intent" (``name`` = the intent),
    "unclear" or "ambiguous" (``name`` is None; ``alternatives`` lists the
    close intents, best first).
    """

    kind: str
    name: str | None
    score: float
    alternatives: tuple[str, ...] = ()
    go_to: str = ""  # danger: the node to go to (FLOW.NODE)
    also_stop: bool = False  # danger: a stop was asked for in the same breath


_UNCLEAR = Match("unclear", None, 0.0)

# --------------------------------------------------------------------------
# Matcher
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Index:
    """A node's intents, prepared once: exact phrases, and keys grouped by polarity."""

    names: frozenset[str]
    exact: dict[str, tuple[str, ...]]
    by_polarity: dict[tuple[bool, bool], list[tuple[str, str, bool]]]


def _strip_polite(words: Sequence[str]) -> tuple[str, ...]:
    w = list(words)
    changed = True
    while changed and w:
        changed = False
        for p in _POLITE_PREFIXES:
            if len(w) > len(p) and tuple(w[: len(p)]) == p:
                w = w[len(p) :]
                changed = True
                break
        for p in _POLITE_SUFFIXES:
            if len(w) > len(p) and tuple(w[-len(p) :]) == p:
                w = w[: -len(p)]
                changed = True
                break
    return tuple(w)


class Matcher:
    """Match utterances against global commands and a node's intents.

    ``commands`` maps command name -> phrases (see ``load_commands``); the
    safe word is added at runtime. ``threshold`` is the lowest fuzzy score
    (0..100) accepted for an intent, ``margin`` how far ahead of the runner-up
    the best intent must be. ``affirmative`` maps each affirmative intent to
    its negative counterpart (or None).
    """

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        safe_word: str = SAFE_WORD,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        *,
        confidence_floor: float = DEFAULT_CONFIDENCE_FLOOR,
        affirmative: Mapping[str, str | None] | Collection[str] | None = None,
        unsure_intent: str = _UNSURE,
        feelings: Any = None,
        care: Any = None,
        stop_alone: Collection[str] = (),
    ) -> None:
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.confidence_floor = float(confidence_floor)
        self.safe_word = safe_word
        self._safe_words = tuple(normalize(safe_word).split()) if safe_word else ()
        if affirmative is None:
            affirmative = DEFAULT_AFFIRMATIVE
        if not isinstance(affirmative, Mapping):
            affirmative = {a: DEFAULT_AFFIRMATIVE.get(a) for a in affirmative}
        self.affirmative: dict[str, str | None] = dict(affirmative)
        self._negatives = frozenset(v for v in self.affirmative.values() if v)
        self.unsure_intent = unsure_intent
        self.feelings = feelings  # skill.dialogue.care.Feelings, or None
        self.care = care  # skill.dialogue.care.Care, or None
        self._commands_by_polarity: dict[tuple[bool, bool], list[tuple[str, tuple[str, ...], str]]] = {}
        self._stop_anywhere: list[tuple[str, ...]] = []
        self._stop_alone: list[tuple[str, ...]] = [("stop",)]
        # Stop phrases that count only as the whole answer ("good night"):
        # never found inside a sentence, and no other word may precede them
        # but a lead like "okay" ("we had a good night" is no stop).
        self._alone_only: set[tuple[str, ...]] = set()
        for phrase in stop_alone:
            a = _analyze_cached(str(phrase))
            if a.words:
                self._alone_only.add(_strip_polite(a.words))
        for name, phrases in commands.items():
            for phrase in phrases:
                a = _analyze_cached(str(phrase))
                if not a.words:
                    continue
                # Phrases are stripped of politeness the same way utterances are.
                stripped = _strip_polite(a.words)
                self._commands_by_polarity.setdefault(a.polarity, []).append(
                    (name, stripped, " ".join(stripped))
                )
                if name == "stop":
                    self._stop_alone.append(stripped)
                    if stripped not in self._alone_only and (len(a.words) >= 2 or a.words[0] in ("stop", "quit")):
                        self._stop_anywhere.append(a.words)
        if not any(w == ("stop",) for w in self._stop_anywhere):
            self._stop_anywhere.append(("stop",))
        self._index_cache: dict[Any, _Index] = {}

    # -- commands ---------------------------------------------------------

    def _safety(self, words: Sequence[str], anywhere: bool = True) -> Match | None:
        """The safe word or a stop request in ``words``.

        ``anywhere`` (the default) reads the whole sentence: a stop phrase
        counts wherever it is, unless the sentence shows it is not a request
        (see :func:`stop_is_requested`). With ``anywhere=False`` (dictation)
        only the safe word or a stop phrase said on its own counts.
        """
        if not anywhere:
            stripped = _strip_polite(words)
            while len(stripped) > 1 and stripped[0] in _ALONE_LEADS:
                stripped = stripped[1:]
            if self._safe_words and tuple(stripped) == self._safe_words:
                return Match("command", "safe_word", 100.0)
            if any(tuple(stripped) == tuple(p) for p in self._stop_alone):
                return Match("command", "stop", 100.0)
            return None
        if self._safe_words:
            pos = _find(words, self._safe_words)
            while pos >= 0:
                if stop_is_requested(words, pos, len(self._safe_words)):
                    return Match("command", "safe_word", 100.0)
                pos = _find(words, self._safe_words, pos + 1)
        for phrase in self._stop_anywhere:
            pos = _find(words, phrase)
            while pos >= 0:
                if stop_is_requested(words, pos, len(phrase)):
                    return Match("command", "stop", 100.0)
                pos = _find(words, phrase, pos + 1)
        return None

    def is_safety(self, text: str, anywhere: bool = True) -> Match | None:
        """Only the safety layer: the safe word or a stop request, else None."""
        a = _analyze_cached(text if isinstance(text, str) else str(text))
        return self._safety(a.words, anywhere) if a.words else None

    def _command(self, a: Analysis, allowed: Collection[str] | None) -> Match | None:
        stripped = _strip_polite(a.words)
        if not stripped:
            return None
        text = " ".join(stripped)
        best: tuple[float, str] | None = None
        for name, pwords, ptext in self._commands_by_polarity.get(a.polarity, ()):
            if allowed is not None and name not in allowed and name not in SAFETY_COMMANDS:
                continue
            at = _find(stripped, pwords)
            if name in SAFETY_COMMANDS and at >= 0 and not stop_is_requested(stripped, at, len(pwords)):
                continue  # "we're done talking": done with that part only
            if pwords in self._alone_only and at >= 0 and stripped != pwords and not (
                    (at == 1 and stripped[0] in _ALONE_LEADS) or (at == 0 and stripped[-1] in _ALONE_TAIL)):
                continue  # "a good night", "that will do nicely": part of what was said, not the answer
            if stripped == pwords:
                score = 100.0
            elif len(stripped) <= len(pwords) + 1 and at >= 0:
                score = 95.0
            else:
                # Close spelling of the whole command ("stop pleas", "repeet that").
                score = fuzz.ratio(text, ptext, score_cutoff=_COMMAND_THRESHOLD)
                if not score:
                    continue
            if best is None or score > best[0]:
                best = (score, name)
        if best is None:
            return None
        return Match("command", best[1], best[0])

    # -- intents ------------------------------------------------------------

    def _index(self, intents: Mapping[str, Sequence[str]]) -> _Index:
        key = tuple((name, tuple(phrases)) for name, phrases in intents.items())
        hit = self._index_cache.get(key)
        if hit is not None:
            return hit
        exact: dict[str, tuple[str, ...]] = {}
        by_polarity: dict[tuple[bool, bool], list[tuple[str, str, bool]]] = {}
        seen: set[tuple[str, tuple[bool, bool], str]] = set()
        for name, ps in intents.items():
            for p in ps:
                pa = _analyze_cached(str(p))
                said = " ".join(pa.words)
                if name not in exact.get(said, ()):
                    exact[said] = exact.get(said, ()) + (name,)
                if (name, pa.polarity, pa.key) in seen or not pa.key:
                    continue  # "I'm upset" and "upset" compare the same
                seen.add((name, pa.polarity, pa.key))
                by_polarity.setdefault(pa.polarity, []).append((name, pa.key, name in self.affirmative))
        if len(self._index_cache) > 256:
            self._index_cache.clear()
        value = _Index(frozenset(intents), exact, by_polarity)
        self._index_cache[key] = value
        return value

    def _intent(self, a: Analysis, intents: Mapping[str, Sequence[str]]) -> Match:
        idx = self._index(intents)
        qualified = a.negated or a.hedged
        # Said exactly as a listed phrase: that answer, however close others score.
        hits = [n for n in idx.exact.get(" ".join(a.words), ()) if not (qualified and n in self.affirmative)]
        if len(hits) == 1:
            return Match("intent", hits[0], 100.0)
        if len(hits) > 1:
            return Match("ambiguous", None, 100.0, tuple(hits))
        # best score per outcome; the outcome None means "an affirmative
        # answer was negated/hedged and this node has no safe place for it".
        best: dict[str | None, float] = {}

        def offer(outcome: str | None, score: float) -> None:
            if score > best.get(outcome, -1.0):
                best[outcome] = score

        # 1. Phrases of the same polarity; never an affirmative one for a
        #    negated or hedged answer.
        for name, key, affirmative in idx.by_polarity.get(a.polarity, ()):
            if not (qualified and affirmative):
                offer(name, _score(a.key, key))
        # 2. What is being negated/hedged: "I wouldn't say I'm okay" -> okay
        #    -> its counterpart (not_okay); "I guess I'm okay" -> unsure. Such
        #    a reading ranks clearly below a phrase said directly (more than
        #    the margin), so the two never count as "too close to call".
        if qualified and a.core_key:
            penalty = self.margin + 1.0
            for name, key, affirmative in idx.by_polarity.get((False, False), ()):
                if not affirmative:
                    continue
                if a.strong_negation:
                    counterpart = self.affirmative.get(name)
                    target = counterpart if counterpart in idx.names else None
                else:
                    target = self.unsure_intent if self.unsure_intent in idx.names else None
                offer(target, _score(a.core_key, key) - penalty)
        # 3. A hedged painful feeling is still one: "I guess I'm a bit upset",
        #    "kind of disconnected". No penalty, so care wins over "unsure".
        #    Not when the hedge itself says no: "not really heard" is not "heard".
        if a.hedged and not a.soft_negation and a.dehedged_key:
            for name, key, affirmative in idx.by_polarity.get((a.strong_negation, False), ()):
                if not affirmative:
                    offer(name, _score(a.dehedged_key, key))
        if not best:
            return _UNCLEAR
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        top_name, top_score = ranked[0]
        if top_score < self.threshold or top_name is None:
            return Match("unclear", None, round(top_score, 1))
        close = [n for n, sc in ranked[1:] if sc >= top_score - self.margin]
        if close:
            if None in close:
                return Match("unclear", None, round(top_score, 1))
            return Match("ambiguous", None, round(top_score, 1), (top_name, *close))
        return Match("intent", top_name, round(top_score, 1))

    # -- entry point ---------------------------------------------------------

    def match(
        self,
        text: str,
        intents: Mapping[str, Sequence[str]],
        confidence: float = 1.0,
        allowed_commands: Collection[str] | None = None,
        *,
        safety_anywhere: bool = True,
        read_feelings: bool = True,
        spot: bool = True,
        spot_needs: bool = True,
        danger_kinds: Collection[str] | None = None,
    ) -> Match:
        """Classify ``text`` heard at a node with these ``intents``.

        ``allowed_commands`` (None = all) limits the non-safety commands;
        stop and the safe word are always honoured, even below the
        confidence floor. Order: the safe word or a stop said on its own;
        danger (``spot``, limited to ``danger_kinds``); a stop request
        inside a sentence (only on its own when ``safety_anywhere`` is
        False, as while dictating a note); a small need (``spot_needs``);
        other commands; the node's intents, read with the feelings
        vocabulary unless ``read_feelings`` is False.
        """
        a = _analyze_cached(text if isinstance(text, str) else str(text))
        if not a.words:
            return _UNCLEAR
        claimed = self._claimed_ending(a, intents)
        if claimed is not None:
            return claimed  # "let's call it a day" where the node ends in its own words
        alone = self._safety(a.words, anywhere=False)
        if alone is not None:
            return alone  # the safe word or a stop, said on its own: at once
        if spot and self.care is not None:
            danger = self.care.danger_in(a.words, danger_kinds)
            if danger is not None:
                asked_stop = self._safety(a.words, safety_anywhere) is not None
                return Match("danger", danger.kind, 100.0, ("negated",) if danger.negated else (),
                             go_to=danger.go_to, also_stop=asked_stop)
        safety = self._safety(a.words, safety_anywhere)
        if safety is not None:
            return safety
        if spot and spot_needs and self.care is not None and self.care.need_in(a.words):
            return Match("need", "need", 100.0)
        low_confidence = confidence < self.confidence_floor
        if len(a.words) > _MAX_WORDS:
            # Nobody answers a check-in question in a speech; fuzzy scores on
            # long text only mislead. (Stop, the safe word and danger were
            # checked above.) A long, heartfelt answer is still read for feelings.
            if (read_feelings and self.feelings is not None and not low_confidence
                    and len(a.words) <= _MAX_FEELING_WORDS):
                return self._with_feelings(a, intents, _UNCLEAR)
            return _UNCLEAR
        command = self._command(a, allowed_commands)
        if command is not None and command.name in SAFETY_COMMANDS:
            # A close spelling of a stop said on its own ("stop pleas").
            return command
        if low_confidence:
            return _UNCLEAR
        if command is not None:
            exact = self._index(intents).exact
            if " ".join(a.words) not in exact and " ".join(_strip_polite(a.words)) not in exact:
                return command
        found = self._intent(a, intents)
        if read_feelings and self.feelings is not None:
            found = self._with_feelings(a, intents, found)
        if found.kind != "intent" and self._leading_no(a):
            alone = self._intent(_analyze_cached(a.words[0]), intents)
            if alone.kind == "intent":
                return alone  # "no, not tonight": the no is the answer
        return found

    def _claimed_ending(self, a: Analysis, intents: Mapping[str, Sequence[str]]) -> Match | None:
        """A soft stop phrase this node lists, word for word, as one of its answers.

        Only phrases without a :data:`HARD_STOP_WORDS` word or the safe word;
        the validator requires the answer that claims one to end the check-in.
        """
        if any(w in HARD_STOP_WORDS for w in a.words):
            return None
        if self._safe_words and _find(a.words, self._safe_words) >= 0:
            return None
        if self._safety(a.words) is None:
            return None  # no stop in it: the usual order applies
        exact = self._index(intents).exact
        for said in (" ".join(a.words), " ".join(_strip_polite(a.words))):
            hits = exact.get(said, ())
            if len(hits) == 1:
                return Match("intent", hits[0], 100.0)
        return None

    def _leading_no(self, a: Analysis) -> bool:
        """The answer opens with a bare no and the rest only says no again
        ("no, not tonight", "nah, not really", "no, not at the moment") or
        says that all is well, plainly ("no, everything was lovely"). The no
        alone is then the answer, where a bare no is one at this question;
        used only when the whole answer matched nothing, so a clearer reading
        ("no, I'm not okay" -> not_okay) always wins."""
        if len(a.words) < 2 or a.words[0] not in _NO_PARTICLES:
            return False
        if a.words[1] in NEGATORS:
            return True
        rest = a.words[1:]
        if self.feelings is None or any(w in NEGATORS for w in rest):
            return False
        reading = self.feelings.read(rest)
        return reading is not None and reading.kind == "okay" and not _analyze_cached(" ".join(rest)).hedged

    def _with_feelings(self, a: Analysis, intents: Mapping[str, Sequence[str]], found: Match) -> Match:
        """Let the feelings vocabulary read what the phrase lists did not see.

        - No clear answer from the lists: the reading decides, landing on the
          answer it means at this question ("I feel used" -> not_okay).
        - Strong distress wins over a calmer answer ("happy, but I feel used").
        - "I'm okay" at a yes/no question says how someone is: at "anything
          else?" it is a no, not a yes.
        - A near-exact phrase (score >= EXACT_ENOUGH) otherwise stands; a
          looser one gives way to a reading that disagrees with it.
        """
        reading = self.feelings.read(a.words)
        if reading is None:
            return found
        target = self.feelings.lands_on(reading.kind, intents.keys(), reading.strength)
        if target in self.affirmative and (a.negated or a.hedged):
            # Never an affirmative answer from a sentence with a "not" or a hedge.
            target = self.unsure_intent if self.unsure_intent in intents else None
        if target is None:
            return found
        score = max(found.score, self.threshold)
        if found.kind != "intent":
            if reading.about_self or reading.bare:
                return Match("intent", target, score)
            return found  # "the weather is nice today" is not an answer about anyone
        if found.name == target:
            return found
        if reading.kind == "not_okay" and reading.strength >= 2 and found.name not in self.feelings.care_intents:
            return Match("intent", target, score)
        if (found.name in self.feelings.statements_override and reading.kind == "okay" and reading.statement
                and target not in self.affirmative):
            return Match("intent", target, score)
        if found.score >= EXACT_ENOUGH:
            return found
        care = self.feelings.care_intents
        if found.name in care and reading.kind in ("okay", "tender") and not a.negated:
            return Match("intent", target, score)  # "I can't stop smiling" is not "I can't stop crying"
        if found.name == self.unsure_intent and reading.kind in ("not_okay", "tender"):
            return Match("intent", target, score)  # "kind of fragile": the hedge does not hide it
        if found.name in self.affirmative and reading.kind != "okay":
            return Match("intent", target, score)  # "happy but tired"
        if found.name in self._negatives and reading.kind == "not_okay":
            return Match("intent", target, score)  # "I didn't like that bit" is no plain "no"
        return found
