"""Reading feelings, danger and small needs in what someone said (pure).

Two data files beside the dialogues feed this module:

- ``dialogs/feelings.yaml``: a feelings vocabulary (words and short phrases,
  each leaning okay, tender, not okay or unsure, mild or strong), so a
  sentence the intent lists never saw still reads as one of those four, and
  ``lands_on``: which answer each reading is at a given question.
- ``dialogs/care.yaml``: phrasings of danger (a body emergency, self-harm,
  feeling unsafe with someone, a boundary or consent crossed) and of small
  bodily needs, matched anywhere in a sentence.

Both are read with the matcher's own normalizing (contractions expanded,
"unhappy" read as "not happy"), and negation is applied as the matcher does:
a "not" up to four words before a word turns it round. Everything here is
pure and deterministic; the loaders report problems as ``file:line:column``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping, Sequence

from skill.dialogue.matcher import _NEGATION_PHRASES, NEGATORS, _join_idioms
from skill.dialogue.normalize import normalize
from skill.dialogue.yamlpos import Mark, YList, as_word

__all__ = ["Feelings", "Reading", "Care", "Spotted", "load_feelings", "load_care",
           "READINGS", "DANGER_KINDS", "pattern", "find_pattern"]

READINGS = ("okay", "tender", "not_okay", "unsure")
#: lands_on keys besides the readings: a mild not-okay (strength 1) may land elsewhere first.
MILD_NOT_OKAY = "not_okay_mild"
DANGER_KINDS = ("body", "self_harm", "unsafe", "crossed")
STRENGTHS = {"strong": 2, "mild": 1}
#: A negated good word is a clear "not okay" ("not really okay").
NEGATED_GOOD = 2
#: A negated hard word is a little reassuring, but not a clear okay ("not sad"):
#: it reads unsure, since an answer with a "not" is never taken as "okay".
NEGATED_HARD = 1
#: A negation phrase ("I'd be lying if I said...") reaches this far.
NEGATION_PHRASE_REACH = 7
# "not sure", "don't know": the "not" belongs to the hedge, it negates nothing after it.
_HEDGE_AFTER_NOT = frozenset({"sure", "certain", "know", "knowing", "quite"})
# "okay... not really", "fine, not": a "not" right after takes the word back.
_TAKE_BACK = frozenset({"really", "quite", "actually", "so", "that", "at"})
#: How far before a word a "not" still negates it.
NEGATION_REACH = 4
#: What negates a danger phrase: only a plain "not"/"never" ("I'm not going to
#: hurt myself"), never a leading "no," ("no, I want to hurt myself").
DANGER_NEGATORS = frozenset({"not", "never", "nobody"})
#: How far before a danger phrase a "not" reaches, and what may stand between
#: ("I'm not going to hurt myself", "I'm not in any danger"); anything else
#: ends it ("she didn't listen when I said no" is not negated).
DANGER_NEGATION_REACH = 3
_DANGER_BETWEEN = frozenset("going to gonna feel feeling in any ever really at all be being want wanting i am "
                            "a so that".split())
#: What negates a feeling word: a leading "no," is an interjection ("no, I'm
#: fine"), not a negation of what follows.
FEELING_NEGATORS = NEGATORS - {"no", "nope", "nah", "naw"}
#: Words allowed between two words of a danger or needs phrase.
PHRASE_GAP = 2
_STAR = "qqstarqq"  # survives normalizing; marks a word that matches any ending
# A clause boundary: a "not" before it does not reach past it.
_CLAUSE = frozenset({"but", "though", "although", "yet", "however", "and"})
# "not really, it was nice": a "not" that only words like "really" follow
# before a new clause is an answer on its own; it does not reach into it.
_ANSWER_AFTER_NOT = frozenset({"really", "at", "all", "quite", "much", "so"})
_NEW_CLAUSE = frozenset({("it", "was"), ("it", "is"), ("it", "felt"), ("it", "feels"), ("that", "was"),
                         ("this", "was"), ("everything", "was"), ("everything", "felt"), ("all", "was"),
                         ("i", "am"), ("i", "feel"), ("i", "felt"), ("we", "are"), ("we", "feel"),
                         ("we", "felt"), ("i", "was"), ("we", "were")})
# Multi-word negations without a negator word ("far from happy").
_NEGATION_WORDS = frozenset({"wish", "hardly", "barely", "scarcely"})
_NEGATION_PAIRS = (("far", "from"), ("anything", "but"), ("used", "to"), ("opposite", "of"),
                   ("be", "lying"), ("less", "than"))
_HEDGES = (("not", "sure"), ("not", "certain"), ("do", "not", "know"), ("am", "i"), ("are", "we"),
           ("will", "be"), ("going", "to", "be"), ("kind", "of"), ("sort", "of"), ("i", "guess"), ("i", "suppose"), ("maybe",), ("perhaps",),
           ("probably",), ("i", "think"), ("mostly",), ("somewhat",), ("fairly",), ("more", "or", "less"),
           ("ish",), ("i", "hope"), ("almost",), ("nearly",), ("partly",), ("hopefully",),
           ("trying", "to", "be"), ("pretending",), ("should", "be"), ("want", "to", "be"))
# "I'm okay", "we're fine", "I feel good", "all good": says how someone is.
_STATEMENT = (("i", "am"), ("we", "are"), ("i", "feel"), ("we", "feel"), ("feeling",), ("all", "good"),
              ("both", "good"), ("both", "fine"), ("all", "fine"), ("all", "well"), ("i", "have", "been"))


# Words that say the sentence is about how someone is, not about the weather.
_SELF = frozenset("i we me my us our myself ourselves feel felt feeling feels".split())
_ABOUT_IT = (("it", "was"), ("that", "was"), ("this", "was"), ("it", "is"), ("that", "is"), ("it", "felt"),
             ("it", "got"), ("that", "got"), ("things", "got"), ("it", "went"), ("you", "went"),
             ("you", "were"), ("we", "went"), ("things", "went"))
# Words that carry no topic of their own ("so happy right now", "weird about it").
_FILLER = frozenset("a an the bit little so very really quite pretty just right now today tonight still "
                    "about it this that all and but or of is was am are be been honestly totally "
                    "completely kind sort somewhat fairly rather too much such lot lots super "
                    "um uh oh well yeah yes hmm actually think guess maybe".split())


def pattern(text: str) -> tuple[tuple[str, bool], ...]:
    """A phrase as (word, any_ending) pairs, normalized like every answer."""
    marked = " ".join(w[:-1] + _STAR if w.endswith("*") and len(w) > 1 else w for w in str(text).split())
    words = _join_idioms(normalize(marked).split())
    return tuple((w[: -len(_STAR)], True) if w.endswith(_STAR) else (w, False) for w in words if w != _STAR)


def _word_ok(word: str, want: tuple[str, bool]) -> bool:
    return word.startswith(want[0]) if want[1] else word == want[0]


def find_pattern(words: Sequence[str], pat: Sequence[tuple[str, bool]], gap: int = PHRASE_GAP) -> int:
    """Start of the tightest place ``pat`` occurs in ``words`` (its words in
    order, at most ``gap`` other words between two of them), or -1."""
    if not pat:
        return -1
    best, best_span = -1, len(words) + 1
    for start, word in enumerate(words):
        if not _word_ok(word, pat[0]):
            continue
        at = start
        for want in pat[1:]:
            for k in range(at + 1, min(len(words), at + 2 + gap)):
                if _word_ok(words[k], want):
                    at = k
                    break
            else:
                break
        else:
            if at - start < best_span:
                best, best_span = start, at - start
    return best


def negated_before(words: Sequence[str], start: int, reach: int = NEGATION_REACH,
                   negators: Collection[str] = NEGATORS, barrier: Collection[int] = ()) -> bool:
    """A negation up to ``reach`` words before ``words[start]``, inside the same
    clause; positions in ``barrier`` (another feeling word) end the search, so
    a "not" negates only the first feeling after it ("not sad, just calm")."""
    lo = max(0, start - reach)
    for j in range(start - 1, lo - 1, -1):
        w = words[j]
        if w in _CLAUSE or j in barrier:
            return False
        if (w in negators or w in _NEGATION_WORDS) and not (
                j + 1 < len(words) and words[j + 1] in _HEDGE_AFTER_NOT and w == "not"):
            return not _answer_then_clause(words, j, start)
        if j > 0 and (words[j - 1], w) in _NEGATION_PAIRS:
            return True
    return False


def _answer_then_clause(words: Sequence[str], j: int, start: int) -> bool:
    """Whether the negator at ``words[j]`` ends its own short answer ("not
    really") and a new clause ("it was", "I feel") begins before ``start``."""
    k = j + 1
    while k < start and words[k] in _ANSWER_AFTER_NOT:
        k += 1
    return k < start and k + 1 < len(words) and (words[k], words[k + 1]) in _NEW_CLAUSE


def _danger_negated(words: Sequence[str], at: int) -> bool:
    """A plain "not"/"never"/"nobody" just before a danger phrase, with only
    small words between ("I'm not going to hurt myself")."""
    for j in range(at - 1, max(-1, at - 1 - DANGER_NEGATION_REACH), -1):
        if words[j] in DANGER_NEGATORS:
            return True
        if words[j] not in _DANGER_BETWEEN:
            return False
    return False


def _negated(words: Sequence[str], i: int, k: int, barrier: Collection[int] = ()) -> bool:
    """Whether the feeling word at ``words[i:i+k]`` is negated: a "not" before
    it, a negation phrase before it ("I'd be lying if I said I was fine",
    "it could have been better"), or a "not" taking it back after it
    ("okay... not really")."""
    if negated_before(words, i, negators=FEELING_NEGATORS, barrier=barrier):
        return True
    lo = max(0, i - NEGATION_PHRASE_REACH)
    for phrase in _NEGATION_PHRASES:
        n = len(phrase)
        for j in range(lo, min(i + k, len(words) - n + 1)):
            if tuple(words[j : j + n]) == phrase and (j + n <= i or j <= i < j + n):
                return True
    after = words[i + k : i + k + 2]
    if after and after[0] == "not" and (len(after) == 1 or after[1] in _TAKE_BACK):
        return True
    return False


def _has(words: Sequence[str], seqs: Iterable[Sequence[str]]) -> bool:
    n = len(words)
    for seq in seqs:
        k = len(seq)
        for i in range(n - k + 1):
            if tuple(words[i : i + k]) == tuple(seq):
                return True
    return False


# --------------------------------------------------------------------------
# Feelings
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """How a sentence reads: ``kind`` is okay | tender | not_okay | unsure;
    ``strength`` the weight behind it; ``statement`` whether it says how
    someone is ("I'm okay") rather than just answering ("okay")."""

    kind: str
    strength: int
    statement: bool = False
    about_self: bool = False  # "I", "we", "feel", "it was": about how someone is
    bare: bool = False  # nothing but feeling words and fillers ("a bit raw", "so happy")


@dataclass
class Feelings:
    """The feelings vocabulary: entries (pattern, reading, strength), longest first."""

    entries: list[tuple[tuple[str, ...], str, int]] = field(default_factory=list)
    lands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    statements_override: frozenset[str] = frozenset({"yes"})

    def add(self, text: str, kind: str, strength: int) -> None:
        words = tuple(w for w, _ in pattern(text))
        if words and not any(e[0] == words for e in self.entries):
            self.entries.append((words, kind, strength))
            self.entries.sort(key=lambda e: -len(e[0]))

    def read(self, words: Sequence[str]) -> Reading | None:
        """Read ``words`` (already normalized, as the matcher's analysis has them)."""
        words = list(words)
        taken = [False] * len(words)
        weight = {k: 0 for k in READINGS}
        hedged = _has(words, _HEDGES)
        hits: list[tuple[int, int, str, int, bool]] = []
        for entry, kind, strength in self.entries:
            k = len(entry)
            for i in range(len(words) - k + 1):
                if any(taken[i : i + k]) or tuple(words[i : i + k]) != entry:
                    continue
                for j in range(i, i + k):
                    taken[j] = True
                hits.append((i, k, kind, strength, any(w in NEGATORS for w in entry)))
        for i, k, kind, strength, has_not in hits:
            barrier = {j for hi, hk, *_ in hits if hi != i for j in range(hi, hi + hk)}
            if not has_not and _negated(words, i, k, barrier):
                if kind == "okay":
                    weight["not_okay"] += max(strength, NEGATED_GOOD)
                else:
                    weight["unsure"] += NEGATED_HARD
            elif kind == "okay" and hedged:
                weight["unsure"] += strength
            else:
                weight[kind] += strength
        if weight["okay"] and (hedged or any(w in FEELING_NEGATORS for w in words)):
            # An answer with a "not" or a hedge anywhere is never a plain okay.
            weight["unsure"] += weight["okay"]
            weight["okay"] = 0
        statement = _has(words, _STATEMENT)
        about_self = bool(set(words) & _SELF) or _has(words, _ABOUT_IT)
        bare = all(t or w in _FILLER or w in NEGATORS for t, w in zip(taken, words))
        how = {"statement": statement, "about_self": about_self, "bare": bare}
        if weight["not_okay"] and weight["not_okay"] >= weight["okay"]:
            return Reading("not_okay", weight["not_okay"], **how)
        if weight["not_okay"]:
            return Reading("unsure", weight["okay"] - weight["not_okay"], **how)
        for kind in ("tender", "unsure", "okay"):
            if weight[kind]:
                return Reading(kind, weight[kind], **how)
        return None

    def lands_on(self, kind: str, intents: Collection[str], strength: int = 2) -> str | None:
        """The first answer this reading lands on that the question listens for."""
        if kind == "not_okay" and strength < 2 and MILD_NOT_OKAY in self.lands:
            kind = MILD_NOT_OKAY
        for intent in self.lands.get(kind, ()):
            if intent in intents:
                return intent
        return None

    @property
    def care_intents(self) -> frozenset[str]:
        return frozenset(self.lands.get("not_okay", ()))


# --------------------------------------------------------------------------
# Danger and small needs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Spotted:
    """Danger (``kind`` one of DANGER_KINDS) or a small ``need`` in a sentence.

    ``go_to`` is the node to go to (``FLOW.NODE``); ``negated`` is True for a
    negated mention ("I'm not going to hurt myself"), which goes to the
    gentle check instead."""

    kind: str
    go_to: str
    negated: bool = False


@dataclass
class Care:
    """Danger phrasings per kind, where each kind goes, and small needs."""

    danger: dict[str, list[tuple[tuple[str, bool], ...]]] = field(default_factory=dict)
    go_to: dict[str, str] = field(default_factory=dict)
    negated_go_to: str = ""
    needs: list[tuple[tuple[str, bool], ...]] = field(default_factory=list)
    needs_reply: tuple[Any, ...] = ()  # Variations (skill.dialogue.dialog), said before pausing

    def danger_in(self, words: Sequence[str], kinds: Collection[str] | None = None) -> Spotted | None:
        """The first danger kind (in DANGER_KINDS order) mentioned in ``words``.

        A plain mention wins over a negated one of any kind.
        """
        negated: Spotted | None = None
        for kind in DANGER_KINDS:
            if kinds is not None and kind not in kinds:
                continue
            for pat in self.danger.get(kind, ()):
                at = find_pattern(words, pat)
                if at < 0:
                    continue
                if _danger_negated(words, at):
                    if negated is None and self.negated_go_to:
                        negated = Spotted(kind, self.negated_go_to, True)
                    continue
                return Spotted(kind, self.go_to.get(kind, ""))
        return negated

    def need_in(self, words: Sequence[str]) -> bool:
        """A small bodily need mentioned, and not negated ("I don't need the loo")."""
        for pat in self.needs:
            at = find_pattern(words, pat)
            if at >= 0 and not negated_before(words, at, negators=DANGER_NEGATORS):
                return True
        return False


# --------------------------------------------------------------------------
# Loading (problems as file:line:column, never an exception)
# --------------------------------------------------------------------------


def _phrases(b: Any, value: Any, mark: Mark, what: str) -> list[tuple[str, Mark]]:
    if not isinstance(value, YList) or not value:
        b.err(mark, f"{what} must be a non-empty list of words or phrases")
        return []
    out = []
    for item, m in zip(value, value.imarks):
        if isinstance(item, bool):
            item = as_word(item)
        if not isinstance(item, (str, int, float)) or not str(item).strip():
            b.err(m, f"each entry of {what} must be a word or phrase in quotes")
            continue
        if not pattern(str(item)):
            b.err(m, f"'{item}' in {what} has no words left after normalizing; remove it")
            continue
        out.append((str(item), m))
    return out


def _read_top(path: Path, label: str | None, name: str, keys: tuple[str, ...]) -> tuple[Any, Any]:
    """Read a versioned file of mappings with the flow files' rules:
    (the builder collecting problems, the top mapping or None)."""
    from skill.dialogue.dialog import _Builder, _read, _version

    label = label or str(path)
    b = _Builder()
    doc = _read(path, label, b)
    top = b.mapping(doc, getattr(doc, "mark", Mark(label, 1, 1)), name) if doc is not None else None
    if top is not None:
        b.keys(top, keys, name)
        _version(top, b)
    return b, top


def load_feelings(path: Path, label: str | None = None) -> tuple[Feelings | None, list[Any]]:
    """feelings.yaml -> (Feelings, problems)."""
    from skill.dialogue.dialog import did_you_mean

    b, top = _read_top(path, label, "feelings.yaml", ("version", "feelings", "lands_on", "statements_override"))
    if top is None:
        return None, b.problems
    feelings = Feelings()
    body = b.mapping(top.get("feelings"), top.vmark("feelings") if "feelings" in top else top.mark,
                     "'feelings'")
    if body is not None:
        for kind, levels in body.items():
            if kind not in READINGS:
                b.err(body.kmark(kind), f"'{kind}' is not a reading; use {', '.join(READINGS)}"
                                        f"{did_you_mean(kind, READINGS)}")
                continue
            lv = b.mapping(levels, body.vmark(kind), f"'feelings.{kind}'")
            if lv is None:
                continue
            for level, words in lv.items():
                if level not in STRENGTHS:
                    b.err(lv.kmark(level), f"'{level}' is not a strength; use strong or mild"
                                           f"{did_you_mean(level, STRENGTHS)}")
                    continue
                for text, _ in _phrases(b, words, lv.vmark(level), f"'feelings.{kind}.{level}'"):
                    feelings.add(text, kind, STRENGTHS[level])
    lands = top.get("lands_on")
    if lands is None:
        b.err(top.mark, "missing 'lands_on:' (which answer each reading is at a question)")
    else:
        lm = b.mapping(lands, top.vmark("lands_on"), "'lands_on'")
        for kind, intents in (lm or {}).items():
            if kind not in READINGS and kind != MILD_NOT_OKAY:
                b.err(lm.kmark(kind), f"'{kind}' is not a reading; use {', '.join(READINGS)} "  # type: ignore[union-attr]
                                      f"or {MILD_NOT_OKAY}")
                continue
            names = _phrases(b, intents, lm.vmark(kind), f"'lands_on.{kind}'")  # type: ignore[union-attr]
            feelings.lands[kind] = tuple(n for n, _ in names)
    if "statements_override" in top:
        names = _phrases(b, top["statements_override"], top.vmark("statements_override"), "'statements_override'")
        feelings.statements_override = frozenset(n for n, _ in names)
    return feelings, b.problems


def load_care(path: Path, label: str | None = None) -> tuple[Care | None, list[Any]]:
    """care.yaml -> (Care, problems)."""
    from skill.dialogue.dialog import did_you_mean

    b, top = _read_top(path, label, "care.yaml", ("version", "danger", "needs"))
    if top is None:
        return None, b.problems
    care = Care()
    danger = b.mapping(top.get("danger"), top.vmark("danger") if "danger" in top else top.mark, "'danger'")
    if danger is not None:
        for kind, body in danger.items():
            if kind == "negated":
                care.negated_go_to = b.name(body, danger.vmark(kind), "'danger.negated'") or ""
                continue
            if kind not in DANGER_KINDS:
                b.err(danger.kmark(kind), f"'{kind}' is not a kind of danger; use {', '.join(DANGER_KINDS)}"
                                          f"{did_you_mean(kind, DANGER_KINDS)}")
                continue
            m = b.mapping(body, danger.vmark(kind), f"'danger.{kind}'")
            if m is None:
                continue
            b.keys(m, ("go_to", "phrases"), f"'danger.{kind}'")
            if "go_to" not in m:
                b.err(m.mark, f"'danger.{kind}' needs 'go_to: FLOW.NODE'")
            else:
                care.go_to[kind] = b.name(m["go_to"], m.vmark("go_to"), f"'danger.{kind}.go_to'") or ""
            texts = [t for t, _ in _phrases(b, m.get("phrases"), m.vmark("phrases") if "phrases" in m else m.mark,
                                             f"'danger.{kind}.phrases'")]
            care.danger[kind] = [pattern(t) for t in texts]
        for kind in DANGER_KINDS:
            if kind not in care.danger:
                b.err(danger.mark, f"'danger' has no '{kind}' phrases; every kind of danger needs its own")
    needs = top.get("needs")
    if needs is not None:
        nm = b.mapping(needs, top.vmark("needs"), "'needs'")
        if nm is not None:
            b.keys(nm, ("phrases", "reply"), "'needs'")
            care.needs = [pattern(t) for t, _ in
                          _phrases(b, nm.get("phrases"), nm.vmark("phrases") if "phrases" in nm else nm.mark,
                                   "'needs.phrases'")]
            if "reply" in nm:
                care.needs_reply = b.variations(nm["reply"], nm.vmark("reply"), "'needs.reply'")
    return care, b.problems


def go_to_targets(care: Care) -> Mapping[str, str]:
    """Every node care.yaml sends people to (for the checker)."""
    out = {f"danger.{k}": v for k, v in care.go_to.items() if v}
    if care.negated_go_to:
        out["danger.negated"] = care.negated_go_to
    return out
