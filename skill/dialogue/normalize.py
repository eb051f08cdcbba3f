"""Turn what someone said (or typed) into a plain, comparable form.

Matching must see "Yes.", "YES!" and "um, yes" as the same answer, and must
see the "not" hidden in "isn't" or "I wouldn't say". So before any fuzzy
scoring we lowercase, expand contractions (so negation is always an explicit
``not`` token), drop filler words and punctuation, and collapse spaces.
Pure functions only; safe on any unicode input.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["normalize", "tokens"]

# Apostrophe look-alikes that keyboards, phones and recognizers produce.
_APOSTROPHES = dict.fromkeys(map(ord, "\u2019\u2018\u02bc\u02b9\u0060\u00b4\u2032\uff07"), "'")

# Whole-word contractions whose expansion is irregular.
_IRREGULAR = {
    "won't": "will not",
    "wont": "will not",
    "can't": "can not",
    "cant": "can not",
    "cannot": "can not",
    "shan't": "shall not",
    "ain't": "am not",
    "aint": "am not",
    "i'm": "i am",
    "im": "i am",
    "let's": "let us",
    "lets": "let us",
    "y'all": "you all",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "got to",
    "dunno": "do not know",
    "kinda": "kind of",
    "sorta": "sort of",
    "ok": "okay",
    "o.k.": "okay",
    "okey": "okay",
    "alright": "all right",
    "alrighty": "all right",
    # Common apostrophe-less spellings (typed answers, some recognizers).
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "wouldnt": "would not",
    "couldnt": "could not",
    "shouldnt": "should not",
    "mustnt": "must not",
    "neednt": "need not",
    "ive": "i have",
    "youre": "you are",
    "theyre": "they are",
    "thats": "that is",
    "whats": "what is",
    "theres": "there is",
    "wouldve": "would have",
    "idk": "i do not know",
    "n't": "not",  # tokenizers that split "do n't"
}

# 's after these words means "is" (or "has"); elsewhere it is a possessive.
_S_IS = frozenset(
    "it that what there here he she who where how when why this everything "
    "nothing something someone everyone that's".split()
)

_SUFFIXES = (
    ("n't", " not"),
    ("'re", " are"),
    ("'ve", " have"),
    ("'ll", " will"),
    ("'d", " would"),
    ("'m", " am"),
)

# Filler words dropped wherever they appear.
_FILLERS = frozenset(
    "um umm ummm uh uhh uhhh uhm uhmm er err erm erm hmm hm hmmm mm mmm "
    "ah ahh eh".split()
)
# Words after which "like" is a filler ("I'm like okay", "it was like fine").
_BE = frozenset("am is are was were be been being".split())

_BOUNDARY = "|"
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*|'|[,;:.!?\u2026()\[\]{}\"\u201c\u201d\u2014\u2013/]")
_PUNCT_BOUNDARY = frozenset(",;:.!?\u2026()[]{}\"\u201c\u201d\u2014\u2013/")


def _expand(word: str) -> str:
    """Expand one (lowercase) word that may carry an apostrophe."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if "'" not in word:
        return word
    for suffix, expansion in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return _expand(word[: -len(suffix)]) + expansion
    if word.endswith("'s") and len(word) > 2:
        stem = word[:-2]
        return f"{stem} is" if stem in _S_IS else stem
    # Leftover apostrophes ("rock'n'roll", "'cause"): just split there.
    return " ".join(part for part in word.split("'") if part)


def _lex(text: str) -> list[str]:
    """Words (contractions expanded) with sentence/clause boundaries as "|"."""
    out: list[str] = []
    for raw in _WORD_RE.findall(text):
        if raw in _PUNCT_BOUNDARY:
            out.append(_BOUNDARY)
        elif raw == "'":
            continue
        else:
            out.extend(_expand(raw).split())
    return out


# Backchannel "yes" sounds, which would otherwise look like fillers.
_YES_SOUNDS = {("uh", "huh"): "uhhuh", ("mm", "hmm"): "mmhmm", ("mhm",): "mmhmm", ("mmhmm",): "mmhmm"}


def _drop_fillers(words: list[str]) -> list[str]:
    """Remove fillers, using clause boundaries to tell "like" the filler from the verb."""
    joined: list[str] = []
    i = 0
    while i < len(words):
        pair = tuple(words[i : i + 2])
        if pair in _YES_SOUNDS:
            joined.append(_YES_SOUNDS[pair])
            i += 2
        elif (words[i],) in _YES_SOUNDS:
            joined.append(_YES_SOUNDS[(words[i],)])
            i += 1
        else:
            joined.append(words[i])
            i += 1
    words = joined
    kept: list[str] = []
    n = len(words)
    i = 0
    while i < n:
        w = words[i]
        at_start = not kept or kept[-1] == _BOUNDARY
        nxt = words[i + 1] if i + 1 < n else _BOUNDARY
        if w in _FILLERS:
            i += 1
            continue
        if w == "well" and at_start:
            # "Well, I'm okay" / "well I guess" / a hesitant "Well...": a
            # leading "well" is a filler; "I am well" keeps it.
            i += 1
            continue
        if w == "like" and (at_start or nxt == _BOUNDARY or (kept and kept[-1] in _BE)):
            i += 1
            continue
        if w == "you" and nxt == "know":
            after = words[i + 2] if i + 2 < n else _BOUNDARY
            before = kept[-1] if kept else _BOUNDARY
            if (at_start or after == _BOUNDARY) and before not in ("do", "not", "did", "if"):
                i += 2
                continue
        if w == "i" and nxt == "mean" and at_start and i + 2 < n and words[i + 2] == _BOUNDARY:
            i += 2
            continue
        kept.append(w)
        i += 1
    return [w for w in kept if w != _BOUNDARY]


def normalize(text: str) -> str:
    """Lowercase, expand contractions, drop punctuation and fillers, collapse spaces.

    ``normalize("Um, I'm NOT okay...")`` is ``"i am not okay"``. Never raises:
    anything that is not a str is coerced with ``str()`` (None gives "").
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _normalize(text)


@lru_cache(maxsize=8192)
def _normalize(text: str) -> str:
    # NFKC folds full-width letters, ligatures and compatibility forms;
    # casefold handles ß and friends. Surrogates and other junk are dropped.
    text = unicodedata.normalize("NFKC", text.encode("utf-8", "replace").decode("utf-8"))
    text = text.translate(_APOSTROPHES).casefold()
    text = re.sub(r"\bo\.k\.?", "okay", text)
    # Hyphens inside words separate them ("so-so" -> "so so").
    text = re.sub(r"[-_]+", " ", text)
    return " ".join(_drop_fillers(_lex(text)))


def tokens(text: str) -> tuple[str, ...]:
    """The normalized words of ``text`` (convenience for matching)."""
    return tuple(normalize(text).split())
