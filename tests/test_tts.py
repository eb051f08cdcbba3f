"""Speech output: calm settings (pure) and real in-memory espeak-ng synthesis."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from skill.speech import chime, tts


# ---- pure -------------------------------------------------------------------

def test_calm_defaults_are_slower_and_softer_than_espeak():
    s = tts.settings_for("sofa")
    assert s.rate < 175  # espeak-ng's own default
    assert s.volume < 1.0
    assert s.sentence_pause > 0


def test_bedside_is_slower_and_quieter_bath_more_patient():
    sofa, bed, bath = (tts.settings_for(x) for x in ("sofa", "bedside", "bath"))
    assert bed.rate < sofa.rate and bed.volume < sofa.volume
    assert bath.sentence_pause > sofa.sentence_pause


def test_explicit_options_win_and_are_clamped():
    s = tts.settings_for("bedside", voice="en-us", rate=170, volume=0.9)
    assert (s.voice, s.rate, s.volume) == ("en-us", 170, 0.9)
    assert tts.settings_for("sofa", rate=1000).rate == tts.RATE_RANGE[1]
    assert tts.settings_for("sofa", volume=0.0).volume == tts.VOLUME_RANGE[0]


def test_adjust_steps_and_bounds():
    s = tts.settings_for("sofa")
    assert tts.adjust(s, "rate", -1).rate == s.rate - tts.RATE_STEP
    assert tts.adjust(s, "rate", +1).rate == s.rate + tts.RATE_STEP
    assert tts.adjust(s, "volume", -1).volume == pytest.approx(s.volume - tts.VOLUME_STEP)
    loud = s
    for _ in range(20):
        loud = tts.adjust(loud, "volume", +1)
    assert loud.volume == tts.VOLUME_RANGE[1]
    slow = s
    for _ in range(20):
        slow = tts.adjust(slow, "rate", -1)
    assert slow.rate == tts.RATE_RANGE[0]
    assert tts.adjust(s, "pitch", 1) == s


def test_split_sentences():
    assert tts.split_sentences("Hello there. How are you?  Fine!") == \
        ["Hello there.", "How are you?", "Fine!"]
    assert tts.split_sentences("  ") == []
    assert tts.split_sentences("No end") == ["No end"]


def test_join_with_pauses_inserts_silence():
    a = np.ones(10, dtype=np.int16)
    out = tts.join_with_pauses([a, a], rate=100, pause=0.5)
    assert len(out) == 70 and not out[10:60].any()


def test_apply_volume_scales_and_clips():
    x = np.array([32767, -32768, 1000], dtype=np.int16)
    assert list(tts.apply_volume(x, 0.5)) == [16384, -16384, 500]


def test_resolve_voice():
    voices = [("gmw/en", "English (Great Britain)", "en-gb"),
              ("gmw/en-us", "English (America)", "en-us"),
              ("gmw/en-gb-scotland", "English (Scotland)", "en-gb-scotland")]
    assert tts.resolve_voice("en-us", voices) == "gmw/en-us"
    assert tts.resolve_voice("gmw/en", voices) == "gmw/en"
    assert tts.resolve_voice("en-gb", voices) == "gmw/en"
    assert tts.resolve_voice("scotland", voices) == "gmw/en-gb-scotland"
    with pytest.raises(tts.TtsError, match="ambiguous"):
        tts.resolve_voice("english", voices)
    with pytest.raises(tts.TtsError, match="no voice"):
        tts.resolve_voice("klingon", voices)


def test_chime_is_soft_short_and_generated():
    c = chime.chime(volume=1.0)
    assert c.dtype == np.int16
    assert 0.3 < len(c) / chime.CHIME_RATE < 0.8
    assert 0 < np.abs(c).max() <= 0.26 * 32767
    assert np.abs(chime.chime(volume=0.5)).max() < np.abs(c).max()
    assert abs(int(c[-1])) < 200  # fades out, no click


# ---- real espeak-ng through pyttsx3 -----------------------------------------

def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_synthesize_in_memory_writes_no_file(monkeypatch, tmp_path):
    """A private temp folder (TMPDIR and tempfile.tempdir) and working folder,
    so other processes' files cannot disturb the check and a file written by
    synthesis (through tempfile or into the working folder) is seen."""
    private = tmp_path / "tmp"
    private.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.chdir(work)
    assert tempfile.gettempdir() == str(private)  # where a temporary wav would land
    samples, rate = tts.synthesize("Hello there. How are you feeling right now?")
    assert rate == tts.ESPEAK_RATE
    assert samples.dtype == np.int16
    assert 1.0 < len(samples) / rate < 8.0
    assert np.abs(samples).max() > 1000
    assert _files_under(private) == set()
    assert _files_under(work) == set()


def test_the_no_file_check_does_see_a_temporary_file(monkeypatch, tmp_path):
    """The check above can fail: a wav written the usual way lands where it looks."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as handle:
        handle.write(b"RIFF")
    assert _files_under(private) == {Path(handle.name)}


def test_rate_changes_duration_and_pause_adds_silence():
    synth = tts.shared_synth()
    text = "Take a slow breath. Notice how you feel."
    slow = synth.synthesize(text, tts.VoiceSettings(rate=110))
    fast = synth.synthesize(text, tts.VoiceSettings(rate=200))
    assert slow.duration > fast.duration * 1.3
    short = synth.synthesize(text, tts.VoiceSettings(sentence_pause=0.0))
    long = synth.synthesize(text, tts.VoiceSettings(sentence_pause=1.0))
    assert long.duration - short.duration == pytest.approx(1.0, abs=0.05)


def test_volume_setting_scales_output():
    synth = tts.shared_synth()
    loud = synth.synthesize("Hello", tts.VoiceSettings(volume=1.0))
    soft = synth.synthesize("Hello", tts.VoiceSettings(volume=0.5))
    assert np.abs(soft.samples).max() < 0.6 * np.abs(loud.samples).max()


def test_voice_choice_and_unknown_voice():
    synth = tts.shared_synth()
    ids = [v[0] for v in synth.voices()]
    assert "gmw/en-us" in ids
    us = synth.synthesize("Hello", tts.VoiceSettings(voice="en-us"))
    assert len(us.samples) > 0
    with pytest.raises(tts.TtsError, match="no voice matches"):
        synth.synthesize("Hello", tts.VoiceSettings(voice="no-such-voice"))
    # the synthesizer still works after a bad voice
    assert len(synth.synthesize("Hello", tts.VoiceSettings(voice="en-us")).samples) > 0


def test_synthesis_runs_on_one_thread_from_many_callers():
    synth = tts.shared_synth()
    results: list[int] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results.append(len(synth.synthesize(f"Number {i}.").samples))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 6 and all(results)


def test_list_voices_formats_lines():
    text = tts.format_voices(tts.shared_synth().voices())
    assert "gmw/en-us" in text and len(text.splitlines()) > 10


def test_no_wav_is_written_anywhere_by_synthesis(tmp_path, monkeypatch):
    """pyttsx3's own say() writes a temp WAV; ours must not touch tempfile/wave."""
    import tempfile as tf
    import wave

    def forbidden(*a, **k):
        raise AssertionError("synthesis tried to write an audio file")

    monkeypatch.setattr(tf, "NamedTemporaryFile", forbidden)
    monkeypatch.setattr(wave, "open", forbidden)
    monkeypatch.chdir(tmp_path)
    samples, _ = tts.synthesize("Nothing is written to disk.")
    assert len(samples) > 0
    assert os.listdir(tmp_path) == []


def test_speech_is_reused_for_the_same_text_and_settings():
    synth = tts.shared_synth()  # one per process: libespeak-ng has one synth callback
    calm = tts.VoiceSettings(rate=140)
    first = synth.synthesize("Would you like to pause here?", calm)
    hits = synth.cache_hits
    again = synth.synthesize("Would you like to pause here?", calm)
    assert synth.cache_hits == hits + 1
    assert np.array_equal(first.samples, again.samples)
    assert not again.samples.flags.writeable  # shared: nobody can change it under another caller
    other = synth.synthesize("Would you like to pause here?", tts.VoiceSettings(rate=200))
    assert synth.cache_hits == hits + 1 and other.duration < first.duration


def test_reused_speech_is_bounded(monkeypatch):
    synth = tts.shared_synth()
    texts = [f"Cached sentence {word}." for word in ("alpha", "bravo", "charlie", "delta", "echo")]
    slower = tts.VoiceSettings(rate=tts.DEFAULT_RATE - 20)  # a little longer than the default's
    longest = max(synth.synthesize(t + " Again.", slower).duration for t in texts)
    monkeypatch.setattr(tts, "CACHE_SECONDS", longest * 2.5)  # room for two of them
    for t in texts:
        synth.synthesize(t + " Again.")
    hits = synth.cache_hits
    synth.synthesize(texts[0] + " Again.")  # the least recently used: dropped, made again
    assert synth.cache_hits == hits
    synth.synthesize(texts[-1] + " Again.")  # among the most recent: still kept
    assert synth.cache_hits == hits + 1
    assert synth._cached_samples <= tts.CACHE_SECONDS * tts.ESPEAK_RATE
