"""Sound devices: choice and resampling (pure), then real streams through PulseAudio."""

from __future__ import annotations

import time

import numpy as np
import pytest

from skill.speech import audio
from skill.speech.audio import AudioError, Device
from tests.soundserver import sound_server, sound_spans, use_in_process  # noqa: F401

DEVICES = [
    Device(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", 2, 2, 44100.0),
    Device(1, "HDA Intel PCH: HDMI 0 (hw:0,3)", 0, 8, 44100.0),
    Device(2, "USB Headset: Audio (hw:1,0)", 1, 2, 48000.0),
    Device(3, "pulse", 32, 32, 44100.0),
    Device(4, "default", 32, 32, 44100.0),
]


# ---- device choice (pure) -----------------------------------------------------

def test_none_means_system_default():
    assert audio.resolve_device(None, "input", DEVICES) is None
    assert audio.resolve_device("", "output", DEVICES) is None


def test_by_index_and_by_name_substring():
    assert audio.resolve_device("2", "input", DEVICES) == 2
    assert audio.resolve_device(2, "output", DEVICES) == 2
    assert audio.resolve_device("usb", "input", DEVICES) == 2
    assert audio.resolve_device("HDMI", "output", DEVICES) == 1
    assert audio.resolve_device("Pulse", "input", DEVICES) == 3


def test_exact_name_beats_substring():
    devs = DEVICES + [Device(5, "default-mic", 1, 0, 16000.0)]
    assert audio.resolve_device("default", "input", devs) == 4


def test_output_only_device_as_input_is_a_clear_error():
    with pytest.raises(AudioError, match="output-only.*input device"):
        audio.resolve_device("hdmi", "input", DEVICES)
    with pytest.raises(AudioError, match="output-only"):
        audio.resolve_device("1", "input", DEVICES)


def test_unknown_and_ambiguous_names():
    with pytest.raises(AudioError, match="no sound device matches 'bluetooth'"):
        audio.resolve_device("bluetooth", "input", DEVICES)
    with pytest.raises(AudioError, match="no sound device number 9"):
        audio.resolve_device("9", "output", DEVICES)
    with pytest.raises(AudioError, match="matches several input devices.*0: HDA.*2: USB"):
        audio.resolve_device("(hw:", "input", DEVICES)
    for bad in ("bluetooth", "(hw:", "hdmi"):
        with pytest.raises(AudioError) as info:
            audio.resolve_device(bad, "input", DEVICES)
        assert "\n" not in str(info.value)


def test_format_devices_marks_defaults():
    text = audio.format_devices(DEVICES, default_in=2, default_out=0)
    lines = text.splitlines()
    assert lines[0].startswith(" <") and lines[2].startswith("> ")
    assert "USB Headset" in lines[2] and "in, out" in lines[2]
    assert "out, 44100 Hz" in lines[1]
    assert audio.format_devices([]) == "No sound devices found."


# ---- resampling (pure) ------------------------------------------------------------

def _tone(freq, rate, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    return np.round(np.sin(2 * np.pi * freq * t) * 10000).astype(np.int16)


def _peak_freq(x, rate):
    spec = np.abs(np.fft.rfft(x.astype(np.float64)))
    return np.argmax(spec) * rate / len(x)


@pytest.mark.parametrize("src", [44100, 48000, 22050, 8000])
def test_stream_resampler_matches_one_shot_and_keeps_pitch(src):
    tone = _tone(440, src, 2.0)
    block = int(src * 0.1)
    r = audio.StreamResampler(src)
    out = np.concatenate([r.process(tone[i:i + block]) for i in range(0, len(tone), block)])
    assert abs(len(out) - 32000) <= 25  # minus the filter's delay, nothing lost
    assert _peak_freq(out, 16000) == pytest.approx(440, abs=2)
    one = audio.resample(tone, src, 16000)
    assert abs(len(one) - 32000) <= 1
    # Streaming has no seams: compare the middle of both.
    n = min(len(out), len(one)) - 200
    assert np.max(np.abs(out[200:n].astype(int) - one[200:n].astype(int))) < 800


def test_resampler_identity_and_empty():
    x = _tone(300, 16000, 0.1)
    assert np.array_equal(audio.StreamResampler(16000).process(x), x)
    assert len(audio.resample(np.zeros(0, dtype=np.int16), 22050, 48000)) == 0


def test_downsampling_filters_what_cannot_be_represented():
    hi = _tone(7900, 48000)  # near the 16 kHz Nyquist: must be attenuated
    lo = _tone(300, 48000)
    inner = slice(100, -100)  # away from the edges of the one-shot filter
    assert np.abs(audio.resample(hi, 48000, 16000)[inner]).max() < 0.3 * np.abs(
        audio.resample(lo, 48000, 16000)[inner]).max()


# ---- seams: PortAudio missing, no microphone ----------------------------------------

def test_missing_portaudio_is_one_line_naming_the_package(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(AudioError, match="libportaudio2") as info:
        audio.load_sounddevice()
    assert "\n" not in str(info.value)


class _NoDevices:
    class default:
        device = [-1, -1]

    @staticmethod
    def query_devices(i=None):
        raise ValueError("Error querying device -1")


def test_no_input_device_suggests_text_mode():
    with pytest.raises(AudioError, match="no microphone.*--text"):
        audio.check_input_available(_NoDevices, None)


# ---- real streams through PulseAudio -------------------------------------------------


@pytest.fixture(scope="module")
def sd(sound_server):  # noqa: F811
    use_in_process(sound_server)
    import sounddevice
    return sounddevice


@pytest.mark.sound
def test_player_plays_to_the_speaker_and_reports_the_end(sound_server, sd):  # noqa: F811
    from skill.speech import tts
    samples, rate = tts.synthesize("Hello there. This is a short test.")
    rec = sound_server.record_speaker()
    time.sleep(0.4)
    player = audio.Player(sd)
    player.play(samples, rate)
    assert player.busy
    assert player.wait(20)
    assert not player.interrupted
    time.sleep(0.5)
    got = rec.stop()
    spans = sound_spans(got)
    assert spans, "nothing reached the virtual speaker"
    heard = sum(e - s for s, e in spans)
    assert heard == pytest.approx(len(samples) / rate, rel=0.35)


@pytest.mark.sound
def test_player_stop_cuts_speech_short(sound_server, sd):  # noqa: F811
    from skill.speech import tts
    samples, rate = tts.synthesize("This sentence is long enough that we can cut it off "
                                   "well before the end, and hear that it stopped.")
    full = len(samples) / rate
    rec = sound_server.record_speaker()
    time.sleep(0.4)
    player = audio.Player(sd)
    player.play(samples, rate)
    time.sleep(1.5)
    player.stop()
    assert player.interrupted and not player.busy
    time.sleep(1.5)
    got = rec.stop()
    spans = sound_spans(got)
    assert spans
    assert sum(e - s for s, e in spans) < full * 0.6


@pytest.mark.sound
def test_player_appends_the_next_sentence_with_only_the_calm_pause(sound_server, sd):  # noqa: F811
    """A reply is played a sentence at a time; the second one joins the running
    stream, so the silence between them is the pause we asked for and not a
    new stream's start-up on top."""
    from skill.speech import tts
    first, rate = tts.synthesize("Take your time.")
    second, _ = tts.synthesize("There is no rush at all.")
    pause = np.zeros(int(0.35 * rate), dtype=np.int16)
    rec = sound_server.record_speaker()
    time.sleep(0.4)
    player = audio.Player(sd)
    player.play(first, rate)
    assert player.append(np.concatenate([pause, second]), rate)
    assert player.wait(20)
    assert not player.append(second, rate)  # nothing playing any more: the caller plays it
    time.sleep(0.5)
    spans = sound_spans(rec.stop(), gap=0.2)
    assert len(spans) == 2, spans
    expected = 0.35 + (len(first) - _voiced_end(first)) / rate + _voiced_start(second) / rate
    assert spans[1][0] - spans[0][1] == pytest.approx(expected, abs=0.12)


def _voiced_end(samples) -> int:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    return int(loud[-1]) + 1 if len(loud) else len(samples)


def _voiced_start(samples) -> int:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    return int(loud[0]) if len(loud) else 0


@pytest.mark.sound
def test_microphone_hears_what_is_played_into_it(sound_server, sd):  # noqa: F811
    from tests.speech_fixtures import synth
    mic = audio.MicStream(sd)
    mic.open()
    try:
        time.sleep(0.3)
        pcm = synth("yes I feel okay")
        sound_server.play_into_mic(pcm, wait=False)
        blocks = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 6:
            b = mic.read(0.5)
            if b:
                blocks.append(b)
                assert len(b) == 3200  # 0.1 s at 16 kHz, int16
        got = np.frombuffer(b"".join(blocks), dtype=np.int16)
        spans = sound_spans(got)
        assert spans, "the microphone heard nothing"
        heard = sum(e - s for s, e in spans)
        assert heard == pytest.approx(len(pcm) / 2 / 16000 - 0.9, abs=0.6)
    finally:
        mic.close()


@pytest.mark.sound
def test_microphone_taken_away_is_reported_and_comes_back(sound_server, sd):  # noqa: F811
    sound_server.pin_mic()
    mic = audio.MicStream(sd)
    mic.open()
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 6 and mic.read(0.5) is None:
            pass
        sound_server.remove_mic()
        with pytest.raises(audio.MicLost):
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                mic.read(0.3)
        with pytest.raises(audio.MicLost):
            mic.open()  # still gone
        sound_server.restore_mic()
        mic.open()
        t0 = time.monotonic()
        block = None
        while time.monotonic() - t0 < 6 and block is None:
            block = mic.read(0.5)
        assert block is not None
    finally:
        mic.close()
        sound_server.pactl("set-default-source", "mic")


@pytest.mark.sound
def test_device_listing_and_choice_on_the_real_server(sound_server, sd):  # noqa: F811
    devs = audio.query_devices(sd)
    names = [d.name for d in devs]
    assert "pulse" in names and "default" in names
    assert audio.resolve_device("pulse", "input", devs) == names.index("pulse")
    assert audio.input_rate(sd, None) == 16000


# ---- the CLI's one-line errors and listings -------------------------------------------

def _cli(*args: str, env_extra: dict | None = None, tmp=None):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(__import__("os").environ)
    if tmp is not None:
        env.update(AFTERCARE_CONFIG_DIR=str(tmp / "config"), AFTERCARE_DATA_DIR=str(tmp / "data"))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(root / "run.py"), *args], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


def _one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("aftercare:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_no_sound_server_means_no_microphone_and_a_hint(tmp_path):
    empty = tmp_path / "no-server"
    empty.mkdir()
    proc = _cli("--flow", "quick", tmp=tmp_path,
                env_extra={"XDG_RUNTIME_DIR": str(empty), "PULSE_RUNTIME_PATH": str(empty)})
    _one_line_error(proc, "no microphone", "--text")


def test_missing_model_folder_is_one_line(tmp_path):
    proc = _cli("--flow", "quick", "--model", str(tmp_path / "nowhere"), tmp=tmp_path)
    _one_line_error(proc, "Vosk model folder", "does not exist")


@pytest.mark.sound
def test_cli_lists_devices_and_rejects_unknown_ones(sound_server, tmp_path):  # noqa: F811
    proc = _cli("--list-devices", tmp=tmp_path, env_extra=sound_server.env)
    assert proc.returncode == 0 and "pulse" in proc.stdout and "in, out" in proc.stdout
    proc = _cli("--flow", "quick", "--input-device", "no-such-mic", tmp=tmp_path,
                env_extra=sound_server.env)
    _one_line_error(proc, "no sound device matches 'no-such-mic'", "--list-devices")
    proc = _cli("--flow", "quick", "--voice", "no-such-voice", tmp=tmp_path,
                env_extra=sound_server.env)
    _one_line_error(proc, "no voice matches 'no-such-voice'")


def test_cli_lists_voices(tmp_path):
    proc = _cli("--list-voices", tmp=tmp_path)
    assert proc.returncode == 0 and "gmw/en-us" in proc.stdout
