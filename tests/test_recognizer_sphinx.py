"""PocketSphinx backend on real espeak-ng speech (real decoder, real model)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from skill.speech.backends import make_recognizer
from skill.speech.endpoint import EndpointConfig
from skill.speech.recognizer import Result
from skill.speech.recognizer_sphinx import SphinxRecognizer, jsgf_for, normalize_phrase
from tests.speech_fixtures import (SAMPLE_RATE, VOICES, audit_writes_and_sockets, blocks, recognize, silence,
                                   speech_span, synth, tools_available)

PHRASES = ["yes", "no", "I am okay", "I’m okay", "not really", "I'm not okay", "stop", "pause",
           "give us a minute", "repeat that", "skip", "go back", "help", "I'm not sure", "a little"]
IN_SCOPE = ["yes", "no", "i am okay", "not really", "stop", "give us a minute"]
OUT_OF_SCOPE = ["the weather is nice today", "what time is it", "can you play some music",
                "i had pasta for dinner", "my cat is sleeping", "turn on the lights", "where are my keys",
                "that movie was great", "the train was late again", "purple elephants dance"]


@pytest.fixture(scope="module")
def rec() -> SphinxRecognizer:
    """The backend as shipped: grammar plus the out-of-grammar reject check."""
    assert tools_available(), "espeak-ng and sox are needed (apt install espeak-ng sox)"
    return SphinxRecognizer()


@pytest.fixture(scope="module")
def closed() -> SphinxRecognizer:
    """Grammar decoding alone (no reject check), to test what the grammar hears."""
    assert tools_available(), "espeak-ng and sox are needed (apt install espeak-ng sox)"
    return SphinxRecognizer(reject="none")


def same(a: str, b: str) -> bool:
    """'i'm okay' and 'i am okay' are one answer (both are in the grammar)."""
    return a.replace("i'm", "i am") == b.replace("i'm", "i am")


def test_normalize_and_jsgf():
    assert normalize_phrase("  I’m OKAY, thanks! ") == "i'm okay thanks"
    grammar = jsgf_for(("yes", "i'm okay"))
    assert grammar.startswith("#JSGF V1.0;") and "( /1/ yes | /1/ i'm ( okay ) )" in grammar


def _language(grammar: str) -> dict[str, float]:
    """Every phrase the generated grammar accepts, with its probability."""
    body = grammar.split("public <turn> = ", 1)[1].rsplit(";", 1)[0]
    tokens = body.replace("(", " ( ").replace(")", " ) ").split()

    def seq(i: int) -> tuple[dict[str, float], int]:
        out = {"": 1.0}
        while i < len(tokens) and tokens[i] not in (")", "|") and not tokens[i].startswith("/"):
            if tokens[i] == "(":
                alt, i = group(i + 1)
            else:
                alt, i = ({"" if tokens[i] == "<NULL>" else tokens[i]: 1.0}, i + 1)
            out = {f"{a} {b}".strip(): p * q for a, p in out.items() for b, q in alt.items()}
        return out, i

    def group(i: int) -> tuple[dict[str, float], int]:
        alts: list[tuple[float, dict[str, float]]] = []
        while True:
            weight = 1.0
            if tokens[i].startswith("/"):
                weight, i = float(tokens[i].strip("/")), i + 1
            lang, i = seq(i)
            alts.append((weight, lang))
            if tokens[i] == ")":
                break
            i += 1  # "|"
        total = sum(w for w, _ in alts)
        out: dict[str, float] = {}
        for w, lang in alts:
            for phrase, p in lang.items():
                out[phrase] = out.get(phrase, 0.0) + p * w / total
        return out, i + 1

    lang, _ = seq(0)
    return lang


def test_grammar_is_a_weighted_trie_of_exactly_the_phrases():
    phrases = ["stop", "stop for a moment", "i am okay", "i am fine", "i am not okay",
               "i am", "yes", "not really", "not yet", "no"]
    lang = _language(jsgf_for(phrases))
    assert set(lang) == set(phrases)
    assert all(abs(p - 1 / len(phrases)) < 1e-9 for p in lang.values())  # as likely as in a flat list
    with pytest.raises(ValueError):
        jsgf_for([])


def test_shared_prefixes_and_prefix_phrases_are_recognized(closed):
    phrases = ["stop", "stop for a moment", "i am okay", "i am not okay", "not really", "not yet"]
    for phrase in ("stop", "stop for a moment", "i am not okay", "not yet"):
        assert recognize(closed, synth(phrase), phrases).text == phrase


@pytest.mark.parametrize("voice", VOICES)
@pytest.mark.parametrize("phrase", IN_SCOPE)
def test_grammar_phrases_are_recognized(closed, phrase, voice):
    pcm = synth(phrase, voice)
    result = recognize(closed, pcm, PHRASES)
    assert isinstance(result, Result)
    assert same(result.text, phrase), f"{voice}: {phrase!r} heard as {result.text!r}"
    assert 0.0 < result.confidence <= 1.0
    assert result.words and all(w.start < w.end for w in result.words)
    start, end = speech_span(pcm)
    assert result.speech_end == pytest.approx(end, abs=0.12)
    assert result.words[0].start == pytest.approx(start, abs=0.25)


@pytest.mark.parametrize("rate", [120, 180])
def test_grammar_at_other_rates(closed, rate):
    for phrase in ("not really", "give us a minute", "stop"):
        assert same(recognize(closed, synth(phrase, "en-us", rate), PHRASES).text, phrase)


def test_reject_check_keeps_most_answers_and_never_changes_them(rec):
    """Measured: 66/80 in-grammar answers pass the check (see docs/rejection.md); an
    answer that passes is never a different phrase, and "stop" always passes."""
    passed, total = 0, 0
    for phrase in IN_SCOPE + ["i'm not okay", "go back", "pause", "a little"]:
        for voice in VOICES:
            for rate in (130, 170):
                total += 1
                result = recognize(rec, synth(phrase, voice, rate), PHRASES)
                assert result.text == "" or same(result.text, phrase), (phrase, voice, rate, result.text)
                if result.text:
                    passed += 1
                if phrase == "stop":
                    assert result.text == "stop", (voice, rate)
    assert passed >= total * 0.75, f"{passed}/{total}"


def node_grammar(flow: str = "aftercare", answers: tuple[str, ...] = ("continue",)) -> tuple[str, ...]:
    """A real node's grammar (intents + all commands, a few hundred phrases)."""
    from skill.dialogue.dialog import load_bundle
    from skill.dialogue.engine import Engine
    from skill.dialogue.protocol import Heard, Listen, SessionContext, Wait

    bundle, _ = load_bundle(Path(__file__).resolve().parent.parent / "dialogs")
    engine = Engine(bundle, flow, SessionContext(), seed=2)
    actions = engine.start()
    for answer in answers:
        actions = engine.handle(Heard(answer, 1.0))
    return next(a for a in actions if isinstance(a, (Listen, Wait))).phrases


def test_out_of_scope_sentences_are_rejected(rec):
    """With a real node grammar a closed grammar turns each of these into some
    answer; the reject check must turn (nearly) all of them into "" (unclear),
    and never into an affirmative answer. Measured: 2/112 through (docs/rejection.md)."""
    phrases = node_grammar()
    assert len(phrases) > 200
    accepted = []
    total = 0
    for sentence in OUT_OF_SCOPE:
        for voice in VOICES:
            total += 1
            result = recognize(rec, synth(sentence, voice), phrases)
            assert result is not None and result.speech_end is not None
            if result.text:
                accepted.append((sentence, voice, result.text))
    assert len(accepted) <= total * 0.05, accepted
    affirmative = {"yes", "i am okay", "i'm okay", "okay", "fine", "i am fine", "good"}
    assert not [a for a in accepted if a[2] in affirmative], accepted
    assert recognize(rec, synth("the weather is nice today"), phrases).text == ""


def test_commands_pass_in_a_real_grammar():
    """Lenient floor for stop and for harmless commands: "continue" said in a
    pause gets through (measured ratio -20 for en-us+f3, below the normal floor),
    and so does "stop" (-16.7 for en-us+f3 after three turns).

    A fresh recognizer told the stop phrases, as the shell makes it: the
    shared one knows none, and its outcome here depended on which tests had
    run before (PocketSphinx's cepstral mean carries over between turns)."""
    rec = make_recognizer("pocketsphinx", stop_phrases=("stop", "that's enough"))
    phrases = node_grammar(answers=())  # "settle": a quiet wait ended by "continue"
    for voice in ("en-us", "en-us+f3"):
        assert recognize(rec, synth("continue", voice), phrases).text == "continue"
        assert recognize(rec, synth("stop", voice), phrases).text == "stop"


def test_free_form_returns_dictation(rec):
    result = recognize(rec, synth("i had a lovely walk in the park with my friend"), None)
    assert len(result.text.split()) >= 4
    assert result.speech_end is not None


def test_unknown_words_are_skipped_with_one_warning(rec, caplog):
    caplog.set_level(logging.WARNING, logger="skill.speech.recognizer_sphinx")
    phrases = ["yes", "no", "zorblaxian feelings", "zorblaxian calm"]
    for _ in range(2):
        result = recognize(rec, synth("yes"), phrases)
        assert result.text == "yes"
    warnings = [r for r in caplog.records if "zorblaxian" in r.getMessage()]
    assert len(warnings) == 1
    assert rec.usable_phrases(phrases) == ("yes", "no")


def test_only_unknown_words_falls_back_to_free_form(rec, caplog):
    caplog.set_level(logging.WARNING, logger="skill.speech.recognizer_sphinx")
    result = recognize(rec, synth("hello there"), ["qwzx", "vbnmq"])
    assert result.text  # free-form heard something
    assert any("free-form" in r.getMessage() for r in caplog.records)


def test_silence_gives_no_result_and_flush_is_none(rec):
    rec.start(PHRASES)
    for chunk in blocks(silence(2.0)):
        assert rec.feed(chunk) is None
    assert rec.partial() == ""
    assert rec.flush() is None


def test_flush_mid_utterance_returns_what_was_heard(closed):
    pcm = synth("give us a minute", pad=(0.3, 0.0))
    closed.start(PHRASES)
    for chunk in blocks(pcm):
        assert closed.feed(chunk) is None
    assert closed.partial() != ""
    result = closed.flush()
    assert result is not None and result.text == "give us a minute"


def test_two_answers_in_one_turn_give_two_results(rec):
    pcm = synth("yes", pad=(0.3, 1.0)) + synth("stop", pad=(0.0, 1.0))
    rec.start(PHRASES)
    texts = []
    for chunk in blocks(pcm, 0.2):
        result = rec.feed(chunk)
        if result is not None:
            texts.append(result.text)
    assert texts == ["yes", "stop"]


@pytest.mark.parametrize("block", [0.1, 0.2])
def test_block_sizes(rec, block):
    assert recognize(rec, synth("not really", "en-us+f3"), PHRASES, block=block).text == "not really"


def test_endpoint_silence_setting_is_used():
    rec = make_recognizer("pocketsphinx", endpoint_silence=1.2)
    pcm = synth("yes", pad=(0.3, 3.0))
    rec.start(["yes", "no"])
    for i, chunk in enumerate(blocks(pcm)):
        if rec.feed(chunk) is not None:
            break
    _, end = speech_span(pcm, (0.3, 3.0))
    assert (i + 1) * 0.1 == pytest.approx(end + 1.2, abs=0.2)


def test_known_words_and_knows(rec):
    assert rec.known_words() is None
    assert rec.knows("okay") and not rec.knows("zorblaxian")


def test_nothing_is_written_and_no_socket_is_opened(rec):
    """Privacy and offline promise at the backend level: no file opened for
    writing, no socket, while recognizing (grammar and free-form)."""
    pcm = synth("i am okay")
    with audit_writes_and_sockets() as seen:
        recognize(rec, pcm, PHRASES)
        recognize(rec, pcm, None)
        recognize(rec, pcm, ["something", "entirely new"])
    assert seen == []


def test_the_audit_sees_a_write_and_a_socket(tmp_path):
    """The check above can fail: a file written and a socket made inside it are seen."""
    import socket
    with audit_writes_and_sockets() as seen:
        (tmp_path / "x.txt").write_text("x")
        socket.socket().close()
    assert any(s.startswith("open ") and "x.txt" in s for s in seen)
    assert any(s.startswith("socket.") for s in seen)


def test_max_utterance_ends_a_long_ramble(rec):
    long_rec = SphinxRecognizer(endpoint=EndpointConfig(max_utterance=1.0))
    pcm = synth("give us a minute please we are talking", pad=(0.2, 0.0))
    long_rec.start(PHRASES)
    results = [r for r in (long_rec.feed(c) for c in blocks(pcm)) if r is not None]
    assert results and results[0].speech_end == pytest.approx(1.0 + 0.0, abs=0.35)
    assert len(pcm) / 2 / SAMPLE_RATE > 1.5


def test_stop_phrases_and_the_safe_word_get_the_most_lenient_floor():
    """With a floor that rejects every ordinary answer, the stop phrases and the
    safe word (in both spellings the grammar may use) still get through; with
    their own floor raised as well, they are judged like any other phrase."""
    strict = make_recognizer("pocketsphinx", stop_phrases=("stop", "I'm done", "banana"))
    assert {"stop", "i'm done", "i am done", "banana"} <= strict.stop_phrases
    strict.ratio_min = 1e9  # reject every ordinary answer
    strict.priority_phrases = set()
    phrases = ["yes", "no", "i am okay", "stop", "i am done", "banana"]
    assert recognize(strict, synth("stop"), phrases).text == "stop"
    assert recognize(strict, synth("banana"), phrases).text == "banana"
    assert recognize(strict, synth("i am okay"), phrases).text == ""
    strict.stop_ratio_min = 1e9
    assert recognize(strict, synth("stop"), phrases).text == ""


def test_floors_per_phrase_kind():
    from skill.speech.recognizer_sphinx import PRIORITY_RATIO_MIN, STOP_RATIO_MIN
    r = SphinxRecognizer(reject="none")
    r.stop_phrases = {"stop"}
    assert r.floor_for("stop") == STOP_RATIO_MIN
    assert r.floor_for("repeat") == PRIORITY_RATIO_MIN
    assert r.floor_for("say that again") == PRIORITY_RATIO_MIN
    assert r.floor_for("i am okay") == r.ratio_min
    r.ratio_min = -30.0  # a looser general floor is never made stricter for special phrases
    assert r.floor_for("stop") == -30.0 and r.floor_for("repeat") == -30.0


def test_grammar_searches_are_bounded_least_recently_used_first():
    r = SphinxRecognizer(reject="none", max_grammars=3)
    grammars = [["yes", "no"], ["stop", "go on"], ["i am okay", "not really"], ["help", "repeat"]]
    for g in grammars[:3]:
        r.start(g)
    r.start(grammars[0])           # used again: now the most recent
    r.start(grammars[3])           # evicts grammars[1], the least recently used
    keys = list(r._searches)
    assert len(keys) == 3
    assert tuple(sorted(grammars[1])) not in keys and tuple(sorted(grammars[0])) in keys
    # an evicted grammar is rebuilt on demand and still decodes
    assert recognize(r, synth("go on"), grammars[1]).text == "go on"
    assert len(r._searches) == 3


def test_voice_loop_passes_stop_phrases_and_the_safe_word():
    from skill.dialogue.validate import load_checked
    from skill.shell.voice_loop import stop_phrases

    bundle, _ = load_checked(Path(__file__).resolve().parents[1] / "dialogs")
    phrases = stop_phrases(bundle, "pineapple")
    assert "stop" in phrases and "that's enough" in phrases and phrases[-1] == "pineapple"


def test_decoder_options_reach_every_decoder():
    """The tuning knob (bench --option decoder_options=...) is really applied."""
    tuned = SphinxRecognizer(decoder_options={"beam": 1e-20})
    def near(x):
        return x == pytest.approx(1e-20, rel=1e-6, abs=0)
    assert near(tuned._main.config["beam"]) and near(tuned._phones.config["beam"])
    assert not near(SphinxRecognizer()._main.config["beam"])


class CountingListener:
    """A companion decoder's stand-in that only counts what it is fed."""

    def __init__(self) -> None:
        self.starts = self.ends = 0
        self.fed = b""

    def start_utt(self) -> None:
        self.starts += 1

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> int:
        self.fed += data
        return len(data) // 2

    def end_utt(self) -> None:
        self.ends += 1


def test_measurement_hooks_see_the_utterance_the_recognizer_judged():
    """bench/rejection.py's public hooks: a companion decoder is fed the
    utterance (with the comfort floor) and started/ended with it; a second
    decoder from ``new_decoder`` fed as a companion hears what the grammar
    hears; ``last_scores`` is what the reject check judged."""
    assert tools_available(), "espeak-ng and sox are needed (apt install espeak-ng sox)"
    counter = CountingListener()
    rec = SphinxRecognizer(companions=[counter])
    twin = rec.new_decoder()
    twin.add_jsgf_string("same", jsgf_for(rec.usable_phrases(PHRASES)))
    twin.activate_search("same")
    rec.companions.append(twin)

    result = recognize(rec, synth("not really", "en-us"), PHRASES)
    assert rec.grammar is not None and "not really" in rec.grammar
    assert counter.starts == counter.ends == 1
    speech_s = len(counter.fed) / 2 / SAMPLE_RATE
    assert 0.5 < speech_s < 3.0, speech_s  # the utterance, not the whole turn
    scores = rec.last_scores
    assert scores is not None and scores.phones is not None and scores.frames > 0
    assert twin.hyp() is not None and twin.hyp().hypstr == scores.text
    assert result.text == (scores.text if scores.ratio >= rec.floor_for(scores.text) else "")
    assert result.text == "not really"

    rec.companions.clear()
    rec.start(None)  # free-form: no phone loop, so no ratio
    assert rec.grammar is None
