"""The shared endpointer: where utterances start and end (pure, fast)."""

from __future__ import annotations

import math
import random
from array import array

import numpy as np
import pytest

from skill.speech.endpoint import Endpointer, EndpointConfig, frame_db
from tests.speech_fixtures import SAMPLE_RATE, blocks, flite, flite_available, silence, synth, tools_available


def tone(seconds: float, amplitude: int = 8000, freq: float = 220.0) -> bytes:
    n = int(seconds * SAMPLE_RATE)
    return array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / SAMPLE_RATE)) for i in range(n))).tobytes()


def noise(seconds: float, amplitude: float, seed: int = 3) -> bytes:
    rnd = random.Random(seed)
    n = int(seconds * SAMPLE_RATE)
    return array("h", (max(-32768, min(32767, int(rnd.gauss(0, amplitude)))) for _ in range(n))).tobytes()


def mix(a: bytes, b: bytes) -> bytes:
    x, y = array("h", a), array("h", b)
    n = max(len(x), len(y))
    x.extend([0] * (n - len(x)))
    y.extend([0] * (n - len(y)))
    return array("h", (max(-32768, min(32767, p + q)) for p, q in zip(x, y))).tobytes()


def run(pcm: bytes, config: EndpointConfig | None = None, block: float = 0.1):
    ep = Endpointer(config)
    events, audio = [], bytearray()
    for i, chunk in enumerate(blocks(pcm, block)):
        up = ep.feed(chunk)
        audio += up.audio
        if up.started:
            events.append(("start", i, ep.utterance_start))
        if up.ended:
            events.append(("end", i, up.speech_end))
    return events, bytes(audio)


def test_frame_db_of_silence_and_full_scale():
    assert frame_db(array("h", [0] * 160), 0, 160) == -100.0
    assert frame_db(array("h", [32767] * 160), 0, 160) == pytest.approx(0.0, abs=0.01)


def test_silence_never_starts_an_utterance():
    events, audio = run(silence(3.0))
    assert events == [] and audio == b""


def test_tone_burst_gives_start_and_end_after_configured_silence():
    pcm = silence(0.5) + tone(1.0) + silence(2.0)
    events, audio = run(pcm, EndpointConfig(silence=0.6))
    kinds = [e[0] for e in events]
    assert kinds == ["start", "end"]
    assert events[1][2] == pytest.approx(1.5, abs=0.03)  # speech_end: end of the tone
    # the end is reported in the block holding speech end + 0.6 s
    assert events[1][1] == pytest.approx(21, abs=1)
    # audio handed out covers pre-roll + speech + trailing silence, nothing after
    assert 1.5 <= len(audio) / 2 / SAMPLE_RATE <= 2.0


def test_longer_silence_setting_ends_later():
    pcm = silence(0.5) + tone(1.0) + silence(3.0)
    short, _ = run(pcm, EndpointConfig(silence=0.4))
    long, _ = run(pcm, EndpointConfig(silence=1.2))
    assert short[-1][1] < long[-1][1]
    assert long[-1][1] - short[-1][1] == pytest.approx(8, abs=1)


def test_pause_shorter_than_setting_keeps_one_utterance():
    pcm = silence(0.3) + tone(0.5) + silence(0.4) + tone(0.5) + silence(1.5)
    events, _ = run(pcm, EndpointConfig(silence=0.6))
    assert [e[0] for e in events] == ["start", "end"]


def test_pause_longer_than_setting_splits_in_two():
    pcm = silence(0.3) + tone(0.5) + silence(1.0) + tone(0.5) + silence(1.5)
    events, _ = run(pcm, EndpointConfig(silence=0.6))
    assert [e[0] for e in events] == ["start", "end", "start", "end"]


def test_click_shorter_than_min_speech_is_ignored():
    pcm = silence(0.5) + tone(0.03) + silence(1.5)
    events, _ = run(pcm)
    assert events == []


def test_max_utterance_cuts_endless_talk():
    burst = tone(0.2) + silence(0.2)  # syllables with short gaps: never 0.5 s of quiet
    pcm = silence(0.2) + burst * 15
    events, _ = run(pcm, EndpointConfig(max_utterance=2.0))
    assert [e[0] for e in events][:2] == ["start", "end"]
    assert events[1][2] == pytest.approx(2.0 + events[0][2], abs=0.05)


def test_steady_noise_from_the_start_becomes_background():
    """A fan or running water that starts with the turn is not an answer that
    never ends: the floor catches up within about a second."""
    pcm = mix(noise(6.0, 2000), silence(3.0) + tone(0.8, amplitude=12000) + silence(2.2))
    events, _ = run(pcm)
    ends = [e for e in events if e[0] == "end"]
    assert ends and ends[-1][2] == pytest.approx(3.8, abs=0.15)
    assert all(e[2] < 2.0 or abs(e[2] - 3.8) < 0.15 for e in ends)


def test_rumble_below_the_speech_band_is_ignored():
    # the rumble is as loud as the "speech": only the band filter tells them apart
    pcm = mix(tone(4.0, amplitude=3000, freq=60.0), silence(1.5) + tone(0.8, amplitude=3000, freq=700.0) + silence(1.7))
    events, _ = run(pcm)
    assert [e[0] for e in events] == ["start", "end"]
    assert events[1][2] == pytest.approx(2.3, abs=0.1)


@pytest.mark.parametrize("block", [0.1, 0.2, 0.05])
def test_block_size_does_not_change_the_end_time(block):
    pcm = silence(0.5) + tone(1.0) + silence(2.0)
    events, _ = run(pcm, block=block)
    assert events[-1][2] == pytest.approx(1.5, abs=0.03)


def test_speech_is_found_in_steady_background_noise():
    background = noise(4.0, 300)  # about -40 dBFS
    pcm = mix(background, silence(1.5) + tone(1.0, amplitude=3000) + silence(1.5))
    events, _ = run(pcm)
    assert [e[0] for e in events] == ["start", "end"]
    assert events[1][2] == pytest.approx(2.5, abs=0.1)


def test_quiet_background_alone_is_not_speech():
    events, _ = run(noise(3.0, 300))
    assert events == []


def test_espeak_answer_is_one_utterance_ending_near_its_speech_end():
    assert tools_available(), "espeak-ng and sox are needed (apt install espeak-ng sox)"
    pcm = synth("i am okay", pad=(0.3, 1.5))
    total = len(pcm) / 2 / SAMPLE_RATE
    events, _ = run(pcm)
    assert [e[0] for e in events] == ["start", "end"]
    assert events[0][2] <= 0.35
    assert events[1][2] == pytest.approx(total - 1.5, abs=0.12)


def test_noise_that_swings_around_its_floor_does_not_hold_the_turn():
    """Brown noise or running water swings well above its own quietest moment;
    once it is far below the answer's loudest frame it counts as quiet."""
    background = noise(4.8, 200, seed=5)                # about -50 dB in the speech band
    swing = (noise(0.05, 350) + silence(0.15)) * 15     # bursts to about -41 dB: 9 dB over it
    pcm = mix(background, silence(1.0) + tone(0.8, amplitude=8000, freq=700.0) + swing)  # tone -16.5 dB
    events, _ = run(pcm)
    ends = [e for e in events if e[0] == "end"]
    assert ends and ends[0][2] == pytest.approx(1.8, abs=0.1)
    # without the speech-relative rule the bursts keep the turn open
    events, _ = run(pcm, EndpointConfig(drop_db=1000.0))
    assert not any(e[0] == "end" and abs(e[2] - 1.8) < 0.3 for e in events)


def test_a_soft_ending_in_a_quiet_room_still_counts_as_speech():
    """The speech-relative rule stays within 15 dB of the floor: a final
    consonant far below the vowel, in a quiet room, is part of the answer."""
    soft = tone(0.15, amplitude=400, freq=700.0)  # about -43 dB, 26 dB below the vowel
    pcm = silence(1.0) + tone(0.5, amplitude=8000, freq=700.0) + soft + silence(1.5)
    events, _ = run(pcm)
    ends = [e for e in events if e[0] == "end"]
    assert ends and ends[0][2] == pytest.approx(1.65, abs=0.05)


# --------------------------------------------------------------------------
# Background talk (a film, a radio): real synthetic voices, seeded mixing
# --------------------------------------------------------------------------

BACKGROUND_LINES = (
    ("awb", "The weather will stay mild over the weekend with some rain in the north."),
    ("rms", "And in the evening we will be looking back at the history of the old harbour."),
    ("awb", "Traffic is moving slowly on the ring road after an earlier accident."),
    ("rms", "Later on the programme our guest talks about gardening in small spaces."),
)
RULE_OFF = EndpointConfig(background_busy_db=1000.0)  # the background-talk rule never applies


def _voice(text: str, voice: str) -> np.ndarray:
    return np.frombuffer(flite(text, voice, pad=(0.0, 0.0)), dtype="<i2").astype(np.float64)


def _background_talk(seconds: float, seed: int) -> np.ndarray:
    """Two flite voices taking turns (lines overlapping a little), from a seeded offset."""
    rng = np.random.default_rng(seed)
    lines = [_voice(text, voice) for voice, text in BACKGROUND_LINES]
    total = int((seconds + 8.0) * SAMPLE_RATE)
    out = np.zeros(total)
    pos = 0
    i = 0
    while pos < total:
        line = lines[i % len(lines)][: total - pos]
        out[pos:pos + len(line)] += line
        pos += max(SAMPLE_RATE // 2, len(line) - int(rng.uniform(0.0, 0.3) * SAMPLE_RATE))
        i += 1
    start = int(rng.integers(0, 4 * SAMPLE_RATE))
    return out[start:start + int(seconds * SAMPLE_RATE)]


def _answer_over_talk(text: str, voice: str, snr_db: float, lead: float, seed: int,
                      tail: float = 2.0) -> tuple[bytes, float]:
    """(PCM, true speech end in s): an answer over background talk at ``snr_db``
    below the answer's level; the talk runs from the first sample to the last."""
    answer = _voice(text, voice)
    n = int(lead * SAMPLE_RATE) + len(answer) + int(tail * SAMPLE_RATE)
    talk = _background_talk(n / SAMPLE_RATE + 0.1, seed)[:n]
    p_answer = float(np.mean(answer ** 2))
    p_talk = float(np.mean(talk ** 2))
    x = talk * math.sqrt(p_answer / (p_talk * 10 ** (snr_db / 10)))
    x[int(lead * SAMPLE_RATE):int(lead * SAMPLE_RATE) + len(answer)] += answer
    pcm = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    return pcm, lead + len(answer) / SAMPLE_RATE


def _flite_needed():
    assert flite_available(), "flite and sox are needed (apt install flite sox)"


@pytest.mark.parametrize("text,voice,seed", [
    ("I'm okay, thank you", "slt", 1),
    ("please stop", "kal16", 2),
    ("I could use some support", "slt", 3),
    ("not really", "kal16", 4),
])
def test_an_answer_over_background_talk_ends_when_the_person_stops(text, voice, seed):
    """Other voices 10 dB below the person, talking on after the answer: the
    turn ends soon after the person stops, not when the talk does."""
    _flite_needed()
    pcm, end = _answer_over_talk(text, voice, 10.0, lead=0.4, seed=seed)
    events, _ = run(pcm)
    ends = [e for e in events if e[0] == "end"]
    assert ends, "the turn never ended while the background talked on"
    first_end_block = ends[0][1]
    assert (first_end_block + 1) * 0.1 >= end, "ended before the person finished"
    assert ends[0][2] >= end - 0.25, "the answer's last sound was left out"
    assert (first_end_block + 1) * 0.1 <= end + 1.2
    # without the background-talk rule the talk holds the turn open
    events, _ = run(pcm, RULE_OFF)
    assert not [e for e in events if e[0] == "end"]


@pytest.mark.parametrize("lead", [0.0, 0.3])
@pytest.mark.parametrize("softer_db", [0.0, 12.0])
@pytest.mark.parametrize("room_db", [None, -45.0])
def test_a_pause_and_a_softer_afterthought_in_a_room_keep_the_turn(lead, softer_db, room_db):
    """A quiet room (or steady room noise), a natural pause mid-answer and a
    softer afterthought ("I'm okay ... I guess"): the turn ends after the
    afterthought, exactly where it ended before the background-talk rule."""
    _flite_needed()
    first, second = _voice("I'm okay", "awb"), _voice("I guess", "awb") * 10 ** (-softer_db / 20)
    pause = np.zeros(int(0.35 * SAMPLE_RATE))
    x = np.concatenate([np.zeros(int(lead * SAMPLE_RATE)), first, pause, second,
                        np.zeros(int(1.5 * SAMPLE_RATE))])
    if room_db is not None:
        x = x + np.random.default_rng(7).normal(0.0, 32768 * 10 ** (room_db / 20), len(x))
    pcm = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    end = lead + (len(first) + len(pause) + len(second)) / SAMPLE_RATE
    events, _ = run(pcm)
    ends = [e for e in events if e[0] == "end"]
    assert ends and (ends[0][1] + 1) * 0.1 >= end + 0.3, "cut off before the afterthought ended"
    assert events == run(pcm, RULE_OFF)[0]


def test_a_turn_that_starts_mid_sentence_is_not_cut_by_the_background_rule():
    """No sample of the background (the person was already talking when the
    turn began): the person's own softer words are never taken for it."""
    _flite_needed()
    loud, soft = _voice("I feel a bit tired", "kal16"), _voice("to be honest", "kal16") * 10 ** (-18 / 20)
    x = np.concatenate([loud, np.zeros(int(0.1 * SAMPLE_RATE)), soft, np.zeros(int(1.5 * SAMPLE_RATE))])
    pcm = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    assert run(pcm)[0] == run(pcm, RULE_OFF)[0]


def test_steady_noise_is_left_to_the_floor_rules():
    """Pink-like steady noise is not background talk: same ends as without the rule."""
    background = noise(4.0, 900, seed=11)
    pcm = mix(background, silence(0.4) + tone(1.0, amplitude=6000, freq=500.0) + silence(2.6))
    assert run(pcm)[0] == run(pcm, RULE_OFF)[0]
