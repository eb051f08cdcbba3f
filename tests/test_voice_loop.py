"""The speech loop with fakes at its seams (fast): every action and fault path.

The real thing, through a real sound server, is in test_voice_e2e.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from skill.speech import tts
from skill.speech.audio import AudioError, MicLost
from skill.dialogue.protocol import (Adjust, DeleteNote, End, EnterNode, Heard, Listen, NoteFailed,
                            NoteSaved, SaveNote, Say, Silence, Timeout, Wait)
from skill.speech.recognizer import RecognizerError, Result
from skill.storage.notes import NotesError
from skill.shell.voice_loop import (MIC_BACK, MIC_LOST, SPEECH_UNAVAILABLE, Devices, VoiceSession,
                              barge_allowed, barge_heard, barge_phrases, is_echo)

RATE = 1000  # fake audio: 1000 samples per second


# ---- fakes -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Player:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.end = 0.0
        self.played: list[float] = []  # durations
        self.stopped = 0
        self.fail = False

    def play(self, samples, rate) -> None:
        if self.fail:
            raise AudioError("could not play sound (device gone)")
        self.played.append(len(samples) / rate)
        self.end = self.clock.now + len(samples) / rate

    @property
    def busy(self) -> bool:
        return self.clock.now < self.end

    @property
    def ended_at(self) -> float:
        return self.end

    def append(self, samples, rate) -> bool:
        return False  # cannot queue: the loop plays the rest once this ends

    def stop(self) -> None:
        if self.busy:
            self.stopped += 1
            self.end = self.clock.now

    def close(self) -> None:
        pass


def at(t: float, *items):
    """Script entries delivered from time ``t`` on, one per read."""
    return [(t, item) for item in items]


class Mic:
    """Scripted (time, block) entries: a block is read once the clock reaches
    its time (each read takes 0.1 s); before that a read waits out its timeout."""

    def __init__(self, clock: Clock, script=(), opens=()) -> None:
        self.clock = clock
        self.script = list(script)
        self.opens = list(opens)  # True/False per open() call
        self.open_calls = 0
        self.closed = 0

    def read(self, timeout: float):
        if not self.script or self.script[0][0] > self.clock.now:
            self.clock.now += timeout
            return None
        _, item = self.script.pop(0)
        if item is MicLost:
            raise MicLost("the microphone stopped sending sound")
        self.clock.now += 0.1
        return item

    def open(self) -> None:
        self.open_calls += 1
        ok = self.opens.pop(0) if self.opens else True
        if not ok:
            raise MicLost("No such entity")

    def close(self) -> None:
        self.closed += 1


class Recognizer:
    """b"W:text" ends an utterance with that text (b"W:" = rejected);
    b"P" is mid-utterance (partial); anything else is quiet."""

    name = "fake"
    sample_rate = 16000

    def __init__(self, fail_on_feed: bool = False) -> None:
        self.started: list = []
        self._partial = ""
        self.fail_on_feed = fail_on_feed

    def start(self, phrases) -> None:
        self.started.append(None if phrases is None else tuple(phrases))
        self.grammar = None if phrases is None else set(phrases)
        self._partial = ""
        self._speaking = False

    def feed(self, pcm: bytes):
        if self.fail_on_feed:
            raise RecognizerError("decoder crashed")
        if pcm.startswith(b"W:"):
            self._partial = ""
            text = pcm[2:].decode()
            if self.grammar is not None and text not in self.grammar:
                text = ""  # outside the grammar: rejected, as the real backends do
            return Result(text, 0.9 if text else 0.0)
        self._partial = "..." if pcm == b"P" else ""
        self._speaking = pcm in (b"P", b"S")  # b"S": mid-utterance with no partial (as Whisper)
        return None

    def partial(self) -> str:
        return self._partial

    _speaking = False

    @property
    def in_speech(self) -> bool:
        return self._speaking

    def flush(self):
        return None

    def known_words(self):
        return None


class Loaded:
    """A RecognizerSource whose recognizer is loaded already."""

    def __init__(self, recognizer) -> None:
        self.recognizer = recognizer

    def begin(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def get(self):
        return self.recognizer


class Engine:
    """Replays a script: start() and each handle() return the next action list."""

    def __init__(self, steps) -> None:
        self.steps = list(steps)
        self.events: list = []
        self.last_match = None

    def start(self):
        return self.steps.pop(0)

    def handle(self, event):
        self.events.append(event)
        return self.steps.pop(0) if self.steps else [End("completed")]


@dataclass
class Events:
    records: list = field(default_factory=list)

    def action(self, a) -> None:
        self.records.append(("action", type(a).__name__))

    def heard(self, text, match, node) -> None:
        self.records.append(("heard", text, node))

    def silence(self, node) -> None:
        self.records.append(("silence", node))

    def note_result(self, ok) -> None:
        self.records.append(("note", ok))

    def write(self, rec) -> None:
        self.records.append(("write", rec))


class Notes:
    def __init__(self, fail: bool = False) -> None:
        self.kept: list[str] = []
        self.fail = fail
        self.deleted = 0

    def add(self, text: str) -> str:
        if self.fail:
            raise NotesError("could not keep the note: disk full")
        self.kept.append(text)
        return f"n{len(self.kept)}"

    def delete_last(self) -> bool:
        self.deleted += 1
        return True


def make(steps, script=(), opens=(), synth_ok=True, typed=None, rec=None, chime=True,
         barge=("stop", "pause", "red"), notes=None, transcript=None):
    clock = Clock()
    synth_calls: list[tuple[str, tts.VoiceSettings]] = []

    def synth(text, settings):
        synth_calls.append((text, settings))
        if not synth_ok:
            raise tts.TtsError("espeak broke")
        return tts.Speech(np.zeros(int(len(text) * 0.05 * RATE), dtype=np.int16), RATE, text)

    lines: list[str] = []
    notices: list[str] = []
    recognizer = rec or Recognizer()
    dev = Devices(synth=synth, player=Player(clock), mic=Mic(clock, script, opens),
                  recognizer=Loaded(recognizer),
                  chime=(lambda v: np.zeros(int(0.4 * RATE), dtype=np.int16)) if chime else None,
                  chime_rate=RATE, clock=clock, sleep=clock.sleep,
                  say_line=lines.append, notice=notices.append, typed=typed,
                  transcript=transcript)
    engine = Engine(steps)
    events = Events()
    session = VoiceSession(engine, dev, tts.settings_for("sofa"), events=events, notes=notes,
                           safe_word="red", barge=barge, chime=chime)
    return session, engine, dev, recognizer, events, lines, notices, synth_calls


ASK = [EnterNode("feel"), Say("How are you feeling?", node="feel"),
       Listen("feel", phrases=("good", "not good", "stop"), timeout=5.0)]


# ---- pure helpers --------------------------------------------------------------------


def test_is_echo_only_for_runs_of_the_prompt():
    prompt = "How are you feeling right now? You can say good or not so good."
    assert is_echo("how are you feeling", prompt)
    assert is_echo("You can say good", prompt)
    assert not is_echo("good", prompt)  # a real short answer
    assert not is_echo("not so good", prompt.replace("not so good", "bad"))
    assert not is_echo("i feel quite good", prompt)


def test_barge_allowed_ignores_prompt_words_but_never_the_safe_word():
    assert barge_allowed("stop", "How are you?", "red")
    assert not barge_allowed("pause", "Say pause if you need a moment.", "red")
    assert barge_allowed("red", "Your safe word is red.", "red")


def test_barge_phrases_from_commands_plus_safe_word():
    class C:
        def __init__(self, *p):
            self.phrases = p

    class B:
        commands = {"stop": C("Stop", "That's enough"), "pause": C("Pause"),
                    "help": C("help")}

    assert barge_phrases(B, "Banana", str.lower) == ("stop", "that's enough", "pause", "banana")


def test_stop_phrases_said_only_alone_are_left_to_the_matcher():
    """"good night" ends the check-in as a whole answer, read from the
    transcript; the recognizer never judges it leniently (no rescue from other
    words, no rejection skipped) and barge-in never listens for it."""
    from skill.dialogue.dialog import load_bundle
    from skill.shell.voice_loop import stop_phrases

    bundle, _ = load_bundle(Path(__file__).resolve().parent.parent / "dialogs")
    assert "good night" in bundle.stop_alone and "good night" in bundle.command_phrases()["stop"]
    assert "good night" not in stop_phrases(bundle, "red")
    assert "good night" not in barge_phrases(bundle, "red", str.lower)
    assert "that's enough" in stop_phrases(bundle, "red") and "red" in stop_phrases(bundle, "red")


# ---- the loop -----------------------------------------------------------------------------


def test_say_listen_heard_end():
    s, engine, dev, rec, events, *_ = make(
        [ASK, [Say("Thank you.", purpose="goodbye"), End("completed")]],
        script=at(2.0, b"x", b"W:good"))
    assert s.run() == 0
    assert engine.events == [Heard("good", 0.9)]
    # the listening chime played between the prompt and listening
    assert len(dev.player.played) == 3 and dev.player.played[1] == pytest.approx(0.4)
    assert ("good", "not good", "stop") in rec.started
    assert ("heard", "good", "feel") in events.records


def test_silence_timer_starts_when_speech_ends():
    s, engine, dev, *_ = make([ASK])
    assert s.run() == 0
    assert engine.events == [Silence()]
    spoken = dev.player.played[0] + dev.player.played[1]  # prompt + chime
    # 5 s no-input timeout counted from the end of speech, not from the start
    assert dev.clock.now == pytest.approx(spoken + 5.0, abs=0.25)


def test_timer_restarts_while_someone_is_mid_utterance():
    script = at(3.0, *[b"P"] * 60, b"W:good")  # 6 s of talking
    s, engine, *_ = make([ASK], script=script)
    s.run()
    assert engine.events == [Heard("good", 0.9)]


def test_timer_restarts_while_a_recognizer_without_partials_hears_speech():
    script = at(3.0, *[b"S"] * 60, b"W:good")  # 6 s of talking, no partial transcript
    s, engine, *_ = make([ASK], script=script)
    s.run()
    assert engine.events == [Heard("good", 0.9)]
    quiet = at(3.0, *[b"Q"] * 60, b"W:good")  # the same 6 s of quiet blocks: the timer runs out
    s, engine, *_ = make([ASK], script=quiet)
    s.run()
    assert engine.events == [Silence()]


def test_rejected_speech_is_sent_as_unclear():
    s, engine, *_ = make([ASK], script=at(2.0, b"W:"))
    s.run()
    assert engine.events == [Heard("", 0.0)]


def test_free_form_listen_starts_without_grammar():
    steps = [[Say("Tell me the note."), Listen("note", free_form=True, timeout=5)]]
    s, engine, dev, rec, *_ = make(steps, script=at(2.0, b"W:more blankets"))
    s.run()
    assert rec.started[-1] is None and engine.events == [Heard("more blankets", 0.9)]


def test_echo_of_the_prompt_is_ignored():
    steps = [[Say("Tell me what you would like to remember."),
              Listen("note", free_form=True, timeout=5)]]
    s, engine, *_ = make(steps, script=at(3.0, b"W:what you would like", b"W:more tea"))
    s.run()
    assert engine.events == [Heard("more tea", 0.9)]


def test_stop_while_speaking_interrupts_at_once():
    steps = [[EnterNode("intro"), Say("Welcome, " * 20 + "and hello.", node="intro"),
              Say("This is never reached."), Listen("intro", ("yes",))],
             [Say("Okay, we'll stop here."), End("stopped")]]
    s, engine, dev, rec, events, *_ = make(steps, script=at(0.2, b"x", b"W:stop"))
    assert s.run() == 0
    assert engine.events == [Heard("stop", 0.9)]
    assert dev.player.stopped == 1
    assert rec.started[0] == ("stop", "pause", "red")  # the barge-in grammar
    assert ("write", {"event": "barge_in", "node": "intro"}) in events.records
    assert dev.player.played[0] > 5  # the long welcome was cut short at 0.3 s
    assert s.barge_ins == 1


def test_other_speech_while_speaking_is_ignored():
    steps = [[Say("Welcome to your check in. " * 3), Listen("n", ("yes",), timeout=2)]]
    s, engine, dev, *_ = make(steps, script=at(0.2, b"W:", b"W:yes") + at(5.0, b"W:yes"))
    s.run()
    assert dev.player.stopped == 0 and engine.events == [Heard("yes", 0.9)]


def test_barge_word_that_the_prompt_contains_is_not_a_barge_in():
    steps = [[Say("Say pause whenever you need a moment. " * 3), Listen("n", ("yes",))]]
    s, engine, dev, *_ = make(steps, script=at(0.2, b"W:pause") + at(9.0, b"W:yes"))
    s.run()
    assert dev.player.stopped == 0


def test_wait_times_out_and_ignores_noise():
    steps = [[Say("I'll wait."), Wait(30, node="pause", phrases=("continue",))]]
    s, engine, dev, *_ = make(steps, script=at(1.0, b"W:", b"x"))
    s.run()
    assert engine.events == [Timeout()]
    assert len(dev.player.played) == 1  # no chime for a wait


def test_wait_ends_early_on_a_phrase():
    steps = [[Wait(300, phrases=("continue",))]]
    s, engine, *_ = make(steps, script=at(1.0, b"x", b"W:continue"))
    s.run()
    assert engine.events == [Heard("continue", 0.9)]


def test_notes_saved_failed_and_deleted():
    notes = Notes()
    steps = [[SaveNote("more blankets")], [DeleteNote(), Say("Forgotten."), End("completed")]]
    s, engine, *_ = make(steps, notes=notes)
    s.run()
    assert engine.events == [NoteSaved("n1")] and notes.deleted == 1
    s, engine, *_ = make([[SaveNote("x")]], notes=Notes(fail=True))
    s.run()
    assert isinstance(engine.events[0], NoteFailed) and "disk full" in engine.events[0].reason
    s, engine, *_ = make([[SaveNote("x")]], notes=None)
    s.run()
    assert isinstance(engine.events[0], NoteFailed)


def test_a_failing_note_never_quotes_what_was_said():
    class Broken(Notes):
        def add(self, text: str) -> str:
            raise ValueError(f"bad note {text!r}")  # an unexpected error whose message quotes the note

    s, engine, *_ = make([[SaveNote("more blankets")]], notes=Broken())
    s.run()
    assert isinstance(engine.events[0], NoteFailed) and "blankets" not in engine.events[0].reason


def test_adjust_changes_the_next_synthesis():
    steps = [[Say("One."), Adjust("rate", -1), Adjust("volume", +1), Say("Two."), End("completed")]]
    s, engine, dev, rec, events, lines, notices, calls = make(steps)
    s.run()
    first, second = calls[0][1], calls[1][1]
    assert second.rate == first.rate - tts.RATE_STEP
    assert second.volume == pytest.approx(first.volume + tts.VOLUME_STEP)


def test_no_chime_option():
    s, engine, dev, *_ = make([ASK], script=at(2.0, b"W:good"), chime=False)
    s.run()
    assert len(dev.player.played) == 1


def test_speech_failure_falls_back_to_printing_and_says_so_once():
    steps = [[Say("First."), Say("Second."), Listen("n", ("yes",), timeout=1)]]
    s, engine, dev, rec, events, lines, notices, _ = make(steps, synth_ok=False,
                                                          script=at(0.0, b"W:yes"))
    assert s.run() == 0
    assert lines == ["First.", "Second."]
    assert notices == [SPEECH_UNAVAILABLE]
    assert engine.events == [Heard("yes", 0.9)]


def test_output_device_failure_falls_back_to_printing():
    s, engine, dev, rec, events, lines, notices, _ = make([ASK], script=at(0, b"W:good"))
    dev.player.fail = True
    s.run()
    assert lines == ["How are you feeling?"] and notices == [SPEECH_UNAVAILABLE]


def test_microphone_lost_keeps_the_place_retries_and_asks_again():
    script = at(3.0, MicLost) + at(17.0, b"x", b"W:good")
    s, engine, dev, rec, events, lines, notices, calls = make(
        [ASK], script=script, opens=[False, False, True])
    assert s.run() == 0
    assert engine.events == [Heard("good", 0.9)]  # the same question, answered
    assert notices == [MIC_LOST, MIC_BACK]
    spoken = " ".join(c[0] for c in calls)  # synthesized a sentence at a time
    assert spoken == " ".join(["How are you feeling?", MIC_LOST, MIC_BACK + " How are you feeling?"])
    assert dev.mic.open_calls == 3
    mic_events = [r[1] for r in events.records if r[0] == "write"]
    assert mic_events == [{"event": "mic", "state": "lost", "node": "feel"},
                          {"event": "mic", "state": "back", "node": "feel"}]
    assert s.mic_losses == 1


def test_microphone_lost_while_speaking_is_handled_before_listening():
    s, engine, dev, rec, events, lines, notices, _ = make(
        [ASK], script=at(0.1, MicLost) + at(12.0, b"x", b"W:good"), opens=[True])
    s.run()
    assert notices == [MIC_LOST, MIC_BACK] and engine.events == [Heard("good", 0.9)]


def test_recognizer_failure_falls_back_to_typing_at_a_terminal():
    typed = iter(["good\n"])
    s, engine, dev, rec, events, lines, notices, _ = make(
        [ASK], script=at(2.0, b"x"), rec=Recognizer(fail_on_feed=True), typed=lambda t: next(typed))
    assert s.run() == 0
    assert engine.events == [Heard("good", 1.0)]
    assert "decoder crashed" in notices[0] and "type your answers" in notices[1]


def test_recognizer_failure_without_a_terminal_ends_kindly():
    s, engine, dev, rec, events, lines, notices, calls = make(
        [ASK], script=at(2.0, b"x"), rec=Recognizer(fail_on_feed=True), typed=None)
    assert s.run() == 1
    assert "let's stop here" in " ".join(c[0] for c in calls[-3:])
    assert ("write", {"event": "end", "reason": "error"}) in events.records


def test_debug_transcripts_go_only_to_the_given_terminal_writer():
    shown: list[str] = []
    s, engine, dev, rec, events, lines, notices, _ = make(
        [ASK], script=at(2.0, b"W:", b"W:good"), transcript=shown.append)
    s.run()
    assert shown == ["(heard: something outside the expected answers)"]
    s, *_ = make([ASK], script=at(2.0, b"W:good"), transcript=shown.append)
    s.run()
    assert shown[-1] == "(heard: 'good', confidence 0.90)"
    # without the flag nothing is shown anywhere
    s, engine, dev, rec, events, lines, notices, _ = make([ASK], script=at(2.0, b"W:good"))
    s.run()
    assert lines == [] and notices == []


def test_a_turn_without_phrases_listens_free_form():
    s, engine, dev, rec, *_ = make([[Wait(10, phrases=())]], script=at(1.0, b"W:i am back"))
    s.run()
    assert rec.started[-1] is None and engine.events == [Heard("i am back", 0.9)]


def test_a_reply_starts_after_its_first_sentence_and_the_rest_follows():
    """The first sentence is synthesized alone and played at once; the rest is
    synthesized while it plays and follows after the sentence pause."""
    steps = [[Say("Hello there. Take your time. No rush."), End("done")]]
    s, engine, dev, rec, events, lines, notices, synth_calls = make(steps)
    assert s.run() == 0
    assert [t for t, _ in synth_calls][:2] == ["Hello there.", "Take your time. No rush."]
    first, rest = dev.player.played[:2]
    assert first == pytest.approx(len("Hello there.") * 0.05)
    pause = s.settings.sentence_pause
    assert rest == pytest.approx(pause + len("Take your time. No rush.") * 0.05)


def test_a_barge_in_during_the_first_sentence_skips_the_rest():
    steps = [[EnterNode("intro"), Say("Welcome, " * 20 + "and hello. This is never played.", node="intro"),
              Listen("intro", ("yes",))],
             [Say("Okay, we'll stop here."), End("stopped")]]
    s, engine, dev, rec, events, *_ = make(steps, script=at(0.2, b"x", b"W:stop"))
    assert s.run() == 0
    assert engine.events == [Heard("stop", 0.9)]
    assert len(dev.player.played) == 2  # the cut first sentence, then the goodbye


def test_barge_heard_needs_a_barge_phrase_said_not_negated():
    phrases = ("stop", "that is enough", "hang on", "red")
    assert barge_heard("Please stop.", phrases)
    assert barge_heard("That's enough.", phrases)  # contractions are expanded on both sides
    assert barge_heard("Red.", phrases) and barge_heard("hang on a second", phrases)
    assert not barge_heard("Don't stop.", phrases) and not barge_heard("I can't stop", phrases)
    assert not barge_heard("I'm okay, thanks.", phrases)  # an early answer does not cut the prompt
    assert not barge_heard("stopping", phrases) and not barge_heard("", phrases)


def test_the_real_devices_fit_the_typed_seams():
    """The Protocols the session is typed with are the real classes' own members."""
    import inspect

    from skill.shell.devices import LazyRecognizer
    from skill.speech import audio, recognizer
    from skill.speech.recognizer_sphinx import SphinxRecognizer
    from skill.speech.recognizer_vosk import VoskRecognizer
    from skill.speech.recognizer_whisper import WhisperRecognizer

    def members(protocol) -> set[str]:
        return {name for name in vars(protocol) if not name.startswith("_")}

    def has(cls, names) -> set[str]:
        """The names ``cls`` lacks, as a class member or an attribute its __init__ sets."""
        init = inspect.getsource(cls.__init__) if "__init__" in vars(cls) else ""
        return {name for name in names if not hasattr(cls, name) and f"self.{name} =" not in init}

    assert has(audio.MicStream, members(audio.Microphone)) == set()
    assert has(audio.Player, members(audio.Speaker)) == set()
    assert has(LazyRecognizer, members(recognizer.RecognizerSource)) == set()
    for cls in (SphinxRecognizer, VoskRecognizer, WhisperRecognizer):
        assert has(cls, members(recognizer.Recognizer) - {"name", "sample_rate"}) == set(), cls
        assert isinstance(inspect.getattr_static(cls, "in_speech"), property), cls
    for fake in (Player, Mic, Recognizer, Loaded):
        wanted = {Player: audio.Speaker, Mic: audio.Microphone, Recognizer: recognizer.Recognizer,
                  Loaded: recognizer.RecognizerSource}[fake]
        assert has(fake, members(wanted) - {"name", "sample_rate"}) == set(), fake
